"""TikTok Display API v2 client against the emulator over loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import requests

from social_pipeline.clients.errors import AuthError, MalformedResponse, PermanentError, RateLimited
from social_pipeline.clients.tiktok import TikTokClient
from social_pipeline.sandbox.server import Fault, Sandbox, SandboxConfig
from social_pipeline.window import CollectionWindow
from social_pipeline_tests.conftest import FROZEN_NOW, fast_policy, make_client

WINDOW = CollectionWindow(date(2026, 11, 19))
TOKEN = "test-token-s3cr3t"


@pytest.fixture
def busy() -> Iterator[Sandbox]:
    """Eight videos a day: 224 in a 28-day window, twelve pages of 20 to cross its start."""
    with Sandbox(SandboxConfig(posts_per_day=8), clock=lambda: FROZEN_NOW) as sb:
        yield sb


def test_video_list_starts_at_window_end_and_stops_at_the_page_crossing_its_start(
    busy: Sandbox,
) -> None:
    client = make_client(busy, "tiktok")
    history = list(
        busy.world.posts_between(
            "tiktok", client.account_id, WINDOW.start - timedelta(days=60), WINDOW.end
        )
    )
    expected = [p.post_id for p in history if WINDOW.contains(p.created_at)]
    crossing_page = history.index(next(p for p in history if p.created_at < WINDOW.start)) // 20

    pages = list(client.list_posts(WINDOW))

    got = [i for page in pages for i in page.post_ids]
    assert len(expected) == 224
    assert got == expected  # newest first, each exactly once
    sent = busy.requests_for("tiktok", "/video/list/")
    assert len(sent) == crossing_page + 1 == 12  # nothing asked beyond the crossing page
    assert all(r.body["max_count"] == 20 for r in sent)
    assert sent[0].body["cursor"] == int(WINDOW.end.timestamp() * 1000)  # skips newer videos
    assert [r.body["cursor"] for r in sent[1:]] == [p.body["data"]["cursor"] for p in pages[:-1]]
    assert pages[-1].body["data"]["has_more"] is True  # more history existed; we did not walk it


def test_day_pull_is_profile_plus_list_pages_with_metrics_inline(sandbox: Sandbox) -> None:
    client = make_client(sandbox, "tiktok")

    pages = list(client.collect(WINDOW))

    assert [p.kind for p in pages] == ["profile", "posts", "posts", "posts"]
    assert client.http.stats.api_calls == 4
    assert sandbox.requests_for("tiktok", "/video/query/") == []
    video = pages[1].body["data"]["videos"][0]
    post = sandbox.world.find_post("tiktok", video["id"])
    assert video["view_count"] == sandbox.world.metrics(post)["views"]
    assert video["create_time"] == int(post.created_at.timestamp())  # seconds, not ms


def test_metrics_refresh_batches_ids_at_20_per_call(sandbox: Sandbox) -> None:
    client = make_client(sandbox, "tiktok")
    posts = list(
        sandbox.world.posts_between("tiktok", client.account_id, WINDOW.start, WINDOW.end)
    )[:45]

    pages = list(client.fetch_metrics([p.post_id for p in posts]))

    sent = sandbox.requests_for("tiktok", "/video/query/")
    assert [len(r.body["filters"]["video_ids"]) for r in sent] == [20, 20, 5]
    returned = {v["id"]: v for page in pages for v in page.body["data"]["videos"]}
    assert sorted(returned) == sorted(p.post_id for p in posts)
    for post in posts:
        assert returned[post.post_id]["like_count"] == sandbox.world.metrics(post)["likes"]


def test_rate_limit_without_reset_time_is_backed_off_past_the_window() -> None:
    # One request per 2 s window; the first backoff step (2..4 s) outlasts the window.
    with Sandbox(
        SandboxConfig(rate_limit=1, rate_limit_window_s=2), clock=lambda: FROZEN_NOW
    ) as sb:
        client = make_client(sb, "tiktok", policy=fast_policy(backoff_base=4.0, backoff_cap=4.0))
        client.fetch_profile()
        client.fetch_profile()

        first, refused, accepted = sb.requests_for("tiktok")
    assert [first.status, refused.status, accepted.status] == [200, 429, 200]
    assert accepted.received_at >= refused.received_at - refused.received_at % 2 + 2
    assert client.http.stats.seconds_waited >= 2.0


def test_rate_limit_that_persists_raises_rate_limited_with_a_retry_time(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("rate_limit", platform="tiktok", times=10))
    client = make_client(sandbox, "tiktok")

    with pytest.raises(RateLimited) as caught:
        client.fetch_profile()

    assert len(sandbox.requests_for("tiktok")) == fast_policy().max_retries + 1
    assert "rate_limit_exceeded" in str(caught.value)
    # TikTok names no reset; its window is one minute, so the retry time is a minute out.
    assert caught.value.reset_at is not None
    assert (
        timedelta(seconds=55) < caught.value.reset_at - datetime.now(UTC) <= timedelta(seconds=61)
    )


def test_server_errors_are_retried(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("server_error", platform="tiktok", times=2))
    client = make_client(sandbox, "tiktok")

    page = client.fetch_profile()

    assert page.body["data"]["user"]["open_id"] == client.account_id
    assert [r.status for r in sandbox.requests_for("tiktok")] == [500, 500, 200]


def test_revoked_token_raises_auth_error_at_once_without_leaking_it(
    sandbox: Sandbox, caplog_all: pytest.LogCaptureFixture
) -> None:
    sandbox.revoke(TOKEN)
    client = make_client(sandbox, "tiktok", token=TOKEN)

    with pytest.raises(AuthError) as caught:
        list(client.collect(WINDOW))

    assert len(sandbox.requests_for("tiktok")) == 1
    text = str(caught.value)
    assert text.startswith("tiktok:") and "access_token_invalid" in text and "401" in text
    assert (
        TOKEN not in text and TOKEN not in repr(caught.value.args) and TOKEN not in caplog_all.text
    )


def test_body_that_is_not_json_raises_malformed_response_after_retries(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("malformed", platform="tiktok", times=10))
    client = make_client(sandbox, "tiktok")

    with pytest.raises(MalformedResponse):
        client.fetch_profile()

    assert len(sandbox.requests_for("tiktok")) == fast_policy().max_retries + 1


def test_unknown_account_is_refused_as_an_invalid_token(sandbox: Sandbox) -> None:
    client = make_client(sandbox, "tiktok", account_id="-000nobody")

    with pytest.raises(AuthError, match="access_token_invalid"):
        client.fetch_profile()
    assert len(sandbox.requests_for("tiktok")) == 1


def envelope(status: int, code: str) -> tuple[requests.Response, dict]:
    body = {"data": {}, "error": {"code": code, "message": "m", "log_id": "1"}}
    built = requests.Response()
    built.status_code = status
    built._content = json.dumps(body).encode()
    return built, body


@pytest.mark.parametrize(
    ("status", "code", "error_type"),
    [
        (401, "scope_not_authorized", AuthError),
        (401, "access_token_invalid", AuthError),
        (400, "invalid_params", PermanentError),
        (429, "rate_limit_exceeded", RateLimited),
    ],
)
def test_error_codes_map_to_typed_errors(status: int, code: str, error_type: type) -> None:
    error = TikTokClient.classify(*envelope(status, code), TikTokClient.VIDEOS)

    assert type(error) is error_type and code in error.message
    assert error.reset_at is None  # TikTok never says when; the session backs off


def test_the_token_alone_names_the_account_and_an_unknown_token_is_refused(
    sandbox: Sandbox,
) -> None:
    first, second = (a.account_id for a in sandbox.world.accounts("tiktok"))
    mine = make_client(sandbox, "tiktok", account_id=second, token="act.second-user")
    assert mine.fetch_profile().body["data"]["user"]["open_id"] == second

    stranger = make_client(sandbox, "tiktok", account_id=first, token="act.first-user")
    sandbox.grants.pop(("tiktok", "act.first-user"))
    with pytest.raises(AuthError):
        stranger.fetch_profile()

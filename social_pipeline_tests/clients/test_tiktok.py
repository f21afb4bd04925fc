"""TikTok Display API v2 client against the emulator over loopback HTTP."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import requests

from social_pipeline.clients.errors import AuthError, PermanentError, RateLimited
from social_pipeline.clients.tiktok import TikTokClient
from social_pipeline.core.window import CollectionWindow
from social_pipeline.sandbox.server import Fault, Sandbox
from social_pipeline_tests import helpers

WINDOW = CollectionWindow(date(2026, 11, 19))
# Eight videos a day: 224 in a 28-day window, twelve pages of 20 to cross its start.
busy = pytest.fixture(helpers.busy_sandbox, name="busy")


def test_video_list_starts_at_window_end_and_stops_at_the_page_crossing_its_start(
    busy: Sandbox,
) -> None:
    client = helpers.make_client(busy, "tiktok")
    pages, listed = helpers.listed_in_window(client, busy, WINDOW)  # newest first, each once

    assert len(listed) == 224
    sent = busy.requests_for("tiktok", "/video/list/")
    crossing = helpers.pages_to_cross(busy, "tiktok", WINDOW, page_size=20, newest=WINDOW.end)
    assert len(sent) == crossing == 12  # nothing asked beyond the crossing page
    assert all(r.body["max_count"] == 20 for r in sent)
    assert sent[0].body["cursor"] == int(WINDOW.end.timestamp() * 1000)  # skips newer videos
    assert [r.body["cursor"] for r in sent[1:]] == [p.body["data"]["cursor"] for p in pages[:-1]]
    assert pages[-1].body["data"]["has_more"] is True  # more history existed; we did not walk it


def test_day_pull_is_profile_plus_list_pages_with_metrics_inline(sandbox: Sandbox) -> None:
    client = helpers.make_client(sandbox, "tiktok")

    pages = list(client.collect(WINDOW))

    assert [p.kind for p in pages] == ["profile", "posts", "posts", "posts"]
    assert client.http.stats.api_calls == 4
    assert sandbox.requests_for("tiktok", "/video/query/") == []
    video = pages[1].body["data"]["videos"][0]
    post = sandbox.world.find_post("tiktok", video["id"])
    assert video["view_count"] == sandbox.world.metrics(post)["views"]
    assert video["create_time"] == int(post.created_at.timestamp())  # seconds, not ms


def test_metrics_refresh_batches_ids_at_20_per_call(sandbox: Sandbox) -> None:
    client = helpers.make_client(sandbox, "tiktok")
    posts = helpers.world_posts(sandbox, "tiktok", WINDOW.start, WINDOW.end)[:45]

    pages = list(client.fetch_metrics([p.post_id for p in posts]))

    sent = sandbox.requests_for("tiktok", "/video/query/")
    assert [len(r.body["filters"]["video_ids"]) for r in sent] == [20, 20, 5]
    returned = {v["id"]: v for page in pages for v in page.body["data"]["videos"]}
    assert sorted(returned) == sorted(p.post_id for p in posts)
    for post in posts:
        assert returned[post.post_id]["like_count"] == sandbox.world.metrics(post)["likes"]


def test_rate_limit_without_reset_time_is_backed_off_past_the_window() -> None:
    # One request per 2 s window; the first backoff step (2..4 s) outlasts the window.
    with helpers.frozen_sandbox(rate_limit=1, rate_limit_window_s=2) as sb:
        client = helpers.make_client(
            sb,
            "tiktok",
            policy=helpers.fast_policy(rate_limit_backoff_base=4.0, rate_limit_backoff_cap=4.0),
        )
        client.fetch_profile()
        client.fetch_profile()

        first, refused, accepted = sb.requests_for("tiktok")
    assert [first.status, refused.status, accepted.status] == [200, 429, 200]
    assert accepted.received_at >= refused.received_at - refused.received_at % 2 + 2
    assert client.http.stats.seconds_waited >= 2.0


def test_rate_limit_that_persists_raises_rate_limited_with_a_retry_time(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("rate_limit", platform="tiktok", times=10))
    client = helpers.make_client(sandbox, "tiktok")

    with pytest.raises(RateLimited) as caught:
        client.fetch_profile()

    assert len(sandbox.requests_for("tiktok")) == helpers.fast_policy().max_retries + 1
    assert "rate_limit_exceeded" in str(caught.value)
    # TikTok names no reset; its window is one minute, so the retry time is a minute out.
    assert caught.value.reset_at is not None
    assert (
        timedelta(seconds=55) < caught.value.reset_at - datetime.now(UTC) <= timedelta(seconds=61)
    )


def test_server_errors_are_retried(sandbox: Sandbox) -> None:
    client, page = helpers.profile_after_two_server_errors(sandbox, "tiktok")
    assert page.body["data"]["user"]["open_id"] == client.account_id


def test_unknown_account_is_refused_as_an_invalid_token(sandbox: Sandbox) -> None:
    client = helpers.make_client(sandbox, "tiktok", account_id="-000nobody")

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
    mine = helpers.make_client(sandbox, "tiktok", account_id=second, token="act.second-user")
    assert mine.fetch_profile().body["data"]["user"]["open_id"] == second

    stranger = helpers.make_client(sandbox, "tiktok", account_id=first, token="act.first-user")
    sandbox.grants.pop(("tiktok", "act.first-user"))
    with pytest.raises(AuthError):
        stranger.fetch_profile()


def test_a_rate_limit_without_a_reset_time_backs_off_on_its_own_longer_schedule(
    sandbox: Sandbox,
) -> None:
    """TikTok's 429 names no reset: its wait follows the rate-limit schedule, not the 5xx one."""
    policy = helpers.fast_policy(
        backoff_base=0.001, rate_limit_backoff_base=0.2, rate_limit_backoff_cap=1.0
    )
    tiktok = helpers.make_client(sandbox, "tiktok", policy=policy)
    sandbox.inject(Fault("rate_limit", platform="tiktok", times=1))
    tiktok.fetch_profile()
    assert tiktok.http.stats.retries == 1
    assert tiktok.http.stats.seconds_waited >= 0.1  # half the first rate-limit step at least

    sandbox.inject(Fault("server_error", platform="tiktok", times=1))
    before = tiktok.http.stats.seconds_waited
    tiktok.fetch_profile()
    assert tiktok.http.stats.seconds_waited - before < 0.01  # the 5xx schedule is separate

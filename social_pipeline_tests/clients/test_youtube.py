"""The YouTube client against the emulator, over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from social_pipeline.clients.errors import AuthError, MalformedResponse, PermanentError, RateLimited
from social_pipeline.clients.youtube import YouTubeClient
from social_pipeline.sandbox.server import Fault, Sandbox, SandboxConfig
from social_pipeline.sandbox.world import Post
from social_pipeline.window import CollectionWindow
from social_pipeline_tests.conftest import FROZEN_NOW, fast_policy, make_client

WINDOW = CollectionWindow(date(2026, 11, 20))
TOKEN = "test-token-s3cr3t"


@pytest.fixture
def busy_sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(posts_per_day=8), clock=lambda: FROZEN_NOW) as sb:
        yield sb


def client(sandbox: Sandbox, token: str = TOKEN, **policy: float) -> YouTubeClient:
    made = make_client(sandbox, "youtube", token=token, policy=fast_policy(**policy))
    assert isinstance(made, YouTubeClient)
    return made


def world_posts(sandbox: Sandbox, start: datetime, end: datetime) -> list[Post]:
    account = sandbox.world.accounts("youtube")[0].account_id
    return list(sandbox.world.posts_between("youtube", account, start, end))


def test_uploads_are_paged_newest_first_to_the_window_start_and_no_further(
    busy_sandbox: Sandbox,
) -> None:
    youtube = client(busy_sandbox)
    youtube.fetch_profile()
    pages = list(youtube.list_posts(WINDOW))

    everything = world_posts(busy_sandbox, datetime(2025, 1, 1, tzinfo=UTC), FROZEN_NOW)
    crossing = next(i for i, post in enumerate(everything) if post.created_at < WINDOW.start)
    listed = busy_sandbox.requests_for("youtube", "/playlistItems")
    assert len(listed) == len(pages) == crossing // youtube.page_size + 1 >= 3
    assert all(r.query["maxResults"] == "50" for r in listed)
    returned = [pid for page in pages for pid in page.post_ids]
    assert returned == [p.post_id for p in world_posts(busy_sandbox, WINDOW.start, WINDOW.end)]


def test_the_uploads_playlist_comes_from_the_profile_without_a_second_channels_call(
    sandbox: Sandbox,
) -> None:
    pages = list(client(sandbox).collect(WINDOW))

    assert [p.kind for p in pages] == ["profile", "posts", "posts", "metrics", "metrics"]
    assert len(sandbox.requests_for("youtube", "/channels")) == 1
    assert len(sandbox.requests_for("youtube")) == 5

    listed_alone = list(client(sandbox).list_posts(WINDOW))  # no profile yet: one look-up
    assert len(sandbox.requests_for("youtube", "/channels")) == 2
    assert [p.post_ids for p in listed_alone] == [p.post_ids for p in pages if p.kind == "posts"]


def test_videos_are_batched_fifty_ids_per_call(sandbox: Sandbox) -> None:
    ids = [p.post_id for p in world_posts(sandbox, FROZEN_NOW - timedelta(days=200), FROZEN_NOW)][
        :230
    ]
    pages = list(client(sandbox).fetch_metrics(ids))

    sent = [r.query["id"].split(",") for r in sandbox.requests_for("youtube", "/videos")]
    assert [len(batch) for batch in sent] == [50, 50, 50, 50, 30]
    assert [item["id"] for p in pages for item in p.body["items"]] == ids


def test_a_throttle_with_retry_after_is_waited_out_before_the_next_request(
    sandbox: Sandbox,
) -> None:
    sandbox.inject(Fault("rate_limit", platform="youtube", reset_in=1.5))
    youtube = client(sandbox)
    youtube.fetch_profile()

    first, retry = sandbox.requests_for("youtube")
    assert first.status == 403 and retry.status == 200
    assert retry.received_at >= first.received_at + 1.5
    assert youtube.http.stats.seconds_waited >= 1.5


def test_the_emulators_per_user_window_is_waited_out_until_it_resets() -> None:
    with Sandbox(
        SandboxConfig(rate_limit=2, rate_limit_window_s=2), clock=lambda: FROZEN_NOW
    ) as sb:
        ids = [p.post_id for p in world_posts(sb, FROZEN_NOW - timedelta(days=100), FROZEN_NOW)][
            :150
        ]
        youtube = client(sb)
        pages = list(youtube.fetch_metrics(ids))

        log = sb.requests_for("youtube", "/videos")
        refused = [i for i, r in enumerate(log) if r.status == 403]
        assert refused and len(pages) == 3
        for i in refused:
            window_end = log[i].received_at - log[i].received_at % 2 + 2
            assert log[i + 1].received_at >= window_end
        assert youtube.http.stats.seconds_waited > 0


def test_a_throttle_longer_than_the_wait_cap_raises_with_its_reset_time(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("rate_limit", platform="youtube", reset_in=30))
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as caught:
        client(sandbox, max_rate_limit_wait=1).fetch_profile()

    assert caught.value.reset_at is not None
    assert before + timedelta(seconds=29) <= caught.value.reset_at <= before + timedelta(seconds=32)
    assert len(sandbox.requests_for("youtube")) == 1


def test_an_exhausted_daily_quota_raises_at_once_with_reset_at_midnight_pacific(
    sandbox: Sandbox,
) -> None:
    sandbox.inject(Fault("rate_limit", platform="youtube", reset_in=7200))
    with pytest.raises(RateLimited) as caught:
        client(sandbox).fetch_profile()

    pacific = ZoneInfo("America/Los_Angeles")
    tomorrow = datetime.now(pacific).date() + timedelta(days=1)
    assert caught.value.reset_at == datetime.combine(tomorrow, time.min, tzinfo=pacific)
    assert "quotaExceeded" in str(caught.value)
    assert len(sandbox.requests_for("youtube")) == 1


def test_backend_errors_are_retried_then_succeed(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("server_error", platform="youtube", times=2))
    youtube = client(sandbox)
    youtube.fetch_profile()

    assert [r.status for r in sandbox.requests_for("youtube")] == [500, 500, 200]
    assert youtube.http.stats.retries == 2


@pytest.mark.parametrize("token", [TOKEN, "ya29.oauth-s3cr3t"], ids=["api key", "oauth bearer"])
def test_a_revoked_credential_is_an_auth_error_at_once_that_never_shows_it(
    sandbox: Sandbox, caplog_all: pytest.LogCaptureFixture, token: str
) -> None:
    sandbox.revoke(token)
    with pytest.raises(AuthError) as caught:
        list(client(sandbox, token=token).collect(WINDOW))

    (request,) = sandbox.requests_for("youtube")
    assert "key" not in request.query  # in a header: URLs end up in debug logs
    assert caught.value.status == (400 if token == TOKEN else 401)  # keyInvalid, or a bad Bearer
    assert "youtube" in str(caught.value) and "rejected" in str(caught.value)
    assert token not in str(caught.value) and token not in repr(caught.value.args)
    assert token not in caplog_all.text


def test_malformed_json_raises_after_retries(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("malformed", platform="youtube", times=10))
    with pytest.raises(MalformedResponse):
        client(sandbox).fetch_profile()
    assert len(sandbox.requests_for("youtube")) == fast_policy().max_retries + 1


def test_an_unknown_channel_is_a_permanent_error_naming_the_account(sandbox: Sandbox) -> None:
    missing = make_client(sandbox, "youtube", account_id="UCnope", token=TOKEN)
    with pytest.raises(PermanentError) as caught:
        missing.fetch_profile()
    assert "UCnope" in str(caught.value) and "no such channel" in str(caught.value)

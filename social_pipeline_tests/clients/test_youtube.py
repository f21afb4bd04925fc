"""The YouTube client against the emulator, over real HTTP on loopback."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from social_pipeline.clients.errors import RateLimited
from social_pipeline.clients.youtube import YouTubeClient
from social_pipeline.core.window import CollectionWindow
from social_pipeline.sandbox.server import Fault, Sandbox
from social_pipeline_tests import helpers

WINDOW = CollectionWindow(date(2026, 11, 20))

busy = pytest.fixture(helpers.busy_sandbox, name="busy")


def client(sandbox: Sandbox, **policy: float) -> YouTubeClient:
    made = helpers.make_client(sandbox, "youtube", policy=helpers.fast_policy(**policy))
    assert isinstance(made, YouTubeClient)
    return made


def test_uploads_are_paged_newest_first_to_the_window_start_and_no_further(busy: Sandbox) -> None:
    youtube = client(busy)
    youtube.fetch_profile()
    pages, _ = helpers.listed_in_window(youtube, busy, WINDOW)  # newest first, each once

    crossing = helpers.pages_to_cross(busy, "youtube", WINDOW, youtube.page_size)
    sent = busy.requests_for("youtube", "/playlistItems")
    assert len(sent) == len(pages) == crossing >= 3
    assert all(r.query["maxResults"] == "50" for r in sent)


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
    recent = helpers.world_posts(
        sandbox, "youtube", helpers.FROZEN_NOW - timedelta(days=200), helpers.FROZEN_NOW
    )
    ids = [p.post_id for p in recent[:230]]
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
    with helpers.frozen_sandbox(rate_limit=2, rate_limit_window_s=2) as sb:
        recent = helpers.world_posts(
            sb, "youtube", helpers.FROZEN_NOW - timedelta(days=100), helpers.FROZEN_NOW
        )
        ids = [p.post_id for p in recent[:150]]
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
    helpers.profile_after_two_server_errors(sandbox, "youtube")

"""What every platform's normalizer does alike, fed with pages the real clients landed."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from social_pipeline.core import schema
from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.pulls import RawPull
from social_pipeline.core.window import CollectionWindow
from social_pipeline.normalize.common import PlatformFrames
from social_pipeline.operations.registry import platform_code
from social_pipeline.sandbox.server import Fault, Sandbox
from social_pipeline_tests import helpers

WINDOW = CollectionWindow(date(2026, 11, 20))

# The engagement columns each platform reports, with the world metric each must equal.
# YouTube's likes are in test_youtube: a video may hide them.
REPORTED = {
    "facebook": {
        "likes": "likes",
        "comments": "comments",
        "shares": "shares",
        "views": "views",  # post insights by field expansion
        "reach": "reach",
        "clicks": "clicks",
    },
    "instagram": {
        "likes": "likes",
        "comments": "comments",
        "shares": "shares",
        "saves": "saves",
        "views": "views",
        "reach": "reach",
    },
    "x": {
        "likes": "likes",
        "comments": "comments",
        "shares": "shares",
        "saves": "bookmarks",
        "views": "views",
        "impressions": "views",
    },
    "linkedin": {
        "likes": "likes",
        "comments": "comments",
        "shares": "shares",
        "impressions": "views",
        "reach": "reach",
        "clicks": "clicks",
    },
    "youtube": {"views": "views", "comments": "comments"},
    "tiktok": {"likes": "likes", "comments": "comments", "shares": "shares", "views": "views"},
}
# The engagement columns a platform cannot fill: NULL, never a 0 that reads as a measurement.
UNREPORTED = {
    "facebook": ["saves", "impressions", "engagement_rate"],
    "instagram": ["impressions", "clicks", "interactions", "engagement_rate"],
    "x": ["reach", "clicks"],
    "linkedin": ["views", "saves"],
    "youtube": ["shares", "saves", "impressions", "reach", "clicks"],
    "tiktok": ["saves", "impressions", "reach", "clicks"],
}
# The follower counts each platform's profile gives; the others are NULL.
PROFILE_COUNTS = {
    "facebook": {"followers"},  # the page's followers, not its likes
    "instagram": {"followers", "following", "posts_count"},
    "x": {"followers", "following", "posts_count"},
    "linkedin": {"followers"},  # the organization's network size
    "youtube": {"followers", "posts_count"},  # subscribers and uploads
    "tiktok": {"followers", "following", "posts_count"},
}
# The path of each platform's posts listing, as the emulator logs it.
LISTING = {
    "facebook": "/posts",
    "instagram": "/media",
    "x": "/tweets",
    "linkedin": "/rest/posts",
    "youtube": "/playlistItems",
    "tiktok": "/video/list/",
}


@pytest.fixture
def pull(sandbox: Sandbox, platform: str) -> RawPull:
    """The platform's (first account's) day, landed by its real client."""
    return helpers.land_pull(sandbox, platform, WINDOW)


@pytest.fixture
def frames(pull: RawPull) -> PlatformFrames:
    return platform_code(pull.platform).normalize([pull])


@pytest.mark.parametrize("platform", PLATFORMS)
def test_engagement_is_the_worlds_metrics_and_what_a_platform_does_not_report_is_null(
    sandbox: Sandbox, pull: RawPull, frames: PlatformFrames, platform: str
) -> None:
    reported = REPORTED[platform]
    for row, metrics in helpers.engagement_rows(sandbox, pull, frames.engagement):
        assert {c: row[c] for c in reported} == {c: metrics[m] for c, m in reported.items()}
    for column in UNREPORTED[platform]:
        assert frames.engagement[column].null_count() == frames.engagement.height, column


@pytest.mark.parametrize("platform", PLATFORMS)
def test_followers_are_the_worlds_counts_and_what_a_profile_does_not_give_is_null(
    sandbox: Sandbox, pull: RawPull, frames: PlatformFrames, platform: str
) -> None:
    followers = frames.followers
    counts = sandbox.world.followers(sandbox.world.account(platform, pull.account_id))

    assert followers.schema == pl.Schema(schema.FOLLOWERS)
    (row,) = followers.select("followers", "following", "posts_count").iter_rows(named=True)
    given = PROFILE_COUNTS[platform]
    assert row == {c: counts[c] if c in given else None for c in row}


@pytest.mark.parametrize("platform", ["facebook", "instagram"])
def test_text_keeps_unicode_and_a_post_without_a_message_or_caption_has_null_text(
    sandbox: Sandbox, pull: RawPull, frames: PlatformFrames
) -> None:
    expected = {pid: p.text or None for pid, p in helpers.pulled_posts(sandbox, pull).items()}
    assert dict(zip(frames.posts["post_id"], frames.posts["text"], strict=True)) == expected
    assert any(t and not t.isascii() for t in expected.values())
    assert None in expected.values()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_an_unreadable_listing_is_quarantined_once_and_the_accounts_profile_still_counts(
    sandbox: Sandbox, pull: RawPull, platform: str
) -> None:
    sandbox.inject(Fault("malformed", platform=platform, path_contains=LISTING[platform], times=10))
    second = sandbox.world.accounts(platform)[1].account_id
    broken = helpers.land_pull(sandbox, platform, WINDOW, account_id=second)

    frames = platform_code(platform).normalize([pull, broken])

    reasons = helpers.quarantine_reasons(frames.quarantine)
    assert reasons.keys() == {"page"}
    assert len(reasons["page"]) == 1 and "not usable JSON" in reasons["page"][0]
    kept = set(helpers.pulled_posts(sandbox, pull))
    assert set(frames.posts["post_id"]) == set(frames.engagement["post_id"]) == kept
    assert frames.followers.height == 2  # the broken account's profile still counts


@pytest.mark.parametrize("platform", ["tiktok", "x"])
def test_the_field_map_names_every_metric_follower_and_post_column(platform: str) -> None:
    columns = {column for _, column in platform_code(platform).field_map}
    assert set(schema.METRICS) <= columns
    assert {"followers", "following", "posts_count", "permalink", "content_type"} <= columns

"""The YouTube normalizer, fed with pages the real client fetched from the emulator."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl

from social_pipeline.core.pulls import RawPull
from social_pipeline.core.window import CollectionWindow
from social_pipeline.normalize.youtube import normalize
from social_pipeline.sandbox.server import Sandbox, SandboxConfig
from social_pipeline.sandbox.world import World
from social_pipeline.sandbox.youtube_resources import likes_hidden
from social_pipeline_tests import helpers

WINDOW = CollectionWindow(date(2026, 11, 20))
# Every live stream in this window has ended by FROZEN_NOW: it reads as a video.
OUR_TYPE = {"video": "video", "short": "short", "live": "video"}

pull = helpers.landed_day("youtube", WINDOW)


def first_items(pull: RawPull, kind: str) -> list[dict[str, Any]]:
    return helpers.first_page(pull, kind)["body"]["items"]


def test_posts_are_the_worlds_uploads_in_the_window_with_text_type_and_permalink(
    sandbox: Sandbox, pull: RawPull
) -> None:
    posts = normalize([pull]).posts

    for row, post in helpers.post_rows(sandbox, pull, posts):  # ids and times are the world's
        assert row["text"] == (post.text or "Untitled")  # accents, CJK and emoji survive
        assert row["content_type"] == OUR_TYPE[post.content_type]
        assert row["permalink"] == f"https://www.youtube.com/watch?v={post.post_id}"
        assert row["thumbnail_url"].endswith(f"/vi/{post.post_id}/maxresdefault.jpg")
        assert row["media_urls"] == [row["thumbnail_url"]]
    assert set(posts["content_type"]) == {"video", "short"}


def test_a_short_runs_up_to_three_minutes_and_a_longer_upload_is_a_video(pull: RawPull) -> None:
    videos = first_items(pull, "metrics")
    seconds = {"PT1M1S": "short", "PT3M": "short", "PT3M1S": "video", "PT1H": "video"}
    for item, duration in zip(videos, seconds, strict=False):
        item["contentDetails"]["duration"] = duration

    posts = normalize([pull]).posts
    types = dict(zip(posts["post_id"], posts["content_type"], strict=True))
    assert [types[item["id"]] for item in videos[: len(seconds)]] == list(seconds.values())


def test_the_emulator_makes_shorts_longer_than_a_minute(pull: RawPull) -> None:
    durations = [i["contentDetails"]["duration"] for i in first_items(pull, "metrics")]
    assert any(d.startswith(("PT1M", "PT2M")) for d in durations)  # 61..179 s


def test_a_stream_that_is_on_air_is_live() -> None:
    world = World(clock=lambda: helpers.FROZEN_NOW)  # the sandbox's world, same seed
    account = world.accounts("youtube")[0].account_id
    recent = world.posts_between(
        "youtube", account, helpers.FROZEN_NOW - timedelta(days=60), helpers.FROZEN_NOW
    )
    live = next(p for p in recent if p.content_type == "live")
    on_air = live.created_at + timedelta(minutes=5)
    with Sandbox(SandboxConfig(), clock=lambda: on_air) as sb:
        posts = normalize([helpers.land_pull(sb, "youtube", CollectionWindow(on_air.date()))]).posts
    assert posts.filter(pl.col("post_id") == live.post_id)["content_type"].item() == "live"


def test_hidden_likes_are_null_and_shown_likes_are_the_worlds(
    sandbox: Sandbox, pull: RawPull
) -> None:
    engagement = normalize([pull]).engagement

    hidden = 0
    for row, m in helpers.engagement_rows(sandbox, pull, engagement):
        if likes_hidden(row["post_id"]):
            hidden += 1
            assert row["likes"] is None
        else:
            assert row["likes"] == m["likes"]
    assert hidden > 0


def test_a_channel_that_hides_its_subscriber_count_has_null_followers(pull: RawPull) -> None:
    first_items(pull, "profile")[0]["statistics"]["hiddenSubscriberCount"] = True
    assert normalize([pull]).followers["followers"].item() is None


def test_missing_optional_fields_are_null_and_a_description_follows_the_title(
    pull: RawPull,
) -> None:
    bare, described = first_items(pull, "posts")[:2]
    del bare["snippet"]["thumbnails"], bare["snippet"]["description"]
    described["snippet"]["description"] = "Zweite Zeile ✓"

    posts = normalize([pull]).posts
    row = posts.filter(pl.col("post_id") == bare["contentDetails"]["videoId"]).row(0, named=True)
    assert row["thumbnail_url"] is None and row["media_urls"] == []
    text = posts.filter(pl.col("post_id") == described["contentDetails"]["videoId"])["text"].item()
    assert text == described["snippet"]["title"] + "\n\nZweite Zeile ✓"


def test_malformed_records_are_quarantined_with_a_reason_and_the_rest_is_kept(
    sandbox: Sandbox, pull: RawPull
) -> None:
    no_id, bad_time = first_items(pull, "posts")[:2]
    lost = no_id["contentDetails"].pop("videoId")
    bad_time["contentDetails"]["videoPublishedAt"] = "soon"
    bad_metric = first_items(pull, "metrics")[2]
    bad_metric["statistics"]["viewCount"] = "lots"

    frames = normalize([pull])

    assert helpers.quarantine_reasons(frames.quarantine) == {
        "posts": ["playlist item has no videoId", "videoPublishedAt is not an RFC 3339 time"],
        "metrics": ["viewCount is not a number"],
    }
    kept = set(helpers.pulled_posts(sandbox, pull)) - {lost, bad_time["contentDetails"]["videoId"]}
    assert set(frames.posts["post_id"]) == kept
    assert set(frames.engagement["post_id"]) == kept - {bad_metric["id"]}

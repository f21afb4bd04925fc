"""TikTok pages (as the real client lands them) -> normalized frames."""

from __future__ import annotations

import copy
from datetime import date

import polars as pl

from social_pipeline.core.pulls import RawPull
from social_pipeline.core.window import CollectionWindow
from social_pipeline.normalize.tiktok import normalize
from social_pipeline.sandbox.server import Sandbox
from social_pipeline_tests import helpers

WINDOW = CollectionWindow(date(2026, 11, 19))

pull = helpers.landed_day("tiktok", WINDOW)


def test_posts_equal_what_the_platform_reported_and_nothing_is_quarantined(
    sandbox: Sandbox, pull: RawPull
) -> None:
    handle = sandbox.world.account("tiktok", pull.account_id).handle

    frames = normalize([pull])

    assert frames.quarantine.is_empty()
    # Only the window's videos (not the crossing page's older ones), create_time read as seconds.
    for row, post in helpers.post_rows(sandbox, pull, frames.posts):
        assert row["text"] == post.text  # emoji, accents and CJK kept as written
        assert row["content_type"] == "video"
        assert row["permalink"] == f"https://www.tiktok.com/@{handle}/video/{post.post_id}"
        assert row["media_urls"] == [f"https://www.tiktok.com/player/v1/{post.post_id}"]
        assert row["thumbnail_url"] == post.media_url


def test_missing_optional_fields_become_null(pull: RawPull) -> None:
    video = helpers.first_page(pull, "posts")["body"]["data"]["videos"][0]
    for field in ("share_count", "embed_link", "cover_image_url", "share_url"):
        del video[field]
    video["video_description"] = ""

    frames = normalize([pull])

    post = frames.posts.filter(pl.col("post_id") == video["id"]).row(0, named=True)
    assert post["media_urls"] == [] and post["thumbnail_url"] is None and post["permalink"] is None
    assert post["text"] == video["title"]  # an empty description falls back to the title
    row = frames.engagement.filter(pl.col("post_id") == video["id"]).row(0, named=True)
    assert row["shares"] is None and row["likes"] == video["like_count"]


def test_a_video_listed_twice_gives_one_row(pull: RawPull) -> None:
    pull.records.append(copy.deepcopy(helpers.first_page(pull, "posts")))

    frames = normalize([pull])

    assert frames.posts["post_id"].is_duplicated().sum() == 0
    assert frames.engagement.height == frames.posts.height


def test_bad_records_are_quarantined_with_a_reason_and_the_rest_kept(pull: RawPull) -> None:
    videos = helpers.first_page(pull, "posts")["body"]["data"]["videos"]
    kept = len(videos)
    no_id, bad_time, bad_metric = (copy.deepcopy(videos[0]) for _ in range(3))
    del no_id["id"]
    bad_time["id"], bad_time["create_time"] = "1", "2026-11-19"
    bad_metric["id"], bad_metric["view_count"] = "2", {"total": 5}
    videos.extend([no_id, bad_time, bad_metric])
    pull.records.append(
        helpers.unreadable_page("posts", "POST /v2/video/list/", "tiktok: response is not JSON")
    )
    pull.records.append(
        {"kind": "posts", "endpoint": "POST /v2/video/list/", "status": 200, "body": {"data": {}}}
    )

    frames = normalize([pull])

    assert sorted(frames.quarantine["reason"]) == [
        "missing id",
        "missing or unparseable create_time",
        "page is not usable JSON: tiktok: response is not JSON",
        "posts page lacks expected field 'videos'",
        "wrong-typed view_count",
    ]
    assert set(frames.quarantine["kind"]) == {"posts", "page"}
    page_ids = {v["id"] for v in videos[:kept]}
    assert page_ids <= set(frames.posts["post_id"])  # every good video of that page kept
    assert {"1", "2"}.isdisjoint(frames.posts["post_id"])

"""TikTok pages (as the real client lands them) -> normalized frames."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from social_pipeline.normalize import schema
from social_pipeline.normalize.tiktok import FIELD_MAP, normalize
from social_pipeline.raw import RawPull
from social_pipeline.sandbox.server import Sandbox
from social_pipeline.window import CollectionWindow
from social_pipeline_tests.conftest import FROZEN_NOW, make_client

WINDOW = CollectionWindow(date(2026, 11, 19))


def landed_pull(sandbox: Sandbox) -> RawPull:
    """A day's pull as the client lands it."""
    client = make_client(sandbox, "tiktok")
    pages = list(client.collect(WINDOW))
    return RawPull(
        platform="tiktok",
        account_id=client.account_id,
        partition_date=WINDOW.day,
        window_start=WINDOW.start,
        window_end=WINDOW.end,
        collected_at=FROZEN_NOW,
        job_id="job-1",
        records=[p.to_record() for p in pages],
        path=Path(f"raw/tiktok/date={WINDOW.day}/{client.account_id}.jsonl.gz"),
    )


def first_posts_page(pull: RawPull) -> dict[str, Any]:
    return next(r for r in pull.records if r["kind"] == "posts")


def test_posts_engagement_and_followers_equal_what_the_platform_reported(sandbox: Sandbox) -> None:
    pull = landed_pull(sandbox)
    world_posts = {
        p.post_id: p
        for p in sandbox.world.posts_between("tiktok", pull.account_id, WINDOW.start, WINDOW.end)
    }
    handle = sandbox.world.account("tiktok", pull.account_id).handle

    frames = normalize([pull])

    assert frames.quarantine.is_empty()
    assert frames.posts.schema == pl.Schema(schema.POSTS)
    assert sorted(frames.posts["post_id"]) == sorted(
        world_posts
    )  # the crossing page's older videos left out
    for row in frames.posts.iter_rows(named=True):
        post = world_posts[row["post_id"]]
        assert row["created_at"] == post.created_at  # create_time read as seconds
        assert row["text"] == post.text  # emoji, accents and CJK kept as written
        assert row["content_type"] == "video"
        assert row["permalink"] == f"https://www.tiktok.com/@{handle}/video/{post.post_id}"
        assert row["media_urls"] == [f"https://www.tiktok.com/player/v1/{post.post_id}"]
        assert row["thumbnail_url"] == post.media_url
    for row in frames.engagement.iter_rows(named=True):
        m = sandbox.world.metrics(world_posts[row["post_id"]])
        assert (row["likes"], row["comments"], row["shares"], row["views"]) == (
            m["likes"],
            m["comments"],
            m["shares"],
            m["views"],
        )
        # The Display API reports none of these: NULL, never 0.
        assert (row["saves"], row["impressions"], row["reach"], row["clicks"]) == (
            None,
            None,
            None,
            None,
        )
    account = sandbox.world.account("tiktok", pull.account_id)
    assert frames.followers.select("followers", "following", "posts_count").row(0, named=True) == (
        sandbox.world.followers(account)
    )


def test_missing_optional_fields_become_null(sandbox: Sandbox) -> None:
    pull = landed_pull(sandbox)
    video = first_posts_page(pull)["body"]["data"]["videos"][0]
    for field in ("share_count", "embed_link", "cover_image_url", "share_url"):
        del video[field]
    video["video_description"] = ""

    frames = normalize([pull])

    post = frames.posts.filter(pl.col("post_id") == video["id"]).row(0, named=True)
    assert post["media_urls"] == [] and post["thumbnail_url"] is None and post["permalink"] is None
    assert post["text"] == video["title"]  # an empty description falls back to the title
    row = frames.engagement.filter(pl.col("post_id") == video["id"]).row(0, named=True)
    assert row["shares"] is None and row["likes"] == video["like_count"]


def test_a_video_listed_twice_gives_one_row(sandbox: Sandbox) -> None:
    pull = landed_pull(sandbox)
    pull.records.append(copy.deepcopy(first_posts_page(pull)))

    frames = normalize([pull])

    assert frames.posts["post_id"].is_duplicated().sum() == 0
    assert frames.engagement.height == frames.posts.height


def test_bad_records_are_quarantined_with_a_reason_and_the_rest_kept(sandbox: Sandbox) -> None:
    pull = landed_pull(sandbox)
    videos = first_posts_page(pull)["body"]["data"]["videos"]
    kept = len(videos)
    no_id, bad_time, bad_metric = (copy.deepcopy(videos[0]) for _ in range(3))
    del no_id["id"]
    bad_time["id"], bad_time["create_time"] = "1", "2026-11-19"
    bad_metric["id"], bad_metric["view_count"] = "2", {"total": 5}
    videos.extend([no_id, bad_time, bad_metric])
    pull.records.append(
        {
            "kind": "posts",
            "endpoint": "POST /v2/video/list/",
            "status": 200,
            "body": None,
            "error": "tiktok: response is not JSON",
            "body_text": "<html>",
        }
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


def test_field_map_names_every_metric_column() -> None:
    columns = {column for _, column in FIELD_MAP}
    assert set(schema.METRICS) <= columns
    assert {"followers", "following", "posts_count", "permalink", "content_type"} <= columns

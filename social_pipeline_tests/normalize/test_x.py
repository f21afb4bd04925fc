"""X pages (as the real client lands them) -> normalized frames."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from social_pipeline.normalize import schema
from social_pipeline.normalize.x import FIELD_MAP, normalize
from social_pipeline.raw import RawPull
from social_pipeline.sandbox.server import Sandbox
from social_pipeline.window import CollectionWindow
from social_pipeline_tests.conftest import FROZEN_NOW, make_client

WINDOW = CollectionWindow(date(2026, 11, 19))
EXPECTED_TYPES = {"text": "text", "photo": "image", "video": "video", "animated_gif": "video"}


def landed_pull(sandbox: Sandbox, extra_ids: list[str] | None = None) -> RawPull:
    """A day's pull as the client lands it (plus an optional metrics refresh)."""
    client = make_client(sandbox, "x")
    pages = list(client.collect(WINDOW))
    if extra_ids:
        pages += list(client.fetch_metrics(extra_ids))
    return RawPull(
        platform="x",
        account_id=client.account_id,
        partition_date=WINDOW.day,
        window_start=WINDOW.start,
        window_end=WINDOW.end,
        collected_at=FROZEN_NOW,
        job_id="job-1",
        records=[p.to_record() for p in pages],
        path=Path(f"raw/x/date={WINDOW.day}/{client.account_id}.jsonl.gz"),
    )


def posts_page(pull: RawPull) -> dict[str, Any]:
    return next(r for r in pull.records if r["kind"] == "posts")


def test_posts_engagement_and_followers_equal_what_the_platform_reported(sandbox: Sandbox) -> None:
    pull = landed_pull(sandbox)
    world_posts = {
        p.post_id: p
        for p in sandbox.world.posts_between("x", pull.account_id, WINDOW.start, WINDOW.end)
    }

    frames = normalize([pull])

    assert frames.quarantine.is_empty()
    assert frames.posts.schema == pl.Schema(schema.POSTS)
    assert sorted(frames.posts["post_id"]) == sorted(world_posts)
    for row in frames.posts.iter_rows(named=True):
        post = world_posts[row["post_id"]]
        assert row["created_at"] == post.created_at
        assert row["text"] == post.text  # emoji, accents and CJK kept as written
        assert row["content_type"] == EXPECTED_TYPES[post.content_type]
        assert row["media_urls"] == ([] if post.content_type == "text" else [post.media_url])
        assert row["permalink"] == f"https://x.com/sandbox_x_1/status/{post.post_id}"
    for row in frames.engagement.iter_rows(named=True):
        m = sandbox.world.metrics(world_posts[row["post_id"]])
        assert (row["likes"], row["comments"], row["shares"], row["saves"]) == (
            m["likes"],
            m["comments"],
            m["shares"],
            m["bookmarks"],
        )
        assert row["views"] == row["impressions"] == m["views"]
        assert row["reach"] is None and row["clicks"] is None  # not reported: NULL, not 0
    account = sandbox.world.account("x", pull.account_id)
    assert frames.followers.select("followers", "following", "posts_count").row(0, named=True) == (
        sandbox.world.followers(account)
    )


def test_missing_optional_fields_become_null(sandbox: Sandbox) -> None:
    pull = landed_pull(sandbox)
    tweet = posts_page(pull)["body"]["data"][0]
    del tweet["public_metrics"]["impression_count"], tweet["text"]
    tweet.pop("attachments", None)

    frames = normalize([pull])

    post = frames.posts.filter(pl.col("post_id") == tweet["id"]).row(0, named=True)
    assert post["text"] is None and post["content_type"] == "text" and post["media_urls"] == []
    row = frames.engagement.filter(pl.col("post_id") == tweet["id"]).row(0, named=True)
    assert row["views"] is None and row["impressions"] is None
    assert row["likes"] == tweet["public_metrics"]["like_count"]


def test_permalink_falls_back_to_the_web_status_url_without_a_profile(sandbox: Sandbox) -> None:
    pull = landed_pull(sandbox)
    pull.records = [r for r in pull.records if r["kind"] != "profile"]

    frames = normalize([pull])

    assert frames.followers.is_empty()
    assert all(
        link == f"https://x.com/i/web/status/{pid}"
        for pid, link in frames.posts.select("post_id", "permalink").rows()
    )


def test_refreshed_metrics_replace_the_listing_and_stay_inside_the_window(sandbox: Sandbox) -> None:
    account_id = sandbox.world.accounts("x")[0].account_id
    inside = posts_page(landed_pull(sandbox))["body"]["data"][0]["id"]
    older = [
        p.post_id
        for p in sandbox.world.posts_between(
            "x", account_id, WINDOW.start - timedelta(days=3), WINDOW.start
        )
    ]
    pull = landed_pull(sandbox, extra_ids=[inside, *older])
    refreshed = next(
        t
        for r in pull.records
        if r["kind"] == "metrics"
        for t in r["body"]["data"]
        if t["id"] == inside
    )
    refreshed["public_metrics"]["like_count"] = 999_999

    frames = normalize([pull])

    in_window = list(sandbox.world.posts_between("x", account_id, WINDOW.start, WINDOW.end))
    assert frames.engagement.height == frames.posts.height == len(in_window)  # one row per post
    assert older and not set(older) & set(frames.posts["post_id"])
    assert frames.engagement.filter(pl.col("post_id") == inside)["likes"].to_list() == [999_999]


def test_bad_records_are_quarantined_with_a_reason_and_the_rest_kept(sandbox: Sandbox) -> None:
    pull = landed_pull(sandbox)
    page = posts_page(pull)
    good = page["body"]["data"]
    no_id, bad_time, bad_metric = (copy.deepcopy(good[0]) for _ in range(3))
    del no_id["id"]
    bad_time["id"], bad_time["created_at"] = "1", "yesterday"
    bad_metric["id"], bad_metric["public_metrics"]["like_count"] = "2", "lots"
    good.extend([no_id, bad_time, bad_metric])
    pull.records.append(
        {
            "kind": "posts",
            "endpoint": "GET /2/users/{id}/tweets",
            "status": 200,
            "body": None,
            "error": "x: response is not JSON",
            "body_text": "<html>",
        }
    )

    frames = normalize([pull])

    reasons = sorted(frames.quarantine["reason"])
    assert reasons == [
        "missing id",
        "missing or unparseable created_at",
        "page is not usable JSON: x: response is not JSON",
        "wrong-typed public_metrics.like_count",
    ]
    assert frames.posts.height == len(good) - 3  # every good tweet of that page kept
    assert {"1", "2"}.isdisjoint(frames.posts["post_id"])


def test_field_map_names_every_metric_column() -> None:
    columns = {column for _, column in FIELD_MAP}
    assert set(schema.METRICS) <= columns
    assert {"followers", "following", "posts_count", "permalink", "content_type"} <= columns

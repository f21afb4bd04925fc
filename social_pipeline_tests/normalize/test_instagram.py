"""Instagram pages from the real client, normalized: values, NULLs, quarantine."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from social_pipeline.normalize.instagram import normalize
from social_pipeline.normalize.schema import CONTENT_TYPES, ENGAGEMENT, FOLLOWERS, POSTS
from social_pipeline.raw import RawPull
from social_pipeline.sandbox.server import Sandbox
from social_pipeline.window import CollectionWindow
from social_pipeline_tests.conftest import FROZEN_NOW, make_client

P = "instagram"
WINDOW = CollectionWindow(date(2026, 11, 19))  # newer media exist: they must be left out


def pull(sandbox: Sandbox, records: list[dict[str, Any]] | None = None) -> RawPull:
    """One account's day, as the client fetched it (or `records` derived from that)."""
    client = make_client(sandbox, P)
    if records is None:
        records = [page.to_record() for page in client.collect(WINDOW)]
    return RawPull(
        P,
        client.account_id,
        WINDOW.day,
        WINDOW.start,
        WINDOW.end,
        FROZEN_NOW,
        "job-1",
        records,
        Path("ig.jsonl.gz"),
    )


@pytest.fixture
def day(sandbox: Sandbox) -> RawPull:
    return pull(sandbox)


def world_posts(sandbox: Sandbox, account_id: str) -> list:
    return list(sandbox.world.posts_between(P, account_id, WINDOW.start, WINDOW.end))


def first_of(records: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(r for r in records if r["kind"] == kind)


def test_posts_and_engagement_match_the_world(sandbox: Sandbox, day: RawPull) -> None:
    frames = normalize([day])
    world = world_posts(sandbox, day.account_id)

    assert frames.posts.schema == pl.Schema(POSTS) and frames.engagement.schema == pl.Schema(
        ENGAGEMENT
    )
    assert frames.posts["post_id"].to_list() == [p.post_id for p in world]
    assert frames.engagement.height == len(world)
    for row in frames.engagement.iter_rows(named=True):
        m = sandbox.world.metrics(sandbox.world.find_post(P, row["post_id"]))
        assert (
            row["likes"],
            row["comments"],
            row["shares"],
            row["saves"],
            row["views"],
            row["reach"],
        ) == (
            m["likes"],
            m["comments"],
            m["shares"],
            m["saves"],
            m["views"],
            m["reach"],
        )
    assert frames.quarantine.is_empty()


def test_impressions_and_clicks_are_null_not_zero(day: RawPull) -> None:
    engagement = normalize([day]).engagement
    for column in ("impressions", "clicks", "interactions", "engagement_rate"):
        assert engagement[column].null_count() == engagement.height, column


def test_media_without_insights_keeps_null_insight_metrics(sandbox: Sandbox, day: RawPull) -> None:
    client = make_client(sandbox, P)
    records = [r for r in day.records if r["kind"] != "metrics"]
    refused = [p.to_record() for p in client.fetch_metrics(["17900000000000000"])]  # Graph says 400
    frames = normalize([pull(sandbox, records + refused)])

    engagement = frames.engagement
    assert engagement["likes"].null_count() == 0
    for column in ("shares", "saves", "views", "reach"):
        assert engagement[column].null_count() == engagement.height, column
    assert frames.quarantine["reason"].to_list()[0].startswith("insights refused:")


def test_followers_following_and_media_count_come_from_the_ig_user(
    sandbox: Sandbox, day: RawPull
) -> None:
    followers = normalize([day]).followers
    counts = sandbox.world.followers(sandbox.world.account(P, day.account_id))
    assert followers.schema == pl.Schema(FOLLOWERS)
    row = followers.row(0, named=True)
    assert (row["followers"], row["following"], row["posts_count"]) == (
        counts["followers"],
        counts["following"],
        counts["posts_count"],
    )


def test_captions_keep_unicode_and_a_missing_caption_is_null(
    sandbox: Sandbox, day: RawPull
) -> None:
    posts = normalize([day]).posts
    expected = {p.post_id: p.text or None for p in world_posts(sandbox, day.account_id)}
    assert dict(zip(posts["post_id"], posts["text"], strict=True)) == expected
    assert any(t and not t.isascii() for t in expected.values())
    assert None in expected.values()


def test_product_and_media_type_decide_content_type_and_media_urls(
    sandbox: Sandbox, day: RawPull
) -> None:
    posts = normalize([day]).posts
    kinds = {"IMAGE": "image", "VIDEO": "video", "CAROUSEL_ALBUM": "carousel", "REELS": "reel"}
    reels_without_media_url = 0
    for row in posts.iter_rows(named=True):
        post = sandbox.world.find_post(P, row["post_id"])
        assert (
            row["content_type"] == kinds[post.content_type] and row["content_type"] in CONTENT_TYPES
        )
        assert row["thumbnail_url"] is not None
        assert row["permalink"].startswith("https://www.instagram.com/")
        if post.content_type == "CAROUSEL_ALBUM":
            assert len(row["media_urls"]) == 3
        elif row["media_urls"] == []:
            reels_without_media_url += 1  # Graph omits media_url for copyrighted audio
            assert post.content_type == "REELS"
        else:
            assert len(row["media_urls"]) == 1
    assert reels_without_media_url > 0


def test_malformed_records_are_quarantined_and_the_rest_kept(
    sandbox: Sandbox, day: RawPull
) -> None:
    records = copy.deepcopy(day.records)
    data = first_of(records, "posts")["body"]["data"]
    kept = normalize([day]).posts.height
    template = next(m for m in data if "2026-11-19" in m["timestamp"])
    data.append({k: v for k, v in template.items() if k != "id"})
    data.append({**template, "id": "179000000700000001", "timestamp": "19/11/2026"})
    data.append({**template, "id": "179000000700000002", "like_count": "many"})
    first_of(records, "metrics")["body"]["data"][0]["values"] = [{"value": "n/a"}]
    records.append(
        {
            "kind": "metrics",
            "endpoint": "GET /v24.0/{media-id}/insights",
            "status": 200,
            "body": None,
            "error": "instagram: response is not JSON (text/html)",
            "body_text": "<html>",
        }
    )
    frames = normalize([pull(sandbox, records)])

    reasons = sorted(frames.quarantine["reason"].to_list())
    assert reasons[:3] == [
        "insight value is not an integer",
        "item has no id",
        "like_count is not an integer",
    ]
    assert reasons[3].startswith("page is not usable JSON")
    assert reasons[4] == "timestamp is not a Graph timestamp"
    assert len(reasons) == 5
    assert frames.posts.height == kept and frames.engagement.height == kept
    assert frames.engagement["reach"].null_count() == 1  # only the quarantined insight is lost

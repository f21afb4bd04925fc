"""The YouTube normalizer, fed with pages the real client fetched from the emulator."""

from __future__ import annotations

import contextlib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from social_pipeline.clients.base import RawPage
from social_pipeline.clients.errors import MalformedResponse
from social_pipeline.normalize import schema
from social_pipeline.normalize.youtube import normalize
from social_pipeline.raw import RawPull
from social_pipeline.sandbox.server import Fault, Sandbox, SandboxConfig
from social_pipeline.sandbox.world import World
from social_pipeline.sandbox.youtube_resources import likes_hidden
from social_pipeline.window import CollectionWindow
from social_pipeline_tests.conftest import FROZEN_NOW, make_client

WINDOW = CollectionWindow(date(2026, 11, 20))
# Every live stream in this window has ended by FROZEN_NOW: it reads as a video.
OUR_TYPE = {"video": "video", "short": "short", "live": "video"}


def pull_of(
    sandbox: Sandbox, window: CollectionWindow = WINDOW, account_id: str | None = None
) -> RawPull:
    """One account's day as the raw landing would hold it, pages fetched by the client."""
    client = make_client(sandbox, "youtube", account_id)
    pages: list[RawPage] = []
    # On a page that is not JSON, collect() yields it as an error record, then raises.
    with contextlib.suppress(MalformedResponse):
        pages.extend(client.collect(window))
    return RawPull(
        "youtube",
        client.account_id,
        window.day,
        window.start,
        window.end,
        sandbox.world.clock(),
        "job-1",
        [p.to_record() for p in pages],
        Path(f"raw/youtube/{client.account_id}.jsonl.gz"),
    )


@pytest.fixture
def pull(sandbox: Sandbox) -> RawPull:
    return pull_of(sandbox)


def world_posts(sandbox: Sandbox, pull: RawPull) -> dict[str, Any]:
    posts = sandbox.world.posts_between(
        "youtube", pull.account_id, pull.window_start, pull.window_end
    )
    return {p.post_id: p for p in posts}


def first_items(pull: RawPull, kind: str) -> list[dict[str, Any]]:
    return next(r for r in pull.records if r["kind"] == kind)["body"]["items"]


def test_posts_are_the_worlds_uploads_in_the_window_with_text_type_and_permalink(
    sandbox: Sandbox, pull: RawPull
) -> None:
    posts = normalize([pull]).posts
    expected = world_posts(sandbox, pull)

    assert posts.schema == pl.Schema(schema.POSTS)
    assert sorted(posts["post_id"]) == sorted(expected)
    for row in posts.iter_rows(named=True):
        post = expected[row["post_id"]]
        assert row["created_at"] == post.created_at
        assert row["text"] == (post.text or "Untitled")  # accents, CJK and emoji survive
        assert row["content_type"] == OUR_TYPE[post.content_type]
        assert row["permalink"] == f"https://www.youtube.com/watch?v={post.post_id}"
        assert row["thumbnail_url"].endswith(f"/vi/{post.post_id}/maxresdefault.jpg")
        assert row["media_urls"] == [row["thumbnail_url"]]
    assert set(posts["content_type"]) == {"video", "short"}


def test_a_stream_that_is_on_air_is_live() -> None:
    world = World(clock=lambda: FROZEN_NOW)  # the sandbox's world, same seed
    account = world.accounts("youtube")[0].account_id
    recent = world.posts_between("youtube", account, FROZEN_NOW - timedelta(days=60), FROZEN_NOW)
    live = next(p for p in recent if p.content_type == "live")
    on_air = live.created_at + timedelta(minutes=5)
    with Sandbox(SandboxConfig(), clock=lambda: on_air) as sb:
        posts = normalize([pull_of(sb, CollectionWindow(on_air.date()))]).posts
    assert posts.filter(pl.col("post_id") == live.post_id)["content_type"].item() == "live"


def test_engagement_is_the_worlds_metrics_hidden_likes_and_unreported_metrics_are_null(
    sandbox: Sandbox, pull: RawPull
) -> None:
    engagement = normalize([pull]).engagement
    expected = world_posts(sandbox, pull)

    assert engagement.schema == pl.Schema(schema.ENGAGEMENT)
    assert sorted(engagement["post_id"]) == sorted(expected)
    hidden = 0
    for row in engagement.iter_rows(named=True):
        m = sandbox.world.metrics(expected[row["post_id"]])
        assert (row["views"], row["comments"]) == (m["views"], m["comments"])
        if likes_hidden(row["post_id"]):
            hidden += 1
            assert row["likes"] is None
        else:
            assert row["likes"] == m["likes"]
    assert hidden > 0
    for metric in ("shares", "saves", "impressions", "reach", "clicks"):
        assert engagement[metric].is_null().all(), metric


def test_followers_are_subscribers_unless_the_channel_hides_them(
    sandbox: Sandbox, pull: RawPull
) -> None:
    account = sandbox.world.account("youtube", pull.account_id)
    counts = sandbox.world.followers(account)
    (row,) = normalize([pull]).followers.iter_rows(named=True)
    assert (row["followers"], row["posts_count"], row["following"]) == (
        counts["followers"],
        counts["posts_count"],
        None,
    )

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
    sandbox.inject(Fault("malformed", platform="youtube", path_contains="/playlistItems", times=10))
    broken = pull_of(sandbox, account_id=sandbox.world.accounts("youtube")[1].account_id)

    frames = normalize([pull, broken])
    quarantine = frames.quarantine
    reasons = {
        kind: sorted(quarantine.filter(pl.col("kind") == kind)["reason"])
        for kind in set(quarantine["kind"])
    }
    assert reasons.keys() == {"posts", "metrics", "page"}
    assert reasons["posts"] == [
        "playlist item has no videoId",
        "videoPublishedAt is not an RFC 3339 time",
    ]
    assert reasons["metrics"] == ["viewCount is not a number"]
    assert len(reasons["page"]) == 1 and "not usable JSON" in reasons["page"][0]
    kept = set(world_posts(sandbox, pull)) - {lost, bad_time["contentDetails"]["videoId"]}
    assert set(frames.posts["post_id"]) == kept
    assert set(frames.engagement["post_id"]) == kept - {bad_metric["id"]}
    assert frames.followers.height == 2  # the broken account's profile still counts

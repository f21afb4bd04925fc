"""The LinkedIn normalizer, fed with pages the real client fetched from the emulator."""

from __future__ import annotations

import contextlib
import copy
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from social_pipeline.clients.base import RawPage
from social_pipeline.clients.errors import MalformedResponse
from social_pipeline.normalize import schema
from social_pipeline.normalize.linkedin import normalize
from social_pipeline.raw import RawPull
from social_pipeline.sandbox.server import Fault, Sandbox
from social_pipeline.window import CollectionWindow
from social_pipeline_tests.conftest import FROZEN_NOW, make_client

WINDOW = CollectionWindow(date(2026, 11, 20))
OUR_TYPE = {
    "text": "text",
    "image": "image",
    "video": "video",
    "article": "link",
    "multi_image": "carousel",
}


def pull_of(sandbox: Sandbox, account_id: str | None = None) -> RawPull:
    """One account's day as the raw landing would hold it, pages fetched by the client."""
    client = make_client(sandbox, "linkedin", account_id)
    pages: list[RawPage] = []
    # On a page that is not JSON, collect() yields it as an error record, then raises.
    with contextlib.suppress(MalformedResponse):
        pages.extend(client.collect(WINDOW))
    return RawPull(
        "linkedin",
        client.account_id,
        WINDOW.day,
        WINDOW.start,
        WINDOW.end,
        FROZEN_NOW,
        "job-1",
        [p.to_record() for p in pages],
        Path(f"raw/linkedin/{client.account_id}.jsonl.gz"),
    )


@pytest.fixture
def pull(sandbox: Sandbox) -> RawPull:
    return pull_of(sandbox)


def world_posts(sandbox: Sandbox, pull: RawPull) -> dict[str, Any]:
    return {
        p.post_id: p
        for p in sandbox.world.posts_between("linkedin", pull.account_id, WINDOW.start, WINDOW.end)
    }


def posts_page(pull: RawPull) -> dict[str, Any]:
    return next(r for r in pull.records if r["kind"] == "posts")


def test_posts_are_the_worlds_posts_in_the_window_with_text_type_and_permalink(
    sandbox: Sandbox, pull: RawPull
) -> None:
    frames = normalize([pull])
    expected = world_posts(sandbox, pull)

    posts = frames.posts
    assert posts.schema == pl.Schema(schema.POSTS)
    assert sorted(posts["post_id"]) == sorted(expected)
    for row in posts.iter_rows(named=True):
        post = expected[row["post_id"]]
        assert row["created_at"] == post.created_at
        assert row["text"] == post.text  # accents, CJK and emoji survive
        assert row["content_type"] == OUR_TYPE[post.content_type]
        assert row["permalink"] == f"https://www.linkedin.com/feed/update/{post.post_id}"
    assert set(posts["content_type"]) >= {"text", "image", "link", "carousel"}
    carousel = posts.filter(pl.col("content_type") == "carousel").row(0, named=True)
    assert len(carousel["media_urls"]) >= 2 and all(
        u.startswith("urn:li:image:") for u in carousel["media_urls"]
    )
    link = posts.filter(pl.col("content_type") == "link").row(0, named=True)
    assert link["media_urls"][0].startswith("https://") and link["thumbnail_url"].startswith(
        "urn:li:image:"
    )


def test_engagement_is_the_worlds_metrics_and_unreported_ones_are_null(
    sandbox: Sandbox, pull: RawPull
) -> None:
    engagement = normalize([pull]).engagement
    expected = world_posts(sandbox, pull)

    assert engagement.schema == pl.Schema(schema.ENGAGEMENT)
    assert sorted(engagement["post_id"]) == sorted(expected)
    for row in engagement.iter_rows(named=True):
        m = sandbox.world.metrics(expected[row["post_id"]])
        assert (row["likes"], row["comments"], row["shares"]) == (
            m["likes"],
            m["comments"],
            m["shares"],
        )
        assert (row["impressions"], row["reach"], row["clicks"]) == (
            m["views"],
            m["reach"],
            m["clicks"],
        )
    assert engagement["views"].is_null().all() and engagement["saves"].is_null().all()


def test_followers_come_from_the_network_size(sandbox: Sandbox, pull: RawPull) -> None:
    (row,) = normalize([pull]).followers.iter_rows(named=True)
    account = sandbox.world.account("linkedin", pull.account_id)
    assert row["followers"] == sandbox.world.followers(account)["followers"]
    assert row["following"] is None and row["posts_count"] is None


def test_missing_optional_fields_are_null_and_little_text_escapes_are_removed(
    pull: RawPull,
) -> None:
    page = posts_page(pull)
    bare, escaped = page["body"]["elements"][:2]
    del bare["commentary"]
    bare.pop("content", None)
    escaped["commentary"] = r"Join us \(today\) \#hiring \@ Zürich"

    posts = normalize([pull]).posts
    row = posts.filter(pl.col("post_id") == bare["id"]).row(0, named=True)
    assert row["text"] is None and row["content_type"] == "text"
    assert row["media_urls"] == [] and row["thumbnail_url"] is None
    assert (
        posts.filter(pl.col("post_id") == escaped["id"])["text"].item()
        == "Join us (today) #hiring @ Zürich"
    )


def test_malformed_records_are_quarantined_with_a_reason_and_the_rest_is_kept(
    sandbox: Sandbox, pull: RawPull
) -> None:
    page = posts_page(pull)
    elements = page["body"]["elements"]
    no_id, bad_time = copy.deepcopy(elements[0]), elements[1]
    del no_id["id"]
    bad_time["createdAt"] = bad_time["publishedAt"] = "yesterday"
    elements.append(no_id)
    stats_page = next(r for r in pull.records if r["kind"] == "metrics")
    bad_metric = stats_page["body"]["elements"][2]
    bad_metric["totalShareStatistics"]["likeCount"] = "many"
    sandbox.inject(Fault("malformed", platform="linkedin", path_contains="/rest/posts", times=10))
    broken = pull_of(sandbox, sandbox.world.accounts("linkedin")[1].account_id)

    frames = normalize([pull, broken])
    quarantine = frames.quarantine
    reasons = {
        kind: sorted(quarantine.filter(pl.col("kind") == kind)["reason"])
        for kind in set(quarantine["kind"])
    }
    assert reasons.keys() == {"posts", "metrics", "page"}
    assert reasons["posts"] == ["createdAt is not epoch milliseconds", "post has no id"]
    assert reasons["metrics"] == ["likeCount is not a number"]
    assert len(reasons["page"]) == 1 and "not usable JSON" in reasons["page"][0]
    kept = set(world_posts(sandbox, pull)) - {bad_time["id"]}
    assert set(frames.posts["post_id"]) == kept
    assert set(frames.engagement["post_id"]) == kept - {bad_metric["share"]}
    assert frames.followers.height == 2  # the broken account's profile still counts

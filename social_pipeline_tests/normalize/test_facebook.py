"""Facebook pages from the real client, normalized: values, NULLs, quarantine."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from social_pipeline.normalize.facebook import normalize
from social_pipeline.normalize.schema import CONTENT_TYPES, ENGAGEMENT, FOLLOWERS, POSTS
from social_pipeline.raw import RawPull
from social_pipeline.sandbox.server import Sandbox
from social_pipeline.window import CollectionWindow
from social_pipeline_tests.conftest import FROZEN_NOW, make_client

P = "facebook"
WINDOW = CollectionWindow(date(2026, 11, 20))


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
        Path("fb.jsonl.gz"),
    )


@pytest.fixture
def day(sandbox: Sandbox) -> RawPull:
    return pull(sandbox)


def posts_page(records: list[dict[str, Any]]) -> dict[str, Any]:
    return next(r for r in records if r["kind"] == "posts")


def test_posts_and_engagement_match_the_world(sandbox: Sandbox, day: RawPull) -> None:
    frames = normalize([day])
    world = list(sandbox.world.posts_between(P, day.account_id, WINDOW.start, WINDOW.end))

    assert frames.posts.schema == pl.Schema(POSTS) and frames.engagement.schema == pl.Schema(
        ENGAGEMENT
    )
    assert frames.posts["post_id"].to_list() == [p.post_id for p in world]
    assert frames.engagement.height == len(world)
    for row in frames.engagement.iter_rows(named=True):
        metrics = sandbox.world.metrics(sandbox.world.find_post("facebook", row["post_id"]))
        assert (row["likes"], row["comments"], row["shares"]) == (
            metrics["likes"],
            metrics["comments"],
            metrics["shares"],
        )


def test_metrics_facebook_does_not_report_are_null_not_zero(day: RawPull) -> None:
    engagement = normalize([day]).engagement
    for column in ("views", "saves", "impressions", "reach", "clicks", "engagement_rate"):
        assert engagement[column].null_count() == engagement.height, column


def test_followers_come_from_the_page_profile(sandbox: Sandbox, day: RawPull) -> None:
    followers = normalize([day]).followers
    account = sandbox.world.account(P, day.account_id)
    assert followers.schema == pl.Schema(FOLLOWERS)
    assert (
        followers.row(0, named=True)["followers"] == sandbox.world.followers(account)["followers"]
    )
    assert followers["following"].is_null().all() and followers["posts_count"].is_null().all()


def test_text_keeps_unicode_and_a_post_without_message_has_null_text(
    sandbox: Sandbox, day: RawPull
) -> None:
    posts = normalize([day]).posts
    expected = {
        p.post_id: p.text or None
        for p in sandbox.world.posts_between(P, day.account_id, WINDOW.start, WINDOW.end)
    }
    assert dict(zip(posts["post_id"], posts["text"], strict=True)) == expected
    assert any(t and not t.isascii() for t in expected.values())
    assert None in expected.values()


def test_attachments_decide_content_type_and_media_urls(sandbox: Sandbox, day: RawPull) -> None:
    posts = normalize([day]).posts
    kinds = {
        "status": "text",
        "photo": "image",
        "video": "video",
        "link": "link",
        "album": "carousel",
    }
    for row in posts.iter_rows(named=True):
        post = sandbox.world.find_post("facebook", row["post_id"])
        assert row["content_type"] == kinds[post.content_type]
        assert row["content_type"] in CONTENT_TYPES
        if post.content_type == "album":
            assert len(row["media_urls"]) == 3
        elif post.content_type == "status":
            assert row["media_urls"] == [] and row["thumbnail_url"] is None
        else:
            assert len(row["media_urls"]) == 1 and row["thumbnail_url"] == post.media_url
        assert row["permalink"].startswith("https://www.facebook.com/")


def test_absent_shares_is_zero_only_when_shares_was_requested(day: RawPull) -> None:
    asked = copy.deepcopy(day)
    first = posts_page(asked.records)["body"]["data"][0]
    del first["shares"]
    unasked = copy.deepcopy(asked)
    page = posts_page(unasked.records)
    page["request"]["params"]["fields"] = page["request"]["params"]["fields"].replace("shares,", "")

    def shares(raw: RawPull) -> int | None:
        frame = normalize([raw]).engagement
        return frame.filter(pl.col("post_id") == first["id"])["shares"].item()

    assert shares(asked) == 0
    assert shares(unasked) is None


def test_shares_of_an_unexpected_shape_is_unknown_not_zero(day: RawPull) -> None:
    odd = copy.deepcopy(day)
    first = posts_page(odd.records)["body"]["data"][0]
    first["shares"] = "n/a"  # present, so not "none shared", but no count to read

    frame = normalize([odd]).engagement

    assert frame.filter(pl.col("post_id") == first["id"])["shares"].item() is None


def test_a_later_metrics_refresh_wins_over_the_listing(sandbox: Sandbox, day: RawPull) -> None:
    client = make_client(sandbox, P)
    ids = [p["id"] for p in posts_page(day.records)["body"]["data"]]
    refresh = [page.to_record() for page in client.fetch_metrics(ids)]
    refresh[0]["body"][ids[0]]["reactions"]["summary"]["total_count"] = 999_999
    frames = normalize([pull(sandbox, day.records + refresh)])

    assert frames.engagement.height == len(ids)
    assert frames.engagement.filter(pl.col("post_id") == ids[0])["likes"].item() == 999_999


def test_malformed_records_are_quarantined_and_the_rest_of_the_page_kept(
    sandbox: Sandbox, day: RawPull
) -> None:
    records = copy.deepcopy(day.records)
    data = posts_page(records)["body"]["data"]
    good = len(data)
    template = data[0]
    data.append({k: v for k, v in template.items() if k != "id"})
    data.append({**template, "id": f"{day.account_id}_1", "created_time": "yesterday"})
    data.append(
        {**template, "id": f"{day.account_id}_2", "reactions": {"summary": {"total_count": "lots"}}}
    )
    records.append(
        {
            "kind": "posts",
            "endpoint": "GET /v24.0/{page-id}/posts",
            "status": 200,
            "body": None,
            "error": "facebook: response is not JSON (text/html)",
            "body_text": "<html>",
        }
    )
    frames = normalize([pull(sandbox, records)])

    reasons = frames.quarantine["reason"].to_list()
    assert "item has no id" in reasons
    assert "created_time is not a Graph timestamp" in reasons
    assert "reactions.summary.total_count is not an integer" in reasons
    assert any(r.startswith("page is not usable JSON") for r in reasons)
    assert frames.quarantine.height == 4
    assert frames.posts.height == good and frames.engagement.height == good


def test_posts_outside_the_window_and_repeats_are_left_out(sandbox: Sandbox, day: RawPull) -> None:
    records = copy.deepcopy(day.records)
    page = posts_page(records)
    late = {
        **page["body"]["data"][0],
        "id": f"{day.account_id}_9",
        "created_time": "2026-11-21T00:00:00+0000",
    }
    page["body"]["data"].append(late)
    records.append(copy.deepcopy(page))  # the same page landed twice
    frames = normalize([pull(sandbox, records)])

    assert frames.posts.height == len(page["body"]["data"]) - 1
    assert frames.posts["post_id"].is_unique().all()
    assert late["id"] not in frames.posts["post_id"].to_list()
    assert frames.quarantine.is_empty()

"""Instagram pages from the real client, normalized: values, NULLs, quarantine."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import date

import polars as pl

from social_pipeline.core.pulls import RawPull
from social_pipeline.core.schema import CONTENT_TYPES, POSTS
from social_pipeline.core.window import CollectionWindow
from social_pipeline.normalize.instagram import normalize
from social_pipeline.sandbox.server import Sandbox
from social_pipeline_tests import helpers

P = "instagram"
WINDOW = CollectionWindow(date(2026, 11, 19))  # newer media exist: they must be left out

day = helpers.landed_day(P, WINDOW, name="day")  # one account's day, as the client fetched it


def test_a_days_media_are_the_worlds_newest_first_and_none_is_quarantined(
    sandbox: Sandbox, day: RawPull
) -> None:
    frames = normalize([day])

    assert frames.posts.schema == pl.Schema(POSTS)
    assert frames.posts["post_id"].to_list() == list(helpers.pulled_posts(sandbox, day))
    assert frames.quarantine.is_empty()


def _without_inline_insights(records: list[dict]) -> list[dict]:
    """The day's records with `insights` taken out of every listed media (old shape)."""
    records = copy.deepcopy(records)
    for record in records:
        if record["kind"] == "posts":
            for media in record["body"]["data"]:
                media.pop("insights", None)
    return records


def test_insights_listed_media_carry_are_the_worlds(sandbox: Sandbox, day: RawPull) -> None:
    assert {r["kind"] for r in day.records} == {"profile", "posts"}  # no per-media pages
    engagement = normalize([day]).engagement
    assert engagement.height > 0
    for row in engagement.iter_rows(named=True):
        metrics = sandbox.world.metrics(sandbox.world.find_post(P, row["post_id"]))
        assert (row["reach"], row["saves"], row["shares"], row["views"]) == (
            metrics["reach"],
            metrics["saves"],
            metrics["shares"],
            metrics["views"],
        )


def test_old_pulls_with_one_insights_page_per_media_normalize_the_same(
    sandbox: Sandbox, day: RawPull
) -> None:
    client = helpers.make_client(sandbox, P)  # a fresh client reads every media's insights
    ids = list(helpers.pulled_posts(sandbox, day))
    old = _without_inline_insights(day.records) + [p.to_record() for p in client.fetch_metrics(ids)]
    frames = normalize([replace(day, records=old)])

    assert frames.quarantine.is_empty()
    assert frames.engagement.equals(normalize([day]).engagement)


def test_a_metric_a_media_lacks_stays_null(day: RawPull) -> None:
    records = copy.deepcopy(day.records)
    media = helpers.first_page(records, "posts")["body"]["data"]
    for item in media:
        item["insights"]["data"] = [e for e in item["insights"]["data"] if e["name"] != "views"]
    engagement = normalize([replace(day, records=records)]).engagement

    assert engagement["views"].null_count() == engagement.height
    assert engagement["reach"].null_count() == 0


def test_media_without_insights_keeps_null_insight_metrics(sandbox: Sandbox, day: RawPull) -> None:
    client = helpers.make_client(sandbox, P)
    records = _without_inline_insights(day.records)
    refused = [p.to_record() for p in client.fetch_metrics(["17900000000000000"])]  # Graph says 400
    frames = normalize([replace(day, records=records + refused)])

    engagement = frames.engagement
    assert engagement["likes"].null_count() == 0
    for column in ("shares", "saves", "views", "reach"):
        assert engagement[column].null_count() == engagement.height, column
    assert frames.quarantine["reason"].to_list()[0].startswith("insights refused:")


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
    data = helpers.first_page(records, "posts")["body"]["data"]
    kept = normalize([day]).posts.height
    template = next(m for m in data if "2026-11-19" in m["timestamp"])
    copied = {k: v for k, v in template.items() if k != "insights"}
    data.append({k: v for k, v in copied.items() if k != "id"})
    data.append({**copied, "id": "179000000700000001", "timestamp": "19/11/2026"})
    data.append({**copied, "id": "179000000700000002", "like_count": "many"})
    reach = next(e for e in template["insights"]["data"] if e["name"] == "reach")
    reach["values"] = [{"value": "n/a"}]
    records.append(
        helpers.unreadable_page(
            "metrics",
            "GET /v24.0/{media-id}/insights",
            "instagram: response is not JSON (text/html)",
        )
    )
    frames = normalize([replace(day, records=records)])

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

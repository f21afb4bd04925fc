"""Facebook pages from the real client, normalized: values, NULLs, quarantine."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import date

import polars as pl

from social_pipeline.core.pulls import RawPull
from social_pipeline.core.schema import CONTENT_TYPES, POSTS
from social_pipeline.core.window import CollectionWindow
from social_pipeline.normalize.facebook import normalize
from social_pipeline.normalize.rates import with_rates
from social_pipeline.sandbox.server import Sandbox
from social_pipeline_tests import helpers

P = "facebook"
WINDOW = CollectionWindow(date(2026, 11, 20))

day = helpers.landed_day(P, WINDOW, name="day")  # one account's day, as the client fetched it


def test_posts_are_the_worlds_newest_first(sandbox: Sandbox, day: RawPull) -> None:
    posts = normalize([day]).posts

    assert posts.schema == pl.Schema(POSTS)
    assert posts["post_id"].to_list() == list(helpers.pulled_posts(sandbox, day))


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
    first = helpers.first_page(asked.records, "posts")["body"]["data"][0]
    del first["shares"]
    unasked = copy.deepcopy(asked)
    page = helpers.first_page(unasked.records, "posts")
    page["request"]["params"]["fields"] = page["request"]["params"]["fields"].replace("shares,", "")

    def shares(raw: RawPull) -> int | None:
        frame = normalize([raw]).engagement
        return frame.filter(pl.col("post_id") == first["id"])["shares"].item()

    assert shares(asked) == 0
    assert shares(unasked) is None


def test_a_post_answered_without_any_engagement_field_has_null_metrics_and_rates(
    day: RawPull,
) -> None:
    bare = copy.deepcopy(day)
    first = helpers.first_page(bare.records, "posts")["body"]["data"][0]
    for key in ("reactions", "comments", "shares"):
        first.pop(key, None)

    frames = normalize([bare])
    row = with_rates(frames.engagement, frames.followers).filter(pl.col("post_id") == first["id"])

    assert row.select("likes", "comments", "shares").row(0) == (None, None, None)
    assert row["interactions"].item() is None and row["engagement_rate"].item() is None


def test_shares_of_an_unexpected_shape_is_unknown_not_zero(day: RawPull) -> None:
    odd = copy.deepcopy(day)
    first = helpers.first_page(odd.records, "posts")["body"]["data"][0]
    first["shares"] = "n/a"  # present, so not "none shared", but no count to read

    frame = normalize([odd]).engagement

    assert frame.filter(pl.col("post_id") == first["id"])["shares"].item() is None


def test_a_later_metrics_refresh_wins_over_the_listing(sandbox: Sandbox, day: RawPull) -> None:
    client = helpers.make_client(sandbox, P)
    ids = [p["id"] for p in helpers.first_page(day.records, "posts")["body"]["data"]]
    refresh = [page.to_record() for page in client.fetch_metrics(ids)]
    refresh[0]["body"][ids[0]]["reactions"]["summary"]["total_count"] = 999_999
    frames = normalize([replace(day, records=day.records + refresh)])

    assert frames.engagement.height == len(ids)
    assert frames.engagement.filter(pl.col("post_id") == ids[0])["likes"].item() == 999_999


def test_malformed_records_are_quarantined_and_the_rest_of_the_page_kept(
    sandbox: Sandbox, day: RawPull
) -> None:
    records = copy.deepcopy(day.records)
    data = helpers.first_page(records, "posts")["body"]["data"]
    good = len(data)
    template = data[0]
    data.append({k: v for k, v in template.items() if k != "id"})
    data.append({**template, "id": f"{day.account_id}_1", "created_time": "yesterday"})
    data.append(
        {**template, "id": f"{day.account_id}_2", "reactions": {"summary": {"total_count": "lots"}}}
    )
    records.append(
        helpers.unreadable_page(
            "posts", "GET /v24.0/{page-id}/posts", "facebook: response is not JSON (text/html)"
        )
    )
    frames = normalize([replace(day, records=records)])

    reasons = frames.quarantine["reason"].to_list()
    assert "item has no id" in reasons
    assert "created_time is not a Graph timestamp" in reasons
    assert "reactions.summary.total_count is not an integer" in reasons
    assert any(r.startswith("page is not usable JSON") for r in reasons)
    assert frames.quarantine.height == 4
    assert frames.posts.height == good and frames.engagement.height == good


def test_posts_outside_the_window_and_repeats_are_left_out(sandbox: Sandbox, day: RawPull) -> None:
    records = copy.deepcopy(day.records)
    page = helpers.first_page(records, "posts")
    late = {
        **page["body"]["data"][0],
        "id": f"{day.account_id}_9",
        "created_time": "2026-11-21T00:00:00+0000",
    }
    page["body"]["data"].append(late)
    records.append(copy.deepcopy(page))  # the same page landed twice
    frames = normalize([replace(day, records=records)])

    assert frames.posts.height == len(page["body"]["data"]) - 1
    assert frames.posts["post_id"].is_unique().all()
    assert late["id"] not in frames.posts["post_id"].to_list()
    assert frames.quarantine.is_empty()

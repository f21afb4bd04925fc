"""X pages (as the real client lands them) -> normalized frames."""

from __future__ import annotations

import copy
from datetime import date, timedelta

import polars as pl

from social_pipeline.core.pulls import RawPull
from social_pipeline.core.window import CollectionWindow
from social_pipeline.normalize.x import normalize
from social_pipeline.sandbox.server import Sandbox
from social_pipeline.sandbox.x import playable_url
from social_pipeline_tests import helpers

WINDOW = CollectionWindow(date(2026, 11, 19))
EXPECTED_TYPES = {"text": "text", "photo": "image", "video": "video", "animated_gif": "video"}

pull = helpers.landed_day("x", WINDOW)


def landed_pull(sandbox: Sandbox, extra_ids: list[str] | None = None) -> RawPull:
    """A day's pull as the client lands it (plus an optional metrics refresh)."""
    more = (lambda client: client.fetch_metrics(extra_ids)) if extra_ids else None
    return helpers.land_pull(sandbox, "x", WINDOW, more=more)


def test_posts_equal_what_the_platform_reported_and_nothing_is_quarantined(
    sandbox: Sandbox, pull: RawPull
) -> None:
    frames = normalize([pull])

    assert frames.quarantine.is_empty()
    for row, post in helpers.post_rows(sandbox, pull, frames.posts):  # ids and times: the world's
        assert row["text"] == post.text  # emoji, accents and CJK kept as written
        assert row["content_type"] == EXPECTED_TYPES[post.content_type]
        assert row["media_urls"] == ([] if post.content_type == "text" else [playable_url(post)])
        assert row["thumbnail_url"] == (None if post.content_type == "text" else post.media_url)
        assert row["permalink"] == f"https://x.com/sandbox_x_1/status/{post.post_id}"
    assert {"image", "video"} <= set(frames.posts["content_type"])


def test_missing_optional_fields_become_null(pull: RawPull) -> None:
    tweet = helpers.first_page(pull, "posts")["body"]["data"][0]
    del tweet["public_metrics"]["impression_count"], tweet["text"]
    tweet.pop("attachments", None)

    frames = normalize([pull])

    post = frames.posts.filter(pl.col("post_id") == tweet["id"]).row(0, named=True)
    assert post["text"] is None and post["content_type"] == "text" and post["media_urls"] == []
    row = frames.engagement.filter(pl.col("post_id") == tweet["id"]).row(0, named=True)
    assert row["views"] is None and row["impressions"] is None
    assert row["likes"] == tweet["public_metrics"]["like_count"]


def test_permalink_falls_back_to_the_web_status_url_without_a_profile(pull: RawPull) -> None:
    pull.records = [r for r in pull.records if r["kind"] != "profile"]

    frames = normalize([pull])

    assert frames.followers.is_empty()
    assert all(
        link == f"https://x.com/i/web/status/{pid}"
        for pid, link in frames.posts.select("post_id", "permalink").rows()
    )


def test_refreshed_metrics_replace_the_listing_and_stay_inside_the_window(sandbox: Sandbox) -> None:
    account_id = sandbox.world.accounts("x")[0].account_id
    inside = helpers.first_page(landed_pull(sandbox), "posts")["body"]["data"][0]["id"]
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


def test_bad_records_are_quarantined_with_a_reason_and_the_rest_kept(pull: RawPull) -> None:
    good = helpers.first_page(pull, "posts")["body"]["data"]
    no_id, bad_time, bad_metric = (copy.deepcopy(good[0]) for _ in range(3))
    del no_id["id"]
    bad_time["id"], bad_time["created_at"] = "1", "yesterday"
    bad_metric["id"], bad_metric["public_metrics"]["like_count"] = "2", "lots"
    good.extend([no_id, bad_time, bad_metric])
    pull.records.append(
        helpers.unreadable_page("posts", "GET /2/users/{id}/tweets", "x: response is not JSON")
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


def test_a_video_plays_its_highest_bit_rate_mp4_or_without_variants_shows_its_preview(
    pull: RawPull,
) -> None:
    media = helpers.first_page(pull, "posts")["body"]["includes"]["media"]
    video, bare = [m for m in media if m["type"] == "video"][:2]
    assert "url" not in video and any("bit_rate" not in v for v in video["variants"])
    video["variants"] = [
        {"content_type": "application/x-mpegURL", "url": "https://v.test/pl.m3u8"},
        {"bit_rate": 320000, "content_type": "video/mp4", "url": "https://v.test/low.mp4"},
        {"bit_rate": 2176000, "content_type": "video/mp4", "url": "https://v.test/high.mp4"},
        {"bit_rate": 832000, "content_type": "video/mp4", "url": "https://v.test/mid.mp4"},
    ]
    del bare["variants"]  # a landing from before `variants` was requested

    posts = normalize([pull]).posts

    def urls(media: dict) -> list[str]:
        key = media["media_key"]
        tweets = helpers.first_page(pull, "posts")["body"]["data"]
        tweet = next(t for t in tweets if key in t.get("attachments", {}).get("media_keys", []))
        return posts.filter(pl.col("post_id") == tweet["id"])["media_urls"].item().to_list()

    assert urls(video) == ["https://v.test/high.mp4"]
    assert urls(bare) == [bare["preview_image_url"]]

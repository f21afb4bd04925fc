"""The LinkedIn normalizer, fed with pages the real client fetched from the emulator."""

from __future__ import annotations

import copy
from datetime import date

import polars as pl

from social_pipeline.core.pulls import RawPull
from social_pipeline.core.window import CollectionWindow
from social_pipeline.normalize.linkedin import normalize
from social_pipeline.sandbox.server import Sandbox
from social_pipeline_tests import helpers

WINDOW = CollectionWindow(date(2026, 11, 20))
OUR_TYPE = {
    "text": "text",
    "image": "image",
    "video": "video",
    "article": "link",
    "multi_image": "carousel",
}

pull = helpers.landed_day("linkedin", WINDOW)


def test_posts_are_the_worlds_posts_in_the_window_with_text_type_and_permalink(
    sandbox: Sandbox, pull: RawPull
) -> None:
    posts = normalize([pull]).posts

    for row, post in helpers.post_rows(sandbox, pull, posts):  # ids and times are the world's
        assert row["text"] == post.text  # accents, CJK and emoji survive
        assert row["content_type"] == OUR_TYPE[post.content_type]
        assert row["permalink"] == f"https://www.linkedin.com/feed/update/{post.post_id}"
    assert set(posts["content_type"]) >= {"text", "image", "link", "carousel"}
    carousel = posts.filter(pl.col("content_type") == "carousel").row(0, named=True)
    # Image URNs are resolved to the Images API's download URLs.
    assert len(carousel["media_urls"]) >= 2 and all(
        u.startswith("https://media.licdn.") for u in carousel["media_urls"]
    )
    link = posts.filter(pl.col("content_type") == "link").row(0, named=True)
    assert link["media_urls"][0].startswith("https://") and link["thumbnail_url"].startswith(
        "https://media.licdn."
    )


def test_missing_optional_fields_are_null_and_little_text_escapes_are_removed(
    pull: RawPull,
) -> None:
    page = helpers.first_page(pull, "posts")
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
    elements = helpers.first_page(pull, "posts")["body"]["elements"]
    no_id, bad_time = copy.deepcopy(elements[0]), elements[1]
    del no_id["id"]
    bad_time["createdAt"] = bad_time["publishedAt"] = "yesterday"
    elements.append(no_id)
    bad_metric = helpers.first_page(pull, "metrics")["body"]["elements"][2]
    bad_metric["totalShareStatistics"]["likeCount"] = "many"

    frames = normalize([pull])

    assert helpers.quarantine_reasons(frames.quarantine) == {
        "posts": ["createdAt is not epoch milliseconds", "post has no id"],
        "metrics": ["likeCount is not a number"],
    }
    kept = set(helpers.pulled_posts(sandbox, pull)) - {bad_time["id"]}
    assert set(frames.posts["post_id"]) == kept
    assert set(frames.engagement["post_id"]) == kept - {bad_metric["share"]}

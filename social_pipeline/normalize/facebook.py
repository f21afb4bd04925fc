"""Facebook Page posts, their engagement fields and Page follows -> the normalized schema.

Engagement comes from the posts listing (fields on each post) and, when a pull has them,
from `?ids=` refresh pages; the later reading of a post wins. Views, reach and clicks
come from the insights each listed post carries (`insights.metric(...)`, names from
`core.metric_catalog`); where Graph refused them they stay NULL and the client noted
why. Facebook reports no saves or impressions (impressions became views in 2025).
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from social_pipeline.core import metric_catalog, schema
from social_pipeline.core.platforms import GRAPH_TIME
from social_pipeline.core.pulls import RawPull
from social_pipeline.normalize import common, gaps, graph_insights
from social_pipeline.normalize.items import TEXT, ItemsOf, each, items_frame, jfield, obj

# Graph attachment `media_type` -> our content type. A post without attachments is text;
# an attachment kind not listed here (fundraiser, map...) points elsewhere: link.
CONTENT_TYPE_MAP: dict[str, str] = {
    "photo": "image",
    "album": "carousel",
    "video": "video",
    "link": "link",
    "share": "link",
    "event": "link",
    "note": "text",
    "status": "text",
}
NO_ATTACHMENT = "text"
OTHER_ATTACHMENT = "link"

FIELD_MAP: list[tuple[str, str]] = [
    ("id", "post_id"),
    ("created_time", "created_at"),
    ("message", "text"),
    ("permalink_url", "permalink"),
    ("attachments.data[0].media_type", "content_type"),
    (
        "attachments.data[0]: subattachments.data[].media.image.src, else media.source, else media.image.src",
        "media_urls",
    ),
    ("full_picture", "thumbnail_url"),
    ("reactions.summary.total_count (all reaction kinds)", "likes"),
    ("comments.summary.total_count", "comments"),
    ("shares.count (absent when 0: read as 0 if `shares` was requested)", "shares"),
    *metric_catalog.field_map("facebook"),
    ("followers_count (fan_count when absent)", "followers"),
    ("username", "handle"),
    ("name", "display_name"),
    ("link, else https://www.facebook.com/{username, else id}", "profile_url"),
]

KEY = ["snapshot_date", "platform", "account_id", "post_id"]
_ATTACHMENT = "attachments.data[0]"

# The fields read, as Graph nests them; the listing and `?ids=` refreshes share the shape.
_MEDIA = obj(source=TEXT, image=obj(src=TEXT))
POST = obj(
    id=TEXT,
    created_time=TEXT,
    message=TEXT,
    permalink_url=TEXT,
    full_picture=TEXT,
    reactions=obj(summary=obj(total_count=TEXT)),
    comments=obj(summary=obj(total_count=TEXT)),
    shares=obj(count=TEXT),  # whether it is there at all is read apart, as text
    attachments=obj(
        data=pl.List(
            obj(media_type=TEXT, media=_MEDIA, subattachments=obj(data=pl.List(obj(media=_MEDIA))))
        )
    ),
)
PAGE = obj(id=TEXT, followers_count=TEXT, fan_count=TEXT, name=TEXT, username=TEXT, link=TEXT)


def _data(body: Any) -> Any:
    return body["data"]


def _by_id(body: Any) -> Any:
    return list(body.values())  # `?ids=` answers {id: post, ...}


def _whole(body: Any) -> Any:
    return body


ITEMS_OF: dict[str, ItemsOf] = {"posts": _data, "metrics": _by_id, "profile": _whole}


def _asks_shares(record: dict[str, Any]) -> bool:
    fields = ((record.get("request") or {}).get("params") or {}).get("fields", "")
    return "shares" in re.split(r"[^a-z_]+", str(fields))


def _items(pulls: list[RawPull], kind: str) -> pl.DataFrame:
    """Items of `kind` pages, flagged by whether their request asked for `shares`.

    Graph leaves `shares` out when a post has none, so absence means 0 only where it was
    asked for; otherwise the count is unknown (NULL).
    """
    frames = []
    for asked in (True, False):
        subset = [p.keeping(lambda r, asked=asked: _asks_shares(r) is asked) for p in pulls]
        frames.append(
            items_frame(
                subset, kind, ITEMS_OF[kind], POST, as_text={"shares_obj": "shares"}
            ).with_columns(shares_asked=pl.lit(asked))
        )
    return (
        pl.concat(frames)
        .with_columns(
            post_id=jfield("id"),
            created_raw=jfield("created_time"),
            likes_raw=jfield("reactions.summary.total_count"),
            comments_raw=jfield("comments.summary.total_count"),
            shares_raw=jfield("shares.count"),
        )
        .with_columns(created_at=common.as_utc(pl.col("created_raw"), GRAPH_TIME))
    )


def _metric_problems() -> dict[str, pl.Expr]:
    return {
        "item has no id": pl.col("post_id").is_null(),
        "reactions.summary.total_count is not an integer": common.bad_int(pl.col("likes_raw")),
        "comments.summary.total_count is not an integer": common.bad_int(pl.col("comments_raw")),
        "shares.count is not an integer": common.bad_int(pl.col("shares_raw")),
    }


def _posts(good: pl.DataFrame) -> pl.DataFrame:
    attachment = jfield(f"{_ATTACHMENT}.media_type")
    album = each(f"{_ATTACHMENT}.subattachments.data", "media.image.src")
    single = pl.coalesce(
        jfield(f"{_ATTACHMENT}.media.source"), jfield(f"{_ATTACHMENT}.media.image.src")
    )
    frame = good.with_columns(
        content_type=pl.when(attachment.is_null())
        .then(pl.lit(NO_ATTACHMENT))
        .otherwise(
            attachment.replace_strict(
                CONTENT_TYPE_MAP, default=OTHER_ATTACHMENT, return_dtype=pl.String
            )
        ),
        text=jfield("message"),
        permalink=jfield("permalink_url"),
        media_urls=pl.when(album.list.len() > 0)
        .then(album)
        .otherwise(pl.concat_list(single).list.drop_nulls()),
        thumbnail_url=jfield("full_picture"),
    )
    return schema.conform(frame.sort("created_at", descending=True), schema.POSTS)


# Our column -> the post insight metrics that feed it.
INSIGHT_COLUMNS: dict[str, list[str]] = metric_catalog.columns("facebook")


def _listed_insights(body: Any) -> list[Any]:
    return graph_insights.carried(body["data"])


def _refreshed_insights(body: Any) -> list[Any]:
    return graph_insights.carried(list(body.values()))


def _engagement(
    in_window: pl.DataFrame, refreshed: pl.DataFrame, insights: pl.DataFrame
) -> pl.DataFrame:
    columns = [
        *KEY,
        "fetched_at",
        "shares_asked",
        "likes_raw",
        "comments_raw",
        "shares_raw",
        "shares_obj",
        "collected_at",
    ]
    readings = common.latest(pl.concat([in_window.select(columns), refreshed.select(columns)]), KEY)
    frame = readings.join(in_window.select(KEY).unique(), on=KEY, how="semi").with_columns(
        likes=common.as_int(pl.col("likes_raw")),
        comments=common.as_int(pl.col("comments_raw")),
        # Graph omits `shares` when a post has none; but a post answered without its other
        # engagement summaries too lacks the fields asked for: unknown, not zero.
        shares=pl.when(
            pl.col("shares_obj").is_null()
            & pl.col("shares_asked")
            & (pl.col("likes_raw").is_not_null() | pl.col("comments_raw").is_not_null())
        )
        .then(pl.lit(0, dtype=pl.Int64))
        .otherwise(common.as_int(pl.col("shares_raw"))),
    )
    return schema.conform(frame.join(insights, on=KEY, how="left"), schema.ENGAGEMENT)


def _followers(pulls: list[RawPull]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Follower rows, quarantined profiles, and a gap where neither count came back."""
    frame = items_frame(pulls, "profile", _whole, PAGE).with_columns(
        fc=jfield("followers_count"), fan=jfield("fan_count")
    )
    good, bad = common.split_quarantine(
        frame,
        {
            "followers_count is not an integer": common.bad_int(pl.col("fc")),
            "fan_count is not an integer": common.bad_int(pl.col("fan")),
        },
        "profile",
    )
    good = common.latest(good, ["snapshot_date", "platform", "account_id"]).with_columns(
        followers=pl.coalesce(common.as_int(pl.col("fc")), common.as_int(pl.col("fan"))),
        handle=jfield("username"),
        display_name=jfield("name"),
        profile_url=pl.coalesce(
            jfield("link"),
            pl.format("https://www.facebook.com/{}", pl.coalesce(jfield("username"), jfield("id"))),
        ),
    )
    # fan_count stands in for an absent followers_count: only both absent is a gap.
    missing = gaps.missing_fields(
        good, {"followers_count": "fc"}, per_post=False, when=pl.col("fan").is_null()
    )
    return schema.conform(good, schema.FOLLOWERS), bad, missing


def normalize(pulls: list[RawPull]) -> common.PlatformFrames:
    """Posts, engagement, followers and quarantine for one day's Facebook pulls."""
    listing = _items(pulls, "posts")
    post_problems = {
        "item has no id": pl.col("post_id").is_null(),
        "item has no created_time": pl.col("created_raw").is_null(),
        "created_time is not a Graph timestamp": pl.col("created_at").is_null(),
        **_metric_problems(),
    }
    good_posts, bad_posts = common.split_quarantine(listing, post_problems, "posts")
    refreshed, bad_metrics = common.split_quarantine(
        _items(pulls, "metrics"), _metric_problems(), "metrics"
    )
    in_window = common.latest(good_posts, KEY, where=common.IN_WINDOW)
    followers, bad_profiles, profile_gaps = _followers(pulls)
    insights, bad_insights = graph_insights.wide_insights(
        pulls, (("posts", _listed_insights), ("metrics", _refreshed_insights)), INSIGHT_COLUMNS
    )
    unreadable = common.unreadable_pages(pulls, ITEMS_OF)
    return common.PlatformFrames(
        posts=_posts(in_window),
        engagement=_engagement(in_window, refreshed, insights),
        followers=followers,
        quarantine=common.quarantined(
            [unreadable, bad_posts, bad_metrics, bad_insights, bad_profiles]
        ),
        gaps=profile_gaps,
    )

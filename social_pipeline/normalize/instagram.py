"""Instagram media, inline counts, media insights and IG user counts -> the normalized schema.

Likes and comments come inline from `/media`; insight metrics (`core.metric_catalog`:
reach, saves, shares, views; `plays` read as views and `impressions` on versions before
v22.0) from the `insights` each listed media carries (field expansion), from `?ids=`
pages of media with their insights, or from one insights page per media (older pulls,
and the client's fallback); every shape is read. A media without a metric (refused, or
not fetched) keeps NULL for it, never 0, and the client noted why. Instagram reports no
clicks.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from social_pipeline.core import metric_catalog, schema
from social_pipeline.core.platforms import GRAPH_TIME
from social_pipeline.core.pulls import RawPull
from social_pipeline.normalize import common, gaps, graph_insights
from social_pipeline.normalize.items import TEXT, ItemsOf, each, items_frame, jfield, obj

# `media_product_type` decides first (a reel is a VIDEO in `media_type`), then
# `media_type`; a type Meta adds later is counted as an image, the one every post has.
CONTENT_TYPE_MAP: dict[str, str] = {
    "REELS": "reel",
    "STORY": "story",
    "IMAGE": "image",
    "VIDEO": "video",
    "CAROUSEL_ALBUM": "carousel",
}
OTHER_MEDIA = "image"

# Our column -> the insight metrics that feed it, the preferred first (`views`, then the
# `plays` older versions answer).
INSIGHT_COLUMNS: dict[str, list[str]] = metric_catalog.columns("instagram")

FIELD_MAP: list[tuple[str, str]] = [
    ("id", "post_id"),
    ("timestamp", "created_at"),
    ("caption", "text"),
    ("permalink", "permalink"),
    ("media_product_type, then media_type", "content_type"),
    ("children.data[].media_url, else media_url", "media_urls"),
    ("thumbnail_url (videos), else media_url (images, albums)", "thumbnail_url"),
    ("like_count", "likes"),
    ("comments_count", "comments"),
    *metric_catalog.field_map("instagram"),
    ("followers_count", "followers"),
    ("follows_count", "following"),
    ("media_count", "posts_count"),
    ("username", "handle"),
    ("name", "display_name"),
    ("built: https://www.instagram.com/{username}/", "profile_url"),
]

KEY = ["snapshot_date", "platform", "account_id", "post_id"]

# The fields read, as Graph nests them.
MEDIA = obj(
    id=TEXT,
    timestamp=TEXT,
    caption=TEXT,
    permalink=TEXT,
    media_type=TEXT,
    media_product_type=TEXT,
    media_url=TEXT,
    thumbnail_url=TEXT,
    like_count=TEXT,
    comments_count=TEXT,
    children=obj(data=pl.List(obj(media_url=TEXT))),
)
INSIGHT = obj(id=TEXT, name=TEXT, values=pl.List(obj(value=TEXT)))
USER = obj(followers_count=TEXT, follows_count=TEXT, media_count=TEXT, username=TEXT, name=TEXT)


def _data(body: Any) -> Any:
    return body["data"]


def _whole(body: Any) -> Any:
    return body


def _inline_insights(body: Any) -> list[Any]:
    """The insight entries media carry inside a `/media` page (`insights.data`)."""
    return graph_insights.carried(body["data"])


def _metric_entries(body: Any) -> list[Any]:
    """Insight entries of a metrics page: `/{media-id}/insights` answers `{"data": [...]}`,
    `?ids=` answers `{media-id: {"id", "insights": {"data": [...]}}}`."""
    if "data" in body:
        return body["data"]
    return graph_insights.carried(list(body.values()))


ITEMS_OF: dict[str, ItemsOf] = {"posts": _data, "metrics": _metric_entries, "profile": _whole}


def _refused(record: dict[str, Any]) -> bool:
    """An insights call Graph refused for good (a 4xx the client recorded and skipped).

    A refusal the client understood (a metric this media type lacks) carries notes: it is
    a gap (see `common.noted_gaps`), not a page to quarantine.
    """
    status = record.get("status") or 0
    return record.get("kind") == "metrics" and bool(record.get("error")) and 400 <= status < 500


def _noted(record: dict[str, Any]) -> bool:
    return _refused(record) and bool(record.get("notes"))


def _refused_insights(pulls: list[RawPull]) -> pl.DataFrame:
    rows = [
        {
            "snapshot_date": pull.partition_date,
            "platform": pull.platform,
            "account_id": pull.account_id,
            "kind": "metrics",
            "reason": f"insights refused: {record['error']}",
            "record": json.dumps(record, ensure_ascii=False, default=str),
            "source": str(pull.path),
            "collected_at": pull.collected_at,
        }
        for pull in pulls
        for record in pull.records
        if _refused(record) and not _noted(record)
    ]
    return schema.conform(pl.DataFrame(rows, schema=schema.QUARANTINE), schema.QUARANTINE)


def _media(pulls: list[RawPull]) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = items_frame(pulls, "posts", _data, MEDIA).with_columns(
        post_id=jfield("id"),
        created_raw=jfield("timestamp"),
        likes_raw=jfield("like_count"),
        comments_raw=jfield("comments_count"),
    )
    frame = frame.with_columns(created_at=common.as_utc(pl.col("created_raw"), GRAPH_TIME))
    good, bad = common.split_quarantine(
        frame,
        {
            "item has no id": pl.col("post_id").is_null(),
            "item has no timestamp": pl.col("created_raw").is_null(),
            "timestamp is not a Graph timestamp": pl.col("created_at").is_null(),
            "like_count is not an integer": common.bad_int(pl.col("likes_raw")),
            "comments_count is not an integer": common.bad_int(pl.col("comments_raw")),
        },
        "posts",
    )
    return common.latest(good, KEY, where=common.IN_WINDOW), bad


def _insights(pulls: list[RawPull]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per media with its insight values, from insights pages and from insights
    inside listed media; an entry's id is `{media-id}/insights/...`. The last read wins."""
    sources = (("metrics", _metric_entries), ("posts", _inline_insights))
    return graph_insights.wide_insights(pulls, sources, INSIGHT_COLUMNS)


def _posts(media: pl.DataFrame) -> pl.DataFrame:
    product = jfield("media_product_type").replace_strict(
        CONTENT_TYPE_MAP, default=None, return_dtype=pl.String
    )
    media_type = jfield("media_type")
    mapped = media_type.replace_strict(CONTENT_TYPE_MAP, default=None, return_dtype=pl.String)
    children = each("children.data", "media_url")
    media_url = jfield("media_url")
    frame = media.with_columns(
        content_type=pl.coalesce(product, mapped, pl.lit(OTHER_MEDIA)),
        text=jfield("caption"),
        permalink=jfield("permalink"),
        media_urls=pl.when(children.list.len() > 0)
        .then(children)
        .otherwise(pl.concat_list(media_url).list.drop_nulls()),
        # A video's media_url is the video file, not a picture.
        thumbnail_url=pl.coalesce(
            jfield("thumbnail_url"), pl.when(media_type != "VIDEO").then(media_url)
        ),
    )
    return schema.conform(frame.sort("created_at", descending=True), schema.POSTS)


def _engagement(media: pl.DataFrame, insights: pl.DataFrame) -> pl.DataFrame:
    frame = media.with_columns(
        likes=common.as_int(pl.col("likes_raw")), comments=common.as_int(pl.col("comments_raw"))
    ).join(insights, on=KEY, how="left")
    return schema.conform(frame, schema.ENGAGEMENT)


def _followers(pulls: list[RawPull]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Follower rows, quarantined profiles, and gaps for counts a profile lacks."""
    counts = {
        "followers": "followers_count",
        "following": "follows_count",
        "posts_count": "media_count",
    }
    frame = items_frame(pulls, "profile", _whole, USER).with_columns(
        **{column: jfield(field) for column, field in counts.items()}
    )
    good, bad = common.split_quarantine(
        frame,
        {f"{field} is not an integer": common.bad_int(pl.col(c)) for c, field in counts.items()},
        "profile",
    )
    good = common.latest(good, ["snapshot_date", "platform", "account_id"])
    missing = gaps.missing_fields(good, {f: c for c, f in counts.items()}, per_post=False)
    good = good.with_columns(
        handle=jfield("username"),
        display_name=jfield("name"),
        profile_url=pl.format("https://www.instagram.com/{}/", jfield("username")),
        **{column: common.as_int(pl.col(column)) for column in counts},
    )
    return schema.conform(good, schema.FOLLOWERS), bad, missing


def normalize(pulls: list[RawPull]) -> common.PlatformFrames:
    """Posts, engagement, followers and quarantine for one day's Instagram pulls."""
    media, bad_media = _media(pulls)
    insights, bad_insights = _insights(pulls)
    followers, bad_profiles, profile_gaps = _followers(pulls)
    readable = [p.keeping(lambda r: not _refused(r)) for p in pulls]
    unreadable = common.unreadable_pages(readable, ITEMS_OF)
    return common.PlatformFrames(
        posts=_posts(media),
        engagement=_engagement(media, insights),
        followers=followers,
        quarantine=common.quarantined(
            [unreadable, _refused_insights(pulls), bad_media, bad_insights, bad_profiles]
        ),
        gaps=profile_gaps,
    )

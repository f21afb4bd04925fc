"""The normalized schema: one shape per table, declared once and imported everywhere.

Column order here is the column order in the lake and the warehouse.
"""

from __future__ import annotations

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")

# One documented set for every platform (README, "Content types").
CONTENT_TYPES = ("text", "image", "video", "carousel", "link", "reel", "short", "story", "live")

POSTS: dict[str, pl.DataType] = {
    "snapshot_date": pl.Date(),
    "platform": pl.String(),
    "account_id": pl.String(),
    "post_id": pl.String(),
    "created_at": UTC_TS,
    "content_type": pl.String(),
    "text": pl.String(),
    "permalink": pl.String(),
    "media_urls": pl.List(pl.String()),
    "thumbnail_url": pl.String(),
    "collected_at": UTC_TS,
}

# Metric columns are integers; a metric the platform does not report is NULL, never 0.
METRICS = ("likes", "comments", "shares", "views", "saves", "impressions", "reach", "clicks")

ENGAGEMENT: dict[str, pl.DataType] = {
    "snapshot_date": pl.Date(),
    "platform": pl.String(),
    "account_id": pl.String(),
    "post_id": pl.String(),
    **{m: pl.Int64() for m in METRICS},
    "interactions": pl.Int64(),
    "engagement_rate": pl.Float64(),
    "engagement_rate_per_view": pl.Float64(),
    # The day these numbers were read: snapshot_date, except under age-tiered refresh,
    # where an older post not due for a read keeps its last numbers and their day.
    "read_on": pl.Date(),
    "collected_at": UTC_TS,
}

FOLLOWERS: dict[str, pl.DataType] = {
    "snapshot_date": pl.Date(),
    "platform": pl.String(),
    "account_id": pl.String(),
    "followers": pl.Int64(),
    "following": pl.Int64(),
    "posts_count": pl.Int64(),
    # Who the account is, where the profile response says (NULL where it does not): the
    # handle without "@", the display name, and the public profile URL.
    "handle": pl.String(),
    "display_name": pl.String(),
    "profile_url": pl.String(),
    "collected_at": UTC_TS,
}

QUARANTINE: dict[str, pl.DataType] = {
    "snapshot_date": pl.Date(),
    "platform": pl.String(),
    "account_id": pl.String(),
    "kind": pl.String(),  # posts | metrics | profile | page
    "reason": pl.String(),
    "record": pl.String(),  # the raw record, as JSON text
    "source": pl.String(),  # raw file it came from
    "collected_at": UTC_TS,
}

# What a day's collection could not give, kept so nothing vanishes silently:
# - unavailable_metric: the platform refused a metric for this media type or API version
#   (`field`), so it was dropped from the call and its column is NULL for the post;
# - post_unavailable: a post the platform stopped returning (deleted, made private,
#   missing from a batch look-up); `last_seen` is the last day it was returned;
# - missing_field: a response lacked a field that was asked for (`field`); the column it
#   feeds is NULL, and rates that need it are NULL too.
GAP_KINDS = ("unavailable_metric", "post_unavailable", "missing_field")

GAPS: dict[str, pl.DataType] = {
    "snapshot_date": pl.Date(),
    "platform": pl.String(),
    "account_id": pl.String(),
    "post_id": pl.String(),  # NULL for an account-level gap (a profile field)
    "kind": pl.String(),
    "field": pl.String(),  # the metric or field; NULL for post_unavailable
    "media_type": pl.String(),  # the platform's media type, where the gap depends on it
    "api_version": pl.String(),
    "detail": pl.String(),  # why, in the platform's words where it gave any
    "last_seen": pl.Date(),  # post_unavailable: the last day the post was returned
    "collected_at": UTC_TS,
}


def empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """`frame` with exactly the schema's columns, in its order and types (missing -> NULL)."""
    return frame.select(
        [
            (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in schema.items()
        ]
    )

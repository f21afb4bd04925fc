"""Raw pages of one day, all platforms -> the normalized frames, with rates computed once."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from social_pipeline import raw
from social_pipeline.normalize import schema
from social_pipeline.normalize.common import PlatformFrames
from social_pipeline.platforms import PLATFORMS


@dataclass
class DayFrames:
    posts: pl.DataFrame
    engagement: pl.DataFrame
    followers: pl.DataFrame
    quarantine: pl.DataFrame


def normalize_platform(platform: str, pulls: list[raw.RawPull]) -> PlatformFrames:
    module = importlib.import_module(f"social_pipeline.normalize.{platform}")
    return module.normalize(pulls)


def normalize_day(data_dir: Path, day: date, platforms: Sequence[str] = PLATFORMS) -> DayFrames:
    """Read every platform's landed pulls of `day` and return one schema for all six."""
    parts = [normalize_platform(p, raw.read_pulls(data_dir, p, day)) for p in platforms]
    followers = _concat([f.followers for f in parts], schema.FOLLOWERS)
    followers = followers.unique(["platform", "account_id"], keep="last", maintain_order=True)
    posts = _concat([f.posts for f in parts], schema.POSTS)
    posts = posts.unique(["platform", "post_id"], keep="last", maintain_order=True)
    engagement = _concat([f.engagement for f in parts], schema.ENGAGEMENT)
    engagement = engagement.unique(["platform", "post_id"], keep="last", maintain_order=True)
    return DayFrames(
        posts=posts.sort("platform", "account_id", "created_at", "post_id"),
        engagement=with_rates(engagement, followers).sort("platform", "account_id", "post_id"),
        followers=followers.sort("platform", "account_id"),
        quarantine=_concat([f.quarantine for f in parts], schema.QUARANTINE),
    )


def with_rates(engagement: pl.DataFrame, followers: pl.DataFrame) -> pl.DataFrame:
    """Fill `interactions`, `engagement_rate` and `engagement_rate_per_view`.

    The one definition (README, "Engagement rate"): interactions = likes + comments +
    shares + saves, counting only what the platform reports (NULL when it reports none of
    them); engagement_rate = interactions / followers of the account that day;
    engagement_rate_per_view = interactions / views. A zero or unknown denominator gives
    NULL, not 0 or infinity.
    """
    parts = ["likes", "comments", "shares", "saves"]
    interactions = (
        pl.when(pl.any_horizontal([pl.col(c).is_not_null() for c in parts]))
        .then(pl.sum_horizontal([pl.col(c).fill_null(0) for c in parts]))
        .otherwise(None)
    )
    per = followers.select(
        "snapshot_date", "platform", "account_id", pl.col("followers").alias("_followers")
    )
    joined = engagement.drop("interactions").with_columns(interactions.alias("interactions"))
    joined = joined.join(per, on=["snapshot_date", "platform", "account_id"], how="left")
    rate = lambda denominator: (  # noqa: E731
        pl.when(pl.col(denominator) > 0)
        .then(pl.col("interactions") / pl.col(denominator))
        .otherwise(None)
    )
    return schema.conform(
        joined.with_columns(
            rate("_followers").alias("engagement_rate"),
            rate("views").alias("engagement_rate_per_view"),
        ),
        schema.ENGAGEMENT,
    )


def _concat(frames: list[pl.DataFrame], table: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.concat([schema.conform(f, table) for f in frames]) if frames else schema.empty(table)

"""Engagement rates, defined once (README, "Engagement rate") for every platform."""

from __future__ import annotations

import polars as pl

from social_pipeline.core import schema


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
    keys = ["snapshot_date", "platform", "account_id"]
    # Only the follower column is looked up and set beside the rows: joining the whole
    # frame would copy a million rows to add one number. A key with several follower rows
    # (not the day's deduped followers) still goes through the full join.
    looked_up = joined.select(keys).join(per, on=keys, how="left", maintain_order="left")
    if looked_up.height == joined.height:
        joined = joined.with_columns(looked_up["_followers"])
    else:
        joined = joined.join(per, on=keys, how="left")
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

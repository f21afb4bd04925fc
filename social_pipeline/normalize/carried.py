"""Age-tiered refresh, normalizing side: older posts not read today keep their last numbers.

Under a tier, a pull lists only its fresh days and looks older posts up when they are
due. An older post of the window that was not read today still gets its row for the day,
so every post has one row per collection day as without tiers; the row carries the last
numbers read and says when (`read_on`), so nobody mistakes them for today's.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from social_pipeline.core import schema
from social_pipeline.core.pulls import RawPull
from social_pipeline.normalize.common import listings


def carried_forward(
    pulls: Sequence[RawPull],
    today: pl.DataFrame,
    earlier_posts: pl.DataFrame,
    earlier_engagement: pl.DataFrame,
    gone: pl.DataFrame,
) -> pl.DataFrame:
    """Engagement rows (schema.ENGAGEMENT) for older posts that tiered pulls did not read.

    Only complete pulls that listed less than their window carry; a post created before
    the listing's start, inside the window, not read today and not found gone today
    (`gone`: post_unavailable gap rows) carries its latest earlier row, `read_on` kept.
    """
    tiered = (
        listings([p for p in pulls if p.tiered])
        .select("platform", "account_id", "window_start", "listing_start", "snapshot_date")
        .rename({"snapshot_date": "day"})
    )
    if tiered.is_empty() or earlier_engagement.is_empty():
        return schema.empty(schema.ENGAGEMENT)
    older = (
        earlier_posts.join(tiered, on=["platform", "account_id"])
        .filter(pl.col("created_at").is_between("window_start", "listing_start", closed="left"))
        .select("platform", "post_id", "day")
        .unique(["platform", "post_id"])
        .join(today.select("platform", "post_id"), on=["platform", "post_id"], how="anti")
        .join(gone.select("platform", "post_id"), on=["platform", "post_id"], how="anti")
    )
    latest = (
        earlier_engagement.with_columns(pl.coalesce("read_on", "snapshot_date").alias("read_on"))
        .sort("snapshot_date", "collected_at", nulls_last=False)
        .unique(["platform", "post_id"], keep="last")
    )
    carried = latest.join(older, on=["platform", "post_id"]).with_columns(
        pl.col("day").alias("snapshot_date")
    )
    return schema.conform(carried, schema.ENGAGEMENT)

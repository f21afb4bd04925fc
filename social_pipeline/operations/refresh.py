"""Age-tiered refresh: which older posts of the window each account's pull reads today.

Posts younger than a tier's `fresh_days` come from the listing every run. Older posts of
the window are looked up by id only when their last read (`read_on` in the lake) is
`older_every_days` or more days before the day collected, or they were never read.
Reading the lake, not the platform, makes the plan cost no calls.

The listing must still reach every post nobody has seen: it goes back to the end of the
account's last successful collection day when that is older than the fresh days, and
covers the whole window for an account never collected inside it.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from social_pipeline.core.settings import Account, Settings
from social_pipeline.core.window import CollectionWindow, RefreshPlan
from social_pipeline.storage import lake


def plan_refresh(
    settings: Settings, platform: str, day: date, accounts: list[Account]
) -> dict[str, RefreshPlan]:
    """Plans for the accounts of `day` that can use one; none without a configured tier.

    An account missing from the result reads its whole window, as without tiers.
    """
    tier = settings.refresh_tiers.get(platform)
    if tier is None or not accounts:
        return {}
    data_dir = settings.data_root
    window = CollectionWindow(day, settings.window_days)
    wanted = [a.account_id for a in accounts]
    days = [d for d in lake.partition_days(data_dir, "posts") if window.start.date() <= d < day]
    succeeded = (
        lake.read_table(data_dir, "collection_jobs", days)
        .filter(
            (pl.col("platform") == platform)
            & pl.col("account_id").is_in(wanted)
            & (pl.col("status") == "success")
        )
        .group_by("account_id")
        .agg(pl.col("partition_date").max().alias("last_success"))
    )
    # Listed back to the end of the last successful day, at least the fresh days.
    listed_days = {
        account_id: max(tier.fresh_days, (day - last).days)
        for account_id, last in succeeded.iter_rows()
    }
    listed_days = {a: n for a, n in listed_days.items() if n < window.days}
    if not listed_days:
        return {}
    posts = (
        lake.read_table(data_dir, "posts", days)
        .filter(
            (pl.col("platform") == platform)
            & pl.col("account_id").is_in(list(listed_days))
            & (pl.col("created_at") >= window.start)
        )
        .select("account_id", "post_id", "created_at")
        .unique(["account_id", "post_id"])
    )
    reads = (
        lake.read_table(data_dir, "engagement_snapshots", days)
        .filter(pl.col("platform") == platform)
        .group_by("post_id")
        .agg(pl.coalesce("read_on", "snapshot_date").max().alias("read_on"))
    )
    due = (
        posts.join(reads, on="post_id", how="left")
        .filter(
            pl.col("read_on").is_null()
            | ((pl.lit(day) - pl.col("read_on")).dt.total_days() >= tier.older_every_days)
        )
        .sort("account_id", "created_at", "post_id", descending=[False, True, False])
    )
    older: dict[str, list[str]] = {}
    for account_id, post_id, created_at in due.select(
        "account_id", "post_id", "created_at"
    ).iter_rows():
        # Posts the listing reaches are read from it; only older ones are looked up.
        if created_at < CollectionWindow(day, listed_days[account_id]).start:
            older.setdefault(account_id, []).append(post_id)
    return {a: RefreshPlan(n, tuple(older.get(a, ()))) for a, n in listed_days.items()}

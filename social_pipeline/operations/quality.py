"""Data-quality rules behind the asset checks, as plain functions over frames."""

from __future__ import annotations

from datetime import date

import polars as pl

from social_pipeline.core.settings import Settings
from social_pipeline.storage.raw import latest_jobs

DROP_THRESHOLD = 0.5  # a day-over-day follower drop above this fraction is suspicious


def duplicate_posts(posts: pl.DataFrame) -> pl.DataFrame:
    """(platform, post_id) pairs that occur more than once, with their counts."""
    return posts.group_by("platform", "post_id").len().filter(pl.col("len") > 1)


def negative_followers(followers: pl.DataFrame) -> pl.DataFrame:
    counts = ["followers", "following", "posts_count"]
    return followers.filter(pl.any_horizontal([pl.col(c) < 0 for c in counts]))


def follower_drops(
    today: pl.DataFrame, previous: pl.DataFrame, threshold: float = DROP_THRESHOLD
) -> pl.DataFrame:
    """Accounts whose followers fell by more than `threshold` since the previous snapshot."""
    before = previous.select(
        "platform", "account_id", pl.col("followers").alias("followers_before")
    )
    joined = today.select("platform", "account_id", "followers").join(
        before, on=["platform", "account_id"]
    )
    return joined.filter(
        (pl.col("followers_before") > 0)
        & (pl.col("followers") < pl.col("followers_before") * (1 - threshold))
    )


def uncollected_accounts(settings: Settings, platform: str, day: date) -> list[str]:
    """Accounts of the platform whose latest attempt for `day` is missing or failed."""
    latest = latest_jobs(settings.data_root, platform, day)
    return [
        a.account_id
        for a in settings.accounts_for(platform)
        if a.account_id not in latest or latest[a.account_id][0]["status"] != "success"
    ]

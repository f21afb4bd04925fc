"""Small text charts for the Dagster UI, where a glance beats a table."""

from __future__ import annotations

import polars as pl

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int]) -> str:
    """`values` as bars scaled between their own minimum and maximum."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = high - low or 1
    return "".join(BARS[int((v - low) / span * (len(BARS) - 1))] for v in values)


def follower_growth_markdown(history: pl.DataFrame, limit: int = 30) -> str:
    """One row per account: a sparkline of daily followers, first and last value, change."""
    if history.is_empty():
        return "no follower history yet"
    per_account = (
        history.drop_nulls("followers")
        .sort("snapshot_date")
        .group_by("platform", "account_id", maintain_order=True)
        .agg(pl.col("followers"), pl.col("snapshot_date").min().alias("since"))
        .sort("platform", "account_id")
        .head(limit)
    )
    lines = [
        "| platform | account | since | followers | trend | change |",
        "|---|---|---|---|---|---|",
    ]
    for platform, account, followers, since in per_account.select(
        "platform", "account_id", "followers", "since"
    ).iter_rows():
        change = followers[-1] - followers[0]
        lines.append(
            f"| {platform} | {account} | {since} | {followers[-1]:,} | {sparkline(followers)} | {change:+,} |"
        )
    return "\n".join(lines)

"""Markdown tables and small text charts for the Dagster UI, where a glance beats a table."""

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


def markdown_rows(frame: pl.DataFrame, limit: int = 20) -> str:
    """The first `limit` rows as a Markdown table; "none" for no rows."""
    if frame.is_empty():
        return "none"
    head = frame.head(limit)
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in head.iter_rows()]
    return "\n".join(lines)


def counts_by_platform(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "no rows"
    return markdown_rows(frame.group_by("platform").len("rows").sort("platform"), limit=10)


def preview_markdown(frame: pl.DataFrame, rows: int = 5) -> str:
    """The first rows, lists joined and cells cut at 40 characters."""
    head = frame.head(rows).with_columns(pl.col(pl.List(pl.String)).list.join(" "))
    if head.is_empty():
        return "no rows"
    cells = head.select(
        pl.all()
        .cast(pl.String)
        .fill_null("None")
        .str.slice(0, 40)
        .str.replace_all("|", "/", literal=True)
    )
    return markdown_rows(cells, limit=rows)

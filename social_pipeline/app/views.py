"""What the CLI shows: the old HTTP routes' answers, read from the warehouse read-only."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from social_pipeline.storage.warehouse import query, warehouse_path

# Every listing takes the same filters: $account (one id), $platforms (comma-joined keys)
# and $since (a day: rows on or after it, by the column named in `SINCE`).
_FILTERS = """
        WHERE ($account IS NULL OR {a}account_id = $account)
          AND ($platforms IS NULL OR list_contains(string_split($platforms, ','), {a}platform))
          AND ($since IS NULL OR {since}::DATE >= $since)"""

QUERIES = {
    "posts": """
        SELECT p.platform, p.account_id, p.post_id, p.created_at, p.content_type,
               left(p.text, 60) AS text, m.likes, m.comments, m.shares, m.views, m.saves,
               round(m.engagement_rate, 5) AS engagement_rate, m.collected_at
        FROM social_posts p
        LEFT JOIN post_engagement_metrics m USING (platform, post_id)"""
    + _FILTERS.format(a="p.", since="p.created_at")
    + """
        ORDER BY p.created_at DESC, p.post_id""",
    "followers": """
        SELECT snapshot_date, platform, account_id, followers, following, posts_count, collected_at
        FROM follower_snapshots"""
    + _FILTERS.format(a="", since="snapshot_date")
    + """
        ORDER BY snapshot_date DESC, platform, account_id""",
    "jobs": """
        SELECT platform, account_id, partition_date, status, attempt, error, posts_collected,
               api_calls, started_at, finished_at, job_id
        FROM data_collection_jobs"""
    + _FILTERS.format(a="", since="started_at")
    + """
        ORDER BY started_at DESC, job_id""",
}
# What `--since` compares, per listing (said in `--help`).
# Between two columns: a space of padding each side and the box's blank separator.
_GAP = 3
SINCE = {"posts": "created_at", "followers": "snapshot_date", "jobs": "started_at"}


@dataclass(frozen=True)
class Listing:
    rows: pl.DataFrame
    total: int  # rows matching the filters, before the limit


def read(
    warehouse: Path,
    table: str,
    *,
    account: str | None = None,
    platforms: Sequence[str] = (),
    since: date | None = None,
    limit: int = 50,
) -> Listing:
    """Rows of one CLI listing and how many match in all; `limit` 0 means all."""
    path = warehouse_path(warehouse)
    if not path.exists():
        raise FileNotFoundError(
            f"no warehouse at {path}: run `social-pipeline collect` first "
            "(or set SOCIAL_PIPELINE_DATA_DIR or SOCIAL_PIPELINE_WAREHOUSE to where it lives)"
        )
    params = {
        "account": account,
        "platforms": ",".join(platforms) or None,
        "since": since,
    }
    sql = QUERIES[table]
    rows = query(warehouse, sql + (f"\nLIMIT {int(limit)}" if limit else ""), params)
    total = rows.height
    if limit and rows.height >= limit:
        total = int(query(warehouse, f"SELECT count(*) AS n FROM ({sql})", params)["n"][0])
    return Listing(rows, total)


def render_table(frame: pl.DataFrame, *, total: int | None = None, width: int = 120) -> str:
    """A terminal table that fits `width`, then "showing N of M".

    Wide columns give way first (their cells end in …); when even the narrowest layout is
    too wide, the rightmost columns are left out and named below the table.
    """
    # Timestamps to the minute, in UTC: seconds and time zones are what csv and json are for.
    frame = frame.with_columns(
        pl.col(c).dt.replace_time_zone(None) if getattr(t, "time_zone", None) else pl.col(c)
        for c, t in frame.schema.items()
        if isinstance(t, pl.Datetime)
    ).with_columns(pl.col(pl.Datetime).dt.strftime("%Y-%m-%d %H:%M"))
    cells = [[("" if v is None else str(v)) for v in row] for row in frame.iter_rows()]
    names = list(frame.columns)
    natural = [
        max([cell_len(name)] + [cell_len(row[i]) for row in cells]) for i, name in enumerate(names)
    ]
    # Ids are never cut (they are what one types next); other columns keep about a header.
    floors = [
        n if name.endswith("_id") else min(n, max(6, min(cell_len(name), 12)))
        for n, name in zip(natural, names, strict=True)
    ]
    shown, widths = len(names), None
    while shown and widths is None:
        widths = _fit(natural[:shown], floors[:shown], width - _GAP * (shown - 1))
        shown -= widths is None
    widths = widths or []
    console = Console(
        file=io.StringIO(), width=width, force_terminal=False, color_system=None, emoji=False
    )
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for name, size in zip(names, widths, strict=False):
        numeric = frame.schema[name].is_numeric()
        table.add_column(
            name,
            justify="right" if numeric else "left",
            no_wrap=True,
            overflow="ellipsis",
            width=size,
        )
    for row in cells:
        table.add_row(*row[: len(widths)])
    console.print(table)
    total = frame.height if total is None else total
    note = f"showing {frame.height} of {total} rows"
    if frame.height < total:
        note += " (--limit N for more, --limit 0 for all)"
    if len(widths) < len(names):
        note += f"; not shown for lack of width: {', '.join(names[len(widths) :])} (--format csv)"
    console.print(note)
    return console.file.getvalue()  # type: ignore[attr-defined]


def _fit(natural: list[int], floors: list[int], room: int) -> list[int] | None:
    """Column widths summing to at most `room`, narrowing the widest first; None if impossible."""
    if sum(floors) > room:
        return None
    widths = list(natural)
    excess = sum(widths) - room
    while excess > 0:
        i = max(range(len(widths)), key=lambda k: widths[k] - floors[k])
        widths[i] -= 1
        excess -= 1
    return widths

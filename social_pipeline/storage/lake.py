"""The Parquet lake: the system of record, one file per table and collection day.

    <data>/lake/<table>/date=<D>/part-0.parquet      zstd, the table's declared schema

A partition is written to a temporary name in its own folder and renamed over
`part-0.parquet`, so a reader (DuckDB, polars, Spark) sees the previous day whole or the
new day whole, never half of either. Re-running a day replaces that day, and only that
day; a day that now has no rows is written as an empty file with the schema, so stale
rows cannot survive a re-run.
"""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import polars as pl

from social_pipeline.core.schema import ENGAGEMENT, FOLLOWERS, GAPS, POSTS, QUARANTINE
from social_pipeline.storage.files import atomic_write_bytes
from social_pipeline.storage.lake_records import COLLECTION_JOBS, RATE_LIMITS

PART_NAME = "part-0.parquet"

# Table name -> declared schema. Column order here is the order in every file.
LAKE_TABLES: dict[str, dict[str, pl.DataType]] = {
    "posts": POSTS,
    "engagement_snapshots": ENGAGEMENT,
    "follower_snapshots": FOLLOWERS,
    "quarantine": QUARANTINE,
    "gaps": GAPS,
    "collection_jobs": COLLECTION_JOBS,
    "rate_limits": RATE_LIMITS,
}

# The column that must equal the partition's day, per table (rate limits have none:
# the caller files each window under the day of the run that observed it).
_DAY_COLUMNS = {
    "posts": "snapshot_date",
    "engagement_snapshots": "snapshot_date",
    "follower_snapshots": "snapshot_date",
    "quarantine": "snapshot_date",
    "gaps": "snapshot_date",
    "collection_jobs": "partition_date",
}


def table_schema(table: str) -> dict[str, pl.DataType]:
    try:
        return LAKE_TABLES[table]
    except KeyError:
        raise ValueError(
            f"unknown lake table {table!r}; expected one of {sorted(LAKE_TABLES)}"
        ) from None


def table_dir(data_dir: Path, table: str) -> Path:
    table_schema(table)  # refuse names that are not lake tables (they become paths)
    return data_dir / "lake" / table


def partition_path(data_dir: Path, table: str, day: date) -> Path:
    return table_dir(data_dir, table) / f"date={day.isoformat()}" / PART_NAME


def lake_glob(data_dir: Path, table: str) -> str:
    """Every partition file of `table`, as a glob DuckDB's read_parquet understands."""
    return str(table_dir(data_dir, table) / "date=*" / "*.parquet")


def _checked(table: str, day: date, frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` in the table's column order and types; wrong columns or days are errors."""
    schema = table_schema(table)
    missing = [c for c in schema if c not in frame.columns]
    extra = [c for c in frame.columns if c not in schema]
    if missing or extra:
        raise ValueError(
            f"lake table {table}: frame does not match the schema (missing {missing}, unexpected {extra})"
        )
    frame = frame.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])
    day_column = _DAY_COLUMNS.get(table)
    if day_column is not None:
        # A row filed under the wrong day would be deleted or duplicated by the next re-run.
        stray = frame.filter(pl.col(day_column).is_null() | (pl.col(day_column) != day))
        if stray.height:
            found = sorted({str(v) for v in stray[day_column].to_list()})
            raise ValueError(
                f"lake table {table}, partition {day}: {stray.height} rows have {day_column} {found}"
            )
    return frame


def write_partition(data_dir: Path, table: str, day: date, frame: pl.DataFrame) -> Path:
    """Replace the whole `day` of `table` with `frame` (empty frames clear the day)."""
    frame = _checked(table, day, frame)
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True)
    path = partition_path(data_dir, table, day)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def partition_days(data_dir: Path, table: str) -> list[date]:
    """The days of `table` that have a partition file, oldest first."""
    root = table_dir(data_dir, table)
    if not root.is_dir():
        return []
    days = []
    for folder in root.glob("date=*"):
        if (folder / PART_NAME).is_file():
            try:
                days.append(date.fromisoformat(folder.name.removeprefix("date=")))
            except ValueError:
                continue  # not ours; the glob of the warehouse ignores it too
    return sorted(days)


def read_table(data_dir: Path, table: str, days: list[date] | None = None) -> pl.DataFrame:
    """`table` from the lake in its declared schema, all days or only `days` (missing days are skipped)."""
    schema = table_schema(table)
    wanted = partition_days(data_dir, table)
    if days is not None:
        asked = set(days)
        wanted = [d for d in wanted if d in asked]
    paths = [partition_path(data_dir, table, d) for d in wanted]
    if not paths:
        return pl.DataFrame(schema=schema)
    # The declared schema, not the first file's, so a column added later reads as NULL
    # in older days instead of being dropped.
    return pl.scan_parquet(
        paths,
        schema=schema,
        hive_partitioning=False,  # the day is a column already; don't add `date`
        missing_columns="insert",
        extra_columns="ignore",
    ).collect()

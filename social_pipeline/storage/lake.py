"""The Parquet lake: the system of record, one object per table and collection day.

    <data>/lake/<table>/date=<D>/part-0.parquet      zstd, the table's declared schema
    <data>/lake/_posts_seen/date=<D>.parquet         an index derived from posts (posts_seen)

`<data>` is a folder or an s3:// prefix (`objects.store_at`). A partition is written
whole: to a temporary name renamed over `part-0.parquet` in a folder, in one PUT in
object storage. So a reader (DuckDB, polars, Spark) sees the previous day whole or the
new day whole, never half of either. Re-running a day replaces that day, and only that
day; a day that now has no rows is written as an empty file with the schema, so stale
rows cannot survive a re-run.

Why one object per partition is enough for several writers (issue 12): every write
replaces one whole object, and the writer of a day is the run of that day. Two runs of
different days (a backfill beside the daily run) write different objects, so neither can
lose the other's commit. Two runs of the same day each write that day whole, from the
same raw pages, and the last one wins, as a re-run does. Nothing reads-modifies-writes a
shared object, which is what a table format's commit protocol is for.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from social_pipeline.core.schema import ENGAGEMENT, FOLLOWERS, GAPS, POSTS, QUARANTINE
from social_pipeline.storage.lake_records import COLLECTION_JOBS, RATE_LIMITS
from social_pipeline.storage.objects import ObjectStore, local_version, store_at

PART_NAME = "part-0.parquet"

# A data root: a folder, an s3:// URL, or a store made from either.
DataRoot = Path | str | ObjectStore

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


def partition_key(table: str, day: date) -> str:
    table_schema(table)  # refuse names that are not lake tables (they become keys)
    return f"lake/{table}/date={day.isoformat()}/{PART_NAME}"


def partition_path(data_dir: Path, table: str, day: date) -> Path:
    return data_dir / partition_key(table, day)


def lake_glob(data_dir: Path, table: str) -> str:
    """Every partition file of a local `table`, as a glob DuckDB's read_parquet understands."""
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


def write_partition(data: DataRoot, table: str, day: date, frame: pl.DataFrame) -> Path | str:
    """Replace the whole `day` of `table` with `frame` (empty frames clear the day).

    Returns where it went: the file in a folder, the s3:// URL in object storage.
    """
    frame = _checked(table, day, frame)
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True)
    store = store_at(data)
    key = partition_key(table, day)
    store.put(key, buffer.getvalue())
    return where(store, key)


ARROW_LEVEL = pl.CompatLevel.newest()
# Row groups of a streamed day: bounded so writing one never buffers a whole platform.
ROW_GROUP_ROWS = 128 * 1024


class StagedParquet:
    """One object's Parquet file written a piece at a time: to `store.staging` (beside
    the object in a folder, a local temp file for object storage), made the object by
    `publish` (a rename or an upload), or dropped by `discard`. Only the piece being
    written is ever held."""

    def __init__(
        self,
        store: ObjectStore,
        key: str,
        schema: dict[str, pl.DataType],
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.store = store
        self.key = key
        self.staged = store.staging(key)
        arrow = pl.DataFrame(schema=schema).to_arrow(compat_level=ARROW_LEVEL).schema
        self.schema = arrow.with_metadata(metadata) if metadata else arrow
        try:
            self._writer = pq.ParquetWriter(
                self.staged, self.schema, compression="zstd", write_statistics=True
            )
        except BaseException:
            self.staged.unlink(missing_ok=True)
            raise

    def write(self, frame: pl.DataFrame) -> None:
        if frame.height:
            # Polars' own string layout, handed over as is: converting a million posts'
            # text to Arrow's classic strings would copy all of it.
            rows = frame.to_arrow(compat_level=ARROW_LEVEL)
            rows = rows.replace_schema_metadata(self.schema.metadata)
            self._writer.write_table(rows, row_group_size=ROW_GROUP_ROWS)

    def publish(self) -> str:
        """Make the file the object; returns its version."""
        self._writer.close()
        return self.store.upload(self.key, self.staged)

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()
        self.staged.unlink(missing_ok=True)


def where(store: ObjectStore, key: str) -> Path | str:
    """Where an object is, for people: the file in a folder, the s3:// URL otherwise."""
    return store.local_root / key if store.local_root else store.describe(key)


class DayWriter:
    """Rows appended to the day partitions of several tables, published only together at
    the end of `day_writer`'s block (see there)."""

    def __init__(self, store: ObjectStore, day: date, tables: Sequence[str]) -> None:
        self.store = store
        self.day = day
        self.paths: dict[str, Path | str] = {}  # where each table went, once published
        self.versions: dict[str, str] = {}  # and the version it got
        self._files: dict[str, StagedParquet] = {}
        try:
            for table in tables:
                key = partition_key(table, day)
                self._files[table] = StagedParquet(store, key, table_schema(table))
        except BaseException:
            self._discard()
            raise

    def append(self, table: str, frame: pl.DataFrame) -> None:
        """Add `frame`'s rows to `table`'s day: checked as `write_partition` checks them,
        written as row groups of their own, so only `frame` is ever held."""
        if table not in self._files:
            raise ValueError(f"lake table {table} is not one this day writer writes")
        self._files[table].write(_checked(table, self.day, frame))

    def _publish(self) -> None:
        for table, staged in self._files.items():
            self.versions[table] = staged.publish()
            self.paths[table] = where(self.store, staged.key)

    def _discard(self) -> None:
        for staged in self._files.values():
            staged.discard()


@contextlib.contextmanager
def day_writer(data: DataRoot, day: date, tables: Sequence[str]) -> Iterator[DayWriter]:
    """A writer that replaces the whole `day` of each of `tables`, fed a piece at a time.

    Each table's rows go to a temporary file as they come (a folder: beside the partition;
    object storage: a local temp file), so a day too big to hold whole is written in the
    memory of its largest piece. When the block ends, each file becomes the table's
    partition (rename or upload), with the same schema, checks and zstd as
    `write_partition`; a table given no rows is written empty, clearing the day. If the
    block raises, nothing is published and every table keeps its previous version.
    """
    writer = DayWriter(store_at(data), day, list(dict.fromkeys(tables)))
    try:
        yield writer
    except BaseException:
        writer._discard()
        raise
    try:
        writer._publish()
    finally:
        writer._discard()  # what an upload failure left staged (published files are gone)


@dataclass(frozen=True)
class Partition:
    day: date
    key: str
    version: str  # changes whenever the partition is re-written


def partitions(data: DataRoot, table: str) -> list[Partition]:
    """The partitions of `table`, oldest first, with their versions.

    A warehouse build calls this for every day of history on every run. In a folder it
    costs one listing of the table and one stat per day; in object storage, a listing.
    """
    table_schema(table)  # refuse names that are not lake tables (they become keys)
    store = store_at(data)
    found = []
    if store.local_root is not None:
        root = os.path.join(store.local_root, "lake", table)
        try:
            folders = [e.name for e in os.scandir(root)]
        except FileNotFoundError:
            folders = []
        for folder in folders:
            try:
                stat = os.stat(os.path.join(root, folder, PART_NAME))
            except (FileNotFoundError, NotADirectoryError):
                continue
            found.append((folder, local_version(stat)))
    else:
        prefix = f"lake/{table}/"
        for info in store.list(prefix):
            folder, _, name = info.key.removeprefix(prefix).partition("/")
            if name == PART_NAME:
                found.append((folder, info.version))
    parts = []
    for folder, version in found:
        try:
            day = date.fromisoformat(folder.removeprefix("date="))
        except ValueError:
            continue  # not ours; the warehouse ignores it too
        if folder.startswith("date="):
            parts.append(Partition(day, partition_key(table, day), version))
    return sorted(parts, key=lambda p: p.day)


def partition_days(data: DataRoot, table: str) -> list[date]:
    """The days of `table` that have a partition, oldest first."""
    return [p.day for p in partitions(data, table)]


def read_table(
    data: DataRoot,
    table: str,
    days: list[date] | None = None,
    query: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None,
) -> pl.DataFrame:
    """`table` from the lake in its declared schema, all days or only `days` (missing days
    are skipped); `query` narrows it before anything is read (columns, rows, an
    aggregate), so a month of an agency's posts is never held whole to keep a few columns.
    """
    schema = table_schema(table)
    store = store_at(data)
    # Named days are opened directly: listing a year of partitions per read would make
    # every day's store cost grow with the history.
    wanted = partition_days(store, table) if days is None else sorted(set(days))
    with contextlib.ExitStack() as stack:
        paths = []
        for day in wanted:
            try:
                paths.append(stack.enter_context(store.local_copy(partition_key(table, day))))
            except FileNotFoundError:
                continue  # a day without this table's partition: nothing to read
        if not paths:
            empty = pl.DataFrame(schema=schema)
            return query(empty.lazy()).collect() if query else empty
        # The declared schema, not the first file's, so a column added later reads as
        # NULL in older days instead of being dropped.
        scan = pl.scan_parquet(
            paths,
            schema=schema,
            hive_partitioning=False,  # the day is a column already; don't add `date`
            missing_columns="insert",
            extra_columns="ignore",
        )
        return (query(scan) if query else scan).collect(engine="streaming")

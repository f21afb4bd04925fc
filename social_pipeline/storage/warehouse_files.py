"""The Parquet files a warehouse build reads, kept beside the warehouse file.

    <warehouse>.files/
        lake/<table>/date=<D>/<version>.parquet          a snapshot of each lake partition
        history/<table>/month=<YYYY-MM>/<build>.parquet  past months gathered (warehouse_history)
        history/<table>/month=<YYYY-MM>/week=<n>/<build>.parquet
                                                         and the newest month's past weeks
        history/<table>/month=<YYYY-MM>/<build>.summary.parquet
                                                         the rows of such a month the
                                                         per-account tables can pick
        latest/<table>/month=<YYYY-MM>/<build>.parquet   latest row per post (warehouse_latest)
        state.json                                       what the current build references

The warehouse's history tables are views over these files, so a build costs what changed
since the last one, not the whole history. Every file here is immutable once written: a
lake partition re-written by a re-run gets a new inode, so its snapshot is a hard link
to the version this build saw (a copy where links are impossible), and a changed month of
the latest tables gets a new file. An analyst whose connection still reads an older build
keeps reading that build's files: files are only deleted `RETAIN_SECONDS` after the last
build that referenced them was replaced.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar

import orjson
import polars as pl
import pyarrow.parquet as pq

from social_pipeline.storage import lake
from social_pipeline.storage.files import atomic_write_bytes
from social_pipeline.storage.objects import ObjectStore

STATE_FILE = "state.json"
# Bump when the meaning of the files or the state changes: the next build starts afresh.
STATE_FORMAT = 2
# An analyst's connection opened on a build reads that build's files; keep them this long
# after a newer build stopped referencing them.
RETAIN_SECONDS = 6 * 3600
WALK_SECONDS = 3600


@dataclass(frozen=True)
class SnapshotFile:
    """One lake partition as a build saw it."""

    version: str  # changes whenever the partition is re-written
    file: str  # relative to the files folder
    columns: tuple[str, ...]  # as found in the file (older files may lack newer columns)
    rows: int  # from its footer: a view's row count without opening every file


# table -> ISO day -> file
LakeSnapshot = dict[str, dict[str, SnapshotFile]]
# table -> month ("YYYY-MM", or "none") -> file relative to the files folder
LatestFiles = dict[str, dict[str, str]]


@dataclass(frozen=True)
class MonthFile:
    """A past month of one lake table gathered into one file (warehouse_history)."""

    file: str  # relative to the files folder
    versions: dict[str, str]  # ISO day -> the lake version it was made from
    rows: int  # as written
    # The month's rows the per-account tables can pick (warehouse_sql.MONTH_SUMMARIES), so
    # they read a few rows per month, not the month; None for tables they do not read.
    summary: str | None = None

    @property
    def files(self) -> tuple[str, ...]:
        return (self.file,) if self.summary is None else (self.file, self.summary)


# table -> month ("YYYY-MM") or week of the newest month ("YYYY-MM-w<n>") -> file
HistoryFiles = dict[str, dict[str, MonthFile]]


@dataclass
class BuildState:
    lake: LakeSnapshot = field(default_factory=dict)
    latest: LatestFiles = field(default_factory=dict)
    history: HistoryFiles = field(default_factory=dict)
    # File (relative) -> when the build that stopped referencing it was made current.
    retired: dict[str, float] = field(default_factory=dict)
    walked_at: float = 0.0  # when `sweep` last listed the month folders


def files_dir(warehouse_file: Path) -> Path:
    return warehouse_file.with_name(warehouse_file.name.removesuffix(".duckdb") + ".files")


def load_state(folder: Path) -> BuildState | None:
    """The state the current warehouse was built with; None starts the next build afresh."""
    try:
        # orjson: the state names every lake day of every table, read and written per build.
        raw = orjson.loads((folder / STATE_FILE).read_bytes())
        if raw.get("format") != STATE_FORMAT:
            return None
        state = BuildState(
            lake={
                table: {
                    day: SnapshotFile(
                        v, f, tuple(c) if c is not None else tuple(lake.LAKE_TABLES[table]), n
                    )
                    for day, (v, f, c, n) in days.items()
                }
                for table, days in raw["lake"].items()
            },
            latest=raw["latest"],
            history={
                table: {m: MonthFile(f, v, n, s) for m, (f, v, n, s) in months.items()}
                for table, months in raw["history"].items()
            },
            retired=raw.get("retired", {}),
            walked_at=raw.get("walked_at", 0.0),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # Month files a state names but a hand-cleaned folder lost: start afresh. (Day
    # snapshots are many and checked by nobody: delete the whole folder to start afresh.)
    derived = [f for months in state.latest.values() for f in months.values()]
    derived += [f for months in state.history.values() for m in months.values() for f in m.files]
    if not all(os.path.isfile(folder / name) for name in derived):
        return None
    return state


def save_state(folder: Path, state: BuildState) -> None:
    payload = {
        "format": STATE_FORMAT,
        # A file's columns are written out only where they differ from the table's: a
        # year of partitions would otherwise repeat the same names thousands of times.
        "lake": {
            table: {
                day: [
                    f.version,
                    f.file,
                    None if f.columns == declared else list(f.columns),
                    f.rows,
                ]
                for day, f in days.items()
            }
            for table, days in state.lake.items()
            for declared in [tuple(lake.LAKE_TABLES[table])]
        },
        "latest": state.latest,
        "history": {
            table: {m: [f.file, f.versions, f.rows, f.summary] for m, f in months.items()}
            for table, months in state.history.items()
        },
        "retired": state.retired,
        "walked_at": state.walked_at,
    }
    atomic_write_bytes(folder / STATE_FILE, orjson.dumps(payload))


# History views show one row per key and day. Normalizing writes them so; a partition that
# holds a key twice anyway (written by hand, or by an older version) is snapshotted with
# the latest of each (latest collected_at, then the later row), not linked.
UNIQUE_PER_DAY: dict[str, list[str]] = {
    "engagement_snapshots": ["snapshot_date", "platform", "post_id"],
    "follower_snapshots": ["snapshot_date", "platform", "account_id"],
}


Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def newest_per_key(rows: Frame, key: list[str]) -> Frame:
    """One row per `key`, the warehouse's "latest": latest `snapshot_date`, then latest
    `collected_at` (NULL oldest), then the later row; kept in their first order."""
    return (
        rows.with_row_index("_row")
        .sort(["snapshot_date", "collected_at", "_row"], nulls_last=False)
        .unique(key, keep="last")
        .sort("_row")
        .drop("_row")
    )


def _deduplicated(path: Path, key: list[str]) -> pl.DataFrame | None:
    """The file's rows with one per `key`, or None when it has no duplicates."""
    if not pl.read_parquet(path, columns=key).is_duplicated().any():
        return None
    return newest_per_key(pl.read_parquet(path), key)


def _materialize(data: ObjectStore, key: str, target: Path) -> None:
    """Put the object's current bytes at `target`: a hard link to a local lake file (a
    copy where links are impossible), a download from object storage."""
    if data.local_root is None:
        data.download(key, target)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    try:
        os.link(data.local_root / key, temporary)
    except OSError:  # another file system, or links not allowed: a copy is as good
        shutil.copyfile(data.local_root / key, temporary)
    os.replace(temporary, target)


def snapshot_lake(data: ObjectStore, folder: Path, previous: BuildState | None) -> LakeSnapshot:
    """Every lake partition as of now, each brought into `folder` under its version.

    Costs a listing of the lake (`lake.partitions`), and a link or download and a footer
    read (columns and row count) per partition that changed since the previous build.
    """
    known = previous.lake if previous else {}
    snapshot: LakeSnapshot = {}
    for table in lake.LAKE_TABLES:
        days: dict[str, SnapshotFile] = {}
        seen_before = known.get(table, {})
        for partition in lake.partitions(data, table):
            day = partition.day.isoformat()
            seen = seen_before.get(day)
            if seen is not None and seen.version == partition.version:
                days[day] = seen
                continue
            # Versions are inode tokens or quoted ETags: a digest makes them file names.
            token = hashlib.sha256(partition.version.encode()).hexdigest()[:20]
            name = f"lake/{table}/date={day}/{token}.parquet"
            _materialize(data, partition.key, folder / name)
            if table in UNIQUE_PER_DAY:
                unique = _deduplicated(folder / name, UNIQUE_PER_DAY[table])
                if unique is not None:
                    temporary = folder / f"{name}.{os.getpid()}.tmp"
                    unique.write_parquet(temporary, compression="zstd", statistics=True)
                    os.replace(temporary, folder / name)
            footer = pq.read_metadata(folder / name)
            columns = tuple(footer.schema.to_arrow_schema().names)
            days[day] = SnapshotFile(partition.version, name, columns, footer.num_rows)
        snapshot[table] = days
    return snapshot


def changed_days(previous: LakeSnapshot | None, current: LakeSnapshot, table: str) -> set[date]:
    """Days of `table` added, re-written or removed since the previous build."""
    before = (previous or {}).get(table, {})
    now = current.get(table, {})
    return {
        date.fromisoformat(day)
        for day in before.keys() | now.keys()
        if (before.get(day) and before[day].version) != (now.get(day) and now[day].version)
    }


def referenced(state: BuildState) -> set[str]:
    names = {f.file for days in state.lake.values() for f in days.values()}
    names |= {f for months in state.latest.values() for f in months.values()}
    names |= {f for months in state.history.values() for m in months.values() for f in m.files}
    return names


def sweep(
    folder: Path, state: BuildState, previous: BuildState | None, now: float | None = None
) -> int:
    """Delete files no build has referenced for `RETAIN_SECONDS`; returns how many.

    A file the previous build referenced and this one does not is stamped in
    `state.retired` (the caller saves the state afterwards), and deleted once its time is
    up. What a crashed build left in the month folders was never referenced: those
    folders are listed at most once per `WALK_SECONDS` to find it.
    """
    now = time.time() if now is None else now
    keep = referenced(state)
    retired = dict(state.retired)
    if previous is not None:
        for name in referenced(previous) - keep:
            retired.setdefault(name, now)
    if previous is None or now - state.walked_at >= WALK_SECONDS:
        for sub in ("history", "latest"):
            for top, _, files in os.walk(folder / sub):
                relative = os.path.relpath(top, folder).replace(os.sep, "/")
                for name in files:
                    if name.endswith((".parquet", ".tmp")):  # .tmp: a crashed write
                        retired.setdefault(f"{relative}/{name}", now)
        state.walked_at = now
    removed = 0
    for name, since in sorted(retired.items()):
        if name in keep:
            del retired[name]  # in use again
        elif now - since >= RETAIN_SECONDS:
            (folder / name).unlink(missing_ok=True)
            del retired[name]
            removed += 1
    state.retired = retired
    return removed

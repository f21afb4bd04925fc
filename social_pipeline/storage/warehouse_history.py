"""History tables over a bounded number of files: one per past month or week, a few days.

A view over one Parquet file per lake day would make every build (and every analyst
query) open a footer per day of history. So each lake table's days are gathered into
one file per month once a later month has started, and the newest month's into one file
per week (days 1-7, 8-14, 15-21, 22-28) once a later day has come:

    <warehouse>.files/history/<table>/month=<YYYY-MM>/<build>.parquet
    <warehouse>.files/history/<table>/month=<YYYY-MM>/week=<1-4>/<build>.parquet

Only the newest week's days (at most 7, or the 29th to the 31st) stay as day files, so a
view opens about a dozen files a year plus a handful, not a month of days. A gathered
file records the day versions it was made from and its row count; a re-run or backfill
of one of its days rewrites that file only. Rows keep the order of their days, and the
files' paths sort in the order of their days (a month before the next, week 1 before
week 2, `history/` before `lake/`, whose day files are newer), so "the later file, then
the later row" still means the later day.

The per-account tables (`accounts`, `follower_metrics`, `api_rate_limits`) are computed
at every build, and pick a few rows per account out of the whole history. So beside a
gathered file of the tables they read goes its summary, `<build>.summary.parquet`: only
the rows they can pick from it (`warehouse_sql.MONTH_SUMMARIES`), in its order. They read
the summaries and the newest days, and their cost follows the number of accounts and
months, not the rows of the history.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from social_pipeline.storage import lake
from social_pipeline.storage.warehouse_files import (
    HistoryFiles,
    LakeSnapshot,
    MonthFile,
    SnapshotFile,
)
from social_pipeline.storage.warehouse_sql import MONTH_SUMMARIES, literal, source_sql


def _months(days: dict[str, SnapshotFile]) -> dict[str, dict[str, SnapshotFile]]:
    by_month: dict[str, dict[str, SnapshotFile]] = {}
    for day, snap in sorted(days.items()):
        by_month.setdefault(day[:7], {})[day] = snap
    return by_month


def _week(day: str) -> tuple[str, str] | None:
    """(unit, its last day) of the week of its month an ISO `day` falls in; None for the
    29th to the 31st, which only the month's file gathers."""
    n = int(day[8:10])
    if n > 28:
        return None
    week = (n - 1) // 7 + 1
    return f"{day[:7]}-w{week}", f"{day[:7]}-{7 * week:02d}"


def _units(days: dict[str, SnapshotFile]) -> dict[str, dict[str, SnapshotFile]]:
    """Unit ("YYYY-MM", or "YYYY-MM-w<n>" in the newest month) -> the days it gathers:
    every month before the newest, and each week of the newest month a later day follows.
    Keys sort in the order of their days."""
    months = _months(days)
    if not months:
        return {}
    newest_month, newest_day = max(months), max(days)
    units = {month: found for month, found in months.items() if month != newest_month}
    for day, snap in months[newest_month].items():
        week = _week(day)
        if week is not None and week[1] < newest_day:
            units.setdefault(week[0], {})[day] = snap
    return units


def _unit_path(table: str, unit: str, build_id: str) -> str:
    month, _, week = unit.partition("-w")
    folder = f"history/{table}/month={month}" + (f"/week={week}" if week else "")
    return f"{folder}/{build_id}"


def gather_months(
    folder: Path, snapshot: LakeSnapshot, previous: HistoryFiles | None, build_id: str
) -> HistoryFiles:
    """Gathered files (and summaries) for each table's past months and the newest
    month's past weeks, reusing unchanged ones."""
    history: HistoryFiles = {}
    con: duckdb.DuckDBPyConnection | None = None
    try:
        for table, schema in lake.LAKE_TABLES.items():
            units = _units(snapshot.get(table, {}))
            history[table] = {}
            for unit in sorted(units):
                versions = {day: snap.version for day, snap in units[unit].items()}
                known = (previous or {}).get(table, {}).get(unit)
                if (
                    known
                    and known.versions == versions
                    and all((folder / f).is_file() for f in known.files)
                ):
                    history[table][unit] = known
                    continue
                con = con or duckdb.connect()
                stem = _unit_path(table, unit, build_id)
                files = [(str(folder.resolve() / s.file), s.columns) for s in units[unit].values()]
                rows = _write(con, source_sql(table, schema, files), folder / f"{stem}.parquet")
                summary = None
                if table in MONTH_SUMMARIES:
                    summary = f"{stem}.summary.parquet"
                    keep = MONTH_SUMMARIES[table]
                    _write(con, _summary_sql(folder / f"{stem}.parquet", keep), folder / summary)
                history[table][unit] = MonthFile(f"{stem}.parquet", versions, rows, summary)
    finally:
        if con is not None:
            con.close()
    return history


def _summary_sql(month_file: Path, keep: str) -> str:
    """The rows of `month_file` where `keep` holds, in their order."""
    source = (
        f"read_parquet({literal(str(month_file.resolve()))}, "
        "hive_partitioning = false, file_row_number = true)"
    )
    return (
        f"SELECT * EXCLUDE (file_row_number) FROM {source} QUALIFY {keep} ORDER BY file_row_number"
    )


def _write(con: duckdb.DuckDBPyConnection, select: str, path: Path) -> int:
    """Write `select` to `path`; returns how many rows it holds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    con.execute("SET TimeZone = 'UTC'")
    written = con.execute(
        f"COPY ({select}) TO {literal(str(temporary))} (FORMAT parquet, COMPRESSION zstd)"
    ).fetchall()
    os.replace(temporary, path)
    return written[0][0]


def _loose_days(
    snapshot: LakeSnapshot, gathered: dict[str, MonthFile], table: str
) -> list[tuple[str, SnapshotFile]]:
    """The days of `table` no gathered file holds, oldest first."""
    held = {day for unit in gathered.values() for day in unit.versions}
    return [(d, s) for d, s in sorted(snapshot.get(table, {}).items()) if d not in held]


def history_files(
    snapshot: LakeSnapshot, history: HistoryFiles, table: str, summaries: bool = False
) -> list[tuple[str, tuple[str, ...]]]:
    """(file, its columns) a view of `table` reads, oldest first: gathered files (or with
    `summaries`, their summaries), then the days none holds."""
    schema = tuple(lake.LAKE_TABLES[table])
    gathered = history.get(table, {})
    files = []
    for unit in sorted(gathered):
        found = gathered[unit].summary if summaries else gathered[unit].file
        if found is None:
            raise ValueError(f"{table} has no month summaries")
        files.append((found, schema))
    return files + [(s.file, s.columns) for _, s in _loose_days(snapshot, gathered, table)]


def history_rows(snapshot: LakeSnapshot, history: HistoryFiles, table: str) -> int:
    """How many rows the files of `history_files` hold, as their footers said."""
    gathered = history.get(table, {})
    rows = sum(m.rows for m in gathered.values())
    return rows + sum(s.rows for _, s in _loose_days(snapshot, gathered, table))

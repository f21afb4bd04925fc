"""History tables over a bounded number of files: one per past month, one per recent day.

A view over one Parquet file per lake day would make every build (and every analyst
query) open a footer per day of history. So each lake table's days are gathered into
one file per month once a later month has started, under

    <warehouse>.files/history/<table>/month=<YYYY-MM>/<build>.parquet

and only the newest month stays as day files. A month file records the day versions it
was made from; a re-run or backfill of one of its days rewrites that month only. Rows
keep the order of their days, so "the later file, then the later row" still means the
later day: the `history/` folder sorts before `lake/`, whose day files are newer.
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
from social_pipeline.storage.warehouse_sql import literal, source_sql


def _months(days: dict[str, SnapshotFile]) -> dict[str, dict[str, SnapshotFile]]:
    by_month: dict[str, dict[str, SnapshotFile]] = {}
    for day, snap in sorted(days.items()):
        by_month.setdefault(day[:7], {})[day] = snap
    return by_month


def gather_months(
    folder: Path, snapshot: LakeSnapshot, previous: HistoryFiles | None, build_id: str
) -> HistoryFiles:
    """Month files for every month before each table's newest, reusing unchanged ones."""
    history: HistoryFiles = {}
    con: duckdb.DuckDBPyConnection | None = None
    try:
        for table, schema in lake.LAKE_TABLES.items():
            months = _months(snapshot.get(table, {}))
            history[table] = {}
            for month in sorted(months)[:-1]:
                versions = {day: snap.version for day, snap in months[month].items()}
                known = (previous or {}).get(table, {}).get(month)
                if known and known.versions == versions and (folder / known.file).is_file():
                    history[table][month] = known
                    continue
                con = con or duckdb.connect()
                name = f"history/{table}/month={month}/{build_id}.parquet"
                files = [
                    (str(folder.resolve() / s.file), s.columns) for s in months[month].values()
                ]
                _write(con, source_sql(table, schema, files), folder / name)
                history[table][month] = MonthFile(name, versions)
    finally:
        if con is not None:
            con.close()
    return history


def _write(con: duckdb.DuckDBPyConnection, select: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"COPY ({select}) TO {literal(str(temporary))} (FORMAT parquet, COMPRESSION zstd)")
    os.replace(temporary, path)


def history_files(
    snapshot: LakeSnapshot, history: HistoryFiles, table: str
) -> list[tuple[str, tuple[str, ...]]]:
    """(file, its columns) a view of `table` reads, oldest first: month files, then the
    newest month's days."""
    schema = tuple(lake.LAKE_TABLES[table])
    gathered = history.get(table, {})
    files = [(gathered[m].file, schema) for m in sorted(gathered)]
    days = snapshot.get(table, {})
    files += [(s.file, s.columns) for d, s in sorted(days.items()) if d[:7] not in gathered]
    return files

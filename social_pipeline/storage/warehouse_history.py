"""History tables over a bounded number of files: one per past month, one per recent day.

A view over one Parquet file per lake day would make every build (and every analyst
query) open a footer per day of history. So each lake table's days are gathered into
one file per month once a later month has started, under

    <warehouse>.files/history/<table>/month=<YYYY-MM>/<build>.parquet

and only the newest month stays as day files. A month file records the day versions it
was made from and its row count; a re-run or backfill of one of its days rewrites that
month only. Rows keep the order of their days, so "the later file, then the later row"
still means the later day: the `history/` folder sorts before `lake/`, whose day files
are newer.

The per-account tables (`accounts`, `follower_metrics`, `api_rate_limits`) are computed
at every build, and pick a few rows per account out of the whole history. So beside a
month file of the tables they read goes its summary, `<build>.summary.parquet`: only the
rows they can pick from that month (`warehouse_sql.MONTH_SUMMARIES`), in the month file's
order. They read the summaries and the newest month's days, and their cost follows the
number of accounts and months, not the rows of the history.
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


def gather_months(
    folder: Path, snapshot: LakeSnapshot, previous: HistoryFiles | None, build_id: str
) -> HistoryFiles:
    """Month files (and summaries) for every month before each table's newest, reusing
    unchanged ones."""
    history: HistoryFiles = {}
    con: duckdb.DuckDBPyConnection | None = None
    try:
        for table, schema in lake.LAKE_TABLES.items():
            months = _months(snapshot.get(table, {}))
            history[table] = {}
            for month in sorted(months)[:-1]:
                versions = {day: snap.version for day, snap in months[month].items()}
                known = (previous or {}).get(table, {}).get(month)
                if (
                    known
                    and known.versions == versions
                    and all((folder / f).is_file() for f in known.files)
                ):
                    history[table][month] = known
                    continue
                con = con or duckdb.connect()
                name = f"history/{table}/month={month}/{build_id}.parquet"
                files = [
                    (str(folder.resolve() / s.file), s.columns) for s in months[month].values()
                ]
                rows = _write(con, source_sql(table, schema, files), folder / name)
                summary = None
                if table in MONTH_SUMMARIES:
                    summary = f"history/{table}/month={month}/{build_id}.summary.parquet"
                    _write(
                        con, _summary_sql(folder / name, MONTH_SUMMARIES[table]), folder / summary
                    )
                history[table][month] = MonthFile(name, versions, rows, summary)
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


def history_files(
    snapshot: LakeSnapshot, history: HistoryFiles, table: str, summaries: bool = False
) -> list[tuple[str, tuple[str, ...]]]:
    """(file, its columns) a view of `table` reads, oldest first: month files (or with
    `summaries`, their summaries), then the newest month's days."""
    schema = tuple(lake.LAKE_TABLES[table])
    gathered = history.get(table, {})
    files = []
    for month in sorted(gathered):
        found = gathered[month].summary if summaries else gathered[month].file
        if found is None:
            raise ValueError(f"{table} has no month summaries")
        files.append((found, schema))
    days = snapshot.get(table, {})
    files += [(s.file, s.columns) for d, s in sorted(days.items()) if d[:7] not in gathered]
    return files


def history_rows(snapshot: LakeSnapshot, history: HistoryFiles, table: str) -> int:
    """How many rows the files of `history_files` hold, as their footers said."""
    gathered = history.get(table, {})
    rows = sum(m.rows for m in gathered.values())
    return rows + sum(s.rows for d, s in snapshot.get(table, {}).items() if d[:7] not in gathered)

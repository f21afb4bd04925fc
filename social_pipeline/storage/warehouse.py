"""The DuckDB warehouse: built aside from a snapshot of the lake, then renamed into place.

DuckDB lets one process write a file, and any process holding it open, even read-only,
blocks that writer. So the build never opens `warehouse.duckdb` at all:

1. take `warehouse.lock` (fcntl), so concurrent builders run one after another;
2. snapshot the lake into `warehouse.files/` and bring the latest-per-post files up to
   date for the days that changed (`warehouse_files`, `warehouse_latest`);
3. fill `warehouse.duckdb.building-<pid>`: views over those Parquet files for history
   and posts, and the small per-account tables, and close it;
4. `os.replace` it onto `warehouse.duckdb`, then record what it references.

The file holds views and a few small tables, so a build costs the changed days, not
the history. An analyst's open connection keeps reading the old file (its inode lives
until they close it) and the old build's Parquet files (kept for hours after); every new
connection opens the new one. Nobody waits on anybody. A crash before step 4 leaves the
previous warehouse untouched; the next build sweeps the leftovers. The warehouse is
derived: the lake is the record, so re-running a day in the lake and rebuilding gives
the same warehouse.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from social_pipeline.storage import lake
from social_pipeline.storage.dead_letters import all_dead_letters
from social_pipeline.storage.files import fsync_dir
from social_pipeline.storage.objects import ObjectStore, store_at
from social_pipeline.storage.warehouse_docs import column_description
from social_pipeline.storage.warehouse_files import (
    BuildState,
    HistoryFiles,
    LakeSnapshot,
    LatestFiles,
    files_dir,
    load_state,
    save_state,
    snapshot_lake,
    sweep,
)
from social_pipeline.storage.warehouse_history import gather_months, history_files, history_rows
from social_pipeline.storage.warehouse_latest import LATEST_TABLES, LatestUpdate
from social_pipeline.storage.warehouse_sql import (
    CONFIGURED_ACCOUNTS_SQL,
    INFO_SQL,
    MONTH_SUMMARIES,
    TABLES,
    VIEWS,
    ident,
    literal,
    source_sql,
)

WAREHOUSE_FILE = "warehouse.duckdb"


# (platform, account_id, name): an account as the accounts file names it.
ConfiguredAccount = tuple[str, str, str]


@dataclass(frozen=True)
class WarehouseColumn:
    name: str
    type: str  # DuckDB's name for it: VARCHAR, BIGINT, TIMESTAMP WITH TIME ZONE...
    description: str


@dataclass
class WarehouseSummary:
    path: Path
    built_at: datetime
    seconds: float
    row_counts: dict[str, int] = field(default_factory=dict)
    # Table or view -> its columns, in order, with the comment each carries in the file.
    columns: dict[str, list[WarehouseColumn]] = field(default_factory=dict)


def warehouse_path(where: Path) -> Path:
    """The DuckDB file: `where` when it names one (SOCIAL_PIPELINE_WAREHOUSE), else the
    `warehouse.duckdb` of the data folder `where`."""
    return where if where.suffix == ".duckdb" else where / WAREHOUSE_FILE


@contextmanager
def _builder_lock(target: Path) -> Iterator[None]:
    """Hold `<warehouse>.lock` exclusively; the kernel releases it if the process dies."""
    with open(target.with_suffix(".lock"), "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _sweep_leftovers(target: Path) -> None:
    """Remove half-built files of crashed builders (only called under the lock)."""
    for leftover in target.parent.glob(f"{target.name}.building-*"):
        if leftover.is_dir():  # DuckDB's spill folder, `<db>.tmp`
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def _sources(
    folder: Path, snapshot: LakeSnapshot, history: HistoryFiles, latest: LatestFiles
) -> dict[str, str]:
    """The `{lake_<t>}`, `{files_<t>}`, `{summary_<t>}` and `{latest_<t>}` subqueries the
    SELECTs name."""
    root = folder.resolve()
    sources = {}
    for table, schema in lake.LAKE_TABLES.items():
        files = [(str(root / f), c) for f, c in history_files(snapshot, history, table)]
        sources[f"lake_{table}"] = f"({source_sql(table, schema, files, position=True)})"
        sources[f"files_{table}"] = f"({source_sql(table, schema, files)})"
        if table in MONTH_SUMMARIES:
            summaries = history_files(snapshot, history, table, summaries=True)
            files = [(str(root / f), c) for f, c in summaries]
            sources[f"summary_{table}"] = f"({source_sql(table, schema, files, position=True)})"
    for spec in LATEST_TABLES:
        months = sorted(latest.get(spec.name, {}).items())
        files = [(str(root / f), tuple(spec.schema)) for _, f in months]
        sources[f"latest_{spec.name}"] = f"({source_sql(spec.source, spec.schema, files)})"
    return sources


def _fill(
    con: duckdb.DuckDBPyConnection,
    data: ObjectStore,
    sources: dict[str, str],
    lake_rows: dict[str, int],
    built_at: datetime,
    accounts: Iterable[ConfiguredAccount],
) -> dict[str, int]:
    """Fill the new file; returns row counts (`lake_rows`: each lake table's, as its files'
    footers gave them)."""
    con.execute("SET TimeZone = 'UTC'")
    # One transaction: DuckDB commits each statement otherwise, and a build is a few
    # hundred statements (one COMMENT per column), a few ms each.
    con.execute("BEGIN")
    con.execute(CONFIGURED_ACCOUNTS_SQL)
    rows = [(p, a, n or None) for p, a, n in accounts]
    if rows:
        con.executemany("INSERT INTO configured_accounts VALUES (?, ?, ?)", rows)
    counts = {}
    for spec in sorted(TABLES, key=lambda t: t.stored):
        kind = "TABLE" if spec.stored else "VIEW"
        con.execute(f"CREATE {kind} {ident(spec.name)} AS {spec.select.format(**sources)}")
        con.execute(f"COMMENT ON {kind} {ident(spec.name)} IS {literal(spec.comment)}")
    for spec in TABLES:
        if spec.rows_of is not None:
            counts[spec.name] = lake_rows[spec.rows_of]
        else:
            counted = con.sql(f"SELECT count(*) FROM {ident(spec.name)}").fetchall()
            counts[spec.name] = counted[0][0]
    counts["dead_letters"] = _fill_dead_letters(con, data)
    for name, comment, select in VIEWS:
        con.execute(f"CREATE VIEW {ident(name)} AS {select}")
        con.execute(f"COMMENT ON VIEW {ident(name)} IS {literal(comment)}")
    con.execute(INFO_SQL, [built_at, data.describe("lake"), duckdb.__version__])
    con.execute(
        "COMMENT ON TABLE _warehouse_info IS 'When and from which lake this file was built.'"
    )
    _comment_columns(con)
    con.execute("COMMIT")
    con.execute("CHECKPOINT")
    return counts


_COLUMNS_SQL = """
SELECT table_name, column_name, data_type, comment
FROM duckdb_columns()
WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal
ORDER BY table_name, column_index
"""


def _comment_columns(con: duckdb.DuckDBPyConnection) -> None:
    """COMMENT ON every column of every table and view, from `warehouse_docs`."""
    statements = [
        f"COMMENT ON COLUMN {ident(table)}.{ident(column)} IS {literal(text)}"
        for table, column, _, _ in con.sql(_COLUMNS_SQL).fetchall()
        if (text := column_description(table, column))
    ]
    if statements:
        con.execute(";\n".join(statements))  # one round trip, not one per column


def _columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[WarehouseColumn]]:
    found: dict[str, list[WarehouseColumn]] = {}
    for table, column, dtype, comment in con.sql(_COLUMNS_SQL).fetchall():
        found.setdefault(table, []).append(WarehouseColumn(column, dtype, comment or ""))
    return found


DEAD_LETTERS_SQL = """
CREATE TABLE dead_letters (
    platform VARCHAR, account_id VARCHAR, partition_date DATE, error_class VARCHAR,
    error VARCHAR, attempts BIGINT, last_attempt_at TIMESTAMPTZ, reset_at TIMESTAMPTZ,
    status VARCHAR
)"""


def _fill_dead_letters(con: duckdb.DuckDBPyConnection, data: ObjectStore) -> int:
    """Dead letters live as small JSON files the retry sensor writes, not in the lake."""
    con.execute(DEAD_LETTERS_SQL)
    con.execute(
        "COMMENT ON TABLE dead_letters IS 'Account collections that failed past the retry limit; "
        "status open until a later attempt succeeds (replay: social-pipeline replay).'"
    )
    rows = [
        (
            d["platform"],
            d["account_id"],
            d["partition_date"],
            d.get("error_class"),
            d.get("error"),
            d["attempts"],
            d.get("last_attempt_at"),
            d.get("reset_at"),
            d["status"],
        )
        for d in all_dead_letters(data)
    ]
    if rows:
        con.executemany("INSERT INTO dead_letters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


def build_warehouse(
    data: Path | str | ObjectStore,
    accounts: Iterable[ConfiguredAccount] = (),
    warehouse: Path | None = None,
) -> WarehouseSummary:
    """Build the warehouse from the lake under `data`; returns row counts and columns.

    `data` is the data root (a folder, an s3:// URL or a store); the DuckDB file is
    `warehouse`, by default `<data>/warehouse.duckdb` for a folder. `accounts` are
    (platform, account_id, name) of the accounts file, for the `accounts` table's
    `account_name`; the caller reads them from its settings, so storage never does.
    """
    store = store_at(data)
    if warehouse is None:
        if store.local_root is None:
            raise ValueError(f"the lake is in {store.location}: name a local warehouse file")
        warehouse = store.local_root
    target = warehouse_path(Path(warehouse)).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = files_dir(target)
    with _builder_lock(target):
        started = time.monotonic()
        built_at = datetime.now(UTC)
        _sweep_leftovers(target)
        building = target.with_name(f"{target.name}.building-{os.getpid()}")
        try:
            previous = load_state(folder)
            snapshot = snapshot_lake(store, folder, previous)
            build_id = f"{built_at:%Y%m%dT%H%M%S%f}-{os.getpid()}"
            latest = LatestUpdate(
                folder,
                build_id,
                snapshot,
                previous.lake if previous else None,
                previous.latest if previous else None,
            ).run()
            gathered = previous.history if previous else None
            history = gather_months(folder, snapshot, gathered, build_id)
            sources = _sources(folder, snapshot, history, latest)
            rows = {t: history_rows(snapshot, history, t) for t in lake.LAKE_TABLES}
            con = duckdb.connect(str(building))
            try:
                counts = _fill(con, store, sources, rows, built_at, accounts)
                columns = _columns(con)
            finally:
                con.close()
            # A WAL left by someone who opened the old file read-write would be replayed
            # onto the new file; it belongs to the old one, which is being replaced.
            Path(f"{target}.wal").unlink(missing_ok=True)
            os.replace(building, target)
            fsync_dir(target.parent)
            state = BuildState(
                snapshot,
                latest,
                history,
                *((previous.retired, previous.walked_at) if previous else ({}, 0.0)),
            )
            sweep(folder, state, previous)
            save_state(folder, state)
        finally:
            _sweep_leftovers(target)
    seconds = round(time.monotonic() - started, 3)
    return WarehouseSummary(target, built_at, seconds, counts, columns)


def connect_readonly(where: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the current warehouse file; it never blocks a build.

    `duckdb.connect(path)` hands out the database a process already has open for that
    path, so while any connection to the old file lives, a new one would still read the
    old build. A fresh in-memory database that ATTACHes the file always opens what is at
    the path now.
    """
    path = warehouse_path(where)
    if not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: materialize the warehouse assets first")
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH {literal(str(path))} AS warehouse (READ_ONLY)")
        con.execute("USE warehouse")
    except BaseException:
        con.close()
        raise
    return con


def query(where: Path, sql: str, params: dict[str, Any] | list[Any] | None = None) -> pl.DataFrame:
    """Run one read-only query (optionally with `$name` or `?` parameters) as polars."""
    con = connect_readonly(where)
    try:
        return con.sql(sql, params=params).pl()
    finally:
        con.close()

"""The DuckDB warehouse: rebuilt from the lake aside, swapped in, never blocking analysts."""

from __future__ import annotations

import fcntl
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from social_pipeline.core.schema import ENGAGEMENT, FOLLOWERS, POSTS, QUARANTINE, conform
from social_pipeline.storage import lake, warehouse
from social_pipeline.storage.lake_records import jobs_frame, rate_limits_frame

DAY1 = date(2026, 11, 19)
DAY2 = date(2026, 11, 20)
DAY3 = date(2026, 11, 21)

TABLES = [
    "accounts",
    "social_posts",
    "post_engagement_metrics",
    "engagement_snapshots",
    "follower_metrics",
    "follower_snapshots",
    "data_collection_jobs",
    "api_rate_limits",
    "quarantined_records",
    "data_gaps",
    "dead_letters",
]
VIEWS = [
    "daily_account_summary",
    "top_posts",
    "follower_growth",
    "post_tombstones",
    "unavailable_metrics",
]

# DESIGN.md, "Warehouse tables": at least these columns, with these types.
CONTRACT = {
    "social_posts": {
        "platform": "VARCHAR",
        "account_id": "VARCHAR",
        "post_id": "VARCHAR",
        "created_at": "TIMESTAMP WITH TIME ZONE",
        "content_type": "VARCHAR",
        "text": "VARCHAR",
        "permalink": "VARCHAR",
        "media_urls": "VARCHAR[]",
    },
    "post_engagement_metrics": {
        "platform": "VARCHAR",
        "post_id": "VARCHAR",
        **dict.fromkeys(["likes", "comments", "shares", "views", "saves"], "BIGINT"),
        "engagement_rate": "DOUBLE",
        "collected_at": "TIMESTAMP WITH TIME ZONE",
    },
    "engagement_snapshots": {
        "snapshot_date": "DATE",
        "platform": "VARCHAR",
        "post_id": "VARCHAR",
        **dict.fromkeys(["likes", "comments", "shares", "views", "saves"], "BIGINT"),
        "engagement_rate": "DOUBLE",
        "collected_at": "TIMESTAMP WITH TIME ZONE",
    },
    "follower_metrics": {
        "platform": "VARCHAR",
        "account_id": "VARCHAR",
        **dict.fromkeys(["followers", "following", "posts_count"], "BIGINT"),
        "collected_at": "TIMESTAMP WITH TIME ZONE",
    },
    "follower_snapshots": {
        "snapshot_date": "DATE",
        "platform": "VARCHAR",
        "account_id": "VARCHAR",
        **dict.fromkeys(["followers", "following", "posts_count"], "BIGINT"),
        "collected_at": "TIMESTAMP WITH TIME ZONE",
    },
    "data_collection_jobs": {
        "job_id": "VARCHAR",
        "platform": "VARCHAR",
        "account_id": "VARCHAR",
        "partition_date": "DATE",
        "status": "VARCHAR",
        "started_at": "TIMESTAMP WITH TIME ZONE",
        "finished_at": "TIMESTAMP WITH TIME ZONE",
        "posts_collected": "BIGINT",
        "api_calls": "BIGINT",
        "attempt": "BIGINT",
        "error": "VARCHAR",
    },
    "api_rate_limits": {
        "platform": "VARCHAR",
        "endpoint": "VARCHAR",
        "quota_limit": "BIGINT",
        "remaining": "BIGINT",
        "reset_at": "TIMESTAMP WITH TIME ZONE",
        "observed_at": "TIMESTAMP WITH TIME ZONE",
    },
}


def at(day: date, hour: int = 23) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def frame(rows: list[dict[str, Any]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return conform(pl.DataFrame(rows), schema) if rows else pl.DataFrame(schema=schema)


def write_day(data_dir: Path, day: date, *, edited: bool = False) -> None:
    """A small lake day: an X account and an Instagram account, a few posts each."""
    posts = [
        ("x", "a1", "p1", DAY1, "the original" if day == DAY1 or not edited else "edited"),
        ("x", "a1", "p2", DAY2, "second"),
        ("instagram", "ig1", "q1", DAY1, "photo"),
        ("instagram", "ig1", "q2", DAY3, "reel"),
    ]
    posts = [p for p in posts if p[3] <= day]
    post_rows = [
        {
            "snapshot_date": day,
            "platform": platform,
            "account_id": account,
            "post_id": post,
            "created_at": at(created, 9),
            "content_type": "image" if platform == "instagram" else "text",
            "text": text,
            "permalink": f"https://example.test/{post}",
            "media_urls": [f"https://cdn.example.test/{post}.jpg"]
            if platform == "instagram"
            else [],
            "collected_at": at(day),
        }
        for platform, account, post, created, text in posts
    ]
    age = {p[2]: (day - p[3]).days for p in posts}
    metric_rows = [
        {
            "snapshot_date": day,
            "platform": platform,
            "account_id": account,
            "post_id": post,
            "likes": 10 * (age[post] + 1),
            "comments": age[post],
            "shares": None if platform == "instagram" else 1,
            "views": None,  # not reported: NULL, never 0
            "saves": 2 if platform == "instagram" else None,
            "interactions": 10 * (age[post] + 1)
            + age[post]
            + (2 if platform == "instagram" else 1),
            "engagement_rate": (10 * (age[post] + 1)) / 1000 + (0.5 if post == "q1" else 0),
            "collected_at": at(day),
        }
        for platform, account, post, _, _ in posts
    ]
    follower_rows = [
        {
            "snapshot_date": day,
            "platform": "x",
            "account_id": "a1",
            "followers": 100 + 10 * (day - DAY1).days,
            "following": 5,
            "posts_count": None,
            "collected_at": at(day),
        },
        {
            "snapshot_date": day,
            "platform": "instagram",
            "account_id": "ig1",
            "followers": 50,
            "following": None,
            "posts_count": 2,
            "collected_at": at(day),
        },
    ]
    jobs = [
        {
            "job_id": f"{platform}-{day}-1",
            "platform": platform,
            "account_id": account,
            "partition_date": day.isoformat(),
            "status": "succeeded",
            "started_at": at(day, 22).isoformat(),
            "finished_at": at(day).isoformat(),
            "posts_collected": 2,
            "api_calls": 3,
            "retries": 0,
            "seconds_waited": 0.0,
            "attempt": 1,
        }
        for platform, account in (("x", "a1"), ("instagram", "ig1"))
    ]
    windows = [
        {
            "platform": "x",
            "endpoint": "/2/users/:id/tweets",
            "quota_limit": 900,
            "remaining": 900 - (day - DAY1).days,
            "reset_at": at(day, 23).isoformat(),
            "observed_at": at(day, 22).isoformat(),
        },
    ]
    quarantine = [
        {
            "snapshot_date": day,
            "platform": "x",
            "account_id": "a1",
            "kind": "posts",
            "reason": "missing id",
            "record": '{"text": "?"}',
            "source": "raw/x/a1.jsonl.gz",
            "collected_at": at(day),
        },
    ]
    lake.write_partition(data_dir, "posts", day, frame(post_rows, POSTS))
    lake.write_partition(data_dir, "engagement_snapshots", day, frame(metric_rows, ENGAGEMENT))
    lake.write_partition(data_dir, "follower_snapshots", day, frame(follower_rows, FOLLOWERS))
    lake.write_partition(data_dir, "collection_jobs", day, jobs_frame(jobs))
    lake.write_partition(data_dir, "rate_limits", day, rate_limits_frame(windows))
    lake.write_partition(data_dir, "quarantine", day, frame(quarantine, QUARANTINE))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    write_day(tmp_path, DAY1)
    write_day(tmp_path, DAY2, edited=True)
    return tmp_path


def rows(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    return warehouse.query(data_dir, sql).rows()


def column_types(data_dir: Path) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for table, column, dtype in rows(
        data_dir,
        "SELECT table_name, column_name, data_type FROM information_schema.columns ORDER BY table_name, ordinal_position",
    ):
        found.setdefault(table, {})[column] = dtype
    return found


def snapshot(data_dir: Path) -> dict[str, pl.DataFrame]:
    """Every table and view, rows in stored order (the build info aside: it has a clock)."""
    return {name: warehouse.query(data_dir, f'SELECT * FROM "{name}"') for name in TABLES + VIEWS}


def test_the_warehouse_has_the_contract_tables_columns_and_types(data_dir: Path) -> None:
    summary = warehouse.build_warehouse(data_dir)
    assert summary.path == data_dir / "warehouse.duckdb"
    assert set(summary.row_counts) == set(TABLES)
    types = column_types(data_dir)
    for table, columns in CONTRACT.items():
        assert {c: types[table].get(c) for c in columns} == columns, table
    assert set(VIEWS) <= set(types)
    assert set(types["quarantined_records"]) >= {"platform", "account_id", "reason", "record"}
    assert rows(data_dir, "SELECT lake_path FROM _warehouse_info") == [
        (str(data_dir.resolve() / "lake"),)
    ]


def test_an_empty_lake_builds_every_table_empty_with_the_same_types(
    tmp_path: Path, data_dir: Path
) -> None:
    summary = warehouse.build_warehouse(tmp_path / "empty")
    assert summary.row_counts == dict.fromkeys(TABLES, 0)
    warehouse.build_warehouse(data_dir)
    assert column_types(tmp_path / "empty") == column_types(data_dir)


def test_latest_state_tables_pick_the_newest_day(data_dir: Path) -> None:
    summary = warehouse.build_warehouse(data_dir)
    assert summary.row_counts["social_posts"] == 3
    assert rows(
        data_dir, "SELECT post_id, text, snapshot_date FROM social_posts WHERE post_id = 'p1'"
    ) == [("p1", "edited", DAY2)]
    assert rows(
        data_dir,
        "SELECT post_id, likes, snapshot_date FROM post_engagement_metrics ORDER BY post_id",
    ) == [
        ("p1", 20, DAY2),
        ("p2", 10, DAY2),
        ("q1", 20, DAY2),
    ]
    assert rows(
        data_dir, "SELECT account_id, followers FROM follower_metrics ORDER BY account_id"
    ) == [
        ("a1", 110),
        ("ig1", 50),
    ]
    assert rows(
        data_dir,
        "SELECT platform, endpoint, quota_limit, remaining, observed_at FROM api_rate_limits",
    ) == [("x", "/2/users/:id/tweets", 900, 899, at(DAY2, 22))]
    assert rows(data_dir, "SELECT media_urls FROM social_posts WHERE post_id = 'q1'") == [
        (["https://cdn.example.test/q1.jpg"],)
    ]


def test_snapshot_tables_keep_one_row_per_day(data_dir: Path) -> None:
    summary = warehouse.build_warehouse(data_dir)
    assert summary.row_counts["engagement_snapshots"] == 2 + 3
    assert summary.row_counts["follower_snapshots"] == 4
    assert rows(
        data_dir, "SELECT snapshot_date, likes FROM engagement_snapshots WHERE post_id = 'p1'"
    ) == [
        (DAY1, 10),
        (DAY2, 20),
    ]
    assert summary.row_counts["data_collection_jobs"] == 4
    assert summary.row_counts["quarantined_records"] == 2


def test_duplicate_rows_within_a_day_collapse_to_the_latest(data_dir: Path) -> None:
    day_rows = lake.read_table(data_dir, "engagement_snapshots", days=[DAY2])
    later = day_rows.filter(pl.col("post_id") == "p1").with_columns(
        pl.lit(999, pl.Int64).alias("likes"),
        (pl.col("collected_at") + pl.duration(minutes=5)).alias("collected_at"),
    )
    lake.write_partition(data_dir, "engagement_snapshots", DAY2, pl.concat([later, day_rows]))
    warehouse.build_warehouse(data_dir)
    assert rows(
        data_dir,
        "SELECT likes FROM engagement_snapshots WHERE post_id = 'p1' AND snapshot_date = DATE '2026-11-20'",
    ) == [(999,)]
    assert rows(data_dir, "SELECT likes FROM post_engagement_metrics WHERE post_id = 'p1'") == [
        (999,)
    ]


def test_unreported_metrics_stay_null(data_dir: Path) -> None:
    warehouse.build_warehouse(data_dir)
    assert rows(
        data_dir, "SELECT views, saves, shares FROM post_engagement_metrics WHERE post_id = 'p1'"
    ) == [(None, None, 1)]
    assert rows(data_dir, "SELECT count(*) FROM engagement_snapshots WHERE views IS NOT NULL") == [
        (0,)
    ]
    assert rows(data_dir, "SELECT views, saves FROM top_posts WHERE post_id = 'q1'") == [(None, 2)]
    assert rows(data_dir, "SELECT posts_count FROM follower_metrics WHERE account_id = 'a1'") == [
        (None,)
    ]


@pytest.mark.parametrize("rerun_day", [False, True], ids=["rebuild only", "lake day rerun"])
def test_rebuilding_or_rerunning_a_lake_day_gives_identical_tables(
    data_dir: Path, rerun_day: bool
) -> None:
    warehouse.build_warehouse(data_dir)
    before = snapshot(data_dir)
    if rerun_day:
        write_day(data_dir, DAY2, edited=True)
    warehouse.build_warehouse(data_dir)
    after = snapshot(data_dir)
    for name in before:
        assert before[name].equals(after[name]), name


def test_follower_growth_and_daily_summary(data_dir: Path) -> None:
    warehouse.build_warehouse(data_dir, [("x", "a1", "Acme on X")])
    assert rows(
        data_dir,
        "SELECT snapshot_date, followers, followers_change, followers_change_pct FROM follower_growth WHERE account_id = 'a1'",
    ) == [(DAY1, 100, None, None), (DAY2, 110, 10, 10.0)]
    summary = warehouse.query(
        data_dir,
        "SELECT * FROM daily_account_summary WHERE account_id = 'a1' AND snapshot_date = DATE '2026-11-20'",
    ).row(0, named=True)
    assert summary == {
        "snapshot_date": DAY2,
        "platform": "x",
        "account_id": "a1",
        "account_name": "Acme on X",
        "followers": 110,
        "followers_change": 10,
        "posts_published": 1,  # p2, created on DAY2
        "posts_in_window": 2,
        "interactions": (20 + 1 + 1) + (10 + 0 + 1),
        "avg_engagement_rate": pytest.approx((0.020 + 0.010) / 2),
    }


def test_top_posts_rank_by_engagement_rate(data_dir: Path) -> None:
    warehouse.build_warehouse(data_dir)
    ranked = rows(data_dir, "SELECT post_id, text, engagement_rate FROM top_posts")
    assert [r[0] for r in ranked] == ["q1", "p1", "p2"]
    assert ranked[1][1] == "edited"


def test_an_open_analyst_connection_neither_blocks_nor_sees_the_rebuild(data_dir: Path) -> None:
    warehouse.build_warehouse(data_dir)
    analyst = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        write_day(data_dir, DAY3)
        summary = warehouse.build_warehouse(data_dir)
        assert summary.row_counts["social_posts"] == 4
        # The open session keeps reading the file it opened...
        assert analyst.sql("SELECT count(*) FROM social_posts").fetchall() == [(3,)]
        # ...and a new one sees the new build. (In this process a plain duckdb.connect()
        # would be handed the already-open old database; connect_readonly() attaches
        # whatever file is at the path now.)
        assert rows(data_dir, "SELECT count(*) FROM social_posts") == [(4,)]
    finally:
        analyst.close()


ANALYST = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.sql("SELECT count(*) FROM social_posts").fetchall()[0][0], flush=True)
sys.stdin.readline()  # hold the file open until the test says so
print(con.sql("SELECT count(*) FROM social_posts").fetchall()[0][0], flush=True)
"""


def test_an_analyst_in_another_process_does_not_block_the_rebuild(data_dir: Path) -> None:
    warehouse.build_warehouse(data_dir)
    analyst = subprocess.Popen(
        [sys.executable, "-c", ANALYST, str(data_dir / "warehouse.duckdb")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert analyst.stdout is not None and analyst.stdin is not None
        assert analyst.stdout.readline().strip() == "3"  # the file is open, read-only
        write_day(data_dir, DAY3)
        started = time.monotonic()
        summary = warehouse.build_warehouse(data_dir)
        assert time.monotonic() - started < 30
        assert summary.row_counts["social_posts"] == 4
        assert rows(data_dir, "SELECT count(*) FROM social_posts") == [(4,)]
        analyst.stdin.write("go\n")
        analyst.stdin.flush()
        assert analyst.stdout.readline().strip() == "3"
        assert analyst.wait(timeout=30) == 0
    finally:
        if analyst.poll() is None:
            analyst.kill()
            analyst.wait()


def test_a_builder_waits_for_the_one_already_building(data_dir: Path) -> None:
    done = threading.Event()
    errors: list[BaseException] = []

    def build() -> None:
        try:
            warehouse.build_warehouse(data_dir)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            done.set()

    with open(data_dir / "warehouse.lock", "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # another builder is at work
        worker = threading.Thread(target=build)
        worker.start()
        assert not done.wait(0.5)
        assert not (data_dir / "warehouse.duckdb").exists()
        fcntl.flock(held.fileno(), fcntl.LOCK_UN)
    assert done.wait(30)
    worker.join()
    assert not errors
    assert rows(data_dir, "SELECT count(*) FROM social_posts") == [(3,)]


BUILDER = """
import sys
from pathlib import Path
from social_pipeline.storage.warehouse import build_warehouse
print(build_warehouse(Path(sys.argv[1])).row_counts["engagement_snapshots"])
"""


def test_concurrent_builders_in_separate_processes_all_succeed(data_dir: Path) -> None:
    builders = [
        subprocess.Popen(
            [sys.executable, "-c", BUILDER, str(data_dir)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [b.communicate(timeout=120)[0].strip() for b in builders]
    assert [b.returncode for b in builders] == [0, 0, 0]
    assert outputs == ["5", "5", "5"]
    assert sorted(p.name for p in data_dir.iterdir() if p.name.startswith("warehouse")) == [
        "warehouse.duckdb",
        "warehouse.files",
        "warehouse.lock",
    ]
    # No half-written snapshot or month file either.
    assert [p for p in (data_dir / "warehouse.files").rglob("*") if p.name.endswith(".tmp")] == []


def test_a_failed_build_keeps_the_previous_warehouse(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse.build_warehouse(data_dir)
    original_fill = warehouse._fill

    def fill_then_crash(*args: Any) -> dict[str, int]:
        original_fill(*args)
        raise RuntimeError("killed mid-build")

    write_day(data_dir, DAY3)
    monkeypatch.setattr(warehouse, "_fill", fill_then_crash)
    with pytest.raises(RuntimeError, match="killed mid-build"):
        warehouse.build_warehouse(data_dir)
    monkeypatch.undo()
    assert rows(data_dir, "SELECT count(*) FROM social_posts") == [(3,)]
    assert not list(data_dir.glob("warehouse.duckdb.building-*"))

    # A builder killed outright leaves its file behind; the next build sweeps it.
    (data_dir / "warehouse.duckdb.building-99999").write_bytes(b"half a database")
    (data_dir / "warehouse.duckdb.building-99999.wal").write_bytes(b"")
    warehouse.build_warehouse(data_dir)
    assert rows(data_dir, "SELECT count(*) FROM social_posts") == [(4,)]
    assert not list(data_dir.glob("warehouse.duckdb.building-*"))


def test_a_stale_wal_of_the_old_file_is_not_replayed_onto_the_new_one(data_dir: Path) -> None:
    warehouse.build_warehouse(data_dir)
    (data_dir / "warehouse.duckdb.wal").write_bytes(b"left by a crashed read-write session")
    warehouse.build_warehouse(data_dir)
    assert rows(data_dir, "SELECT count(*) FROM social_posts") == [(3,)]


def test_reading_before_the_first_build_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="materialize the warehouse"):
        warehouse.query(tmp_path, "SELECT 1")


def test_query_returns_polars_with_dates_and_utc_timestamps(data_dir: Path) -> None:
    warehouse.build_warehouse(data_dir)
    result = warehouse.query(
        data_dir, "SELECT snapshot_date, collected_at FROM follower_snapshots LIMIT 1"
    )
    assert result.schema["snapshot_date"] == pl.Date()
    assert result["collected_at"].to_list() == [at(DAY1)]
    assert timedelta(0) == result["collected_at"][0].utcoffset()


def test_query_takes_parameters(data_dir: Path) -> None:
    warehouse.build_warehouse(data_dir)
    sql = "SELECT post_id FROM social_posts WHERE account_id = $account ORDER BY post_id"
    assert warehouse.query(data_dir, sql, {"account": "ig1"}).rows() == [("q1",)]

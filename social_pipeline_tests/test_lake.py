"""The Parquet lake: one atomic file per table and day, in the declared schema."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from social_pipeline.clients.http import RateLimitWindow
from social_pipeline.core.schema import ENGAGEMENT, FOLLOWERS, conform
from social_pipeline.storage import lake
from social_pipeline.storage.lake_records import (
    COLLECTION_JOBS,
    RATE_LIMITS,
    jobs_frame,
    rate_limits_frame,
)

DAY = date(2026, 11, 20)
COLLECTED = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)


def followers(day: date, *counts: tuple[str, int | None]) -> pl.DataFrame:
    rows = [
        {
            "snapshot_date": day,
            "platform": "x",
            "account_id": account,
            "followers": n,
            "collected_at": COLLECTED,
        }
        for account, n in counts
    ]
    return conform(pl.DataFrame(rows), FOLLOWERS) if rows else pl.DataFrame(schema=FOLLOWERS)


def test_partition_lands_at_table_day_path_and_reads_back(tmp_path: Path) -> None:
    frame = followers(DAY, ("a1", 10), ("a2", None))
    path = lake.write_partition(tmp_path, "follower_snapshots", DAY, frame)
    assert path == tmp_path / "lake" / "follower_snapshots" / "date=2026-11-20" / "part-0.parquet"
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
    back = lake.read_table(tmp_path, "follower_snapshots")
    assert back.schema == pl.Schema(FOLLOWERS)
    assert back.equals(frame)  # NULL followers stays NULL


def test_dates_are_stored_as_date_and_timestamps_as_utc(tmp_path: Path) -> None:
    path = lake.write_partition(tmp_path, "follower_snapshots", DAY, followers(DAY, ("a1", 10)))
    arrow = pq.read_schema(path)
    assert str(arrow.field("snapshot_date").type) == "date32[day]"
    assert str(arrow.field("collected_at").type) == "timestamp[us, tz=UTC]"
    back = lake.read_table(tmp_path, "follower_snapshots")
    assert back["snapshot_date"].to_list() == [DAY]
    # No `date` column sneaks in from the hive-style folder name.
    assert "date" not in back.columns


def test_rerunning_a_day_replaces_it_and_leaves_other_days(tmp_path: Path) -> None:
    next_day = DAY + timedelta(days=1)
    lake.write_partition(
        tmp_path, "follower_snapshots", DAY, followers(DAY, ("a1", 10), ("a2", 20))
    )
    lake.write_partition(tmp_path, "follower_snapshots", next_day, followers(next_day, ("a1", 11)))
    lake.write_partition(tmp_path, "follower_snapshots", DAY, followers(DAY, ("a1", 12)))

    back = lake.read_table(tmp_path, "follower_snapshots").sort("snapshot_date")
    assert back.select("snapshot_date", "account_id", "followers").rows() == [
        (DAY, "a1", 12),
        (next_day, "a1", 11),
    ]
    assert lake.partition_days(tmp_path, "follower_snapshots") == [DAY, next_day]
    assert list((tmp_path / "lake" / "follower_snapshots" / "date=2026-11-20").iterdir()) == [
        lake.partition_path(tmp_path, "follower_snapshots", DAY)
    ]


def test_an_empty_frame_clears_the_day_but_keeps_the_schema(tmp_path: Path) -> None:
    lake.write_partition(tmp_path, "follower_snapshots", DAY, followers(DAY, ("a1", 10)))
    path = lake.write_partition(tmp_path, "follower_snapshots", DAY, followers(DAY))
    assert path.exists()
    assert pq.read_schema(path).names == list(FOLLOWERS)
    back = lake.read_table(tmp_path, "follower_snapshots")
    assert back.height == 0
    assert back.schema == pl.Schema(FOLLOWERS)
    assert lake.partition_days(tmp_path, "follower_snapshots") == [DAY]


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = lake.write_partition(tmp_path, "follower_snapshots", DAY, followers(DAY, ("a1", 10)))
    before = path.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("disk vanished")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk vanished"):
        lake.write_partition(tmp_path, "follower_snapshots", DAY, followers(DAY, ("a1", 99)))
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert list(path.parent.iterdir()) == [path]
    assert lake.read_table(tmp_path, "follower_snapshots")["followers"].to_list() == [10]


def test_rows_of_another_day_are_refused(tmp_path: Path) -> None:
    # Filing a row under the wrong day is how re-runs delete or duplicate data.
    with pytest.raises(
        ValueError, match="follower_snapshots, partition 2026-11-20: 1 rows have snapshot_date"
    ):
        lake.write_partition(
            tmp_path, "follower_snapshots", DAY, followers(DAY + timedelta(days=1), ("a1", 1))
        )
    assert lake.partition_days(tmp_path, "follower_snapshots") == []


def test_frames_that_do_not_match_the_schema_are_refused(tmp_path: Path) -> None:
    frame = followers(DAY, ("a1", 10)).drop("posts_count").with_columns(pl.lit(1).alias("bogus"))
    with pytest.raises(ValueError, match=r"missing \['posts_count'\], unexpected \['bogus'\]"):
        lake.write_partition(tmp_path, "follower_snapshots", DAY, frame)
    with pytest.raises(ValueError, match="unknown lake table"):
        lake.write_partition(tmp_path, "../elsewhere", DAY, frame)


def test_columns_come_out_in_the_declared_order(tmp_path: Path) -> None:
    frame = followers(DAY, ("a1", 10))
    shuffled = frame.select(list(reversed(frame.columns)))
    lake.write_partition(tmp_path, "follower_snapshots", DAY, shuffled)
    assert lake.read_table(tmp_path, "follower_snapshots").columns == list(FOLLOWERS)


def test_read_table_can_pick_days_and_tolerates_an_empty_lake(tmp_path: Path) -> None:
    assert lake.read_table(tmp_path, "engagement_snapshots").schema == pl.Schema(ENGAGEMENT)
    assert lake.partition_days(tmp_path, "engagement_snapshots") == []
    for offset in range(3):
        day = DAY + timedelta(days=offset)
        lake.write_partition(tmp_path, "follower_snapshots", day, followers(day, ("a1", offset)))
    picked = lake.read_table(
        tmp_path, "follower_snapshots", days=[DAY, DAY + timedelta(days=2), date(2020, 1, 1)]
    )
    assert sorted(picked["followers"].to_list()) == [0, 2]


def test_days_written_before_a_column_existed_read_it_as_null(tmp_path: Path) -> None:
    old = followers(DAY, ("a1", 10)).drop("posts_count")
    path = lake.partition_path(tmp_path, "follower_snapshots", DAY)
    path.parent.mkdir(parents=True)
    old.write_parquet(path)
    next_day = DAY + timedelta(days=1)
    new = followers(next_day, ("a1", 11)).with_columns(pl.lit(5, pl.Int64).alias("posts_count"))
    lake.write_partition(tmp_path, "follower_snapshots", next_day, new)
    back = lake.read_table(tmp_path, "follower_snapshots").sort("snapshot_date")
    assert back["posts_count"].to_list() == [None, 5]


def test_lake_glob_matches_partition_files_only(tmp_path: Path) -> None:
    glob = lake.lake_glob(tmp_path, "posts")
    assert glob == str(tmp_path / "lake" / "posts" / "date=*" / "*.parquet")


def test_job_records_conform_to_the_collection_jobs_schema() -> None:
    record = {
        "job_id": "x-2244994945-2026-11-20-1",
        "platform": "x",
        "account_id": 2244994945,  # ids are text, even when given as numbers
        "partition_date": "2026-11-20",
        "status": "failed",
        "started_at": "2026-11-21T01:00:00+01:00",
        "finished_at": "2026-11-21T00:00:05.250000+00:00",
        "posts_collected": 0,
        "api_calls": 3,
        "retries": 2,
        "seconds_waited": 0,
        "attempt": 1,
        "error_class": "rate_limited",
        "error": "x:2244994945: rate_limited",
        "reset_at": "2026-11-21T00:15:00",
        "something_new": "ignored",
    }
    frame = jobs_frame([record])
    assert frame.schema == pl.Schema(COLLECTION_JOBS)
    row = frame.row(0, named=True)
    assert row["account_id"] == "2244994945"
    assert row["partition_date"] == DAY
    assert row["started_at"] == datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
    assert row["finished_at"] == datetime(2026, 11, 21, 0, 0, 5, 250000, tzinfo=UTC)
    assert row["reset_at"] == datetime(2026, 11, 21, 0, 15, tzinfo=UTC)  # naive means UTC
    assert row["seconds_waited"] == 0.0
    assert row["run_id"] is None
    assert jobs_frame([]).schema == pl.Schema(COLLECTION_JOBS)


def test_job_records_with_text_in_a_count_are_refused() -> None:
    with pytest.raises((TypeError, pl.exceptions.PolarsError)):
        jobs_frame([{"job_id": "j", "api_calls": "many"}])


def test_rate_limit_windows_round_trip_through_the_lake(tmp_path: Path) -> None:
    observed = datetime(2026, 11, 20, 12, 0, tzinfo=timezone(timedelta(hours=-5)))
    windows = [
        RateLimitWindow(
            "x", "/2/users/:id/tweets", 900, 899, observed + timedelta(minutes=15), observed
        ).to_record(),
        RateLimitWindow("youtube", "/youtube/v3/videos", None, None, None, observed).to_record(),
    ]
    frame = rate_limits_frame(windows)
    assert frame.columns == list(RATE_LIMITS)
    lake.write_partition(tmp_path, "rate_limits", DAY, frame)
    back = lake.read_table(tmp_path, "rate_limits")
    assert back.equals(frame)
    assert back["observed_at"].to_list()[0] == datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
    assert back.row(1, named=True)["quota_limit"] is None

"""A day is stored a platform at a time, and the lake does not show it.

`store_day` normalizes one platform, appends its rows to every table's day partition and
drops them before the next, so its memory follows the largest platform, not the day. The
partitions must hold what writing the whole day at once held, in the same order, and
appear only when every platform is done.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from social_pipeline.core import schema
from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.operations import store
from social_pipeline.operations.store import LAKE_TABLE_OF, normalize_day, store_day
from social_pipeline.storage import lake
from social_pipeline_tests import helpers
from social_pipeline_tests.helpers import Deployment

DAY = date(2026, 11, 19)


def _described(path: Path) -> list[tuple]:
    """The columns and types a reader of the file sees (DuckDB, as the warehouse reads)."""
    with duckdb.connect() as con:
        return con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()


def test_a_day_stored_a_platform_at_a_time_equals_the_day_written_whole(
    deployment: Deployment, tmp_path: Path
) -> None:
    helpers.collect_day(deployment, DAY, PLATFORMS, store=False)
    whole = normalize_day(deployment.data_dir, DAY)
    at_once = tmp_path / "at-once"
    for name, table in LAKE_TABLE_OF.items():
        lake.write_partition(at_once, table, DAY, getattr(whole, name))

    stored = store_day(deployment.data_dir, DAY)

    assert whole.posts.height and whole.engagement.height and whole.followers.height
    for name, table in LAKE_TABLE_OF.items():
        streamed = lake.read_table(deployment.data_dir, table, [DAY])
        expected = lake.read_table(at_once, table, [DAY])
        if table == "quarantine":  # no order of its own: compare as sets of rows
            streamed, expected = streamed.sort(streamed.columns), expected.sort(expected.columns)
        assert streamed.equals(expected), table
        assert _described(Path(stored.paths[table])) == _described(
            lake.partition_path(at_once, table, DAY)
        ), table
        summary = getattr(stored.frames, name)
        assert summary.height == expected.height, table
        assert summary.head.equals(expected.head(store.PREVIEW_ROWS)), table
    # One row group per platform that has posts: written as they came, never whole.
    posting = whole.posts["platform"].n_unique()
    assert pq.ParquetFile(stored.paths["posts"]).metadata.num_row_groups == posting > 1
    assert stored.frames.follower_rows.equals(whole.followers)
    assert stored.frames.duplicate_posts.is_empty()
    for table in ("collection_jobs", "rate_limits"):
        assert lake.read_table(deployment.data_dir, table, [DAY]).height > 0, table


def test_a_platform_that_fails_midway_leaves_the_previous_day_in_every_table(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    helpers.collect_day(deployment, DAY, PLATFORMS, store=True)
    before = {t: lake.partition_path(deployment.data_dir, t, DAY) for t in lake.LAKE_TABLES}
    kept = {t: path.read_bytes() for t, path in before.items()}

    normalized = []
    real = store.platform_code

    class Failing:
        def __init__(self, platform: str) -> None:
            self.platform = platform

        def normalize(self, pulls: list) -> object:
            normalized.append(self.platform)
            if self.platform == "tiktok":
                raise RuntimeError("normalizer bug")
            return real(self.platform).normalize(pulls)

    monkeypatch.setattr(store, "platform_code", Failing)
    with pytest.raises(RuntimeError, match="normalizer bug"):
        store_day(deployment.data_dir, DAY)

    assert {"facebook", "instagram", "linkedin"} <= set(normalized)  # written before it
    for table, path in before.items():
        assert path.read_bytes() == kept[table], table
        assert [p.name for p in path.parent.iterdir()] == [lake.PART_NAME], table


def test_a_day_writer_appends_pieces_and_clears_a_table_given_nothing(tmp_path: Path) -> None:
    rows = pl.DataFrame(
        {
            "snapshot_date": [DAY] * 3,
            "platform": ["x", "x", "youtube"],
            "account_id": ["1", "2", "3"],
            "followers": [10, 20, 30],
        }
    )
    rows = schema.conform(rows, schema.FOLLOWERS)
    gap = pl.DataFrame({"snapshot_date": [DAY], "platform": ["x"], "kind": ["missing_field"]})
    lake.write_partition(tmp_path, "gaps", DAY, schema.conform(gap, schema.GAPS))
    with lake.day_writer(tmp_path, DAY, ["follower_snapshots", "gaps"]) as out:
        out.append("follower_snapshots", rows.head(2))
        out.append("follower_snapshots", rows.tail(1))
        assert lake.partition_days(tmp_path, "follower_snapshots") == []  # not yet

    assert lake.read_table(tmp_path, "follower_snapshots", [DAY]).equals(rows)
    assert lake.read_table(tmp_path, "gaps", [DAY]).is_empty()
    assert set(out.paths) == {"follower_snapshots", "gaps"}


def test_a_day_writer_refuses_rows_of_another_day_and_publishes_nothing(tmp_path: Path) -> None:
    wrong = schema.conform(pl.DataFrame({"snapshot_date": [date(2026, 11, 18)]}), schema.GAPS)
    with (
        pytest.raises(ValueError, match="rows have snapshot_date"),
        lake.day_writer(tmp_path, DAY, ["gaps"]) as out,
    ):
        out.append("gaps", wrong)
    assert lake.partition_days(tmp_path, "gaps") == []
    assert not any(p.is_file() for p in (tmp_path / "lake").rglob("*"))

"""The warehouse built one changed day at a time equals one built from the whole lake.

Every build after the first reads only the days that changed (`warehouse.files/`); these
tests drive a lake through new days, re-runs that edit or drop posts, backfills of older
days, deleted partitions, carried rows and posts without a creation time, and compare
each incremental build with a build from scratch of the same lake.
"""

from __future__ import annotations

import json
import random
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from social_pipeline.core.schema import ENGAGEMENT, FOLLOWERS, POSTS, conform
from social_pipeline.storage import lake, warehouse, warehouse_files

FIRST = date(2026, 1, 25)
ACCOUNTS = [("x", "a1"), ("x", "a2"), ("youtube", "c1")]
TABLES = ["social_posts", "post_engagement_metrics", "engagement_snapshots", "follower_snapshots"]
TABLES += ["follower_metrics", "accounts", "data_gaps", "data_collection_jobs"]


def at(day: date, hour: int = 6) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def write_day(data_dir: Path, day: date, rng: random.Random, drop: float = 0.0) -> None:
    """A day of three accounts: posts of the last 20 days (some dropped), their metrics,
    a few carried metric rows without a post row, and now and then a post with no time."""
    posts, metrics, followers = [], [], []
    for platform, account in ACCOUNTS:
        followers.append(
            {"snapshot_date": day, "platform": platform, "account_id": account,
             "followers": rng.randint(100, 200), "collected_at": at(day)}
        )  # fmt: skip
        for age in range(20):
            created = day - timedelta(days=age)
            post_id = f"{account}-{created.isoformat()}"
            if rng.random() < drop:
                continue
            stamp = at(day, rng.choice([5, 6, 7]))
            carried = rng.random() < 0.1
            if not carried:
                no_time = rng.random() < 0.03
                posts.append(
                    {"snapshot_date": day, "platform": platform, "account_id": account,
                     "post_id": post_id, "created_at": None if no_time else at(created, 3),
                     "text": f"{post_id} as of {day} #{rng.randint(0, 9)}", "collected_at": stamp}
                )  # fmt: skip
            metrics.append(
                {"snapshot_date": day, "platform": platform, "account_id": account,
                 "post_id": post_id, "likes": rng.randint(0, 1000), "collected_at": stamp,
                 "read_on": day - timedelta(days=2) if carried else day}
            )  # fmt: skip
    lake.write_partition(data_dir, "posts", day, conform(pl.DataFrame(posts), POSTS))
    lake.write_partition(
        data_dir, "engagement_snapshots", day, conform(pl.DataFrame(metrics), ENGAGEMENT)
    )
    lake.write_partition(
        data_dir, "follower_snapshots", day, conform(pl.DataFrame(followers), FOLLOWERS)
    )


def tables(data_dir: Path) -> dict[str, list[tuple]]:
    con = warehouse.connect_readonly(data_dir)
    try:
        return {t: sorted(con.sql(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in TABLES}
    finally:
        con.close()


def from_scratch(data_dir: Path, scratch: Path) -> dict[str, list[tuple]]:
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(data_dir / "lake", scratch / "lake")
    warehouse.build_warehouse(scratch)
    return tables(scratch)


def state(data_dir: Path) -> dict:
    return json.loads((data_dir / "warehouse.files" / "state.json").read_text())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_incremental_build_equals_a_build_from_scratch(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    data_dir, scratch = tmp_path / "data", tmp_path / "scratch"
    days = [FIRST + timedelta(days=i) for i in range(3)]
    for day in days:
        write_day(data_dir, day, rng)
    warehouse.build_warehouse(data_dir)
    assert tables(data_dir) == from_scratch(data_dir, scratch)
    for step in range(12):
        action = rng.choice(["next day", "next day", "rerun newest", "rerun older", "delete"])
        if action == "next day":
            days.append(days[-1] + timedelta(days=1))
            write_day(data_dir, days[-1], rng)
        elif action == "rerun newest":  # an hourly re-run: edits, and posts gone
            write_day(data_dir, days[-1], rng, drop=0.3)
        elif action == "rerun older":  # a backfill of an older day
            write_day(data_dir, rng.choice(days[:-1]), rng, drop=0.3)
        elif len(days) > 2:  # a partition removed by hand
            gone = days.pop(rng.randrange(len(days) - 1))
            for table in ("posts", "engagement_snapshots", "follower_snapshots"):
                shutil.rmtree(lake.partition_path(data_dir, table, gone).parent)
        warehouse.build_warehouse(data_dir)
        assert tables(data_dir) == from_scratch(data_dir, scratch), f"step {step}: {action}"


def test_a_new_day_rewrites_only_the_months_its_posts_belong_to(tmp_path: Path) -> None:
    rng = random.Random(7)
    days = [FIRST + timedelta(days=i) for i in range(40)]  # January into March
    for day in days:
        write_day(tmp_path, day, rng)
    warehouse.build_warehouse(tmp_path)
    before = state(tmp_path)["latest"]["social_posts"]
    assert sorted(before) == ["2026-01", "2026-02", "2026-03", "none"]
    write_day(tmp_path, days[-1] + timedelta(days=1), rng)
    warehouse.build_warehouse(tmp_path)
    after = state(tmp_path)["latest"]["social_posts"]
    # The new day's posts were created in the last 20 days: February and March only.
    assert after["2026-01"] == before["2026-01"]
    assert after["2026-02"] != before["2026-02"] and after["2026-03"] != before["2026-03"]
    # The older days were linked once; the new build linked only the new day.
    lake_files = state(tmp_path)["lake"]["posts"]
    assert len(lake_files) == 41 and len({file for _, file, _ in lake_files.values()}) == 41


def test_an_analyst_reading_an_older_build_keeps_its_files_until_they_expire(
    tmp_path: Path,
) -> None:
    rng = random.Random(3)
    write_day(tmp_path, FIRST, rng)
    warehouse.build_warehouse(tmp_path)
    first = warehouse_files.referenced(warehouse_files.load_state(tmp_path / "warehouse.files"))
    write_day(tmp_path, FIRST, rng, drop=0.5)  # re-run: new lake file, new month files
    warehouse.build_warehouse(tmp_path)
    folder = tmp_path / "warehouse.files"
    current = warehouse_files.load_state(folder)
    retired = first - warehouse_files.referenced(current)
    assert retired and all((folder / name).is_file() for name in retired)
    # Past the retention, the next build deletes them, and only them.
    later = max(current.retired.values()) + warehouse_files.RETAIN_SECONDS
    assert warehouse_files.sweep(folder, current, None, now=later) == len(retired)
    assert not any((folder / name).exists() for name in retired)
    assert all((folder / name).is_file() for name in warehouse_files.referenced(current))


def test_a_lost_state_or_files_folder_starts_afresh(tmp_path: Path) -> None:
    rng = random.Random(5)
    for i in range(3):
        write_day(tmp_path, FIRST + timedelta(days=i), rng)
    warehouse.build_warehouse(tmp_path)
    expected = tables(tmp_path)
    shutil.rmtree(tmp_path / "warehouse.files" / "latest")  # the state now names missing files
    warehouse.build_warehouse(tmp_path)
    assert tables(tmp_path) == expected
    (tmp_path / "warehouse.files" / "state.json").write_text("{not json")
    warehouse.build_warehouse(tmp_path)
    assert tables(tmp_path) == expected

"""The warehouse built one changed day at a time equals one built from the whole lake.

Every build after the first reads only the days that changed (`warehouse.files/`); these
tests drive a lake through new days, re-runs that edit or drop posts, backfills of older
days (gathered months included), deleted partitions, carried rows, posts without a
creation time, profiles that come and go, and rate-limit windows observed at the same
moment, and compare each incremental build with a build from scratch of the same lake.
"""

from __future__ import annotations

import json
import random
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from social_pipeline.core.schema import ENGAGEMENT, FOLLOWERS, POSTS, conform
from social_pipeline.storage import lake, warehouse, warehouse_files
from social_pipeline.storage.lake_records import jobs_frame, rate_limits_frame

FIRST = date(2026, 1, 25)
ACCOUNTS = [("x", "a1"), ("x", "a2"), ("youtube", "c1")]
TABLES = ["social_posts", "post_engagement_metrics", "engagement_snapshots", "follower_snapshots"]
TABLES += ["follower_metrics", "accounts", "data_gaps", "data_collection_jobs", "api_rate_limits"]
DAY_TABLES = ("posts", "engagement_snapshots", "follower_snapshots")
DAY_TABLES += ("collection_jobs", "rate_limits")
# An account only collection jobs know of (its profile reads all failed).
JOBS_ONLY = ("tiktok", "t1")


def at(day: date, hour: int = 6) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def write_day(data_dir: Path, day: date, rng: random.Random, drop: float = 0.0) -> None:
    """A day of three accounts: posts of the last 20 days (some dropped), their metrics,
    a few carried metric rows without a post row, and now and then a post with no time;
    profiles whose fields are sometimes missing, collection jobs, and rate-limit windows."""
    posts, metrics, followers = [], [], []
    for platform, account in ACCOUNTS:
        followers.append(
            {"snapshot_date": day, "platform": platform, "account_id": account,
             "followers": rng.randint(100, 200), "collected_at": at(day),
             "handle": rng.choice([None, account, f"{account}_{day.month}"]),
             "display_name": rng.choice([None, f"{account} {rng.randint(0, 3)}"]),
             "profile_url": rng.choice([None, None, f"https://example.com/{account}/{day}"])}
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
    jobs = [
        {"job_id": f"{account}-{day}-{attempt}", "platform": platform, "account_id": account,
         "partition_date": day, "status": rng.choice(["success", "failed"]),
         "started_at": at(day, 4 + attempt),
         "finished_at": None if rng.random() < 0.2 else at(day, 5 + attempt)}
        for platform, account in [*ACCOUNTS, *([JOBS_ONLY] if rng.random() < 0.3 else [])]
        for attempt in range(rng.randint(1, 2))
    ]  # fmt: skip
    lake.write_partition(data_dir, "collection_jobs", day, jobs_frame(jobs))
    # Two observations per window a day; a stale window may be observed again on a later
    # day at the very same moment, so the later day's row must win the tie.
    windows = [
        {"platform": platform, "endpoint": endpoint, "scope": scope,
         "account_id": account if scope == "user" else None,
         "remaining": rng.randint(0, 100), "reset_at": at(day, 9),
         "observed_at": rng.choice([at(day, 5), at(day, 6), at(FIRST), None])}
        for platform, account in ACCOUNTS
        for endpoint in ("timeline", "users")
        for scope in ("app", "user")
        for _ in range(2)
    ]  # fmt: skip
    lake.write_partition(data_dir, "rate_limits", day, rate_limits_frame(windows))


def tables(data_dir: Path) -> dict[str, list[tuple]]:
    con = warehouse.connect_readonly(data_dir)
    try:
        return {t: sorted(con.sql(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in TABLES}
    finally:
        con.close()


# The build's own, before a test replaces it.
build_sources = warehouse._sources


def whole_history_sources(*args: Any) -> dict[str, str]:
    """The build's sources, but each `{summary_<t>}` reading the whole history: what the
    per-account tables must equal, rather than what the month summaries make of them."""
    sources = build_sources(*args)
    summaries = [name for name in sources if name.startswith("summary_")]
    return sources | {name: sources[name.replace("summary_", "lake_", 1)] for name in summaries}


def from_scratch(data_dir: Path, scratch: Path) -> dict[str, list[tuple]]:
    """The tables of a build from scratch of the same lake, over the whole history."""
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(data_dir / "lake", scratch / "lake")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(warehouse, "_sources", whole_history_sources)
        warehouse.build_warehouse(scratch)
    return tables(scratch)


def state(data_dir: Path) -> dict:
    return json.loads((data_dir / "warehouse.files" / "state.json").read_text())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_incremental_build_equals_a_build_from_scratch(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    data_dir, scratch = tmp_path / "data", tmp_path / "scratch"
    days = [FIRST + timedelta(days=i) for i in range(8)]  # January is gathered from the start
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
            for table in DAY_TABLES:
                shutil.rmtree(lake.partition_path(data_dir, table, gone).parent)
        built = warehouse.build_warehouse(data_dir)
        found = tables(data_dir)
        assert found == from_scratch(data_dir, scratch), f"step {step}: {action}"
        # Views over files are counted from the footers read when each file was made.
        assert {t: built.row_counts[t] for t in TABLES} == {t: len(r) for t, r in found.items()}
    gathered = state(data_dir)["history"]
    assert all("2026-01" in gathered[table] for table in DAY_TABLES)


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
    assert len(lake_files) == 41 and len({entry[1] for entry in lake_files.values()}) == 41


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


def test_a_backfill_into_a_gathered_month_reaches_the_per_account_tables(tmp_path: Path) -> None:
    rng = random.Random(11)
    data_dir, scratch = tmp_path / "data", tmp_path / "scratch"
    days = [FIRST + timedelta(days=i) for i in range(10)]  # January, then February
    for day in days:
        write_day(data_dir, day, rng)
    warehouse.build_warehouse(data_dir)
    folder = data_dir / "warehouse.files"
    before = state(data_dir)["history"]
    for table in ("follower_snapshots", "collection_jobs", "rate_limits"):
        _, _, rows, summary = before[table]["2026-01"]
        assert 0 < pl.read_parquet(folder / summary).height < rows

    # A January day re-run with an account (and a quota window) no later day has.
    backfilled = date(2026, 1, 28)
    old = {"platform": "x", "account_id": "old"}
    path = lake.partition_path(data_dir, "follower_snapshots", backfilled)
    follower_row = {"snapshot_date": backfilled, "followers": 7, "handle": "old_h", **old}
    followers = pl.concat([pl.read_parquet(path), conform(pl.DataFrame([follower_row]), FOLLOWERS)])
    lake.write_partition(data_dir, "follower_snapshots", backfilled, followers)
    path = lake.partition_path(data_dir, "rate_limits", backfilled)
    window = {"endpoint": "search", "scope": "user", "remaining": 3, "observed_at": at(backfilled)}
    windows = pl.concat([pl.read_parquet(path), rate_limits_frame([{**window, **old}])])
    lake.write_partition(data_dir, "rate_limits", backfilled, windows)
    warehouse.build_warehouse(data_dir)

    after = state(data_dir)["history"]
    assert after["follower_snapshots"]["2026-01"][3] != before["follower_snapshots"]["2026-01"][3]
    assert after["collection_jobs"]["2026-01"] == before["collection_jobs"]["2026-01"]
    con = warehouse.connect_readonly(data_dir)
    try:
        found = {
            name: con.sql(f"SELECT * FROM {name} WHERE account_id = 'old'").fetchall()
            for name in ("accounts", "follower_metrics", "api_rate_limits")
        }
        incremental = {
            name: sorted(con.sql(f"SELECT * FROM {name}").fetchall(), key=repr)
            for name in ("accounts", "follower_metrics", "api_rate_limits")
        }
    finally:
        con.close()
    assert found["accounts"] == [("x", "old", None, "old_h", None, None, False, backfilled)]
    assert [row[:4] for row in found["follower_metrics"]] == [(backfilled, "x", "old", 7)]
    assert [row[:6] for row in found["api_rate_limits"]] == [
        ("x", "search", "user", "old", None, 3)
    ]
    scratch_tables = from_scratch(data_dir, scratch)
    assert incremental == {name: scratch_tables[name] for name in incremental}


def test_a_post_gone_from_the_newer_of_two_changed_days_takes_the_unchanged_day_between(
    tmp_path: Path,
) -> None:
    rng = random.Random(10)
    data_dir, scratch = tmp_path / "data", tmp_path / "scratch"
    days = [FIRST + timedelta(days=i) for i in range(5)]
    for day in days:
        write_day(data_dir, day, rng)
    warehouse.build_warehouse(data_dir)
    # One build sees two days re-run: the newest without a post, an older one with it.
    gone = f"a1-{FIRST.isoformat()}"
    for table in ("posts", "engagement_snapshots"):
        for day in (days[1], days[-1]):
            frame = pl.read_parquet(lake.partition_path(data_dir, table, day))
            kept = frame.filter(pl.col("post_id") != gone) if day == days[-1] else frame
            lake.write_partition(data_dir, table, day, kept)
    warehouse.build_warehouse(data_dir)
    con = warehouse.connect_readonly(data_dir)
    try:
        newest = [
            con.sql(f"SELECT snapshot_date FROM {t} WHERE post_id = '{gone}'").fetchall()
            for t in ("social_posts", "post_engagement_metrics")
        ]
    finally:
        con.close()
    assert newest == [[(days[-2],)], [(days[-2],)]]  # the unchanged day between the two
    assert tables(data_dir) == from_scratch(data_dir, scratch)


def test_the_newest_months_past_weeks_are_gathered_and_a_backfill_rewrites_its_week(
    tmp_path: Path,
) -> None:
    rng = random.Random(12)
    data_dir, scratch = tmp_path / "data", tmp_path / "scratch"
    last = date(2026, 2, 20)
    days = [FIRST + timedelta(days=i) for i in range((last - FIRST).days + 1)]
    for day in days:
        write_day(data_dir, day, rng)
    warehouse.build_warehouse(data_dir)
    before = state(data_dir)["history"]
    # January whole, February's weeks 1 and 2; the 15th to the 20th stay as day files.
    for table in DAY_TABLES:
        assert sorted(before[table]) == ["2026-01", "2026-02-w1", "2026-02-w2"]
    assert sorted(before["posts"]["2026-02-w2"][1]) == [f"2026-02-{d:02d}" for d in range(8, 15)]

    write_day(data_dir, date(2026, 2, 3), rng, drop=0.3)  # a backfill into week 1
    warehouse.build_warehouse(data_dir)
    after = state(data_dir)["history"]
    assert after["posts"]["2026-02-w1"] != before["posts"]["2026-02-w1"]
    assert after["posts"]["2026-02-w2"] == before["posts"]["2026-02-w2"]
    assert after["posts"]["2026-01"] == before["posts"]["2026-01"]
    assert tables(data_dir) == from_scratch(data_dir, scratch)

    # Once March starts, February is one file again.
    write_day(data_dir, date(2026, 3, 1), rng)
    warehouse.build_warehouse(data_dir)
    assert sorted(state(data_dir)["history"]["posts"]) == ["2026-01", "2026-02"]
    assert tables(data_dir) == from_scratch(data_dir, scratch)

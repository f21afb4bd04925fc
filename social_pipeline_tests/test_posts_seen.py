"""Earlier posts from the rolling index a stored day leaves, or from the lake when stale.

Every answer is checked against the earlier posts read straight from the lake's posts
partitions, which is what the index stands in for.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from social_pipeline.core.schema import POSTS, conform
from social_pipeline.storage import lake, posts_seen
from social_pipeline.storage.objects import store_at
from social_pipeline.storage.posts_seen import PostsSeen
from social_pipeline_tests.s3_server import fresh_bucket

FIRST = date(2026, 3, 1)


def posts_of(day: date, rng: random.Random, drop: float = 0.0) -> pl.DataFrame:
    """Posts of two accounts created in the 10 days up to `day`, some not listed."""
    rows = []
    for platform, account in (("x", "a1"), ("youtube", "c1")):
        for age in range(10):
            created = day - timedelta(days=age)
            if rng.random() < drop:
                continue
            rows.append(
                {"snapshot_date": day, "platform": platform, "account_id": account,
                 "post_id": f"{account}-{created}", "text": f"{rng.random()}",
                 "created_at": datetime(created.year, created.month, created.day, rng.randint(0, 23), tzinfo=UTC),
                 "collected_at": datetime(day.year, day.month, day.day, 6, tzinfo=UTC)}
            )  # fmt: skip
    return conform(pl.DataFrame(rows), POSTS)


@pytest.fixture(params=["local", "s3"])
def location(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A data root: a folder, or a fresh bucket on the loopback S3 server."""
    return fresh_bucket(monkeypatch) if request.param == "s3" else str(tmp_path / "data")


def store(data: Path | str, day: date, rng: random.Random, drop: float = 0.0) -> None:
    """What `store_day` does for posts: read the earlier ones, write the day, record it."""
    seen = PostsSeen(data)
    for platform in ("x", "youtube"):
        seen.of(platform, day - timedelta(days=9), day)
    frame = posts_of(day, rng, drop)
    lake.write_partition(data, "posts", day, frame)
    version = next(p.version for p in lake.partitions(data, "posts") if p.day == day)
    seen.record(day, [frame.filter(pl.col("platform") == p) for p in ("x", "youtube")], version)


def from_lake(data: Path | str, platform: str, since: date, day: date) -> list[tuple]:
    """The answer straight from the partitions."""
    days = [d for d in lake.partition_days(data, "posts") if since <= d < day]
    rows = lake.read_table(data, "posts", days, posts_seen.seen_rows)
    return sorted(rows.filter(pl.col("platform") == platform).rows())


def earlier(data: Path | str, platform: str, since: date, day: date) -> list[tuple]:
    found = PostsSeen(data).of(platform, since, day).select(list(posts_seen.COLUMNS))
    return sorted(found.rows())


def test_the_next_day_reads_the_index_and_gets_what_the_lake_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(1)
    for i in range(12):
        store(tmp_path, FIRST + timedelta(days=i), rng, drop=0.2)
    day = FIRST + timedelta(days=12)
    expected = {p: from_lake(tmp_path, p, day - timedelta(days=9), day) for p in ("x", "youtube")}
    assert expected["x"] and expected["youtube"]
    monkeypatch.setattr(lake, "read_table", lambda *a, **k: pytest.fail("read the partitions"))
    for platform in ("x", "youtube"):
        assert earlier(tmp_path, platform, day - timedelta(days=9), day) == expected[platform]
    # A shorter window is a subset of the index too.
    since = day - timedelta(days=3)
    found = earlier(tmp_path, "x", since, day)
    assert found and all(row[-1] >= since for row in found)


@pytest.mark.parametrize("change", ["rerun an earlier day", "delete an earlier day"])
def test_a_changed_day_in_the_window_makes_the_index_stale(tmp_path: Path, change: str) -> None:
    rng = random.Random(2)
    for i in range(8):
        store(tmp_path, FIRST + timedelta(days=i), rng)
    day = FIRST + timedelta(days=8)
    changed = FIRST + timedelta(days=6)
    before = earlier(tmp_path, "x", day - timedelta(days=9), day)
    if change == "rerun an earlier day":  # the day's posts change; the index still has the old
        lake.write_partition(tmp_path, "posts", changed, posts_of(changed, rng, drop=0.5))
    else:
        (lake.partition_path(tmp_path, "posts", changed)).unlink()
    after = earlier(tmp_path, "x", day - timedelta(days=9), day)
    assert after == from_lake(tmp_path, "x", day - timedelta(days=9), day)
    assert after != before


def test_a_window_reaching_before_the_index_reads_the_lake(tmp_path: Path) -> None:
    rng = random.Random(3)
    for i in range(12):
        store(tmp_path, FIRST + timedelta(days=i), rng)
    day = FIRST + timedelta(days=12)
    since = day - timedelta(days=11)  # the index covers 9 days before each stored day
    assert earlier(tmp_path, "x", since, day) == from_lake(tmp_path, "x", since, day)


def test_daily_runs_and_their_re_runs_never_read_earlier_partitions(location: str) -> None:
    rng = random.Random(4)
    day = FIRST + timedelta(days=10)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lake, "read_table", lambda *a, **k: pytest.fail("read the partitions"))
        for i in range(10):
            store(location, FIRST + timedelta(days=i), rng)
            store(location, FIRST + timedelta(days=i), rng, drop=0.3)  # an hourly re-run
        found = earlier(location, "x", day - timedelta(days=9), day)
    assert found == from_lake(location, "x", day - timedelta(days=9), day)


def test_an_unreadable_index_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(5)
    for i in range(4):
        store(tmp_path, FIRST + timedelta(days=i), rng)
    day = FIRST + timedelta(days=4)
    newest = tmp_path / posts_seen.index_key(day - timedelta(days=1))
    newest.write_bytes(b"not parquet")
    with caplog.at_level(logging.WARNING, logger=posts_seen.__name__):
        found = earlier(tmp_path, "youtube", day - timedelta(days=9), day)
    assert found == from_lake(tmp_path, "youtube", day - timedelta(days=9), day)
    assert "unreadable" in caplog.text and str(day - timedelta(days=1)) in caplog.text


def test_only_the_newest_indexes_are_kept(location: str) -> None:
    rng = random.Random(6)
    for i in range(7):
        store(location, FIRST + timedelta(days=i), rng)
    keys = [info.key for info in store_at(location).list(posts_seen.PREFIX)]
    kept = [FIRST + timedelta(days=i) for i in (4, 5, 6)]
    assert keys == [posts_seen.index_key(d) for d in kept]
    # The lake's tables never list the index.
    assert lake.partition_days(location, "posts") == [FIRST + timedelta(days=i) for i in range(7)]


def test_a_platform_without_posts_today_keeps_its_earlier_posts_in_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(7)
    for i in range(5):
        store(tmp_path, FIRST + timedelta(days=i), rng)
    day = FIRST + timedelta(days=5)
    seen = PostsSeen(tmp_path)
    seen.of("x", day - timedelta(days=9), day)
    frame = posts_of(day, rng).filter(pl.col("platform") == "x")  # YouTube listed nothing
    lake.write_partition(tmp_path, "posts", day, frame)
    version = next(p.version for p in lake.partitions(tmp_path, "posts") if p.day == day)
    seen.record(day, [frame], version)
    after = day + timedelta(days=1)
    expected = from_lake(tmp_path, "youtube", after - timedelta(days=9), after)
    assert expected
    with monkeypatch.context() as patch:
        patch.setattr(lake, "read_table", lambda *a, **k: pytest.fail("read the partitions"))
        found = earlier(tmp_path, "youtube", after - timedelta(days=9), after)
    assert found == expected

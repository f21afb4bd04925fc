"""Past one machine: SOCIAL_PIPELINE_DATA_DIR=s3://bucket/prefix on a real S3-compatible
server (moto, started by the tests), with the warehouse built locally from it.

The same sandbox day is collected into a local folder and into the bucket: the warehouse
must come out the same, nothing may be left on the local disk but the warehouse, and no
token may reach the bucket.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from social_pipeline.storage.objects import store_at
from social_pipeline_tests.helpers import Deployment, deployed
from social_pipeline_tests.postgres_server import Postgres
from social_pipeline_tests.s3_server import fresh_bucket, shared_s3_server
from social_pipeline_tests.test_pipeline import READ_TIMES, TABLES

DAY1, DAY2 = date(2026, 11, 19), date(2026, 11, 20)


@pytest.fixture
def local_and_s3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Deployment, str]]:
    with deployed(tmp_path, monkeypatch) as d:
        yield d, fresh_bucket(monkeypatch)


# Each collection is its own job and run, and spends the emulator's quota again.
PER_RUN = (*READ_TIMES, "job_id", "run_id", "remaining")


def _tables(d: Deployment) -> dict[str, pl.DataFrame]:
    frames = {t: d.table(f'SELECT * FROM "{t}"') for t in TABLES}
    frames = {t: f.drop([c for c in PER_RUN if c in f.columns]) for t, f in frames.items()}
    return {t: f.sort(f.columns) for t, f in frames.items()}


def _to_bucket(d: Deployment, url: str, monkeypatch: pytest.MonkeyPatch, home: Path) -> Deployment:
    warehouse = home / "warehouse" / "agency.duckdb"
    monkeypatch.setenv("SOCIAL_PIPELINE_DATA_DIR", url)
    monkeypatch.setenv("SOCIAL_PIPELINE_WAREHOUSE", str(warehouse))
    return dataclasses.replace(d, data_dir=warehouse)


def _bucket_objects(url: str) -> dict[str, bytes]:
    store = store_at(url)
    found = {}
    for info in store.list(""):
        data = store.get(info.key) or b""
        found[info.key] = gzip.decompress(data) if info.key.endswith(".gz") else data
    return found


def test_a_day_in_object_storage_gives_the_warehouse_a_local_day_gives(
    local_and_s3: tuple[Deployment, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    local, url = local_and_s3
    local.clock.morning_after(DAY1)
    assert local.materialize(DAY1).success
    expected = _tables(local)

    remote = _to_bucket(local, url, monkeypatch, tmp_path / "elsewhere")
    remote.clock.morning_after(DAY1)
    assert remote.materialize(DAY1).success
    got = _tables(remote)
    for table in TABLES:
        assert got[table].equals(expected[table]), table
    assert got["social_posts"].height > 0

    objects = _bucket_objects(url)
    prefixes = {key.split("/")[0] for key in objects}
    assert {"raw", "lake"} <= prefixes
    assert any(k.startswith("raw/x/date=2026-11-19/_jobs/") for k in objects)
    assert any(k == "lake/posts/date=2026-11-19/part-0.parquet" for k in objects)
    # Only the warehouse and its files are on this machine.
    local_files = {
        p.relative_to(tmp_path / "elsewhere").parts[:2]
        for p in (tmp_path / "elsewhere").rglob("*")
        if p.is_file()
    }
    assert {parts[0] for parts in local_files} == {"warehouse"}
    # No token in any object, pages decompressed.
    leaked = [
        k for k, data in objects.items() if any(t.encode() in data for t in local.tokens.values())
    ]
    assert leaked == []


def test_a_rerun_in_object_storage_is_idempotent_and_a_second_day_adds_only_its_own(
    local_and_s3: tuple[Deployment, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    local, url = local_and_s3
    d = _to_bucket(local, url, monkeypatch, tmp_path / "elsewhere")
    d.clock.morning_after(DAY1)
    assert d.materialize(DAY1).success
    first = _tables(d)
    d.clock.morning_after(DAY2)
    assert d.materialize(DAY2).success
    d.clock.morning_after(DAY1)
    assert d.materialize(DAY1).success  # re-collect day one: same rows, one more attempt
    again = _tables(d)
    for table in ("social_posts", "follower_snapshots", "engagement_snapshots"):
        days = (
            again[table].filter(pl.col("snapshot_date") == DAY1)
            if "snapshot_date" in again[table].columns
            else again[table]
        )
        assert days.height > 0
    one = again["follower_snapshots"].filter(pl.col("snapshot_date") == DAY1)
    assert one.equals(first["follower_snapshots"]), "re-running day one changed its followers"
    counts = again["follower_snapshots"].group_by("snapshot_date").len().sort("snapshot_date")
    assert counts["len"].to_list() == [12, 12]
    attempts = d.table(
        "SELECT attempt FROM data_collection_jobs WHERE partition_date = DATE '2026-11-19'"
    )
    assert sorted(attempts["attempt"].to_list()) == [1] * 12 + [2] * 12


def test_the_store_reports_which_object_it_could_not_write(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = fresh_bucket(monkeypatch)
    shared_s3_server().client().delete_bucket(Bucket=url.split("/")[2])
    from social_pipeline.core.schema import FOLLOWERS
    from social_pipeline.storage import lake

    with pytest.raises(
        Exception,
        match=r"s3://test-bucket-.*/data/lake/follower_snapshots/date=2026-11-19/part-0.parquet",
    ):
        lake.write_partition(url, "follower_snapshots", DAY1, pl.DataFrame(schema=FOLLOWERS))


@pytest.mark.postgres
def test_a_day_on_postgres_with_the_data_in_object_storage(
    local_and_s3: tuple[Deployment, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    postgres: Postgres,
    postgres_home: Path,
) -> None:
    """The whole deployment past one machine: Dagster's state in Postgres, the data in S3."""
    local, url = local_and_s3
    with dg.DagsterInstance.from_config(str(postgres_home)) as instance:
        d = dataclasses.replace(
            _to_bucket(local, url, monkeypatch, tmp_path / "worker"), instance=instance
        )
        d.clock.morning_after(DAY1)
        result = d.materialize(DAY1)
        assert result.success
    assert d.table("SELECT count(*) AS n FROM follower_snapshots")["n"][0] == 12
    assert set(d.table("SELECT status FROM data_collection_jobs")["status"]) == {"success"}
    posts = d.table("SELECT count(*) AS n FROM social_posts")["n"][0]
    lake = store_at(url).get("lake/posts/date=2026-11-19/part-0.parquet")
    assert lake is not None and pl.read_parquet(io.BytesIO(lake)).height == posts > 0


WRITER = """
import sys
from datetime import date, datetime, timedelta, UTC
import polars as pl
from social_pipeline.core.schema import FOLLOWERS, conform
from social_pipeline.storage import lake, raw
url, day, name = sys.argv[1], date.fromisoformat(sys.argv[2]), sys.argv[3]
now = datetime.now(UTC)
for n in range(8):
    window = {"platform": "x", "endpoint": f"/2/{name}/{n}", "scope": "app", "quota_limit": 900,
              "remaining": 10, "reset_at": (now + timedelta(minutes=15)).isoformat(),
              "observed_at": now.isoformat()}
    raw.write_rate_limits(url, "x", day, [window])
    rows = [{"snapshot_date": day, "platform": "x", "account_id": name, "followers": n}]
    lake.write_partition(url, "follower_snapshots", day, conform(pl.DataFrame(rows), FOLLOWERS))
"""


def test_two_runs_of_different_days_writing_at_once_lose_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each day's partitions are whole objects of their own; the one object both runs
    update (the platform's latest rate-limit windows) takes conditional writes."""
    url = fresh_bucket(monkeypatch)
    runs = [
        subprocess.Popen([sys.executable, "-c", WRITER, url, day.isoformat(), name])
        for day, name in ((DAY1, "one"), (DAY2, "two"))
    ]
    assert [run.wait(timeout=120) for run in runs] == [0, 0]
    from social_pipeline.storage import lake, raw

    recent = {w["endpoint"] for w in raw.recent_rate_limits(url, "x")}
    assert recent == {f"/2/{name}/{n}" for name in ("one", "two") for n in range(8)}
    followers = lake.read_table(url, "follower_snapshots").sort("snapshot_date")
    assert followers.select("snapshot_date", "account_id", "followers").rows() == [
        (DAY1, "one", 7),
        (DAY2, "two", 7),
    ]

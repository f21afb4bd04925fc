"""What one sandbox collection day costs on one machine and past one machine, printed.

    .venv/bin/python scripts/benchmark_deployment.py [--repeat N, default 1]

Runs, in one invocation, the same sandbox days (the default emulator: 12 accounts over
the six platforms) through `dg.materialize` in two deployments:
- local: the SQLite test Dagster instance (`dg.instance_for_test()`), data in a folder;
- postgres+s3: the instance from deploy/dagster-postgres.yaml on a real PostgreSQL 15,
  the data in a bucket of a moto S3 server, the warehouse in a local DuckDB file.

Each deployment times opening its instance (on Postgres that creates Dagster's schema),
day 1 (its first run), day 2 and a re-run of day 1. With `--repeat N` the day-2 column
is the median of N new days (day 2, day 3, ...): re-collecting a day is what the re-run
column measures. One uncounted local day runs first, so imports and first loads weigh
on neither column. The script starts and stops its own Postgres, moto and emulators.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # social_pipeline_tests is not installed, only importable here

from social_pipeline.core.settings import START_DATE_ENV  # noqa: E402
from social_pipeline_tests.helpers import Deployment, deployed  # noqa: E402
from social_pipeline_tests.postgres_server import Postgres, running_postgres  # noqa: E402
from social_pipeline_tests.s3_server import fresh_bucket, shared_s3_server  # noqa: E402

DAY1 = date(2026, 11, 19)
DEPLOY_YAML = ROOT / "deploy" / "dagster-postgres.yaml"
# Console logs of every step would time the terminal; both deployments store all events.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class Timings:
    name: str
    instance: float = 0.0
    day1: float = 0.0
    day2: list[float] = field(default_factory=list)
    rerun: float = 0.0
    accounts: dict[date, int] = field(default_factory=dict)


def timed_day(d: Deployment, day: date) -> float:
    d.clock.morning_after(day)
    start = time.perf_counter()
    result = d.materialize(day, run_config=QUIET)
    elapsed = time.perf_counter() - start
    if not result.success:
        raise SystemExit(f"materializing {day} failed in {d.data_dir}")
    return elapsed


def run_days(d: Deployment, timings: Timings, repeat: int) -> None:
    timings.day1 = timed_day(d, DAY1)
    days = [DAY1 + timedelta(days=n) for n in range(1, repeat + 1)]
    timings.day2 = [timed_day(d, day) for day in days]
    timings.rerun = timed_day(d, DAY1)
    counts = d.table(
        "SELECT snapshot_date, count(DISTINCT (platform, account_id)) AS n "
        "FROM follower_snapshots GROUP BY snapshot_date"
    )
    timings.accounts = dict(zip(counts["snapshot_date"], counts["n"], strict=True))


@contextlib.contextmanager
def timed_instance(
    timings: Timings, open_instance: Callable[[], contextlib.AbstractContextManager]
) -> Iterator[dg.DagsterInstance]:
    start = time.perf_counter()
    with open_instance() as instance:
        timings.instance = time.perf_counter() - start
        yield instance


def local(work: Path, repeat: int) -> Timings:
    timings = Timings("local")
    monkeypatch = pytest.MonkeyPatch()
    try:
        with (
            deployed(work, monkeypatch) as d,
            timed_instance(timings, dg.instance_for_test) as instance,
        ):
            run_days(dataclasses.replace(d, instance=instance), timings, repeat)
    finally:
        monkeypatch.undo()
    return timings


def postgres_s3(work: Path, pg: Postgres, repeat: int) -> tuple[Timings, str]:
    timings = Timings("postgres+s3")
    monkeypatch = pytest.MonkeyPatch()
    try:
        with deployed(work, monkeypatch) as d:
            home = work / "dagster_home"
            home.mkdir()
            shutil.copy(DEPLOY_YAML, home / "dagster.yaml")
            monkeypatch.setenv("SOCIAL_PIPELINE_POSTGRES_URL", pg.create_database("benchmark"))
            monkeypatch.setenv("DAGSTER_HOME", str(home))
            url = fresh_bucket(monkeypatch)
            warehouse = work / "warehouse" / "warehouse.duckdb"
            monkeypatch.setenv("SOCIAL_PIPELINE_DATA_DIR", url)
            monkeypatch.setenv("SOCIAL_PIPELINE_WAREHOUSE", str(warehouse))

            def open_instance() -> dg.DagsterInstance:
                return dg.DagsterInstance.from_config(str(home))

            with timed_instance(timings, open_instance) as instance:
                remote = dataclasses.replace(d, instance=instance, data_dir=warehouse)
                run_days(remote, timings, repeat)
    finally:
        monkeypatch.undo()
    return timings, url.split("/")[2]


def warm_up(work: Path) -> None:
    monkeypatch = pytest.MonkeyPatch()
    try:
        with deployed(work, monkeypatch) as d:
            timed_day(d, DAY1)
    finally:
        monkeypatch.undo()


def bucket_contents(bucket: str) -> tuple[int, int]:
    pages = shared_s3_server().client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    sizes = [obj["Size"] for page in pages for obj in page.get("Contents", [])]
    return len(sizes), sum(sizes)


def report(runs: list[Timings], repeat: int, bucket: tuple[int, int]) -> None:
    day2 = "day 2" if repeat == 1 else f"day 2 (median of {repeat})"
    print(f"{'deployment':<12} {'instance':>9} {'day 1 (first)':>14} {day2:>22} {'re-run':>8}")
    for t in runs:
        print(
            f"{t.name:<12} {t.instance:>8.2f}s {t.day1:>13.2f}s "
            f"{statistics.median(t.day2):>21.2f}s {t.rerun:>7.2f}s"
        )
    local, remote = runs
    print(
        f"ratio postgres+s3 / local: day 2 "
        f"{statistics.median(remote.day2) / statistics.median(local.day2):.2f}x, "
        f"re-run {remote.rerun / local.rerun:.2f}x, "
        f"day 1 (first) {remote.day1 / local.day1:.2f}x"
    )
    if repeat > 1:
        for t in runs:
            print(f"{t.name} day-2 runs: " + ", ".join(f"{s:.2f}s" for s in t.day2))
    objects, size = bucket
    print(f"bucket after the runs: {objects} objects, {size / 1e6:.2f} MB")
    for t in runs:
        counted = ", ".join(f"{day}: {n}" for day, n in sorted(t.accounts.items()))
        print(f"accounts collected ({t.name}), per day: {counted}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="new days timed for day 2")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    # `selection="*"` in the shared helper warns on every run; the warning is not ours.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    # The default first partition is a week before today; the days collected here are fixed.
    os.environ[START_DATE_ENV] = "2026-01-01"
    with tempfile.TemporaryDirectory() as tmp, running_postgres() as pg:
        work = Path(tmp)
        for name in ("warm-up", "local", "remote"):
            (work / name).mkdir()
        print(f"sandbox days from {DAY1}, Postgres 15 on port {pg.port}, moto S3 in-process")
        warm_up(work / "warm-up")
        runs = [local(work / "local", args.repeat)]
        remote, bucket = postgres_s3(work / "remote", pg, args.repeat)
        runs.append(remote)
        report(runs, args.repeat, bucket_contents(bucket))


if __name__ == "__main__":
    main()

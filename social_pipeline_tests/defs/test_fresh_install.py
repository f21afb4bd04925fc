"""A fresh install looks healthy in the UI: a week of partitions (not months of "missing"),
a warehouse that is not partitioned, and runs listed under the job's name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from social_pipeline.core.settings import (
    DATA_DIR_ENV,
    START_DATE_ENV,
    SettingsError,
    start_date,
)

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 29)

LOAD = """
import json
from social_pipeline.definitions import defs
graph = defs().resolve_asset_graph()
def partitions(key):
    p = graph.get(key).partitions_def
    return p and [p.get_first_partition_key(), p.get_last_partition_key(), len(p.get_partition_keys())]
from dagster import AssetKey
print(json.dumps({
    "raw": partitions(AssetKey("raw_x")),
    "posts": partitions(AssetKey("posts")),
    "warehouse": partitions(AssetKey(["warehouse", "social_posts"])),
}))
"""


def test_the_first_partition_defaults_to_a_week_ago(tmp_path: Path) -> None:
    env = {DATA_DIR_ENV: str(tmp_path / "data")}
    assert start_date(env, today=TODAY) == date(2026, 11, 22)


def test_the_first_partition_reaches_back_to_the_first_collected_day(tmp_path: Path) -> None:
    (tmp_path / "data" / "raw" / "x" / "date=2026-10-03").mkdir(parents=True)
    (tmp_path / "data" / "raw" / "youtube" / "date=2026-11-28").mkdir(parents=True)
    (tmp_path / "data" / "raw" / "x" / "date=not-a-day").mkdir(parents=True)
    env = {DATA_DIR_ENV: str(tmp_path / "data")}
    assert start_date(env, today=TODAY) == date(2026, 10, 3)


def test_the_start_date_variable_still_wins(tmp_path: Path) -> None:
    (tmp_path / "data" / "raw" / "x" / "date=2026-10-03").mkdir(parents=True)
    env = {DATA_DIR_ENV: str(tmp_path / "data"), START_DATE_ENV: "2026-11-25"}
    assert start_date(env, today=TODAY) == date(2026, 11, 25)
    with pytest.raises(SettingsError, match="SOCIAL_PIPELINE_START_DATE='25/11' is not"):
        start_date({START_DATE_ENV: "25/11"})


def test_the_ui_of_a_fresh_install_shows_a_week_and_an_unpartitioned_warehouse(
    tmp_path: Path,
) -> None:
    """Loads the definitions as `dagster dev` does, in a process with no start date set."""
    env = {k: v for k, v in os.environ.items() if k != START_DATE_ENV}
    env[DATA_DIR_ENV] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-c", LOAD], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    today = datetime.now(UTC).date()
    week = [str(today - timedelta(days=7)), str(today), 8]  # today is a partition too
    assert shown["raw"] == shown["posts"] == week
    assert shown["warehouse"] is None

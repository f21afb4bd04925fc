"""A full disk or a killed process loses nothing already collected; the next run completes."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from social_pipeline.environment import load_environment
from social_pipeline.operations.collect import collect_platform
from social_pipeline.storage import files, raw
from social_pipeline_tests.helpers import Deployment

DAY = date(2026, 11, 19)
ROOT = Path(__file__).resolve().parent.parent


def test_a_full_disk_fails_naming_the_file_and_keeps_the_previous_pull(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = deployment
    d.clock.morning_after(DAY)
    settings = load_environment()
    collect_platform(settings, "x", DAY, base_url=settings.base_urls["x"])
    folder = raw.partition_dir(d.data_dir, "x", DAY)
    landed = sorted(folder.glob("*.jsonl.gz"))
    before = [p.read_bytes() for p in landed]

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", no_space)
    with pytest.raises(OSError) as caught:
        collect_platform(settings, "x", DAY, base_url=settings.base_urls["x"])

    assert "No space left on device" in str(caught.value) and str(folder) in str(caught.value)
    assert [p.read_bytes() for p in landed] == before
    assert list(folder.rglob("*.tmp")) == []


def test_a_killed_collection_leaves_the_last_warehouse_readable_and_the_next_run_completes(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "SOCIAL_PIPELINE_DATA_DIR": str(tmp_path / "data"),
        "DAGSTER_HOME": str(tmp_path / "home"),
        "SOCIAL_PIPELINE_ACCOUNTS": "",
    }
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    collect = [
        sys.executable,
        "-m",
        "social_pipeline.app.cli",
        "collect",
        "--date",
        DAY.isoformat(),
    ]
    assert subprocess.run(collect, env=env, capture_output=True, timeout=300).returncode == 0
    from social_pipeline.storage.warehouse import query

    data = tmp_path / "data"
    first = query(data, "SELECT count(*) AS n FROM social_posts")["n"][0]

    # Second day, killed mid-collection (the emulator answers slowly enough to be caught).
    slow = {**env, "SOCIAL_PIPELINE_SANDBOX_POSTS_PER_DAY": "6"}
    victim = subprocess.Popen(
        [*collect[:-1], "2026-11-20"],
        env=slow,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not raw.partition_dir(data, "facebook", date(2026, 11, 20)).exists():
        assert time.monotonic() < deadline and victim.poll() is None, (
            "the run ended before it could be killed"
        )
        time.sleep(0.05)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)

    assert query(data, "SELECT count(*) AS n FROM social_posts")["n"][0] == first
    assert not list(data.rglob("*.jsonl.gz.tmp")) or all(
        p.name.startswith(".") for p in data.rglob("*.tmp")
    )

    rerun = subprocess.run(
        [*collect[:-1], "2026-11-20"], env=slow, capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    days = query(data, "SELECT DISTINCT snapshot_date FROM follower_snapshots ORDER BY 1")
    assert [d.isoformat() for d in days["snapshot_date"]] == ["2026-11-19", "2026-11-20"]
    jobs = query(data, "SELECT status, count(*) AS n FROM data_collection_jobs GROUP BY 1")
    assert dict(jobs.rows())["success"] >= 24

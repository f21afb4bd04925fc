"""The command line, through the same paths users take (Dagster runs land in DAGSTER_HOME)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
import requests

from social_pipeline.app.cli import main as cli
from social_pipeline_tests.helpers import Deployment, dagster_materialize

DAY = date(2026, 11, 19)


def test_collect_runs_through_dagster_and_prints_the_warehouse_and_a_query(
    deployment: Deployment, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment.clock.morning_after(DAY)
    assert cli(["collect", "--date", DAY.isoformat()]) == 0
    out = capsys.readouterr().out
    assert f"Warehouse: {deployment.data_dir / 'warehouse.duckdb'}" in out
    assert "FROM post_engagement_metrics" in out
    assert "shape:" not in out  # a terminal table, not a raw polars frame
    example = out[out.index("ORDER BY platform;") + len("ORDER BY platform;") :]
    rows = [line.split()[0] for line in example.splitlines() if line[:1].isalpha()]
    platforms = ["facebook", "instagram", "linkedin", "tiktok", "x", "youtube"]
    assert rows[: len(platforms) + 1] == ["platform", *platforms]
    assert "showing 6 of 6 rows" in example
    for platform in platforms:
        assert f"raw_{platform}" in out
    with dg.DagsterInstance.get() as instance:
        [run] = instance.get_runs()
        assert run.is_success and run.tags.get("dagster/partition") == DAY.isoformat()


def test_collect_one_account_and_read_it_back_as_csv_and_json(
    deployment: Deployment, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment.clock.morning_after(DAY)
    account = deployment.sandbox.world.accounts("youtube")[1].account_id
    assert cli(["collect", "--date", DAY.isoformat(), "--account", account]) == 0
    capsys.readouterr()

    assert cli(["posts", "--account", account, "--format", "json", "--limit", "0"]) == 0
    posts = json.loads(capsys.readouterr().out)
    assert len(posts) == 56 and {p["account_id"] for p in posts} == {account}
    assert cli(["followers", "--account", account, "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("snapshot_date,platform,account_id,followers") and len(lines) == 2
    assert cli(["jobs"]) == 0
    assert "success" in capsys.readouterr().out


def test_an_unknown_account_is_refused_with_a_clear_message(
    deployment: Deployment, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["collect", "--date", DAY.isoformat(), "--account", "nope"]) == 2
    assert "no account 'nope'" in capsys.readouterr().err


def test_reading_before_any_collection_says_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOCIAL_PIPELINE_DATA_DIR", str(tmp_path))
    assert cli(["posts"]) == 2
    assert "social-pipeline collect" in capsys.readouterr().err


def test_the_sandbox_command_serves_the_six_apis_for_other_processes() -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "social_pipeline.app.cli", "sandbox", "--accounts", "1"],
        stdout=subprocess.PIPE,
        text=True,
        # Started by a process that ignores SIGTERM (a CI shell job, or Dagster in-process
        # having mapped it onto an ignored SIGINT), the emulator inherits the ignoring; it
        # must still stop when told to.
        preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN),
    )
    try:
        urls = {}
        assert server.stdout is not None
        while len(urls) < 6:
            line = server.stdout.readline()
            assert line, "the emulator exited early"
            if line.startswith("export "):
                name, _, url = line.removeprefix("export ").strip().partition("=")
                urls[name] = url
        answer = requests.get(
            urls["SOCIAL_PIPELINE_X_BASE_URL"] + "/2/users/2244994945",
            params={"user.fields": "public_metrics"},
            headers={"Authorization": "Bearer any"},
            timeout=10,
        )
        assert (
            answer.status_code == 200
            and "followers_count" in answer.json()["data"]["public_metrics"]
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            status = Path(f"/proc/{server.pid}/status")
            signals = [
                line.strip()
                for line in (status.read_text().splitlines() if status.exists() else [])
                if line.startswith(("State", "Sig"))
            ]
            server.kill()
            raise AssertionError(f"the emulator ignored SIGTERM for 10 s: {signals}") from None


def test_dagster_asset_materialize_collects_a_day_from_any_server_speaking_the_apis(
    deployment: Deployment, home: Path
) -> None:
    """The documented command, run as users run it, against the emulator as 'the APIs'."""
    deployment.clock.morning_after(DAY)
    done = subprocess.run(
        dagster_materialize("*", DAY),
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (deployment.data_dir / "warehouse.duckdb").exists()
    platforms = deployment.table("SELECT DISTINCT platform FROM social_posts")
    assert platforms.height == 6
    secrets = list(deployment.tokens.values())
    assert not any(s in done.stdout + done.stderr for s in secrets)

"""The real UI: `dagster dev` on the sandbox, a partition run launched through GraphQL (after two
earlier days collected in process), and the asset pages rendered in headless Chromium
(screenshots in test-artifacts/, copied to /tmp/social-pipeline-screenshots/).

The emulator runs in the test, its world clock moved to the morning after each day before
that day's collection, so the three days observe a world that has grown: the per-platform
follower plots have three different points each."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.settings import START_DATE_ENV
from social_pipeline.definitions import defs as load_definitions
from social_pipeline.sandbox.server import Sandbox, SandboxConfig
from social_pipeline.storage.warehouse import query
from social_pipeline_tests.dagster_dev import REPO_ROOT, DagsterDev
from social_pipeline_tests.headless_chromium import Page
from social_pipeline_tests.helpers import Clock

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's package
ARTIFACTS = REPO_ROOT / "test-artifacts"
SCREENSHOTS = Path("/tmp/social-pipeline-screenshots")  # a stable place to look at them
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date()
DAYS = [YESTERDAY - timedelta(days=n) for n in (2, 1, 0)]
DAYS_BEFORE = DAYS[:-1]  # collected before the UI starts; the UI launches the last one
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=15000",
]

REPOSITORIES = """{ repositoriesOrError { __typename
  ... on RepositoryConnection { nodes { name location { name } jobs { name } } }
  ... on PythonError { message } } }"""

LAUNCH = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename
  ... on LaunchRunSuccess { run { runId } }
  ... on PythonError { message stack }
  ... on RunConfigValidationInvalid { errors { message } }
  ... on Error { message } } }"""

RUN_STATUS = """query($runId: ID!) { runOrError(runId: $runId) {
  __typename ... on Run { status } ... on Error { message } } }"""

RUN_EVENTS = """query($runId: ID!) { runOrError(runId: $runId) { ... on Run {
  eventConnection { events { __typename
    ... on MessageEvent { level stepKey message }
    ... on ErrorEvent { error { message } } } } } } }"""

FAILED_COLLECTIONS = (
    "SELECT platform, account_id, partition_date, status, error FROM data_collection_jobs "
    "WHERE status <> 'success'"
)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC))


@pytest.fixture
def dagster_dev(tmp_path: Path, clock: Clock) -> Iterator[DagsterDev]:
    """A `dagster dev` on the sandbox, for the test to start; always stopped afterwards.

    The emulator is the test's (`clock` moves its world), and the partitions start a week
    ago, as on a fresh install, so the plots' partition axis spans a week.
    """
    emulator = Sandbox(SandboxConfig(), clock=clock).start()
    env = {**emulator.env(), START_DATE_ENV: (YESTERDAY - timedelta(days=6)).isoformat()}
    dev = DagsterDev(tmp_path, tmp_path / "data", env=env)
    try:
        yield dev
    finally:
        dev.stop()
        emulator.stop()
        if dev.log_path.exists():
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copy(dev.log_path, ARTIFACTS / "dagster-dev.log")


def run_events(dev: DagsterDev, run_id: str) -> str:
    try:
        data = dev.graphql(RUN_EVENTS, {"runId": run_id})
        events = data["runOrError"]["eventConnection"]["events"]
    except Exception as exc:  # noqa: BLE001 - only for the failure message
        return f"(events unavailable: {exc})"
    lines = []
    for e in events:
        text = e.get("message") or ""
        if e.get("error"):
            text += f" | {e['error']['message']}"
        lines.append(f"{e.get('level', '')} {e.get('stepKey') or '-'} {e['__typename']}: {text}")
    return "\n".join(lines[-80:])


def run_day(dev: DagsterDev, repo: dict, day: date) -> None:
    """Launch `collect_day` for a partition and wait for it to succeed."""
    params = {
        "selector": {
            "repositoryLocationName": repo["location"]["name"],
            "repositoryName": repo["name"],
            "jobName": "collect_day",
        },
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day.isoformat()}]},
    }
    launched = dev.graphql(LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", json.dumps(launched, indent=1)
    run_id = launched["run"]["runId"]

    status, deadline = "", time.monotonic() + 300
    while time.monotonic() < deadline:
        status = dev.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(0.5)
    assert status == "SUCCESS", (
        f"run {run_id} for {day} ended {status or 'nowhere'}:\n{run_events(dev, run_id)}\n"
        f"--- dagster dev log ---\n{dev.log_tail()}"
    )


def collect_in_process(
    dev: DagsterDev, days: list[date], clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`collect_day` for earlier days, in this process on the UI's instance, before it starts.

    The same job and storage as a launched run, without a run worker's start-up (half a
    minute a run on two cores): the plots get their earlier points cheaply.
    """
    for name, value in dev.env.items():
        if name.startswith("SOCIAL_PIPELINE_"):
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("SOCIAL_PIPELINE_ACCOUNTS", raising=False)
    job = load_definitions().resolve_job_def("collect_day")
    with dg.DagsterInstance.from_config(str(dev.home)) as instance:
        for day in days:
            clock.morning_after(day)
            result = job.execute_in_process(
                partition_key=day.isoformat(), instance=instance, raise_on_error=False
            )
            assert result.success, f"collect_day {day} failed in process"


def screenshot(page: Page, name: str) -> Path:
    shot = page.screenshot(ARTIFACTS / f"{name}.png")
    SCREENSHOTS.mkdir(exist_ok=True)
    shutil.copy(shot, SCREENSHOTS / shot.name)
    assert shot.stat().st_size > 10_000, f"blank screenshot {shot}"
    return shot


def chromium(args: list[str], profile: Path, timeout: float = 60.0) -> str:
    shutil.rmtree(profile, ignore_errors=True)
    proc = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"chromium {args} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_ui_runs_three_days_and_plots_followers_per_platform(
    dagster_dev: DagsterDev, clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} not found: the browser test needs Debian's chromium package. "
            "`bash scripts/test.sh` installs it (as root); or run "
            "`apt-get update && apt-get install -y chromium` yourself."
        )
    dev = dagster_dev
    # A fresh data folder makes every sandbox account "new": the new_accounts sensor would queue
    # a collection of today for each of them (12 runs) ahead of the run under test.
    dev.cli("sensor", "stop", "new_accounts")
    collect_in_process(dev, DAYS_BEFORE, clock, monkeypatch)
    dev.start(timeout=120)
    assert dev.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True

    repos = dev.graphql(REPOSITORIES)["repositoriesOrError"]
    assert repos["__typename"] == "RepositoryConnection", repos
    repo = next(r for r in repos["nodes"] if any(j["name"] == "collect_day" for j in r["jobs"]))

    clock.morning_after(YESTERDAY)
    run_day(dev, repo, YESTERDAY)

    failed = query(dev.data_dir, FAILED_COLLECTIONS)  # a run succeeds with failed accounts
    posts = query(dev.data_dir, "SELECT platform, count(*) AS n FROM social_posts GROUP BY 1")
    assert set(posts["platform"]) == set(PLATFORMS), f"{posts}\nfailed collections:\n{failed}"
    sql = "SELECT platform, count(*) AS n FROM follower_metrics GROUP BY 1"
    followers = dict(query(dev.data_dir, sql).iter_rows())
    assert followers == dict.fromkeys(PLATFORMS, 2), f"{followers}\nfailed collections:\n{failed}"
    # What the plots draw: each platform's followers, a different number on each day.
    sql = (
        "SELECT platform, snapshot_date, sum(followers) AS n FROM follower_snapshots GROUP BY 1, 2"
    )
    sums = query(dev.data_dir, sql)
    for platform in PLATFORMS:
        points = sums.filter(sums["platform"] == platform)["n"].to_list()
        assert len(set(points)) == len(DAYS), f"{platform} plots {points}\n{sums}"

    # An asset page: the latest materialization (yesterday's partition) and the per-platform
    # follower metadata; then its plots, one per platform, by partition.
    ARTIFACTS.mkdir(exist_ok=True)
    names = [f"followers_{p}" for p in PLATFORMS]
    with Page(CHROMIUM, tmp_path / "devtools", size=(1600, 2100)) as page:
        page.open(f"{dev.url}/assets/follower_snapshots")
        # raw_facebook is in the lineage section, among the last to load.
        text = page.wait_for_text("Latest materialization", YESTERDAY.isoformat(), *names)
        page.wait_for_text("raw_facebook", "Passing", timeout=15)
        screenshot(page, "dagster-asset-follower-snapshots")
        missing = [
            t for t in ("Latest materialization", YESTERDAY.isoformat(), *names) if t not in text
        ]
        assert not missing, f"the asset page does not show {missing}:\n{text[:3000]}"

        assert page.click("Plots"), "no Plots toggle in the asset's metadata"
        text = page.wait_for_text("When graphing values by partition", *names)
        time.sleep(1)  # the charts animate in
        screenshot(page, "dagster-plots-followers-per-platform")
        assert "When graphing values by partition" in text, text[:3000]
        assert all(n in text for n in names), f"plots missing:\n{text[:3000]}"

    # The UI itself, as a browser renders it: the catalog lists every asset of the definitions,
    # the lineage page their groups. The community pop-up or a blank page would show neither.
    defs = load_definitions()
    keys = defs.resolve_all_asset_keys()
    graph = defs.resolve_asset_graph()
    pages = {
        "dagster-assets": ("/assets", {" / ".join(k.path) for k in keys}),
        "dagster-lineage": ("/asset-groups", {graph.get(k).group_name for k in keys}),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    for name, (path, names) in pages.items():
        url, shot, html = dev.url + path, ARTIFACTS / f"{name}.png", ARTIFACTS / f"{name}.html"
        shot.unlink(missing_ok=True)
        chromium(["--window-size=1600,1000", f"--screenshot={shot}", url], tmp_path / "chromium")
        assert shot.exists() and shot.stat().st_size > 10_000, f"no screenshot of {url}"
        # A tall window, so the catalog's virtualized table renders every row.
        # The lineage graph can take longer than one virtual-time budget to lay out on a
        # busy machine: look again (up to three times) before calling it missing.
        for _ in range(3):
            dom = chromium(["--window-size=1600,3000", "--dump-dom", url], tmp_path / "chromium")
            missing = sorted(n for n in names if f">{n}<" not in dom)
            if not missing:
                break
        html.write_text(dom)
        assert "Join the Dagster community" not in dom, f"{url} shows the community pop-up"
        assert not missing, f"{url} does not show {missing}; rendered DOM in {html}"

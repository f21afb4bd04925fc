"""The real UI: `dagster dev` on the sandbox, a partition run launched through GraphQL, and the
asset pages rendered in headless Chromium (screenshots in test-artifacts/)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.definitions import defs as load_definitions
from social_pipeline.storage.warehouse import query
from social_pipeline_tests.dagster_dev import REPO_ROOT, DagsterDev

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's package
ARTIFACTS = REPO_ROOT / "test-artifacts"
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
def dagster_dev(tmp_path: Path) -> Iterator[DagsterDev]:
    """A `dagster dev` on the sandbox, for the test to start; always stopped afterwards."""
    dev = DagsterDev(tmp_path, tmp_path / "data")
    try:
        yield dev
    finally:
        dev.stop()
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


def test_ui_runs_a_day_and_shows_the_assets(dagster_dev: DagsterDev, tmp_path: Path) -> None:
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
    dev.start(timeout=120)
    assert dev.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True

    repos = dev.graphql(REPOSITORIES)["repositoriesOrError"]
    assert repos["__typename"] == "RepositoryConnection", repos
    repo = next(r for r in repos["nodes"] if any(j["name"] == "collect_day" for j in r["jobs"]))

    day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    params = {
        "selector": {
            "repositoryLocationName": repo["location"]["name"],
            "repositoryName": repo["name"],
            "jobName": "collect_day",
        },
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day}]},
    }
    launched = dev.graphql(LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", json.dumps(launched, indent=1)
    run_id = launched["run"]["runId"]

    status, deadline = "", time.monotonic() + 300
    while time.monotonic() < deadline:
        status = dev.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1)
    assert status == "SUCCESS", (
        f"run {run_id} for {day} ended {status or 'nowhere'}:\n{run_events(dev, run_id)}\n"
        f"--- dagster dev log ---\n{dev.log_tail()}"
    )

    failed = query(dev.data_dir, FAILED_COLLECTIONS)  # a run succeeds with failed accounts
    posts = query(dev.data_dir, "SELECT platform, count(*) AS n FROM social_posts GROUP BY 1")
    assert set(posts["platform"]) == set(PLATFORMS), f"{posts}\nfailed collections:\n{failed}"
    sql = "SELECT platform, count(*) AS n FROM follower_metrics GROUP BY 1"
    followers = dict(query(dev.data_dir, sql).iter_rows())
    assert followers == dict.fromkeys(PLATFORMS, 2), f"{followers}\nfailed collections:\n{failed}"

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

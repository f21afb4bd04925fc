"""Past one machine: the documented Postgres instance (deploy/dagster-postgres.yaml) on a real
PostgreSQL server that the test session starts and stops itself."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from social_pipeline.core.platforms import PLATFORMS
from social_pipeline_tests.helpers import Deployment
from social_pipeline_tests.postgres_server import Postgres

pytestmark = pytest.mark.postgres

DEPLOY_YAML = Path(__file__).resolve().parents[1] / "deploy" / "dagster-postgres.yaml"
DAY1, DAY2 = date(2026, 11, 19), date(2026, 11, 20)


def _rows(postgres: Postgres, sql: str, *args: object) -> list[tuple]:
    dbname = os.environ["SOCIAL_PIPELINE_POSTGRES_URL"].rsplit("/", 1)[1]
    with contextlib.closing(postgres.connect(dbname)) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def test_a_day_on_the_postgres_instance_keeps_its_run_and_materializations_in_postgres(
    deployment: Deployment, postgres: Postgres, postgres_home: Path
) -> None:
    with dg.DagsterInstance.from_config(str(postgres_home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        d = dataclasses.replace(deployment, instance=instance)
        d.clock.morning_after(DAY1)
        result = d.materialize(DAY1)
        assert result.success
        materialized = {e.asset_key for e in result.get_asset_materialization_events()}

    # Read back from Postgres itself, not through Dagster: the record is where other machines look.
    assert _rows(postgres, "SELECT status FROM runs WHERE run_id = %s", result.run_id) == [
        ("SUCCESS",)
    ]
    keys = _rows(
        postgres,
        "SELECT DISTINCT asset_key FROM event_logs"
        " WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
        result.run_id,
    )
    assert len(keys) == len(materialized) > 0
    assert d.table("SELECT count(*) AS n FROM social_posts")["n"][0] > 0
    assert set(d.table("SELECT status FROM data_collection_jobs")["status"]) == {"success"}


RUN_A_DAY = """
import sys
import dagster as dg
from social_pipeline.definitions import defs as load_definitions
defs = load_definitions()
with dg.DagsterInstance.get() as instance:
    result = dg.materialize(
        list(defs.assets or []), instance=instance, partition_key=sys.argv[1],
        resources=dict(defs.resources or {}), raise_on_error=False,
    )
print(result.run_id)
sys.exit(0 if result.success else 1)
"""


def test_two_days_run_at_once_on_one_postgres_instance_both_succeed(
    deployment: Deployment, postgres: Postgres, postgres_home: Path
) -> None:
    # SQLite instance storage is where parallel runs hit "database is locked".
    deployment.clock.morning_after(DAY2)
    # The deployment's one-time setup: explicit pool limits. Two runs that both find a pool
    # missing race to create it from `default_limit`, and with dagster 1.13 on Postgres the
    # loser fails with UniqueViolation on concurrency_limits (seen in this test).
    with dg.DagsterInstance.from_config(str(postgres_home)) as instance:
        for pool in ["warehouse", *(f"api_{p}" for p in PLATFORMS)]:
            instance.event_log_storage.set_concurrency_slots(pool, 1)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RUN_A_DAY, day.isoformat()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for day in (DAY1, DAY2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-4000:]
        assert "database is locked" not in err
    run_ids = [out.strip().splitlines()[-1] for out, _ in outputs]
    runs = _rows(postgres, "SELECT run_id, status, start_time, end_time FROM runs")
    assert sorted((r, status) for r, status, _, _ in runs) == sorted(
        (r, "SUCCESS") for r in run_ids
    )
    # The runs really ran at once, and the pooled warehouse step still ran one at a time:
    # its slot is a row in Postgres that both processes share.
    (_, _, start1, end1), (_, _, start2, end2) = runs
    assert max(start1, start2) < min(end1, end2)
    events = _rows(
        postgres,
        "SELECT run_id, dagster_event_type FROM event_logs WHERE step_key = 'warehouse'"
        " AND dagster_event_type IN ('STEP_START', 'STEP_SUCCESS') ORDER BY timestamp, id",
    )
    assert [t for _, t in events] == ["STEP_START", "STEP_SUCCESS"] * 2
    assert events[0][0] == events[1][0] != events[2][0] == events[3][0]
    days = deployment.table("SELECT DISTINCT partition_date FROM data_collection_jobs")
    assert sorted(days["partition_date"]) == [DAY1, DAY2]


# --- The daemon launches queued runs ---------------------------------------------------

REPO_ROOT = DEPLOY_YAML.parents[1]
LOCATION = "social_pipeline"
# Steps in the run worker's own process: the default (a process per step) costs about two
# seconds a step here, and the daemon, the queue and the pools behave the same either way.
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


def _workspace(folder: Path) -> Path:
    """The code location as a deployment names it: one module, in this interpreter."""
    path = folder / "workspace.yaml"
    entry = {
        "module_name": "social_pipeline.definitions",
        "location_name": LOCATION,
        "working_directory": str(REPO_ROOT),
        "executable_path": sys.executable,
    }
    path.write_text(yaml.safe_dump({"load_from": [{"python_module": entry}]}))
    return path


def _queue_days(instance: dg.DagsterInstance, workspace: Path, days: list[date]) -> list[str]:
    """Queue one `collect_day` run per day, as `dagster job launch` does, with the sensors and
    schedules stopped first: on a fresh data folder `new_accounts` would queue today's day."""
    with WorkspaceProcessContext(instance, WorkspaceFileTarget([str(workspace)])) as process:
        location = process.create_request_context().get_code_location(LOCATION)
        (repo,) = location.get_repositories().values()
        for sensor in repo.get_sensors():
            instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)
        for schedule in repo.get_schedules():
            instance.stop_schedule(schedule.get_remote_origin_id(), schedule.selector_id, schedule)
        job = repo.get_full_job("collect_day")
        plan = location.get_execution_plan(
            job, IN_PROCESS, step_keys_to_execute=None, known_state=None
        )
        run_ids = []
        for day in days:
            run = instance.create_run(
                job_name=job.name,
                run_id=None,
                run_config=IN_PROCESS,
                resolved_op_selection=None,
                step_keys_to_execute=None,
                op_selection=None,
                status=None,
                root_run_id=None,
                parent_run_id=None,
                tags={**job.tags, "dagster/partition": day.isoformat()},
                job_snapshot=job.job_snapshot,
                execution_plan_snapshot=plan.execution_plan_snapshot,
                parent_job_snapshot=job.parent_job_snapshot,
                remote_job_origin=job.get_remote_origin(),
                job_code_origin=job.get_python_origin(),
                asset_selection=None,
                asset_check_selection=None,
                asset_graph=repo.asset_graph,
            )
            # The QueuedRunCoordinator only marks the run QUEUED; nothing starts it here.
            instance.submit_run(run.run_id, process.create_request_context())
            run_ids.append(run.run_id)
    return run_ids


@contextlib.contextmanager
def _daemon(workspace: Path, log: Path) -> Iterator[subprocess.Popen]:
    """`dagster-daemon run` in its own process group; the group (code server, run workers)
    is stopped by its id: SIGTERM, then SIGKILL for whatever is left."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(workspace)],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_default_signals,
        )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _default_signals() -> None:
    # Started from a background shell, SIGINT arrives ignored and SIGTERM would not stop it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _wait_until_finished(
    instance: dg.DagsterInstance, run_ids: list[str], daemon: subprocess.Popen, log: Path
) -> list[dg.DagsterRun]:
    deadline = time.monotonic() + 240
    while True:
        runs = [instance.get_run_by_id(r) for r in run_ids]
        if all(r is not None and r.is_finished for r in runs):
            return runs  # type: ignore[return-value]
        if daemon.poll() is not None or time.monotonic() > deadline:
            states = [r.status.value if r else None for r in runs]
            pytest.fail(f"runs {states}; daemon log:\n{log.read_text(errors='replace')[-6000:]}")
        time.sleep(0.5)


def test_the_daemon_launches_two_queued_days_and_their_warehouse_rebuilds_take_turns(
    deployment: Deployment, postgres: Postgres, postgres_home: Path, tmp_path: Path
) -> None:
    deployment.clock.morning_after(DAY2)
    workspace = _workspace(tmp_path)
    with dg.DagsterInstance.from_config(str(postgres_home)) as instance:
        # The deployment's one-time setup (README, "Past one machine").
        for pool in ["warehouse", *(f"api_{p}" for p in PLATFORMS)]:
            instance.event_log_storage.set_concurrency_slots(pool, 1)
        run_ids = _queue_days(instance, workspace, [DAY1, DAY2])
        # Queued before any daemon runs: whatever starts them below is the daemon. With
        # `granularity: op` the queue itself holds the second day while every `api_*` pool
        # its first steps need is taken, so the two days overlap only in part.
        assert [instance.get_run_by_id(r).status for r in run_ids] == [  # type: ignore[union-attr]
            dg.DagsterRunStatus.QUEUED
        ] * 2
        log = tmp_path / "daemon.log"
        with _daemon(workspace, log) as daemon:
            runs = _wait_until_finished(instance, run_ids, daemon, log)
    assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 2, log.read_text()[-6000:]

    # From Postgres itself: each run went queue -> daemon (STARTING: dagster 1.13 writes no
    # RUN_DEQUEUED event) -> run worker.
    run_events = [
        dg.DagsterEventType.RUN_ENQUEUED,
        dg.DagsterEventType.RUN_STARTING,
        dg.DagsterEventType.RUN_START,
        dg.DagsterEventType.RUN_SUCCESS,
    ]
    for run_id in run_ids:
        kinds = _rows(
            postgres,
            "SELECT dagster_event_type FROM event_logs WHERE run_id = %s"
            " AND dagster_event_type = ANY(%s) ORDER BY id",
            run_id,
            [e.value for e in run_events],
        )
        assert kinds == [(e.value,) for e in run_events]
    daemons = {t for (t,) in _rows(postgres, "SELECT daemon_type FROM daemon_heartbeats")}
    assert "QUEUED_RUN_COORDINATOR" in daemons

    # One `warehouse` slot: one run's rebuild ended before the other's began.
    events = _rows(
        postgres,
        "SELECT run_id, dagster_event_type FROM event_logs WHERE step_key = 'warehouse'"
        " AND dagster_event_type IN ('STEP_START', 'STEP_SUCCESS') ORDER BY timestamp, id",
    )
    assert [t for _, t in events] == ["STEP_START", "STEP_SUCCESS"] * 2
    assert events[0][0] == events[1][0] != events[2][0] == events[3][0]
    days = deployment.table("SELECT DISTINCT partition_date FROM data_collection_jobs")
    assert sorted(days["partition_date"]) == [DAY1, DAY2]

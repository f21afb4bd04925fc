"""Launching collection runs through Dagster, on the persistent instance (CLI `collect`, `replay`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg

from social_pipeline.core.settings import Settings, SettingsError
from social_pipeline.definitions import defs as load_definitions
from social_pipeline.defs.jobs import accounts_config, collect_day

SOURCE_TAG = "social_pipeline/source"
PID_TAG = "social_pipeline/pid"


def release_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail CLI runs whose process is gone, and free the pool slots they held.

    An in-process run killed mid-step (Ctrl-C twice, OOM killer, SIGKILL) stays STARTED
    and keeps its `api_<platform>`/`warehouse` slot; with a pool limit of 1 every later
    run would wait on it forever. No daemon watches CLI runs, so the CLI cleans up.
    """
    released = []
    active = dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING],
        tags={SOURCE_TAG: "cli"},
    )
    for run in instance.get_runs(filters=active):
        pid = run.tags.get(PID_TAG, "")
        if pid.isdigit() and _alive(int(pid)):
            continue
        instance.report_run_failed(
            run, message=f"the process running it (pid {pid or '?'}) is gone"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
    return released


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class CollectionResult:
    success: bool
    warehouse: Path
    run_id: str
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)

    def report(self) -> str:
        lines = [f"Run {self.run_id}: {'succeeded' if self.success else 'FAILED'}"]
        for key, meta in sorted(self.metadata.items(), key=lambda kv: (_layer(kv[0]), kv[0])):
            if key.startswith("raw_"):
                lines.append(
                    f"  {key:<14} accounts ok {meta.get('accounts_ok')}, failed {meta.get('accounts_failed')}, "
                    f"posts {meta.get('posts')}, API calls {meta.get('api_calls')}, "
                    f"waited {meta.get('seconds_waited')}s"
                )
            elif "rows" in meta:
                extra = f", quarantined {meta['quarantined']}" if "quarantined" in meta else ""
                lines.append(f"  {key:<14} rows {meta['rows']}{extra}")
        return "\n".join(lines)


def _layer(asset_key: str) -> int:
    """Report order follows the data: raw pulls, then normalized tables, then the warehouse."""
    if asset_key.startswith("raw_"):
        return 0
    return 2 if asset_key.startswith("warehouse/") else 1


def run_config_for(
    settings: Settings, accounts: Sequence[str], platforms: Sequence[str] = ()
) -> tuple[list[str], dict[str, Any]]:
    """Platforms to run and the raw assets' config naming just these accounts.

    Named platforms narrow the accounts (an id on another platform is an error).
    """
    by_platform: dict[str, list[str]] = {}
    for account_id in accounts:
        matches = [
            a
            for a in settings.accounts
            if a.account_id == account_id and (not platforms or a.platform in platforms)
        ]
        if not matches:
            where = f" on {', '.join(platforms)}" if platforms else ""
            raise SettingsError(
                f"no account {account_id!r}{where} in "
                f"{settings.accounts_file or 'the built-in sandbox'}"
            )
        for a in matches:
            by_platform.setdefault(a.platform, []).append(a.account_id)
    run_config: dict[str, Any] = {"ops": {}}
    for platform, ids in by_platform.items():
        run_config["ops"] |= accounts_config(platform, ids)["ops"]
    return sorted(by_platform), run_config if by_platform else {}


def run_collection(
    settings: Settings,
    day: date,
    *,
    platforms: Sequence[str] = (),
    accounts: Sequence[str] = (),
    instance: dg.DagsterInstance | None = None,
    tags: dict[str, str] | None = None,
) -> CollectionResult:
    """Materialize a day (raw -> lake -> warehouse); the run lands in the instance's history.

    It runs as the `collect_day` job, the one the schedules launch, so the UI lists CLI
    runs under that name (not `__ephemeral_asset_job__`), narrowed to the chosen assets.
    """
    account_platforms, run_config = run_config_for(settings, accounts, platforms)
    # Progress at INFO (accounts collected, failures); Dagster's DEBUG step events are noise here.
    run_config = {**run_config, "loggers": {"console": {"config": {"log_level": "INFO"}}}}
    chosen = account_platforms if accounts else sorted(set(platforms))
    selection = (
        dg.AssetSelection.assets(*[f"raw_{p}" for p in chosen]).downstream()
        if chosen
        else dg.AssetSelection.all()
    )
    instance = instance or dg.DagsterInstance.get()
    release_orphaned_runs(instance)
    defs = load_definitions()
    job = defs.resolve_job_def(collect_day.name)
    keys = selection.resolve(defs.resolve_asset_graph()) if chosen else None
    result = job.execute_in_process(
        instance=instance,
        partition_key=day.isoformat(),
        asset_selection=sorted(keys, key=lambda k: k.to_user_string()) if keys else None,
        run_config=run_config,
        raise_on_error=False,
        tags={**(tags or {}), SOURCE_TAG: "cli", PID_TAG: str(os.getpid())},
    )
    metadata: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        values = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
        metadata[mat.asset_key.to_user_string()] = values
    return CollectionResult(
        success=result.success,
        warehouse=settings.warehouse,
        run_id=result.run_id,
        metadata=metadata,
    )


def apply_pool_limits(
    settings: Settings, instance: dg.DagsterInstance | None = None
) -> dict[str, int]:
    """Pool limits: `warehouse` always 1; `api_<platform>` as the settings say (else 1)."""
    limits = {**settings.pool_limits, "warehouse": 1}
    with contextlib.ExitStack() as stack:
        instance = instance or stack.enter_context(dg.DagsterInstance.get())
        for pool, limit in limits.items():
            instance.event_log_storage.set_concurrency_slots(pool, limit)
    return limits

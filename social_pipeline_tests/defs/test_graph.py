"""The asset graph as users see it, snapshotted: an accidental change fails loudly.

After a deliberate change, write the new snapshot with
`.venv/bin/python -m social_pipeline_tests.defs.test_graph` and review the diff.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg

from social_pipeline.definitions import defs as load_definitions

SNAPSHOT = Path(__file__).with_name("graph_snapshot.json")
ROOT = Path(__file__).resolve().parents[2]


def graph_summary() -> dict[str, Any]:
    """Asset keys, checks, jobs, schedules, sensors, pools, partitions and resources."""
    defs = load_definitions()
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "pool": sorted(node.pools or []),
            "partitions": type(partitions).__name__ if partitions else None,
            "checks": sorted(c.name for c in node.check_keys),
        }
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in defs.jobs or []),
        "schedules": {
            s.name: [s.cron_schedule, s.execution_timezone, s.default_status.value]
            for s in defs.schedules or []
        },
        "sensors": {
            s.name: [s.minimum_interval_seconds, s.default_status.value] for s in defs.sensors or []
        },
        "resources": sorted(defs.resources or {}),
    }


def test_the_asset_graph_matches_its_snapshot() -> None:
    expected = json.loads(SNAPSHOT.read_text())
    assert graph_summary() == expected, (
        "the Dagster graph changed; if on purpose, run "
        "`.venv/bin/python -m social_pipeline_tests.defs.test_graph` and review the diff"
    )


def test_every_raw_asset_is_daily_partitioned_in_its_platform_pool() -> None:
    summary = graph_summary()["assets"]
    raw = {k: v for k, v in summary.items() if k.startswith("raw_")}
    assert len(raw) == 6
    for key, node in raw.items():
        assert node["pool"] == [f"api_{key.removeprefix('raw_')}"]
        assert node["partitions"] == dg.DailyPartitionsDefinition.__name__


def test_dg_check_defs_passes() -> None:
    """The project loads as the `dg` command line sees it (pyproject's [tool.dg])."""
    dg_cli = Path(sys.executable).parent / "dg"
    done = subprocess.run(
        [str(dg_cli), "check", "defs"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr


if __name__ == "__main__":
    SNAPSHOT.write_text(json.dumps(graph_summary(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT}")

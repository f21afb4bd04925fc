"""The deployment examples under deploy/ parse and name what exists: the module, the
variables the code reads, the workspace, the pools, and the instance settings."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml

from social_pipeline.core import settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
MODULE = "social_pipeline.definitions"


def _load(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return _load("docker-compose.yaml")["services"]


@pytest.fixture(scope="module")
def helm() -> dict:
    return _load("helm-values.yaml")


def _variables_the_code_reads() -> set[str]:
    """SOCIAL_PIPELINE_* names settings.py declares, per-platform ones expanded, and those
    the instance file reads."""
    names = {v for v in vars(settings).values() if isinstance(v, str)}
    pattern = r"SOCIAL_PIPELINE_(?:\{[^}]+\}_)?[A-Z_]+"
    source = (DEPLOY.parent / "social_pipeline" / "core" / "settings.py").read_text()
    names |= set(re.findall(pattern, source))
    names |= set(
        re.findall(r"env: (SOCIAL_PIPELINE_\w+)", (DEPLOY / "dagster-postgres.yaml").read_text())
    )
    return {n for n in names if n.startswith("SOCIAL_PIPELINE_")}


def test_the_code_location_serves_the_module_the_project_defines(compose: dict, helm: dict) -> None:
    definitions = importlib.import_module(MODULE).defs()
    assert "collect_day" in {job.name for job in definitions.jobs}
    grpc = ["dagster", "api", "grpc", "-m", MODULE]
    assert compose["code"]["command"][:5] == grpc
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert f'CMD ["{grpc[0]}", "{grpc[1]}", "{grpc[2]}", "-m", "{MODULE}"' in dockerfile
    (deployment,) = helm["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", MODULE]


def test_the_image_installs_the_project_beside_its_pyproject_with_the_scale_extra() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "\nFROM python:3.11-slim\n" in dockerfile
    # Editable: load_from_defs_folder looks for pyproject.toml above the package.
    assert 'pip install -e ".[scale]"' in dockerfile
    assert 'cp deploy/dagster-postgres.yaml "$DAGSTER_HOME/dagster.yaml"' in dockerfile


def test_webserver_and_daemon_reach_the_code_service_through_the_workspace_file(
    compose: dict,
) -> None:
    assert set(compose) == {"postgres", "code", "webserver", "daemon"}
    for service in ("webserver", "daemon"):
        command = compose[service]["command"]
        workspace = command[command.index("-w") + 1]
        assert workspace.startswith("deploy/") and (DEPLOY.parent / workspace).is_file()
        (entry,) = yaml.safe_load((DEPLOY.parent / workspace).read_text())["load_from"]
        assert entry["grpc_server"]["host"] == "code"
        assert str(entry["grpc_server"]["port"]) == compose["code"]["command"][-1]
    assert "deploy" not in compose["daemon"]  # never replicated
    build = compose["code"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()


def test_every_pipeline_variable_named_is_one_the_code_reads(compose: dict, helm: dict) -> None:
    named = set()
    for service in compose.values():
        named |= set(service.get("environment", {}))
    (deployment,) = helm["dagster-user-deployments"]["deployments"]
    named |= {e["name"] for e in deployment["env"]}
    named |= set(re.findall(r"SOCIAL_PIPELINE_\w+", (DEPLOY / "Dockerfile").read_text()))
    named = {n for n in named if n.startswith("SOCIAL_PIPELINE_")}
    assert {"SOCIAL_PIPELINE_POSTGRES_URL", "SOCIAL_PIPELINE_DATA_DIR"} <= named
    assert named <= _variables_the_code_reads()
    # The data volume is mounted where the data folder points.
    data_dir = compose["code"]["environment"][settings.DATA_DIR_ENV]
    assert f"social-pipeline-data:{data_dir}" in compose["code"]["volumes"]
    mounts = {m["name"]: m["mountPath"] for m in deployment["volumeMounts"]}
    assert (
        mounts["data"]
        == dict((e["name"], e["value"]) for e in deployment["env"])[settings.DATA_DIR_ENV]
    )


def test_the_helm_values_restate_the_instance_file(helm: dict) -> None:
    instance = _load("dagster-postgres.yaml")
    pools = instance["concurrency"]["pools"]
    assert helm["concurrency"]["enabled"] is True
    assert helm["concurrency"]["pools"] == {
        "defaultLimit": pools["default_limit"],
        "granularity": pools["granularity"],
    }
    assert (
        helm["concurrency"]["runs"]["maxConcurrentRuns"]
        == instance["concurrency"]["runs"]["max_concurrent_runs"]
    )
    daemon = helm["dagsterDaemon"]
    assert daemon["runCoordinator"]["type"] == instance["run_coordinator"]["class"]
    monitoring, retries = instance["run_monitoring"], instance["run_retries"]
    assert daemon["runMonitoring"] == {
        "enabled": monitoring["enabled"],
        "pollIntervalSeconds": monitoring["poll_interval_seconds"],
        "freeSlotsAfterRunEndSeconds": monitoring["free_slots_after_run_end_seconds"],
    }
    assert daemon["runRetries"] == {
        "enabled": retries["enabled"],
        "maxRetries": retries["max_retries"],
        "retryOnAssetOrOpFailure": retries["retry_on_asset_or_op_failure"],
    }
    assert helm["runLauncher"]["type"] == "K8sRunLauncher"


def test_the_guides_set_every_pool_the_assets_use() -> None:
    definitions = importlib.import_module(MODULE).defs()
    pools = {a.op.pool for a in definitions.assets} - {None}
    assert "warehouse" in pools
    for guide in (DEPLOY / "README.md", DEPLOY.parent / "README.md"):
        loops = re.findall(r"for pool in ([\w ]+); do", guide.read_text())
        assert loops and all(set(loop.split()) == pools for loop in loops), guide

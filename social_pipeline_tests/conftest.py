"""Fixtures: a running emulator with a frozen world clock, and a deployment on the emulator."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from social_pipeline.core.settings import START_DATE_ENV
from social_pipeline.sandbox.server import Sandbox, SandboxConfig
from social_pipeline_tests.helpers import FROZEN_NOW, Deployment, deployed
from social_pipeline_tests.postgres_server import Postgres, running_postgres

DEPLOY_YAML = Path(__file__).resolve().parents[1] / "deploy" / "dagster-postgres.yaml"

# Tests collect fixed days (2026-11-19, ...). The default first partition is a week before
# today, so it would drop them as time passes: pin it before any test loads the definitions.
# Tests of the default itself unset it (social_pipeline_tests/defs/test_fresh_install.py).
os.environ.setdefault(START_DATE_ENV, "2026-01-01")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(), clock=lambda: FROZEN_NOW) as sb:
        yield sb


@pytest.fixture
def caplog_all(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    """An accounts file naming every emulator account, each with its own token variable."""
    with deployed(tmp_path, monkeypatch) as d:
        yield d


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGSTER_HOME of the project's own dagster.yaml, as the CLI's user has it."""
    path = tmp_path / "dagster_home"
    path.mkdir()
    root = Path(__file__).resolve().parent.parent
    (path / "dagster.yaml").write_text((root / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(path))
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL 15 on a free loopback port, trust auth, fsync off."""
    try:
        with running_postgres() as server:
            yield server
    except RuntimeError as exc:
        if "binaries are missing" in str(exc):
            pytest.fail(str(exc))
        raise


@pytest.fixture
def postgres_home(
    postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request
) -> Path:
    """A DAGSTER_HOME holding the documented yaml, pointed at a fresh database of its own."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_YAML, home / "dagster.yaml")
    dbname = "t_" + request.node.name.lower()[:50].replace("-", "_")
    monkeypatch.setenv("SOCIAL_PIPELINE_POSTGRES_URL", postgres.create_database(dbname))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home

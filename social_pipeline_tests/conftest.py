"""Fixtures: a running emulator with a frozen world clock, and a deployment on the emulator."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
import yaml

from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.settings import START_DATE_ENV
from social_pipeline.sandbox.server import Sandbox, SandboxConfig
from social_pipeline_tests.helpers import FROZEN_NOW, Clock, Deployment, token_env

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
    clock = Clock(datetime(2026, 11, 20, 6, tzinfo=UTC))
    with Sandbox(SandboxConfig(), clock=clock) as sandbox, dg.instance_for_test() as instance:
        entries, tokens = [], {}
        for platform in PLATFORMS:
            for account in sandbox.world.accounts(platform):
                env = token_env(platform, account.account_id)
                token = f"s3cret-{platform}-{account.account_id[-6:]}-tok"
                monkeypatch.setenv(env, token)
                tokens[(platform, account.account_id)] = token
                sandbox.grant(platform, token, account.account_id)
                entries.append(
                    {
                        "platform": platform,
                        "account_id": account.account_id,
                        "name": account.name,
                        "token_env": env,
                    }
                )
        accounts = tmp_path / "accounts.yaml"
        accounts.write_text(yaml.safe_dump({"accounts": entries}))
        data_dir = tmp_path / "data"
        monkeypatch.setenv("SOCIAL_PIPELINE_ACCOUNTS", str(accounts))
        monkeypatch.setenv("SOCIAL_PIPELINE_DATA_DIR", str(data_dir))
        for name, url in sandbox.env().items():
            monkeypatch.setenv(name, url)
        yield Deployment(sandbox, clock, data_dir, tokens, instance)

"""Shared fixtures: a running emulator with a frozen world clock, and clients wired to it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from social_pipeline.clients import PlatformClient, client_class, make_session
from social_pipeline.clients.http import RetryPolicy
from social_pipeline.sandbox.server import Sandbox, SandboxConfig
from social_pipeline_tests.pipeline_helpers import deployment  # noqa: E402,F401  (fixture)

# The world is observed at this moment in tests, so metrics and followers are exact.
FROZEN_NOW = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(), clock=lambda: FROZEN_NOW) as sb:
        yield sb


def fast_policy(**overrides: float) -> RetryPolicy:
    """Retries with millisecond backoff: tests exercise the logic, not the patience."""
    values = {"backoff_base": 0.01, "backoff_cap": 0.05, "max_retries": 3, "timeout": 10.0}
    values.update(overrides)
    return RetryPolicy(**values)  # type: ignore[arg-type]


def make_client(
    sandbox: Sandbox,
    platform: str,
    account_id: str | None = None,
    token: str = "test-token-s3cr3t",
    policy: RetryPolicy | None = None,
) -> PlatformClient:
    """A real client of `platform` talking HTTP to the emulator."""
    account_id = account_id or sandbox.world.accounts(platform)[0].account_id
    sandbox.grant(platform, token, account_id)
    session = make_session(platform, sandbox.base_url(platform), policy=policy or fast_policy())
    return client_class(platform)(session, account_id, token)


@pytest.fixture
def caplog_all(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog

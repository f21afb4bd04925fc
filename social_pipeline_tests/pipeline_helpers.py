"""Running the real Dagster definitions against the emulator, as a user's deployment would."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml

from social_pipeline.platforms import PLATFORMS
from social_pipeline.sandbox.server import Sandbox, SandboxConfig
from social_pipeline.warehouse import query


class Clock:
    """The emulator's world clock, moved by the test from one collection day to the next."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def morning_after(self, day: date) -> None:
        self.now = datetime.combine(day + timedelta(days=1), time(6), tzinfo=UTC)


@dataclass
class Deployment:
    sandbox: Sandbox
    clock: Clock
    data_dir: Path
    tokens: dict[tuple[str, str], str]
    instance: dg.DagsterInstance

    def materialize(
        self, day: date, selection: str | dg.AssetSelection = "*", run_config: dict | None = None
    ) -> dg.ExecuteInProcessResult:
        from social_pipeline.definitions import defs

        return dg.materialize(
            list(defs.assets or []),
            instance=self.instance,
            partition_key=day.isoformat(),
            selection=selection,
            run_config=run_config or {},
            resources=dict(defs.resources or {}),
            raise_on_error=False,
        )

    def table(self, sql: str):  # noqa: ANN201
        return query(self.data_dir, sql)


def token_env(platform: str, account_id: str) -> str:
    return f"TEST_{platform.upper()}_{re.sub('[^A-Z0-9]', '_', account_id.upper())}_TOKEN"


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


def files_containing(folder: Path, secrets: list[str]) -> list[str]:
    """Every file under `folder` (gzip opened) whose bytes contain any secret."""
    hits = []
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        if any(s.encode() in data for s in secrets):
            hits.append(str(path))
    return hits

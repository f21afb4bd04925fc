"""Helpers the tests share: emulator clients, landed pulls, and a deployment on the emulator."""

from __future__ import annotations

import contextlib
import gzip
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
import yaml

from social_pipeline.clients import PlatformClient, RawPage
from social_pipeline.clients.errors import MalformedResponse
from social_pipeline.clients.http import RetryPolicy
from social_pipeline.core import schema
from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.pulls import RawPull
from social_pipeline.core.window import CollectionWindow
from social_pipeline.definitions import defs as load_definitions
from social_pipeline.operations.registry import client_class, make_session
from social_pipeline.sandbox.server import Fault, Sandbox, SandboxConfig
from social_pipeline.sandbox.world import Post
from social_pipeline.storage.warehouse import query

# The world is observed at this moment in tests, so metrics and followers are exact.
FROZEN_NOW = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def fast_policy(**overrides: float) -> RetryPolicy:
    """Retries with millisecond backoff: tests exercise the logic, not the patience."""
    values = {
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
        "rate_limit_backoff_base": 0.01,
        "rate_limit_backoff_cap": 0.05,
        "max_retries": 3,
        "timeout": 10.0,
    }
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


def land_pull(
    sandbox: Sandbox,
    platform: str,
    window: CollectionWindow,
    *,
    account_id: str | None = None,
    records: list[dict[str, Any]] | None = None,
    more: Callable[[PlatformClient], Iterable[RawPage]] | None = None,
) -> RawPull:
    """One account's day as the raw landing holds it: pages fetched by the real client.

    `records` replaces the fetched pages (a test's edited copy); `more` adds pages the
    same client fetches afterwards (a metrics refresh, say). On a page that is not JSON,
    `collect()` yields it as an error record and then raises; the pull keeps that record.
    """
    client = make_client(sandbox, platform, account_id)
    if records is None:
        pages: list[RawPage] = []
        with contextlib.suppress(MalformedResponse):
            pages.extend(client.collect(window))
        if more is not None:
            pages.extend(more(client))
        records = [p.to_record() for p in pages]
    where = Path(f"raw/{platform}/date={window.day}/{client.account_id}.jsonl.gz")
    span = (window.day, window.start, window.end)
    return RawPull(
        platform, client.account_id, *span, sandbox.world.clock(), "job-1", records, where
    )


def first_page(pull: RawPull | list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The first landed page of a kind (`profile`, `posts`, `metrics`)."""
    records = pull.records if isinstance(pull, RawPull) else pull
    return next(r for r in records if r["kind"] == kind)


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
        defs = load_definitions()
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


@contextlib.contextmanager
def deployed(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    """A deployment on a running emulator: an accounts file in `folder` naming every emulator
    account, each with its own token variable, and the environment (set through
    `monkeypatch`) pointing the pipeline at the file, a data folder and the emulator."""
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
        accounts = folder / "accounts.yaml"
        accounts.write_text(yaml.safe_dump({"accounts": entries}))
        data_dir = folder / "data"
        monkeypatch.setenv("SOCIAL_PIPELINE_ACCOUNTS", str(accounts))
        monkeypatch.setenv("SOCIAL_PIPELINE_DATA_DIR", str(data_dir))
        for name, url in sandbox.env().items():
            monkeypatch.setenv(name, url)
        yield Deployment(sandbox, clock, data_dir, tokens, instance)


def revoke_accounts(d: Deployment, platform: str, which: slice = slice(None)) -> list[str]:
    """Revoke the tokens of the platform's accounts (all, or the `which` slice of them) on
    the emulator, the way an owner removes the app; returns those accounts' ids."""
    victims = [a.account_id for a in d.sandbox.world.accounts(platform)][which]
    for account_id in victims:
        d.sandbox.revoke(d.tokens[(platform, account_id)])
    return victims


def token_env(platform: str, account_id: str) -> str:
    return f"TEST_{platform.upper()}_{re.sub('[^A-Z0-9]', '_', account_id.upper())}_TOKEN"


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


# --- Client and normalizer tests: busy emulators, world posts, retries, quarantine -------


@contextlib.contextmanager
def frozen_sandbox(**config: Any) -> Iterator[Sandbox]:
    """The emulator set up with `config` (SandboxConfig's fields), its world seen at FROZEN_NOW."""
    with Sandbox(SandboxConfig(**config), clock=lambda: FROZEN_NOW) as sb:
        yield sb


def busy_sandbox() -> Iterator[Sandbox]:
    """The emulator at eight posts a day: a 28-day window spans several listing pages.

    A fixture body: a module takes it as `busy = pytest.fixture(helpers.busy_sandbox, name="busy")`.
    """
    with frozen_sandbox(posts_per_day=8) as sb:
        yield sb


def world_posts(
    sandbox: Sandbox,
    platform: str,
    start: datetime,
    end: datetime,
    account_id: str | None = None,
) -> list[Post]:
    """The emulator's posts of an account (its first by default) in [start, end), newest first."""
    account_id = account_id or sandbox.world.accounts(platform)[0].account_id
    return list(sandbox.world.posts_between(platform, account_id, start, end))


def world_post_ids(
    sandbox: Sandbox, platform: str, window: CollectionWindow, account_id: str | None = None
) -> list[str]:
    """The ids of the emulator's posts of an account in a collection window, newest first."""
    return [p.post_id for p in world_posts(sandbox, platform, window.start, window.end, account_id)]


def landed_day(platform: str, window: CollectionWindow, name: str = "pull") -> Any:
    """A fixture (named `name`): the platform's first account's day in `window`, landed by
    the real client. A module takes it with `pull = landed_day("x", WINDOW)`."""

    def day(sandbox: Sandbox) -> RawPull:
        return land_pull(sandbox, platform, window)

    return pytest.fixture(day, name=name)


def pulled_posts(sandbox: Sandbox, pull: RawPull) -> dict[str, Post]:
    """The emulator's posts in a pull's window, by id, newest first: what normalizing must give."""
    posts = world_posts(sandbox, pull.platform, pull.window_start, pull.window_end, pull.account_id)
    return {p.post_id: p for p in posts}


def profile_after_two_server_errors(
    sandbox: Sandbox, platform: str, status: int = 500
) -> tuple[PlatformClient, RawPage]:
    """The profile fetched through two server errors, both retried: the third answer is kept."""
    sandbox.inject(Fault("server_error", platform=platform, times=2))
    client = make_client(sandbox, platform)
    page = client.fetch_profile()
    assert [r.status for r in sandbox.requests_for(platform)] == [status, status, 200]
    assert client.http.stats.retries == 2
    return client, page


def listed_in_window(
    client: PlatformClient, sandbox: Sandbox, window: CollectionWindow
) -> tuple[list[RawPage], list[str]]:
    """The client's listing of a window: its pages and the ids they list, checked to be the
    world's posts in the window, newest first, each exactly once and none from outside it."""
    pages = list(client.list_posts(window))
    listed = [pid for page in pages for pid in page.post_ids]
    assert listed == world_post_ids(sandbox, client.platform, window, client.account_id)
    return pages, listed


def pages_to_cross(
    sandbox: Sandbox,
    platform: str,
    window: CollectionWindow,
    page_size: int,
    newest: datetime = FROZEN_NOW,
) -> int:
    """How many listing pages, newest first from `newest`, it takes to reach the account's
    first post older than the window: a listing should ask for that many and no more."""
    history = world_posts(sandbox, platform, datetime(2025, 1, 1, tzinfo=UTC), newest)  # all of it
    crossing = next(i for i, post in enumerate(history) if post.created_at < window.start)
    return crossing // page_size + 1


def unreadable_page(kind: str, endpoint: str, error: str) -> dict[str, Any]:
    """The landed record of a page whose body was not JSON (an HTML error page, say)."""
    return {
        "kind": kind,
        "endpoint": endpoint,
        "status": 200,
        "body": None,
        "error": error,
        "body_text": "<html>",
    }


def post_rows(sandbox: Sandbox, pull: RawPull, posts: pl.DataFrame) -> list[tuple[dict, Post]]:
    """A normalized posts frame's rows, each with the world post it is, once checked: the
    contract's columns, one row per post in the pull's window, each created when it was."""
    expected = pulled_posts(sandbox, pull)
    assert posts.schema == pl.Schema(schema.POSTS)
    assert sorted(posts["post_id"]) == sorted(expected)
    pairs = [(row, expected[row["post_id"]]) for row in posts.iter_rows(named=True)]
    for row, post in pairs:
        assert row["created_at"] == post.created_at
    return pairs


def engagement_rows(
    sandbox: Sandbox, pull: RawPull, engagement: pl.DataFrame
) -> list[tuple[dict, dict[str, int]]]:
    """A normalized engagement frame's rows, each with the world's metrics for its post, once
    checked: the contract's columns and one row per post in the pull's window."""
    expected = pulled_posts(sandbox, pull)
    assert engagement.schema == pl.Schema(schema.ENGAGEMENT)
    assert sorted(engagement["post_id"]) == sorted(expected)
    return [
        (row, sandbox.world.metrics(expected[row["post_id"]]))
        for row in engagement.iter_rows(named=True)
    ]


def quarantine_reasons(quarantine: pl.DataFrame) -> dict[str, list[str]]:
    """The quarantine's reasons, sorted, by the kind of record each quarantined row was."""
    return {
        kind: sorted(quarantine.filter(pl.col("kind") == kind)["reason"])
        for kind in set(quarantine["kind"])
    }


def dagster_materialize(select: str, day: date) -> list[str]:
    """`dagster asset materialize` of these assets for one day, as a user types it."""
    dagster = Path(sys.executable).parent / "dagster"
    return [
        str(dagster),
        "asset",
        "materialize",
        "-m",
        "social_pipeline.definitions",
        "--select",
        select,
        "--partition",
        day.isoformat(),
    ]


def collect_day(d: Deployment, day: date, platforms: Iterable[str], *, store: bool = True) -> None:
    """A collection day the way the product runs it, without Dagster: pull each platform
    (one retry), then store the day in the lake and build the warehouse (`store`)."""
    from social_pipeline.environment import load_environment
    from social_pipeline.operations.collect import collect_platform
    from social_pipeline.operations.store import store_day
    from social_pipeline.storage.warehouse import build_warehouse

    d.clock.morning_after(day)
    settings = load_environment()
    for platform in platforms:
        collect_platform(
            settings,
            platform,
            day,
            base_url=settings.base_urls[platform],
            policy=fast_policy(max_retries=1),
        )
    if store:
        store_day(d.data_dir, day)
        build_warehouse(d.data_dir)

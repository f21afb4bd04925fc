"""The one place that chooses: an accounts file and the platforms' real APIs, or the sandbox.

With no accounts file configured (DESIGN.md, "Accounts file"), the product runs on its
built-in sandbox: the emulator names the accounts and serves the six APIs on loopback.
Settings never reach into the sandbox; everything that needs accounts or API hosts, the
Dagster resources and the CLI alike, comes through here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.settings import Settings, load_settings
from social_pipeline.sandbox.server import Sandbox, SandboxConfig
from social_pipeline.sandbox.world import sandbox_accounts


def load_environment(
    environ: Mapping[str, str] | None = None,
    token_lookup: Callable[[str], str | None] | None = None,
) -> Settings:
    """Settings from the environment, with the sandbox's accounts when no file is named."""
    settings = load_settings(environ, token_lookup=token_lookup)
    if not settings.is_sandbox:
        return settings
    return replace(settings, accounts=sandbox_accounts(settings.sandbox_accounts_per_platform))


@contextmanager
def api_base_urls(settings: Settings, day: date | None = None) -> Iterator[dict[str, str]]:
    """Base URL per platform; in sandbox mode, an emulator serves those not overridden.

    Each Dagster step runs in its own process, so each starts its own emulator on a free
    loopback port; the world is deterministic, so they all serve the same data.

    With `day` (the collection day), the built-in emulator's world is seen as of 06:00 UTC
    the morning after it, when that is past: a sandbox backfill then shows each day's
    followers and metrics, so its plots have a shape. (Real APIs only answer with today's
    numbers; the sandbox has no such limit, and a demo reads better with history.)
    """
    needs = [p for p in PLATFORMS if p not in settings.overridden_base_urls]
    if not settings.is_sandbox or not needs:
        yield dict(settings.base_urls)
        return
    config = SandboxConfig(
        accounts_per_platform=settings.sandbox_accounts_per_platform,
        posts_per_day=settings.sandbox_posts_per_day,
    )
    clock = None
    if day is not None:
        as_of = datetime.combine(day + timedelta(days=1), time(6), tzinfo=UTC)
        clock = lambda: min(datetime.now(UTC), as_of)  # noqa: E731
    with Sandbox(config, clock=clock) as sandbox:
        urls = dict(settings.base_urls)
        urls.update({p: sandbox.base_url(p) for p in needs})
        yield urls

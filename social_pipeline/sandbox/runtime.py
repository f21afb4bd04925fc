"""Running the product against the built-in sandbox when no accounts file is configured."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from social_pipeline.platforms import PLATFORMS
from social_pipeline.sandbox.server import Sandbox, SandboxConfig
from social_pipeline.settings import Settings


@contextmanager
def api_base_urls(settings: Settings) -> Iterator[dict[str, str]]:
    """Base URL per platform; in sandbox mode, an emulator serves those not overridden.

    Each Dagster step runs in its own process, so each starts its own emulator on a free
    loopback port; the world is deterministic, so they all serve the same data.
    """
    needs = [p for p in PLATFORMS if p not in settings.overridden_base_urls]
    if not settings.is_sandbox or not needs:
        yield dict(settings.base_urls)
        return
    config = SandboxConfig(
        accounts_per_platform=settings.sandbox_accounts_per_platform,
        posts_per_day=settings.sandbox_posts_per_day,
    )
    with Sandbox(config) as sandbox:
        urls = dict(settings.base_urls)
        urls.update({p: sandbox.base_url(p) for p in needs})
        yield urls

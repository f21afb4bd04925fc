"""Platform clients: one module per platform over the shared HTTP layer."""

from __future__ import annotations

import importlib

from social_pipeline.clients.base import PlatformClient, RawPage
from social_pipeline.clients.http import ApiSession, RetryPolicy
from social_pipeline.platforms import PLATFORMS
from social_pipeline.redact import Redactor

__all__ = ["PlatformClient", "RawPage", "client_class", "make_session"]


def client_class(platform: str) -> type[PlatformClient]:
    """The client class for a platform key (`x` -> `clients.x.XClient`)."""
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}; use one of {', '.join(PLATFORMS)}")
    module = importlib.import_module(f"social_pipeline.clients.{platform}")
    return module.CLIENT


def make_session(
    platform: str,
    base_url: str,
    *,
    policy: RetryPolicy | None = None,
    redactor: Redactor | None = None,
) -> ApiSession:
    """An ApiSession wired to the platform's own error classification and quota headers."""
    cls = client_class(platform)
    return ApiSession(
        platform=platform,
        base_url=base_url.rstrip("/"),
        classify=cls.classify,
        observe=cls.observe,
        policy=policy or RetryPolicy(),
        redactor=redactor or Redactor(),
    )

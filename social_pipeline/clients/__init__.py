"""Platform clients: one module per platform over the shared HTTP layer."""

from __future__ import annotations

from social_pipeline.clients.base import PlatformClient, RawPage
from social_pipeline.clients.http import ApiSession, RetryPolicy
from social_pipeline.clients.redaction import Redactor

__all__ = ["PlatformClient", "RawPage", "open_session"]


def open_session(
    client: type[PlatformClient],
    platform: str,
    base_url: str,
    *,
    policy: RetryPolicy | None = None,
    redactor: Redactor | None = None,
) -> ApiSession:
    """An ApiSession wired to the client's own error classification and quota headers."""
    return ApiSession(
        platform=platform,
        base_url=base_url.rstrip("/"),
        classify=client.classify,
        observe=client.observe,
        policy=policy or RetryPolicy(),
        redactor=redactor or Redactor(),
    )

"""Typed API errors that callers catch by meaning, not by status code."""

from __future__ import annotations

from datetime import datetime


class ApiError(Exception):
    """A platform answered with an error, or could not be reached.

    `error_class` is the stable name stored in job records and dead letters. Messages
    are redacted before they get here: no exception carries a token.
    """

    error_class = "api_error"

    def __init__(
        self,
        message: str,
        *,
        platform: str,
        endpoint: str = "",
        status: int | None = None,
        account_id: str | None = None,
        reset_at: datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.platform = platform
        self.endpoint = endpoint
        self.status = status
        self.account_id = account_id
        self.reset_at = reset_at

    def __str__(self) -> str:
        who = f"{self.platform} account {self.account_id}" if self.account_id else self.platform
        status = f" (HTTP {self.status})" if self.status else ""
        where = f" {self.endpoint}" if self.endpoint else ""
        reset = f"; resets at {self.reset_at.isoformat()}" if self.reset_at else ""
        return f"{who}:{where}{status}: {self.error_class}: {self.message}{reset}"


class TransientError(ApiError):
    """5xx, connection reset, timeout, Graph `is_transient`: worth retrying soon."""

    error_class = "transient"


class MalformedResponse(TransientError):
    """The body was not the JSON the endpoint promises (truncated, HTML error page...)."""

    error_class = "malformed_response"

    def __init__(self, message: str, *, body_text: str = "", **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(message, **kwargs)
        self.body_text = body_text


class RateLimited(ApiError):
    """The platform asked us to slow down. `reset_at` is when to try again, if known.

    `scope` is what the limit covers (see clients/limits.py): `app`, `endpoint`, `user`,
    `endpoint_user` or `page`; every request in that scope waits for it, and no other.

    `reset_if_persists`: for answers that do not say which limit was hit (LinkedIn's 429s
    are a short protection limit or the daily quota), the reset to report once the short
    backoff has not helped.
    """

    error_class = "rate_limited"
    reset_if_persists: datetime | None = None

    def __init__(self, message: str, *, scope: str = "endpoint_user", **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(message, **kwargs)
        self.scope = scope


class AuthError(ApiError):
    """Expired, revoked or insufficient credentials: retrying cannot help."""

    error_class = "auth"


class PermanentError(ApiError):
    """A request the platform will never accept (bad id, bad parameter, usage cap)."""

    error_class = "permanent"


def refused(detail: str, *, platform: str, endpoint: str, status: int) -> ApiError:
    """An HTTP error no platform-specific rule named: a 5xx is worth retrying, else not."""
    if status >= 500:
        return TransientError(
            f"server error ({detail})", platform=platform, endpoint=endpoint, status=status
        )
    return PermanentError(
        f"request refused ({detail})", platform=platform, endpoint=endpoint, status=status
    )

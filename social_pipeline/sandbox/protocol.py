"""What the emulator's platform modules see and the knobs tests turn.

A platform module gets a `Request` (path without the `/<platform>` prefix) and returns a
`Reply`; `Fault`s and the `Limiter` are how tests and benchmarks make the APIs misbehave.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from social_pipeline.sandbox.world import World

FAULT_KINDS = ("rate_limit", "server_error", "malformed", "auth", "expired")


@dataclass
class InsightKnobs:
    """How one running emulator's Graph insights misbehave, beyond what versions retire.

    `refused_metrics`: (metric, media_product_type, media_type) triples Instagram refuses
    with (#100) as not supported "for this media product type"; None in a slot matches any.
    `page_insights_refused`: Facebook answers `insights` on posts with (#10), as for a
    token without `read_insights`.
    """

    refused_metrics: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    page_insights_refused: bool = False


@dataclass
class SandboxConfig:
    """Knobs of the emulator. Defaults serve a realistic, unthrottled day."""

    accounts_per_platform: int = 2
    posts_per_day: float = 2.0
    latency_ms: float = 0.0
    # Requests allowed per rate-limit window, per platform endpoint and token (X's
    # windows; Graph reports it as the Page's Business Use Case usage).
    rate_limit: int = 100_000
    rate_limit_window_s: float = 900.0
    seed: int = 7
    # Scoped limits, off (None) by default: requests allowed per window, a window
    # starting with its first request. A window of None is the platform's own.
    # app: every request of a platform (Graph code 4 and X-App-Usage, YouTube's project
    # quota, LinkedIn's daily app quota).
    app_rate_limit: int | None = None
    app_rate_limit_window_s: float | None = None
    # page: one Page or IG account, any token (Graph Business Use Case, 80001/80002).
    page_rate_limit: int | None = None
    page_rate_limit_window_s: float | None = None
    # user: one token, every endpoint (Graph code 17).
    user_rate_limit: int | None = None
    user_rate_limit_window_s: float | None = None
    # endpoint: one endpoint, every token, over a sliding window (TikTok's minute).
    endpoint_rate_limit: int | None = None
    endpoint_rate_limit_window_s: float | None = None
    # Only these platforms enforce the scoped limits; empty: every platform that has them.
    limited_platforms: tuple[str, ...] = ()
    # Graph insights refused beyond what versions retire (tests turn them while running).
    insight: InsightKnobs = field(default_factory=InsightKnobs)


@dataclass
class Request:
    """A request as a platform handler sees it: path without the platform prefix."""

    platform: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any  # the JSON body, parsed; None when there is none or it is not JSON
    received_at: float  # epoch seconds
    raw_body: bytes = b""
    # An `application/x-www-form-urlencoded` body (OAuth token endpoints), parsed.
    form: dict[str, str] = field(default_factory=dict)

    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value[7:].strip() if value.lower().startswith("bearer ") else None

    def basic_auth(self) -> tuple[str, str] | None:
        """`Authorization: Basic base64(id:secret)` as (id, secret); None when absent or bad."""
        value = self.headers.get("authorization", "")
        if not value.lower().startswith("basic "):
            return None
        try:
            decoded = base64.b64decode(value[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        return (user, password) if sep else None


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # sent as is: for bodies that are deliberately not JSON


@dataclass(frozen=True)
class RateState:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # epoch seconds


@dataclass
class Fault:
    """Answer the next `times` matching requests with a failure instead of data.

    kind: `rate_limit` (the platform's own 429/403 shape), `server_error` (5xx),
    `malformed` (200 with an HTML body), `auth` (the platform's revoked-token answer),
    `expired` (the platform's expired-access-token answer).

    OAuth endpoints (token, authorize, debug_token) are only hit by a fault whose
    `path_contains` is set and names their path: a catch-all fault means the data APIs.
    """

    kind: str
    platform: str | None = None
    path_contains: str | None = None
    token: str | None = None
    times: int = 1
    # For rate_limit: seconds until the window the fault reports resets.
    reset_in: float = 2.0

    def matches(self, req: Request, token: str | None) -> bool:
        return (
            self.times > 0
            and (self.platform is None or self.platform == req.platform)
            and (self.path_contains is None or self.path_contains in req.path)
            and (self.token is None or self.token == token)
        )


@dataclass(frozen=True)
class LoggedRequest:
    platform: str
    method: str
    path: str
    query: dict[str, str]
    body: Any
    received_at: float
    status: int
    # The request's headers, lower-case names; an Authorization value is cut to its
    # scheme ("Basic", "Bearer") so the log never holds a credential.
    headers: dict[str, str] = field(default_factory=dict)
    # When the answer was ready to send (epoch seconds): no client can have seen it
    # earlier, which is what ordering tests of rate limits compare against.
    answered_at: float = 0.0


class Limiter:
    """Fixed windows aligned to the clock, per (platform, endpoint, token)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self._counts: dict[tuple[str, str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, platform: str, endpoint: str, token: str, now: float) -> RateState:
        start = now - (now % self.window_s)
        key = (platform, endpoint, token)
        with self._lock:
            window_start, used = self._counts.get(key, (start, 0))
            if window_start != start:
                used = 0
            used += 1
            self._counts[key] = (start, used)
        return RateState(
            used <= self.limit, self.limit, max(0, self.limit - used), start + self.window_s
        )


class WindowCounter:
    """Windows per key that start with their first request (`sliding`: a rolling window).

    A fixed window counts refused requests too, as platforms do; a sliding one counts
    only what it let through, so it frees a slot `window_s` after each accepted request.
    """

    def __init__(self, limit: int, window_s: float, *, sliding: bool = False) -> None:
        self.limit, self.window_s, self.sliding = limit, window_s, sliding
        self._fixed: dict[tuple[str, ...], tuple[float, int]] = {}
        self._times: dict[tuple[str, ...], deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: tuple[str, ...], now: float) -> RateState:
        with self._lock:
            if self.sliding:
                return self._slide(key, now)
            start, used = self._fixed.get(key, (now, 0))
            if now >= start + self.window_s:
                start, used = now, 0
            used += 1
            self._fixed[key] = (start, used)
        return RateState(
            used <= self.limit, self.limit, max(0, self.limit - used), start + self.window_s
        )

    def _slide(self, key: tuple[str, ...], now: float) -> RateState:
        times = self._times.setdefault(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        allowed = len(times) < self.limit
        if allowed:
            times.append(now)
        reset = times[0] + self.window_s if len(times) >= self.limit else now
        return RateState(allowed, self.limit, self.limit - len(times), reset)


class Emulator(Protocol):
    """What a platform module may ask of the running emulator (`server.Sandbox`)."""

    world: World
    config: SandboxConfig

    def rate(self, req: Request, endpoint: str, token: str) -> RateState: ...

    def limit(
        self, scope: str, req: Request, key: tuple[str, ...], default_window_s: float
    ) -> RateState | None:
        """Count `req` against the `scope` limit of `key` (the platform is added);
        None when that limit is off."""
        ...

    def account_for_token(self, platform: str, token: str | None) -> str | None: ...

    def token_expires_at(self, token: str | None) -> datetime | None:
        """When an OAuth access token the emulator issued expires; None: never or unknown."""
        ...

"""One platform's rate limits, shared by every worker of a collection run.

A platform refuses or meters requests per *scope*, and each client says which one it hit:

    app            every request of the platform (Graph code 4, YouTube's project quota)
    endpoint       that endpoint, whatever the token (TikTok's per-endpoint minute)
    user           that token's account, every endpoint (Graph code 17)
    endpoint_user  that endpoint for that account (X user-context windows)
    page           that Page or Instagram account (Graph Business Use Case limits)

The `RateLimitCoordinator` keeps the blocks in force and is asked before every request:
a block stops every request of its scope, in any worker thread, and no other. Accounts
are keyed by account id, never by token text, so no credential is stored here.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SCOPES = ("app", "endpoint", "user", "endpoint_user", "page")
# Scopes that name an account, and scopes that name an endpoint.
_BY_ACCOUNT = frozenset({"user", "endpoint_user", "page"})
_BY_ENDPOINT = frozenset({"endpoint", "endpoint_user"})


def utcnow() -> datetime:
    return datetime.now(UTC)


def scope_key(scope: str, endpoint: str, account_id: str | None) -> tuple[str, str, str]:
    """The part of (endpoint, account) a limit of `scope` covers: (scope, endpoint, account)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown rate-limit scope {scope!r}; use one of {SCOPES}")
    return (
        scope,
        endpoint if scope in _BY_ENDPOINT else "",
        (account_id or "") if scope in _BY_ACCOUNT else "",
    )


@dataclass(frozen=True)
class RateLimitWindow:
    """One observation of a platform's quota, for the `api_rate_limits` table.

    `account_id` is set for the scopes that name an account (user, endpoint_user, page).
    """

    platform: str
    endpoint: str
    limit: int | None
    remaining: int | None
    reset_at: datetime | None
    observed_at: datetime
    scope: str = "endpoint_user"
    account_id: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.endpoint, self.scope, self.account_id or "")

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def to_record(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "endpoint": self.endpoint,
            "scope": self.scope,
            "account_id": self.account_id,
            "quota_limit": self.limit,
            "remaining": self.remaining,
            "reset_at": self.reset_at.isoformat() if self.reset_at else None,
            "observed_at": self.observed_at.isoformat(),
        }


@dataclass(frozen=True)
class Block:
    """No request of this scope until `until`; `reason` says what reported it (no token)."""

    scope: str
    endpoint: str
    account_id: str
    until: datetime
    reason: str

    def covers(self, endpoint: str, account_id: str | None) -> bool:
        key = scope_key(self.scope, endpoint, account_id)
        return key == (self.scope, self.endpoint, self.account_id)


class RateLimitCoordinator:
    """The rate-limit blocks of one platform, shared by all its sessions in a run.

    Thread-safe. Sessions `block` a scope when the platform refuses or reports an
    exhausted window, ask `blocking` before each request, and `count_wait` what they
    waited; `waits`/`seconds_waited` are the totals per scope for the run's log.
    """

    def __init__(self, platform: str, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.platform = platform
        self.clock = clock
        self._lock = threading.Lock()
        self._blocks: dict[tuple[str, str, str], Block] = {}
        self._windows: dict[tuple[str, str, str], RateLimitWindow] = {}
        self.waits: Counter[str] = Counter()
        self.seconds_waited: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()  # requests failed without calling

    def block(
        self, scope: str, endpoint: str, account_id: str | None, until: datetime, reason: str
    ) -> Block:
        """Stop every request of the scope until `until` (a later block already set stands)."""
        key = scope_key(scope, endpoint, account_id)
        with self._lock:
            current = self._blocks.get(key)
            if current is None or current.until < until:
                current = Block(*key, until=until, reason=reason)
                self._blocks[key] = current
            return current

    def blocking(self, endpoint: str, account_id: str | None) -> Block | None:
        """The block that ends last among those covering this request; None: go ahead."""
        now = self.clock()
        with self._lock:
            for key in [k for k, b in self._blocks.items() if b.until <= now]:
                del self._blocks[key]
            covering = [b for b in self._blocks.values() if b.covers(endpoint, account_id)]
        return max(covering, key=lambda b: b.until, default=None)

    def blocks(self) -> list[Block]:
        """The blocks still in force."""
        now = self.clock()
        with self._lock:
            return [b for b in self._blocks.values() if b.until > now]

    def observe(self, window: RateLimitWindow) -> None:
        """Keep the latest window per (endpoint, scope, account); an exhausted one with a
        known reset blocks its scope until then, so no request is spent on a refusal."""
        with self._lock:
            current = self._windows.get(window.key)
            if current is None or current.observed_at <= window.observed_at:
                self._windows[window.key] = window
        if window.exhausted and window.reset_at is not None and window.reset_at > self.clock():
            self.block(
                window.scope,
                window.endpoint,
                window.account_id,
                window.reset_at,
                f"quota of {window.endpoint} exhausted ({window.limit} per window)",
            )

    def windows(self) -> list[RateLimitWindow]:
        with self._lock:
            return list(self._windows.values())

    def count_wait(self, scope: str, seconds: float) -> None:
        with self._lock:
            self.waits[scope] += 1
            self.seconds_waited[scope] += seconds

    def count_refusal(self, scope: str) -> None:
        with self._lock:
            self.refusals[scope] += 1

    def seed(self, records: Iterable[Mapping[str, Any]]) -> list[Block]:
        """Block the scopes a previous run saw exhausted whose reset is still ahead.

        `records` are stored windows (`RateLimitWindow.to_record()`); records without a
        scope (written before scopes existed) are taken as endpoint_user of no account.
        """
        seeded = []
        now = self.clock()
        for record in records:
            reset = record.get("reset_at")
            remaining = record.get("remaining")
            if reset is None or remaining is None or remaining > 0:
                continue
            until = datetime.fromisoformat(reset)
            until = until if until.tzinfo else until.replace(tzinfo=UTC)
            if until <= now:
                continue
            scope = record.get("scope") or "endpoint_user"
            seeded.append(
                self.block(
                    scope,
                    record.get("endpoint") or "",
                    record.get("account_id"),
                    until,
                    f"quota of {record.get('endpoint')} exhausted in an earlier run",
                )
            )
        return seeded

    def summary(self) -> str:
        """`page: 3 waits (4.2s)`, per scope, for the run's log; empty when none."""
        parts = [
            f"{scope}: {self.waits[scope]} waits ({self.seconds_waited[scope]:.1f}s)"
            for scope in SCOPES
            if self.waits[scope]
        ]
        parts += [f"{scope}: {n} refused unsent" for scope, n in self.refusals.items() if n]
        return ", ".join(parts)

"""The shared HTTP layer: one requests.Session per client, retries, rate limits, redaction.

Platform clients supply two functions: `classify` (response -> typed error or None) and
`observe` (response -> rate-limit window or None); both say which scope a limit covers
(`RateLimited.scope`, `RateLimitWindow.scope`). Sessions of one platform share a
`RateLimitCoordinator` (limits.py), so a limit one worker meets stops every worker's
requests in its scope and no others. Everything else about talking HTTP lives here once.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

import social_pipeline.clients.errors as errors
from social_pipeline.clients.limits import RateLimitCoordinator, RateLimitWindow, utcnow
from social_pipeline.clients.redaction import SECRET_KEYS, Redactor, install_log_redaction

log = logging.getLogger("social_pipeline.http")
install_log_redaction()

Classifier = Callable[[requests.Response, Any, str], errors.ApiError | None]
Observer = Callable[[requests.Response, str, datetime], RateLimitWindow | None]


class Verbatim(str):
    """A query value already encoded for the wire, sent exactly as is.

    Rest.li 2.0 `List(urn%3Ali%3Ashare%3A1,...)` needs its brackets and commas literal
    and its URNs encoded once; ordinary encoding would escape it a second time.
    """


def encode_query(params: Mapping[str, Any]) -> str:
    """The query string: values form-encoded, `Verbatim` values as they are."""
    plain = {k: v for k, v in params.items() if v is not None and not isinstance(v, Verbatim)}
    parts = [urlencode(plain, doseq=True)] if plain else []
    parts += [f"{k}={v}" for k, v in params.items() if isinstance(v, Verbatim)]
    return "&".join(parts)


@dataclass
class CallStats:
    api_calls: int = 0
    retries: int = 0
    seconds_waited: float = 0.0

    def since(self, earlier: CallStats) -> CallStats:
        return CallStats(
            self.api_calls - earlier.api_calls,
            self.retries - earlier.retries,
            round(self.seconds_waited - earlier.seconds_waited, 3),
        )

    def copy(self) -> CallStats:
        return CallStats(self.api_calls, self.retries, self.seconds_waited)


@dataclass
class ApiResponse:
    """A successful, parsed response and the (redacted) request that produced it."""

    endpoint: str
    method: str
    path: str
    params: dict[str, Any]
    status: int
    body: Any
    fetched_at: datetime
    json_body: Any = None  # what a POST sent (TikTok cursors, id lists), for the raw record


@dataclass
class RetryPolicy:
    max_retries: int = 4  # transient failures, per request
    backoff_base: float = 0.5  # seconds; doubles each attempt, with jitter
    backoff_cap: float = 30.0
    max_rate_limit_wait: float = 60.0  # a longer wait is raised as RateLimited instead
    max_rate_limit_waits: int = 10  # waits for known resets, per request
    timeout: float = 30.0
    # A rate-limit answer with no reset time backs off on its own, longer schedule: a
    # limit window is seconds to minutes, not the blip a 5xx usually is.
    rate_limit_backoff_base: float = 2.0
    rate_limit_backoff_cap: float = 30.0

    def backoff(self, attempt: int) -> float:
        return _equal_jitter(self.backoff_base, self.backoff_cap, attempt)

    def rate_limit_backoff(self, attempt: int) -> float:
        return _equal_jitter(self.rate_limit_backoff_base, self.rate_limit_backoff_cap, attempt)


def _equal_jitter(base: float, cap: float, attempt: int) -> float:
    # "Equal jitter": at least half the exponential step, so retries never stampede at 0.
    step = min(cap, base * (2**attempt))
    return step / 2 + random.uniform(0, step / 2)


@dataclass
class ApiSession:
    """HTTP for one platform client. Not thread-safe: one per worker.

    `limits` is shared by every session of the platform in a run; `account_id` is the
    account this worker is pulling now, the key of user, endpoint_user and page limits.
    """

    platform: str
    base_url: str
    classify: Classifier
    observe: Observer | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    redactor: Redactor = field(default_factory=Redactor)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], datetime] = utcnow
    stats: CallStats = field(default_factory=CallStats)
    # The latest window this session saw per endpoint (the coordinator keeps them all).
    windows: dict[str, RateLimitWindow] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session)
    limits: RateLimitCoordinator | None = None
    account_id: str | None = None

    def __post_init__(self) -> None:
        if self.limits is None:
            self.limits = RateLimitCoordinator(self.platform, clock=self.clock)

    def close(self) -> None:
        self.session.close()

    def get(self, path: str, *, endpoint: str, **kwargs: Any) -> ApiResponse:
        return self.request("GET", path, endpoint=endpoint, **kwargs)

    def post(self, path: str, *, endpoint: str, **kwargs: Any) -> ApiResponse:
        return self.request("POST", path, endpoint=endpoint, **kwargs)

    def request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        auth_params: Mapping[str, str] | None = None,
        auth_headers: Mapping[str, str] | None = None,
    ) -> ApiResponse:
        """Send one API request, retrying what is worth retrying.

        `path` may be an absolute URL handed back by the platform (Graph `paging.next`,
        LinkedIn `paging.links`): its path and query are kept, its host is replaced by
        our base URL and any credential in it is dropped, so tokens in URLs the platform
        built never reach our logs or files.

        A rate limit is not waited out here but set as a block on its scope in the shared
        coordinator; every request of that scope, this one's retry included, then waits
        for it before being sent (or fails at once when the wait is longer than allowed).
        """
        path, params = self._rebase(path, params)
        query = encode_query({**params, **(auth_params or {})})
        url = self.base_url + path + (f"?{query}" if query else "")
        all_headers = {**(headers or {}), **(auth_headers or {})}
        attempt = 0
        waits = 0
        while True:
            self._await_clearance(endpoint)
            outcome = self._send_once(method, url, endpoint, json_body, all_headers)
            if isinstance(outcome, ApiResponse):
                outcome.path, outcome.params = path, self._public_params(params)
                outcome.json_body = self.redactor.data(json_body)
                return outcome
            error = outcome
            if isinstance(error, errors.AuthError | errors.PermanentError):
                raise error
            if isinstance(error, errors.RateLimited):
                wait = self._seconds_until(error.reset_at)
                if wait is None:
                    if attempt >= self.policy.max_retries:
                        error.reset_at = error.reset_if_persists or (
                            self.clock() + timedelta(seconds=60)
                        )
                        if error.reset_if_persists is not None:
                            # It persisted: the long limit, which holds for the whole scope.
                            self._block(error, endpoint, error.reset_at)
                        raise error
                    # No reset given: the whole scope backs off on the rate-limit schedule.
                    backoff = self.policy.rate_limit_backoff(attempt)
                    self._block(error, endpoint, self.clock() + timedelta(seconds=backoff))
                    attempt += 1
                    continue
                assert error.reset_at is not None
                self._block(error, endpoint, error.reset_at)
                if (
                    wait > self.policy.max_rate_limit_wait
                    or waits >= self.policy.max_rate_limit_waits
                ):
                    raise error
                waits += 1
                continue
            if attempt >= self.policy.max_retries:
                raise error
            self._pause(self.policy.backoff(attempt), f"{error.error_class} on {endpoint}")
            attempt += 1

    def _block(self, error: errors.RateLimited, endpoint: str, until: datetime) -> None:
        assert self.limits is not None
        self.limits.block(error.scope, endpoint, self.account_id, until, error.message[:200])

    def _await_clearance(self, endpoint: str) -> None:
        """Wait out every block covering this request; one longer than the allowed wait
        fails the request unsent, with the block's end as its `reset_at`."""
        assert self.limits is not None
        while (block := self.limits.blocking(endpoint, self.account_id)) is not None:
            wait = self._seconds_until(block.until) or 0.0
            if wait > self.policy.max_rate_limit_wait:
                self.limits.count_refusal(block.scope)
                raise errors.RateLimited(
                    f"{block.scope} rate limit in force ({block.reason})",
                    platform=self.platform,
                    endpoint=endpoint,
                    account_id=self.account_id,
                    reset_at=block.until,
                    scope=block.scope,
                )
            self.limits.count_wait(block.scope, wait)
            self._pause(wait, endpoint, block.scope)

    def _send_once(
        self,
        method: str,
        url: str,
        endpoint: str,
        json_body: Any,
        headers: dict[str, str],
    ) -> ApiResponse | errors.ApiError:
        try:
            response = self.session.request(
                method,
                url,
                json=json_body,
                headers=headers,
                timeout=self.policy.timeout,
            )
        except requests.Timeout as exc:
            return errors.TransientError(
                f"timed out: {self.redactor.text(str(exc))}",
                platform=self.platform,
                endpoint=endpoint,
            )
        except requests.ConnectionError as exc:
            return errors.TransientError(
                f"connection failed: {self.redactor.text(str(exc))}",
                platform=self.platform,
                endpoint=endpoint,
            )
        self.stats.api_calls += 1
        now = self.clock()
        if self.observe is not None:
            window = self.observe(response, endpoint, now)
            if window is not None:
                self._record(window)
        try:
            body: Any = response.json() if response.content else None
        except (ValueError, json.JSONDecodeError):
            body = _NOT_JSON
        if body is _NOT_JSON and response.status_code < 500:
            return errors.MalformedResponse(
                f"response is not JSON ({response.headers.get('Content-Type', 'no content type')})",
                platform=self.platform,
                endpoint=endpoint,
                status=response.status_code,
                body_text=self.redactor.text(response.text[:2000]),
            )
        error = self.classify(response, None if body is _NOT_JSON else body, endpoint)
        if error is None and response.status_code >= 500:
            error = errors.TransientError(
                f"server error {response.status_code}", platform=self.platform, endpoint=endpoint
            )
        if error is None and response.status_code >= 400:
            error = errors.PermanentError(
                f"unexpected HTTP {response.status_code}",
                platform=self.platform,
                endpoint=endpoint,
                status=response.status_code,
            )
        if error is not None:
            error.message = self.redactor.text(error.message)
            error.status = error.status or response.status_code
            if (
                isinstance(error, errors.RateLimited | errors.TransientError)
                and error.reset_at is None
            ):
                error.reset_at = retry_after(response, now)
            return error
        return ApiResponse(endpoint, method, "", {}, response.status_code, body, now)

    def _record(self, window: RateLimitWindow) -> None:
        """Keep the window, naming the account for the scopes that are per account."""
        assert self.limits is not None
        if window.scope in ("user", "endpoint_user", "page"):
            window = replace(window, account_id=self.account_id)
        self.windows[window.endpoint] = window
        self.limits.observe(window)

    def _seconds_until(self, moment: datetime | None) -> float | None:
        if moment is None:
            return None
        # A small margin: platforms round resets to whole seconds.
        return max(0.0, (moment - self.clock()).total_seconds()) + 0.05

    def _pause(self, seconds: float, why: str, scope: str | None = None) -> None:
        if scope is None:
            log.info("%s: waiting %.2fs (%s)", self.platform, seconds, why)
        else:
            log.info(
                "%s: waiting %.2fs for the %s-scoped rate limit (%s)",
                self.platform,
                seconds,
                scope,
                why,
            )
        self.stats.retries += 1
        self.stats.seconds_waited += seconds
        self.sleep(seconds)

    def _rebase(self, path: str, params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
        merged = dict(params or {})
        if "://" not in path and "?" not in path:
            return path, merged
        parts = urlsplit(path)
        url_path = parts.path
        # The platform's URL names its own host; ours may carry a path prefix (the
        # emulator serves each platform under /<platform>).
        prefix = urlsplit(self.base_url).path.rstrip("/")
        if prefix and url_path.startswith(prefix + "/"):
            url_path = url_path[len(prefix) :]
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key.lower() not in SECRET_KEYS:
                merged.setdefault(key, value)
        return url_path, merged

    def _public_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return self.redactor.data({k: v for k, v in params.items() if k.lower() not in SECRET_KEYS})


_NOT_JSON = object()


def retry_after(response: requests.Response, now: datetime) -> datetime | None:
    """When a `Retry-After: <seconds>` header says to ask again; None when it says nothing."""
    raw = response.headers.get("Retry-After", "").strip()
    if raw.isdigit():
        return now + timedelta(seconds=int(raw))
    return None

"""What the Facebook and Instagram clients share: Graph errors, usage headers, paging.

Graph reports every failure as `{"error": {"code", "error_subcode", "is_transient", ...}}`
with HTTP 400/403/500, so classification reads the code, not the status. Throttling
carries no Retry-After; the wait, when Graph gives one, is
`estimated_time_to_regain_access` (minutes) in `X-Business-Use-Case-Usage`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from requests import Response

import social_pipeline.clients.errors as errors
from social_pipeline.clients.base import PlatformClient, RawPage
from social_pipeline.clients.http import ApiResponse, ApiSession, RateLimitWindow
from social_pipeline.core.platforms import GRAPH_TIME
from social_pipeline.core.window import CollectionWindow

GRAPH_VERSION = "v24.0"

# 4 app, 17 user, 32 page, 341 app, 613 custom; 800xx are Business Use Case limits
# (80001 Pages, 80002 Instagram, ...). The scope is whose requests the limit stops.
THROTTLE_CODES = frozenset({4, 17, 32, 341, 613})
APP_CODES = frozenset({4, 341})
USER_CODES = frozenset({17})
TRANSIENT_CODES = frozenset({1, 2})
TOKEN_CODES = frozenset({102, 190})
USAGE_HEADERS = ("X-Business-Use-Case-Usage", "X-App-Usage", "X-Page-Usage")


def parse_graph_time(text: Any) -> datetime | None:
    """`2026-05-01T10:00:00+0000` as an aware datetime; None when absent or malformed."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, GRAPH_TIME).astimezone(UTC)
    except ValueError:
        return None


def throttle_scope(code: int) -> str:
    """Code 4/341: the whole app; 17: the user; 32, 613 and 800xx: that Page or IG account."""
    if code in APP_CODES:
        return "app"
    if code in USER_CODES:
        return "user"
    return "page"


def _usage_entries(
    headers: Mapping[str, str], names: tuple[str, ...] = USAGE_HEADERS
) -> list[dict[str, Any]]:
    """Every usage record in the quota headers (BUC is keyed by business object id)."""
    entries: list[dict[str, Any]] = []
    for name in names:
        raw = headers.get(name)
        if not raw:
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict) and name == "X-Business-Use-Case-Usage":
            entries.extend(
                e for records in value.values() if isinstance(records, list) for e in records
            )
        elif isinstance(value, dict):
            entries.append(value)
    return [e for e in entries if isinstance(e, dict)]


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def regain_at(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """When throttling ends per `estimated_time_to_regain_access`; None when not said."""
    minutes = max(
        (_number(e.get("estimated_time_to_regain_access")) for e in _usage_entries(headers)),
        default=0.0,
    )
    return now + timedelta(minutes=minutes) if minutes > 0 else None


def _worst_usage(entries: list[dict[str, Any]]) -> float | None:
    """The highest of call count, CPU time and total time, in percent; None: no entry."""
    if not entries:
        return None
    return max(
        _number(e.get(k)) for e in entries for k in ("call_count", "total_cputime", "total_time")
    )


def window_page(
    response: ApiResponse, time_field: str, window: CollectionWindow
) -> tuple[RawPage, bool]:
    """A posts page listing its in-window ids, and whether it is the last page to ask for:
    empty, or reaching back past the window's start (newest first)."""
    data = response.body.get("data") if isinstance(response.body, dict) else None
    items = data if isinstance(data, list) else []
    times = {i.get("id"): parse_graph_time(i.get(time_field)) for i in items if isinstance(i, dict)}
    in_window = [pid for pid, at in times.items() if pid and at and window.contains(at)]
    last = not items or any(at and at < window.start for at in times.values())
    return RawPage.from_response("posts", response, in_window), last


class GraphClient(PlatformClient):
    """A Graph API client for one Page or IG user; the version is a setting."""

    api_version: ClassVar[str] = GRAPH_VERSION
    page_size: ClassVar[int] = 100
    # The account's node as Graph's docs name it (`page-id`, `ig-user-id`), labelling the
    # profile endpoint, and the fields its profile is read with.
    profile_node: ClassVar[str]
    profile_fields: ClassVar[str]

    def __init__(
        self,
        http: ApiSession,
        account_id: str,
        token: str,
        *,
        api_version: str | None = None,
        page_size: int | None = None,
    ) -> None:
        super().__init__(http, account_id, token)
        self.version = api_version or self.api_version
        self.limit = page_size or self.page_size

    def fetch_profile(self) -> RawPage:
        """`GET /{node}?fields=...`: the account's counts as of now."""
        endpoint = f"GET /{self.version}/{{{self.profile_node}}}"
        response = self._get(
            f"/{self.version}/{self.account_id}", endpoint, {"fields": self.profile_fields}
        )
        return RawPage.from_response("profile", response)

    def _pages_in_window(
        self,
        path: str,
        endpoint: str,
        params: dict[str, Any],
        time_field: str,
        window: CollectionWindow,
    ) -> Iterator[RawPage]:
        """Posts pages, newest first, until a page reaches back past the window's start.

        Items at or after the window's end stay on the page as received but are not
        listed in `post_ids`.
        """
        for response in self._pages(path, endpoint, params):
            page, last = window_page(response, time_field, window)
            yield page
            if last:
                return

    @classmethod
    def classify(cls, response: Response, body: Any, endpoint: str) -> errors.ApiError | None:
        """Map a Graph `error` object to a typed error by its code (the status is 400 for most)."""
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return None
        code = int(_number(error.get("code")))
        subcode = int(_number(error.get("error_subcode")))
        detail = (
            f"Graph error {code}"
            + (f"/{subcode}" if subcode else "")
            + f": {error.get('message', '')}"
        )
        where = {"platform": cls.platform, "endpoint": endpoint, "status": response.status_code}
        if code in TOKEN_CODES:
            return errors.AuthError(f"access token invalid, expired or revoked ({detail})", **where)
        if code in THROTTLE_CODES or 80000 <= code < 81000:
            scope = throttle_scope(code)
            # Only the Business Use Case header says when access is regained; app and
            # user throttles name no time, so the session backs off on its own schedule.
            regain = regain_at(response.headers, datetime.now(UTC)) if scope == "page" else None
            return errors.RateLimited(detail, reset_at=regain, scope=scope, **where)
        if (
            error.get("is_transient") is True
            or code in TRANSIENT_CODES
            or response.status_code >= 500
        ):
            return errors.TransientError(detail, **where)
        # (#10) on insights means "not enough viewers", a property of the media.
        if (code == 10 and "/insights" not in endpoint) or 200 <= code < 300:
            return errors.AuthError(f"token lacks a permission ({detail})", **where)
        return errors.PermanentError(detail, **where)

    @classmethod
    def observe(
        cls, response: Response, endpoint: str, observed_at: datetime
    ) -> RateLimitWindow | None:
        """Usage headers as a window in percent: `remaining` is 100 minus the worst usage.

        `X-App-Usage` meters the whole app (scope app); `X-Business-Use-Case-Usage` and
        `X-Page-Usage` meter the Page or IG account (scope page), and only BUC says when
        access is regained. The window is that of the more used of the two (the app's on
        a tie), so the one closer to throttling is what is recorded and honoured. Graph
        sends no header while usage is near 0, so no header means no window.
        """
        app = _worst_usage(_usage_entries(response.headers, ("X-App-Usage",)))
        page_headers = ("X-Business-Use-Case-Usage", "X-Page-Usage")
        page = _worst_usage(_usage_entries(response.headers, page_headers))
        if app is None and page is None:
            return None
        if page is None or (app is not None and app >= page):
            scope, used, reset_at = "app", app or 0.0, None
        else:
            scope, used, reset_at = "page", page, regain_at(response.headers, observed_at)
        return RateLimitWindow(
            platform=cls.platform,
            endpoint=endpoint,
            limit=100,
            remaining=max(0, 100 - int(used)),
            reset_at=reset_at,
            observed_at=observed_at,
            scope=scope,
        )

    def _get(
        self, path: str, endpoint: str, params: Mapping[str, Any] | None = None
    ) -> ApiResponse:
        """One GET; errors name this account.

        The token goes in an `Authorization: Bearer` header, which Graph accepts like the
        `access_token` parameter: a URL is logged by urllib3 at DEBUG level, a header is not.
        """
        auth = {"Authorization": f"Bearer {self.token}"}
        return self.get_for_account(path, endpoint, params, auth)

    def _pages(self, path: str, endpoint: str, params: Mapping[str, Any]) -> Iterator[ApiResponse]:
        """Pages of an edge following `paging.next`, fetched only as the caller asks.

        `paging.next` is an absolute URL on Graph's host carrying our token as
        `access_token`; the session rebases it onto our base URL and drops the token
        before anything is sent or recorded.
        """
        response = self._get(path, endpoint, params)
        while True:
            yield response
            paging = response.body.get("paging") if isinstance(response.body, dict) else None
            next_url = paging.get("next") if isinstance(paging, dict) else None
            if not next_url:
                return
            response = self._get(next_url, endpoint)

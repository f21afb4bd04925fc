"""What every platform client offers, and the one way a day's pull walks through it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import requests

from social_pipeline.clients.errors import ApiError, MalformedResponse
from social_pipeline.clients.http import ApiResponse, ApiSession, RateLimitWindow
from social_pipeline.core.window import CollectionWindow, RefreshPlan

PAGE_KINDS = ("profile", "posts", "metrics")


@dataclass
class RawPage:
    """One API response as received, minus secrets: a line of the raw landing.

    `post_ids` (posts pages only) lists the ids on the page that fall inside the window;
    it drives the metrics look-ups and is not written out, since normalizing re-derives
    it from the body.
    """

    kind: str
    endpoint: str
    method: str
    path: str
    params: dict[str, Any]
    status: int | None
    body: Any
    fetched_at: datetime
    post_ids: list[str] = field(default_factory=list)
    error: str | None = None
    body_text: str | None = None
    json_body: Any = None
    # What this page lacks and why, as the client learned it (a metric the platform
    # refused, a post a batch look-up left out): `{"kind", "field", "post_id",
    # "media_type", "detail"}` per gap, `kind` one of `schema.GAP_KINDS`. The normalizer
    # turns each into a row of the `gaps` lake table.
    notes: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_response(
        cls, kind: str, response: ApiResponse, post_ids: Sequence[str] = ()
    ) -> RawPage:
        return cls(
            kind=kind,
            endpoint=response.endpoint,
            method=response.method,
            path=response.path,
            params=response.params,
            status=response.status,
            body=response.body,
            fetched_at=response.fetched_at,
            post_ids=list(post_ids),
            json_body=response.json_body,
        )

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "kind": self.kind,
            "endpoint": self.endpoint,
            "request": {"method": self.method, "path": self.path, "params": self.params}
            | ({"json": self.json_body} if self.json_body is not None else {}),
            "status": self.status,
            "fetched_at": self.fetched_at.isoformat(),
            "body": self.body,
        }
        if self.notes:
            record["notes"] = self.notes
        if self.error is not None:
            record["error"] = self.error
            record["body_text"] = self.body_text
        return record


class PlatformClient(ABC):
    """One platform, one account: the three reads a collection day needs.

    Subclasses name their endpoints after the platform's own paths with `{id}`
    placeholders (e.g. `GET /2/users/{id}/tweets`), which is how rate-limit windows and
    raw pages are labelled.
    """

    platform: ClassVar[str]
    # True when the posts listing already carries current metrics, so a day's pull needs
    # no separate metrics look-up (each avoided call is quota kept).
    metrics_in_listing: ClassVar[bool] = False

    def __init__(self, http: ApiSession, account_id: str, token: str) -> None:
        self.http = http
        self.account_id = account_id
        self.token = token
        http.redactor.add(token)

    @classmethod
    @abstractmethod
    def classify(cls, response: requests.Response, body: Any, endpoint: str) -> ApiError | None:
        """The typed error this response means, or None when it is a success."""

    @classmethod
    def observe(
        cls, response: requests.Response, endpoint: str, observed_at: datetime
    ) -> RateLimitWindow | None:
        """The rate-limit window the response reveals, if the platform reveals one."""
        return None

    @abstractmethod
    def fetch_profile(self) -> RawPage:
        """The account's profile with its follower counts as of now."""

    @abstractmethod
    def list_posts(self, window: CollectionWindow) -> Iterator[RawPage]:
        """Pages of posts created inside the window, newest first, stopping at its start."""

    @abstractmethod
    def fetch_metrics(self, post_ids: Sequence[str]) -> Iterator[RawPage]:
        """Pages of current metrics for known posts, batched to the API's maximum."""

    def collect(
        self, window: CollectionWindow, plan: RefreshPlan | None = None
    ) -> Iterator[RawPage]:
        """Everything one collection day needs from this account, page by page.

        Under a refresh `plan` (age-tiered refresh), only the plan's fresh part of the
        window is listed, and the older posts due for a read are looked up by id with
        the fresh ones the listing did not already carry metrics for.

        A page that is not JSON even after retries is yielded as an error record (the
        normalizer quarantines it) and ends the listing, since its cursor is lost; the
        caller sees `MalformedResponse` only through the record's `error` field.
        """
        yield self.fetch_profile()
        listing = plan.listing(window) if plan else window
        post_ids: list[str] = []
        try:
            for page in self.list_posts(listing):
                post_ids.extend(page.post_ids)
                yield page
        except MalformedResponse as exc:
            yield self.malformed_page("posts", exc)
            raise
        to_read = [] if self.metrics_in_listing else post_ids
        if plan:
            listed = set(post_ids)
            to_read = to_read + [i for i in plan.older_ids if i not in listed]
        if not to_read:
            return
        try:
            yield from self.fetch_metrics(to_read)
        except MalformedResponse as exc:
            yield self.malformed_page("metrics", exc)
            raise

    def get_for_account(
        self,
        path: str,
        endpoint: str,
        params: Mapping[str, Any] | None,
        auth_headers: Mapping[str, str],
        *,
        headers: Mapping[str, str] | None = None,
    ) -> ApiResponse:
        """One GET whose error, unless it already names an account, names this one."""
        try:
            return self.http.get(
                path, endpoint=endpoint, params=params, headers=headers, auth_headers=auth_headers
            )
        except ApiError as exc:
            exc.account_id = exc.account_id or self.account_id
            raise

    def malformed_page(self, kind: str, exc: MalformedResponse) -> RawPage:
        return RawPage(
            kind=kind,
            endpoint=exc.endpoint,
            method="",
            path="",
            params={},
            status=exc.status,
            body=None,
            fetched_at=self.http.clock(),
            error=str(exc),
            body_text=exc.body_text,
        )


def gap_note(
    kind: str,
    post_id: str,
    media_type: str | None,
    field_name: str | None,
    api_version: str,
    detail: str,
) -> dict[str, Any]:
    """One `RawPage.notes` entry: `kind` one of `schema.GAP_KINDS`."""
    return {
        "kind": kind,
        "field": field_name,
        "post_id": post_id,
        "media_type": media_type,
        "api_version": api_version,
        "detail": detail,
    }


def unreturned(
    asked: Sequence[str],
    returned: Collection[Any],
    detail: str | Mapping[str, str],
    api_version: str | None = None,
) -> list[dict[str, Any]]:
    """`post_unavailable` notes for ids a batch look-up was asked for and did not return.

    `detail` says why, for all of them or per id (ids it does not name get no detail).
    """
    version = {"api_version": api_version} if api_version else {}
    return [
        {
            "kind": "post_unavailable",
            "post_id": post_id,
            **version,
            "detail": detail if isinstance(detail, str) else detail.get(post_id),
        }
        for post_id in asked
        if post_id not in returned
    ]


def batches(items: Sequence[str], size: int) -> Iterator[list[str]]:
    """`items` in consecutive chunks of at most `size`."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])

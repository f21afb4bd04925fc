"""LinkedIn organization pages over the Community Management REST API (`/rest/...`).

Quirks handled here: every call carries `LinkedIn-Version` (monthly versions retire after
about a year, so it is a setting) and `X-Restli-Protocol-Version: 2.0.0`; URNs travel
URL-encoded, and lists use the Rest.li `List(a,b)` syntax whose brackets and commas must
stay literal; the posts finder has no time filter; the quota is daily and its 429 says
nothing about when it resets (00:00 UTC); posts name their images by URN, so the image
URNs of a day's posts are resolved to download URLs by the Images API, in batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

from requests import Response

import social_pipeline.clients.errors as errors
from social_pipeline.clients.base import PlatformClient, RawPage, batches, unreturned
from social_pipeline.clients.http import ApiResponse, ApiSession, Verbatim
from social_pipeline.core.window import CollectionWindow, RefreshPlan

# LinkedIn serves each monthly version for about a year (202510 retired 2026-10-15, see
# platform-apis.md §8). 202610 is released and, as of 2026-11, supported until about
# 2027-10; a newer release buys little and is less proven. Override with
# SOCIAL_PIPELINE_LINKEDIN_API_VERSION=YYYYMM.
DEFAULT_VERSION = "202610"
PROFILE = "GET /rest/networkSizes/{id}"
POSTS = "GET /rest/posts"
SHARE_STATS = "GET /rest/organizationalEntityShareStatistics"
IMAGES = "GET /rest/images"
IMAGE_URN = "urn:li:image:"


class LinkedInClient(PlatformClient):
    platform = "linkedin"
    page_size = 100  # posts per page (the finder's maximum)
    stats_batch = 50  # shares per statistics call
    images_batch = 50  # image URNs per Images API call (kept well inside URL length limits)

    def __init__(
        self, http: ApiSession, account_id: str, token: str, *, api_version: str = DEFAULT_VERSION
    ) -> None:
        super().__init__(http, account_id, token)
        self.version = api_version
        self.organization = f"urn:li:organization:{account_id}"

    @classmethod
    def classify(cls, response: Response, body: Any, endpoint: str) -> errors.ApiError | None:
        """LinkedIn's `{"message","serviceErrorCode","status"[,"code"]}` as a typed error."""
        status = response.status_code
        if status < 400:
            return None
        error = body if isinstance(body, dict) else {}
        detail = f"{error.get('code') or error.get('serviceErrorCode', '')} {error.get('message', '')}".strip()
        where = {"platform": cls.platform, "endpoint": endpoint, "status": status}
        if status == 426:
            return errors.PermanentError(
                f"the LinkedIn-Version header names a retired or unknown API version ({detail}); "
                "set SOCIAL_PIPELINE_LINKEDIN_API_VERSION=YYYYMM to a current monthly release",
                **where,
            )
        if status == 429:
            # LinkedIn sends short infrastructure-protection 429s as well as the daily quota
            # (per app and member, reset at midnight UTC), and neither says which: back off
            # on the short path first; a 429 that persists is the daily quota. Either stops
            # the whole app's requests (scope app), not just this account's.
            error = errors.RateLimited(f"throttled ({detail})", scope="app", **where)
            error.reset_if_persists = _next_utc_midnight()
            return error
        if status in (401, 403):
            return errors.AuthError(
                f"access token rejected or lacking permission ({detail})", **where
            )
        return errors.refused(detail, **where)

    def fetch_profile(self) -> RawPage:
        """`GET /rest/networkSizes/{org urn}`: follower count only (no following/posts)."""
        response = self._get(
            f"/rest/networkSizes/{quote(self.organization, safe='')}",
            PROFILE,
            {"edgeType": "COMPANY_FOLLOWED_BY_MEMBER"},
        )
        return RawPage.from_response("profile", response)

    def list_posts(self, window: CollectionWindow) -> Iterator[RawPage]:
        """`GET /rest/posts?q=author&sortBy=CREATED`, following `paging.links[rel=next]`.

        The finder has no time filter: pages come newest first and paging stops at the
        first page that reaches back past the window's start.
        """
        path: str = "/rest/posts"
        params: dict[str, Any] | None = {
            "author": self.organization,
            "q": "author",
            "count": self.page_size,
            "start": 0,
            "sortBy": "CREATED",
        }
        start_ms = window.start.timestamp() * 1000
        end_ms = window.end.timestamp() * 1000
        while True:
            response = self._get(path, POSTS, params)
            elements = _list_of(response, "elements")
            times = [(e.get("id"), _millis(e)) for e in elements if isinstance(e, dict)]
            ids = [i for i, at in times if i and at is not None and start_ms <= at < end_ms]
            yield RawPage.from_response("posts", response, ids)
            if any(at is not None and at < start_ms for _, at in times):
                return
            links = (response.body.get("paging") or {}).get("links") or []
            next_href = next(
                (link.get("href") for link in links if link.get("rel") == "next"), None
            )
            if not next_href or not elements:
                return
            # The href carries every parameter, start included; ours would override it.
            path, params = next_href, None

    def fetch_metrics(self, post_ids: Sequence[str]) -> Iterator[RawPage]:
        """`GET /rest/organizationalEntityShareStatistics`, 50 post URNs per call.

        Shares and ugcPosts go in separate `List(...)` parameters; lifetime totals (no
        time intervals) are the current metrics. A URN left out of the answer is noted as
        `post_unavailable` on the page.
        """
        for batch in batches(post_ids, self.stats_batch):
            params: dict[str, Any] = {
                "q": "organizationalEntity",
                "organizationalEntity": self.organization,
            }
            for name, kind in (("shares", "urn:li:share:"), ("ugcPosts", "urn:li:ugcPost:")):
                urns = [u for u in batch if u.startswith(kind)]
                if urns:
                    params[name] = restli_list(urns)
            response = self._get("/rest/organizationalEntityShareStatistics", SHARE_STATS, params)
            # A deleted post, or one of another organization, is left out of `elements`
            # without an error: each such URN is noted, so its missing metrics are recorded.
            returned = {
                e.get("share") or e.get("ugcPost")
                for e in _list_of(response, "elements")
                if isinstance(e, dict)
            }
            page = RawPage.from_response("metrics", response)
            page.notes = unreturned(
                batch,
                returned,
                "listed by /rest/posts but organizationalEntityShareStatistics did not "
                "return it (deleted or not the organization's)",
                self.version,
            )
            yield page

    def collect(
        self, window: CollectionWindow, plan: RefreshPlan | None = None
    ) -> Iterator[RawPage]:
        """The day's pages, then `images` pages giving the window's posts' image URNs
        their download URLs (one call per 50 images of the account's day)."""
        images: dict[str, str] = {}  # image URN -> the post showing it
        for page in super().collect(window, plan):
            if page.kind == "posts":
                images.update(image_urns(page.body, page.post_ids))
            yield page
        yield from self.fetch_images(images)

    def fetch_images(self, images: Mapping[str, str]) -> Iterator[RawPage]:
        """`GET /rest/images?ids=List(...)` (batch get), 50 image URNs per call.

        Each result carries a `downloadUrl` that expires (`downloadUrlExpiresAt`, epoch
        ms). An image the answer does not resolve (left out, or under `errors`) is noted
        as a `missing_field` gap of its post, which keeps the URN as its media id.
        """
        for batch in batches(list(images), self.images_batch):
            params = {"ids": restli_list(batch)}
            try:
                response = self._get("/rest/images", IMAGES, params)
            except (errors.AuthError, errors.PermanentError) as exc:
                # The day's posts and counts are in; images refused for good (a missing
                # permission) leave their URNs, each with a gap saying why.
                yield RawPage(
                    kind="images",
                    endpoint=IMAGES,
                    method="GET",
                    path="/rest/images",
                    params=params,
                    status=exc.status,
                    body=None,
                    fetched_at=self.http.clock(),
                    error=str(exc),
                    notes=[
                        {
                            "kind": "missing_field",
                            "post_id": images[urn],
                            "field": "downloadUrl",
                            "api_version": self.version,
                            "detail": f"the Images API refused {urn}: {exc.message}",
                        }
                        for urn in batch
                    ],
                )
                continue
            body = response.body if isinstance(response.body, dict) else {}
            results = body.get("results") if isinstance(body.get("results"), dict) else {}
            refused = body.get("errors") if isinstance(body.get("errors"), dict) else {}
            page = RawPage.from_response("images", response)
            page.notes = [
                {
                    "kind": "missing_field",
                    "post_id": images[urn],
                    "field": "downloadUrl",
                    "api_version": self.version,
                    "detail": f"the Images API did not resolve {urn}"
                    + (
                        f": {refused[urn].get('message')}"
                        if isinstance(refused.get(urn), dict)
                        else ""
                    ),
                }
                for urn in batch
                if not isinstance(results.get(urn), dict) or not results[urn].get("downloadUrl")
            ]
            yield page

    def _get(self, path: str, endpoint: str, params: Mapping[str, Any] | None) -> ApiResponse:
        """One GET with LinkedIn's version headers; errors name this account (and a 426,
        the configured version)."""
        try:
            return self.get_for_account(
                path,
                endpoint,
                params,
                {"Authorization": f"Bearer {self.token}"},
                headers={"LinkedIn-Version": self.version, "X-Restli-Protocol-Version": "2.0.0"},
            )
        except errors.PermanentError as exc:
            if exc.status != 426:
                raise
            raise errors.PermanentError(
                f"LinkedIn-Version {self.version} is retired or unknown: {exc.message}",
                platform=exc.platform,
                endpoint=exc.endpoint,
                status=exc.status,
                account_id=exc.account_id,
            ) from exc


def restli_list(urns: Sequence[str]) -> Verbatim:
    """Rest.li 2.0 `List(...)`: each URN percent-encoded, brackets and commas literal."""
    return Verbatim("List(" + ",".join(quote(u, safe="") for u in urns) + ")")


def image_urns(body: Any, post_ids: Sequence[str]) -> dict[str, str]:
    """{image URN: post id} of the listed posts `post_ids` names: a single image, the
    images of a multi-image post, an article's thumbnail."""
    wanted = set(post_ids)
    found: dict[str, str] = {}
    elements = body.get("elements") if isinstance(body, dict) else None
    for element in elements if isinstance(elements, list) else []:
        if not isinstance(element, dict) or element.get("id") not in wanted:
            continue
        content = element.get("content") if isinstance(element.get("content"), dict) else {}
        media = content.get("media") if isinstance(content.get("media"), dict) else {}
        article = content.get("article") if isinstance(content.get("article"), dict) else {}
        multi = content.get("multiImage") if isinstance(content.get("multiImage"), dict) else {}
        urns = [media.get("id"), article.get("thumbnail")]
        urns += [i.get("id") for i in multi.get("images") or [] if isinstance(i, dict)]
        for urn in urns:
            if isinstance(urn, str) and urn.startswith(IMAGE_URN):
                found.setdefault(urn, element["id"])
    return found


def _list_of(response: ApiResponse, key: str) -> list[Any]:
    """The page's item list; a JSON body without one is as unusable as HTML."""
    items = response.body.get(key) if isinstance(response.body, dict) else None
    if not isinstance(items, list):
        raise errors.MalformedResponse(
            f"response has no {key!r} list",
            platform="linkedin",
            endpoint=response.endpoint,
            status=response.status,
            body_text=str(response.body)[:2000],
        )
    return items


def _millis(element: dict[str, Any]) -> int | None:
    for key in ("createdAt", "publishedAt"):
        value = element.get(key)
        if value is not None:
            return value if isinstance(value, int) and not isinstance(value, bool) else None
    return None


def _next_utc_midnight() -> datetime:
    return datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time.min, tzinfo=UTC)

"""Instagram professional accounts over the Graph API: IG user, media, media insights.

Which insights to ask comes from `core.metric_catalog`, per API version and media type.
The metrics every listed media type has come inside the `/media` listing by field
expansion (`fields=...,insights.metric(reach,saved,shares,views)`), so a day costs the
profile plus the listing pages. What only some types have (`plays` for reels before
v22.0), or what the listing had to drop, is asked with `GET /?ids=...` (50 media that
need the same metrics per call, asked again type by type when Graph refuses one, since
its (#100) does not name the type). Per-media `GET /{media-id}/insights` calls remain
the fallback when the expansion is refused.

A metric Graph refuses with (#100) naming it is dropped and the call asked again; every
media left without it gets an `unavailable_metric` note, and the session remembers the
refusal so later pages and accounts do not ask again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from social_pipeline.clients.base import RawPage, batches, gap_note
from social_pipeline.clients.errors import PermanentError
from social_pipeline.clients.graph import GraphClient, window_page
from social_pipeline.clients.insight_refusals import refusals_of, refused_metric
from social_pipeline.core import metric_catalog as catalog
from social_pipeline.core.window import CollectionWindow

log = logging.getLogger("social_pipeline.instagram")

PLATFORM = "instagram"
MEDIA_FIELDS = (
    "id,caption,media_type,media_product_type,media_url,thumbnail_url,permalink,timestamp,"
    "like_count,comments_count,children{media_url}"
)
PROFILE_FIELDS = "followers_count,follows_count,media_count,username,name"
IDS_PER_CALL = 50  # Graph's maximum for `?ids=`
ABSENT = "asked for, but Graph's answer did not carry it (no data yet for this media)"


class InstagramClient(GraphClient):
    platform = PLATFORM
    # Likes and comments are inline; reach, saves, shares and views come by field
    # expansion, the rest by `fetch_metrics` for the media that still need them.
    metrics_in_listing = False
    # `GET /{ig-user-id}?fields=followers_count,follows_count,media_count,username,name`.
    profile_node = "ig-user-id"
    profile_fields = PROFILE_FIELDS

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        # Listing metrics instead of the catalog's (comma-separated), for experiments.
        self.insight_metrics: str | None = None
        self.refusals = refusals_of(self.http)
        # Media still missing catalog metrics after the listing: id -> (type, metrics).
        self.pending: dict[str, tuple[str, list[str]]] = {}
        # Media whose listing page had insights (nothing left to fetch for them).
        self.insights_inline: set[str] = set()
        self.expansion_refused = False

    def _listing_metrics(self) -> list[str]:
        if self.insight_metrics is not None:
            return [m for m in self.insight_metrics.split(",") if m]
        wanted = catalog.listing_metrics(PLATFORM, self.version)
        return [m for m in wanted if (self.version, m) not in self.refusals.listing]

    def list_posts(self, window: CollectionWindow) -> Iterator[RawPage]:
        """`GET /{ig-user-id}/media` with insights expanded, newest first, by `after` cursor.

        `/media` has no time filter, so paging stops after the first page that reaches a
        post older than the window's start. Newer posts (after the window's end) are on
        the page as received but not in `post_ids`.

        One metric a media on the page does not support fails the whole call with (#100)
        naming it: the page is asked again without it, and so are the pages after it. Any
        other permanent refusal of the expansion asks that page and the rest without
        insights, which `fetch_metrics` then reads per media. Transient, auth and
        rate-limit errors are not caught here.
        """
        endpoint = f"GET /{self.version}/{{ig-user-id}}/media"
        path = f"/{self.version}/{self.account_id}/media"
        metrics = self._listing_metrics()
        after: str | None = None
        while True:
            asked = [] if self.expansion_refused else list(metrics)
            params: dict[str, Any] = {"fields": MEDIA_FIELDS, "limit": self.limit}
            if asked:
                params["fields"] += f",insights.metric({','.join(asked)})"
            if after:
                params["after"] = after
            try:
                response = self._get(path, endpoint, params)
            except PermanentError as exc:
                if not asked:
                    raise
                metric = refused_metric(exc, asked)
                if metric is not None:
                    metrics.remove(metric)
                    self.refusals.listing[(self.version, metric)] = self._detail(exc)
                    log.warning("instagram %s: %s; listing without it", self.account_id, exc)
                else:
                    self.expansion_refused = True
                    log.warning(
                        "instagram %s: insights expansion refused (%s); reading insights per media",
                        self.account_id,
                        exc,
                    )
                # The same page again; with no metric left, insights are read per media.
                continue
            page, last = window_page(response, "timestamp", window)
            data = page.body.get("data") if isinstance(page.body, dict) else None
            items = {i.get("id"): i for i in data or [] if isinstance(i, dict)}
            self._take_stock(page, asked, items, page.post_ids)
            yield page
            body = response.body if isinstance(response.body, dict) else {}
            paging = body.get("paging") if isinstance(body.get("paging"), dict) else {}
            cursors = paging.get("cursors") if isinstance(paging.get("cursors"), dict) else {}
            after = cursors.get("after")
            if last or not paging.get("next") or not after:
                return

    def _take_stock(self, page: RawPage, asked: list[str], items: Any, ids: Sequence[str]) -> None:
        """Per media `ids` described by `items` (a page's media by id): note on the page
        what it cannot have, and queue what the catalog gives its type that the page
        did not carry."""
        for media_id in ids:
            item = items.get(media_id) if isinstance(items, dict) else None
            if not isinstance(item, dict):
                continue
            key = catalog.media_key(item.get("media_product_type"), item.get("media_type"))
            for column, why in catalog.unfed_columns(PLATFORM, self.version, key).items():
                page.notes.append(self._note("unavailable_metric", media_id, key, column, why))
            insights = item.get("insights") if isinstance(item.get("insights"), dict) else {}
            got = {e.get("name") for e in insights.get("data") or [] if isinstance(e, dict)}
            wanted = catalog.metrics_for(PLATFORM, self.version, key)
            need = []
            for metric in wanted:
                refused = self.refusals.media.get((self.version, key, metric))
                if metric in got:
                    continue
                if refused is not None:
                    page.notes.append(
                        self._note("unavailable_metric", media_id, key, metric, refused)
                    )
                elif metric in asked:
                    page.notes.append(self._note("missing_field", media_id, key, metric, ABSENT))
                else:
                    need.append(metric)
            if asked:
                self.insights_inline.add(media_id)
            if need:
                self.pending[media_id] = (key, need)

    def fetch_metrics(self, post_ids: Sequence[str]) -> Iterator[RawPage]:
        """The insights the listing did not carry, for the media that need them.

        Media the listing did not carry (older posts an age-tiered refresh reads again)
        are described first, 50 per call, with their type and the listing's metrics. Then
        media are asked by what they still need, whatever their type, with
        `GET /?ids=a,b&fields=id,insights.metric(...)`, 50 per call. After a refused
        expansion, one `GET /{media-id}/insights?metric=...` per media instead.
        """
        unknown = [i for i in post_ids if i not in self.pending and i not in self.insights_inline]
        if self.expansion_refused:
            yield from self._per_media([i for i in post_ids if i in self.pending] + unknown)
            return
        yield from self._describe(unknown)
        # Up to 50 media needing the same metrics per call; needs are read again before
        # each call, so a refusal met on one call spares the next.
        left = [i for i in post_ids if i in self.pending and self.pending[i][1]]
        while left:
            need = self.pending[left[0]][1]
            same = [i for i in left if self.pending[i][1] == need][:IDS_PER_CALL]
            yield from self._by_ids({i: self.pending[i][0] for i in same}, list(need))
            left = [i for i in left if i not in same and self.pending[i][1]]

    def _describe(self, ids: Sequence[str]) -> Iterator[RawPage]:
        """`GET /?ids=...&fields=id,media_type,media_product_type,insights.metric(...)`:
        media known by id only, 50 per call, taken stock of like listed media. A metric
        refused is dropped as from the listing; any other refusal of a call (a deleted
        media fails it with (#803)) reads its media one by one."""
        endpoint = f"GET /{self.version}/?ids"
        for chunk in batches(ids, IDS_PER_CALL):
            metrics = self._listing_metrics()
            while True:
                fields = "id,media_type,media_product_type"
                if metrics:
                    fields += f",insights.metric({','.join(metrics)})"
                params = {"ids": ",".join(chunk), "fields": fields}
                try:
                    response = self._get(f"/{self.version}/", endpoint, params)
                except PermanentError as exc:
                    metric = refused_metric(exc, metrics)
                    if metric is None:
                        yield from self._per_media(chunk)
                        break
                    metrics.remove(metric)
                    self.refusals.listing[(self.version, metric)] = self._detail(exc)
                    continue
                page = RawPage.from_response("metrics", response)
                self._take_stock(page, metrics, response.body, chunk)
                yield page
                break

    def _by_ids(self, media: dict[str, str], metrics: list[str]) -> Iterator[RawPage]:
        """`GET /?ids=...&fields=id,insights.metric(...)` for media (id -> type).

        Graph's (#100) does not say which media type refused the metric, so a call of
        several types is asked again type by type; for one type the metric is dropped,
        noted for every media of that type still needing it, and remembered.
        """
        endpoint = f"GET /{self.version}/?ids"
        kinds = sorted(set(media.values()))
        while metrics:
            params = {"ids": ",".join(media), "fields": f"id,insights.metric({','.join(metrics)})"}
            try:
                response = self._get(f"/{self.version}/", endpoint, params)
            except PermanentError as exc:
                metric = refused_metric(exc, metrics)
                if metric is None:
                    yield from self._per_media(list(media))
                elif len(kinds) > 1:
                    log.info("instagram %s: %s; asking type by type", self.account_id, exc)
                    for kind in kinds:
                        one = {i: k for i, k in media.items() if k == kind}
                        yield from self._by_ids(one, list(self.pending[next(iter(one))][1]))
                else:
                    yield self._refused_page(
                        exc, metric, endpoint, f"/{self.version}/", params, kinds[0]
                    )
                    metrics.remove(metric)
                    continue
                return
            yield RawPage.from_response("metrics", response)
            return

    def _per_media(self, ids: Sequence[str]) -> Iterator[RawPage]:
        """`GET /{media-id}/insights?metric=...`: one call per media (Graph has no batch
        form of this endpoint), asking what it still needs (type unknown: what the listing
        asks). A metric refused is dropped and the media asked again; a media refused
        for good ((#10) not enough viewers, subcode 2108006 posted before the business
        conversion) is recorded as an error page and skipped, so one media cannot fail
        the account."""
        endpoint = f"GET /{self.version}/{{media-id}}/insights"
        for media_id in ids:
            path = f"/{self.version}/{media_id}/insights"
            key, asked = self.pending.get(media_id, (None, self._listing_metrics()))
            asked = list(asked)
            while asked:
                params = {"metric": ",".join(asked)}
                try:
                    yield RawPage.from_response("metrics", self._get(path, endpoint, params))
                    break
                except PermanentError as exc:
                    metric = refused_metric(exc, asked)
                    if metric is None:
                        yield self._error_page(exc, endpoint, path, params)
                        break
                    noted = [media_id] if key is None else []
                    yield self._refused_page(exc, metric, endpoint, path, params, key, noted)
                    asked.remove(metric)

    def _refused_page(
        self,
        exc: PermanentError,
        metric: str,
        endpoint: str,
        path: str,
        params: dict[str, Any],
        key: str | None,
        ids: Sequence[str] = (),
    ) -> RawPage:
        """Graph's refusal of one metric for one media type, kept as a page that notes
        every media of that type still needing it (the call's and the ones after it,
        which are then not asked), plus `ids`. The session remembers the refusal."""
        detail = self._detail(exc)
        noted = list(ids)
        if key is not None:
            self.refusals.media[(self.version, key, metric)] = detail
            log.warning("instagram %s: %s media refuse %s: %s", self.account_id, key, metric, exc)
            for media_id, (kind, need) in self.pending.items():
                if kind == key and metric in need:
                    need.remove(metric)
                    noted.append(media_id)
        page = self._error_page(exc, endpoint, path, params)
        page.notes = [
            self._note("unavailable_metric", media_id, key, metric, detail) for media_id in noted
        ]
        return page

    def _error_page(
        self, exc: PermanentError, endpoint: str, path: str, params: dict[str, Any]
    ) -> RawPage:
        return RawPage(
            kind="metrics",
            endpoint=endpoint,
            method="GET",
            path=path,
            params=params,
            status=exc.status,
            body=None,
            fetched_at=self.http.clock(),
            error=str(exc),
        )

    def _detail(self, exc: PermanentError) -> str:
        return self.http.redactor.text(exc.message)

    def _note(
        self, kind: str, media_id: str, key: str | None, field_name: str | None, detail: str
    ) -> dict[str, Any]:
        return gap_note(kind, media_id, key, field_name, self.version, detail)

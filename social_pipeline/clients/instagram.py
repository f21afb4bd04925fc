"""Instagram professional accounts over the Graph API: IG user, media, media insights.

Insights come inside the `/media` listing by field expansion
(`fields=...,insights.metric(reach,saved,shares,views)`), so a day costs the profile plus
the listing pages. Per-media `GET /{media-id}/insights` calls remain the fallback.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from social_pipeline.clients.base import RawPage
from social_pipeline.clients.errors import PermanentError
from social_pipeline.clients.graph import GraphClient, window_page
from social_pipeline.core.window import CollectionWindow

log = logging.getLogger("social_pipeline.instagram")

MEDIA_FIELDS = (
    "id,caption,media_type,media_product_type,media_url,thumbnail_url,permalink,timestamp,"
    "like_count,comments_count,children{media_url}"
)
PROFILE_FIELDS = "followers_count,follows_count,media_count,username"
# Graph's (#100) naming one metric: "does not support the views metric for this media
# product type", or "the video_views metric is no longer supported".
_REFUSED_METRIC = re.compile(r"Graph error 100\b.*?\bthe (\w+) metric\b")


def refused_metric(exc: PermanentError, metrics: Sequence[str]) -> str | None:
    """The metric a (#100) refusal names, if it is one we asked for."""
    found = _REFUSED_METRIC.search(str(exc))
    return found.group(1) if found and found.group(1) in metrics else None


class InstagramClient(GraphClient):
    platform = "instagram"
    # Likes and comments are inline; reach, saves, shares and views come by field
    # expansion, else per media (`fetch_metrics` skips media read inline).
    metrics_in_listing = False
    # `impressions`, `plays` and `video_views` are retired; one retired metric fails a call.
    insight_metrics: ClassVar[str] = "reach,saved,shares,views"
    # `GET /{ig-user-id}?fields=followers_count,follows_count,media_count,username`.
    profile_node = "ig-user-id"
    profile_fields = PROFILE_FIELDS

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        # Media whose insights came inside the listing: `fetch_metrics` skips them.
        self.insights_inline: set[str] = set()

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
        metrics = [m for m in self.insight_metrics.split(",") if m]
        after: str | None = None
        while True:
            params: dict[str, Any] = {"fields": MEDIA_FIELDS, "limit": self.limit}
            if metrics:
                params["fields"] += f",insights.metric({','.join(metrics)})"
            if after:
                params["after"] = after
            try:
                response = self._get(path, endpoint, params)
            except PermanentError as exc:
                if not metrics:
                    raise
                metric = refused_metric(exc, metrics)
                if metric is not None:
                    metrics.remove(metric)
                    log.warning("instagram %s: %s; listing without it", self.account_id, exc)
                else:
                    metrics = []
                    log.warning(
                        "instagram %s: insights expansion refused (%s); reading insights per media",
                        self.account_id,
                        exc,
                    )
                # The same page again; with no metric left, insights are read per media.
                continue
            page, last = window_page(response, "timestamp", window)
            if "insights.metric(" in params["fields"]:
                self.insights_inline.update(page.post_ids)
            yield page
            body = response.body if isinstance(response.body, dict) else {}
            paging = body.get("paging") if isinstance(body.get("paging"), dict) else {}
            cursors = paging.get("cursors") if isinstance(paging.get("cursors"), dict) else {}
            after = cursors.get("after")
            if last or not paging.get("next") or not after:
                return

    def fetch_metrics(self, post_ids: Sequence[str]) -> Iterator[RawPage]:
        """`GET /{media-id}/insights?metric=reach,saved,shares,views`: one call per media
        whose insights did not come inside the listing.

        Graph has no batch form for media insights. A media it refuses for good ((#10)
        not enough viewers, subcode 2108006 posted before the business conversion) is
        recorded as an error page and skipped, so one media cannot fail the account.
        """
        endpoint = f"GET /{self.version}/{{media-id}}/insights"
        for media_id in post_ids:
            if media_id in self.insights_inline:
                continue
            path = f"/{self.version}/{media_id}/insights"
            params = {"metric": self.insight_metrics}
            try:
                yield RawPage.from_response("metrics", self._get(path, endpoint, params))
            except PermanentError as exc:
                yield RawPage(
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

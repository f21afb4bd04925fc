"""Instagram professional accounts over the Graph API: IG user, media, media insights."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import ClassVar

from social_pipeline.clients.base import RawPage
from social_pipeline.clients.errors import PermanentError
from social_pipeline.clients.graph import GraphClient
from social_pipeline.core.window import CollectionWindow

MEDIA_FIELDS = (
    "id,caption,media_type,media_product_type,media_url,thumbnail_url,permalink,timestamp,"
    "like_count,comments_count,children{media_url}"
)
PROFILE_FIELDS = "followers_count,follows_count,media_count,username"


class InstagramClient(GraphClient):
    platform = "instagram"
    # Likes and comments are inline, but reach, saves, shares and views need insights.
    metrics_in_listing = False
    # `impressions`, `plays` and `video_views` are retired; one retired metric fails a call.
    insight_metrics: ClassVar[str] = "reach,saved,shares,views"
    # `GET /{ig-user-id}?fields=followers_count,follows_count,media_count,username`.
    profile_node = "ig-user-id"
    profile_fields = PROFILE_FIELDS

    def list_posts(self, window: CollectionWindow) -> Iterator[RawPage]:
        """`GET /{ig-user-id}/media`, newest first, following `paging.next`.

        `/media` has no time filter, so paging stops after the first page that reaches a
        post older than the window's start. Newer posts (after the window's end) are on
        the page as received but not in `post_ids`.
        """
        endpoint = f"GET /{self.version}/{{ig-user-id}}/media"
        params = {"fields": MEDIA_FIELDS, "limit": self.limit}
        yield from self._pages_in_window(
            f"/{self.version}/{self.account_id}/media", endpoint, params, "timestamp", window
        )

    def fetch_metrics(self, post_ids: Sequence[str]) -> Iterator[RawPage]:
        """`GET /{media-id}/insights?metric=reach,saved,shares,views`: one call per media.

        Graph has no batch form for media insights. A media it refuses for good ((#10)
        not enough viewers, subcode 2108006 posted before the business conversion) is
        recorded as an error page and skipped, so one media cannot fail the account.
        """
        endpoint = f"GET /{self.version}/{{media-id}}/insights"
        for media_id in post_ids:
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

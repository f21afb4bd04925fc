"""Facebook Pages over the Graph API: Page profile, Page posts, post engagement fields."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import ClassVar

from social_pipeline.clients.base import RawPage, batches
from social_pipeline.clients.graph import GraphClient
from social_pipeline.core.window import CollectionWindow

# Engagement is read as fields of the post, so the listing carries current counts.
# `shares` is omitted by Graph when a post has none (the normalizer reads that as 0).
ENGAGEMENT_FIELDS = (
    "shares,reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)"
)
POST_FIELDS = (
    "id,created_time,message,permalink_url,full_picture,status_type,"
    "attachments{media_type,url,media,subattachments}," + ENGAGEMENT_FIELDS
)
METRIC_FIELDS = "id,created_time," + ENGAGEMENT_FIELDS
PROFILE_FIELDS = "followers_count,fan_count,name"


class FacebookClient(GraphClient):
    platform = "facebook"
    metrics_in_listing = True
    ids_per_call: ClassVar[int] = 50  # Graph's maximum for `?ids=`
    # `GET /{page-id}?fields=followers_count,fan_count,name`: follows and Page likes.
    profile_node = "page-id"
    profile_fields = PROFILE_FIELDS

    def list_posts(self, window: CollectionWindow) -> Iterator[RawPage]:
        """`GET /{page-id}/posts` with `since`/`until` (epoch s), following `paging.next`.

        The time filter lets Graph stop at the window's start; paging still stops at the
        first post older than it, in case Graph returns one anyway. Posts at or after the
        window's end are kept on the page as received but not listed in `post_ids`.
        """
        endpoint = f"GET /{self.version}/{{page-id}}/posts"
        params = {
            "fields": POST_FIELDS,
            "since": int(window.start.timestamp()),
            "until": int(window.end.timestamp()),
            "limit": self.limit,
        }
        yield from self._pages_in_window(
            f"/{self.version}/{self.account_id}/posts", endpoint, params, "created_time", window
        )

    def fetch_metrics(self, post_ids: Sequence[str]) -> Iterator[RawPage]:
        """`GET /?ids=a,b,...&fields=reactions...,comments...,shares`, 50 posts per call.

        Graph fails the whole call (#803) if any id no longer exists, so a deleted post
        fails its batch; the listing already carries the day's metrics.
        """
        endpoint = f"GET /{self.version}/?ids"
        for chunk in batches(post_ids, self.ids_per_call):
            params = {"ids": ",".join(chunk), "fields": METRIC_FIELDS}
            yield RawPage.from_response("metrics", self._get(f"/{self.version}/", endpoint, params))

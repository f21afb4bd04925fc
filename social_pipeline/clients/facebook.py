"""Facebook Pages over the Graph API: Page profile, Page posts, post engagement fields.

Post insights (views, reach, clicks; `core.metric_catalog`) come inside the `/posts`
listing by field expansion (`insights.metric(post_media_view,...)`), so a day still costs
the profile plus the listing pages. When Graph refuses the expansion (a token without
`read_insights`, or a metric it does not know), the page is asked again without insights
and every post on it gets an `unavailable_metric` note: likes, comments and shares still
land, and the day succeeds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from social_pipeline.clients.base import RawPage, batches, gap_note
from social_pipeline.clients.errors import ApiError, AuthError, PermanentError
from social_pipeline.clients.graph import GraphClient, window_page
from social_pipeline.core import metric_catalog as catalog
from social_pipeline.core.window import CollectionWindow

log = logging.getLogger("social_pipeline.facebook")

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
# `username` and `link` name the Page for the warehouse's `accounts` table.
PROFILE_FIELDS = "followers_count,fan_count,name,username,link"


class FacebookClient(GraphClient):
    platform = "facebook"
    metrics_in_listing = True
    ids_per_call: ClassVar[int] = 50  # Graph's maximum for `?ids=`
    # `GET /{page-id}?fields=followers_count,fan_count,name,username,link`: follows, Page
    # likes, and who the Page is.
    profile_node = "page-id"
    profile_fields = PROFILE_FIELDS

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self.metrics = catalog.metrics_for("facebook", self.version, catalog.POST)
        # Graph's words when it refused the insights expansion; later calls skip it.
        self.insights_refused: str | None = None

    def _with_insights(self, fields: str) -> str:
        if not self.metrics or self.insights_refused is not None:
            return fields
        return f"{fields},insights.metric({','.join(self.metrics)})"

    def list_posts(self, window: CollectionWindow) -> Iterator[RawPage]:
        """`GET /{page-id}/posts` with `since`/`until` (epoch s) and insights expanded,
        following `paging.next`.

        The time filter lets Graph stop at the window's start; paging still stops at the
        first post older than it, in case Graph returns one anyway. Posts at or after the
        window's end are kept on the page as received but not listed in `post_ids`.

        A refused expansion ((#10)/(#200) permission, (#100) metric) asks the same page
        again without insights (by its `after` cursor), and the pages after it too; its
        posts get `unavailable_metric` notes. `paging.next` repeats the fields asked, so
        it is followed as is.
        """
        endpoint = f"GET /{self.version}/{{page-id}}/posts"
        path = f"/{self.version}/{self.account_id}/posts"
        params: dict[str, Any] = {
            "since": int(window.start.timestamp()),
            "until": int(window.end.timestamp()),
            "limit": self.limit,
        }
        url, query = path, {**params, "fields": self._with_insights(POST_FIELDS)}
        while True:
            try:
                response = self._get(url, endpoint, query)
            except (AuthError, PermanentError) as exc:
                asked = query if query is not None else _query_of(url)
                if not self._refused_now(exc, asked):
                    raise
                # The same page again, from the cursor it was asked at.
                after = asked.get("after")
                url, query = path, {**params, "fields": POST_FIELDS}
                if after:
                    query["after"] = after
                continue
            page, last = window_page(response, "created_time", window)
            self._note_refused(page, page.post_ids)
            yield page
            body = response.body if isinstance(response.body, dict) else {}
            paging = body.get("paging") if isinstance(body.get("paging"), dict) else {}
            if last or not paging.get("next"):
                return
            url, query = paging["next"], None

    def fetch_metrics(self, post_ids: Sequence[str]) -> Iterator[RawPage]:
        """`GET /?ids=a,b,...&fields=reactions...,comments...,shares,insights...`, 50 posts
        per call (older posts an age-tiered refresh reads again; the listing already
        carries the day's metrics).

        Graph fails the whole call (#803) if any id no longer exists, so a deleted post
        fails its batch. A refused insights expansion is handled as in `list_posts`.
        """
        endpoint = f"GET /{self.version}/?ids"
        for chunk in batches(post_ids, self.ids_per_call):
            while True:
                params = {"ids": ",".join(chunk), "fields": self._with_insights(METRIC_FIELDS)}
                try:
                    response = self._get(f"/{self.version}/", endpoint, params)
                except (AuthError, PermanentError) as exc:
                    if self._refused_now(exc, params):
                        continue
                    raise
                page = RawPage.from_response("metrics", response)
                self._note_refused(page, chunk)
                yield page
                break

    def _refused_now(self, exc: ApiError, params: dict[str, Any]) -> bool:
        """Whether `exc` refuses the insights this call asked: then later calls skip them."""
        if "insights.metric(" not in str(params.get("fields", "")) or not _refuses_insights(exc):
            return False
        self.insights_refused = self.http.redactor.text(exc.message)
        log.warning("facebook %s: post insights refused (%s); asking without", self.account_id, exc)
        return True

    def _note_refused(self, page: RawPage, post_ids: Sequence[str]) -> None:
        if self.insights_refused is None:
            return
        page.notes.extend(
            gap_note(
                "unavailable_metric",
                post_id,
                catalog.POST,
                metric,
                self.version,
                self.insights_refused,
            )
            for post_id in post_ids
            for metric in self.metrics
        )


def _refuses_insights(exc: ApiError) -> bool:
    """A refusal of the insights expansion: a missing permission ((#10), (#200)-(#299)),
    or (#100) on a metric. An invalid token (190) is not one: it fails the account."""
    if isinstance(exc, AuthError):
        return "lacks a permission" in exc.message
    return "Graph error 100" in exc.message


def _query_of(url: str) -> dict[str, str]:
    """The parameters of a followed `paging.next` URL (its `fields`, its `after` cursor)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}

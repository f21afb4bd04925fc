"""TikTok Display API v2 client: the token owner's profile, videos and video metrics."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from requests import Response

import social_pipeline.clients.errors as errors
from social_pipeline.clients.base import PlatformClient, RawPage, batches, unreturned
from social_pipeline.clients.http import ApiSession
from social_pipeline.core.window import CollectionWindow

USER_FIELDS = "open_id,display_name,follower_count,following_count,likes_count,video_count"
VIDEO_FIELDS = (
    "id,create_time,title,video_description,cover_image_url,share_url,embed_link,duration,"
    "like_count,comment_count,share_count,view_count"
)
AUTH_CODES = frozenset({"access_token_invalid", "scope_not_authorized"})


class TikTokClient(PlatformClient):
    """TikTok Display API v2 over a user access token (`Authorization: Bearer act...`).

    Videos carry their counts, so a day's pull is the profile plus the video pages;
    `fetch_metrics` is the batched refresh for videos already known.
    """

    platform: ClassVar[str] = "tiktok"
    metrics_in_listing: ClassVar[bool] = True
    PROFILE = "GET /v2/user/info/"
    VIDEOS = "POST /v2/video/list/"
    QUERY = "POST /v2/video/query/"
    MAX_COUNT = 20  # max_count of video/list and video_ids of video/query

    def __init__(
        self, http: ApiSession, account_id: str, token: str, *, api_version: str = "v2"
    ) -> None:
        super().__init__(http, account_id, token)
        self.api_version = api_version
        self._auth = {"Authorization": f"Bearer {token}"}

    @classmethod
    def classify(cls, response: Response, body: Any, endpoint: str) -> errors.ApiError | None:
        """TikTok puts the verdict in `error.code`, "ok" on success.

        `rate_limit_exceeded` (429) comes with no reset time (a sliding one-minute window
        per endpoint, counted for the whole app), so it is RateLimited with no `reset_at`,
        scope `endpoint`, and every worker backs off that endpoint together;
        `access_token_invalid`/`scope_not_authorized` (401) need the user, not a retry.
        """
        status = response.status_code
        where = {"platform": cls.platform, "endpoint": endpoint, "status": status}
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        message = f"{code}: {error.get('message') or ''}".rstrip(": ") if code else f"HTTP {status}"
        if code == "rate_limit_exceeded" or status == 429:
            return errors.RateLimited(message, scope="endpoint", **where)
        if code in AUTH_CODES or status == 401:
            return errors.AuthError(message, **where)
        if code == "internal_error" or status >= 500:
            return errors.TransientError(message, **where)
        if status >= 400 or (code is not None and code != "ok"):
            return errors.PermanentError(message, **where)
        if code is None or not isinstance(body.get("data"), dict):
            return errors.MalformedResponse(
                "expected the data/error envelope", body_text=str(body)[:2000], **where
            )
        return None

    def fetch_profile(self) -> RawPage:
        """`GET /v2/user/info/?fields=...`: follower counts (needs scope `user.info.stats`).

        The token decides whose profile this is, so a token of another user is refused
        here rather than landing that user's data under this account.
        """
        response = self.http.get(
            f"/{self.api_version}/user/info/",
            endpoint=self.PROFILE,
            params={"fields": USER_FIELDS},
            auth_headers=self._auth,
        )
        open_id = (response.body["data"].get("user") or {}).get("open_id")
        if open_id is not None and open_id != self.account_id:
            raise errors.AuthError(
                f"the token belongs to open_id {open_id}, not this account",
                platform=self.platform,
                endpoint=self.PROFILE,
                account_id=self.account_id,
            )
        return RawPage.from_response("profile", response)

    def list_posts(self, window: CollectionWindow) -> Iterator[RawPage]:
        """`POST /v2/video/list/` newest first, 20 per page, while `has_more`.

        There is no time filter, but the body's `cursor` (epoch MILLISECONDS) returns only
        videos posted before it: the first request starts at the window's end, and paging
        stops after the page that reaches past the window's start (`create_time` is epoch
        SECONDS). Videos outside the window on those pages are landed but not counted.
        """
        start_s, end_s = window.start.timestamp(), window.end.timestamp()
        cursor = int(end_s * 1000)
        while True:
            response = self.http.post(
                f"/{self.api_version}/video/list/",
                endpoint=self.VIDEOS,
                params={"fields": VIDEO_FIELDS},
                json_body={"max_count": self.MAX_COUNT, "cursor": cursor},
                auth_headers=self._auth,
            )
            data = response.body["data"]
            videos = [v for v in data.get("videos") or [] if isinstance(v, dict)]
            times = [(v.get("id"), _epoch_s(v.get("create_time"))) for v in videos]
            in_window = [i for i, t in times if i and t is not None and start_s <= t < end_s]
            yield RawPage.from_response("posts", response, in_window)
            # Judge by the page's last (oldest) video, not any: a pinned old video may lead.
            oldest = times[-1][1] if times else None
            older = oldest is not None and oldest < start_s
            next_cursor = data.get("cursor")
            if (
                older
                or not data.get("has_more")
                or not isinstance(next_cursor, int)
                or next_cursor >= cursor
            ):
                return  # a cursor that does not move back would page forever
            cursor = next_cursor

    def fetch_metrics(self, post_ids: Sequence[str]) -> Iterator[RawPage]:
        """`POST /v2/video/query/` with `filters.video_ids` at most 20 per call.

        A video that is deleted, private or not the token owner's is silently absent from
        `data.videos`: each such id is noted as `post_unavailable` on the page.
        """
        for batch in batches(post_ids, self.MAX_COUNT):
            response = self.http.post(
                f"/{self.api_version}/video/query/",
                endpoint=self.QUERY,
                params={"fields": VIDEO_FIELDS},
                json_body={"filters": {"video_ids": batch}},
                auth_headers=self._auth,
            )
            data = response.body.get("data") if isinstance(response.body, dict) else None
            videos = data.get("videos") if isinstance(data, dict) else None
            returned = {str(v.get("id")) for v in videos or [] if isinstance(v, dict) and "id" in v}
            page = RawPage.from_response("metrics", response)
            page.notes = unreturned(
                batch,
                returned,
                "video/query did not return it (deleted, private or not the token owner's)",
                self.api_version,
            )
            yield page


def _epoch_s(value: Any) -> int | None:
    """`create_time` as epoch seconds; tolerate a digit string so paging still stops."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None

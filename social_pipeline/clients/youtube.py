"""YouTube channels over the Data API v3 (`/youtube/v3/...`).

Quirks handled here: videos are reached through the channel's uploads playlist (its id
comes with the profile, so it is remembered rather than asked for twice); the playlist
has no date filter; counts are strings; an unknown channel is a 200 without `items`;
403 means three different things (daily quota, per-user throttle, credentials), told
apart by `errors[].reason`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from requests import Response

import social_pipeline.clients.errors as errors
from social_pipeline.clients.base import PlatformClient, RawPage, batches, unreturned
from social_pipeline.clients.http import ApiResponse, ApiSession
from social_pipeline.core.window import CollectionWindow

PROFILE = "GET /youtube/v3/channels"
POSTS = "GET /youtube/v3/playlistItems"
VIDEOS = "GET /youtube/v3/videos"
PACIFIC = ZoneInfo("America/Los_Angeles")
UNLISTED_BY_VIDEOS = (
    "listed in the uploads playlist but videos.list did not return it (private or deleted)"
)
# Google OAuth access tokens start with "ya29."; anything else is taken for an API key.
OAUTH_PREFIX = "ya29."
_THROTTLES = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
_AUTH_REASONS = frozenset(
    {
        "keyInvalid",
        "keyExpired",
        "authError",
        "forbidden",
        "insufficientPermissions",
        "accessNotConfigured",
    }
)


class YouTubeClient(PlatformClient):
    platform = "youtube"
    page_size = 50  # playlist items per page (the maximum)
    videos_batch = 50  # ids per videos.list call (the maximum)

    def __init__(self, http: ApiSession, account_id: str, token: str) -> None:
        super().__init__(http, account_id, token)
        self.uploads_playlist: str | None = None  # learnt from the profile

    @classmethod
    def classify(cls, response: Response, body: Any, endpoint: str) -> errors.ApiError | None:
        """Google's `{"error":{"code","message","errors":[{"domain","reason"}]}}` as a typed error."""
        status = response.status_code
        if status < 400:
            return None
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        reasons = {e.get("reason") for e in error.get("errors") or [] if isinstance(e, dict)}
        reasons |= {d.get("reason") for d in error.get("details") or [] if isinstance(d, dict)}
        detail = (
            f"{'/'.join(sorted(r for r in reasons if r)) or status}: {error.get('message', '')}"
        )
        where = {"platform": cls.platform, "endpoint": endpoint, "status": status}
        if "quotaExceeded" in reasons:
            # The project's daily quota: nothing succeeds until midnight Pacific time.
            # It is the Cloud project's, so it stops every key and token of it: scope app.
            return errors.RateLimited(
                f"daily quota exhausted ({detail})",
                reset_at=_next_pacific_midnight(),
                scope="app",
                **where,
            )
        if status == 429 or reasons & _THROTTLES:
            # A short window; the session honours Retry-After, else backs off, and all
            # workers with it (the project is the unit YouTube meters).
            return errors.RateLimited(f"throttled ({detail})", scope="app", **where)
        if status == 401 or reasons & _AUTH_REASONS or "API_KEY_INVALID" in reasons:
            return errors.AuthError(f"API key or access token rejected ({detail})", **where)
        return errors.refused(detail, **where)

    def fetch_profile(self) -> RawPage:
        """`channels.list?part=snippet,statistics,contentDetails&id=`; keeps the uploads playlist id."""
        response = self._get(
            "/youtube/v3/channels",
            PROFILE,
            {"part": "snippet,statistics,contentDetails", "id": self.account_id},
        )
        items = _items(response)
        if not items:
            raise errors.PermanentError(
                "no such channel (channels.list returned no items)",
                platform=self.platform,
                endpoint=PROFILE,
                status=response.status,
                account_id=self.account_id,
            )
        uploads = ((items[0].get("contentDetails") or {}).get("relatedPlaylists") or {}).get(
            "uploads"
        )
        self.uploads_playlist = uploads or None
        return RawPage.from_response("profile", response)

    def list_posts(self, window: CollectionWindow) -> Iterator[RawPage]:
        """`playlistItems.list` on the uploads playlist, newest first, by `pageToken`.

        No date filter exists: paging stops at the first page reaching back past the
        window's start. Deleted or private uploads carry no `videoPublishedAt` and are
        skipped, not taken for the end of the window.
        """
        if self.uploads_playlist is None:
            self.fetch_profile()
        params: dict[str, Any] = {
            "part": "snippet,contentDetails",
            "playlistId": self.uploads_playlist,
            "maxResults": self.page_size,
        }
        while True:
            response = self._get("/youtube/v3/playlistItems", POSTS, params)
            times = [(_video_id(i), _published(i)) for i in _items(response)]
            ids = [v for v, at in times if v and at and window.contains(at)]
            yield RawPage.from_response("posts", response, ids)
            token = response.body.get("nextPageToken")
            if not token or any(at and at < window.start for _, at in times):
                return
            params = {**params, "pageToken": token}

    def fetch_metrics(self, post_ids: Sequence[str]) -> Iterator[RawPage]:
        """`videos.list?part=snippet,statistics,contentDetails&id=a,b,...`, 50 ids a call.

        Besides the statistics this gives the duration and live state the content type
        needs (the playlist has neither). `videos.list` silently leaves out an id it will
        not show (a private or deleted video the playlist still lists): each such id is
        noted as `post_unavailable` on the page, so its missing engagement is recorded.
        """
        for batch in batches(post_ids, self.videos_batch):
            # No maxResults: videos.list refuses it alongside `id`.
            params = {"part": "snippet,statistics,contentDetails", "id": ",".join(batch)}
            response = self._get("/youtube/v3/videos", VIDEOS, params)
            returned = {i.get("id") for i in _items(response) if isinstance(i, dict)}
            page = RawPage.from_response("metrics", response)
            page.notes = unreturned(batch, returned, UNLISTED_BY_VIDEOS)
            yield page

    def _get(self, path: str, endpoint: str, params: dict[str, Any]) -> ApiResponse:
        """One GET; errors name this account.

        An API key goes in the `X-Goog-Api-Key` header, which Google accepts like the `key`
        parameter: a URL is logged by urllib3 at DEBUG level, a header is not. An OAuth
        access token goes as `Authorization: Bearer`.
        """
        if self.token.startswith(OAUTH_PREFIX):
            auth = {"Authorization": f"Bearer {self.token}"}
        else:
            auth = {"X-Goog-Api-Key": self.token}
        return self.get_for_account(path, endpoint, params, auth)


def _items(response: ApiResponse) -> list[Any]:
    """The page's `items` (absent means none); a body that is not an object is unusable."""
    if not isinstance(response.body, dict) or not isinstance(response.body.get("items", []), list):
        raise errors.MalformedResponse(
            "response has no 'items' list",
            platform="youtube",
            endpoint=response.endpoint,
            status=response.status,
            body_text=str(response.body)[:2000],
        )
    return response.body.get("items", [])


def _video_id(item: Any) -> str | None:
    return ((item.get("contentDetails") or {}).get("videoId")) if isinstance(item, dict) else None


def _published(item: Any) -> datetime | None:
    text = (
        (item.get("contentDetails") or {}).get("videoPublishedAt")
        if isinstance(item, dict)
        else None
    )
    try:
        moment = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return moment.replace(tzinfo=moment.tzinfo or UTC) if moment else None


def _next_pacific_midnight() -> datetime:
    tomorrow = datetime.now(PACIFIC).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time.min, tzinfo=PACIFIC).astimezone(UTC)

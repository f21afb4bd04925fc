"""X (Twitter) API v2 client: one user's profile, timeline and tweet metrics."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from requests import Response

import social_pipeline.clients.errors as errors
from social_pipeline.clients.base import PlatformClient, RawPage, batches, unreturned
from social_pipeline.clients.http import ApiSession, RateLimitWindow
from social_pipeline.core.window import CollectionWindow

# The same tweet shape from the timeline and from the lookup, so one normalizer reads both.
# `referenced_tweets` marks a retweet (type "retweeted"), should the timeline include any.
TWEET_PARAMS = {
    "tweet.fields": "created_at,public_metrics,attachments,referenced_tweets",
    "expansions": "attachments.media_keys",
    # A video's or GIF's files are only in `variants` (it has no `url`).
    "media.fields": "type,url,preview_image_url,variants",
}
USAGE_CAPPED = "usage-capped"
NOT_FOUND = "resource-not-found"


class XClient(PlatformClient):
    """X API v2 over an app-only Bearer token.

    Tweets carry their `public_metrics`, so a day's pull is the profile plus the timeline
    pages; `fetch_metrics` is the batched refresh for posts already known.

    The timeline is asked for `exclude=retweets`: a retweet is someone else's post carrying
    the original's counts. With `include_retweets` they are fetched (and landed) too, but
    never listed as the account's posts; the normalizer sets them aside.
    """

    platform: ClassVar[str] = "x"
    metrics_in_listing: ClassVar[bool] = True
    PROFILE = "GET /2/users/{id}"
    TIMELINE = "GET /2/users/{id}/tweets"
    LOOKUP = "GET /2/tweets"
    MAX_PAGE = 100  # max_results is 5..100 on the user timeline
    MAX_LOOKUP = 100  # ids per GET /2/tweets

    def __init__(
        self,
        http: ApiSession,
        account_id: str,
        token: str,
        *,
        api_version: str = "2",
        page_size: int = MAX_PAGE,
        include_retweets: bool = False,
    ) -> None:
        super().__init__(http, account_id, token)
        if not 5 <= page_size <= self.MAX_PAGE:
            raise ValueError(f"x page_size must be 5..{self.MAX_PAGE}, got {page_size}")
        self.api_version = api_version
        self.page_size = page_size
        self.include_retweets = include_retweets
        self._auth = {"Authorization": f"Bearer {token}"}

    # -- errors and quota -------------------------------------------------------------

    @classmethod
    def classify(cls, response: Response, body: Any, endpoint: str) -> errors.ApiError | None:
        """X errors are problem+json; a 429 is a rate limit unless it is the usage cap.

        The monthly usage cap is also a 429 (type `.../problems/usage-capped`) but no
        wait within the run lifts it, so it is permanent. An unknown user is HTTP 200 with
        only `errors`; a lookup of deleted tweets is HTTP 200 with `errors` beside `data`,
        which is kept.
        """
        status = response.status_code
        where = {"platform": cls.platform, "endpoint": endpoint, "status": status}
        problem = _problem(body)
        if status == 429:
            if USAGE_CAPPED in problem.get("type", ""):
                return errors.PermanentError(
                    f"usage cap exceeded: {problem.get('detail', '')}", **where
                )
            # User-context windows count per endpoint per user: scope endpoint_user.
            return errors.RateLimited(
                problem.get("detail") or "Too Many Requests",
                reset_at=_reset_at(response),
                scope="endpoint_user",
                **where,
            )
        if status in (401, 403):
            return errors.AuthError(_describe(problem, "token rejected"), **where)
        if status >= 500:
            return errors.TransientError(_describe(problem, "server error"), **where)
        if status >= 400:
            return errors.PermanentError(_describe(problem, "request refused"), **where)
        if not isinstance(body, dict):
            return errors.MalformedResponse(
                "expected a JSON object", body_text=str(body)[:2000], **where
            )
        if endpoint != cls.LOOKUP and "data" not in body and body.get("errors"):
            first = body["errors"][0] if isinstance(body["errors"], list) else {}
            reason = first.get("detail") or first.get("message") or "request refused"
            return errors.PermanentError(f"{reason} ({first.get('type', 'no type')})", **where)
        return None

    @classmethod
    def observe(
        cls, response: Response, endpoint: str, observed_at: datetime
    ) -> RateLimitWindow | None:
        """X sends `x-rate-limit-limit/remaining/reset` (reset in epoch seconds) on every answer."""
        headers = response.headers
        if "x-rate-limit-remaining" not in headers:
            return None
        return RateLimitWindow(
            platform=cls.platform,
            endpoint=endpoint,
            limit=_int(headers.get("x-rate-limit-limit")),
            remaining=_int(headers.get("x-rate-limit-remaining")),
            reset_at=_reset_at(response),
            observed_at=observed_at,
            scope="endpoint_user",
        )

    # -- reads ------------------------------------------------------------------------

    def fetch_profile(self) -> RawPage:
        """`GET /2/users/{id}?user.fields=public_metrics,username`: follower counts, and the
        username that permalinks need (X returns none for tweets)."""
        response = self.http.get(
            f"/{self.api_version}/users/{self.account_id}",
            endpoint=self.PROFILE,
            params={"user.fields": "public_metrics,username"},
            auth_headers=self._auth,
        )
        return RawPage.from_response("profile", response)

    def list_posts(self, window: CollectionWindow) -> Iterator[RawPage]:
        """`GET /2/users/{id}/tweets` with `start_time`/`end_time` set to the window, so X
        itself stops at the window's start; `meta.next_token` goes back as `pagination_token`.
        Retweets are excluded unless `include_retweets`; included ones are not listed ids.
        """
        params: dict[str, Any] = {
            "start_time": _rfc3339(window.start),
            "end_time": _rfc3339(window.end),
            "max_results": self.page_size,
            **TWEET_PARAMS,
        }
        if not self.include_retweets:
            params["exclude"] = "retweets"
        while True:
            response = self.http.get(
                f"/{self.api_version}/users/{self.account_id}/tweets",
                endpoint=self.TIMELINE,
                params=params,
                auth_headers=self._auth,
            )
            tweets = response.body.get("data") or []
            in_window = [t["id"] for t in tweets if _created_in(t, window) and not is_retweet(t)]
            yield RawPage.from_response("posts", response, in_window)
            next_token = (response.body.get("meta") or {}).get("next_token")
            if not next_token or _reaches_before(tweets, window):
                return
            params = {**params, "pagination_token": next_token}

    def fetch_metrics(self, post_ids: Sequence[str]) -> Iterator[RawPage]:
        """`GET /2/tweets?ids=` with at most 100 ids per call: current `public_metrics`.

        Deleted or protected tweets come back under `errors` beside the rest; the page is
        kept whole, the normalizer uses what `data` holds, and each id missing from `data`
        is noted as `post_unavailable` (with X's error detail where it gave one).
        """
        for batch in batches(post_ids, self.MAX_LOOKUP):
            response = self.http.get(
                f"/{self.api_version}/tweets",
                endpoint=self.LOOKUP,
                params={"ids": ",".join(batch), **TWEET_PARAMS},
                auth_headers=self._auth,
            )
            page = RawPage.from_response("metrics", response)
            page.notes = _unreturned(batch, response.body, self.api_version)
            yield page


def _unreturned(ids: Sequence[str], body: Any, api_version: str) -> list[dict[str, Any]]:
    """`post_unavailable` notes for looked-up ids missing from the answer's `data`."""
    body = body if isinstance(body, dict) else {}
    data = body.get("data") if isinstance(body.get("data"), list) else []
    returned = {t.get("id") for t in data if isinstance(t, dict)}
    reasons = {
        e.get("resource_id") or e.get("value"): e.get("detail") or e.get("title")
        for e in body.get("errors") or []
        if isinstance(e, dict)
    }
    default = "GET /2/tweets?ids= did not return it (deleted or protected)"
    details = {i: reasons.get(i) or default for i in ids}
    return unreturned(ids, returned, details, api_version)


def is_retweet(tweet: Any) -> bool:
    """A retweet, by its `referenced_tweets` entry of type `retweeted`."""
    refs = tweet.get("referenced_tweets") if isinstance(tweet, dict) else None
    return isinstance(refs, list) and any(
        isinstance(r, dict) and r.get("type") == "retweeted" for r in refs
    )


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _created(tweet: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(tweet["created_at"])
    except (KeyError, TypeError, ValueError):
        return None


def _created_in(tweet: Any, window: CollectionWindow) -> bool:
    # A malformed tweet is landed as received (the normalizer quarantines it), never looked up.
    created = _created(tweet)
    return created is not None and "id" in tweet and window.contains(created)


def _reaches_before(tweets: list[Any], window: CollectionWindow) -> bool:
    # start_time should make this impossible; if X ever ignores it, stop anyway.
    return any((c := _created(t)) is not None and c < window.start for t in tweets)


def _problem(body: Any) -> dict[str, Any]:
    return body if isinstance(body, dict) else {}


def _describe(problem: dict[str, Any], fallback: str) -> str:
    title, detail = problem.get("title"), problem.get("detail")
    if title and detail and title != detail:
        return f"{title}: {detail}"
    return str(title or detail or fallback)


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.strip().isdigit() else None


def _reset_at(response: Response) -> datetime | None:
    reset = _int(response.headers.get("x-rate-limit-reset"))
    return datetime.fromtimestamp(reset, tz=UTC) if reset is not None else None

"""Emulator of the YouTube Data API v3 (`/youtube/v3/...`).

Wire facts it keeps: counts are strings, `likeCount` is absent where the owner hides
likes, times are RFC 3339 with `Z`, an unknown channel is a 200 without `items`, the
uploads playlist is `UU` + the channel id's tail, paging is an opaque `pageToken`, and a
throttle is HTTP 403 with `reason` `rateLimitExceeded` (a per-user window, `Retry-After`)
or `quotaExceeded` (the daily quota, reset at midnight Pacific time).
"""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from social_pipeline.sandbox.protocol import Emulator, Reply, Request
from social_pipeline.sandbox.youtube_resources import channel, etag, playlist_item, video

MAX_RESULTS = 50  # items per page and ids per videos call
_DEFAULT_RESULTS = 5
# A throttle lasting an hour or more can only be the daily quota: the per-user limit
# YouTube enforces is counted over 100 seconds.
_QUOTA_SECONDS = 3600
_ALL_TIME = (datetime(1970, 1, 1, tzinfo=UTC), datetime.max.replace(tzinfo=UTC))


def token_of(req: Request) -> str | None:
    """An API key (`key` parameter or `X-Goog-Api-Key` header) or an OAuth Bearer token."""
    return _api_key(req) or req.bearer()


def _api_key(req: Request) -> str | None:
    return req.query.get("key") or req.headers.get("x-goog-api-key")


def handle(req: Request, sb: Emulator) -> Reply:
    resource = req.path.removeprefix("/youtube/v3/")
    route = {"channels": _channels, "playlistItems": _playlist_items, "videos": _videos}.get(
        resource
    )
    # The Cloud project's quota, shared by every key and token (a day unless shortened).
    project = sb.limit("app", req, (), 86400.0)
    if project is not None and not project.allowed:
        return _throttled(project.reset_at - req.received_at)
    state = sb.rate(req, resource if route else "unknown", token_of(req) or "")
    if not state.allowed:
        return _throttled(state.reset_at - req.received_at)
    if route is None or req.method != "GET":
        return _error(404, "Not Found", "notFound", "global")
    if not req.query.get("part"):
        return _error(400, "Required parameter: part", "required", "global")
    return route(req, sb)


def fault_reply(kind: str, req: Request, sb: Emulator, reset_at_epoch: float | None) -> Reply:
    if kind == "rate_limit":
        return _throttled(None if reset_at_epoch is None else reset_at_epoch - req.received_at)
    if kind == "server_error":
        return _error(500, "Backend Error", "backendError", "global")
    if kind == "expired" and not _api_key(req):
        return _expired_oauth_token()
    if kind == "expired":
        reply = _error(400, "API key expired. Please renew the API key.", "keyExpired", "global")
        reply.body["error"]["status"] = "INVALID_ARGUMENT"
        return reply
    if _api_key(req):
        reply = _error(
            400, "API key not valid. Please pass a valid API key.", "keyInvalid", "usageLimits"
        )
        reply.body["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            }
        ]
        return reply
    if req.bearer():
        return _error(401, "Request had invalid authentication credentials.", "authError", "global")
    return _error(403, "The request is missing a valid API key.", "forbidden", "global")


def _channels(req: Request, sb: Emulator) -> Reply:
    """`channels.list?id=`: an unknown id is not an error, just no `items`."""
    parts = set(req.query["part"].split(","))
    items = [
        channel(sb, a, parts)
        for cid in req.query.get("id", "").split(",")
        if (a := sb.world.account("youtube", cid))
    ]
    body: dict[str, Any] = {
        "kind": "youtube#channelListResponse",
        "etag": etag("channels", req.query.get("id", "")),
    }
    body["pageInfo"] = {"totalResults": len(items), "resultsPerPage": _DEFAULT_RESULTS}
    if items:
        body["items"] = items
    return Reply(200, body)


def _playlist_items(req: Request, sb: Emulator) -> Reply:
    """`playlistItems.list` on an uploads playlist: newest first, no date filter."""
    playlist = req.query.get("playlistId", "")
    account = (
        sb.world.account("youtube", "UC" + playlist[2:]) if playlist.startswith("UU") else None
    )
    if account is None:
        message = "The playlist identified with the request's <code>playlistId</code> parameter cannot be found."
        return _error(404, message, "playlistNotFound", "youtube.playlistItem")
    try:
        size = int(req.query.get("maxResults", _DEFAULT_RESULTS))
        offset = _offset(req.query.get("pageToken"))
    except ValueError:
        return _error(
            400, "Invalid maxResults or pageToken", "invalidPageToken", "youtube.playlistItem"
        )
    if not 0 <= size <= MAX_RESULTS:
        return _error(
            400,
            f"maxResults must be between 0 and {MAX_RESULTS}",
            "invalidValue",
            "youtube.parameter",
        )
    posts = list(
        islice(
            sb.world.posts_between("youtube", account.account_id, *_ALL_TIME),
            offset,
            offset + size + 1,
        )
    )
    body: dict[str, Any] = {
        "kind": "youtube#playlistItemListResponse",
        "etag": etag(playlist, offset),
    }
    if len(posts) > size:
        body["nextPageToken"] = _token(offset + size)
    if offset:
        body["prevPageToken"] = _token(max(0, offset - size))
    body["items"] = [
        playlist_item(account, playlist, offset + i, p) for i, p in enumerate(posts[:size])
    ]
    total = sb.world.followers(account)["posts_count"]
    body["pageInfo"] = {"totalResults": total, "resultsPerPage": size}
    return Reply(200, body)


def _videos(req: Request, sb: Emulator) -> Reply:
    """`videos.list?id=a,b,...` (at most 50): ids that are not videos are left out."""
    ids = [i for i in req.query.get("id", "").split(",") if i]
    if not ids or len(ids) > MAX_RESULTS:
        return _error(
            400,
            f"Give between 1 and {MAX_RESULTS} video ids",
            "invalidFilters",
            "youtube.parameter",
        )
    parts = set(req.query["part"].split(","))
    posts = [p for i in ids if (p := sb.world.find_post("youtube", i))]
    items = [video(sb, p, parts) for p in posts]
    body = {"kind": "youtube#videoListResponse", "etag": etag("videos", ids), "items": items}
    body["pageInfo"] = {"totalResults": len(items), "resultsPerPage": len(items)}
    return Reply(200, body)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"CAE:{offset}".encode()).decode().rstrip("=")


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        prefix, _, number = (
            base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().partition(":")
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("bad page token") from exc
    if prefix != "CAE" or not number.isdigit():
        raise ValueError("bad page token")
    return int(number)


def _throttled(seconds_left: float | None) -> Reply:
    if seconds_left is not None and seconds_left >= _QUOTA_SECONDS:
        message = 'The request cannot be completed because you have exceeded your <a href="/youtube/v3/getting-started#quota">quota</a>.'
        return _error(403, message, "quotaExceeded", "youtube.quota")
    reply = _error(403, "Rate Limit Exceeded", "rateLimitExceeded", "usageLimits")
    if seconds_left is not None:
        reply.headers["Retry-After"] = str(max(1, math.ceil(seconds_left)))
    return reply


def _expired_oauth_token() -> Reply:
    """Google's answer to an expired (or otherwise dead) OAuth access token."""
    message = (
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project."
    )
    error = {
        "code": 401,
        "message": message,
        "errors": [
            {
                "message": "Invalid Credentials",
                "domain": "global",
                "reason": "authError",
                "location": "Authorization",
                "locationType": "header",
            }
        ],
        "status": "UNAUTHENTICATED",
    }
    headers = {
        "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
    }
    return Reply(401, {"error": error}, headers)


def _error(code: int, message: str, reason: str, domain: str) -> Reply:
    return Reply(
        code,
        {
            "error": {
                "code": code,
                "message": message,
                "errors": [{"message": message, "domain": domain, "reason": reason}],
            }
        },
    )

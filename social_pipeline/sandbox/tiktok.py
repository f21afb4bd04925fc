"""Emulator of the TikTok Display API v2 endpoints the product uses, on TikTok's wire format.

Routes (after the `/tiktok` prefix): `GET /v2/user/info/`, `POST /v2/video/list/`,
`POST /v2/video/query/`. Quirks kept from the real API: every answer is the envelope
`{"data": ..., "error": {"code", "message", "log_id"}}` with `code: "ok"` on success;
only the fields named in `fields` come back; `create_time` is epoch SECONDS while the
paging `cursor` is epoch MILLISECONDS; `max_count` is at most 20; there is no time filter;
and a rate-limited request is a bare 429 `rate_limit_exceeded` with no headers.

The Display API knows the user only from the token, and so does the emulator: a token
is granted to one account (`Sandbox.grant`, or the sandbox's own per-account tokens).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from social_pipeline.sandbox.protocol import Emulator, Reply, Request
from social_pipeline.sandbox.world import Post, SandboxAccount

USER_FIELDS = {
    "open_id",
    "display_name",
    "follower_count",
    "following_count",
    "likes_count",
    "video_count",
}
VIDEO_FIELDS = {
    "id",
    "create_time",
    "title",
    "video_description",
    "cover_image_url",
    "share_url",
    "embed_link",
    "duration",
    "like_count",
    "comment_count",
    "share_count",
    "view_count",
}
MAX_COUNT = 20
_ROUTES = {
    ("GET", "/v2/user/info/"): "GET /v2/user/info/",
    ("POST", "/v2/video/list/"): "POST /v2/video/list/",
    ("POST", "/v2/video/query/"): "POST /v2/video/query/",
}
_log_ids = itertools.count(1)


def token_of(req: Request) -> str | None:
    return req.bearer()


def handle(req: Request, sb: Emulator) -> Reply:
    endpoint = _ROUTES.get((req.method, req.path))
    if endpoint is None:
        return _error(404, "invalid_params", "The requested API path is not found.")
    # Each endpoint's minute is counted for the whole app (every token), sliding.
    app_wide = sb.limit("endpoint", req, (endpoint,), 60.0)
    if app_wide is not None and not app_wide.allowed:
        return fault_reply("rate_limit", req, sb, None)
    if not sb.rate(req, endpoint, token_of(req) or "").allowed:
        return fault_reply("rate_limit", req, sb, None)
    account = _account(req, sb)
    if account is None:
        return fault_reply("auth", req, sb, None)
    wanted = {f for f in req.query.get("fields", "").split(",") if f}
    known = USER_FIELDS if endpoint.startswith("GET") else VIDEO_FIELDS
    if not wanted or wanted - known:
        return _error(400, "invalid_params", f"Invalid fields: {sorted(wanted - known) or 'none'}")
    if endpoint == "GET /v2/user/info/":
        return _ok({"user": _user(sb, account, wanted)})
    body = req.body if isinstance(req.body, dict) else {}
    if endpoint == "POST /v2/video/list/":
        return _video_list(sb, account, wanted, body)
    return _video_query(sb, account, wanted, body)


def fault_reply(kind: str, req: Request, sb: Emulator, reset_at_epoch: float | None) -> Reply:
    # TikTok says nothing about when a rate limit ends (a sliding one-minute window).
    if kind == "rate_limit":
        return _error(
            429, "rate_limit_exceeded", "API rate limit was exceeded. Please try again later."
        )
    if kind == "server_error":
        return _error(500, "internal_error", "Something went wrong. Please try again later.")
    # An expired access token and a revoked one look the same on TikTok's wire.
    return _error(
        401, "access_token_invalid", "The access token is invalid or not found in the request."
    )


# -- routes ---------------------------------------------------------------------------


def _user(sb: Emulator, account: SandboxAccount, wanted: set[str]) -> dict[str, Any]:
    counts = sb.world.followers(account)
    user = {
        "open_id": account.account_id,
        "display_name": account.name,
        "follower_count": counts["followers"],
        "following_count": counts["following"],
        "likes_count": counts["posts_count"] * 40,
        "video_count": counts["posts_count"],
    }
    return {k: v for k, v in user.items() if k in wanted}


def _video_list(
    sb: Emulator, account: SandboxAccount, wanted: set[str], body: dict[str, Any]
) -> Reply:
    max_count = body.get("max_count", 10)
    cursor = body.get("cursor", int(sb.world.clock().timestamp() * 1000))
    if (
        not isinstance(max_count, int)
        or not 1 <= max_count <= MAX_COUNT
        or not isinstance(cursor, int)
    ):
        return _error(400, "invalid_params", "Invalid max_count or cursor.")
    page = list(islice(_before(sb, account, cursor), max_count + 1))
    videos = page[:max_count]
    next_cursor = _cursor_of(videos[-1]) if videos else cursor
    data = {
        "videos": [_video(sb, account, p, wanted) for p in videos],
        "cursor": next_cursor,
        "has_more": len(page) > max_count,
    }
    return _ok(data)


def _video_query(
    sb: Emulator, account: SandboxAccount, wanted: set[str], body: dict[str, Any]
) -> Reply:
    ids = (body.get("filters") or {}).get("video_ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_COUNT:
        return _error(400, "invalid_params", f"video_ids must list 1 to {MAX_COUNT} ids.")
    posts = (sb.world.find_post("tiktok", str(i)) for i in ids)
    # Only the token owner's videos are visible; others are silently absent, as on TikTok.
    videos = [
        _video(sb, account, p, wanted)
        for p in posts
        if p is not None and p.account_id == account.account_id
    ]
    return _ok({"videos": videos, "cursor": 0, "has_more": False})


# -- wire format ----------------------------------------------------------------------


def _video(sb: Emulator, account: SandboxAccount, post: Post, wanted: set[str]) -> dict[str, Any]:
    m = sb.world.metrics(post)
    video = {
        "id": post.post_id,
        "create_time": int(post.created_at.timestamp()),
        "title": post.text[:150],
        "video_description": post.text,
        "cover_image_url": post.media_url,
        "share_url": f"https://www.tiktok.com/@{account.handle}/video/{post.post_id}",
        "embed_link": f"https://www.tiktok.com/player/v1/{post.post_id}",
        "duration": 7 + post.seq % 53,
        "like_count": m["likes"],
        "comment_count": m["comments"],
        "share_count": m["shares"],
        "view_count": m["views"],
    }
    return {k: v for k, v in video.items() if k in wanted}


def _cursor_of(post: Post) -> int:
    # The world's times are whole seconds; the index within the day fills the millisecond
    # digits so two videos in the same second still page in a strict order.
    return int(post.created_at.timestamp()) * 1000 + post.seq % 100


def _before(sb: Emulator, account: SandboxAccount, cursor: int) -> Iterator[Post]:
    """The account's videos created before `cursor` (ms), newest first."""
    end = datetime.fromtimestamp(cursor // 1000 + 1, tz=UTC)
    start = datetime(2000, 1, 1, tzinfo=UTC)  # no time filter: the whole history
    for post in sb.world.posts_between("tiktok", account.account_id, start, end):
        if _cursor_of(post) < cursor:
            yield post


def _account(req: Request, sb: Emulator) -> SandboxAccount | None:
    open_id = sb.account_for_token("tiktok", token_of(req))
    return sb.world.account("tiktok", open_id) if open_id else None


def _ok(data: dict[str, Any]) -> Reply:
    return Reply(200, {"data": data, "error": {"code": "ok", "message": "", "log_id": log_id()}})


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(
        status, {"data": {}, "error": {"code": code, "message": message, "log_id": log_id()}}
    )


def log_id() -> str:
    """TikTok's `log_id`: a timestamp and a request serial (the OAuth endpoints send one too)."""
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S") + f"{next(_log_ids):018X}"

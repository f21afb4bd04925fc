"""What the Facebook and Instagram emulators share: the Graph API's wire conventions.

Graph answers every error with `{"error": {message, type, code, error_subcode,
fbtrace_id, is_transient}}`, reports quota use in `X-App-Usage` and
`X-Business-Use-Case-Usage` headers, pages with opaque `after` cursors plus an absolute
`paging.next` URL, and writes times as `2026-05-01T10:00:00+0000`.
"""

from __future__ import annotations

import base64
import json
import math
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from social_pipeline.sandbox.protocol import Emulator, InsightKnobs, RateState, Reply, Request
from social_pipeline.sandbox.world import Post, SandboxAccount

_VERSION = re.compile(r"^v\d+\.\d+$")
# Graph words session times in Menlo Park's time zone.
_PACIFIC = ZoneInfo("America/Los_Angeles")


@dataclass(frozen=True)
class Flavor:
    """How one Graph product names its Business Use Case and its throttling error."""

    buc_type: str  # "pages" | "instagram"
    throttle_code: int  # 80001 Pages, 80002 Instagram
    throttle_message: str


@dataclass(frozen=True)
class Nodes:
    """What `GET /{id}` shows of one Graph product: the account's profile, else a post.

    Each comes with the fields (besides `id`) Graph returns when `fields=` is not given.
    """

    platform: str
    profile: Callable[[SandboxAccount, dict[str, int]], dict[str, Any]]
    profile_default: tuple[str, ...]
    post: Callable[[Post, Emulator, set[str]], dict[str, Any]]
    post_default: tuple[str, ...]

    def reply(self, req: Request, sb: Emulator, object_id: str) -> Reply:
        account = sb.world.account(self.platform, object_id)
        if account is not None:
            profile = self.profile(account, sb.world.followers(account))
            fields = requested_fields(req, self.profile_default)
            return Reply(200, {k: v for k, v in profile.items() if k in fields})
        post = sb.world.find_post(self.platform, object_id)
        if post is None:
            return unsupported_get(object_id)
        return Reply(200, self.post(post, sb, requested_fields(req, self.post_default)))


def insight_knobs(sb: Emulator) -> InsightKnobs:
    """The insight knobs of one emulator (tests turn them: `insight_knobs(sb).x = ...`)."""
    return sb.config.insight


def version_number(version: str) -> float:
    """`v22.0` -> 22.0, for "from version N on" rules."""
    return float(version.lstrip("v"))


def insight_entry(object_id: str, name: str, value: int) -> dict[str, Any]:
    """One lifetime insight as Graph writes it inside `insights.data`."""
    words = name.replace("_", " ")
    return {
        "name": name,
        "period": "lifetime",
        "values": [{"value": value}],
        "title": words.capitalize(),
        "description": f"Lifetime {words} of this object.",
        "id": f"{object_id}/insights/{name}/lifetime",
    }


def expanded_metrics(req: Request) -> list[str] | None:
    """The metrics of `insights.metric(a,b)` in `fields=`; None when insights are not
    asked, [] for a bare `insights`."""
    found = _EXPANSION.search(req.query.get("fields", ""))
    if found is None:
        return None
    return [m.strip() for m in (found.group(1) or "").split(",") if m.strip()]


_EXPANSION = re.compile(r"(?:^|,)\s*insights(?:\.metric\(([^)]*)\))?")


def token_of(req: Request) -> str | None:
    """Graph takes the token as `access_token` in the query, or as a Bearer header."""
    return req.query.get("access_token") or req.bearer()


def graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def split_path(req: Request) -> tuple[str, list[str]] | None:
    """`/v24.0/123/posts` -> ("v24.0", ["123", "posts"]); None without a version."""
    parts = [p for p in req.path.split("/") if p]
    if not parts or not _VERSION.match(parts[0]):
        return None
    return parts[0], parts[1:]


def requested_fields(req: Request, default: tuple[str, ...]) -> set[str]:
    """Top-level names in `fields=` (`reactions.summary(total_count).limit(0)` -> reactions).

    Commas inside `{...}` or `(...)` belong to a nested selection, not to the top level.
    """
    spec = req.query.get("fields")
    if not spec:
        return {"id", *default}
    names, depth, current = {"id"}, 0, ""
    for char in spec + ",":
        if char in "{(":
            depth += 1
        elif char in "})":
            depth -= 1
        if char == "," and depth == 0:
            names.add(re.split(r"[.{(]", current.strip(), maxsplit=1)[0])
            current = ""
        else:
            current += char
    return names


# -- errors -----------------------------------------------------------------------------


def error_reply(
    status: int,
    code: int,
    message: str,
    *,
    kind: str = "OAuthException",
    subcode: int | None = None,
    transient: bool = False,
    headers: dict[str, str] | None = None,
) -> Reply:
    error: dict[str, object] = {"message": message, "type": kind, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["is_transient"] = transient
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(15)
    return Reply(status, {"error": error}, headers=headers or {})


def unsupported_get(object_id: str) -> Reply:
    """Graph's answer for an id that does not exist or that the token cannot see."""
    return error_reply(
        400,
        100,
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation. Please read "
        "the Graph API documentation at https://developers.facebook.com/docs/graph-api",
        kind="GraphMethodException",
        subcode=33,
    )


def unknown_path(req: Request) -> Reply:
    return error_reply(400, 2500, f"Unknown path components: {req.path}")


def auth_reply(token: str | None) -> Reply:
    """Error 190: no token parses, or the session behind it was invalidated (revoked)."""
    if not token:
        return error_reply(400, 190, "Invalid OAuth access token - Cannot parse access token")
    reply = error_reply(
        400,
        190,
        "Error validating access token: The session has been invalidated because the user "
        "changed their password or Facebook has changed the session for security reasons.",
        subcode=460,
    )
    reply.headers["WWW-Authenticate"] = (
        'OAuth "Facebook Platform" "invalid_token" "Error validating access token"'
    )
    return reply


def session_expired_message(expired_at: datetime, now: datetime) -> str:
    """Graph's words for an expired token (error 190, subcode 463), times in Pacific time:
    `Session has expired on Friday, 20-Nov-26 22:00:00 PST. The current time is ...`."""

    def when(moment: datetime) -> str:
        return moment.astimezone(_PACIFIC).strftime("%A, %d-%b-%y %H:%M:%S %Z")

    return (
        f"Error validating access token: Session has expired on {when(expired_at)}. "
        f"The current time is {when(now)}."
    )


def expired_reply(expired_at: datetime, now: datetime) -> Reply:
    """Error 190/463: the token's session expired (a 60-day user token, say)."""
    message = session_expired_message(expired_at, now)
    reply = error_reply(400, 190, message, subcode=463)
    reply.headers["WWW-Authenticate"] = f'OAuth "Facebook Platform" "invalid_token" "{message}"'
    return reply


# -- quota ------------------------------------------------------------------------------


def _minutes_until(reset_at: float, now: float) -> float | int:
    """Graph's `estimated_time_to_regain_access` is whole minutes.

    Below one minute the emulator sends a fraction (rounded up, never early) instead of
    rounding to 1, so tests can wait out a 1.5 s window; the client parses either.
    """
    seconds = max(0.0, reset_at - now)
    if seconds >= 60:
        return math.ceil(seconds / 60)
    return math.ceil(seconds / 60 * 10_000) / 10_000


# Graph meters an app per hour and a Page (Business Use Case) per day; tests shorten both.
APP_WINDOW_S = 3600.0
PAGE_WINDOW_S = 86400.0
USER_WINDOW_S = 3600.0


def usage_headers(
    flavor: Flavor,
    owner: str,
    page_percent: int,
    reset_at: float,
    now: float,
    app_percent: int = 0,
) -> dict[str, str]:
    """X-App-Usage (the app's use) and X-Business-Use-Case-Usage (the Page's, with the
    wait once it is exhausted), in percent."""
    eta = _minutes_until(reset_at, now) if page_percent >= 100 else 0
    # Calls are what the emulator counts; CPU and time shares stay low, as for cheap reads.
    app = {
        "call_count": app_percent,
        "total_cputime": min(app_percent, 5),
        "total_time": min(app_percent, 5),
    }
    usage = {
        "call_count": page_percent,
        "total_cputime": min(page_percent, 5),
        "total_time": min(page_percent, 5),
    }
    buc = {owner: [{"type": flavor.buc_type, **usage, "estimated_time_to_regain_access": eta}]}
    return {
        "X-App-Usage": json.dumps(app, separators=(",", ":")),
        "X-Business-Use-Case-Usage": json.dumps(buc, separators=(",", ":")),
    }


def _percent_used(state: RateState | None) -> int:
    if state is None:
        return 0
    if not state.allowed or state.remaining <= 0:
        return 100
    return min(99, 100 * (state.limit - state.remaining) // state.limit)


def throttled_reply(
    flavor: Flavor, owner: str, reset_at: float, now: float, app_percent: int = 0
) -> Reply:
    """Graph's BUC throttling: HTTP 400, error 80001/80002, the wait in the usage header."""
    return error_reply(
        400,
        flavor.throttle_code,
        flavor.throttle_message,
        headers=usage_headers(flavor, owner, 100, reset_at, now, app_percent),
    )


def app_throttled_reply(flavor: Flavor, owner: str, page_percent: int, now: float) -> Reply:
    """The app's hourly limit, across every token: error 4, X-App-Usage at 100 and no
    time to regain access (Graph gives none for app throttling)."""
    return error_reply(
        400,
        4,
        "(#4) Application request limit reached",
        headers=usage_headers(flavor, owner, page_percent, now, now, 100),
    )


def user_throttled_reply(flavor: Flavor, owner: str, now: float) -> Reply:
    """One user's (token's) limit across every endpoint: error 17, no time given."""
    return error_reply(
        400,
        17,
        "(#17) User request limit reached",
        headers=usage_headers(flavor, owner, 0, now, now),
    )


def metered(
    req: Request,
    sb: Emulator,
    endpoint: str,
    owner: str,
    flavor: Flavor,
    build: Callable[[], Reply],
) -> Reply:
    """Count the request against the app's, the user's and the Page's limits (and the
    endpoint-and-token window, reported as the Page's usage); throttle it at the first
    one exhausted, else answer with the usage headers."""
    token = token_of(req) or ""
    now = req.received_at
    app = sb.limit("app", req, (), APP_WINDOW_S)
    user = sb.limit("user", req, (token,), USER_WINDOW_S)
    page = sb.limit("page", req, (owner,), PAGE_WINDOW_S)
    legacy = sb.rate(req, endpoint, token)
    # The Page's usage is the more used of its own limit and the endpoint-and-token one.
    page_state = legacy if page is None or _percent_used(legacy) >= _percent_used(page) else page
    page_percent = _percent_used(page_state)
    if app is not None and not app.allowed:
        return app_throttled_reply(flavor, owner, page_percent, now)
    if user is not None and not user.allowed:
        return user_throttled_reply(flavor, owner, now)
    for state in (page, legacy):
        if state is not None and not state.allowed:
            return throttled_reply(flavor, owner, state.reset_at, now, _percent_used(app))
    reply = build()
    reply.headers.update(
        usage_headers(flavor, owner, page_percent, page_state.reset_at, now, _percent_used(app))
    )
    return reply


def fault_reply(
    kind: str, req: Request, sb: Emulator, reset_at_epoch: float | None, flavor: Flavor, owner: str
) -> Reply:
    if kind == "rate_limit":
        reset = reset_at_epoch if reset_at_epoch is not None else req.received_at + 60
        return throttled_reply(flavor, owner, reset, req.received_at)
    if kind == "server_error":
        message = "An unexpected error has occurred. Please retry your request later."
        return error_reply(500, 2, message, transient=True)
    if kind == "auth":
        return auth_reply(token_of(req))
    if kind == "expired":
        now = sb.world.clock()
        # An injected fault on a token that never expires: say it expired just now.
        expired_at = sb.token_expires_at(token_of(req)) or now
        return expired_reply(min(expired_at, now), now)
    raise ValueError(f"no Graph answer for fault {kind!r}")


# -- paging -----------------------------------------------------------------------------


def encode_cursor(post: Post) -> str:
    raw = f"{int(post.created_at.timestamp())}:{post.seq}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int] | None:
    """(created_at epoch, seq) of the post a cursor points at; None if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        epoch, seq = raw.split(":")
        return int(epoch), int(seq)
    except ValueError:
        return None


def page_limit(req: Request, default: int, maximum: int) -> int:
    """`limit=`: Graph quietly caps a large value at the edge's maximum."""
    try:
        value = int(req.query.get("limit", default))
    except ValueError:
        value = default
    return max(1, min(value, maximum))


def take_page(posts: Iterator[Post], after_seq: int | None, limit: int) -> tuple[list[Post], bool]:
    """Up to `limit` posts after the cursor (newest first), and whether more follow.

    A post's `seq` grows with its creation time, so "after the cursor" is `seq < after`.
    """
    if after_seq is not None:
        posts = (p for p in posts if p.seq < after_seq)
    batch = list(islice(posts, limit + 1))
    return batch[:limit], len(batch) > limit


def paging_block(req: Request, page: list[Post], has_more: bool) -> dict[str, object]:
    """`paging` with cursors and, when more follow, an absolute `next` URL like Graph's.

    The URL repeats every parameter the client sent and adds `access_token`, however
    the token came (parameter or Bearer header), as Graph does: the client must not
    land, log or resend it as a parameter.
    """
    if not page:
        return {}
    block: dict[str, object] = {
        "cursors": {"before": encode_cursor(page[0]), "after": encode_cursor(page[-1])}
    }
    if has_more:
        query = {**req.query, "access_token": token_of(req) or "", "after": encode_cursor(page[-1])}
        host = req.headers.get("host", "127.0.0.1")
        block["next"] = f"http://{host}/{req.platform}{req.path}?{urlencode(query)}"
    return block


def posts_by_ids(
    req: Request, sb: Emulator, platform: str, max_ids: int
) -> tuple[list[Post], Reply | None]:
    """The posts `?ids=a,b` names, or Graph's refusal: too many ids (#100), or any id that
    does not exist (#803 fails the whole call)."""
    ids = [i for i in req.query["ids"].split(",") if i]
    if len(ids) > max_ids:
        return [], error_reply(
            400, 100, f"(#100) Too many IDs. Maximum: {max_ids}. Provided: {len(ids)}."
        )
    posts = {i: sb.world.find_post(platform, i) for i in ids}
    missing = [i for i, p in posts.items() if p is None]
    if missing:
        return [], error_reply(
            400, 803, f"(#803) Some of the aliases you requested do not exist: {','.join(missing)}"
        )
    return [p for p in posts.values() if p is not None], None

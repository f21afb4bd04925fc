"""Emulator of the X API v2 endpoints the product uses, on X's own wire format.

Routes (after the `/x` prefix): `GET /2/users/{id}`, `GET /2/users/{id}/tweets`,
`GET /2/tweets?ids=`. Quirks kept from the real API: ids are strings, `created_at` is
`2026-05-01T10:00:00.000Z`, fields appear only when `tweet.fields`/`user.fields`/
`media.fields` ask for them, media sit in `includes.media`, an unknown user is HTTP 200
with only `errors`, every answer carries `x-rate-limit-*` headers (reset in epoch
seconds) and errors are `application/problem+json`.

The user timeline includes retweets unless `exclude=retweets`, as X's does: about one
item in five is a retweet of another sandbox account's post, with its own id, `text`
`RT @handle: ...`, `referenced_tweets: [{"type": "retweeted", ...}]` and the ORIGINAL
tweet's `public_metrics`. A retweet sits just before (newer than) the own post it rides on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from social_pipeline.sandbox.protocol import Emulator, Reply, Request
from social_pipeline.sandbox.world import Post, _h

PROBLEM = {"Content-Type": "application/problem+json"}
_PROBLEMS = "https://api.twitter.com/2/problems/"

# The world's X content types are X's media types; text posts carry no attachment.
_MEDIA_KEY_PREFIX = {"photo": "3", "video": "7", "animated_gif": "16"}

_USER = re.compile(r"^/2/users/([^/]+)$")
_TIMELINE = re.compile(r"^/2/users/([^/]+)/tweets$")
_EXCLUDABLE = {"retweets", "replies"}  # the sandbox has no replies; the value is still valid
# Own tweet ids start with "18" (see world._post_id); a retweet riding on one starts with "19".
_OWN, _RETWEET = "18", "19"


@dataclass(frozen=True)
class _Item:
    """A timeline item: an own post, or (with `original`) a retweet riding on `post`."""

    post: Post
    original: Post | None = None
    original_handle: str = ""

    @property
    def tweet_id(self) -> str:
        return _RETWEET + self.post.post_id[2:] if self.original else self.post.post_id

    @property
    def key(self) -> tuple[datetime, int, int]:
        # Newest-first order: a retweet is just newer than the post it rides on.
        return (self.post.created_at, self.post.seq, 1 if self.original else 0)


def token_of(req: Request) -> str | None:
    return req.bearer()


def handle(req: Request, sb: Emulator) -> Reply:
    user_id = ""
    if req.method != "GET":
        return _not_found()
    if req.path == "/2/tweets":
        endpoint, route = "GET /2/tweets", _lookup
    elif match := _TIMELINE.match(req.path):
        endpoint, route, user_id = "GET /2/users/{id}/tweets", _timeline, match.group(1)
    elif match := _USER.match(req.path):
        endpoint, route, user_id = "GET /2/users/{id}", _user, match.group(1)
    else:
        return _not_found()
    state = sb.rate(req, endpoint, token_of(req) or "")
    headers = {
        "x-rate-limit-limit": str(state.limit),
        "x-rate-limit-remaining": str(state.remaining),
        "x-rate-limit-reset": str(math.ceil(state.reset_at)),
    }
    if not state.allowed:
        return _problem(429, "Too Many Requests", headers)
    reply = route(req, sb, user_id)
    reply.headers.update(headers)
    return reply


def fault_reply(kind: str, req: Request, sb: Emulator, reset_at_epoch: float | None) -> Reply:
    if kind == "rate_limit":
        reset = reset_at_epoch or req.received_at + sb.config.rate_limit_window_s
        headers = {
            "x-rate-limit-limit": str(sb.config.rate_limit),
            "x-rate-limit-remaining": "0",
            # X rounds to whole seconds; rounding up never invites an early retry.
            "x-rate-limit-reset": str(math.ceil(reset)),
        }
        return _problem(429, "Too Many Requests", headers)
    if kind == "server_error":
        return _problem(503, "Service Unavailable")
    # `auth` and `expired`: X says no more than Unauthorized either way.
    return _problem(401, "Unauthorized")


# -- routes ---------------------------------------------------------------------------


def _user(req: Request, sb: Emulator, user_id: str) -> Reply:
    if not user_id.isdigit():
        return _invalid("id", user_id)
    account = sb.world.account("x", user_id)
    if account is None:
        return Reply(200, {"errors": [_not_found_error("user", "id", user_id)]})
    user: dict[str, Any] = {
        "id": account.account_id,
        "name": account.name,
        "username": account.handle,
    }
    if "public_metrics" in _fields(req, "user.fields"):
        counts = sb.world.followers(account)
        user["public_metrics"] = {
            "followers_count": counts["followers"],
            "following_count": counts["following"],
            "tweet_count": counts["posts_count"],
            "listed_count": counts["followers"] // 200,
            "like_count": counts["posts_count"] * 3,
        }
    return Reply(200, {"data": user})


def _timeline(req: Request, sb: Emulator, user_id: str) -> Reply:
    if not user_id.isdigit():
        return _invalid("id", user_id)
    raw_max = req.query.get("max_results", "10")
    if not raw_max.isdigit() or not 5 <= int(raw_max) <= 100:
        return _invalid("max_results", raw_max)
    start = _rfc3339(req.query.get("start_time"), datetime(2006, 3, 21, tzinfo=UTC))
    end = _rfc3339(req.query.get("end_time"), sb.world.clock())
    if start is None or end is None:
        name = "start_time" if start is None else "end_time"
        return _invalid(name, req.query.get(name, ""))
    exclude = _fields(req, "exclude")
    if not exclude <= _EXCLUDABLE:
        return _invalid("exclude", req.query.get("exclude", ""))
    if sb.world.account("x", user_id) is None:
        return Reply(200, {"errors": [_not_found_error("user", "id", user_id)]})
    after = None
    if token := req.query.get("pagination_token"):
        after = _decode_token(sb, token)
        if after is None or after.post.account_id != user_id:
            return _invalid("pagination_token", token)
    retweets = "retweets" not in exclude
    items = _older(sb, user_id, start, end, after, retweets)
    page = list(islice(items, int(raw_max) + 1))
    posts, more = page[: int(raw_max)], len(page) > int(raw_max)
    body = _tweets_body(req, sb, posts)
    meta: dict[str, Any] = {"result_count": len(posts)}
    if posts:
        meta.update(newest_id=posts[0].tweet_id, oldest_id=posts[-1].tweet_id)
    if more:
        meta["next_token"] = _encode_token(posts[-1])
    body["meta"] = meta
    return Reply(200, body)


def _lookup(req: Request, sb: Emulator, _: str) -> Reply:
    raw = req.query.get("ids", "")
    ids = [i for i in raw.split(",") if i]
    if not 1 <= len(ids) <= 100 or not all(i.isdigit() for i in ids):
        return _invalid("ids", raw)
    found = {i: _find(sb, i) for i in ids}
    body = _tweets_body(req, sb, [p for p in found.values() if p is not None])
    missing = [_not_found_error("tweet", "ids", i) for i, p in found.items() if p is None]
    if missing:
        body["errors"] = missing  # X keeps the found ones and lists the rest beside them
    return Reply(200, body)


# -- wire format ----------------------------------------------------------------------


def _tweets_body(req: Request, sb: Emulator, items: list[_Item]) -> dict[str, Any]:
    fields = _fields(req, "tweet.fields")
    media_fields = _fields(req, "media.fields")
    expand = "attachments.media_keys" in _fields(req, "expansions")
    tweets, media = [], []
    for item in items:
        post, original = item.post, item.original
        tweet: dict[str, Any] = {
            "id": item.tweet_id,
            "text": f"RT @{item.original_handle}: {original.text}" if original else post.text,
            "edit_history_tweet_ids": [item.tweet_id],
        }
        if "created_at" in fields:
            tweet["created_at"] = post.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if original is not None:
            # X gives a retweet the original's counts; its media stay on the original.
            if "referenced_tweets" in fields:
                tweet["referenced_tweets"] = [{"type": "retweeted", "id": original.post_id}]
            if "public_metrics" in fields:
                tweet["public_metrics"] = _public_metrics(sb, original)
            tweets.append(tweet)
            continue
        if "public_metrics" in fields:
            tweet["public_metrics"] = _public_metrics(sb, post)
        if post.content_type in _MEDIA_KEY_PREFIX:
            key = f"{_MEDIA_KEY_PREFIX[post.content_type]}_{post.post_id[2:]}"
            if "attachments" in fields or expand:
                tweet["attachments"] = {"media_keys": [key]}
            if expand:
                media.append(_media(post, key, media_fields))
        tweets.append(tweet)
    body: dict[str, Any] = {"data": tweets} if tweets else {}
    if media:
        body["includes"] = {"media": media}
    return body


def _public_metrics(sb: Emulator, post: Post) -> dict[str, int]:
    m = sb.world.metrics(post)
    return {
        "retweet_count": m["shares"],
        "reply_count": m["comments"],
        "like_count": m["likes"],
        "quote_count": m["quotes"],
        "bookmark_count": m["bookmarks"],
        "impression_count": m["views"],
    }


def _media(post: Post, key: str, fields: set[str]) -> dict[str, Any]:
    item: dict[str, Any] = {"media_key": key, "type": post.content_type}
    # Photos have a `url`; videos and GIFs only a `preview_image_url` and their files in
    # `variants` (the real split).
    if post.content_type == "photo" and "url" in fields:
        item["url"] = post.media_url
    if post.content_type != "photo" and "preview_image_url" in fields:
        item["preview_image_url"] = post.media_url
    if post.content_type != "photo" and "variants" in fields:
        item["variants"] = media_variants(post)
    return item


def media_variants(post: Post) -> list[dict[str, Any]]:
    """A video's or GIF's `variants`, as X lists them (not sorted by bit rate).

    A video: an HLS playlist without `bit_rate` and MP4s at several bit rates. A GIF: X
    serves it as a single MP4 with `bit_rate` 0.
    """
    base = f"https://video.sandbox.example/x/{post.post_id}"
    if post.content_type == "animated_gif":
        return [{"bit_rate": 0, "content_type": "video/mp4", "url": f"{base}/gif.mp4"}]
    return [
        {"content_type": "application/x-mpegURL", "url": f"{base}/pl.m3u8?tag=12"},
        {"bit_rate": 632000, "content_type": "video/mp4", "url": f"{base}/vid/480x270.mp4"},
        {"bit_rate": 2176000, "content_type": "video/mp4", "url": f"{base}/vid/1280x720.mp4"},
        {"bit_rate": 950000, "content_type": "video/mp4", "url": f"{base}/vid/640x360.mp4"},
    ]


def playable_url(post: Post) -> str:
    """The URL a client should play: the highest-bit-rate MP4 variant (photos: the image)."""
    mp4s = [v for v in media_variants(post) if v["content_type"] == "video/mp4"]
    if post.content_type == "photo" or not mp4s:
        return post.media_url
    return max(mp4s, key=lambda v: v["bit_rate"])["url"]


def _older(
    sb: Emulator,
    user_id: str,
    start: datetime,
    end: datetime,
    after: _Item | None,
    retweets: bool,
) -> Iterator[_Item]:
    """Items of posts in [start, end), newest first, strictly after `after` in that order."""
    if after is not None:
        end = min(end, after.post.created_at + timedelta(seconds=1))
    for post in sb.world.posts_between("x", user_id, start, end):
        rides = _retweet_on(sb, post) if retweets else None
        for item in (rides, _Item(post)):
            if item is not None and (after is None or item.key < after.key):
                yield item


def _retweet_on(sb: Emulator, post: Post) -> _Item | None:
    """The retweet riding on `post`, if any: about one own post in four carries one, so
    about one timeline item in five is a retweet of another account's latest post."""
    world = sb.world
    if _h(world.seed, "retweet", post.post_id) % 4:
        return None
    others = [a for a in world.accounts("x") if a.account_id != post.account_id]
    if not others:
        return None
    other = others[_h(world.seed, "retweeted", post.post_id) % len(others)]
    since = post.created_at - timedelta(days=7)
    original = next(world.posts_between("x", other.account_id, since, post.created_at), None)
    if original is None:
        return None
    return _Item(post, original, other.handle)


def _find(sb: Emulator, tweet_id: str) -> _Item | None:
    """The own post or retweet with this id (as `GET /2/tweets?ids=` finds either)."""
    if tweet_id.startswith(_RETWEET):
        post = sb.world.find_post("x", _OWN + tweet_id[2:])
        return _retweet_on(sb, post) if post is not None else None
    post = sb.world.find_post("x", tweet_id)
    return _Item(post) if post is not None else None


def _encode_token(item: _Item) -> str:
    # Opaque to clients, like X's own; it names the last item served.
    return f"7140{int(item.tweet_id):x}"


def _decode_token(sb: Emulator, token: str) -> _Item | None:
    if not token.startswith("7140"):
        return None
    try:
        return _find(sb, str(int(token[4:], 16)))
    except ValueError:
        return None


def _fields(req: Request, name: str) -> set[str]:
    return {f for f in req.query.get(name, "").split(",") if f}


def _rfc3339(text: str | None, default: datetime) -> datetime | None:
    if text is None:
        return default
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _problem(status: int, title: str, headers: dict[str, str] | None = None) -> Reply:
    body = {"title": title, "detail": title, "type": "about:blank", "status": status}
    return Reply(status, body, {**PROBLEM, **(headers or {})})


def _invalid(name: str, value: str) -> Reply:
    body = {
        "errors": [
            {
                "parameters": {name: [value]},
                "message": f"The `{name}` query parameter value [{value}] is not valid",
            }
        ],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": _PROBLEMS + "invalid-request",
    }
    return Reply(400, body, dict(PROBLEM))


def _not_found_error(resource: str, parameter: str, value: str) -> dict[str, Any]:
    return {
        "value": value,
        "detail": f"Could not find {resource} with {parameter}: [{value}].",
        "title": "Not Found Error",
        "resource_type": resource,
        "parameter": parameter,
        "resource_id": value,
        "type": _PROBLEMS + "resource-not-found",
    }


def _not_found() -> Reply:
    body = {"errors": [{"message": "Sorry, that page does not exist", "code": 34}]}
    return Reply(404, body)

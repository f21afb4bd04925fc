"""Emulator of the Instagram Graph API: IG user profile, `/media`, and per-media insights.

`/media` has no time filter (the client stops paging at its window's start). Counts the
feed shows (`like_count`, `comments_count`) are inline; reach, saves, shares and views
come from `GET /{media-id}/insights`, one call per media, or by field expansion inside
the listing (`fields=...,insights.metric(reach,saved)`) or a `GET /?ids=` look-up of
media, as on the real API.

Metrics drift with the version: from v22.0 `views` is the view count and `plays` and
`impressions` are retired; before it reels and videos answer `plays` and feed images and
albums `impressions`, and `views` is not a metric yet. One metric that does not hold for
one media of a call fails the whole call with Graph's (#100) wording; tests add more
refusals per media type with `graph.insight_knobs(sb).refused_metrics`.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from social_pipeline.sandbox import graph
from social_pipeline.sandbox.protocol import Emulator, Reply, Request
from social_pipeline.sandbox.world import Post, SandboxAccount

PLATFORM = "instagram"
MAX_LIMIT = 100
FLAVOR = graph.Flavor(
    buc_type="instagram",
    throttle_code=80002,
    throttle_message="There have been too many calls to this Instagram account. Wait a bit and "
    "try again. For more info, please refer to "
    "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
)

# World content type -> (media_type, media_product_type).
_SHAPES = {
    "IMAGE": ("IMAGE", "FEED"),
    "VIDEO": ("VIDEO", "FEED"),
    "CAROUSEL_ALBUM": ("CAROUSEL_ALBUM", "FEED"),
    "REELS": ("VIDEO", "REELS"),
}
# Insight metric -> world metric (`None`: derived from the world's numbers, see `_value`).
_INSIGHTS = {
    "reach": "reach",
    "saved": "saves",
    "shares": "shares",
    "views": "views",
    "likes": "likes",
    "comments": "comments",
    "total_interactions": None,
    "follows": None,
    "profile_visits": None,
    "ig_reels_avg_watch_time": None,
}
# Retired for good, in every version; `plays` and `impressions` from v22.0 on (below).
_DEPRECATED = ("video_views", "clips_replays_count", "engagement")
CUTOVER = 22.0  # `views` from this version on; `plays`/`impressions` before it
_BEFORE_CUTOVER = {"plays": "views", "impressions": "views"}  # metric -> world metric
_WORLD_METRIC = _INSIGHTS | _BEFORE_CUTOVER  # every metric any version knows
# Metrics only some media product types (or media types) have; any other metric is valid
# for every media. One media of another type in the call fails the whole call (Airbyte
# PR #62902).
_PRODUCT_TYPES = {
    "follows": ("FEED", "STORY"),
    "profile_visits": ("FEED", "STORY"),
    "ig_reels_avg_watch_time": ("REELS",),
}
_MEDIA_TYPES = {
    "plays": ("VIDEO",),
    "impressions": ("IMAGE", "CAROUSEL_ALBUM"),
}
MAX_IDS = 50

token_of = graph.token_of


def fault_reply(kind: str, req: Request, sb: Emulator, reset_at_epoch: float | None) -> Reply:
    return graph.fault_reply(kind, req, sb, reset_at_epoch, FLAVOR, _owner_of(req, sb))


def handle(req: Request, sb: Emulator) -> Reply:
    route = graph.split_path(req)
    if route is None or req.method != "GET" or not (route[1] or "ids" in req.query):
        return graph.unknown_path(req)
    version, parts = route
    owner = _owner_of(req, sb)
    if not parts and "ids" in req.query:
        endpoint = f"GET /{version}/?ids"
        return graph.metered(req, sb, endpoint, owner, FLAVOR, lambda: _by_ids(req, sb, version))
    if len(parts) == 1:
        endpoint = f"GET /{version}/{{id}}"
        return graph.metered(
            req, sb, endpoint, owner, FLAVOR, lambda: NODES.reply(req, sb, parts[0])
        )
    if len(parts) == 2 and parts[1] == "media":
        endpoint = f"GET /{version}/{{ig-user-id}}/media"
        return graph.metered(req, sb, endpoint, owner, FLAVOR, lambda: _media(req, sb, parts[0]))
    if len(parts) == 2 and parts[1] == "insights":
        endpoint = f"GET /{version}/{{media-id}}/insights"
        return graph.metered(req, sb, endpoint, owner, FLAVOR, lambda: _insights(req, sb, parts[0]))
    return graph.unknown_path(req)


def _owner_of(req: Request, sb: Emulator) -> str:
    """The IG user a request is about (a media id resolves to its owner), for the BUC key."""
    route = graph.split_path(req)
    object_id = route[1][0] if route and route[1] else req.query.get("ids", "").split(",")[0]
    if sb.world.account(PLATFORM, object_id) is not None:
        return object_id
    post = sb.world.find_post(PLATFORM, object_id) if object_id.isdigit() else None
    return post.account_id if post else object_id or "0"


def _media(req: Request, sb: Emulator, user_id: str) -> Reply:
    """`/media`, newest first, paged by `after` cursors; `since`/`until` are not honoured."""
    if sb.world.account(PLATFORM, user_id) is None:
        return graph.unsupported_get(user_id)
    cursor = graph.decode_cursor(req.query["after"]) if req.query.get("after") else None
    if req.query.get("after") and cursor is None:
        return graph.error_reply(400, 100, "(#100) The after cursor is invalid")
    end = sb.world.clock()
    if cursor is not None:
        end = min(end, datetime.fromtimestamp(cursor[0] + 1, UTC))
    posts = sb.world.posts_between(PLATFORM, user_id, datetime(1970, 1, 1, tzinfo=UTC), end)
    page, has_more = graph.take_page(
        posts, cursor[1] if cursor else None, graph.page_limit(req, 25, MAX_LIMIT)
    )
    refusal, items = _expanded(req, sb, page)
    if refusal is not None:
        return refusal
    body: dict[str, Any] = {"data": items}
    paging = graph.paging_block(req, page, has_more)
    if paging:
        body["paging"] = paging
    return Reply(200, body)


def _expanded(req: Request, sb: Emulator, posts: list[Post]) -> tuple[Reply | None, list[Any]]:
    """Media objects with the requested fields and, by field expansion, their insights;
    one refused metric for one media fails the whole call, as `/insights` does for it."""
    fields = graph.requested_fields(req, ())
    items = [media_object(p, sb, fields) for p in posts]
    names = graph.expanded_metrics(req)
    if names is not None:
        version = graph.split_path(req)
        refusal = _refusal(names, posts, version[0] if version else "v24.0", sb)
        if refusal is not None:
            return refusal, []
        for item, post in zip(items, posts, strict=True):
            item["insights"] = {"data": insight_data(post, sb, names)}
    return None, items


def _by_ids(req: Request, sb: Emulator, version: str) -> Reply:
    """`GET /?ids=a,b&fields=...`: media by id (at most 50), each with its requested
    fields and, by field expansion, insights."""
    found, refusal = graph.posts_by_ids(req, sb, PLATFORM, MAX_IDS)
    if refusal is not None:
        return refusal
    refusal, items = _expanded(req, sb, found)
    if refusal is not None:
        return refusal
    return Reply(200, {post.post_id: item for post, item in zip(found, items, strict=True)})


def _insights(req: Request, sb: Emulator, media_id: str) -> Reply:
    """Lifetime insights of one media; one unknown or retired metric fails the whole call."""
    post = sb.world.find_post(PLATFORM, media_id)
    if post is None:
        return graph.unsupported_get(media_id)
    names = [m for m in req.query.get("metric", "").split(",") if m]
    version = graph.split_path(req)
    refusal = _refusal(names, [post], version[0] if version else "v24.0", sb)
    if refusal is not None:
        return refusal
    return Reply(200, {"data": insight_data(post, sb, names)})


def _known(version: str) -> dict[str, str | None]:
    """The metrics `version` knows: `views` from the cut-over, `plays`/`impressions` before."""
    if graph.version_number(version) >= CUTOVER:
        return _INSIGHTS
    return {k: v for k, v in _INSIGHTS.items() if k != "views"} | _BEFORE_CUTOVER


def _refusal(names: list[str], posts: list[Post], version: str, sb: Emulator) -> Reply | None:
    """Graph's (#100) for a metric list: missing, retired, unknown, or not for one media's
    product type. The same rule holds for `/insights` and for `insights.metric(...)`."""
    if not names:
        return graph.error_reply(400, 100, "(#100) The parameter metric is required")
    known = _known(version)
    for index, name in enumerate(names):
        if name in _DEPRECATED or (name in _BEFORE_CUTOVER and name not in known):
            return graph.error_reply(
                400,
                100,
                f"(#100) Starting from version v22.0 and above, the {name} metric is no longer supported.",
            )
        if name not in known:
            allowed = ", ".join(known)
            return graph.error_reply(
                400, 100, f"(#100) metric[{index}] must be one of the following values: {allowed}"
            )
    refused = graph.insight_knobs(sb).refused_metrics
    for post in posts:
        media_type, product = _SHAPES[post.content_type]
        for name in names:
            if (
                product not in _PRODUCT_TYPES.get(name, (product,))
                or media_type not in _MEDIA_TYPES.get(name, (media_type,))
                or any(
                    m == name and p in (None, product) and t in (None, media_type)
                    for m, p, t in refused
                )
            ):
                return graph.error_reply(
                    400,
                    100,
                    f"(#100) The Media Insights API does not support the {name} metric for "
                    "this media product type.",
                )
    return None


def _value(name: str, metrics: dict[str, int]) -> int:
    world = _WORLD_METRIC[name]
    if world is not None:
        return metrics[world]
    if name == "total_interactions":
        return metrics["likes"] + metrics["comments"] + metrics["saves"] + metrics["shares"]
    if name == "follows":
        return metrics["views"] // 500
    if name == "profile_visits":
        return metrics["views"] // 100
    return 3000 + metrics["views"] % 9000  # ig_reels_avg_watch_time, in ms


def insight_data(post: Post, sb: Emulator, names: list[str]) -> list[dict[str, Any]]:
    """The `data` of a media's insights: one lifetime entry per metric, in the asked order."""
    metrics = sb.world.metrics(post)
    return [graph.insight_entry(post.post_id, name, _value(name, metrics)) for name in names]


def _shortcode(post: Post) -> str:
    return base64.urlsafe_b64encode(int(post.post_id).to_bytes(8, "big")).decode().rstrip("=")[-11:]


def media_object(post: Post, sb: Emulator, fields: set[str]) -> dict[str, Any]:
    """One IG media as Graph shows it, limited to the requested fields.

    Some reels have no `media_url` (Graph omits it for videos with copyrighted audio), and
    `caption` is absent when the post has none.
    """
    media_type, product = _SHAPES[post.content_type]
    metrics = sb.world.metrics(post)
    kind = "reel" if product == "REELS" else "p"
    obj: dict[str, Any] = {
        "id": post.post_id,
        "media_type": media_type,
        "media_product_type": product,
        "permalink": f"https://www.instagram.com/{kind}/{_shortcode(post)}/",
        "timestamp": graph.graph_time(post.created_at),
        "like_count": metrics["likes"],
        "comments_count": metrics["comments"],
    }
    if post.text:
        obj["caption"] = post.text
    video_url = post.media_url.replace(".jpg", ".mp4")
    if media_type == "VIDEO":
        obj["thumbnail_url"] = post.media_url
        if not (product == "REELS" and post.seq % 5 == 0):
            obj["media_url"] = video_url
    elif media_type == "CAROUSEL_ALBUM":
        children = [
            {"media_url": post.media_url.replace(".jpg", f"_{n}.jpg"), "id": f"{post.post_id}{n}"}
            for n in range(1, 4)
        ]
        obj["media_url"] = children[0]["media_url"]
        obj["children"] = {"data": children}
    else:
        obj["media_url"] = post.media_url
    return {k: v for k, v in obj.items() if k in fields}


def _ig_user(account: SandboxAccount, counts: dict[str, int]) -> dict[str, Any]:
    """An IG user node with every profile field it has; the request's `fields=` picks from it."""
    return {
        "followers_count": counts["followers"],
        "follows_count": counts["following"],
        "media_count": counts["posts_count"],
        "username": account.handle,
        "name": account.name,
        "id": account.account_id,
    }


NODES = graph.Nodes(PLATFORM, _ig_user, (), media_object, ())

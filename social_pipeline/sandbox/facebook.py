"""Emulator of the Facebook Pages Graph API: page profile, `/posts`, and `?ids=` look-ups.

Posts carry their engagement as fields (`reactions.summary(total_count).limit(0)`,
`comments.summary(...)`, `shares`) exactly as Graph returns them: `shares` is left out
when a post has none, `message` when it has no text, and only requested fields appear.
Post insights come by field expansion (`insights.metric(post_media_view,...)`) with the
2025 names; one metric that is not valid (a retired `post_impressions*`) fails the whole
call, and `graph.insight_knobs(sb).page_insights_refused` answers insights with (#10), as
for a token without `read_insights`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from social_pipeline.sandbox import graph
from social_pipeline.sandbox.protocol import Emulator, Reply, Request
from social_pipeline.sandbox.world import Post, SandboxAccount

PLATFORM = "facebook"
MAX_LIMIT = 100  # /posts caps `limit` at 100
MAX_IDS = 50  # `?ids=` takes at most 50 ids per call
FLAVOR = graph.Flavor(
    buc_type="pages",
    throttle_code=80001,
    throttle_message="There have been too many calls to this Page account. Wait a bit and try "
    "again. For more info, please refer to "
    "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
)
POST_EDGES = ("posts", "published_posts", "feed")

# World content type -> (status_type, attachment media_type or None).
_SHAPES = {
    "status": ("mobile_status_update", None),
    "photo": ("added_photos", "photo"),
    "video": ("added_video", "video"),
    "link": ("shared_story", "link"),
    "album": ("added_photos", "album"),
}

# Post insight metric -> world metric (2025 names: views replaced impressions).
INSIGHTS = {
    "post_media_view": "views",
    "post_total_media_view_unique": "reach",
    "post_clicks": "clicks",
}

token_of = graph.token_of


def fault_reply(kind: str, req: Request, sb: Emulator, reset_at_epoch: float | None) -> Reply:
    return graph.fault_reply(kind, req, sb, reset_at_epoch, FLAVOR, _owner_of(req))


def handle(req: Request, sb: Emulator) -> Reply:
    route = graph.split_path(req)
    if route is None or req.method != "GET":
        return graph.unknown_path(req)
    version, parts = route
    if not parts and "ids" in req.query:
        return graph.metered(
            req, sb, f"GET /{version}/?ids", _owner_of(req), FLAVOR, lambda: _by_ids(req, sb)
        )
    if len(parts) == 1:
        return graph.metered(
            req,
            sb,
            f"GET /{version}/{{id}}",
            _owner_of(req),
            FLAVOR,
            lambda: NODES.reply(req, sb, parts[0]),
        )
    if len(parts) == 2 and parts[1] in POST_EDGES:
        endpoint = f"GET /{version}/{{page-id}}/{parts[1]}"
        return graph.metered(req, sb, endpoint, parts[0], FLAVOR, lambda: _posts(req, sb, parts[0]))
    return graph.unknown_path(req)


def _owner_of(req: Request) -> str:
    """The Page a request is about: the BUC header is keyed by it."""
    route = graph.split_path(req)
    first = route[1][0] if route and route[1] else req.query.get("ids", "").split(",")[0]
    return first.split("_")[0] or "0"


def _by_ids(req: Request, sb: Emulator) -> Reply:
    posts, refusal = graph.posts_by_ids(req, sb, PLATFORM, MAX_IDS)
    refusal = refusal or _insights_refusal(req, sb)
    if refusal is not None:
        return refusal
    fields = graph.requested_fields(req, _DEFAULT_POST_FIELDS)
    return Reply(200, {p.post_id: post_object(p, sb, fields, req) for p in posts})


def _posts(req: Request, sb: Emulator, page_id: str) -> Reply:
    """`/posts` newest first, `since`/`until` (epoch s or a date) bounding created_time."""
    if sb.world.account(PLATFORM, page_id) is None:
        return graph.unsupported_get(page_id)
    since = _moment(req.query.get("since"))
    until = _moment(req.query.get("until"))
    if since is False or until is False:
        return graph.error_reply(
            400, 100, "(#100) The parameters since and until must be valid timestamps"
        )
    start = since or datetime(1970, 1, 1, tzinfo=UTC)
    # Graph treats `until` as inclusive; the world's upper bound is exclusive.
    end = datetime.fromtimestamp(until.timestamp() + 1, UTC) if until else sb.world.clock()
    cursor = graph.decode_cursor(req.query["after"]) if req.query.get("after") else None
    if req.query.get("after") and cursor is None:
        return graph.error_reply(400, 100, "(#100) The after cursor is invalid")
    if cursor is not None:
        end = min(end, datetime.fromtimestamp(cursor[0] + 1, UTC))
    limit = graph.page_limit(req, 25, MAX_LIMIT)
    posts = sb.world.posts_between(PLATFORM, page_id, start, end)
    page, has_more = graph.take_page(posts, cursor[1] if cursor else None, limit)
    refusal = _insights_refusal(req, sb)
    if refusal is not None:
        return refusal
    fields = graph.requested_fields(req, _DEFAULT_POST_FIELDS)
    body: dict[str, Any] = {"data": [post_object(p, sb, fields, req) for p in page]}
    paging = graph.paging_block(req, page, has_more)
    if paging:
        body["paging"] = paging
    return Reply(200, body)


def _moment(value: str | None) -> datetime | None | bool:
    """A `since`/`until` value as a time; False when it is not one Graph would accept."""
    if not value:
        return None
    try:
        if value.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(value), UTC)
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return False


_DEFAULT_POST_FIELDS = ("created_time", "message")


def _insights_refusal(req: Request, sb: Emulator) -> Reply | None:
    """Graph's answer when `insights.metric(...)` cannot be served: the token lacks
    `read_insights` (the knob; wording unverified), or a metric is not a valid one."""
    names = graph.expanded_metrics(req)
    if names is None:
        return None
    if graph.insight_knobs(sb).page_insights_refused:
        return graph.error_reply(
            403, 10, "(#10) This endpoint requires the 'read_insights' permission."
        )
    if not names or any(n not in INSIGHTS for n in names):
        return graph.error_reply(400, 100, "(#100) The value must be a valid insights metric")
    return None


def post_object(
    post: Post, sb: Emulator, fields: set[str], req: Request | None = None
) -> dict[str, Any]:
    """A Page post as Graph shows it, limited to the requested fields (and, asked by
    field expansion, its insights; `_insights_refusal` has checked the metrics)."""
    status_type, media_type = _SHAPES[post.content_type]
    metrics = sb.world.metrics(post)
    serial = post.post_id.split("_")[1]
    obj: dict[str, Any] = {
        "id": post.post_id,
        "created_time": graph.graph_time(post.created_at),
        "status_type": status_type,
        "permalink_url": f"https://www.facebook.com/{post.account_id}/posts/{serial}",
        "reactions": {
            "data": [],
            "summary": {"total_count": metrics["likes"], "viewer_reaction": "NONE"},
        },
        "comments": {
            "data": [],
            "summary": {"order": "ranked", "total_count": metrics["comments"], "can_comment": True},
        },
    }
    if post.text:
        obj["message"] = post.text
    if metrics["shares"]:
        obj["shares"] = {"count": metrics["shares"]}
    if media_type is not None:
        obj["full_picture"] = post.media_url
        obj["attachments"] = {"data": [_attachment(post, media_type)]}
    names = graph.expanded_metrics(req) if req is not None else None
    if names:
        obj["insights"] = {
            "data": [graph.insight_entry(post.post_id, n, metrics[INSIGHTS[n]]) for n in names]
        }
    return {k: v for k, v in obj.items() if k in fields}


def _attachment(post: Post, media_type: str) -> dict[str, Any]:
    image = {"image": {"height": 720, "width": 720, "src": post.media_url}}
    attachment: dict[str, Any] = {"media_type": media_type, "media": image}
    if media_type == "video":
        attachment["media"] = {**image, "source": post.media_url.replace(".jpg", ".mp4")}
        attachment["url"] = f"https://www.facebook.com/watch/?v={post.seq}"
    elif media_type == "link":
        attachment["url"] = f"https://example.com/articles/{post.seq}"
    else:
        attachment["url"] = f"https://www.facebook.com/photo/?fbid={post.seq}"
    if media_type == "album":
        attachment["subattachments"] = {
            "data": [
                {
                    "media_type": "photo",
                    "media": {
                        "image": {
                            "height": 720,
                            "width": 720,
                            "src": post.media_url.replace(".jpg", f"_{n}.jpg"),
                        }
                    },
                }
                for n in range(1, 4)
            ]
        }
    return attachment


def _page(account: SandboxAccount, counts: dict[str, int]) -> dict[str, Any]:
    """A Page node with every profile field it has; the request's `fields=` picks from it."""
    return {
        "followers_count": counts["followers"],
        # Page likes trail follows: people can follow a Page without liking it.
        "fan_count": int(counts["followers"] * 0.93),
        "name": account.name,
        "username": account.handle,
        "id": account.account_id,
    }


NODES = graph.Nodes(PLATFORM, _page, ("name",), post_object, _DEFAULT_POST_FIELDS)

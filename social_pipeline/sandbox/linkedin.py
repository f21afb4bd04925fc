"""Emulator of LinkedIn's Community Management REST API (`/rest/...`, Rest.li 2.0).

Wire facts it keeps: versioned by the `LinkedIn-Version: YYYYMM[.RR]` header (a retired,
future, malformed or missing version is 426 NONEXISTENT_VERSION), URNs everywhere (`urn:li:organization:ID`,
`urn:li:share:ID`), times in epoch milliseconds, offset paging with `start`/`count` and
`paging.links[rel=next]`, a daily quota whose 429 says nothing about when it resets, and
the Images API, which turns an image URN into a download URL that expires.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any
from urllib.parse import unquote, urlencode

from social_pipeline.sandbox.protocol import Emulator, Reply, Request
from social_pipeline.sandbox.world import Post, SandboxAccount

# LinkedIn keeps each monthly version about a year (202510 retired 2026-10-15), so the
# emulator serves the versions released in the 12 months up to its world clock's month.
ACTIVE_MONTHS = 12
MAX_COUNT = 100  # posts per page
MAX_SHARES = 50  # URNs per share-statistics call
MAX_IMAGES = 100  # URNs per Images batch get (the emulator's bound, not a documented one)
IMAGE_TAG = "D4E10AQ"  # the prefix of every image id the world's posts carry
DOWNLOAD_URL_LIFETIME = timedelta(days=1)
_DEFAULT_COUNT = 10
_VERSION = re.compile(r"^(\d{6})(?:\.(\d{2}))?$")
_ORG = re.compile(r"^urn:li:organization:(\d+)$")
_LIST = re.compile(r"^List\((.*)\)$")
_ALL_TIME = (datetime(1970, 1, 1, tzinfo=UTC), datetime.max.replace(tzinfo=UTC))


def token_of(req: Request) -> str | None:
    return req.bearer()


def handle(req: Request, sb: Emulator) -> Reply:
    if req.method != "GET":
        return _error(405, f"Method {req.method} is not supported", 0)
    route, org_part = _route(req.path)
    # The app's daily quota (every member's token) and the short per-token protection.
    app = sb.limit("app", req, (), 86400.0)
    if app is not None and not app.allowed:
        return _throttled()
    if not sb.rate(req, route or "unknown", token_of(req) or "").allowed:
        return _throttled()
    version = req.headers.get("linkedin-version", "")
    if not _version_active(version, sb.world.clock()):
        return _error(
            426, f"Requested version {_spelled(version)} is not active", None, "NONEXISTENT_VERSION"
        )
    if req.headers.get("x-restli-protocol-version") != "2.0.0":
        return _error(400, "This API needs the header X-Restli-Protocol-Version: 2.0.0", 100)
    if route == "networkSizes":
        return _network_size(req, sb, org_part)
    if route == "posts":
        return _posts(req, sb)
    if route == "organizationalEntityShareStatistics":
        return _share_statistics(req, sb)
    if route == "images":
        return _images(req, sb)
    if route == "image":
        return _image(sb, org_part)
    return _error(404, f"Resource {req.path} does not exist", 0)


def fault_reply(kind: str, req: Request, sb: Emulator, reset_at_epoch: float | None) -> Reply:
    """LinkedIn's own failures. Its 429 cannot say when the (daily) quota resets."""
    if kind == "rate_limit":
        return _throttled()
    if kind == "server_error":
        return _error(500, "Internal Server Error", 0)
    if kind == "expired":
        return _error(
            401, "The token used in the request has expired", 65601, "EXPIRED_ACCESS_TOKEN"
        )
    if token_of(req):
        return _error(401, "The token used in the request has been revoked by the user", 65601)
    return _error(401, "Empty oauth2_access_token", 401)


def active_versions(now: datetime) -> tuple[str, str]:
    """The oldest and newest `YYYYMM` LinkedIn serves at `now`."""
    months = now.year * 12 + now.month - 1
    oldest = months - ACTIVE_MONTHS
    return f"{oldest // 12:04d}{oldest % 12 + 1:02d}", f"{now.year:04d}{now.month:02d}"


def _version_active(version: str, now: datetime) -> bool:
    match = _VERSION.match(version)
    if not match or not 1 <= int(match.group(1)[4:]) <= 12:
        return False
    oldest, newest = active_versions(now)
    return oldest <= match.group(1) <= newest


def _spelled(version: str) -> str:
    """How LinkedIn names a version in its 426: `202409` -> `20240901` (`YYYYMM` + revision)."""
    match = _VERSION.match(version)
    if match is None:
        return version or "(none)"
    return match.group(1) + (match.group(2) or "01")


def _route(path: str) -> tuple[str | None, str]:
    parts = path.strip("/").split("/")
    if len(parts) == 3 and parts[:2] == ["rest", "networkSizes"]:
        return "networkSizes", unquote(parts[2])
    if len(parts) == 3 and parts[:2] == ["rest", "images"]:
        return "image", unquote(parts[2])
    if (
        len(parts) == 2
        and parts[0] == "rest"
        and parts[1] in ("posts", "organizationalEntityShareStatistics", "images")
    ):
        return parts[1], ""
    return None, ""


def _network_size(req: Request, sb: Emulator, urn: str) -> Reply:
    """`GET /rest/networkSizes/{org urn}?edgeType=COMPANY_FOLLOWED_BY_MEMBER`."""
    if req.query.get("edgeType") != "COMPANY_FOLLOWED_BY_MEMBER":
        return _error(400, "edgeType must be COMPANY_FOLLOWED_BY_MEMBER for an organization", 100)
    account = _organization(sb, urn)
    if account is None:
        return _unknown_org(urn)
    return Reply(200, {"firstDegreeSize": sb.world.followers(account)["followers"]})


def _posts(req: Request, sb: Emulator) -> Reply:
    """`GET /rest/posts?q=author&author=...&start=&count=&sortBy=`: newest first.

    Posts are never edited in the world, so CREATED and LAST_MODIFIED give one order.
    """
    found = _finder_org(req, sb, "author")
    if isinstance(found, Reply):
        return found
    urn, account = found
    sort = req.query.get("sortBy", "LAST_MODIFIED")
    try:
        start = int(req.query.get("start", 0))
        count = min(int(req.query.get("count", _DEFAULT_COUNT)), MAX_COUNT)
    except ValueError:
        return _error(400, "start and count must be integers", 100)
    if start < 0 or count < 1 or sort not in ("CREATED", "LAST_MODIFIED"):
        return _error(400, "Invalid start, count or sortBy", 100)
    posts = sb.world.posts_between("linkedin", account.account_id, *_ALL_TIME)
    page = list(islice(posts, start, start + count + 1))  # one more tells if a next page exists
    links = []
    if len(page) > count:
        query = {
            "author": urn,
            "count": count,
            "q": "author",
            "sortBy": sort,
            "start": start + count,
        }
        links.append(
            {"type": "application/json", "rel": "next", "href": "/rest/posts?" + urlencode(query)}
        )
    return Reply(
        200,
        {
            "elements": [_post(p, urn) for p in page[:count]],
            "paging": {"start": start, "count": count, "links": links},
        },
    )


def _share_statistics(req: Request, sb: Emulator) -> Reply:
    """Lifetime statistics of up to 50 shares/ugcPosts given as Rest.li `List(...)`."""
    found = _finder_org(req, sb, "organizationalEntity")
    if isinstance(found, Reply):
        return found
    urn, account = found
    urns: list[str] = []
    for name in ("shares", "ugcPosts"):
        if name in req.query:
            match = _LIST.match(req.query[name])
            if match is None:
                return _error(400, f"{name} must use the Rest.li 2.0 List(...) syntax", 100)
            urns += [unquote(u) for u in match.group(1).split(",") if u]
    # The org-wide aggregate (no shares) would mean summing every post: not served here.
    if not urns or len(urns) > MAX_SHARES:
        return _error(400, f"Give between 1 and {MAX_SHARES} shares or ugcPosts", 100)
    elements = []
    for share in urns:
        post = sb.world.find_post("linkedin", share)
        if post is not None and post.account_id == account.account_id:
            elements.append(
                {
                    "organizationalEntity": urn,
                    "share": share,
                    "totalShareStatistics": _stats(sb, post),
                }
            )
    return Reply(200, {"elements": elements, "paging": {"start": 0, "count": 10, "links": []}})


def _images(req: Request, sb: Emulator) -> Reply:
    """`GET /rest/images?ids=List(...)`: a Rest.li batch get, `results` keyed by URN and
    the URNs it cannot serve under `errors`."""
    match = _LIST.match(req.query.get("ids", ""))
    if match is None:
        return _error(400, "ids must use the Rest.li 2.0 List(...) syntax", 100)
    urns = [unquote(u) for u in match.group(1).split(",") if u]
    if not urns or len(urns) > MAX_IMAGES:
        return _error(400, f"Give between 1 and {MAX_IMAGES} image URNs", 100)
    results, statuses, errors = {}, {}, {}
    for urn in urns:
        image = _image_entity(sb, urn)
        statuses[urn] = 200 if image else 404
        if image:
            results[urn] = image
        else:
            errors[urn] = {"status": 404, "message": f"Image {urn} does not exist"}
    return Reply(200, {"results": results, "statuses": statuses, "errors": errors})


def _image(sb: Emulator, urn: str) -> Reply:
    """`GET /rest/images/{urn}`: one image."""
    image = _image_entity(sb, urn)
    return Reply(200, image) if image else _error(404, f"Image {urn} does not exist", 0)


def _image_entity(sb: Emulator, urn: str) -> dict[str, Any] | None:
    """The Images API entity of an image the world's posts show (by its id's prefix)."""
    if not urn.startswith(f"urn:li:image:{IMAGE_TAG}"):
        return None
    tag = urn.removeprefix("urn:li:image:")
    expires = sb.world.clock() + DOWNLOAD_URL_LIFETIME
    millis = int(expires.timestamp() * 1000)
    return {
        "id": urn,
        "status": "AVAILABLE",
        "downloadUrl": f"https://media.licdn.sandbox.example/dms/image/{tag}/feedshare-shrink_800?e={millis // 1000}",
        "downloadUrlExpiresAt": millis,
    }


def _post(post: Post, org_urn: str) -> dict[str, Any]:
    millis = int(post.created_at.timestamp() * 1000)
    element: dict[str, Any] = {
        "id": post.post_id,
        "author": org_urn,
        "commentary": post.text,
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
        "createdAt": millis,
        "publishedAt": millis,
        "lastModifiedAt": millis,
    }
    content = _content(post)
    if content:
        element["content"] = content
    return element


def _content(post: Post) -> dict[str, Any] | None:
    """The world's content type on LinkedIn's `content` union (media are URNs, not URLs)."""
    tag = IMAGE_TAG + post.post_id.rsplit(":", 1)[-1]
    kind = post.content_type
    if kind == "image":
        return {"media": {"id": f"urn:li:image:{tag}", "altText": ""}}
    if kind == "video":
        return {"media": {"id": f"urn:li:video:{tag}", "title": post.text[:60]}}
    if kind == "article":
        return {
            "article": {
                "source": f"https://blog.sandbox.example/{post.post_id.rsplit(':', 1)[-1]}",
                "title": post.text[:60] or "Read more",
                "thumbnail": f"urn:li:image:{tag}",
            }
        }
    if kind == "multi_image":
        count = 2 + post.seq % 4
        return {
            "multiImage": {
                "images": [{"id": f"urn:li:image:{tag}{i}", "altText": ""} for i in range(count)]
            }
        }
    return None  # a text post has no content


def _stats(sb: Emulator, post: Post) -> dict[str, Any]:
    m = sb.world.metrics(post)
    acted = m["clicks"] + m["likes"] + m["comments"] + m["shares"]
    return {
        "impressionCount": m["views"],
        "uniqueImpressionsCount": m["reach"],
        "clickCount": m["clicks"],
        "likeCount": m["likes"],
        "commentCount": m["comments"],
        "shareCount": m["shares"],
        "engagement": acted / m["views"] if m["views"] else 0.0,
    }


def _finder_org(req: Request, sb: Emulator, finder: str) -> tuple[str, SandboxAccount] | Reply:
    """The organization a `q=<finder>` request names in its `<finder>` parameter, as its
    URN and account; or the error reply for another finder or an unknown organization."""
    if req.query.get("q") != finder:
        return _error(400, f"Unknown finder; this resource supports q={finder}", 100)
    urn = req.query.get(finder, "")
    account = _organization(sb, urn)
    if account is None:
        return _unknown_org(urn)
    return urn, account


def _organization(sb: Emulator, urn: str) -> SandboxAccount | None:
    match = _ORG.match(urn)
    return sb.world.account("linkedin", match.group(1)) if match else None


def _unknown_org(urn: str) -> Reply:
    return _error(404, f"Organization {urn or '(none)'} does not exist", 0)


def _throttled() -> Reply:
    return _error(
        429,
        "Resource level throttle APPLICATION DAY limit for calls to this resource is reached.",
        101,
    )


def _error(status: int, message: str, service_code: int | None, code: str | None = None) -> Reply:
    body: dict[str, Any] = {"message": message, "status": status}
    if service_code is not None:
        body["serviceErrorCode"] = service_code
    if code is not None:
        body["code"] = code
    return Reply(status, body)

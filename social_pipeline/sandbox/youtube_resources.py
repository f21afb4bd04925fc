"""The JSON resources of the YouTube emulator: channel, playlist item and video.

The world's content types become what the real API shows: a short runs up to three
minutes (allowed since October 2024), a video longer, and a live stream is `liveBroadcastContent: live` with duration `P0D`
while on air, then an ordinary video of its length.
"""

from __future__ import annotations

import base64
import zlib
from datetime import timedelta
from typing import Any

from social_pipeline.sandbox.protocol import Emulator
from social_pipeline.sandbox.world import Post, SandboxAccount

_THUMBS = (
    ("default", 120, 90),
    ("medium", 320, 180),
    ("high", 480, 360),
    ("standard", 640, 480),
    ("maxres", 1280, 720),
)


def likes_hidden(post_id: str) -> bool:
    """One video in ten has its like count hidden by the owner: `likeCount` is absent."""
    return zlib.crc32(post_id.encode()) % 10 == 0


def channel(sb: Emulator, account: SandboxAccount, parts: set[str]) -> dict[str, Any]:
    counts = sb.world.followers(account)
    item = _resource("channel", account.account_id)
    if "snippet" in parts:
        item["snippet"] = {
            "title": account.name,
            "description": "",
            "customUrl": "@" + account.handle,
            "publishedAt": "2019-03-01T12:00:00Z",
            "thumbnails": {
                "default": {
                    "url": f"https://yt3.ggpht.com/{account.account_id}=s88",
                    "width": 88,
                    "height": 88,
                }
            },
        }
    if "statistics" in parts:
        item["statistics"] = {
            "viewCount": str(counts["posts_count"] * 2500),
            "subscriberCount": str(counts["followers"]),
            "hiddenSubscriberCount": False,
            "videoCount": str(counts["posts_count"]),
        }
    if "contentDetails" in parts:
        item["contentDetails"] = {
            "relatedPlaylists": {"likes": "", "uploads": "UU" + account.account_id[2:]}
        }
    return item


def playlist_item(
    account: SandboxAccount, playlist: str, position: int, post: Post
) -> dict[str, Any]:
    published = _rfc3339(post)
    return {
        "kind": "youtube#playlistItem",
        "etag": etag(post.post_id, "item"),
        "id": base64.b64encode(f"{playlist}.{post.post_id}".encode()).decode(),
        "snippet": {
            "publishedAt": published,
            "channelId": account.account_id,
            "title": _title(post),
            "description": "",
            "thumbnails": _thumbnails(post.post_id),
            "channelTitle": account.name,
            "playlistId": playlist,
            "position": position,
            "resourceId": {"kind": "youtube#video", "videoId": post.post_id},
            "videoOwnerChannelTitle": account.name,
            "videoOwnerChannelId": account.account_id,
        },
        "contentDetails": {"videoId": post.post_id, "videoPublishedAt": published},
    }


def video(sb: Emulator, post: Post, parts: set[str]) -> dict[str, Any]:
    live_now, seconds = _timing(sb, post)
    item = _resource("video", post.post_id)
    if "snippet" in parts:
        item["snippet"] = {
            "publishedAt": _rfc3339(post),
            "channelId": post.account_id,
            "title": _title(post),
            "description": "",
            "thumbnails": _thumbnails(post.post_id),
            "categoryId": "22",
            "liveBroadcastContent": "live" if live_now else "none",
        }
    if "contentDetails" in parts:
        item["contentDetails"] = {
            "duration": _iso_duration(0 if live_now else seconds),
            "dimension": "2d",
            "definition": "hd",
            "caption": "false",
            "licensedContent": False,
            "projection": "rectangular",
        }
    if "statistics" in parts:
        m = sb.world.metrics(post)
        stats = {
            "viewCount": str(m["views"]),
            "likeCount": str(m["likes"]),
            "favoriteCount": "0",
            "commentCount": str(m["comments"]),
        }
        if likes_hidden(post.post_id):
            del stats["likeCount"]
        item["statistics"] = stats
    return item


def _resource(kind: str, resource_id: str) -> dict[str, Any]:
    """The head every resource starts with; its parts are added as requested."""
    return {"kind": f"youtube#{kind}", "etag": etag(resource_id), "id": resource_id}


def _timing(sb: Emulator, post: Post) -> tuple[bool, int]:
    """(broadcasting now, length in seconds) for the world's video/short/live types.

    Shorts run 10..180 s (about a third past the old one-minute limit) and videos longer;
    a live stream is `live` with duration
    P0D while it runs, and an ordinary video of its length once it has ended.
    """
    spread = zlib.crc32(post.post_id.encode())
    if post.content_type == "short":
        return False, 10 + spread % 171
    if post.content_type == "live":
        length = 1800 + spread % 7200
        return sb.world.clock() < post.created_at + timedelta(seconds=length), length
    return False, 181 + spread % 1500


def _title(post: Post) -> str:
    return post.text or "Untitled"  # YouTube requires a title; the world allows none


def _thumbnails(video_id: str) -> dict[str, Any]:
    files = {
        "default": "default",
        "medium": "mqdefault",
        "high": "hqdefault",
        "standard": "sddefault",
        "maxres": "maxresdefault",
    }
    return {
        name: {
            "url": f"https://i.ytimg.com/vi/{video_id}/{files[name]}.jpg",
            "width": w,
            "height": h,
        }
        for name, w, h in _THUMBS
    }


def _iso_duration(seconds: int) -> str:
    if seconds == 0:
        return "P0D"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (
        (f"{hours}H" if hours else "")
        + (f"{minutes}M" if minutes else "")
        + (f"{secs}S" if secs else "")
    )
    return "PT" + text


def _rfc3339(post: Post) -> str:
    return post.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def etag(*parts: object) -> str:
    return format(zlib.crc32(repr(parts).encode()), "08x")

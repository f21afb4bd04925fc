"""Which insight metrics to ask Graph for, per platform, API version and media type, and
which of our columns (`schema.METRICS`) each one feeds. Clients ask from it; normalizers
read it back; the README field map is generated from it.

Graph fails a whole insights call, or a whole listing with `insights.metric(...)`
expanded, when one metric does not apply to one media on it (`(#100) The Media Insights
API does not support the saved metric for this media product type`) or is retired in the
version asked (`(#100) ... the plays metric is no longer supported`). So a metric is
listed with the versions that have it and the media it applies to, and a client asks
only what the catalog gives for the version it is configured with.

Assumptions, stated once (platform-apis.md §1, §2, §8):
- Instagram's cut-over is v22.0: from it, `views` is the one view count for every media
  type; before it, reels and videos answer `plays` (read into `views`) and feed images,
  albums and stories `impressions`. Meta retired `impressions` for all versions on
  2025-04-21, so an old version asking it may still be refused: the client then drops it
  and records an `unavailable_metric` gap, never a failed day.
- Instagram media types are `media_product_type/media_type` (`REELS/VIDEO`, `FEED/IMAGE`,
  ...). `/media` lists feed posts and reels, not stories (those are `/stories`).
  Stories have no `saved`.
- Facebook Page posts (one media type, `post`) use the 2025 names: `post_media_view`
  (views, replaced impressions), `post_total_media_view_unique` (reach) and `post_clicks`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from social_pipeline.core import schema

# Versions compare numerically: v9.0 < v22.0 < v24.0.
_VERSION = re.compile(r"^v(\d+)\.(\d+)$")
INSTAGRAM_CUTOVER = "v22.0"

FEED_IMAGE = "FEED/IMAGE"
FEED_VIDEO = "FEED/VIDEO"
FEED_ALBUM = "FEED/CAROUSEL_ALBUM"
REELS = "REELS/VIDEO"
STORY_IMAGE = "STORY/IMAGE"
STORY_VIDEO = "STORY/VIDEO"
POST = "post"  # a Facebook Page post: one media type as far as its insights go


@dataclass(frozen=True)
class Metric:
    """One insight metric: the platform's name, the column it feeds, and where it holds.

    `since` is the first version that has it, `until` the first that no longer does (None:
    open-ended); `media` the media types it applies to (None: all of the platform's).
    """

    name: str
    column: str
    since: str | None = None
    until: str | None = None
    media: tuple[str, ...] | None = None

    def holds(self, version: str, media: str) -> bool:
        after = self.since is None or version_key(version) >= version_key(self.since)
        before = self.until is None or version_key(version) < version_key(self.until)
        return after and before and (self.media is None or media in self.media)


@dataclass(frozen=True)
class PlatformCatalog:
    platform: str
    media: tuple[str, ...]  # every media type the platform's insights know
    listed: tuple[str, ...]  # the media types a posts listing can hold
    metrics: tuple[Metric, ...]  # where two feed one column, the preferred one comes first


INSTAGRAM = PlatformCatalog(
    platform="instagram",
    media=(FEED_IMAGE, FEED_VIDEO, FEED_ALBUM, REELS, STORY_IMAGE, STORY_VIDEO),
    listed=(FEED_IMAGE, FEED_VIDEO, FEED_ALBUM, REELS),
    metrics=(
        Metric("reach", "reach"),
        Metric("saved", "saves", media=(FEED_IMAGE, FEED_VIDEO, FEED_ALBUM, REELS)),
        Metric("shares", "shares"),
        Metric("views", "views", since=INSTAGRAM_CUTOVER),
        Metric("plays", "views", until=INSTAGRAM_CUTOVER, media=(FEED_VIDEO, REELS)),
        Metric(
            "impressions",
            "impressions",
            until=INSTAGRAM_CUTOVER,
            media=(FEED_IMAGE, FEED_ALBUM, STORY_IMAGE, STORY_VIDEO),
        ),
    ),
)

FACEBOOK = PlatformCatalog(
    platform="facebook",
    media=(POST,),
    listed=(POST,),
    metrics=(
        Metric("post_media_view", "views"),
        Metric("post_total_media_view_unique", "reach"),
        Metric("post_clicks", "clicks"),
    ),
)

CATALOGS: dict[str, PlatformCatalog] = {"facebook": FACEBOOK, "instagram": INSTAGRAM}
assert all(m.column in schema.METRICS for c in CATALOGS.values() for m in c.metrics)


def version_key(version: str) -> tuple[int, int]:
    """`v22.0` -> (22, 0). A version of another shape counts as the newest."""
    found = _VERSION.match(version)
    return (int(found.group(1)), int(found.group(2))) if found else (10**6, 0)


def media_key(product_type: str | None, media_type: str | None) -> str:
    """Instagram's `media_product_type` and `media_type` as one key (`REELS/VIDEO`)."""
    return f"{product_type or 'FEED'}/{media_type or 'IMAGE'}"


def metrics_for(platform: str, version: str, media: str) -> list[str]:
    """The metric names to ask for one media type at `version`, in catalog order."""
    return [m.name for m in CATALOGS[platform].metrics if m.holds(version, media)]


def listing_metrics(platform: str, version: str) -> list[str]:
    """Metrics every media type a listing can hold has at `version`: safe to expand on a
    listing page whatever its mix. The others are asked per media type."""
    catalog = CATALOGS[platform]
    common = [set(metrics_for(platform, version, media)) for media in catalog.listed]
    shared = set.intersection(*common) if common else set()
    return [m.name for m in catalog.metrics if m.name in shared]


def columns(platform: str) -> dict[str, list[str]]:
    """Our column -> the metric names that feed it, the preferred one first."""
    found: dict[str, list[str]] = {}
    for metric in CATALOGS[platform].metrics:
        found.setdefault(metric.column, []).append(metric.name)
    return found


def column_of(platform: str, metric: str) -> str | None:
    return next((m.column for m in CATALOGS[platform].metrics if m.name == metric), None)


def newest_version(platform: str) -> str:
    """A version past every cut-over in the catalog: what "current" means here."""
    bounds = [v for m in CATALOGS[platform].metrics for v in (m.since, m.until) if v]
    return max(bounds, key=version_key) if bounds else "v0.0"


def unfed_columns(platform: str, version: str, media: str) -> dict[str, str]:
    """Columns the current API fills for this media type that `version` has no metric for:
    column -> why. (Instagram images before v22.0 have no view count at all.)"""
    now = {m.column for m in CATALOGS[platform].metrics if m.holds(newest_version(platform), media)}
    then = {m.column for m in CATALOGS[platform].metrics if m.holds(version, media)}
    return {
        column: f"Graph {version} has no {column} metric for {media} media "
        f"(from {newest_version(platform)} on: {', '.join(_names_for(platform, column))})"
        for column in sorted(now - then)
    }


def _names_for(platform: str, column: str) -> list[str]:
    latest = newest_version(platform)
    return [m.name for m in CATALOGS[platform].metrics if m.column == column and m.since == latest]


def field_map(platform: str) -> list[tuple[str, str]]:
    """README field-map rows: `insights <metric> (versions, media)` -> column."""
    rows = []
    for metric in CATALOGS[platform].metrics:
        where = []
        if metric.since:
            where.append(f"{metric.since}+")
        if metric.until:
            where.append(f"before {metric.until}")
        if metric.media:
            where.append(", ".join(metric.media))
        suffix = f" ({'; '.join(where)})" if where else ""
        rows.append((f"insights {metric.name}{suffix}", metric.column))
    return rows

"""TikTok Display API v2 pages -> posts, engagement, followers and quarantine (polars only).

Videos come from `video/list` (`posts` pages) and, when a refresh ran, `video/query`
(`metrics` pages); both carry the same video object and the latest reading wins.
`create_time` is epoch SECONDS. The Display API serves videos only and reports no saves,
impressions, reach or clicks: those columns are NULL, never 0.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from social_pipeline.core import schema
from social_pipeline.core.pulls import RawPull
from social_pipeline.normalize import common, gaps
from social_pipeline.normalize.items import TEXT, items_frame, jfield, obj

# Everything the Display API lists is a video.
CONTENT_TYPE_MAP: dict[str, str] = {"video": "video"}

METRIC_FIELDS: dict[str, str] = {
    "likes": "like_count",
    "comments": "comment_count",
    "shares": "share_count",
    "views": "view_count",
}
METRICS = common.MetricFields(METRIC_FIELDS, reason="wrong-typed {field}")
PROFILE_FIELDS: dict[str, str] = {
    "followers": "follower_count",
    "following": "following_count",
    "posts_count": "video_count",
}

FIELD_MAP: list[tuple[str, str]] = [
    ("id", "post_id"),
    ("create_time (epoch seconds)", "created_at"),
    ("video_description, else title", "text"),
    ("(always video)", "content_type"),
    ("share_url", "permalink"),
    ("embed_link", "media_urls"),
    ("cover_image_url", "thumbnail_url"),
    *[(field, column) for column, field in METRIC_FIELDS.items()],
    ("(not reported)", "saves"),
    ("(not reported)", "impressions"),
    ("(not reported)", "reach"),
    ("(not reported)", "clicks"),
    *[(f"data.user.{field}", column) for column, field in PROFILE_FIELDS.items()],
    ("data.user.display_name", "display_name"),
    ("(username: scope user.info.profile, not asked)", "handle"),
    ("(profile_deep_link: scope user.info.profile, not asked)", "profile_url"),
]

# The fields read, as the Display API nests them.
VIDEO = obj(
    id=TEXT,
    create_time=TEXT,
    title=TEXT,
    video_description=TEXT,
    share_url=TEXT,
    embed_link=TEXT,
    cover_image_url=TEXT,
    **dict.fromkeys(METRIC_FIELDS.values(), TEXT),
)
USER = obj(display_name=TEXT, **dict.fromkeys(PROFILE_FIELDS.values(), TEXT))
PROFILE = common.MetricFields(PROFILE_FIELDS, reason="wrong-typed {field}")


def _videos(body: Any) -> Any:
    return body["data"]["videos"]


def _user(body: Any) -> Any:
    return body["data"]["user"]


def normalize(pulls: list[RawPull]) -> common.PlatformFrames:
    """One day's TikTok pulls -> the normalized frames (rates are computed by the shared step)."""
    accessors = {"posts": _videos, "metrics": _videos, "profile": _user}
    good, bad = [], [common.unreadable_pages(pulls, accessors)]
    for kind in ("posts", "metrics"):
        kept, quarantined = common.split_quarantine(
            _video_columns(items_frame(pulls, kind, _videos, VIDEO)), _video_problems(), kind
        )
        good.append(kept)
        bad.append(quarantined)
    videos = common.latest(pl.concat(good), ["platform", "post_id"], where=common.IN_WINDOW)
    followers, profile_bad = _followers(pulls)
    bad.append(profile_bad)
    return common.PlatformFrames(
        posts=schema.conform(videos, schema.POSTS),
        engagement=schema.conform(videos, schema.ENGAGEMENT),
        followers=schema.conform(followers, schema.FOLLOWERS),
        quarantine=common.quarantined(bad),
        # A count the `fields` parameter asked for and the item lacks: NULL, and a gap.
        gaps=pl.concat(
            [
                gaps.missing_fields(videos, METRICS),
                gaps.missing_fields(followers, PROFILE, per_post=False),
            ]
        ),
    )


def _video_columns(frame: pl.DataFrame) -> pl.DataFrame:
    description, title = jfield("video_description"), jfield("title")
    embed = jfield("embed_link")
    return frame.with_columns(
        post_id=jfield("id"),
        _create_time=jfield("create_time"),
        content_type=pl.lit(CONTENT_TYPE_MAP["video"]),
        text=pl.when(description.is_null() | (description == ""))
        .then(title)
        .otherwise(description),
        permalink=jfield("share_url"),
        media_urls=pl.when(embed.is_null())
        .then(pl.lit([], dtype=pl.List(pl.String)))
        .otherwise(pl.concat_list(embed)),
        thumbnail_url=jfield("cover_image_url"),
        **METRICS.texts(),
    ).with_columns(
        common.observed(),
        created_at=common.from_epoch(pl.col("_create_time"), "s"),
        **METRICS.ints(),
    )


def _video_problems() -> dict[str, pl.Expr]:
    problems = {
        "missing id": pl.col("post_id").is_null(),
        "missing or unparseable create_time": pl.col("created_at").is_null(),
    }
    return problems | METRICS.problems()


def _followers(pulls: list[RawPull]) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = items_frame(pulls, "profile", _user, USER).with_columns(**PROFILE.texts())
    frame = frame.with_columns(
        common.observed(), display_name=jfield("display_name"), **PROFILE.ints()
    )
    good, bad = common.split_quarantine(frame, PROFILE.problems(), "profile")
    return common.latest(good, ["source"]), bad

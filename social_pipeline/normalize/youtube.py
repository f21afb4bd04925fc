"""YouTube pages -> posts, engagement and followers (polars expressions, no per-row Python).

The uploads playlist (posts pages) says which videos are in the window; `videos.list`
(metrics pages) adds what the playlist lacks: statistics, duration and live state. Counts
arrive as strings; `likeCount` is absent where the owner hides likes (NULL, not 0), and
the Data API reports no shares, saves, impressions, reach or clicks (all NULL).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from social_pipeline.core import schema
from social_pipeline.core.pulls import RawPull
from social_pipeline.normalize import common, gaps
from social_pipeline.normalize.items import TEXT, ItemsOf, items_frame, jfield, obj

# A video of at most this many seconds counts as a Short (Shorts may run to 3 minutes since
# October 2024). This is a heuristic: the Data API v3 has no Shorts flag, and the parts
# the client requests (snippet, statistics, contentDetails) carry no vertical signal
# either (thumbnails are landscape for every video), so duration alone decides; a
# horizontal upload of 3 minutes or less is taken for a Short.
SHORT_MAX_SECONDS = 180

# YouTube's kind of video -> our content type. The kind is `snippet.liveBroadcastContent`
# (`live`, `upcoming`) or, for `none`, `short` when the duration is 1..SHORT_MAX_SECONDS.
# A finished live stream reports `none` and its length, so it counts as a video.
CONTENT_TYPE_MAP: dict[str, str] = {
    "live": "live",
    "upcoming": "live",
    "short": "short",
    "none": "video",
}

# statistics field -> our metric column (strings on the wire).
METRIC_FIELDS: dict[str, str] = {
    "views": "viewCount",
    "likes": "likeCount",
    "comments": "commentCount",
}
METRICS = common.MetricFields(METRIC_FIELDS, prefix="statistics.")
# channels.list statistics, read for the missing-field check (subscriberCount is absent,
# by rule, when hiddenSubscriberCount is true).
PROFILE = common.MetricFields(
    {"followers": "subscriberCount", "posts_count": "videoCount"}, prefix="statistics."
)

FIELD_MAP: list[tuple[str, str]] = [
    ("playlistItems: contentDetails.videoId", "post_id"),
    ("playlistItems: contentDetails.videoPublishedAt", "created_at"),
    ("playlistItems: snippet.title + blank line + snippet.description", "text"),
    ("videos: snippet.liveBroadcastContent, contentDetails.duration", "content_type"),
    (
        "playlistItems: snippet.thumbnails.(maxres|standard|high|medium|default).url",
        "thumbnail_url",
    ),
    ("the same thumbnail (the API exposes no media file)", "media_urls"),
    ("built: https://www.youtube.com/watch?v={id}", "permalink"),
    *((f"videos: statistics.{field} (string)", column) for column, field in METRIC_FIELDS.items()),
    *(("(not in the Data API)", c) for c in ("shares", "saves", "impressions", "reach", "clicks")),
    ("channels: statistics.subscriberCount (NULL if hiddenSubscriberCount)", "followers"),
    ("channels: statistics.videoCount", "posts_count"),
    ("(not reported)", "following"),
    ("channels: snippet.customUrl (the @handle)", "handle"),
    ("channels: snippet.title", "display_name"),
    (
        "built: https://www.youtube.com/@{handle}, else https://www.youtube.com/channel/{id}",
        "profile_url",
    ),
]

PERMALINK = "https://www.youtube.com/watch?v="
_DURATION = r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$"
_THUMBNAILS = ("maxres", "standard", "high", "medium", "default")

# The fields read, as the Data API nests them (counts are strings there; booleans decode
# as "true"/"false").
PLAYLIST_ITEM = obj(
    contentDetails=obj(videoId=TEXT, videoPublishedAt=TEXT),
    snippet=obj(
        title=TEXT,
        description=TEXT,
        thumbnails=obj(**dict.fromkeys(_THUMBNAILS, obj(url=TEXT))),
    ),
)
VIDEO = obj(
    id=TEXT,
    statistics=obj(**dict.fromkeys(METRIC_FIELDS.values(), TEXT)),
    contentDetails=obj(duration=TEXT),
    snippet=obj(liveBroadcastContent=TEXT),
)
CHANNEL = obj(
    id=TEXT,
    snippet=obj(title=TEXT, customUrl=TEXT),
    statistics=obj(subscriberCount=TEXT, videoCount=TEXT, hiddenSubscriberCount=TEXT),
)


def _items(body: Any) -> Any:
    return body["items"]


def _channel(body: Any) -> Any:
    return body["items"][0]


ITEMS_OF: dict[str, ItemsOf] = {"posts": _items, "metrics": _items, "profile": _channel}


def normalize(pulls: list[RawPull]) -> common.PlatformFrames:
    videos, bad_videos = _videos(pulls)
    posts, bad_posts = _posts(pulls, videos)
    followers, bad_profiles, profile_gaps = _followers(pulls)
    engagement = videos.join(
        posts.select("account_id", "post_id"), on=["account_id", "post_id"], how="semi"
    ).unique("post_id", keep="last", maintain_order=True)
    unreadable = common.unreadable_pages(pulls, ITEMS_OF)
    return common.PlatformFrames(
        posts=posts,
        engagement=schema.conform(engagement, schema.ENGAGEMENT),
        followers=followers,
        quarantine=common.quarantined([unreadable, bad_posts, bad_videos, bad_profiles]),
        # A hidden likeCount is the owner's choice (NULL by rule), not a gap. A video the
        # playlist lists and videos.list leaves out is noted by the client.
        gaps=pl.concat(
            [gaps.missing_fields(engagement, METRICS, skip={"statistics.likeCount"}), profile_gaps]
        ),
    )


def _videos(pulls: list[RawPull]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`videos.list` items: metrics, plus the content type the posts need."""
    frame = items_frame(pulls, "metrics", _items, VIDEO).with_columns(
        jfield("id").alias("post_id"),
        **METRICS.texts(),
    )
    problems = {"video has no id": pl.col("post_id").is_null()}
    problems |= METRICS.problems()
    good, bad = common.split_quarantine(frame, problems, "metrics")
    parts = jfield("contentDetails.duration").str.extract_groups(_DURATION)
    seconds = (
        parts.struct.field("1").cast(pl.Int64).fill_null(0) * 86400
        + parts.struct.field("2").cast(pl.Int64).fill_null(0) * 3600
        + parts.struct.field("3").cast(pl.Int64).fill_null(0) * 60
        + parts.struct.field("4").cast(pl.Int64).fill_null(0)
    )
    live = jfield("snippet.liveBroadcastContent")
    kind = (
        pl.when(live.is_in(["live", "upcoming"]))
        .then(live)
        .when(seconds.is_between(1, SHORT_MAX_SECONDS))
        .then(pl.lit("short"))
        .otherwise(pl.lit("none"))
    )
    good = good.with_columns(
        kind.replace_strict(CONTENT_TYPE_MAP).alias("content_type"),
        common.observed(),
        **METRICS.ints(),
    )
    return good.drop("item"), bad


def _posts(pulls: list[RawPull], videos: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Uploads playlist items inside the window; typed by their `videos.list` entry."""
    frame = items_frame(pulls, "posts", _items, PLAYLIST_ITEM).with_columns(
        jfield("contentDetails.videoId").alias("post_id"),
        jfield("contentDetails.videoPublishedAt").alias("_published"),
    )
    frame = frame.with_columns(common.as_utc(pl.col("_published")).alias("created_at"))
    good, bad = common.split_quarantine(
        frame,
        {
            "playlist item has no videoId": pl.col("post_id").is_null(),
            f"playlist item has no videoPublishedAt ({gaps.GONE_MARK} video)": pl.col(
                "_published"
            ).is_null(),
            "videoPublishedAt is not an RFC 3339 time": pl.col("created_at").is_null(),
        },
        "posts",
    )
    title, description = jfield("snippet.title"), jfield("snippet.description")
    thumbnail = pl.coalesce(*(jfield(f"snippet.thumbnails.{size}.url") for size in _THUMBNAILS))
    types = videos.select("account_id", "post_id", "content_type").unique(
        ["account_id", "post_id"], keep="last"
    )
    good = (
        good.filter(common.IN_WINDOW)
        .join(types, on=["account_id", "post_id"], how="left")
        .with_columns(
            # Every upload is a video; the videos page only refines it to short or live.
            pl.col("content_type").fill_null("video"),
            pl.when(description.fill_null("") == "")
            .then(title)
            .otherwise(pl.concat_str([title.fill_null(""), description], separator="\n\n"))
            .alias("text"),
            (pl.lit(PERMALINK) + pl.col("post_id")).alias("permalink"),
            thumbnail.alias("thumbnail_url"),
            pl.when(thumbnail.is_not_null())
            .then(pl.concat_list(thumbnail))
            .otherwise(pl.lit([], dtype=pl.List(pl.String())))
            .alias("media_urls"),
            common.observed(),
        )
    )
    return schema.conform(good, schema.POSTS).unique(
        "post_id", keep="first", maintain_order=True
    ), bad


def _channel_identity() -> dict[str, pl.Expr]:
    """Handle, title and URL of a channel (a channel without a custom URL has no handle)."""
    handle = jfield("snippet.customUrl").str.strip_chars_start("@")
    return {
        "handle": handle,
        "display_name": jfield("snippet.title"),
        "profile_url": pl.coalesce(
            pl.format("https://www.youtube.com/@{}", handle),
            pl.format("https://www.youtube.com/channel/{}", jfield("id")),
        ),
    }


def _followers(pulls: list[RawPull]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Follower rows, quarantined profiles, and gaps for counts a channel lacks."""
    frame = items_frame(pulls, "profile", _channel, CHANNEL).with_columns(
        jfield("statistics.subscriberCount").alias("_followers"),
        jfield("statistics.videoCount").alias("_posts"),
        **PROFILE.texts(),
    )
    good, bad = common.split_quarantine(
        frame,
        {
            "subscriberCount is not a number": common.bad_int(pl.col("_followers")),
            "videoCount is not a number": common.bad_int(pl.col("_posts")),
        },
        "profile",
    )
    hidden = jfield("statistics.hiddenSubscriberCount") == "true"
    good = good.with_columns(
        pl.when(hidden)
        .then(None)
        .otherwise(common.as_int(pl.col("_followers")))
        .alias("followers"),
        common.as_int(pl.col("_posts")).alias("posts_count"),
        common.observed(),
        **_channel_identity(),
    ).unique("account_id", keep="last", maintain_order=True)
    missing = pl.concat(
        [
            gaps.missing_fields(good, PROFILE, per_post=False, skip={"statistics.subscriberCount"}),
            gaps.missing_fields(
                good,
                PROFILE,
                per_post=False,
                skip={"statistics.videoCount"},
                when=~hidden.fill_null(False),
            ),
        ]
    )
    return schema.conform(good, schema.FOLLOWERS), bad, missing

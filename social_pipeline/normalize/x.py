"""X API v2 pages -> posts, engagement, followers and quarantine (polars only).

Tweets come from the timeline (`posts` pages) and, when a refresh ran, from the lookup
(`metrics` pages); both have the same shape and the latest reading of a tweet wins.
Media live beside the tweets in `includes.media` and are joined in by `media_key`.

Metrics: X's `impression_count` is what its apps show as "Views", so it fills both
`impressions` and `views` (and `engagement_rate_per_view` is then X's own per-impression
rate). `quote_count` has no column; it stays in the raw landing. X reports no reach or
clicks without user-context auth: those are NULL.

Retweets (landed only with SOCIAL_PIPELINE_X_INCLUDE_RETWEETS) are someone else's posts
carrying the original's counts: they never become posts or engagement rows, and go to
quarantine with the reason `RETWEET`, so they are counted, not stored as the account's.
A retweet is known by `referenced_tweets` of type `retweeted`; a landing made without that
field falls back to X's `RT @handle: ` text prefix.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from social_pipeline.core import schema
from social_pipeline.core.pulls import RawPull
from social_pipeline.normalize import common, gaps
from social_pipeline.normalize.items import TEXT, items_frame, jfield, obj

# X media type of a single-media tweet -> our content type; none -> text, several -> carousel.
CONTENT_TYPE_MAP: dict[str, str] = {"photo": "image", "video": "video", "animated_gif": "video"}

# Public metric -> our column (impression_count feeds two columns, see above).
METRIC_FIELDS: dict[str, str] = {
    "likes": "like_count",
    "comments": "reply_count",
    "shares": "retweet_count",
    "views": "impression_count",
    "impressions": "impression_count",
    "saves": "bookmark_count",
}
METRICS = common.MetricFields(
    METRIC_FIELDS, prefix="public_metrics.", reason="wrong-typed public_metrics.{field}"
)
PROFILE_FIELDS: dict[str, str] = {
    "followers": "followers_count",
    "following": "following_count",
    "posts_count": "tweet_count",
}

FIELD_MAP: list[tuple[str, str]] = [
    ("id", "post_id"),
    ("created_at", "created_at"),
    ("text", "text"),
    ("includes.media[].type (no media: text; several: carousel)", "content_type"),
    (
        "includes.media[].url, else highest-bit_rate video/mp4 variants[].url,"
        " else preview_image_url",
        "media_urls",
    ),
    ("includes.media[0].preview_image_url or url", "thumbnail_url"),
    ("https://x.com/{username}/status/{id} (username from GET /2/users/{id})", "permalink"),
    *[(f"public_metrics.{field}", column) for column, field in METRIC_FIELDS.items()],
    ("(not reported)", "reach"),
    ("(not reported)", "clicks"),
    *[(f"data.public_metrics.{field}", column) for column, field in PROFILE_FIELDS.items()],
    ("data.username", "handle"),
    ("data.name", "display_name"),
    ("https://x.com/{username}", "profile_url"),
]

CREATED_AT_FORMAT = "%Y-%m-%dT%H:%M:%S%.fZ"  # "2026-05-01T10:00:00.000Z"

# The fields read, as X nests them. `attachments.media_keys` (and `referenced_tweets`, to spot
# a retweet) are read apart, as JSON text, so a media_keys value that is not a list of
# strings is quarantined rather than coerced.
TWEET = obj(
    id=TEXT,
    created_at=TEXT,
    text=TEXT,
    public_metrics=obj(**dict.fromkeys(sorted(set(METRIC_FIELDS.values())), TEXT)),
)
AS_TEXT = {"_keys": "attachments.media_keys", "_refs": "referenced_tweets"}
RETWEET = "retweet (someone else's post)"
_RETWEETED = r'"type"\s*:\s*"retweeted"'
_RT_PREFIX = r"^RT @\w{1,15}: "
# A photo has a `url`; a video or GIF has none, only `preview_image_url` and `variants`
# (`{bit_rate?, content_type, url}`: MP4s at several bit rates, an HLS playlist without one).
MEDIA = obj(
    media_key=TEXT,
    type=TEXT,
    url=TEXT,
    preview_image_url=TEXT,
    variants=pl.List(obj(bit_rate=TEXT, content_type=TEXT, url=TEXT)),
)
USER = obj(
    username=TEXT, name=TEXT, public_metrics=obj(**dict.fromkeys(PROFILE_FIELDS.values(), TEXT))
)
PROFILE = common.MetricFields(
    PROFILE_FIELDS, prefix="public_metrics.", reason="wrong-typed public_metrics.{field}"
)
_KEY_LIST = r'^\[\s*("[^"]*"\s*(,\s*"[^"]*"\s*)*)?\]$'


def _tweets(body: Any) -> Any:
    if "data" in body:
        return body["data"]
    if "meta" in body or "errors" in body:
        return []  # an empty timeline page, or a lookup whose ids were all deleted
    raise KeyError("data")


def _media(body: Any) -> Any:
    return body["includes"]["media"]


def _profile(body: Any) -> Any:
    return body["data"]


def normalize(pulls: list[RawPull]) -> common.PlatformFrames:
    """One day's X pulls -> the normalized frames (rates are computed by the shared step)."""
    accessors = {"posts": _tweets, "metrics": _tweets, "profile": _profile}
    good, bad = [], [common.unreadable_pages(pulls, accessors)]
    for kind in ("posts", "metrics"):
        kept, quarantined = common.split_quarantine(
            _tweet_columns(items_frame(pulls, kind, _tweets, TWEET, AS_TEXT)),
            _tweet_problems(),
            kind,
        )
        good.append(kept.drop("item"))  # every field read is a column by now
        bad.append(quarantined)
    tweets = _in_window_latest(pl.concat(good))
    tweets = _with_media(tweets, _media_frame(pulls))
    profiles, profile_bad = _profiles(pulls)
    bad.append(profile_bad)
    # Each pull's username (one latest profile per source), looked up rather than joined:
    # a join would copy every tweet.
    username = pl.col("source").replace_strict(
        profiles["source"], profiles["username"], default=None, return_dtype=pl.String
    )
    tweets = tweets.with_columns(username.alias("username"))
    return common.PlatformFrames(
        posts=schema.conform(_posts(tweets), schema.POSTS),
        engagement=schema.conform(tweets.with_columns(common.observed()), schema.ENGAGEMENT),
        followers=schema.conform(
            profiles.with_columns(
                common.observed(),
                handle=pl.col("username"),
                display_name=jfield("name"),
                profile_url=pl.format("https://x.com/{}", pl.col("username")),
            ),
            schema.FOLLOWERS,
        ),
        quarantine=common.quarantined(bad),
        # A tweet or profile without (part of) its public_metrics: those counts are NULL.
        gaps=pl.concat(
            [
                gaps.missing_fields(tweets, METRICS),
                gaps.missing_fields(profiles, PROFILE, per_post=False),
            ]
        ),
    )


def _tweet_columns(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        post_id=jfield("id"),
        created_at=common.as_utc(jfield("created_at"), CREATED_AT_FORMAT),
        text=jfield("text"),
        **METRICS.texts(),
    ).with_columns(**METRICS.ints())


def _tweet_problems() -> dict[str, pl.Expr]:
    retweet = pl.col("_refs").str.contains(_RETWEETED) | (
        pl.col("_refs").is_null() & pl.col("text").str.contains(_RT_PREFIX)
    )
    problems = {
        RETWEET: retweet,
        "missing id": pl.col("post_id").is_null(),
        "missing or unparseable created_at": pl.col("created_at").is_null(),
        "attachments.media_keys is not a list of keys": pl.col("_keys").is_not_null()
        & ~pl.col("_keys").str.contains(_KEY_LIST),
    }
    return problems | METRICS.problems()


def _in_window_latest(tweets: pl.DataFrame) -> pl.DataFrame:
    """Tweets created in the pull's window, one row per tweet: its latest reading."""
    return (
        common.latest(tweets, ["platform", "post_id"], where=common.IN_WINDOW)
        .with_columns(
            pl.col("_keys")
            .str.extract_all(r'"[^"]*"')
            .list.eval(pl.element().str.strip_chars('"'))
            .alias("_keys")
        )
        .with_row_index("_row")
    )


def _media_frame(pulls: list[RawPull]) -> pl.DataFrame:
    media = pl.concat([items_frame(pulls, kind, _media, MEDIA) for kind in ("posts", "metrics")])
    url, preview = jfield("url"), jfield("preview_image_url")
    # A video's playable file: its highest-bit_rate MP4 variant. Landings made before
    # `variants` was requested have none; the preview image stands in then.
    variant = pl.element().struct.field
    is_mp4 = variant("content_type") == "video/mp4"
    rate = pl.when(is_mp4).then(variant("bit_rate").cast(pl.Int64, strict=False).fill_null(-1))
    best_mp4 = (
        jfield("variants")
        .list.eval(
            pl.when(is_mp4)
            .then(variant("url"))
            .sort_by(rate, descending=True, nulls_last=True)
            .first()
        )
        .list.first()
    )
    return media.select(
        jfield("media_key").alias("media_key"),
        jfield("type").alias("media_type"),
        pl.coalesce(url, best_mp4, preview).alias("media_url"),
        pl.coalesce(preview, url).alias("thumbnail"),
    ).unique("media_key", keep="last", maintain_order=True)


def _with_media(tweets: pl.DataFrame, media: pl.DataFrame) -> pl.DataFrame:
    """Attach each tweet's media (in `media_keys` order) and derive its content type."""
    per_tweet = (
        tweets.select("_row", pl.col("_keys").alias("media_key"))
        .explode("media_key")
        .join(media, on="media_key", how="left", maintain_order="left")
        .group_by("_row", maintain_order=True)
        .agg(
            pl.col("media_url").drop_nulls().alias("media_urls"),
            pl.col("thumbnail").drop_nulls().first().alias("thumbnail_url"),
            pl.col("media_type").first().alias("_first_type"),
        )
    )
    count = pl.col("_keys").list.len().fill_null(0)
    content_type = (
        pl.when(count == 0)
        .then(pl.lit("text"))
        .when(count > 1)
        .then(pl.lit("carousel"))
        .otherwise(
            pl.col("_first_type").replace_strict(
                CONTENT_TYPE_MAP, default=None, return_dtype=pl.String
            )
        )
    )
    if per_tweet.height == tweets.height and per_tweet["_row"].is_sorted():
        # One row per tweet in tweet order (`_row` counts from 0): side by side, no join
        # copying a million tweets.
        return tweets.hstack(per_tweet.drop("_row")).with_columns(
            content_type.alias("content_type")
        )
    return tweets.join(per_tweet, on="_row", how="left").with_columns(
        content_type.alias("content_type")
    )


def _posts(tweets: pl.DataFrame) -> pl.DataFrame:
    permalink = (
        pl.when(pl.col("username").is_not_null())
        .then(pl.format("https://x.com/{}/status/{}", pl.col("username"), pl.col("post_id")))
        .otherwise(pl.format("https://x.com/i/web/status/{}", pl.col("post_id")))
    )
    return tweets.with_columns(permalink.alias("permalink"), common.observed())


def _profiles(pulls: list[RawPull]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Follower counts and username per pull (latest profile page wins)."""
    frame = items_frame(pulls, "profile", _profile, USER)
    frame = frame.with_columns(username=jfield("username"), **PROFILE.texts())
    frame = frame.with_columns(**PROFILE.ints())
    good, bad = common.split_quarantine(frame, PROFILE.problems(), "profile")
    return common.latest(good, ["source"]), bad

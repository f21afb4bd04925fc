"""LinkedIn pages -> posts, engagement and followers (polars expressions, no per-row Python).

Posts come from `/rest/posts` elements, metrics from `organizationalEntityShareStatistics`
lifetime totals, followers from `networkSizes`. LinkedIn gives media as URNs (`urn:li:image:`),
not URLs: the client resolves image URNs by the Images API in batches (`images` pages), and
each becomes its `downloadUrl` (which expires). Images it could not resolve, and videos
and documents, keep their URNs; an article's link is its `source` URL.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from social_pipeline.core import schema
from social_pipeline.core.pulls import RawPull
from social_pipeline.normalize import common, gaps
from social_pipeline.normalize.items import TEXT, ItemsOf, each, items_frame, jfield, obj

# LinkedIn's kind of post -> our content type. The kind is the key of the `content` union,
# or for `content.media` the entity type of the media URN (urn:li:image:... -> image).
CONTENT_TYPE_MAP: dict[str, str] = {
    "none": "text",  # no `content`: a text post
    "image": "image",
    "video": "video",
    "document": "carousel",  # a PDF shown as swipeable pages
    "article": "link",
    "multiImage": "carousel",
    "carousel": "carousel",
    "poll": "text",
}

# totalShareStatistics field -> our metric column; views and saves are not reported.
METRIC_FIELDS: dict[str, str] = {
    "likes": "likeCount",
    "comments": "commentCount",
    "shares": "shareCount",
    "impressions": "impressionCount",
    "reach": "uniqueImpressionsCount",
    "clicks": "clickCount",
}
METRICS = common.MetricFields(METRIC_FIELDS, prefix="totalShareStatistics.")

FIELD_MAP: list[tuple[str, str]] = [
    ("posts: id (urn:li:share:… or urn:li:ugcPost:…)", "post_id"),
    ("posts: createdAt (epoch ms), else publishedAt", "created_at"),
    ("posts: commentary (little-text escapes removed)", "text"),
    ("posts: content union key / media URN type", "content_type"),
    (
        "posts: content.media.id | content.article.source | content.multiImage.images[].id;"
        " image URNs as images: results[urn].downloadUrl (expires)",
        "media_urls",
    ),
    ("posts: content.article.thumbnail (an image URN, resolved as above)", "thumbnail_url"),
    ("built: https://www.linkedin.com/feed/update/{id}", "permalink"),
    *(
        (f"shareStatistics: totalShareStatistics.{field}", column)
        for column, field in METRIC_FIELDS.items()
    ),
    *(("(not reported)", column) for column in ("views", "saves")),
    ("networkSizes: firstDegreeSize", "followers"),
    *(("(not reported)", column) for column in ("following", "posts_count")),
    *(
        ("(organization name: one more call per account, not made)", column)
        for column in ("handle", "display_name")
    ),
    ("built: https://www.linkedin.com/company/{organization id}/", "profile_url"),
]

PERMALINK = "https://www.linkedin.com/feed/update/"
# Little-text (the commentary format) escapes its reserved characters with a backslash.
_LITTLE_TEXT_ESCAPE = r"\\([\\|{}@\[\]()<>#*_~])"

# `content` is a union: one key names the kind of post. Any kind the map names may be that
# key; members whose fields are not read are declared only to see that they are there.
UNION_KEYS = ("media", "article", "multiImage", "document", "carousel", "poll", "image", "video")
_PRESENT = obj(id=TEXT)

# The fields read, as LinkedIn nests them.
POST = obj(
    id=TEXT,
    createdAt=TEXT,
    publishedAt=TEXT,
    commentary=TEXT,
    content=obj(
        **dict.fromkeys(UNION_KEYS, _PRESENT)
        | {
            "article": obj(source=TEXT, thumbnail=TEXT),
            "multiImage": obj(images=pl.List(obj(id=TEXT))),
        }
    ),
)
STATISTICS = obj(
    share=TEXT,
    ugcPost=TEXT,
    totalShareStatistics=obj(**dict.fromkeys(METRIC_FIELDS.values(), TEXT)),
)
NETWORK_SIZE = obj(firstDegreeSize=TEXT)
IMAGE = obj(id=TEXT, downloadUrl=TEXT)


def _elements(body: Any) -> Any:
    return body["elements"]


def _profile(body: Any) -> Any:
    return body if isinstance(body, dict) else None


def _image_results(body: Any) -> Any:
    return list(body["results"].values())  # a batch get answers {urn: image, ...}


ITEMS_OF: dict[str, ItemsOf] = {
    "posts": _elements,
    "metrics": _elements,
    "profile": _profile,
    "images": _image_results,
}


def normalize(pulls: list[RawPull]) -> common.PlatformFrames:
    posts, bad_posts = _posts(pulls)
    engagement, bad_metrics, missing = _engagement(pulls, posts)
    followers, bad_profiles = _followers(pulls)
    unreadable = common.unreadable_pages(pulls, ITEMS_OF)
    return common.PlatformFrames(
        posts=posts,
        engagement=engagement,
        followers=followers,
        quarantine=common.quarantined([unreadable, bad_posts, bad_metrics, bad_profiles]),
        # A profile without firstDegreeSize is quarantined (it has nothing else to keep);
        # statistics without one of their counts keep the rest, with a gap for it.
        gaps=missing,
    )


def _posts(pulls: list[RawPull]) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = items_frame(pulls, "posts", _elements, POST)
    raw_time = pl.coalesce(jfield("createdAt"), jfield("publishedAt"))
    frame = frame.with_columns(
        jfield("id").alias("post_id"),
        raw_time.alias("_time"),
        common.from_epoch(raw_time, "ms").alias("created_at"),
    )
    good, bad = common.split_quarantine(
        frame,
        {
            "post has no id": pl.col("post_id").is_null(),
            "post has no createdAt or publishedAt": pl.col("_time").is_null(),
            "createdAt is not epoch milliseconds": pl.col("created_at").is_null(),
        },
        "posts",
    )
    media_id = jfield("content.media.id")
    kind = pl.when(jfield("content.media").is_not_null()).then(
        media_id.str.extract(r"^urn:li:(\w+):", 1)
    )
    for key in UNION_KEYS[1:]:
        kind = kind.when(jfield(f"content.{key}").is_not_null()).then(pl.lit(key))
    single = pl.coalesce(media_id, jfield("content.article.source"))
    images = each("content.multiImage.images", "id")
    good = good.filter(common.IN_WINDOW).with_columns(
        kind.fill_null("none")
        .replace_strict(CONTENT_TYPE_MAP, default="text")
        .alias("content_type"),
        jfield("commentary").str.replace_all(_LITTLE_TEXT_ESCAPE, "$1").alias("text"),
        (pl.lit(PERMALINK) + pl.col("post_id")).alias("permalink"),
        pl.when(single.is_not_null())
        .then(pl.concat_list(single))
        .otherwise(images)
        .alias("media_urls"),
        jfield("content.article.thumbnail").alias("thumbnail_url"),
        common.observed(),
    )
    good = _with_download_urls(good, _download_urls(pulls))
    return schema.conform(good, schema.POSTS).unique(
        "post_id", keep="first", maintain_order=True
    ), bad


def _download_urls(pulls: list[RawPull]) -> pl.DataFrame:
    """Image URN -> download URL, from the day's `images` pages (latest read wins)."""
    frame = items_frame(pulls, "images", _image_results, IMAGE).with_columns(
        urn=jfield("id"), url=jfield("downloadUrl")
    )
    frame = frame.filter(pl.col("urn").is_not_null() & pl.col("url").is_not_null())
    return common.latest(frame, ["urn"]).select("urn", "url")


def _with_download_urls(posts: pl.DataFrame, urls: pl.DataFrame) -> pl.DataFrame:
    """Media and thumbnails with each resolved image URN replaced by its download URL."""
    if urls.is_empty():
        return posts
    urns, links = urls["urn"], urls["url"]
    return posts.with_columns(
        pl.col("media_urls").list.eval(pl.element().replace(urns, links)),
        pl.col("thumbnail_url").replace(urns, links),
    )


def _engagement(
    pulls: list[RawPull], posts: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Engagement rows, quarantined statistics, and gaps for counts they lack."""
    frame = items_frame(pulls, "metrics", _elements, STATISTICS).with_columns(
        pl.coalesce(jfield("share"), jfield("ugcPost")).alias("post_id"),
        **METRICS.texts(),
    )
    problems = {"statistics name no share or ugcPost": pl.col("post_id").is_null()}
    problems |= METRICS.problems()
    good, bad = common.split_quarantine(frame, problems, "metrics")
    good = (
        good.join(posts.select("account_id", "post_id"), on=["account_id", "post_id"], how="semi")
        .with_columns(
            common.observed(),
            **METRICS.ints(),
        )
        .unique("post_id", keep="last", maintain_order=True)
    )
    return schema.conform(good, schema.ENGAGEMENT), bad, gaps.missing_fields(good, METRICS)


def _followers(pulls: list[RawPull]) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = items_frame(pulls, "profile", _profile, NETWORK_SIZE).with_columns(
        jfield("firstDegreeSize").alias("_followers")
    )
    good, bad = common.split_quarantine(
        frame,
        {
            "profile has no firstDegreeSize": pl.col("_followers").is_null(),
            "firstDegreeSize is not a number": common.bad_int(pl.col("_followers")),
        },
        "profile",
    )
    good = good.with_columns(
        common.as_int(pl.col("_followers")).alias("followers"),
        common.observed(),
        profile_url=pl.format("https://www.linkedin.com/company/{}/", pl.col("account_id")),
    )
    return schema.conform(good, schema.FOLLOWERS).unique(
        "account_id", keep="last", maintain_order=True
    ), bad

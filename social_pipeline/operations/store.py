"""A collection day from the raw landing into the lake: normalize, quarantine, record jobs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import polars as pl

from social_pipeline.core import schema
from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.pulls import RawPull
from social_pipeline.normalize.carried import carried_forward
from social_pipeline.normalize.common import PlatformFrames, last_of_each, noted_gaps
from social_pipeline.normalize.gaps import vanished_posts
from social_pipeline.normalize.rates import with_rates
from social_pipeline.operations.quality import duplicate_posts
from social_pipeline.operations.registry import platform_code
from social_pipeline.storage import lake, posts_seen, raw
from social_pipeline.storage.lake_records import jobs_frame, rate_limits_frame


@dataclass
class DayFrames:
    posts: pl.DataFrame
    engagement: pl.DataFrame
    followers: pl.DataFrame
    quarantine: pl.DataFrame
    gaps: pl.DataFrame


def normalize_day(
    data_dir: raw.DataRoot, day: date, platforms: Sequence[str] = PLATFORMS
) -> DayFrames:
    """Read every platform's landed pulls of `day` and return one schema for all six.

    The day's platforms one after another (`normalize_platform`), their frames put
    together: posts, engagement, followers and gaps in the order the lake keeps them.
    `store_day` does the same without ever holding more than one platform's frames.
    """
    parts = []
    earlier = posts_seen.PostsSeen(data_dir)
    with raw.local_day(data_dir, day, platforms) as landed:
        for platform in sorted(platforms):
            parts.append(normalize_platform(data_dir, landed, day, platform, earlier))
    return DayFrames(
        **{
            name: _concat([getattr(f, name) for f in parts], lake.table_schema(table))
            for name, table in LAKE_TABLE_OF.items()
        }
    )


def normalize_platform(
    data_dir: raw.DataRoot,
    landed: Path,
    day: date,
    platform: str,
    earlier_posts: posts_seen.PostsSeen | None = None,
) -> DayFrames:
    """One platform's landed pulls of `day` (in `landed`, see `raw.local_day`) in the
    lake's schema, sorted as the lake keeps them, with the day's steps done.

    Gaps are what the platform did not give: what the clients noted and the normalizer
    found missing, and posts earlier days stored that today's complete listings lack
    (read from the lake's posts of the days before).

    Pages are read a batch of accounts at a time (`raw.pull_batches`) and only each
    batch's frames are kept, a small fraction of the pages as Python objects: memory
    follows the batch, not the number of accounts (and a pull too large for that is
    streamed from its file, see `raw.read_pull`). The steps across accounts (dedupe,
    rates, vanished and carried posts) all key on the platform, so doing them a platform
    at a time gives the day-wide result, and the day's memory follows its largest platform.
    """
    batches, noted, pulls = [], [], []
    for paths in raw.pull_batches(landed, platform, day):
        frames, notes, headers = _normalize_batch(platform, paths)
        batches.append(frames)
        noted.append(notes)
        pulls.extend(headers)
    parts = _platform_frames(batches)
    del batches
    # Only days that can hold a post of today's windows: none before the earliest start.
    # (A day's posts were created before its end, so a day before a window's start holds
    # none of the window's posts: the platform's own earliest start is enough.)
    since = min((p.window_start.date() for p in pulls), default=day)
    earlier_posts = earlier_posts or posts_seen.PostsSeen(data_dir)
    earlier_days = earlier_posts.days(since, day)
    earlier = earlier_posts.of(platform, since, day)
    gaps = _concat(
        [parts.gaps, *noted, vanished_posts(pulls, parts.posts, earlier, parts.quarantine)],
        schema.GAPS,
    )
    engagement = with_rates(parts.engagement, parts.followers).with_columns(
        pl.coalesce("read_on", "snapshot_date").alias("read_on")
    )
    # Older posts a tiered pull did not read keep their last row (and its rates).
    carried = schema.empty(schema.ENGAGEMENT)
    if any(p.tiered for p in pulls):
        earlier_engagement = lake.read_table(
            data_dir,
            "engagement_snapshots",
            earlier_days,
            lambda rows: rows.filter(pl.col("platform") == platform),
        )
        gone = gaps.filter(pl.col("kind") == "post_unavailable")
        carried = carried_forward(pulls, engagement, earlier, earlier_engagement, gone)
    return DayFrames(
        posts=_sorted(parts.posts, "platform", "account_id", "created_at", "post_id"),
        engagement=_sorted(pl.concat([engagement, carried]), "platform", "account_id", "post_id"),
        followers=parts.followers.sort("platform", "account_id"),
        quarantine=parts.quarantine,
        gaps=gaps.sort("platform", "account_id", "kind", "post_id", "field", nulls_last=True),
    )


# DayFrames field -> the lake table it is stored in (whose schema is the field's).
LAKE_TABLE_OF = {
    "posts": "posts",
    "engagement": "engagement_snapshots",
    "followers": "follower_snapshots",
    "quarantine": "quarantine",
    "gaps": "gaps",
}


def _normalize_batch(
    platform: str, paths: list[Path]
) -> tuple[PlatformFrames, pl.DataFrame, list[RawPull]]:
    """One batch of a platform's pulls: its frames, the gaps its clients noted, and the
    pulls' headers (no pages) for the day-wide steps."""
    pulls = [raw.read_pull(path, platform) for path in paths]
    frames = platform_code(platform).normalize(pulls)
    return frames, noted_gaps(pulls), [replace(pull, records=[]) for pull in pulls]


def _platform_frames(batches: list[PlatformFrames]) -> PlatformFrames:
    """A platform's batches as one, each post and account once (its last row): keys never
    repeat across platforms, so this is the day's dedupe done a platform at a time, on
    keys that need hash only their ids."""
    return PlatformFrames(
        posts=last_of_each(
            _concat([f.posts for f in batches], schema.POSTS), ["platform", "post_id"]
        ),
        engagement=last_of_each(
            _concat([f.engagement for f in batches], schema.ENGAGEMENT), ["platform", "post_id"]
        ),
        followers=last_of_each(
            _concat([f.followers for f in batches], schema.FOLLOWERS), ["platform", "account_id"]
        ),
        quarantine=_concat([f.quarantine for f in batches], schema.QUARANTINE),
        gaps=_concat([f.gaps for f in batches], schema.GAPS),
    )


def _sorted(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """`frame` sorted by `columns` (unique per row here), not copied when it already is:
    a big account's posts usually come sorted, and a million rows copied cost memory."""
    order = frame.select(pl.arg_sort_by(columns, maintain_order=True)).to_series()
    return frame if order.is_sorted() else frame[order]


def _concat(frames: list[pl.DataFrame], table: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.concat([schema.conform(f, table) for f in frames]) if frames else schema.empty(table)


NORMALIZED_TABLES = ("posts", "engagement_snapshots", "follower_snapshots")
PREVIEW_ROWS = 5


@dataclass
class TableSummary:
    """What a day wrote to one lake table, without holding its rows: the count, the count
    per platform, and the first rows as they are in the file."""

    height: int = 0
    by_platform: dict[str, int] = field(default_factory=dict)
    head: pl.DataFrame = field(default_factory=pl.DataFrame)

    def add(self, frame: pl.DataFrame) -> None:
        self.height += frame.height
        for platform, rows in frame.group_by("platform").len().iter_rows():
            self.by_platform[platform] = self.by_platform.get(platform, 0) + rows
        if self.head.height < PREVIEW_ROWS:
            head = frame.head(PREVIEW_ROWS)
            self.head = head if self.head.is_empty() else pl.concat([self.head, head])
            self.head = self.head.head(PREVIEW_ROWS)


@dataclass
class DaySummary:
    """A stored day as the asset and its checks see it. The day's followers are kept
    whole (one row per account); posts and engagement only as counts and a preview, and
    the posts check (`duplicate_posts`) as its result, found a platform at a time (its
    key holds the platform)."""

    posts: TableSummary = field(default_factory=TableSummary)
    engagement: TableSummary = field(default_factory=TableSummary)
    followers: TableSummary = field(default_factory=TableSummary)
    quarantine: TableSummary = field(default_factory=TableSummary)
    gaps: TableSummary = field(default_factory=TableSummary)
    follower_rows: pl.DataFrame = field(default_factory=lambda: schema.empty(schema.FOLLOWERS))
    duplicate_posts: pl.DataFrame = field(default_factory=pl.DataFrame)

    def add(self, frames: DayFrames) -> None:
        for name in LAKE_TABLE_OF:
            getattr(self, name).add(getattr(frames, name))
        self.follower_rows = pl.concat([self.follower_rows, frames.followers])
        found = duplicate_posts(frames.posts)
        self.duplicate_posts = (
            found if self.duplicate_posts.is_empty() else pl.concat([self.duplicate_posts, found])
        )


@dataclass
class StoredDay:
    day: date
    frames: DaySummary  # a summary: the frames themselves are gone once written
    paths: dict[str, Path | str]
    jobs: int
    rate_limit_windows: int


def store_day(data_dir: raw.DataRoot, day: date) -> StoredDay:
    """Normalize every platform's raw pulls of `day` and replace the day in the lake.

    One platform at a time: its frames are normalized, appended to each table's day
    partition (`lake.day_writer`) and dropped before the next platform's are made, so
    memory follows the largest platform, not the day. Platforms go in name order, which
    keeps each table in the order `normalize_day` gives. The partitions appear together
    when every platform is done; a failure on the way leaves the previous day in place.

    Raw files are the input, so this can be re-run any number of times (after a
    normalizer fix, say) without calling a platform again.
    """
    jobs = [j for p in PLATFORMS for j in raw.read_jobs(data_dir, p, day)]
    windows = [w for p in PLATFORMS for w in raw.read_rate_limits(data_dir, p, day)]
    summary = DaySummary()
    with (
        lake.day_writer(data_dir, day, lake.LAKE_TABLES) as out,
        raw.local_day(data_dir, day, PLATFORMS) as landed,
    ):
        earlier = posts_seen.PostsSeen(data_dir)
        posts = []  # the day's posts, narrow, for the index of earlier posts
        for platform in sorted(PLATFORMS):
            frames = normalize_platform(data_dir, landed, day, platform, earlier)
            for name, table in LAKE_TABLE_OF.items():
                out.append(table, getattr(frames, name))
            summary.add(frames)
            posts.append(frames.posts.select(list(posts_seen.COLUMNS)))
            del frames  # before the next platform's are made
        out.append("collection_jobs", jobs_frame(jobs))
        out.append("rate_limits", rate_limits_frame(windows))
    # Published: the next day reads its earlier posts from one index, not 28 partitions.
    earlier.record(day, posts, out.versions["posts"])
    return StoredDay(day, summary, out.paths, len(jobs), len(windows))

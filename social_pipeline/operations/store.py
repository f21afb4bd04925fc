"""A collection day from the raw landing into the lake: normalize, quarantine, record jobs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
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
from social_pipeline.operations.registry import platform_code
from social_pipeline.storage import lake, raw
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

    Gaps are what the platforms did not give: what the clients noted and the normalizers
    found missing, and posts earlier days stored that today's complete listings lack
    (read from the lake's posts of the days before).

    Pages are read a batch of accounts at a time (`raw.pull_batches`) and only each
    batch's frames are kept, a small fraction of the pages as Python objects: memory
    follows the batch, not the number of accounts (and a pull too large for that is
    streamed from its file, see `raw.read_pull`). Dedupe runs once per platform, the
    other steps across accounts (rates, vanished and carried posts) once on the day's
    frames.
    """
    parts, noted, pulls = [], [], []
    with raw.local_day(data_dir, day, platforms) as landed:
        for platform in platforms:
            batches = []
            for paths in raw.pull_batches(landed, platform, day):
                frames, notes, headers = _normalize_batch(platform, paths)
                batches.append(frames)
                noted.append(notes)
                pulls.extend(headers)
            parts.append(_platform_frames(batches))
    followers = _concat([f.followers for f in parts], schema.FOLLOWERS)
    posts = _concat([f.posts for f in parts], schema.POSTS)
    engagement = _concat([f.engagement for f in parts], schema.ENGAGEMENT)
    quarantine = _concat([f.quarantine for f in parts], schema.QUARANTINE)
    # Only days that can hold a post of today's windows: none before the earliest start.
    since = min((p.window_start.date() for p in pulls), default=day)
    earlier_days = [d for d in lake.partition_days(data_dir, "posts") if since <= d < day]
    earlier = lake.read_table(data_dir, "posts", earlier_days, _seen_posts(platforms))
    gaps = _concat(
        [f.gaps for f in parts] + noted + [vanished_posts(pulls, posts, earlier, quarantine)],
        schema.GAPS,
    )
    engagement = with_rates(engagement, followers).with_columns(
        pl.coalesce("read_on", "snapshot_date").alias("read_on")
    )
    # Older posts a tiered pull did not read keep their last row (and its rates).
    carried = schema.empty(schema.ENGAGEMENT)
    if any(p.tiered for p in pulls):
        tiered = sorted({p.platform for p in pulls if p.tiered})
        earlier_engagement = lake.read_table(
            data_dir, "engagement_snapshots", earlier_days, _of_platforms(tiered)
        )
        gone = gaps.filter(pl.col("kind") == "post_unavailable")
        carried = carried_forward(pulls, engagement, earlier, earlier_engagement, gone)
    return DayFrames(
        posts=_sorted(posts, "platform", "account_id", "created_at", "post_id"),
        engagement=_sorted(pl.concat([engagement, carried]), "platform", "account_id", "post_id"),
        followers=followers.sort("platform", "account_id"),
        quarantine=quarantine,
        gaps=gaps.sort("platform", "account_id", "kind", "post_id", "field", nulls_last=True),
    )


def _seen_posts(platforms: Sequence[str]) -> Callable[[pl.LazyFrame], pl.LazyFrame]:
    """Earlier days' posts as vanished and carried posts need them: one row per post,
    its latest day and creation time, no text. A month of an agency's posts, read whole,
    would not fit the memory a day is allowed."""

    def query(posts: pl.LazyFrame) -> pl.LazyFrame:
        seen = (
            posts.filter(pl.col("platform").is_in(list(platforms)))
            .select("platform", "account_id", "post_id", "created_at", "snapshot_date")
            .group_by("platform", "account_id", "post_id")
            .agg(
                pl.col("created_at").sort_by("snapshot_date").last(),
                pl.col("snapshot_date").max(),
            )
        )
        return seen.select(
            [
                pl.col(c) if c in KEPT else pl.lit(None, dtype).alias(c)
                for c, dtype in schema.POSTS.items()
            ]
        )

    return query


KEPT = ("platform", "account_id", "post_id", "created_at", "snapshot_date")


def _of_platforms(platforms: Sequence[str]) -> Callable[[pl.LazyFrame], pl.LazyFrame]:
    return lambda rows: rows.filter(pl.col("platform").is_in(list(platforms)))


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


@dataclass
class StoredDay:
    day: date
    frames: DayFrames
    paths: dict[str, Path]
    jobs: int
    rate_limit_windows: int


def store_day(data_dir: raw.DataRoot, day: date) -> StoredDay:
    """Normalize every platform's raw pulls of `day` and replace the day in the lake.

    Raw files are the input, so this can be re-run any number of times (after a
    normalizer fix, say) without calling a platform again.
    """
    frames = normalize_day(data_dir, day)
    jobs = [j for p in PLATFORMS for j in raw.read_jobs(data_dir, p, day)]
    windows = [w for p in PLATFORMS for w in raw.read_rate_limits(data_dir, p, day)]
    paths = {
        "posts": lake.write_partition(data_dir, "posts", day, frames.posts),
        "engagement_snapshots": lake.write_partition(
            data_dir, "engagement_snapshots", day, frames.engagement
        ),
        "follower_snapshots": lake.write_partition(
            data_dir, "follower_snapshots", day, frames.followers
        ),
        "quarantine": lake.write_partition(data_dir, "quarantine", day, frames.quarantine),
        "gaps": lake.write_partition(data_dir, "gaps", day, frames.gaps),
        "collection_jobs": lake.write_partition(data_dir, "collection_jobs", day, jobs_frame(jobs)),
        "rate_limits": lake.write_partition(
            data_dir, "rate_limits", day, rate_limits_frame(windows)
        ),
    }
    return StoredDay(day, frames, paths, len(jobs), len(windows))

"""A collection day from the raw landing into the lake: normalize, quarantine, record jobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from social_pipeline import lake, raw
from social_pipeline.lake_records import jobs_frame, rate_limits_frame
from social_pipeline.normalize import DayFrames, normalize_day
from social_pipeline.platforms import PLATFORMS

NORMALIZED_TABLES = ("posts", "engagement_snapshots", "follower_snapshots")


@dataclass
class StoredDay:
    day: date
    frames: DayFrames
    paths: dict[str, Path]
    jobs: int
    rate_limit_windows: int


def store_day(data_dir: Path, day: date) -> StoredDay:
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
        "collection_jobs": lake.write_partition(data_dir, "collection_jobs", day, jobs_frame(jobs)),
        "rate_limits": lake.write_partition(
            data_dir, "rate_limits", day, rate_limits_frame(windows)
        ),
    }
    return StoredDay(day, frames, paths, len(jobs), len(windows))

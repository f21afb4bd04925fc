"""`posts`, `engagement_snapshots`, `follower_snapshots`: one schema for six platforms."""

from __future__ import annotations

import dagster as dg
import polars as pl

from social_pipeline import lake, raw
from social_pipeline.defs.partitions import daily_partitions
from social_pipeline.defs.resources import PipelineResource
from social_pipeline.normalize import normalize_day
from social_pipeline.platforms import PLATFORMS
from social_pipeline.window import parse_day

RAW_KEYS = [dg.AssetKey(f"raw_{p}") for p in PLATFORMS]

SPECS = [
    dg.AssetSpec(
        "posts",
        deps=RAW_KEYS,
        description="Every post of the day's window, one schema for all platforms (lake: posts).",
    ),
    dg.AssetSpec(
        "engagement_snapshots",
        deps=RAW_KEYS,
        description="Each post's metrics as read on the collection day, with engagement rates.",
    ),
    dg.AssetSpec(
        "follower_snapshots",
        deps=RAW_KEYS,
        description="Each account's follower, following and post counts on the collection day.",
    ),
]


@dg.multi_asset(
    specs=[s.replace_attributes(group_name="normalized", kinds={"polars", "parquet"}) for s in SPECS],
    partitions_def=daily_partitions,
)
def normalized(context: dg.AssetExecutionContext, pipeline: PipelineResource):  # noqa: ANN201
    """Normalize every platform's raw pulls of the day and write the lake partitions.

    One step for the three tables: engagement rates need the same day's followers, and
    the raw pages are read once.
    """
    settings = pipeline.settings()
    day = parse_day(context.partition_key)
    frames = normalize_day(settings.data_dir, day)
    jobs = [j for p in PLATFORMS for j in raw.read_jobs(settings.data_dir, p, day)]
    windows = [w for p in PLATFORMS for w in raw.read_rate_limits(settings.data_dir, p, day)]
    lake.write_partition(settings.data_dir, "quarantine", day, frames.quarantine)
    lake.write_partition(settings.data_dir, "collection_jobs", day, lake.jobs_frame(jobs))
    lake.write_partition(settings.data_dir, "rate_limits", day, lake.rate_limits_frame(windows))
    quarantined = frames.quarantine.height
    if quarantined:
        context.log.warning(f"{quarantined} malformed records quarantined for {day}")
    for key, frame in (
        ("posts", frames.posts),
        ("engagement_snapshots", frames.engagement),
        ("follower_snapshots", frames.followers),
    ):
        path = lake.write_partition(settings.data_dir, key, day, frame)
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "rows": frame.height,
                "quarantined": quarantined,
                "by_platform": dg.MetadataValue.md(_counts(frame)),
                "preview": dg.MetadataValue.md(_preview(frame)),
                "path": dg.MetadataValue.path(str(path)),
            },
        )


def _counts(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "no rows"
    counts = frame.group_by("platform").len().sort("platform")
    return "\n".join(["| platform | rows |", "|---|---|", *(f"| {p} | {n} |" for p, n in counts.iter_rows())])


def _preview(frame: pl.DataFrame, rows: int = 5) -> str:
    head = frame.head(rows).with_columns(pl.col(pl.List(pl.String)).list.join(" "))
    if head.is_empty():
        return "no rows"
    header = "| " + " | ".join(head.columns) + " |"
    rule = "|" + "---|" * len(head.columns)
    body = ["| " + " | ".join(str(v)[:40].replace("|", "/") for v in row) + " |" for row in head.iter_rows()]
    return "\n".join([header, rule, *body])

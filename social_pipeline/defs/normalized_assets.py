"""`posts`, `engagement_snapshots`, `follower_snapshots`: one schema for six platforms."""

from datetime import timedelta

import dagster as dg
import polars as pl

from social_pipeline import lake
from social_pipeline.charts import follower_growth_markdown
from social_pipeline.defs.partitions import daily_partitions
from social_pipeline.defs.resources import PipelineResource
from social_pipeline.platforms import PLATFORMS
from social_pipeline.quality import (
    duplicate_posts,
    follower_drops,
    markdown_rows,
    negative_followers,
)
from social_pipeline.store import store_day
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


CHECKS = [
    dg.AssetCheckSpec(
        "no_duplicate_post_ids", asset="posts", description="Each post once per day."
    ),
    dg.AssetCheckSpec(
        "followers_not_negative",
        asset="follower_snapshots",
        description="Counts are never below 0.",
    ),
    dg.AssetCheckSpec(
        "no_follower_collapse",
        asset="follower_snapshots",
        description="Warns when an account loses over half its followers from one day to the next.",
    ),
]


# Today's data should be at most two hours old while the day runs (the hourly refresh keeps
# it so); a day with only the daily run shows as a warning, not a failure.
FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=26), warn_window=timedelta(hours=2)
)


@dg.multi_asset(
    specs=[
        s.replace_attributes(
            group_name="normalized", kinds={"polars", "parquet"}, freshness_policy=FRESHNESS
        )
        for s in SPECS
    ],
    check_specs=CHECKS,
    partitions_def=daily_partitions,
)
def normalized(context: dg.AssetExecutionContext, pipeline: PipelineResource):  # noqa: ANN201
    """Normalize every platform's raw pulls of the day and write the lake partitions.

    One step for the three tables: engagement rates need the same day's followers, and
    the raw pages are read once.
    """
    settings = pipeline.settings()
    stored = store_day(settings.data_dir, parse_day(context.partition_key))
    frames = stored.frames
    quarantined = frames.quarantine.height
    if quarantined:
        context.log.warning(f"{quarantined} malformed records quarantined for {stored.day}")
    previous = lake.read_table(
        settings.data_dir, "follower_snapshots", [stored.day - timedelta(days=1)]
    )
    yield from _checks(frames.posts, frames.followers, previous)
    history = lake.read_table(
        settings.data_dir,
        "follower_snapshots",
        [stored.day - timedelta(days=n) for n in range(28, -1, -1)],
    )
    extra = {
        "follower_snapshots": {
            "followers_total": int(frames.followers["followers"].sum() or 0),
            "growth_28_days": dg.MetadataValue.md(follower_growth_markdown(history)),
        }
    }
    for key, frame in (
        ("posts", frames.posts),
        ("engagement_snapshots", frames.engagement),
        ("follower_snapshots", frames.followers),
    ):
        path = stored.paths[key]
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "rows": frame.height,
                "quarantined": quarantined,
                "by_platform": dg.MetadataValue.md(_counts(frame)),
                "preview": dg.MetadataValue.md(_preview(frame)),
                "path": dg.MetadataValue.path(str(path)),
                **extra.get(key, {}),
            },
        )


def _checks(posts: pl.DataFrame, followers: pl.DataFrame, previous: pl.DataFrame):  # noqa: ANN202
    dupes = duplicate_posts(posts)
    yield dg.AssetCheckResult(
        asset_key="posts",
        check_name="no_duplicate_post_ids",
        passed=dupes.is_empty(),
        metadata={"duplicates": dg.MetadataValue.md(markdown_rows(dupes))},
    )
    negative = negative_followers(followers)
    yield dg.AssetCheckResult(
        asset_key="follower_snapshots",
        check_name="followers_not_negative",
        passed=negative.is_empty(),
        metadata={"rows": dg.MetadataValue.md(markdown_rows(negative))},
    )
    drops = follower_drops(followers, previous)
    yield dg.AssetCheckResult(
        asset_key="follower_snapshots",
        check_name="no_follower_collapse",
        passed=drops.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"accounts": dg.MetadataValue.md(markdown_rows(drops))},
    )


def _counts(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "no rows"
    counts = frame.group_by("platform").len().sort("platform")
    return "\n".join(
        ["| platform | rows |", "|---|---|", *(f"| {p} | {n} |" for p, n in counts.iter_rows())]
    )


def _preview(frame: pl.DataFrame, rows: int = 5) -> str:
    head = frame.head(rows).with_columns(pl.col(pl.List(pl.String)).list.join(" "))
    if head.is_empty():
        return "no rows"
    header = "| " + " | ".join(head.columns) + " |"
    rule = "|" + "---|" * len(head.columns)
    body = [
        "| " + " | ".join(str(v)[:40].replace("|", "/") for v in row) + " |"
        for row in head.iter_rows()
    ]
    return "\n".join([header, rule, *body])

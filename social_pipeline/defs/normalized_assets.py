"""`posts`, `engagement_snapshots`, `follower_snapshots`: one schema for six platforms."""

from datetime import timedelta

import dagster as dg
import polars as pl

from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.window import parse_day
from social_pipeline.defs.partitions import daily_partitions
from social_pipeline.defs.resources import SettingsResource
from social_pipeline.operations.quality import (
    duplicate_posts,
    follower_drops,
    negative_followers,
)
from social_pipeline.operations.render import (
    counts_by_platform,
    follower_growth_markdown,
    markdown_rows,
    preview_markdown,
)
from social_pipeline.operations.store import store_day
from social_pipeline.storage import lake

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
def normalized(context: dg.AssetExecutionContext, settings: SettingsResource):  # noqa: ANN201
    """Normalize every platform's raw pulls of the day and write the lake partitions.

    One step for the three tables: engagement rates need the same day's followers, and
    the raw pages are read once.
    """
    loaded = settings.load()
    stored = store_day(loaded.data_dir, parse_day(context.partition_key))
    frames = stored.frames
    quarantined = frames.quarantine.height
    if quarantined:
        context.log.warning(
            f"{quarantined} records quarantined for {stored.day} (malformed, or not the "
            "account's own post); each reason is in quarantined_records"
        )
    previous = lake.read_table(
        loaded.data_dir, "follower_snapshots", [stored.day - timedelta(days=1)]
    )
    yield from _checks(frames.posts, frames.followers, previous)
    history = lake.read_table(
        loaded.data_dir,
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
                "by_platform": dg.MetadataValue.md(counts_by_platform(frame)),
                "preview": dg.MetadataValue.md(preview_markdown(frame)),
                "path": dg.MetadataValue.path(str(path)),
                **extra.get(key, {}),
            },
        )


def _checks(posts: pl.DataFrame, followers: pl.DataFrame, previous: pl.DataFrame):  # noqa: ANN202
    """Each check: its asset, name, offending rows (empty passes), and severity."""
    for asset, name, rows, severity in (
        ("posts", "no_duplicate_post_ids", duplicate_posts(posts), dg.AssetCheckSeverity.ERROR),
        (
            "follower_snapshots",
            "followers_not_negative",
            negative_followers(followers),
            dg.AssetCheckSeverity.ERROR,
        ),
        (
            "follower_snapshots",
            "no_follower_collapse",
            follower_drops(followers, previous),
            dg.AssetCheckSeverity.WARN,
        ),
    ):
        yield dg.AssetCheckResult(
            asset_key=asset,
            check_name=name,
            passed=rows.is_empty(),
            severity=severity,
            metadata={"rows": dg.MetadataValue.md(markdown_rows(rows))},
        )


@dg.definitions
def definitions() -> dg.Definitions:
    return dg.Definitions(assets=[normalized])

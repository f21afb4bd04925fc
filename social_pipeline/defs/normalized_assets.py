"""`posts`, `engagement_snapshots`, `follower_snapshots`: one schema for six platforms."""

from datetime import timedelta

import dagster as dg
import polars as pl

from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.window import parse_day
from social_pipeline.defs.metadata import frame_value
from social_pipeline.defs.partitions import daily_partitions
from social_pipeline.defs.resources import SettingsResource
from social_pipeline.operations.quality import follower_drops, negative_followers
from social_pipeline.operations.render import (
    follower_growth_markdown,
    markdown_rows,
    preview_markdown,
)
from social_pipeline.operations.run_status import collected_nothing, jobs_of_run
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
    the raw pages are read once. A run that tried accounts and collected none fails here,
    so it never ends "succeeded"; a run that collected some goes on, tagged with the rest.
    """
    loaded = settings.load()
    day = parse_day(context.partition_key)
    tried = jobs_of_run(loaded.data_root, day, context.run_id)
    if collected_nothing(tried):
        raise dg.Failure(
            f"none of the {len(tried)} accounts this run tried was collected; nothing new "
            "to normalize (the raw assets' `accounts` tables say why)"
        )
    stored = store_day(loaded.data_root, day)
    summary = stored.frames  # counts, previews and the followers: the rows are in the lake
    quarantined = summary.quarantine.height
    if quarantined:
        context.log.warning(
            f"{quarantined} records quarantined for {stored.day} (malformed, or not the "
            "account's own post); each reason is in quarantined_records"
        )
    previous = lake.read_table(
        loaded.data_root, "follower_snapshots", [stored.day - timedelta(days=1)]
    )
    yield from _checks(summary.duplicate_posts, summary.follower_rows, previous)
    history = lake.read_table(
        loaded.data_root,
        "follower_snapshots",
        [stored.day - timedelta(days=n) for n in range(28, -1, -1)],
    )
    extra = {
        "follower_snapshots": {
            **followers_by_platform(summary.follower_rows),
            "growth_28_days": dg.MetadataValue.md(follower_growth_markdown(history)),
        }
    }
    for key, table in (
        ("posts", summary.posts),
        ("engagement_snapshots", summary.engagement),
        ("follower_snapshots", summary.followers),
    ):
        path = stored.paths[key]
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "rows": table.height,
                "quarantined": quarantined,
                "by_platform": dg.MetadataValue.md(counts_markdown(table.by_platform)),
                "preview": dg.MetadataValue.md(preview_markdown(table.head)),
                "path": dg.MetadataValue.path(str(path)),
                **extra.get(key, {}),
            },
        )


def counts_markdown(by_platform: dict[str, int]) -> str:
    """Rows per platform, the table `counts_by_platform` makes of a frame, from counts."""
    if not by_platform:
        return "no rows"
    counts = pl.DataFrame(
        {"platform": list(by_platform), "rows": list(by_platform.values())},
        schema={"platform": pl.String(), "rows": pl.UInt32()},
    )
    return markdown_rows(counts.sort("platform"), limit=10)


def followers_by_platform(followers: pl.DataFrame) -> dict[str, int]:
    """`followers_<platform>`: one number per platform, so the UI plots each on its own
    (a sum over platforms would hide one platform's drop in another's growth)."""
    sums = followers.group_by("platform").agg(pl.col("followers").sum()).sort("platform")
    return {f"followers_{p}": int(n or 0) for p, n in sums.iter_rows()}


def _checks(duplicates: pl.DataFrame, followers: pl.DataFrame, previous: pl.DataFrame):  # noqa: ANN202
    """Each check: its asset, name, offending rows (empty passes), and severity.
    `duplicates` is `duplicate_posts` of the day's posts, found as they were stored."""
    for asset, name, rows, severity in (
        ("posts", "no_duplicate_post_ids", duplicates, dg.AssetCheckSeverity.ERROR),
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
            # A count when passing; the offending rows as a table only when there are some.
            metadata={"offending_rows": rows.height}
            | ({"rows": frame_value(rows)} if rows.height else {}),
        )


@dg.definitions
def definitions() -> dg.Definitions:
    return dg.Definitions(assets=[normalized])

"""The analysts' DuckDB warehouse, rebuilt from the lake and swapped in with a rename."""

import dagster as dg

from social_pipeline.defs.resources import SettingsResource
from social_pipeline.storage.warehouse import WarehouseColumn, build_warehouse

TABLES = {
    "accounts": "One row per account: its name in the accounts file, handle and profile URL.",
    "social_posts": "One row per post, latest version.",
    "post_engagement_metrics": "One row per post, latest metrics.",
    "engagement_snapshots_table": "One row per post per day.",
    "follower_metrics": "One row per account, latest counts.",
    "follower_snapshots_table": "One row per account per day.",
    "data_collection_jobs": "One row per account collection attempt.",
    "api_rate_limits": "Latest known rate-limit window per platform endpoint.",
}
# Asset keys live under `warehouse/` so two snapshot tables don't clash with the lake assets.
SPECS = [
    dg.AssetSpec(
        ["warehouse", name.removesuffix("_table")],
        deps=["posts", "engagement_snapshots", "follower_snapshots"],
        description=f"DuckDB table `{name.removesuffix('_table')}`: {text}",
        group_name="warehouse",
        kinds={"duckdb"},
    )
    for name, text in TABLES.items()
]


# Not partitioned: every run rebuilds the whole warehouse from every lake partition, so a
# day-by-day view would show old days as "missing" though their rows are in the tables.
@dg.multi_asset(specs=SPECS, pool="warehouse")
def warehouse(context: dg.AssetExecutionContext, settings: SettingsResource):  # noqa: ANN201
    """Rebuild `warehouse.duckdb` from the lake aside, then rename it into place.

    Analysts holding the file open keep their consistent old copy and never block the
    run; the `warehouse` pool (limit 1) keeps two rebuilds from racing.
    """
    loaded = settings.load()
    names = [(a.platform, a.account_id, a.name) for a in loaded.accounts]
    summary = build_warehouse(loaded.data_root, names, loaded.warehouse)
    for spec in SPECS:
        table = spec.key.path[-1]
        rows = summary.row_counts.get(table, 0)
        yield dg.MaterializeResult(
            asset_key=spec.key,
            metadata={
                "rows": rows,
                "dagster/row_count": rows,
                "dagster/column_schema": column_schema(summary.columns.get(table, [])),
                "warehouse": dg.MetadataValue.path(str(summary.path)),
                "build_seconds": summary.seconds,
            },
        )


def column_schema(columns: list[WarehouseColumn]) -> dg.TableSchema:
    """A table's columns as the built file has them: names, DuckDB types and comments."""
    return dg.TableSchema(
        columns=[dg.TableColumn(c.name, c.type, description=c.description) for c in columns]
    )


@dg.definitions
def definitions() -> dg.Definitions:
    return dg.Definitions(assets=[warehouse])

"""Graph insight entries (`{"name", "values": [{"value"}], "id": "<object>/insights/..."}`)
-> one row per post with a column per metric, for Facebook and Instagram alike.

Entries arrive on insights pages and inside listed objects (field expansion); which
metric feeds which column, and which of two wins (`views` over `plays`), is the
catalog's (`core.metric_catalog.columns`).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from social_pipeline.core.pulls import RawPull
from social_pipeline.normalize import common
from social_pipeline.normalize.items import TEXT, ItemsOf, items_frame, jfield, obj

INSIGHT = obj(id=TEXT, name=TEXT, values=pl.List(obj(value=TEXT)))
KEY = ["snapshot_date", "platform", "account_id", "post_id"]


def wide_insights(
    pulls: list[RawPull],
    sources: Sequence[tuple[str, ItemsOf]],
    columns: dict[str, list[str]],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per post (KEY) with each column of `columns`, and the quarantined entries.

    `sources` names page kinds and how to find entries on them; an entry's post is the
    part of its id before the first `/`. The last read of a metric wins.
    """
    goods, bads = [], []
    for kind, items_of in sources:
        frame = items_frame(pulls, kind, items_of, INSIGHT).with_columns(
            post_id=jfield("id").str.split("/").list.first(),
            name=jfield("name"),
            value_raw=jfield("values[0].value"),
        )
        good, bad = common.split_quarantine(
            frame,
            {
                "insight has no id": pl.col("post_id").is_null(),
                "insight has no name": pl.col("name").is_null(),
                "insight value is not an integer": common.bad_int(pl.col("value_raw")),
            },
            kind,
        )
        goods.append(good)
        bads.append(bad)
    names = [name for metrics in columns.values() for name in metrics]
    wide = (
        pl.concat(goods, how="vertical_relaxed")
        .sort("fetched_at", nulls_last=False, maintain_order=True)
        .with_columns(value=common.as_int(pl.col("value_raw")))
        .group_by(KEY, maintain_order=True)
        .agg([pl.col("value").filter(pl.col("name") == n).last().alias(f"_{n}") for n in names])
        .with_columns(
            [
                pl.coalesce([f"_{n}" for n in metrics]).alias(column)
                for column, metrics in columns.items()
            ]
        )
        .select(*KEY, *columns)
    )
    return wide, pl.concat(bads, how="vertical_relaxed")


def carried(objects: list[object]) -> list[object]:
    """The insight entries objects carry inside them (`insights.data`), by field expansion."""
    return [
        entry
        for item in objects
        if isinstance(item, dict) and isinstance(item.get("insights"), dict)
        for entry in (item["insights"].get("data") or [])
    ]

"""Building blocks shared by the six platform normalizers.

The approach: gather each response page's items into one column of JSON text (one row
per item, with the pull's account and day beside it), then extract every field with
polars JSONPath expressions and cast it with `strict=False`. A value that is present but
will not cast is a wrong type, found by a vectorized comparison, and its row goes to
quarantine. No per-row Python touches a field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from social_pipeline.normalize import schema
from social_pipeline.raw import RawPull

ItemsOf = Callable[[Any], Any]


@dataclass
class PlatformFrames:
    """What a platform normalizer returns; columns per `schema`, rates filled in later."""

    posts: pl.DataFrame = field(default_factory=lambda: schema.empty(schema.POSTS))
    engagement: pl.DataFrame = field(default_factory=lambda: schema.empty(schema.ENGAGEMENT))
    followers: pl.DataFrame = field(default_factory=lambda: schema.empty(schema.FOLLOWERS))
    quarantine: pl.DataFrame = field(default_factory=lambda: schema.empty(schema.QUARANTINE))


PULL_COLUMNS: dict[str, pl.DataType] = {
    "platform": pl.String(),
    "account_id": pl.String(),
    "snapshot_date": pl.Date(),
    "collected_at": schema.UTC_TS,
    "window_start": schema.UTC_TS,
    "window_end": schema.UTC_TS,
    "fetched_at": schema.UTC_TS,
    "source": pl.String(),
    "item": pl.String(),
}


def items_frame(pulls: Sequence[RawPull], kind: str, items_of: ItemsOf) -> pl.DataFrame:
    """One row per item found on `kind` pages: `items_of(body)` gives a page's items.

    `items_of` may return a list (posts on a page) or a single dict (a profile); a body
    it cannot read (KeyError/TypeError) yields no items; the page is quarantined by
    `unreadable_pages`.
    """
    rows: dict[str, list[Any]] = {name: [] for name in PULL_COLUMNS}
    for pull in pulls:
        for record in pull.records:
            if record.get("kind") != kind or record.get("body") is None:
                continue
            try:
                found = items_of(record["body"])
            except (KeyError, TypeError, IndexError, AttributeError):
                continue
            if isinstance(found, dict):
                found = [found]
            if not isinstance(found, list):
                continue
            fetched = record.get("fetched_at")
            for item in found:
                rows["platform"].append(pull.platform)
                rows["account_id"].append(pull.account_id)
                rows["snapshot_date"].append(pull.partition_date)
                rows["collected_at"].append(pull.collected_at)
                rows["window_start"].append(pull.window_start)
                rows["window_end"].append(pull.window_end)
                rows["fetched_at"].append(fetched)
                rows["source"].append(str(pull.path))
                rows["item"].append(json.dumps(item, ensure_ascii=False))
    frame = pl.DataFrame(
        {k: v for k, v in rows.items() if k != "fetched_at"},
        schema={k: v for k, v in PULL_COLUMNS.items() if k != "fetched_at"},
    )
    fetched_at = pl.Series("fetched_at", rows["fetched_at"], dtype=pl.String())
    return frame.with_columns(
        fetched_at.str.to_datetime(time_zone="UTC", strict=False).cast(schema.UTC_TS)
    ).select(list(PULL_COLUMNS))


def unreadable_pages(pulls: Sequence[RawPull], kinds: Sequence[str], items_of: dict[str, ItemsOf]) -> pl.DataFrame:
    """Quarantine rows for pages that are not JSON, or whose body lacks the item list."""
    rows: list[dict[str, Any]] = []
    for pull in pulls:
        for record in pull.records:
            kind = record.get("kind")
            if kind == "header":
                continue
            reason = None
            if record.get("error") or record.get("body") is None:
                reason = f"page is not usable JSON: {record.get('error') or 'empty body'}"
            elif kind in items_of:
                try:
                    found = items_of[kind](record["body"])
                    if not isinstance(found, list | dict):
                        reason = f"{kind} page has no item list"
                except (KeyError, TypeError, IndexError, AttributeError) as exc:
                    reason = f"{kind} page lacks expected field {exc}"
            elif kind not in kinds:
                reason = f"unknown page kind {kind!r}"
            if reason:
                rows.append(
                    {
                        "snapshot_date": pull.partition_date,
                        "platform": pull.platform,
                        "account_id": pull.account_id,
                        "kind": "page",
                        "reason": reason,
                        "record": json.dumps(record, ensure_ascii=False, default=str)[:100_000],
                        "source": str(pull.path),
                        "collected_at": pull.collected_at,
                    }
                )
    if not rows:
        return schema.empty(schema.QUARANTINE)
    return schema.conform(pl.DataFrame(rows, infer_schema_length=None), schema.QUARANTINE)


def jfield(path: str, column: str = "item") -> pl.Expr:
    """A JSON field of each item as text (`$.public_metrics.like_count`); NULL if absent."""
    return pl.col(column).str.json_path_match(path)


def as_int(text: pl.Expr) -> pl.Expr:
    """Text to Int64, accepting "12" and 12.0; anything else becomes NULL (see `bad_int`)."""
    return text.cast(pl.Float64, strict=False).cast(pl.Int64, strict=False)


def bad_int(text: pl.Expr) -> pl.Expr:
    """True where a value is present but is not a number: a wrong type to quarantine."""
    return text.is_not_null() & as_int(text).is_null()


def as_utc(text: pl.Expr, fmt: str | None = None) -> pl.Expr:
    """ISO-8601 text (`...Z`, `...+0000`, `...+00:00`) to a UTC timestamp; bad -> NULL."""
    return text.str.to_datetime(format=fmt, time_zone="UTC", strict=False).cast(schema.UTC_TS)


def from_epoch(text: pl.Expr, unit: str) -> pl.Expr:
    """Epoch seconds (`s`) or milliseconds (`ms`) text to a UTC timestamp."""
    return pl.from_epoch(as_int(text), time_unit=unit).dt.replace_time_zone("UTC").cast(schema.UTC_TS)


def split_quarantine(
    frame: pl.DataFrame, problems: dict[str, pl.Expr], kind: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows where any problem holds go to quarantine (first reason wins); the rest are kept."""
    if frame.is_empty() or not problems:
        return frame, schema.empty(schema.QUARANTINE)
    reason = pl.lit(None, dtype=pl.String)
    for text, condition in reversed(list(problems.items())):
        reason = pl.when(condition.fill_null(False)).then(pl.lit(text)).otherwise(reason)
    flagged = frame.with_columns(reason.alias("reason"))
    good = flagged.filter(pl.col("reason").is_null()).drop("reason")
    bad = flagged.filter(pl.col("reason").is_not_null()).select(
        "snapshot_date",
        "platform",
        "account_id",
        pl.lit(kind).alias("kind"),
        "reason",
        pl.col("item").alias("record"),
        "source",
        "collected_at",
    )
    return good, schema.conform(bad, schema.QUARANTINE)

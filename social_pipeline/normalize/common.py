"""Building blocks shared by the six platform normalizers: typed casts and quarantine.

Fields arrive as text (see `items.py`) and are cast with `strict=False`. A value that is
present but will not cast is a wrong type, found by a vectorized comparison, and its row
goes to quarantine with its raw record and a reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from social_pipeline.core import schema
from social_pipeline.core.pulls import RawPull
from social_pipeline.normalize.items import ItemsOf, jfield, raw_records


@dataclass
class PlatformFrames:
    """What a platform normalizer returns; columns per `schema`, rates filled in later."""

    posts: pl.DataFrame = field(default_factory=lambda: schema.empty(schema.POSTS))
    engagement: pl.DataFrame = field(default_factory=lambda: schema.empty(schema.ENGAGEMENT))
    followers: pl.DataFrame = field(default_factory=lambda: schema.empty(schema.FOLLOWERS))
    quarantine: pl.DataFrame = field(default_factory=lambda: schema.empty(schema.QUARANTINE))
    gaps: pl.DataFrame = field(default_factory=lambda: schema.empty(schema.GAPS))


def unreadable_pages(pulls: Sequence[RawPull], items_of: Mapping[str, ItemsOf]) -> pl.DataFrame:
    """Quarantine rows for pages that are not JSON, or whose body lacks the item list.

    `items_of` names every page kind the platform lands; any other kind is unknown.
    """
    rows: list[dict[str, Any]] = []
    for pull in pulls:
        for record in pull.records:
            kind = record.get("kind")
            if kind == "header" or (record.get("error") and record.get("notes")):
                # A call refused for good that the client recorded as gaps is no
                # unreadable page: its gaps say what is missing and why.
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
            else:
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


def listings(pulls: Sequence[RawPull]) -> pl.DataFrame:
    """One row per complete pull: what its listing covered, for the steps across days
    (vanished posts, rows carried under tiered refresh). A pull that stopped partway
    judges nothing: its listing may not cover the window."""
    return pl.DataFrame(
        [
            {
                "platform": p.platform,
                "account_id": p.account_id,
                "snapshot_date": p.partition_date,
                "window_start": p.window_start,
                "listing_start": p.listing_start,
                "window_end": p.window_end,
                "collected_at": p.collected_at,
            }
            for p in pulls
            if p.complete
        ],
        schema={
            "platform": pl.String(),
            "account_id": pl.String(),
            "snapshot_date": pl.Date(),
            "window_start": schema.UTC_TS,
            "listing_start": schema.UTC_TS,
            "window_end": schema.UTC_TS,
            "collected_at": schema.UTC_TS,
        },
    )


def noted_gaps(pulls: Sequence[RawPull]) -> pl.DataFrame:
    """Gap rows for what the clients noted on the pages they landed (`RawPage.notes`).

    A note of an unknown kind is kept as `missing_field` rather than dropped: the record
    of a gap must not itself go missing.
    """
    rows: list[dict[str, Any]] = []
    for pull in pulls:
        for record in pull.records:
            notes = record.get("notes")
            if not isinstance(notes, list):
                continue
            for note in notes:
                if not isinstance(note, dict):
                    continue
                kind = note.get("kind")
                rows.append(
                    {
                        "snapshot_date": pull.partition_date,
                        "platform": pull.platform,
                        "account_id": pull.account_id,
                        "post_id": _text(note.get("post_id")),
                        "kind": kind if kind in schema.GAP_KINDS else "missing_field",
                        "field": _text(note.get("field")),
                        "media_type": _text(note.get("media_type")),
                        "api_version": _text(note.get("api_version")),
                        "detail": _text(note.get("detail")),
                        "last_seen": None,
                        "collected_at": pull.collected_at,
                    }
                )
    return gap_frame(rows)


def gap_frame(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Gap rows (dicts with `schema.GAPS` keys; absent keys are NULL) as a typed frame."""
    if not rows:
        return schema.empty(schema.GAPS)
    frame = pl.DataFrame([dict(r) for r in rows], infer_schema_length=None)
    return schema.conform(frame, schema.GAPS)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def quarantined(parts: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """A normalizer's quarantine rows, from every step that set some aside, as one frame."""
    return schema.conform(pl.concat(parts), schema.QUARANTINE)


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
    return (
        pl.from_epoch(as_int(text), time_unit=unit).dt.replace_time_zone("UTC").cast(schema.UTC_TS)
    )


def split_quarantine(
    frame: pl.DataFrame, problems: dict[str, pl.Expr], kind: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows where any problem holds go to quarantine (first reason wins); the rest are kept.

    Kept rows lose `page` and `pos`: only a quarantined row reads its raw record back, and
    a million kept rows need not hold their pages' text.
    """
    if frame.is_empty() or not problems:
        return frame.drop("page", "pos", strict=False), schema.empty(schema.QUARANTINE)
    reason = pl.lit(None, dtype=pl.String)
    for text, condition in reversed(list(problems.items())):
        reason = pl.when(condition.fill_null(False)).then(pl.lit(text)).otherwise(reason)
    flagged = frame.with_columns(reason.alias("reason"))
    good = flagged.filter(pl.col("reason").is_null()).drop("reason", "page", "pos", strict=False)
    bad = flagged.filter(pl.col("reason").is_not_null())
    bad = bad.with_columns(raw_records(bad), pl.lit(kind).alias("kind"))
    return good, schema.conform(bad, schema.QUARANTINE)


# A post belongs to its pull's day when created inside that pull's window: [start, end).
IN_WINDOW = pl.col("created_at").is_between("window_start", "window_end", closed="left")


def observed() -> pl.Expr:
    """When a number was read: the page's fetch time, else the pull's."""
    return pl.coalesce("fetched_at", "collected_at").alias("collected_at")


def latest(frame: pl.DataFrame, key: list[str], where: pl.Expr | None = None) -> pl.DataFrame:
    """One row per key: the one read last (of the rows where `where` holds, if given).

    The rows are chosen on the key and read time alone and gathered once: filtering and
    sorting the whole frame (decoded items and all) would copy it twice. A key column
    with one value throughout (the platform, in a normalizer) tells no rows apart, and
    hashing one column takes a fraction of the memory of hashing several.
    """
    rows = frame.select(*key, "fetched_at", _keep=pl.lit(True) if where is None else where)
    rows = (
        rows.with_row_index("_row")
        .filter(pl.col("_keep"))
        .sort("fetched_at", nulls_last=False, maintain_order=True)
    )
    varying = [k for k in key if not _constant(rows[k])]
    if len(varying) == 1:
        rows = rows.filter(pl.col(varying[0]).is_last_distinct())
    else:
        rows = rows.unique(subset=varying or key, keep="last", maintain_order=True)
    if rows.height == frame.height and rows["_row"].is_sorted():
        return frame  # every row, in order: the usual case, and a copy saved
    return frame[rows["_row"]]


def last_of_each(frame: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """The last row of each key, in frame order: `unique(keep="last", maintain_order=True)`
    with less memory (see `latest`), and no copy when no key repeats."""
    varying = [k for k in key if not _constant(frame[k])]
    if len(varying) != 1:
        return frame.unique(subset=varying or key, keep="last", maintain_order=True)
    keep = frame[varying[0]].is_last_distinct()
    return frame if keep.all() else frame.filter(keep)


def _constant(column: pl.Series) -> bool:
    """One value in every row (no NULLs); found without hashing."""
    if column.null_count() or column.is_empty():
        return False
    if column.dtype.is_nested():
        return False
    return bool(column.min() == column.max())


@dataclass(frozen=True)
class MetricFields:
    """A platform's count fields (our column -> its field), found under `prefix` in items:
    post metrics, or the follower counts of a profile.

    Every normalizer takes the same three steps with them: read each field as text, flag
    a present value that is not a number (its row goes to quarantine with `reason`), and
    cast the rest to Int64. Columns the platform lacks are simply not listed: NULL.
    """

    columns: Mapping[str, str]
    prefix: str = ""
    reason: str = "{field} is not a number"

    @property
    def fields(self) -> list[str]:
        return list(dict.fromkeys(self.columns.values()))  # X reads one field into two columns

    def texts(self) -> dict[str, pl.Expr]:
        return {f"_{f}": jfield(self.prefix + f) for f in self.fields}

    def problems(self) -> dict[str, pl.Expr]:
        return {self.reason.format(field=f): bad_int(pl.col(f"_{f}")) for f in self.fields}

    def ints(self) -> dict[str, pl.Expr]:
        return {c: as_int(pl.col(f"_{f}")) for c, f in self.columns.items()}

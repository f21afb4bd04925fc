"""Collection-job and rate-limit records as lake frames.

The raw landing keeps both as JSON dicts (timestamps as ISO strings: see raw.py and
`RateLimitWindow.to_record()`); these schemas are their shape in the lake and the
warehouse. They are a handful of rows per run, so conforming them in Python is fine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from social_pipeline.core.schema import UTC_TS

COLLECTION_JOBS: dict[str, pl.DataType] = {
    "job_id": pl.String(),
    "platform": pl.String(),
    "account_id": pl.String(),
    "partition_date": pl.Date(),
    "status": pl.String(),
    "started_at": UTC_TS,
    "finished_at": UTC_TS,
    "posts_collected": pl.Int64(),
    "api_calls": pl.Int64(),
    "retries": pl.Int64(),
    "seconds_waited": pl.Float64(),
    "attempt": pl.Int64(),
    "error_class": pl.String(),
    "error": pl.String(),
    "reset_at": UTC_TS,  # when a rate-limited job may be retried
    "run_id": pl.String(),
}

RATE_LIMITS: dict[str, pl.DataType] = {
    "platform": pl.String(),
    "endpoint": pl.String(),
    "scope": pl.String(),  # app, endpoint, user, endpoint_user or page (clients/limits.py)
    "account_id": pl.String(),  # for the per-account scopes; NULL for app and endpoint
    "quota_limit": pl.Int64(),  # the window's size; raw records before 2026-11 say `limit`
    "remaining": pl.Int64(),
    "reset_at": UTC_TS,
    "observed_at": UTC_TS,
}


def _timestamp(value: Any) -> datetime | None:
    """An ISO string or datetime as an aware UTC datetime; naive values are taken as UTC."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _day(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def records_frame(
    records: Iterable[Mapping[str, Any]], schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    """Dicts as a frame of exactly `schema`: missing keys are NULL, unknown keys are dropped.

    Values of the wrong kind (text in a count) raise instead of silently becoming NULL.
    """
    rows = list(records)
    columns: dict[str, list[Any]] = {}
    for name, dtype in schema.items():
        values = [row.get(name) for row in rows]
        if dtype == UTC_TS:
            values = [_timestamp(v) for v in values]
        elif dtype == pl.Date():
            values = [_day(v) for v in values]
        elif dtype == pl.String():
            values = [None if v is None else str(v) for v in values]
        columns[name] = values
    return pl.DataFrame(columns, schema=schema)


def jobs_frame(job_dicts: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Job records (raw.read_jobs) as the `collection_jobs` lake table."""
    return records_frame(job_dicts, COLLECTION_JOBS)


def rate_limits_frame(window_dicts: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Rate-limit windows (RateLimitWindow.to_record()) as the `rate_limits` lake table.

    Records landed before the rename call the window's size `limit`; it lands as
    `quota_limit` (a keyword as a column name needed quoting in every query).
    """
    return records_frame(
        (
            {**w, "quota_limit": w.get("quota_limit", w.get("limit"))} if "limit" in w else w
            for w in window_dicts
        ),
        RATE_LIMITS,
    )

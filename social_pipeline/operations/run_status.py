"""What a run collected, from the job records it wrote: the per-account status it reports.

Counts report successes, not attempts: an account is collected only when its job record
says `success`; `partial` (some pages landed) and `failed` are both failures.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.storage.raw import read_jobs

# The columns of the per-account status table, in order.
STATUS_COLUMNS = (
    "platform",
    "account_id",
    "status",
    "posts",
    "api_calls",
    "error_class",
    "error",
    "reset_at",  # when a rate-limited account can be tried again (the retry waits for it)
)


def jobs_of_run(
    data: Path | str, day: date, run_id: str, platforms: Iterable[str] = PLATFORMS
) -> list[dict[str, Any]]:
    """The job records one run wrote for a day (one per account it tried), platform order."""
    return [
        job
        for platform in platforms
        for job in sorted(read_jobs(data, platform, day), key=lambda j: j["account_id"])
        if job.get("run_id") == run_id
    ]


def status_rows(jobs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per account attempt: STATUS_COLUMNS, the error cut to 300 characters."""
    return [
        {
            "platform": j["platform"],
            "account_id": j["account_id"],
            "status": j["status"],
            "posts": int(j.get("posts_collected") or 0),
            "api_calls": int(j.get("api_calls") or 0),
            "error_class": j.get("error_class") or "",
            "error": (j.get("error") or "")[:300],
            "reset_at": j.get("reset_at") or "",
        }
        for j in jobs
    ]


def collected_nothing(jobs: list[dict[str, Any]]) -> bool:
    """True when accounts were tried and not one was collected: the run failed."""
    return bool(jobs) and all(j["status"] != "success" for j in jobs)

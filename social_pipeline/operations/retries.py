"""Failed account collections: when to retry them, and when to give up into dead letters.

Plain functions over the job records in the raw landing; the retry sensor calls them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from social_pipeline.core.settings import Settings
from social_pipeline.storage.dead_letters import DeadLetter
from social_pipeline.storage.raw import latest_jobs


@dataclass(frozen=True)
class RetryRequest:
    """Re-collect these accounts of one platform and day; `attempt` is the next attempt."""

    platform: str
    day: date
    account_ids: tuple[str, ...]
    attempt: int

    @property
    def run_key(self) -> str:
        # One key per (accounts, attempt): a sensor tick never launches the same retry twice.
        return f"retry:{self.platform}:{self.day}:{','.join(self.account_ids)}:{self.attempt}"


def due_at(job: dict[str, Any], attempts: int, base: timedelta) -> datetime:
    """Not before the platform's reset, and not before an exponential backoff has passed."""
    finished = datetime.fromisoformat(job["finished_at"])
    backoff = finished + base * (2 ** max(0, attempts - 1))
    reset = datetime.fromisoformat(job["reset_at"]) if job.get("reset_at") else finished
    return max(backoff, reset)


def plan_recovery(
    settings: Settings,
    days: Iterable[date],
    now: datetime,
) -> tuple[list[RetryRequest], list[DeadLetter]]:
    """Retries that are due now, and failures that have used up `settings.max_attempts`."""
    max_attempts = settings.max_attempts
    base_backoff = timedelta(seconds=settings.retry_backoff_seconds)
    current = {(a.platform, a.account_id) for a in settings.accounts}
    retries: list[RetryRequest] = []
    letters: list[DeadLetter] = []
    platforms = sorted({a.platform for a in settings.accounts})
    for day in days:
        for platform in platforms:
            due: dict[int, list[str]] = {}
            for account_id, (job, attempts) in sorted(
                latest_jobs(settings.data_dir, platform, day).items()
            ):
                if job["status"] == "success" or (platform, account_id) not in current:
                    continue  # removed accounts keep their history but are not retried
                if attempts >= max_attempts:
                    letters.append(
                        DeadLetter(
                            platform=platform,
                            account_id=account_id,
                            partition_date=day.isoformat(),
                            error_class=job.get("error_class"),
                            error=job.get("error"),
                            attempts=attempts,
                            last_attempt_at=job["finished_at"],
                            reset_at=job.get("reset_at"),
                        )
                    )
                elif now >= due_at(job, attempts, base_backoff):
                    due.setdefault(attempts + 1, []).append(account_id)
            retries.extend(
                RetryRequest(platform, day, tuple(ids), attempt)
                for attempt, ids in sorted(due.items())
            )
    return retries, letters

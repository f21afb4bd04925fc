"""Failed account collections: when to retry them, and when to give up into dead letters.

Plain functions over the job records in the raw landing; the retry sensor calls them.
The retry budget counts failed attempts since the account's last success that day: a day
refreshed every hour succeeds many times, and its first failure must still be retried.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from social_pipeline.core.settings import Settings
from social_pipeline.storage.dead_letters import DeadLetter
from social_pipeline.storage.raw import read_jobs


@dataclass(frozen=True)
class RetryRequest:
    """Re-collect these accounts of one platform and day; `attempt` is the next attempt
    of the day, counting every earlier one (as the job records do), so run keys never repeat."""

    platform: str
    day: date
    account_ids: tuple[str, ...]
    attempt: int

    @property
    def run_key(self) -> str:
        # One key per (accounts, attempt): a sensor tick never launches the same retry twice.
        return f"retry:{self.platform}:{self.day}:{','.join(self.account_ids)}:{self.attempt}"


@dataclass(frozen=True)
class AccountDay:
    """One account's attempts on one day, as its job records tell them."""

    latest: dict[str, Any]  # the newest job record
    attempts: int  # every attempt of the day
    failures: int  # failed attempts since the last success (all of them if none succeeded)


def account_days(jobs: Iterable[dict[str, Any]]) -> dict[str, AccountDay]:
    """Per account: its newest job, its attempts, and its failures since the last success."""
    found: dict[str, AccountDay] = {}
    for job in sorted(jobs, key=lambda j: j["started_at"]):
        before = found.get(job["account_id"])
        attempts = (before.attempts if before else 0) + 1
        failures = 0 if job["status"] == "success" else (before.failures if before else 0) + 1
        found[job["account_id"]] = AccountDay(job, attempts, failures)
    return found


def due_at(job: dict[str, Any], failures: int, base: timedelta) -> datetime:
    """Not before the platform's reset, and not before an exponential backoff has passed."""
    finished = datetime.fromisoformat(job["finished_at"])
    backoff = finished + base * (2 ** max(0, failures - 1))
    reset = datetime.fromisoformat(job["reset_at"]) if job.get("reset_at") else finished
    return max(backoff, reset)


def plan_recovery(
    settings: Settings,
    days: Iterable[date],
    now: datetime,
) -> tuple[list[RetryRequest], list[DeadLetter]]:
    """Retries that are due now, and failures that have used up `settings.max_attempts`.

    An account-day becomes a dead letter after `max_attempts` failures in a row; a
    success in between (an hourly refresh, a retry that worked) starts the count again.
    """
    max_attempts = settings.max_attempts
    base_backoff = timedelta(seconds=settings.retry_backoff_seconds)
    current = {(a.platform, a.account_id) for a in settings.accounts}
    retries: list[RetryRequest] = []
    letters: list[DeadLetter] = []
    platforms = sorted({a.platform for a in settings.accounts})
    for day in days:
        for platform in platforms:
            due: dict[int, list[str]] = {}
            states = account_days(read_jobs(settings.data_root, platform, day))
            for account_id, state in sorted(states.items()):
                job = state.latest
                if job["status"] == "success" or (platform, account_id) not in current:
                    continue  # removed accounts keep their history but are not retried
                if state.failures >= max_attempts:
                    letters.append(
                        DeadLetter(
                            platform=platform,
                            account_id=account_id,
                            partition_date=day.isoformat(),
                            error_class=job.get("error_class"),
                            error=job.get("error"),
                            attempts=state.failures,
                            last_attempt_at=job["finished_at"],
                            reset_at=job.get("reset_at"),
                        )
                    )
                elif now >= due_at(job, state.failures, base_backoff):
                    due.setdefault(state.attempts + 1, []).append(account_id)
            retries.extend(
                RetryRequest(platform, day, tuple(ids), attempt)
                for attempt, ids in sorted(due.items())
            )
    return retries, letters

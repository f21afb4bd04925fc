"""Failed account collections: when to retry them, and when to give up into dead letters.

Plain functions over the job records in the raw landing; the retry sensor calls them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from social_pipeline import raw
from social_pipeline.settings import Settings


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


@dataclass(frozen=True)
class DeadLetter:
    platform: str
    account_id: str
    partition_date: str
    error_class: str | None
    error: str | None
    attempts: int
    last_attempt_at: str
    reset_at: str | None


def latest_jobs(data_dir: Path, platform: str, day: date) -> dict[str, tuple[dict[str, Any], int]]:
    """Per account of that platform and day: its newest job record and how many attempts."""
    found: dict[str, tuple[dict[str, Any], int]] = {}
    for job in sorted(raw.read_jobs(data_dir, platform, day), key=lambda j: j["started_at"]):
        count = found.get(job["account_id"], (job, 0))[1] + 1
        found[job["account_id"]] = (job, count)
    return found


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


def dead_letter_path(data_dir: Path, letter: DeadLetter) -> Path:
    folder = data_dir / "dead_letters" / letter.platform / f"date={letter.partition_date}"
    return folder / f"{raw.safe_name(letter.account_id)}.json"


def write_dead_letters(data_dir: Path, letters: Iterable[DeadLetter]) -> list[DeadLetter]:
    """Record dead letters; returns those that are new (already-recorded ones are kept)."""
    new = []
    for letter in letters:
        path = dead_letter_path(data_dir, letter)
        if path.exists() and json.loads(path.read_text())["attempts"] == letter.attempts:
            continue
        raw.atomic_write_bytes(path, json.dumps(asdict(letter), indent=1).encode())
        new.append(letter)
    return new


def all_dead_letters(data_dir: Path) -> list[dict[str, Any]]:
    """Every dead letter ever written, with `status` open or resolved (collected since)."""
    letters = []
    jobs: dict[tuple[str, str], dict[str, tuple[dict[str, Any], int]]] = {}
    for path in sorted((data_dir / "dead_letters").glob("*/date=*/*.json")):
        letter = json.loads(path.read_text())
        key = (letter["platform"], letter["partition_date"])
        if key not in jobs:  # a day's job records are read once, however many letters it has
            jobs[key] = latest_jobs(data_dir, key[0], date.fromisoformat(key[1]))
        latest = jobs[key].get(letter["account_id"])
        resolved = latest is not None and latest[0]["status"] == "success"
        letters.append({**letter, "status": "resolved" if resolved else "open"})
    return letters


def open_dead_letters(data_dir: Path) -> list[dict[str, Any]]:
    """Dead letters whose account has not been collected successfully since."""
    return [letter for letter in all_dead_letters(data_dir) if letter["status"] == "open"]

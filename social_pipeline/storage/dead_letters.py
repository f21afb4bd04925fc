"""Dead letters: account-days that failed past the retry limit, kept until collected again.

<data>/dead_letters/<platform>/date=<D>/<account>.json
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from social_pipeline.storage import raw
from social_pipeline.storage.files import atomic_write_bytes, safe_name


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


def dead_letter_path(data_dir: Path, letter: DeadLetter) -> Path:
    folder = data_dir / "dead_letters" / letter.platform / f"date={letter.partition_date}"
    return folder / f"{safe_name(letter.account_id)}.json"


def write_dead_letters(data_dir: Path, letters: Iterable[DeadLetter]) -> list[DeadLetter]:
    """Record dead letters; returns those that are new (already-recorded ones are kept).

    A letter is the same one while its last failed attempt is: an account that failed
    its way to a dead letter again after a replay or a success is a new letter.
    """
    new = []
    for letter in letters:
        path = dead_letter_path(data_dir, letter)
        if path.exists():
            kept = json.loads(path.read_text())
            if (kept["attempts"], kept["last_attempt_at"]) == (
                letter.attempts,
                letter.last_attempt_at,
            ):
                continue
        atomic_write_bytes(path, json.dumps(asdict(letter), indent=1).encode())
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
            jobs[key] = raw.latest_jobs(data_dir, key[0], date.fromisoformat(key[1]))
        latest = jobs[key].get(letter["account_id"])
        resolved = latest is not None and latest[0]["status"] == "success"
        letters.append({**letter, "status": "resolved" if resolved else "open"})
    return letters


def open_dead_letters(data_dir: Path) -> list[dict[str, Any]]:
    """Dead letters whose account has not been collected successfully since."""
    return [letter for letter in all_dead_letters(data_dir) if letter["status"] == "open"]


def replay_requests_dir(data_dir: Path) -> Path:
    return data_dir / "dead_letters" / "_replay_requests"


def request_replay(data_dir: Path, request_id: str, platform: str, account_id: str) -> Path:
    """Ask for a replay (the UI job does); the replay sensor launches its runs."""
    path = replay_requests_dir(data_dir) / f"{safe_name(request_id)}.json"
    payload = {"request_id": request_id, "platform": platform, "account_id": account_id}
    atomic_write_bytes(path, json.dumps(payload).encode())
    return path


def pending_replay_requests(data_dir: Path) -> list[dict[str, str]]:
    return [
        json.loads(path.read_text())
        for path in sorted(replay_requests_dir(data_dir).glob("*.json"))
    ]


def forget_replay_request(data_dir: Path, request_id: str) -> None:
    (replay_requests_dir(data_dir) / f"{safe_name(request_id)}.json").unlink(missing_ok=True)

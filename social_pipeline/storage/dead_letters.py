"""Dead letters: account-days that failed past the retry limit, kept until collected again.

<data>/dead_letters/<platform>/date=<D>/<account>.json
<data>/dead_letters/_replay_requests/<request id>.json

`data_dir` is a folder, an `s3://bucket/prefix` URL or an ObjectStore (`objects.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from social_pipeline.storage import raw
from social_pipeline.storage.files import safe_name
from social_pipeline.storage.objects import ObjectStore, store_at

FOLDER = "dead_letters"
REPLAY_REQUESTS = f"{FOLDER}/_replay_requests"


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


def dead_letter_key(letter: DeadLetter) -> str:
    folder = f"{FOLDER}/{letter.platform}/date={letter.partition_date}"
    return f"{folder}/{safe_name(letter.account_id)}.json"


def dead_letter_path(data_dir: Path, letter: DeadLetter) -> Path:
    return data_dir / dead_letter_key(letter)


def write_dead_letters(
    data_dir: Path | str | ObjectStore, letters: Iterable[DeadLetter]
) -> list[DeadLetter]:
    """Record dead letters; returns those that are new (already-recorded ones are kept).

    A letter is the same one while its last failed attempt is: an account that failed
    its way to a dead letter again after a replay or a success is a new letter.
    """
    store = store_at(data_dir)
    new = []
    for letter in letters:
        key = dead_letter_key(letter)
        kept_bytes = store.get(key)
        if kept_bytes is not None:
            kept = json.loads(kept_bytes)
            if (kept["attempts"], kept["last_attempt_at"]) == (
                letter.attempts,
                letter.last_attempt_at,
            ):
                continue
        store.put(key, json.dumps(asdict(letter), indent=1).encode())
        new.append(letter)
    return new


def all_dead_letters(data_dir: Path | str | ObjectStore) -> list[dict[str, Any]]:
    """Every dead letter ever written, with `status` open or resolved (collected since)."""
    store = store_at(data_dir)
    # Job records are read by raw.py, which takes the data folder (or the store once it
    # speaks object storage).
    jobs_at: Any = data_dir if isinstance(data_dir, Path) else (store.local_root or store)
    letters = []
    jobs: dict[tuple[str, str], dict[str, tuple[dict[str, Any], int]]] = {}
    for key in _letter_keys(store):
        found = store.get(key)
        if found is None:
            continue  # removed since it was listed
        letter = json.loads(found)
        day = (letter["platform"], letter["partition_date"])
        if day not in jobs:  # a day's job records are read once, however many letters it has
            jobs[day] = raw.latest_jobs(jobs_at, day[0], date.fromisoformat(day[1]))
        latest = jobs[day].get(letter["account_id"])
        resolved = latest is not None and latest[0]["status"] == "success"
        letters.append({**letter, "status": "resolved" if resolved else "open"})
    return letters


def _letter_keys(store: ObjectStore) -> list[str]:
    """dead_letters/<platform>/date=<D>/<account>.json, in the order a folder walk sorts."""
    keys = []
    for info in store.list(f"{FOLDER}/"):
        parts = info.key.split("/")
        if len(parts) == 4 and parts[2].startswith("date=") and parts[3].endswith(".json"):
            keys.append(info.key)
    return sorted(keys, key=lambda key: key.split("/"))


def open_dead_letters(data_dir: Path | str | ObjectStore) -> list[dict[str, Any]]:
    """Dead letters whose account has not been collected successfully since."""
    return [letter for letter in all_dead_letters(data_dir) if letter["status"] == "open"]


def replay_requests_dir(data_dir: Path) -> Path:
    return data_dir / REPLAY_REQUESTS


def request_replay(
    data_dir: Path | str | ObjectStore, request_id: str, platform: str, account_id: str
) -> Path | str:
    """Ask for a replay (the UI job does); the replay sensor launches its runs.

    Returns where the request was stored: its path in a folder, else its s3:// URL.
    """
    store = store_at(data_dir)
    key = f"{REPLAY_REQUESTS}/{safe_name(request_id)}.json"
    payload = {"request_id": request_id, "platform": platform, "account_id": account_id}
    store.put(key, json.dumps(payload).encode())
    return store.local_root / key if store.local_root is not None else store.describe(key)


def pending_replay_requests(data_dir: Path | str | ObjectStore) -> list[dict[str, str]]:
    store = store_at(data_dir)
    pending = []
    for info in store.list(f"{REPLAY_REQUESTS}/"):
        name = info.key[len(REPLAY_REQUESTS) + 1 :]
        if "/" in name or not name.endswith(".json"):
            continue
        found = store.get(info.key)
        if found is not None:  # forgotten since it was listed
            pending.append(json.loads(found))
    return pending


def forget_replay_request(data_dir: Path | str | ObjectStore, request_id: str) -> None:
    store_at(data_dir).delete(f"{REPLAY_REQUESTS}/{safe_name(request_id)}.json")

"""The raw landing: every response page as received (minus secrets), one file per account.

    <data>/raw/<platform>/date=<D>/<account>.jsonl.gz     header line, then one page per line
    <data>/raw/<platform>/date=<D>/_jobs/<job_id>.json    one record per collection attempt
    <data>/raw/<platform>/date=<D>/_rate_limits.jsonl     latest window seen per endpoint,
                                                           scope and account
    <data>/raw/<platform>/date=<D>/_partial/<account>.jsonl.gz  a failed retry's pages, kept
                                                           beside an earlier complete pull

Files are written to a temporary name and renamed, so a reader sees the previous good
file or the new one, never half of either. A failed attempt leaves the last good file
of that account in place.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from social_pipeline.core.pulls import RawPull
from social_pipeline.storage.files import atomic_write_bytes, safe_name

RAW_FORMAT_VERSION = 1


def partition_dir(data_dir: Path, platform: str, day: date) -> Path:
    return data_dir / "raw" / platform / f"date={day.isoformat()}"


def write_pull(path: Path, header: dict[str, Any], records: Iterable[dict[str, Any]]) -> Path:
    """Land one account's pages for a day at `path`, replacing what was there."""
    lines = [
        json.dumps({"kind": "header", "format": RAW_FORMAT_VERSION, **header}, ensure_ascii=False)
    ]
    lines.extend(json.dumps(r, ensure_ascii=False, default=str) for r in records)
    payload = gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), compresslevel=6)
    atomic_write_bytes(path, payload)
    return path


def pull_path(folder: Path, account_id: str) -> Path:
    return folder / f"{safe_name(account_id)}.jsonl.gz"


def pull_is_complete(folder: Path, account_id: str) -> bool:
    """True when the landed pull of this account is from a successful attempt."""
    path = pull_path(folder, account_id)
    if not path.exists():
        return False
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        header = json.loads(handle.readline())
    return header.get("status", "success") == "success"


def write_job(data_dir: Path, platform: str, day: date, job: dict[str, Any]) -> Path:
    path = partition_dir(data_dir, platform, day) / "_jobs" / f"{job['job_id']}.json"
    atomic_write_bytes(path, json.dumps(job, default=str).encode())
    return path


def write_rate_limits(
    data_dir: Path, platform: str, day: date, windows: list[dict[str, Any]]
) -> None:
    if not windows:
        return
    path = partition_dir(data_dir, platform, day) / "_rate_limits.jsonl"
    atomic_write_bytes(path, "".join(json.dumps(w) + "\n" for w in windows).encode())


def read_pulls(data_dir: Path, platform: str, day: date) -> list[RawPull]:
    """Every account's landed pull of the day for a platform, in account order."""
    folder = partition_dir(data_dir, platform, day)
    return [read_pull(path, platform) for path in sorted(folder.glob("*.jsonl.gz"))]


# Pages decoded to Python objects take some 30 times their gzip size, so normalizing a
# 1 MiB batch peaks near 400 MiB: a batch, not the day, is what is held at once.
BATCH_BYTES = 1024 * 1024


def pull_batches(
    data_dir: Path, platform: str, day: date, max_bytes: int | None = None
) -> list[list[Path]]:
    """The day's pull files of a platform in account order, in batches to read one at a time.

    A batch holds pulls whose landed (compressed) files add up to at most `max_bytes`
    (default `BATCH_BYTES`), or one pull that alone is larger, so the memory of
    normalizing a day follows the batch, not the number of accounts.
    """
    limit = BATCH_BYTES if max_bytes is None else max_bytes
    batches: list[list[Path]] = []
    size = 0
    for path in sorted(partition_dir(data_dir, platform, day).glob("*.jsonl.gz")):
        length = path.stat().st_size
        if not batches or size + length > limit:
            batches.append([])
            size = 0
        batches[-1].append(path)
        size += length
    return batches


def read_pull(path: Path, platform: str) -> RawPull:
    """One landed pull: its header, and each page as a dict (unreadable lines kept as such)."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    header = json.loads(lines[0])
    records = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            records.append(json.loads(line))
        except ValueError as exc:
            # A line we wrote ourselves should always parse; keep it for quarantine.
            records.append(
                {
                    "kind": "unreadable",
                    "error": f"{path}:{number}: {exc}",
                    "body": None,
                    "body_text": line[:2000],
                }
            )
    return RawPull(
        platform=platform,
        account_id=header["account_id"],
        partition_date=date.fromisoformat(header["partition_date"]),
        window_start=datetime.fromisoformat(header["window_start"]),
        window_end=datetime.fromisoformat(header["window_end"]),
        collected_at=datetime.fromisoformat(header["collected_at"]),
        job_id=header["job_id"],
        records=records,
        path=path,
        complete=header.get("status", "success") == "success",
        listed_from=(
            datetime.fromisoformat(header["listed_from"]) if header.get("listed_from") else None
        ),
    )


def read_jobs(data_dir: Path, platform: str, day: date) -> list[dict[str, Any]]:
    folder = partition_dir(data_dir, platform, day) / "_jobs"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def latest_jobs(data_dir: Path, platform: str, day: date) -> dict[str, tuple[dict[str, Any], int]]:
    """Per account of that platform and day: its newest job record and how many attempts."""
    found: dict[str, tuple[dict[str, Any], int]] = {}
    for job in sorted(read_jobs(data_dir, platform, day), key=lambda j: j["started_at"]):
        count = found.get(job["account_id"], (job, 0))[1] + 1
        found[job["account_id"]] = (job, count)
    return found


def read_rate_limits(data_dir: Path, platform: str, day: date) -> list[dict[str, Any]]:
    path = partition_dir(data_dir, platform, day) / "_rate_limits.jsonl"
    if not path.exists():
        return []
    return _rate_limit_lines(path)


def _rate_limit_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def rate_limit_key(window: dict[str, Any]) -> tuple[str, str, str]:
    """What a stored window is the latest of: (endpoint, scope, account)."""
    return (window["endpoint"], window.get("scope") or "", window.get("account_id") or "")


def recent_rate_limits(
    data_dir: Path, platform: str, *, within: timedelta = timedelta(days=2)
) -> list[dict[str, Any]]:
    """The latest stored window per endpoint, scope and account, across the platform's days.

    Only files written within `within` are read: a window whose reset is still ahead was
    seen lately (the longest, the daily quotas, reset within a day), whichever collection
    day's folder the run that saw it wrote to.
    """
    cutoff = datetime.now().timestamp() - within.total_seconds()
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for path in (data_dir / "raw" / platform).glob("date=*/_rate_limits.jsonl"):
        if path.stat().st_mtime < cutoff:
            continue
        for window in _rate_limit_lines(path):
            key = rate_limit_key(window)
            if key not in latest or window["observed_at"] >= latest[key]["observed_at"]:
                latest[key] = window
    return list(latest.values())


def collected_accounts(data_dir: Path) -> set[str]:
    """`platform:account` of every account with at least one landed pull (file-safe ids)."""
    found = set()
    for path in (data_dir / "raw").glob("*/date=*/*.jsonl.gz"):
        found.add(f"{path.parent.parent.name}:{path.name.removesuffix('.jsonl.gz')}")
    return found


def account_key(platform: str, account_id: str) -> str:
    return f"{platform}:{safe_name(account_id)}"

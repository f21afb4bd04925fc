"""The raw landing: every response page as received (minus secrets), one file per account.

    <data>/raw/<platform>/date=<D>/<account>.jsonl.gz     header line, then one page per line
    <data>/raw/<platform>/date=<D>/_jobs/<job_id>.json    one record per collection attempt
    <data>/raw/<platform>/date=<D>/_rate_limits.jsonl     latest window seen per endpoint,
                                                           scope and account
    <data>/raw/<platform>/date=<D>/_partial/<account>.jsonl.gz  a failed retry's pages, kept
                                                           beside an earlier complete pull

`<data>` is a folder or an s3:// prefix (`objects.store_at`). Files are written to a
temporary name and renamed (uploaded whole to object storage), so a reader sees the
previous good file or the new one, never half of either. A failed attempt leaves the
last good file of that account in place.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from social_pipeline.core.pulls import LandedPage, RawPull
from social_pipeline.storage.files import safe_name
from social_pipeline.storage.objects import ObjectStore, PreconditionFailed, store_at

RAW_FORMAT_VERSION = 1


# A data root: a folder, an s3:// URL, or a store made from either.
DataRoot = Path | str | ObjectStore


def partition_prefix(platform: str, day: date) -> str:
    return f"raw/{platform}/date={day.isoformat()}/"


def partition_dir(data_dir: Path, platform: str, day: date) -> Path:
    """The day's folder of a local data root."""
    return data_dir / partition_prefix(platform, day)


def pull_name(account_id: str) -> str:
    return f"{safe_name(account_id)}.jsonl.gz"


def pull_path(folder: Path, account_id: str) -> Path:
    return folder / pull_name(account_id)


def _write_lines(path: Path, header: dict[str, Any], records: Iterable[dict[str, Any]]) -> None:
    # Streamed: a pull of a million posts is never held as one text.
    with gzip.open(path, "wb", compresslevel=6) as handle:
        head = {"kind": "header", "format": RAW_FORMAT_VERSION, **header}
        handle.write(json.dumps(head, ensure_ascii=False).encode("utf-8") + b"\n")
        for record in records:
            line = json.dumps(record, ensure_ascii=False, default=str)
            handle.write(line.encode("utf-8") + b"\n")


def write_pull(path: Path, header: dict[str, Any], records: Iterable[dict[str, Any]]) -> Path:
    """Land one account's pages for a day at the local `path`, replacing what was there."""
    store = store_at(path.parent)
    land_pages(store, path.name, header, records)
    return path


def land_pages(
    data: DataRoot, key: str, header: dict[str, Any], records: Iterable[dict[str, Any]]
) -> Path | str:
    """Write a pull's lines aside, then make them the object `key` in one step."""
    store = store_at(data)
    staged = store.staging(key)
    try:
        _write_lines(staged, header, records)
        store.upload(key, staged)
    except OSError as exc:
        staged.unlink(missing_ok=True)
        # A full disk says "[Errno 28] No space left on device" and nothing else: name it.
        raise OSError(
            exc.errno,
            f"cannot write {store.describe(key)}: {exc.strerror or exc}; the previous version is kept",
        ) from exc
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return store.local_root / key if store.local_root else store.describe(key)


def land_pull(
    data: DataRoot,
    platform: str,
    day: date,
    account_id: str,
    header: dict[str, Any],
    records: Iterable[dict[str, Any]],
    partial: bool = False,
) -> Path | str:
    """Land one account's pages for a day (under `_partial/` for a failed retry's pages)."""
    folder = partition_prefix(platform, day) + ("_partial/" if partial else "")
    return land_pages(data, folder + pull_name(account_id), header, records)


def pull_is_complete(data: DataRoot, platform: str, day: date, account_id: str) -> bool:
    """True when the landed pull of this account is from a successful attempt."""
    store = store_at(data)
    key = partition_prefix(platform, day) + pull_name(account_id)
    try:
        with store.local_copy(key) as path, gzip.open(path, "rt", encoding="utf-8") as handle:
            header = json.loads(handle.readline())
    except FileNotFoundError:
        return False
    return header.get("status", "success") == "success"


def write_job(data: DataRoot, platform: str, day: date, job: dict[str, Any]) -> Path | str:
    store = store_at(data)
    key = f"{partition_prefix(platform, day)}_jobs/{job['job_id']}.json"
    store.put(key, json.dumps(job, default=str).encode())
    return store.local_root / key if store.local_root else store.describe(key)


def write_rate_limits(
    data: DataRoot, platform: str, day: date, windows: list[dict[str, Any]]
) -> None:
    """The day's windows (for the lake), and the platform's latest ones (for the next run)."""
    if not windows:
        return
    store = store_at(data)
    key = f"{partition_prefix(platform, day)}_rate_limits.jsonl"
    store.put(key, _rate_limit_text(windows))
    _merge_recent(store, platform, windows)


def _rate_limit_text(windows: Iterable[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(w) + "\n" for w in windows).encode()


def _recent_key(platform: str) -> str:
    return f"raw/{platform}/_rate_limits_recent.jsonl"


def _merge_recent(store: ObjectStore, platform: str, windows: list[dict[str, Any]]) -> None:
    """Fold `windows` into the platform's latest window per key, one object that runs on
    several machines update: a conditional write, read again and retried if another run
    wrote in between, so neither run's windows are lost."""
    key = _recent_key(platform)
    for _ in range(20):
        current = store.get_versioned(key)
        latest = {rate_limit_key(w): w for w in _rate_limit_lines(current[0] if current else b"")}
        for w in windows:
            if (
                rate_limit_key(w) not in latest
                or w["observed_at"] >= latest[rate_limit_key(w)]["observed_at"]
            ):
                latest[rate_limit_key(w)] = w
        text = _rate_limit_text(sorted(latest.values(), key=rate_limit_key))
        try:
            if current is None:
                store.put(key, text, if_absent=True)
            else:
                store.put(key, text, if_version=current[1])
            return
        except PreconditionFailed:
            continue
    raise RuntimeError(f"{store.describe(key)} kept changing under 20 writes; windows not merged")


def read_pulls(data_dir: Path, platform: str, day: date) -> list[RawPull]:
    """Every account's landed pull of the day for a platform, in account order."""
    folder = partition_dir(data_dir, platform, day)
    return [read_pull(path, platform) for path in sorted(folder.glob("*.jsonl.gz"))]


# Pages decoded to Python objects take some 30 times their gzip size or more: a batch,
# not the day, is what is held at once. A quarter MiB takes no longer to normalize than
# 1 MiB (measured on a 6,000-account sandbox day) and peaks some 90 MiB lower.
BATCH_BYTES = 256 * 1024


@contextlib.contextmanager
def local_day(data: DataRoot, day: date, platforms: Iterable[str]) -> Iterator[Path]:
    """A local folder holding the day's landed pulls (`raw/<platform>/date=<D>/`), for
    the time of the block: the data folder itself, or a temporary download of the day
    from object storage (pulls only: job records and windows are read from the store)."""
    store = store_at(data)
    if store.local_root is not None:
        yield store.local_root
        return
    with tempfile.TemporaryDirectory(prefix="social-pipeline-day-") as folder:
        for platform in platforms:
            prefix = partition_prefix(platform, day)
            for info in store.list(prefix):
                name = info.key.removeprefix(prefix)
                if "/" not in name and name.endswith(".jsonl.gz"):
                    store.download(info.key, Path(folder) / info.key)
        yield Path(folder)


def pull_batches(
    data: DataRoot, platform: str, day: date, max_bytes: int | None = None
) -> list[list[Path]]:
    """The day's pull files of a platform in account order, in batches to read one at a time.

    A batch holds pulls whose landed (compressed) files add up to at most `max_bytes`
    (default `BATCH_BYTES`), or one pull that alone is larger, so the memory of
    normalizing a day follows the batch, not the number of accounts.
    """
    limit = BATCH_BYTES if max_bytes is None else max_bytes
    batches: list[list[Path]] = []
    size = 0
    root = store_at(data).local_root
    if root is None:
        raise ValueError(f"{data}: read a day in object storage through `local_day` first")
    for path in sorted(partition_dir(root, platform, day).glob("*.jsonl.gz")):
        length = path.stat().st_size
        if not batches or size + length > limit:
            batches.append([])
            size = 0
        batches[-1].append(path)
        size += length
    return batches


# A pull whose pages unpack to more than this is not held as Python objects (some ten
# times the text): its pages are read from the file again on each pass of a normalizer.
STREAM_BYTES = 64 * 1024 * 1024


def read_pull(path: Path, platform: str, stream_above: int | None = None) -> RawPull:
    """One landed pull: its header, and each page as a dict (unreadable lines kept as such).

    Lines are split on newlines only, as they were written: a text's U+2028 or NEL is
    part of its line, not the end of one. A pull unpacking to more than `stream_above`
    bytes (default `STREAM_BYTES`) keeps no pages in memory: its records are
    `LandedPages`, which read the file anew on every pass.
    """
    limit = STREAM_BYTES if stream_above is None else stream_above
    header = _read_header(path, platform)
    records: Iterable[dict[str, Any]]
    plain = False
    if _unpacked_size(path) > limit:
        records = LandedPages(path)
    else:
        records, plain = [], True
        for _number, record, fast in _pages(path):
            records.append(record)
            plain = plain and fast
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
        plain_json=plain,
    )


class LandedPages:
    """The pages of a large landed pull, decoded one at a time on every pass."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for number, record, fast in _pages(self.path):
            yield LandedPage(record, number, self, plain=fast)

    def records_at(self, lines: set[int]) -> dict[int, dict[str, Any]]:
        return {number: record for number, record, _ in _pages(self.path) if number in lines}


def _read_header(path: Path, platform: str) -> dict[str, Any]:
    with gzip.open(path, "rb") as handle:
        first = handle.readline()
    try:
        return _decode_line(first.removesuffix(b"\n"))[0]
    except ValueError as exc:
        raise ValueError(f"{platform} pull {path}: unreadable header line: {exc}") from exc


def _pages(path: Path) -> Iterator[tuple[int, dict[str, Any], bool]]:
    """(line number, page, whether orjson read it) for each line after the header."""
    with gzip.open(path, "rb") as handle:
        handle.readline()
        for number, line in enumerate(handle, start=2):
            line = line.removesuffix(b"\n")
            try:
                record, fast = _decode_line(line)
            except ValueError as exc:
                # A line we wrote ourselves should always parse; keep it for quarantine.
                yield number, _unreadable(path, number, line, exc), True
                continue
            yield number, record, fast


def _unpacked_size(path: Path) -> int:
    """The size of a gzip file's content, from its trailer (modulo 4 GiB, so a file that
    is itself large counts as large)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - 4))
        trailer = int.from_bytes(handle.read(4), "little")
    return max(trailer, size)


# An integer of 19 digits or more may not fit 64 bits, which orjson reads as a float. Such
# a number follows `:`, `,` or `[` (and maybe a space and a minus); a string holding one
# (`"id": "x", "n: 1234..."`) also matches, which only costs the slower decoder. Mapping
# the line's bytes first is some five times faster than a regular expression.
_NUMBER_SHAPE = bytes(
    ord("0") if b in b"0123456789" else ord(":") if b in b":,[" else b if b in b" -" else ord(".")
    for b in range(256)
)
_WIDE_INTS = tuple(start + b"0" * 19 for start in (b":", b": ", b":-", b": -"))


def _may_hold_wide_int(line: bytes) -> bool:
    shape = line.translate(_NUMBER_SHAPE)
    return any(wide in shape for wide in _WIDE_INTS)


def _decode_line(line: bytes) -> tuple[Any, bool]:
    """A landed line as Python objects, and whether orjson read it.

    orjson is several times faster than `json` and gives the same objects for all it
    accepts; what it refuses (NaN, Infinity, lone surrogates) or would round (integers
    past 64 bits) goes to `json`, which reads what Python's `json.dumps` wrote.
    """
    if not _may_hold_wide_int(line):
        try:
            return orjson.loads(line), True
        except orjson.JSONDecodeError:
            pass
    return json.loads(line), False


def _unreadable(path: Path, number: int, line: bytes, exc: ValueError) -> dict[str, Any]:
    text = line.decode("utf-8", errors="replace")
    return {
        "kind": "unreadable",
        "error": f"{path}:{number}: {exc}",
        "body": None,
        "body_text": text[:2000],
    }


def read_jobs(data: DataRoot, platform: str, day: date) -> list[dict[str, Any]]:
    store = store_at(data)
    prefix = f"{partition_prefix(platform, day)}_jobs/"
    found = []
    for info in store.list(prefix):
        if "/" in info.key.removeprefix(prefix) or not info.key.endswith(".json"):
            continue
        payload = store.get(info.key)
        if payload is not None:  # None: removed since listed
            found.append(json.loads(payload))
    return found


def latest_jobs(data: DataRoot, platform: str, day: date) -> dict[str, tuple[dict[str, Any], int]]:
    """Per account of that platform and day: its newest job record and how many attempts."""
    found: dict[str, tuple[dict[str, Any], int]] = {}
    for job in sorted(read_jobs(data, platform, day), key=lambda j: j["started_at"]):
        count = found.get(job["account_id"], (job, 0))[1] + 1
        found[job["account_id"]] = (job, count)
    return found


def read_rate_limits(data: DataRoot, platform: str, day: date) -> list[dict[str, Any]]:
    payload = store_at(data).get(f"{partition_prefix(platform, day)}_rate_limits.jsonl")
    return [] if payload is None else _rate_limit_lines(payload)


def _rate_limit_lines(payload: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in payload.decode().splitlines() if line.strip()]


def rate_limit_key(window: dict[str, Any]) -> tuple[str, str, str]:
    """What a stored window is the latest of: (endpoint, scope, account)."""
    return (window["endpoint"], window.get("scope") or "", window.get("account_id") or "")


def recent_rate_limits(
    data: DataRoot, platform: str, *, within: timedelta = timedelta(days=2)
) -> list[dict[str, Any]]:
    """The latest stored window per endpoint, scope and account, observed within `within`.

    A window whose reset is still ahead was seen lately (the longest, the daily quotas,
    reset within a day), whichever collection day the run that saw it collected.
    """
    payload = store_at(data).get(_recent_key(platform))
    cutoff = datetime.now(UTC) - within
    return [w for w in _rate_limit_lines(payload or b"") if _utc(w["observed_at"]) >= cutoff]


def _utc(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def collected_accounts(data: DataRoot) -> set[str]:
    """`platform:account` of every account with at least one landed pull (file-safe ids)."""
    found = set()
    for info in store_at(data).list("raw/"):
        parts = info.key.split("/")  # raw/<platform>/date=<D>/<account>.jsonl.gz
        if len(parts) == 4 and parts[2].startswith("date=") and parts[3].endswith(".jsonl.gz"):
            found.add(f"{parts[1]}:{parts[3].removesuffix('.jsonl.gz')}")
    return found


def account_key(platform: str, account_id: str) -> str:
    return f"{platform}:{safe_name(account_id)}"

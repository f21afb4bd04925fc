"""File helpers every store shares: safe names and writes that never leave half a file."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path


def safe_name(account_id: str) -> str:
    # Account ids are platform ids (digits, UC..., open ids); keep file names boring anyway.
    return re.sub(r"[^A-Za-z0-9_.-]", "_", account_id)


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        # A full disk says "[Errno 28] No space left on device" and nothing else: name the file.
        reason = exc.strerror or exc
        raise OSError(
            exc.errno, f"cannot write {path}: {reason}; the previous version is kept"
        ) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (the directory entry, not just the file)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""What every object store offers (`objects`): whole-object reads, atomic whole-object
writes, conditional writes, listing, and the errors callers catch by meaning. The
backends (a local folder in `objects`, S3 in `objects_s3`) implement it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

PRIVATE_MODE = 0o600
LIST_PAGE_SIZE = 1000


class ObjectStoreError(Exception):
    """The store cannot do what was asked; the message names the object."""


class PreconditionFailed(ObjectStoreError):
    """A conditional write or delete lost: the object is not in the state it required."""

    def __init__(self, location: str, condition: str) -> None:
        super().__init__(f"conditional write to {location} refused: {condition}")
        self.location = location
        self.condition = condition


class ObjectNotFound(ObjectStoreError, FileNotFoundError):
    def __init__(self, location: str) -> None:
        super().__init__(f"no object at {location}")
        self.location = location


@dataclass(frozen=True)
class Write:
    """How `put` writes: the condition it needs, and whether the object is private."""

    if_absent: bool = False
    if_version: str | None = None
    private: bool = False


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    version: str


class ObjectStore(ABC):
    """Whole-object reads and atomic whole-object writes under one root."""

    location: str  # the root, as a person would type it: a folder or s3://bucket/prefix
    local_root: Path | None  # the folder, when the store is one

    @abstractmethod
    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and version, or None when there is none."""

    def put(
        self,
        key: str,
        data: bytes,
        *,
        if_absent: bool = False,
        if_version: str | None = None,
        private: bool = False,
    ) -> str:
        """Replace the object atomically; returns its new version.

        `if_absent`: only if there is no object yet. `if_version`: only if it is still
        that version. `private`: readable by the owner only (0600 locally; encrypted at
        rest with SSE-S3 and no public ACL on S3).
        """
        if if_absent and if_version is not None:
            raise ValueError("put: give if_absent or if_version, not both")
        return self._put(key, data, Write(if_absent, if_version, private))

    @abstractmethod
    def _put(self, key: str, data: bytes, write: Write) -> str:
        """`put`, its arguments checked."""

    @abstractmethod
    def delete(self, key: str, *, if_version: str | None = None) -> None:
        """Remove the object (no error if absent, unless `if_version` is given)."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object whose key starts with `prefix`, at any depth, sorted by key."""

    def download(self, key: str, dest: Path) -> None:
        """Copy the object to a local file: written aside, then renamed onto `dest`."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                self._copy_to(key, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @abstractmethod
    def _copy_to(self, key: str, out: BinaryIO) -> None:
        """Write the object's bytes to `out` (ObjectNotFound if there is none)."""

    @abstractmethod
    def describe(self, key: str = "") -> str:
        """The object's name for people and errors: a local path or an s3:// URL."""

    @abstractmethod
    def staging(self, key: str) -> Path:
        """A fresh local file name to write the object's bytes to before `upload`: beside
        the object in a folder (so the upload is a rename), in the temp folder otherwise."""

    @abstractmethod
    def upload(self, key: str, source: Path) -> str:
        """Make the file at `source` the object, atomically, and remove `source`. For
        objects too large to hold in memory (a landed pull); returns the new version."""

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """The object as a local file for the time of the block: the file itself in a
        folder, a downloaded temporary copy from object storage."""
        if self.local_root is not None:
            path = self.local_root / check_key(key)
            if not path.is_file():
                raise ObjectNotFound(str(path))
            yield path
            return
        fd, name = tempfile.mkstemp(prefix="social-pipeline-", suffix="-" + key.rsplit("/", 1)[-1])
        os.close(fd)
        try:
            self.download(key, Path(name))
            yield Path(name)
        finally:
            Path(name).unlink(missing_ok=True)

    def get(self, key: str) -> bytes | None:
        found = self.get_versioned(key)
        return None if found is None else found[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"


def check_key(key: str, *, prefix: bool = False) -> str:
    """Refuse keys that could leave the root: absolute, `..`, `.` or empty parts."""
    if not isinstance(key, str) or (not key and not prefix):
        raise ValueError(f"object key {key!r} must be a non-empty relative path")
    parts = key.split("/")
    if prefix and parts[-1] == "":
        parts = parts[:-1]  # "dead_letters/" lists a folder
    if key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
        raise ValueError(
            f"object key {key!r} must be a relative POSIX path without '.', '..' or empty parts"
        )
    return key

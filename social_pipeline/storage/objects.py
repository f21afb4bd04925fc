"""Where stored things live: a local folder or S3-compatible object storage, one interface.

`store_at("s3://bucket/prefix")` gives an S3 store (endpoint and keys from the standard
`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`; a plain
`http://` endpoint only with `AWS_ALLOW_HTTP=true`); anything else is a local folder.

Keys are relative POSIX paths (`raw/x/date=2026-11-20/123.jsonl.gz`). Every write is
atomic: a local file is written aside and renamed, an S3 PUT replaces the whole object.
Where two writers could race, `put(if_absent=True)` and `put(if_version=v)` make exactly
one of them win (`If-None-Match: *` / `If-Match: <etag>` on S3, `link` and a per-file
`flock` locally); the loser gets `PreconditionFailed`. A version is an opaque token:
the ETag on S3, (mtime, size, inode) locally. S3 ETags are content hashes, so two writes
of the same bytes share one: write something unique (a nonce) when that matters.
Locally, only conditional writers wait for each other: an unconditional `put` racing a
conditional one may be overwritten by it, so keep an object's writers all conditional
when a lost update matters (the lease does).

Errors name the object (`describe(key)`) and never carry a secret key or token.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from social_pipeline.storage.files import atomic_write_bytes, fsync_dir
from social_pipeline.storage.object_store import (  # noqa: F401 (re-exported)
    LIST_PAGE_SIZE,
    PRIVATE_MODE,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    PreconditionFailed,
    Write,
    check_key,
)


def store_at(location: str | Path | ObjectStore) -> ObjectStore:
    """The store a setting names: `s3://bucket/prefix` is S3, anything else a folder."""
    if isinstance(location, ObjectStore):
        return location
    if isinstance(location, Path):
        if location.parts and location.parts[0] == "s3:":
            # Path("s3://b/p") is "s3:/b/p": the URL was squeezed through a Path somewhere.
            raise ValueError(
                f"{location} looks like an s3:// URL that went through a Path; "
                "pass the URL as a string"
            )
        return LocalObjectStore(location)
    if location.startswith("s3://"):
        return _s3_store(location.rstrip("/"), *_s3_environment())
    return LocalObjectStore(Path(location))


def _s3_environment() -> tuple[str, ...]:
    names = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_REGION")
    return tuple(os.environ.get(n, "") for n in names)


@functools.lru_cache(maxsize=16)
def _s3_store(location: str, *environment: str) -> ObjectStore:
    """One store (and boto3 client, which is thread-safe) per URL and AWS environment:
    every storage call names its root, and a new client costs a session each time."""
    # Imported here: the S3 backend is the one place that needs boto3 (`.[scale]`).
    from social_pipeline.storage.objects_s3 import S3ObjectStore

    bucket, _, prefix = location[len("s3://") :].partition("/")
    return S3ObjectStore(bucket, prefix)


# -- a local folder ---------------------------------------------------------------------


def local_version(st: os.stat_result) -> str:
    """A local file's version: a replaced file is a new inode with a new mtime."""
    return f"{st.st_mtime_ns:x}-{st.st_size:x}-{st.st_ino:x}"


_version_of = local_version


def _is_temporary(name: str) -> bool:
    # The names atomic writes use before their rename (`.<name>.<random>.tmp`).
    return name.startswith(".") and name.endswith(".tmp")


class LocalObjectStore(ObjectStore):
    """Files under a folder; the same layout the stores have always written."""

    def __init__(self, root: Path) -> None:
        self.local_root = Path(root)
        self.location = str(self.local_root)

    def path(self, key: str) -> Path:
        assert self.local_root is not None
        return self.local_root / check_key(key)

    def describe(self, key: str = "") -> str:
        return str(self.path(key)) if key else self.location

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        try:
            with open(self.path(key), "rb") as handle:
                # Files are replaced by rename, never rewritten: fstat matches what we read.
                return handle.read(), _version_of(os.fstat(handle.fileno()))
        except FileNotFoundError:
            return None

    def _put(self, key: str, data: bytes, write: Write) -> str:
        if_absent, if_version, private = write.if_absent, write.if_version, write.private
        path = self.path(key)
        if if_absent:
            return self._put_new(path, data)
        if if_version is not None:
            with self._locked_current(path, if_version):
                return self._put_over(path, data)
        # mkstemp files are 0600 from birth: private or not, never world-readable.
        atomic_write_bytes(path, data)
        if private:
            os.chmod(path, PRIVATE_MODE)
        version = _version_of(path.stat())
        fsync_dir(path.parent)  # the rename itself survives a power cut
        return version

    def delete(self, key: str, *, if_version: str | None = None) -> None:
        path = self.path(key)
        if if_version is None:
            path.unlink(missing_ok=True)
            return
        with self._locked_current(path, if_version):
            path.unlink()
        fsync_dir(path.parent)

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        assert self.local_root is not None
        check_key(prefix, prefix=True)
        # Strings, not Paths: a warehouse build lists every lake partition each time.
        root = str(self.local_root)
        start = os.path.join(root, prefix if prefix.endswith("/") else prefix.rpartition("/")[0])
        cut = len(root) + 1
        found = []
        for top, dirs, files in os.walk(start):
            dirs.sort()
            for name in files:
                if _is_temporary(name):
                    continue
                path = os.path.join(top, name)
                key = path[cut:].replace(os.sep, "/")
                if not key.startswith(prefix):
                    continue
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    continue  # deleted while we walked
                found.append(ObjectInfo(key, st.st_size, _version_of(st)))
        return sorted(found, key=lambda info: info.key)

    def _copy_to(self, key: str, out: BinaryIO) -> None:
        source = self.path(key)
        try:
            with open(source, "rb") as handle:
                shutil.copyfileobj(handle, out)
        except FileNotFoundError:
            raise ObjectNotFound(str(source)) from None

    def staging(self, key: str) -> Path:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        return Path(tmp)

    def upload(self, key: str, source: Path) -> str:
        path = self.path(key)
        try:
            with open(source, "rb+") as handle:
                os.fsync(handle.fileno())
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, path)  # a rename when staged beside it, as `staging` does
        except OSError as exc:
            Path(source).unlink(missing_ok=True)
            raise OSError(
                exc.errno,
                f"cannot write {path}: {exc.strerror or exc}; the previous version is kept",
            ) from exc
        fsync_dir(path.parent)
        return _version_of(path.stat())

    # -- conditional writes -------------------------------------------------------------

    def _write_aside(self, path: Path, data: bytes) -> tuple[Path, str]:
        """A fsynced temporary file next to `path` (0600) and the version it will have."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
                # A rename and a link keep inode, size and mtime: the version survives them.
                version = _version_of(os.fstat(handle.fileno()))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return Path(tmp), version

    def _put_new(self, path: Path, data: bytes) -> str:
        tmp, version = self._write_aside(path, data)
        try:
            os.link(tmp, path)  # fails if anything is there: of two writers, one wins
        except FileExistsError:
            raise PreconditionFailed(str(path), "it already exists") from None
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(path.parent)
        return version

    def _put_over(self, path: Path, data: bytes) -> str:
        tmp, version = self._write_aside(path, data)
        try:
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(path.parent)
        return version

    @contextlib.contextmanager
    def _locked_current(self, path: Path, version: str) -> Iterator[None]:
        """Hold `flock` on the file now at `path`, and check it is still `version`.

        A writer that replaces the file holds the lock of the inode it replaces, so a
        second conditional writer with the same version waits, then sees a new inode.
        """
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise PreconditionFailed(str(path), f"it no longer exists (wanted {version})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            held = os.fstat(fd)
            if (
                current is None
                or (current.st_dev, current.st_ino) != (held.st_dev, held.st_ino)
                or _version_of(current) != version
            ):
                raise PreconditionFailed(str(path), f"it changed since version {version}")
            yield
        finally:
            os.close(fd)  # closing drops the lock

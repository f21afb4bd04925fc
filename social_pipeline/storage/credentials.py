"""The credential store: refreshed and rotated tokens, one private file per account.

A rotating refresh token (TikTok, X) dies the moment the platform issues its successor,
so the successor must be on disk before anything else happens, and two processes must
never refresh the same account at once. Hence: a 0700 folder, 0600 files written
atomically (temp file, fsync, rename, fsync of the folder), and a per-account `flock`
that callers hold around "load, refresh, save".

    <root>/<platform>/<safe account id>.json    the credential (0600)
    <root>/<platform>/<safe account id>.lock    the account's lock file (0600, never removed)

No token ever appears in a repr, a log line or an error this module raises; errors about
a file name the file, never its content.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.storage.files import fsync_dir, safe_name

KINDS = ("oauth", "meta_user", "meta_page")
FORMAT_VERSION = 1
DIR_MODE = 0o700
FILE_MODE = 0o600

_DATETIME_FIELDS = (
    "access_expires_at",
    "refresh_expires_at",
    "last_refresh_at",
    "data_access_expires_at",
)
_OPTIONAL_TEXT_FIELDS = ("access_token", "refresh_token")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def lineage_of(refresh_token: str) -> str:
    """The sha256 hex a credential lineage is known by: never the token itself."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()


class CredentialStoreError(Exception):
    """The credential store cannot do what was asked; the message says which file."""


class CorruptCredentialFile(CredentialStoreError):
    """A credential file is not what the store writes. Names the file, never its content."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"credential file {path} is corrupt or unreadable ({reason}); "
            "move it away and re-authorize the account (`social-pipeline auth login`)"
        )
        self.path = path
        self.reason = reason


class CredentialLockTimeout(CredentialStoreError, TimeoutError):
    """Another process or thread held an account's credential lock for too long."""

    def __init__(self, platform: str, account_id: str, timeout: float, path: Path) -> None:
        super().__init__(
            f"timed out after {timeout:g}s waiting for the credential lock of {platform} "
            f"account {account_id} ({path}): another run is refreshing it or is stuck"
        )
        self.platform = platform
        self.account_id = account_id
        self.timeout = timeout
        self.path = path


@dataclass
class StoredCredential:
    """One account's tokens as the store keeps them. Tokens never show in repr/str."""

    platform: str
    account_id: str
    kind: str  # "oauth" | "meta_user" | "meta_page"
    access_token: str | None = field(repr=False)
    access_expires_at: datetime | None  # None: never expires, or unknown
    refresh_token: str | None = field(repr=False)
    refresh_expires_at: datetime | None
    # sha256 hex (`lineage_of`) of the refresh token, from the environment or a login,
    # this lineage of rotated tokens descends from ("" when it started without one).
    lineage: str
    last_refresh_at: datetime | None
    refreshes: int = 0
    data_access_expires_at: datetime | None = None  # Meta: 90 days after last activity
    scopes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise ValueError(f"unknown platform {self.platform!r}; use one of {PLATFORMS}")
        if self.kind not in KINDS:
            raise ValueError(f"unknown credential kind {self.kind!r}; use one of {KINDS}")
        if not self.account_id:
            raise ValueError(f"{self.platform} credential without an account id")
        for name in _DATETIME_FIELDS:
            value = getattr(self, name)
            if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
                raise ValueError(f"{name} must be a timezone-aware datetime or None")

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "platform": self.platform,
            "account_id": self.account_id,
            "kind": self.kind,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "lineage": self.lineage,
            "refreshes": self.refreshes,
            "scopes": list(self.scopes),
        }
        for name in _DATETIME_FIELDS:
            value: datetime | None = getattr(self, name)
            record[name] = value.astimezone(UTC).isoformat() if value is not None else None
        return record

    @classmethod
    def from_record(cls, record: Any) -> StoredCredential:
        """Raises ValueError naming the field at fault (never its value)."""
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
        if record.get("version") != FORMAT_VERSION:
            raise ValueError(f"format version is not {FORMAT_VERSION}")
        values: dict[str, Any] = {}
        for name in ("platform", "account_id", "kind"):
            values[name] = _text(record, name, required=True)
        # Empty when the lineage did not start from a refresh token (an access token alone).
        values["lineage"] = _text(record, "lineage", required=False) or ""
        if values["platform"] not in PLATFORMS:
            raise ValueError("field 'platform' is not a known platform")
        if values["kind"] not in KINDS:
            raise ValueError(f"field 'kind' is not one of {KINDS}")
        for name in _OPTIONAL_TEXT_FIELDS:
            values[name] = _text(record, name, required=False)
        for name in _DATETIME_FIELDS:
            values[name] = _moment(record, name)
        refreshes = record.get("refreshes", 0)
        if not isinstance(refreshes, int) or isinstance(refreshes, bool) or refreshes < 0:
            raise ValueError("field 'refreshes' is not a count")
        scopes = record.get("scopes", [])
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ValueError("field 'scopes' is not a list of strings")
        try:
            return cls(**values, refreshes=refreshes, scopes=list(scopes))
        except ValueError as exc:
            raise ValueError(str(exc)) from None


def _text(record: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = record.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise ValueError(f"field {name!r} is missing or not text")
    return value


def _moment(record: dict[str, Any], name: str) -> datetime | None:
    value = record.get(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise ValueError(f"field {name!r} is not an ISO timestamp with a time zone")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class HeldLock:
    """What `CredentialStore.lock` yields: whose lock, and how long the caller waited."""

    platform: str
    account_id: str
    path: Path
    waited: float  # seconds spent blocked behind another holder

    def __float__(self) -> float:
        return self.waited


class CredentialStore:
    """Private, crash-safe files of tokens: `CredentialStore(<data>/credentials)`.

    Safe across threads and processes for whole-file reads and writes. A caller that
    reads, refreshes and writes back holds `lock(platform, account_id)` around all three.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        _private_dir(self.root, parents=True)

    # -- files ------------------------------------------------------------------------

    def path(self, platform: str, account_id: str) -> Path:
        """Where the account's credential lives (the file may not exist)."""
        return self._folder(platform) / f"{safe_name(account_id)}.json"

    def load(self, platform: str, account_id: str) -> StoredCredential | None:
        path = self.path(platform, account_id)
        cred = self._read(path)
        if cred is None:
            return None
        if (cred.platform, cred.account_id) != (platform, account_id):
            raise CredentialStoreError(
                f"credential file {path} holds {cred.platform} account {cred.account_id}, "
                f"not {platform} account {account_id} (their ids map to the same file name)"
            )
        return cred

    def save(self, cred: StoredCredential) -> None:
        """Replace the account's file atomically; a crash leaves the previous one intact."""
        folder = self._private_folder(cred.platform)
        path = folder / f"{safe_name(cred.account_id)}.json"
        try:
            existing = self._read(path)
        except CorruptCredentialFile:
            existing = None  # replacing a broken file is how an owner recovers from it
        if existing is not None and existing.account_id != cred.account_id:
            raise CredentialStoreError(
                f"credential file {path} holds {existing.platform} account "
                f"{existing.account_id}; refusing to overwrite it with account "
                f"{cred.account_id} (their ids map to the same file name)"
            )
        payload = json.dumps(cred.to_record(), indent=2, sort_keys=True).encode() + b"\n"
        tmp = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
        try:
            # Created 0600 from its first moment: never readable by anyone else.
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, FILE_MODE
            )
        except OSError as exc:
            raise _write_error(path, cred, exc) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), FILE_MODE)  # whatever the umask was
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _write_error(path, cred, exc) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        try:
            fsync_dir(folder)
        except OSError as exc:
            raise _write_error(path, cred, exc) from None

    def all(self) -> list[StoredCredential]:
        """Every stored credential, by platform then file name."""
        found: list[StoredCredential] = []
        for platform in PLATFORMS:
            folder = self.root / platform
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.json")):
                if path.name.startswith("."):
                    continue
                cred = self._read(path)
                if cred is not None:
                    found.append(cred)
        return found

    # -- locking ----------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(
        self,
        platform: str,
        account_id: str,
        *,
        timeout: float | None = None,
        poll_interval: float = 0.05,
    ) -> Iterator[HeldLock]:
        """Hold the account's exclusive lock: across processes, and across threads too.

        Each call opens its own file description, so two threads of one process exclude
        each other like two processes do. The kernel drops the lock if the holder dies.
        `timeout=None` waits for as long as it takes.
        """
        folder = self._private_folder(platform)
        path = folder / f"{safe_name(account_id)}.lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC, FILE_MODE)
        except OSError as exc:
            raise CredentialStoreError(
                f"cannot open the credential lock of {platform} account {account_id} "
                f"({path}): {exc.strerror or exc}"
            ) from None
        try:
            with contextlib.suppress(PermissionError):
                os.fchmod(fd, FILE_MODE)
            started = time.monotonic()
            if timeout is None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            else:
                deadline = started + max(0.0, timeout)
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except OSError as exc:
                        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                            raise
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise CredentialLockTimeout(platform, account_id, timeout, path)
                    time.sleep(min(poll_interval, remaining))
            held = HeldLock(platform, account_id, path, time.monotonic() - started)
            try:
                yield held
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # -- internals --------------------------------------------------------------------

    def _folder(self, platform: str) -> Path:
        if platform not in PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}; use one of {PLATFORMS}")
        return self.root / platform

    def _private_folder(self, platform: str) -> Path:
        folder = self._folder(platform)
        _private_dir(folder, parents=False)
        return folder

    def _read(self, path: Path) -> StoredCredential | None:
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CorruptCredentialFile(path, exc.strerror or type(exc).__name__) from None
        try:
            with os.fdopen(fd, "rb") as handle:
                if stat.S_IMODE(os.fstat(handle.fileno()).st_mode) & 0o077:
                    # Written by hand or copied in: close it to others before reading on.
                    with contextlib.suppress(PermissionError):
                        os.fchmod(handle.fileno(), FILE_MODE)
                raw = handle.read()
        except OSError as exc:
            raise CorruptCredentialFile(path, exc.strerror or type(exc).__name__) from None
        try:
            record = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise CorruptCredentialFile(path, "not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            # The decoder's own message quotes nothing, but say only where it broke.
            raise CorruptCredentialFile(
                path, f"not JSON: broken at line {exc.lineno}, column {exc.colno}"
            ) from None
        try:
            return StoredCredential.from_record(record)
        except ValueError as exc:
            raise CorruptCredentialFile(path, str(exc)) from None


def _private_dir(folder: Path, *, parents: bool) -> None:
    try:
        folder.mkdir(mode=DIR_MODE, parents=parents, exist_ok=True)
        if stat.S_IMODE(folder.stat().st_mode) != DIR_MODE:
            os.chmod(folder, DIR_MODE)  # an existing, looser folder: close it
    except OSError as exc:
        raise CredentialStoreError(
            f"cannot make the credential folder {folder} private (0700): {exc.strerror or exc}"
        ) from None


def _write_error(path: Path, cred: StoredCredential, exc: OSError) -> OSError:
    # A full disk says "[Errno 28] No space left on device" and nothing else: name the file.
    message = (
        f"cannot save the credential of {cred.platform} account {cred.account_id} to "
        f"{path}: {exc.strerror or type(exc).__name__}; the previous version is kept"
    )
    return OSError(exc.errno, message) if exc.errno is not None else OSError(message)

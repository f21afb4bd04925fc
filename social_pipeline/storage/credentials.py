"""The credential store: refreshed and rotated tokens, one private object per account.

A rotating refresh token (TikTok, X) dies the moment the platform issues its successor,
so the successor must be stored before anything else happens, and two processes must
never refresh the same account at once. Hence: private objects written atomically, and a
per-account lock that callers hold around "load, refresh, save".

In a local folder: a 0700 folder, 0600 files (temp file, fsync, rename, fsync of the
folder), and an `flock` per account, which the kernel drops when its holder dies.

    <root>/<platform>/<safe account id>.json    the credential (0600)
    <root>/<platform>/<safe account id>.lock    the account's lock file (0600, never removed)

In object storage (`s3://bucket/prefix`): the same keys; credentials are encrypted at
rest (SSE-S3) and never given an ACL, and the lock is a lease object (`leases.py`) that
holds no token, so two machines never refresh one account at once.

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
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.storage.files import safe_name
from social_pipeline.storage.leases import LeaseTimeout, lease
from social_pipeline.storage.objects import ObjectStore, ObjectStoreError, store_at

KINDS = ("oauth", "meta_user", "meta_page")
FORMAT_VERSION = 1
DIR_MODE = 0o700
FILE_MODE = 0o600
# How long an object-storage lock outlives a holder that died. A live holder renews it
# every third of this, however long its refresh takes.
LEASE_SECONDS = 60.0

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

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(
            f"credential file {path} is corrupt or unreadable ({reason}); "
            "move it away and re-authorize the account (`social-pipeline auth login`)"
        )
        self.path = path
        self.reason = reason


class CredentialLockTimeout(CredentialStoreError, TimeoutError):
    """Another process or thread held an account's credential lock for too long."""

    def __init__(
        self,
        platform: str,
        account_id: str,
        timeout: float,
        path: Path | str,
        holder: str | None = None,
    ) -> None:
        held_by = f"; held by {holder}" if holder else ""
        super().__init__(
            f"timed out after {timeout:g}s waiting for the credential lock of {platform} "
            f"account {account_id} ({path}{held_by}): another run is refreshing it or is stuck"
        )
        self.platform = platform
        self.account_id = account_id
        self.timeout = timeout
        self.path = path
        self.holder = holder


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
    path: Path | str  # the lock file, or the lease object's s3:// URL
    waited: float  # seconds spent blocked behind another holder

    def __float__(self) -> float:
        return self.waited


class CredentialStore:
    """Private, crash-safe credentials: `CredentialStore(<data>/credentials)`.

    `root` is a folder, an `s3://bucket/prefix` URL or an ObjectStore. Safe across
    threads, processes and (in object storage) machines for whole-credential reads and
    writes. A caller that reads, refreshes and writes back holds
    `lock(platform, account_id)` around all three.
    """

    def __init__(self, root: Path | str | ObjectStore) -> None:
        self.objects = store_at(root)
        local = self.objects.local_root
        # The folder when local (as it always was), else the s3:// URL.
        self.root: Path | str = local if local is not None else self.objects.location
        if local is not None:
            _private_dir(local, parents=True)

    # -- files ------------------------------------------------------------------------

    def path(self, platform: str, account_id: str) -> Path:
        """Where the account's credential file lives (it may not exist); local only."""
        local = self.objects.local_root
        if local is None:
            raise CredentialStoreError(
                f"the credential store {self.root} is object storage, not a folder: "
                "use location() for a name"
            )
        return local / self._key(platform, account_id)

    def location(self, platform: str, account_id: str) -> str:
        """The account's credential as people name it: a path or an s3:// URL."""
        return self.objects.describe(self._key(platform, account_id))

    def load(self, platform: str, account_id: str) -> StoredCredential | None:
        key = self._key(platform, account_id)
        cred = self._read(key)
        if cred is None:
            return None
        if (cred.platform, cred.account_id) != (platform, account_id):
            raise CredentialStoreError(
                f"credential file {self.objects.describe(key)} holds {cred.platform} account "
                f"{cred.account_id}, not {platform} account {account_id} (their ids map to the "
                "same file name)"
            )
        return cred

    def save(self, cred: StoredCredential) -> None:
        """Replace the account's credential atomically; a crash leaves the previous one."""
        key = self._key(cred.platform, cred.account_id)
        where = self.objects.describe(key)
        local = self.objects.local_root
        if local is not None:
            _private_dir(local / cred.platform, parents=False)
        try:
            existing = self._read(key)
        except CorruptCredentialFile:
            existing = None  # replacing a broken file is how an owner recovers from it
        except CredentialStoreError as exc:  # object storage out of reach
            raise CredentialStoreError(
                f"cannot save the credential of {cred.platform} account {cred.account_id}: "
                f"{exc}; the previous version is kept"
            ) from None
        if existing is not None and existing.account_id != cred.account_id:
            raise CredentialStoreError(
                f"credential file {where} holds {existing.platform} account "
                f"{existing.account_id}; refusing to overwrite it with account "
                f"{cred.account_id} (their ids map to the same file name)"
            )
        payload = json.dumps(cred.to_record(), indent=2, sort_keys=True).encode() + b"\n"
        try:
            # 0600 from its first moment locally; encrypted at rest and ACL-free on S3.
            self.objects.put(key, payload, private=True)
        except OSError as exc:
            raise _write_error(where, cred, exc) from None
        except ObjectStoreError as exc:
            raise CredentialStoreError(
                f"cannot save the credential of {cred.platform} account {cred.account_id}: "
                f"{exc}; the previous version is kept"
            ) from None

    def all(self) -> list[StoredCredential]:
        """Every stored credential, by platform then file name."""
        found: list[StoredCredential] = []
        for platform in PLATFORMS:
            try:
                listed = self.objects.list(f"{platform}/")
            except ObjectStoreError as exc:
                raise CredentialStoreError(str(exc)) from None
            for info in listed:
                name = info.key[len(platform) + 1 :]
                if "/" in name or name.startswith(".") or not name.endswith(".json"):
                    continue
                cred = self._read(info.key)
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

        Locally an `flock`: each call opens its own file description, so two threads of
        one process exclude each other like two processes do, and the kernel drops the
        lock if the holder dies. In object storage a lease (across machines too) that a
        dead holder keeps for at most LEASE_SECONDS. `timeout=None` waits for as long as
        it takes.
        """
        local = self.objects.local_root
        if local is None:
            with self._lease(platform, account_id, timeout, poll_interval) as held:
                yield held
            return
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

    @contextlib.contextmanager
    def _lease(
        self, platform: str, account_id: str, timeout: float | None, poll_interval: float
    ) -> Iterator[HeldLock]:
        key = f"{platform}/{safe_name(account_id)}.lock"
        self._folder(platform)  # refuses unknown platforms
        held_lease = lease(
            self.objects,
            key,
            ttl_seconds=LEASE_SECONDS,
            timeout=timeout,
            poll_interval=poll_interval,
        )
        try:
            taken = held_lease.__enter__()
        except LeaseTimeout as exc:
            assert timeout is not None
            until = exc.until.isoformat(timespec="seconds") if exc.until else "?"
            raise CredentialLockTimeout(
                platform, account_id, timeout, exc.location, holder=f"{exc.holder} until {until}"
            ) from None
        except ObjectStoreError as exc:
            raise CredentialStoreError(
                f"cannot take the credential lock of {platform} account {account_id}: {exc}"
            ) from None
        with contextlib.ExitStack() as stack:
            stack.push(held_lease)  # released however the block ends
            yield HeldLock(platform, account_id, taken.location, taken.waited)

    # -- internals --------------------------------------------------------------------

    def _key(self, platform: str, account_id: str) -> str:
        self._folder(platform)
        return f"{platform}/{safe_name(account_id)}.json"

    def _folder(self, platform: str) -> str:
        if platform not in PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}; use one of {PLATFORMS}")
        return platform

    def _private_folder(self, platform: str) -> Path:
        local = self.objects.local_root
        assert local is not None
        folder = local / self._folder(platform)
        _private_dir(folder, parents=False)
        return folder

    def _read(self, key: str) -> StoredCredential | None:
        local = self.objects.local_root
        if local is not None:
            path = local / key
            raw = _read_private_file(path)
            return None if raw is None else _parse(path, raw)
        try:
            raw = self.objects.get(key)
        except ObjectStoreError as exc:
            raise CredentialStoreError(str(exc)) from None
        return None if raw is None else _parse(self.objects.describe(key), raw)


def _read_private_file(path: Path) -> bytes | None:
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
            return handle.read()
    except OSError as exc:
        raise CorruptCredentialFile(path, exc.strerror or type(exc).__name__) from None


def _parse(where: Path | str, raw: bytes) -> StoredCredential:
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CorruptCredentialFile(where, "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        # The decoder's own message quotes nothing, but say only where it broke.
        raise CorruptCredentialFile(
            where, f"not JSON: broken at line {exc.lineno}, column {exc.colno}"
        ) from None
    try:
        return StoredCredential.from_record(record)
    except ValueError as exc:
        raise CorruptCredentialFile(where, str(exc)) from None


def _private_dir(folder: Path, *, parents: bool) -> None:
    try:
        folder.mkdir(mode=DIR_MODE, parents=parents, exist_ok=True)
        if stat.S_IMODE(folder.stat().st_mode) != DIR_MODE:
            os.chmod(folder, DIR_MODE)  # an existing, looser folder: close it
    except OSError as exc:
        raise CredentialStoreError(
            f"cannot make the credential folder {folder} private (0700): {exc.strerror or exc}"
        ) from None


def _write_error(path: Path | str, cred: StoredCredential, exc: OSError) -> OSError:
    # A full disk says "[Errno 28] No space left on device" and nothing else: name the file.
    # The local store already named it: give the reason once, from the original error.
    cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
    message = (
        f"cannot save the credential of {cred.platform} account {cred.account_id} to "
        f"{path}: {cause.strerror or type(cause).__name__}; the previous version is kept"
    )
    return OSError(exc.errno, message) if exc.errno is not None else OSError(message)

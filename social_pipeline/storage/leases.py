"""A lock that works across machines: a lease object written with conditional writes.

    with lease(store, "credentials/x/42.lock", ttl_seconds=60, owner="host:pid"):
        ...  # nobody else holds this lease meanwhile

Taking it is `put(if_absent=True)` of {owner, nonce, expires_at}. A lease past its
expiry (its holder died or hung) is taken over with `put(if_version=<the one read>)`, so
of two takers exactly one wins. While held, a background thread renews it every third
of its life with the same conditional put; release is a conditional delete, so a holder
never removes a lease someone else took over. Expiry is wall-clock time: the ttl must
dwarf the clock skew between machines. The object holds no secret.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from social_pipeline.storage.objects import ObjectStore, ObjectStoreError, PreconditionFailed


class LeaseTimeout(ObjectStoreError, TimeoutError):
    """Someone else held the lease for longer than the caller would wait."""

    def __init__(self, location: str, holder: str, until: datetime | None, timeout: float):
        until_text = until.isoformat(timespec="seconds") if until else "an unknown time"
        super().__init__(
            f"timed out after {timeout:g}s: lock {location} held by {holder} until {until_text}"
        )
        self.location = location
        self.holder = holder
        self.until = until
        self.timeout = timeout


class LeaseLost(ObjectStoreError):
    """The lease expired or was taken over while its holder was still working."""


@dataclass(frozen=True)
class Lease:
    key: str
    location: str
    owner: str
    expires_at: datetime  # of the first write; renewals push it on
    waited: float  # seconds spent waiting for another holder


@dataclass(frozen=True)
class _Holder:
    owner: str
    nonce: str
    expires_at: float  # unix seconds

    @classmethod
    def parse(cls, data: bytes) -> _Holder | None:
        try:
            record = json.loads(data)
            return cls(str(record["owner"]), str(record["nonce"]), float(record["expires_at"]))
        except (ValueError, KeyError, TypeError):
            return None  # not a lease we wrote: treated as expired

    def encode(self) -> bytes:
        until = datetime.fromtimestamp(self.expires_at, UTC).isoformat()
        record = {"owner": self.owner, "nonce": self.nonce, "expires_at": self.expires_at}
        return json.dumps({**record, "expires": until}).encode()


def default_owner() -> str:
    """Who holds a lease, for people reading a timeout: host, process and thread."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


@contextlib.contextmanager
def lease(
    store: ObjectStore,
    key: str,
    *,
    ttl_seconds: float,
    owner: str | None = None,
    timeout: float | None = None,
    poll_interval: float = 0.1,
    renew: bool = True,
) -> Iterator[Lease]:
    """Hold the lease at `key` until the block ends. `timeout=None` waits as long as it takes.

    Raises LeaseTimeout naming the holder and its expiry, and LeaseLost on leaving the
    block if the lease was taken over meanwhile (a holder that stalled past its ttl).
    """
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    owner = owner or default_owner()
    nonce = secrets.token_hex(16)
    started = time.monotonic()
    version, expires_at = _acquire(store, key, owner, nonce, ttl_seconds, timeout, poll_interval)
    held = _Held(store, key, owner, nonce, ttl_seconds, version)
    renewer = threading.Thread(target=held.renew_until_released, daemon=True) if renew else None
    if renewer:
        renewer.start()
    body_failed = False
    try:
        yield Lease(
            key,
            store.describe(key),
            owner,
            datetime.fromtimestamp(expires_at, UTC),
            time.monotonic() - started,
        )
    except BaseException:
        body_failed = True
        raise
    finally:
        held.released.set()
        if renewer:
            renewer.join()
        lost = held.release()
        if lost and not body_failed:
            raise LeaseLost(
                f"the lease {store.describe(key)} of {owner} expired or was taken over "
                "while it was held: work done under it may have overlapped another holder's"
            )


def _acquire(
    store: ObjectStore,
    key: str,
    owner: str,
    nonce: str,
    ttl: float,
    timeout: float | None,
    poll_interval: float,
) -> tuple[str, float]:
    deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
    while True:
        now = time.time()
        mine = _Holder(owner, nonce, now + ttl)
        try:
            return store.put(key, mine.encode(), if_absent=True, private=True), mine.expires_at
        except PreconditionFailed:
            pass
        current = store.get_versioned(key)
        if current is None:
            continue  # released between our two calls: try again at once
        data, version = current
        holder = _Holder.parse(data)
        if holder is not None and holder.nonce == nonce:
            # Our own put landed but its answer was lost and retried: it is ours.
            return version, holder.expires_at
        if holder is None or holder.expires_at <= now:
            try:
                return store.put(
                    key, mine.encode(), if_version=version, private=True
                ), mine.expires_at
            except PreconditionFailed:
                continue  # another taker won, or the holder renewed: look again
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            assert timeout is not None
            until = datetime.fromtimestamp(holder.expires_at, UTC) if holder else None
            raise LeaseTimeout(store.describe(key), holder.owner if holder else "?", until, timeout)
        pause = poll_interval * random.uniform(0.5, 1.5)  # takers do not poll in step
        time.sleep(pause if remaining is None else min(pause, remaining))


class _Held:
    """The lease while held: its current version, renewed in the background."""

    def __init__(
        self, store: ObjectStore, key: str, owner: str, nonce: str, ttl: float, version: str
    ) -> None:
        self.store, self.key, self.owner, self.nonce, self.ttl = store, key, owner, nonce, ttl
        self.version = version
        self.expires_at = time.time() + ttl
        self.lost = False
        self.lock = threading.Lock()
        self.released = threading.Event()

    def renew_until_released(self) -> None:
        while not self.released.wait(self.ttl / 3):
            with self.lock:
                if self.lost:
                    return
                mine = _Holder(self.owner, self.nonce, time.time() + self.ttl)
                try:
                    self.version = self.store.put(
                        self.key, mine.encode(), if_version=self.version, private=True
                    )
                    self.expires_at = mine.expires_at
                except PreconditionFailed:
                    self.lost = True
                    return
                except (ObjectStoreError, OSError):
                    # The store hiccuped: try again next time while the lease still runs.
                    if time.time() >= self.expires_at:
                        self.lost = True
                        return

    def release(self) -> bool:
        """Delete the lease if it is still ours; True when it had been lost."""
        with self.lock:
            if self.lost:
                return True
            try:
                self.store.delete(self.key, if_version=self.version)
            except PreconditionFailed:
                return True
            return False

"""The credential store: private files, atomic saves, and a lock processes and threads share."""

from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing
import os
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from social_pipeline.storage import credentials
from social_pipeline.storage.credentials import (
    CorruptCredentialFile,
    CredentialLockTimeout,
    CredentialStore,
    CredentialStoreError,
    StoredCredential,
    lineage_of,
)

ACCESS = "acc-S3CRET-tok-0001"
REFRESH = "ref-S3CRET-tok-0001"
NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
HOLD = 0.6  # seconds one holder keeps the lock while the other waits


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def make_cred(
    account_id: str = "-000abc", platform: str = "tiktok", **overrides: object
) -> StoredCredential:
    values: dict[str, object] = {
        "platform": platform,
        "account_id": account_id,
        "kind": "oauth",
        "access_token": ACCESS,
        "access_expires_at": NOW + timedelta(hours=2),
        "refresh_token": REFRESH,
        "refresh_expires_at": NOW + timedelta(days=180),
        "lineage": lineage_of(REFRESH),
        "last_refresh_at": NOW,
    }
    values.update(overrides)
    return StoredCredential(**values)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> CredentialStore:
    return CredentialStore(tmp_path / "data" / "credentials")


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The loosest umask: modes must come from the store, not from the environment."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


# -- modes ----------------------------------------------------------------------------


def test_folders_are_0700_and_files_0600_even_with_an_open_umask(
    tmp_path: Path, open_umask: None
) -> None:
    store = CredentialStore(tmp_path / "data" / "credentials")
    store.save(make_cred())

    assert mode(store.root) == 0o700
    assert mode(store.root / "tiktok") == 0o700
    path = store.path("tiktok", "-000abc")
    assert path == store.root / "tiktok" / "-000abc.json"
    assert mode(path) == 0o600

    for n in range(3):  # every re-save replaces the file: still 0600
        store.save(make_cred(refreshes=n + 1))
        assert mode(path) == 0o600
    with store.lock("tiktok", "-000abc"):
        assert mode(store.root / "tiktok" / "-000abc.lock") == 0o600


def test_a_pre_existing_looser_folder_is_closed_to_0700(tmp_path: Path) -> None:
    root = tmp_path / "credentials"
    (root / "x").mkdir(parents=True)
    root.chmod(0o755)
    (root / "x").chmod(0o777)

    store = CredentialStore(root)
    assert mode(root) == 0o700
    store.save(make_cred("42", platform="x"))
    assert mode(root / "x") == 0o700
    assert mode(store.path("x", "42")) == 0o600


def test_a_file_someone_loosened_is_closed_again_when_read(store: CredentialStore) -> None:
    store.save(make_cred())
    path = store.path("tiktok", "-000abc")
    path.chmod(0o644)

    assert store.load("tiktok", "-000abc") is not None
    assert mode(path) == 0o600


# -- round trip -----------------------------------------------------------------------


def test_round_trip_keeps_every_field_and_stores_times_as_utc_iso(
    store: CredentialStore,
) -> None:
    paris = timezone(timedelta(hours=1))
    cred = make_cred(
        "1784",
        platform="facebook",
        kind="meta_page",
        access_expires_at=None,
        refresh_token=None,
        refresh_expires_at=None,
        last_refresh_at=datetime(2026, 11, 20, 7, 30, tzinfo=paris),
        refreshes=3,
        lineage="",  # started from a long-lived token, not a refresh token
        data_access_expires_at=NOW + timedelta(days=90),
        scopes=["pages_show_list", "read_insights"],
    )
    store.save(cred)

    loaded = store.load("facebook", "1784")
    assert loaded == cred
    assert loaded is not None and loaded.last_refresh_at == datetime(
        2026, 11, 20, 6, 30, tzinfo=UTC
    )
    record = json.loads(store.path("facebook", "1784").read_text())
    assert record["last_refresh_at"] == "2026-11-20T06:30:00+00:00"
    assert record["access_expires_at"] is None
    assert store.load("facebook", "other") is None
    assert store.load("x", "1784") is None


def test_all_lists_every_account_across_platforms(store: CredentialStore) -> None:
    store.save(make_cred("b"))
    store.save(make_cred("a"))
    store.save(make_cred("9", platform="x"))

    assert [(c.platform, c.account_id) for c in store.all()] == [
        ("x", "9"),
        ("tiktok", "a"),
        ("tiktok", "b"),
    ]
    assert CredentialStore(store.root).all() == store.all()


def test_account_ids_are_made_safe_for_file_names(store: CredentialStore) -> None:
    store.save(make_cred("urn:li:organization:5", platform="linkedin"))

    assert store.path("linkedin", "urn:li:organization:5").name == "urn_li_organization_5.json"
    loaded = store.load("linkedin", "urn:li:organization:5")
    assert loaded is not None and loaded.account_id == "urn:li:organization:5"


def test_two_ids_with_the_same_file_name_never_overwrite_each_other(
    store: CredentialStore,
) -> None:
    store.save(make_cred("urn:li:organization:5", platform="linkedin"))

    with pytest.raises(CredentialStoreError, match="refusing to overwrite"):
        store.save(make_cred("urn_li_organization_5", platform="linkedin"))
    with pytest.raises(CredentialStoreError, match="same file name"):
        store.load("linkedin", "urn_li_organization_5")
    loaded = store.load("linkedin", "urn:li:organization:5")
    assert loaded is not None and loaded.access_token == ACCESS


def test_unknown_platforms_and_kinds_and_naive_times_are_refused(
    store: CredentialStore,
) -> None:
    with pytest.raises(ValueError, match="unknown platform"):
        store.load("../etc", "1")
    with pytest.raises(ValueError, match="kind"):
        make_cred(kind="password")
    with pytest.raises(ValueError, match="timezone-aware"):
        make_cred(access_expires_at=datetime(2026, 11, 20))


def test_lineage_is_a_sha256_of_the_refresh_token_never_the_token() -> None:
    assert lineage_of(REFRESH) == hashlib.sha256(REFRESH.encode()).hexdigest()
    assert REFRESH not in lineage_of(REFRESH)


# -- atomic saves ---------------------------------------------------------------------


def test_saves_leave_no_temporary_files(store: CredentialStore) -> None:
    for n in range(5):
        store.save(make_cred(refreshes=n))

    assert sorted(p.name for p in (store.root / "tiktok").iterdir()) == ["-000abc.json"]


def test_a_crash_mid_write_keeps_the_previous_file(
    store: CredentialStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save(make_cred())
    path = store.path("tiktok", "-000abc")
    before = path.read_bytes()

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(credentials.os, "fsync", no_space)
    with pytest.raises(OSError) as caught:
        store.save(make_cred(access_token="new-S3CRET-access", refreshes=1))

    message = str(caught.value)
    assert "No space left on device" in message and str(path) in message
    assert "previous version is kept" in message
    assert "new-S3CRET-access" not in message and ACCESS not in message
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["-000abc.json"]


def test_an_interrupt_between_write_and_rename_keeps_the_previous_file(
    store: CredentialStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save(make_cred())

    def killed(src: object, dst: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(credentials.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        store.save(make_cred(access_token="new-S3CRET-access"))
    monkeypatch.undo()

    loaded = store.load("tiktok", "-000abc")
    assert loaded is not None and loaded.access_token == ACCESS
    assert [p.name for p in (store.root / "tiktok").iterdir()] == ["-000abc.json"]


# -- no tokens anywhere ---------------------------------------------------------------


def test_repr_and_str_never_show_a_token() -> None:
    cred = make_cred()

    for text in (repr(cred), str(cred), f"{cred}", str([cred]), str(ValueError(cred))):
        assert ACCESS not in text and REFRESH not in text
        assert "-000abc" in text  # still says whose credential it is


def test_a_corrupt_file_is_named_without_its_content(store: CredentialStore) -> None:
    store.save(make_cred())
    path = store.path("tiktok", "-000abc")
    path.write_text('{"access_token": "leaked-S3CRET-value", truncated')

    with pytest.raises(CorruptCredentialFile) as caught:
        store.load("tiktok", "-000abc")
    assert str(path) in str(caught.value)
    assert "leaked-S3CRET-value" not in str(caught.value)
    assert caught.value.__suppress_context__  # no chained decoder error quoting the file
    with pytest.raises(CorruptCredentialFile):
        store.all()


def test_a_file_with_wrong_values_names_the_field_not_the_value(
    store: CredentialStore,
) -> None:
    store.save(make_cred())
    path = store.path("tiktok", "-000abc")
    record = json.loads(path.read_text())
    record["refresh_expires_at"] = "leaked-S3CRET-value"
    path.write_text(json.dumps(record))

    with pytest.raises(CorruptCredentialFile) as caught:
        store.load("tiktok", "-000abc")
    message = str(caught.value)
    assert str(path) in message and "refresh_expires_at" in message
    assert "leaked-S3CRET-value" not in message and ACCESS not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__

    store.save(make_cred())  # a fresh login replaces the broken file
    assert store.load("tiktok", "-000abc") is not None


# -- the lock -------------------------------------------------------------------------


def _hold_lock(root: str, held: object, release_after: float) -> None:
    store = CredentialStore(Path(root))
    with store.lock("x", "42"):
        held.set()  # type: ignore[attr-defined]
        time.sleep(release_after)


def _hold_lock_and_die(root: str, held: object) -> None:
    store = CredentialStore(Path(root))
    with store.lock("x", "42"):
        held.set()  # type: ignore[attr-defined]
        os._exit(1)  # no clean-up: only the kernel can release the lock


def _increment(root: str, times: int) -> None:
    store = CredentialStore(Path(root))
    for _ in range(times):
        with store.lock("x", "42"):
            cred = store.load("x", "42")
            assert cred is not None
            time.sleep(0.002)  # widen the read-modify-write window
            cred.refreshes += 1
            store.save(cred)


def test_the_lock_makes_another_process_wait(store: CredentialStore) -> None:
    ctx = multiprocessing.get_context("spawn")
    held = ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(store.root), held, HOLD))
    holder.start()
    try:
        assert held.wait(30), "the holder never took the lock"
        started = time.monotonic()
        with store.lock("x", "42") as lock:
            elapsed = time.monotonic() - started
        assert lock.waited >= HOLD * 0.5 and float(lock) == lock.waited
        assert abs(lock.waited - elapsed) < 0.1
        assert lock.account_id == "42" and lock.path.name == "42.lock"
    finally:
        holder.join(30)
    assert holder.exitcode == 0


def test_read_modify_write_under_the_lock_loses_nothing_across_processes(
    store: CredentialStore,
) -> None:
    store.save(make_cred("42", platform="x", refreshes=0))
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_increment, args=(str(store.root), 15)) for _ in range(2)]
    for w in workers:
        w.start()
    _increment(str(store.root), 15)
    for w in workers:
        w.join(60)

    assert [w.exitcode for w in workers] == [0, 0]
    cred = store.load("x", "42")
    assert cred is not None and cred.refreshes == 45


def test_a_dead_holder_releases_the_lock(store: CredentialStore) -> None:
    ctx = multiprocessing.get_context("spawn")
    held = ctx.Event()
    holder = ctx.Process(target=_hold_lock_and_die, args=(str(store.root), held))
    holder.start()
    assert held.wait(30)
    holder.join(30)

    with store.lock("x", "42", timeout=5) as lock:
        assert lock.waited < 5


def test_the_lock_serializes_threads_of_one_process(store: CredentialStore) -> None:
    held = threading.Event()
    waits: list[float] = []

    def holder() -> None:
        with store.lock("x", "42"):
            held.set()
            time.sleep(HOLD)

    def waiter() -> None:
        held.wait(10)
        with store.lock("x", "42") as lock:
            waits.append(lock.waited)

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert len(waits) == 1 and waits[0] >= HOLD * 0.5


def test_read_modify_write_under_the_lock_loses_nothing_across_threads(
    store: CredentialStore,
) -> None:
    store.save(make_cred("42", platform="x", refreshes=0))
    threads = [threading.Thread(target=_increment, args=(str(store.root), 10)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    cred = store.load("x", "42")
    assert cred is not None and cred.refreshes == 40


def test_the_lock_times_out_naming_the_account(store: CredentialStore) -> None:
    with store.lock("x", "42"):
        started = time.monotonic()
        with pytest.raises(CredentialLockTimeout) as caught, store.lock("x", "42", timeout=0.2):
            pass
        assert 0.15 <= time.monotonic() - started < 2
    assert "x account 42" in str(caught.value) and "0.2s" in str(caught.value)
    assert isinstance(caught.value, TimeoutError)
    with store.lock("x", "42", timeout=0.2) as lock:  # free again once released
        assert lock.waited < 0.2


def test_different_accounts_do_not_wait_for_each_other(store: CredentialStore) -> None:
    with store.lock("x", "42"), store.lock("x", "43", timeout=0.1) as other:
        assert other.waited < 0.1
    with store.lock("x", "42"), store.lock("tiktok", "42", timeout=0.1) as other:
        assert other.waited < 0.1

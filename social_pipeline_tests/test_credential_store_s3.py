"""The credential store in object storage: encrypted at rest, and a lock across machines."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from social_pipeline.storage.credentials import (
    CorruptCredentialFile,
    CredentialLockTimeout,
    CredentialStore,
    CredentialStoreError,
    StoredCredential,
    lineage_of,
)
from social_pipeline.storage.objects import store_at
from social_pipeline.storage.objects_s3 import S3ObjectStore
from social_pipeline_tests.s3_server import SECRET_ACCESS_KEY, fresh_bucket, shared_s3_server

ACCESS = "acc-S3CRET-tok-0001"
REFRESH = "ref-S3CRET-tok-0001"
ROTATED_ACCESS = "acc-S3CRET-tok-0002"
ROTATED_REFRESH = "ref-S3CRET-tok-0002"
NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


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
def url(monkeypatch: pytest.MonkeyPatch) -> str:
    return fresh_bucket(monkeypatch) + "/credentials"


@pytest.fixture
def store(url: str) -> CredentialStore:
    return CredentialStore(url)


def bucket_objects(url: str) -> dict[str, bytes]:
    """Every object in the test's bucket, read behind the store's back."""
    bucket = url[len("s3://") :].split("/")[0]
    client = shared_s3_server().client()
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {
        item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        for item in listed
    }


def test_credentials_round_trip_through_object_storage(store: CredentialStore, url: str) -> None:
    store.save(make_cred("b"))
    store.save(make_cred("a", scopes=["video.list"]))
    store.save(make_cred("9", platform="x"))

    assert store.load("tiktok", "a") == make_cred("a", scopes=["video.list"])
    assert store.load("tiktok", "missing") is None
    assert [(c.platform, c.account_id) for c in store.all()] == [
        ("x", "9"),
        ("tiktok", "a"),
        ("tiktok", "b"),
    ]
    assert CredentialStore(store_at(url)).all() == store.all()
    assert store.root == url
    assert store.location("tiktok", "a") == f"{url}/tiktok/a.json"
    with pytest.raises(CredentialStoreError, match="object storage, not a folder"):
        store.path("tiktok", "a")


def test_credential_objects_are_encrypted_at_rest(store: CredentialStore, url: str) -> None:
    store.save(make_cred())
    objects = store.objects
    assert isinstance(objects, S3ObjectStore)

    head = (
        shared_s3_server()
        .client()
        .head_object(Bucket=objects.bucket, Key=f"{objects.prefix}/tiktok/-000abc.json")
    )
    assert head["ServerSideEncryption"] == "AES256"


def test_two_ids_with_the_same_object_name_never_overwrite_each_other(
    store: CredentialStore,
) -> None:
    store.save(make_cred("urn:li:organization:5", platform="linkedin"))

    with pytest.raises(CredentialStoreError, match="refusing to overwrite"):
        store.save(make_cred("urn_li_organization_5", platform="linkedin"))
    with pytest.raises(CredentialStoreError, match="same file name"):
        store.load("linkedin", "urn_li_organization_5")


def test_a_corrupt_object_is_named_without_its_content(store: CredentialStore, url: str) -> None:
    store.objects.put("tiktok/-000abc.json", b'{"access_token": "leaked-S3CRET-value", trunc')

    with pytest.raises(CorruptCredentialFile) as caught:
        store.load("tiktok", "-000abc")
    assert f"{url}/tiktok/-000abc.json" in str(caught.value)
    assert "leaked-S3CRET-value" not in str(caught.value)
    store.save(make_cred())  # a fresh login replaces the broken object
    assert store.load("tiktok", "-000abc") is not None


def test_an_unreachable_store_says_which_credential_and_no_secret(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    store = CredentialStore(url)

    with pytest.raises(CredentialStoreError) as caught:
        store.save(make_cred())
    message = str(caught.value)
    assert "tiktok account -000abc" in message and f"{url}/tiktok/-000abc.json" in message
    assert "previous version is kept" in message
    for secret in (SECRET_ACCESS_KEY, ACCESS, REFRESH):
        assert secret not in message and secret not in repr(caught.value.__context__)


# -- the lock across processes (machines, as far as the store can tell) ---------------


def _increment(url: str, times: int) -> None:
    store = CredentialStore(url)
    for _ in range(times):
        with store.lock("x", "42", timeout=60):
            cred = store.load("x", "42")
            assert cred is not None
            time.sleep(0.002)  # widen the read-modify-write window
            cred.refreshes += 1
            store.save(cred)


def test_read_modify_write_under_the_lock_loses_nothing_across_processes(
    store: CredentialStore, url: str
) -> None:
    store.save(make_cred("42", platform="x", refreshes=0))
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_increment, args=(url, 6)) for _ in range(2)]
    for w in workers:
        w.start()
    threads = [threading.Thread(target=_increment, args=(url, 6)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for w in workers:
        w.join(120)

    assert [w.exitcode for w in workers] == [0, 0]
    cred = store.load("x", "42")
    assert cred is not None and cred.refreshes == 24


def _refresh_if_stale(url: str, calls: str, start: Any) -> None:
    """What the credential provider does: reuse a fresh token, else refresh under the lock."""
    store = CredentialStore(url)
    start.wait(60)
    cred = store.load("tiktok", "-000abc")
    if cred is not None and cred.refreshes > 0:
        return
    with store.lock("tiktok", "-000abc", timeout=60):
        cred = store.load("tiktok", "-000abc")  # whoever held the lock may have refreshed
        assert cred is not None
        if cred.refreshes > 0:
            return
        with open(calls, "a") as handle:  # the token endpoint, which rotates the token
            handle.write(f"{os.getpid()} presented {cred.refresh_token}\n")
        time.sleep(0.3)
        cred.access_token, cred.refresh_token = ROTATED_ACCESS, ROTATED_REFRESH
        cred.refreshes += 1
        store.save(cred)


def test_two_processes_needing_a_refresh_refresh_once(
    store: CredentialStore, url: str, tmp_path: Path
) -> None:
    store.save(make_cred(access_expires_at=NOW - timedelta(minutes=1)))
    calls = tmp_path / "token-endpoint-calls.txt"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    workers = [
        ctx.Process(target=_refresh_if_stale, args=(url, str(calls), start)) for _ in range(2)
    ]
    for w in workers:
        w.start()
    start.set()
    for w in workers:
        w.join(120)

    assert [w.exitcode for w in workers] == [0, 0]
    assert len(calls.read_text().splitlines()) == 1  # never a superseded token presented
    cred = store.load("tiktok", "-000abc")
    assert cred is not None and cred.refreshes == 1 and cred.refresh_token == ROTATED_REFRESH


def test_the_lock_times_out_naming_the_account_and_its_holder(store: CredentialStore) -> None:
    with store.lock("x", "42") as held:
        assert str(held.path).endswith("/x/42.lock") and str(held.path).startswith("s3://")
        with pytest.raises(CredentialLockTimeout) as caught, store.lock("x", "42", timeout=0.3):
            pass
    message = str(caught.value)
    assert "x account 42" in message and "0.3s" in message and "held by" in message
    assert isinstance(caught.value, TimeoutError)
    with store.lock("x", "42", timeout=0.3) as lock:  # free again once released
        assert lock.waited < 0.3
    with store.lock("x", "42"), store.lock("x", "43", timeout=0.1) as other:
        assert other.waited < 0.1  # another account does not wait


def test_no_token_is_in_any_object_but_the_encrypted_credentials(
    store: CredentialStore, url: str
) -> None:
    store.save(make_cred())
    store.save(make_cred("42", platform="x"))
    client = shared_s3_server().client()
    bucket = url[len("s3://") :].split("/")[0]
    with store.lock("tiktok", "-000abc"):
        during = bucket_objects(url)  # the lease object exists now
        encryption = {
            key: client.head_object(Bucket=bucket, Key=key).get("ServerSideEncryption")
            for key in during
        }
    after = bucket_objects(url)

    assert "data/credentials/tiktok/-000abc.lock" in during
    assert set(encryption.values()) == {"AES256"}  # the lease too: private like the rest
    for objects in (during, after):
        holding_tokens = sorted(
            key for key, body in objects.items() if ACCESS.encode() in body or b"S3CRET" in body
        )
        assert holding_tokens == [
            "data/credentials/tiktok/-000abc.json",
            "data/credentials/x/42.json",
        ]

"""The object store and its lease: a local folder and S3 (moto on loopback), same tests."""

from __future__ import annotations

import multiprocessing
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from social_pipeline.storage.leases import LeaseLost, LeaseTimeout, lease
from social_pipeline.storage.objects import (
    LocalObjectStore,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    PreconditionFailed,
    store_at,
)
from social_pipeline.storage.objects_s3 import S3ObjectStore
from social_pipeline_tests.s3_server import (
    SECRET_ACCESS_KEY,
    S3Server,
    fresh_bucket,
    shared_s3_server,
)

BACKENDS = ["local", "s3"]


@pytest.fixture
def s3_url(monkeypatch: pytest.MonkeyPatch) -> str:
    return fresh_bucket(monkeypatch)


@pytest.fixture
def s3_server() -> S3Server:
    return shared_s3_server()


@pytest.fixture(params=BACKENDS)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store lives: a folder, or a fresh bucket on the loopback S3 server."""
    if request.param == "s3":
        return request.getfixturevalue("s3_url")
    return str(tmp_path / "data")


@pytest.fixture
def store(location: str) -> ObjectStore:
    return store_at(location)


def race(threads: int, action: Callable[[int], Any]) -> list[Any]:
    """Run `action(i)` in `threads` threads released at the same instant; their outcomes."""
    barrier = threading.Barrier(threads)
    outcomes: list[Any] = [None] * threads

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = action(i)
        except Exception as exc:
            outcomes[i] = exc

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    return outcomes


# -- choosing a store -----------------------------------------------------------------


def test_an_s3_url_is_object_storage_and_anything_else_a_folder(
    tmp_path: Path, s3_url: str
) -> None:
    s3 = store_at(s3_url + "/")
    assert isinstance(s3, S3ObjectStore) and s3.local_root is None
    assert s3.describe("raw/x/1.json") == f"{s3_url}/raw/x/1.json"
    local = store_at(tmp_path / "data")
    assert isinstance(local, LocalObjectStore) and local.local_root == tmp_path / "data"
    assert local.describe("raw/x/1.json") == str(tmp_path / "data" / "raw" / "x" / "1.json")
    assert isinstance(store_at("relative/folder"), LocalObjectStore)
    assert store_at(s3) is s3
    with pytest.raises(ValueError, match="went through a Path"):
        store_at(Path(s3_url))


def test_plain_http_endpoints_need_aws_allow_http(
    s3_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ALLOW_HTTP")
    with pytest.raises(ObjectStoreError, match="AWS_ALLOW_HTTP=true"):
        store_at(s3_url)


# -- reading and writing --------------------------------------------------------------


def test_put_get_list_delete(store: ObjectStore) -> None:
    first = store.put("raw/x/date=2026-11-20/123.jsonl.gz", b"one")
    store.put("raw/x/date=2026-11-21/9.json", b"nine")
    store.put("raw/tiktok/date=2026-11-20/1.json", b"")
    store.put("rawer/a.json", b"a")

    assert store.get("raw/x/date=2026-11-20/123.jsonl.gz") == b"one"
    assert store.get_versioned("raw/x/date=2026-11-20/123.jsonl.gz") == (b"one", first)
    assert store.get("raw/x/missing.json") is None
    assert store.get_versioned("raw/x/missing.json") is None

    assert [(i.key, i.size) for i in store.list("raw/")] == [
        ("raw/tiktok/date=2026-11-20/1.json", 0),
        ("raw/x/date=2026-11-20/123.jsonl.gz", 3),
        ("raw/x/date=2026-11-21/9.json", 4),
    ]
    assert [i.key for i in store.list("raw")] == [i.key for i in store.list("raw/")] + [
        "rawer/a.json"
    ]
    assert [i.key for i in store.list("raw/x/date=2026-11-2")] == [
        "raw/x/date=2026-11-20/123.jsonl.gz",
        "raw/x/date=2026-11-21/9.json",
    ]
    assert len(store.list()) == 4 and store.list("nothing/") == []

    second = store.put("raw/x/date=2026-11-20/123.jsonl.gz", b"two")
    assert second != first and store.get("raw/x/date=2026-11-20/123.jsonl.gz") == b"two"
    store.delete("raw/x/date=2026-11-20/123.jsonl.gz")
    store.delete("raw/x/date=2026-11-20/123.jsonl.gz")  # absent already: fine
    assert store.get("raw/x/date=2026-11-20/123.jsonl.gz") is None
    assert len(store.list("raw/")) == 2


def test_listing_pages_through_more_than_a_thousand_keys(store: ObjectStore) -> None:
    keys = [f"many/{n:05d}.json" for n in range(1005)]
    race(8, lambda i: [store.put(k, b"x") for k in keys[i::8]])

    assert [info.key for info in store.list("many/")] == keys


def test_keys_cannot_leave_the_root(store: ObjectStore) -> None:
    for key in ("../outside.json", "/etc/passwd", "a/../../b", "a//b", "", "a/./b", "a\\b"):
        with pytest.raises(ValueError, match="relative"):
            store.put(key, b"x")
        if key:
            with pytest.raises(ValueError):
                store.get(key)
    with pytest.raises(ValueError):
        store.list("../")


def test_download_writes_aside_then_renames(store: ObjectStore, tmp_path: Path) -> None:
    store.put("lake/x/part.parquet", b"PAR1" * 1000)
    dest = tmp_path / "copies" / "part.parquet"

    store.download("lake/x/part.parquet", dest)
    assert dest.read_bytes() == b"PAR1" * 1000
    assert [p.name for p in dest.parent.iterdir()] == ["part.parquet"]
    with pytest.raises(ObjectNotFound, match="missing.parquet"):
        store.download("lake/x/missing.parquet", tmp_path / "copies" / "missing.parquet")
    assert [p.name for p in dest.parent.iterdir()] == ["part.parquet"]


# -- conditional writes ---------------------------------------------------------------


def test_conditional_puts_and_deletes_refuse_a_changed_object(store: ObjectStore) -> None:
    key = "jobs/x/1.json"
    v1 = store.put(key, b"first", if_absent=True)

    with pytest.raises(PreconditionFailed) as caught:
        store.put(key, b"second", if_absent=True)
    assert store.describe(key) in str(caught.value) and "already exists" in str(caught.value)

    v2 = store.put(key, b"second", if_version=v1)
    with pytest.raises(PreconditionFailed, match="changed since"):
        store.put(key, b"third", if_version=v1)
    with pytest.raises(PreconditionFailed):
        store.delete(key, if_version=v1)
    assert store.get(key) == b"second"

    store.delete(key, if_version=v2)
    assert store.get(key) is None
    with pytest.raises(PreconditionFailed, match="jobs/x/1.json"):
        store.put(key, b"late", if_version=v2)
    with pytest.raises(PreconditionFailed):
        store.delete(key, if_version=v2)
    with pytest.raises(ValueError):
        store.put(key, b"x", if_absent=True, if_version=v2)


def test_of_many_writers_of_a_new_object_exactly_one_wins(store: ObjectStore) -> None:
    for round_ in range(5):
        key = f"claims/{round_}.json"
        outcomes = race(
            8, lambda i, key=key: store.put(key, f"writer {i}".encode(), if_absent=True)
        )

        winners = [i for i, o in enumerate(outcomes) if isinstance(o, str)]
        assert len(winners) == 1, outcomes
        assert all(isinstance(o, PreconditionFailed) for o in outcomes if not isinstance(o, str))
        assert store.get(key) == f"writer {winners[0]}".encode()


def test_of_many_writers_of_one_version_exactly_one_wins(store: ObjectStore) -> None:
    key = "counter.json"
    version = store.put(key, b"0")
    for round_ in range(5):
        outcomes = race(
            6, lambda i, v=version, r=round_: store.put(key, f"{r}:{i}".encode(), if_version=v)
        )
        winners = [o for o in outcomes if isinstance(o, str)]
        assert len(winners) == 1, outcomes
        assert all(isinstance(o, PreconditionFailed) for o in outcomes if not isinstance(o, str))
        version = winners[0]


# -- privacy and errors ---------------------------------------------------------------


def test_private_objects_are_encrypted_at_rest_on_s3(s3_url: str, s3_server: S3Server) -> None:
    store = store_at(s3_url)
    assert isinstance(store, S3ObjectStore)
    store.put("credentials/x/42.json", b"{}", private=True)
    store.put("raw/x/1.json", b"{}")

    client = s3_server.client()
    head = client.head_object(Bucket=store.bucket, Key="data/credentials/x/42.json")
    assert head["ServerSideEncryption"] == "AES256"
    grants = client.get_object_acl(Bucket=store.bucket, Key="data/credentials/x/42.json")
    assert [g["Permission"] for g in grants["Grants"]] == ["FULL_CONTROL"]  # the owner alone
    assert all("URI" not in g["Grantee"] for g in grants["Grants"])  # no AllUsers group
    head = client.head_object(Bucket=store.bucket, Key="data/raw/x/1.json")
    assert "ServerSideEncryption" not in head or head["ServerSideEncryption"] != "aws:kms"


def test_private_files_are_0600_even_with_an_open_umask(tmp_path: Path) -> None:
    store = store_at(tmp_path / "data")
    old = os.umask(0)
    try:
        store.put("credentials/x/42.json", b"{}", private=True)
        version = store.put("credentials/x/43.json", b"{}", private=True, if_absent=True)
        store.put("credentials/x/43.json", b"{}", private=True, if_version=version)
    finally:
        os.umask(old)
    for name in ("42.json", "43.json"):
        path = tmp_path / "data" / "credentials" / "x" / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_half_written_local_file_is_not_listed(tmp_path: Path) -> None:
    store = store_at(tmp_path / "data")
    store.put("raw/x/1.json", b"{}")
    (tmp_path / "data" / "raw" / "x" / ".2.json.abc123.tmp").write_bytes(b"{")

    assert [i.key for i in store.list("raw/")] == ["raw/x/1.json"]


def test_errors_name_the_object_and_never_the_secret_key(
    s3_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing_bucket = store_at("s3://no-such-bucket-here/data")
    with pytest.raises(ObjectStoreError) as caught:
        missing_bucket.get("raw/x/1.json")
    assert "s3://no-such-bucket-here/data/raw/x/1.json" in str(caught.value)
    assert "NoSuchBucket" in str(caught.value)

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    unreachable = S3ObjectStore(s3_url[5:].split("/")[0], "data")
    unreachable._client.meta.config.retries["total_max_attempts"] = 1
    with pytest.raises(ObjectStoreError) as caught:
        unreachable.put("credentials/x/42.json", b"{}", private=True)
    assert f"{unreachable.location}/credentials/x/42.json" in str(caught.value)

    for error in (caught.value, *_errors_quoting(SECRET_ACCESS_KEY)):
        text = f"{error} {error!r} {error.__cause__!r} {error.__context__!r}"
        assert SECRET_ACCESS_KEY not in text


def _errors_quoting(secret: str) -> Iterator[Exception]:
    """Errors made from server answers that quote the secret key (a misbehaving server)."""
    from botocore.exceptions import ClientError

    store = store_at("s3://some-bucket/data")
    assert isinstance(store, S3ObjectStore)
    answer = {
        "Error": {"Code": "SignatureDoesNotMatch", "Message": f"signed with {secret}"},
        "ResponseMetadata": {"HTTPStatusCode": 403},
    }
    error = store._error("read", "raw/x/1.json", ClientError(answer, "GetObject"))  # type: ignore[arg-type]
    assert "s3://some-bucket/data/raw/x/1.json" in str(error)
    assert "SignatureDoesNotMatch" in str(error) and "[redacted]" in str(error)
    yield error


# -- the lease ------------------------------------------------------------------------


def _bump(location: str, key: str, times: int) -> None:
    """Read-modify-write a counter under the lease: the lease is all that keeps it right."""
    store = store_at(location)
    for _ in range(times):
        with lease(store, "locks/counter.lock", ttl_seconds=30, owner=f"pid {os.getpid()}"):
            found = store.get(key)
            count = int(found) if found else 0
            time.sleep(0.002)  # widen the read-modify-write window
            store.put(key, str(count + 1).encode())


def test_the_lease_excludes_other_threads(store: ObjectStore, location: str) -> None:
    race(4, lambda i: _bump(location, "counter.txt", 6))

    assert store.get("counter.txt") == b"24"
    assert store.get("locks/counter.lock") is None  # released


def test_the_lease_excludes_other_processes(store: ObjectStore, location: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_bump, args=(location, "counter.txt", 8)) for _ in range(2)]
    for w in workers:
        w.start()
    _bump(location, "counter.txt", 8)
    for w in workers:
        w.join(60)

    assert [w.exitcode for w in workers] == [0, 0]
    assert store.get("counter.txt") == b"24"


def test_a_held_lease_times_out_naming_holder_and_expiry(store: ObjectStore) -> None:
    with lease(store, "locks/a.lock", ttl_seconds=30, owner="host-1:123") as held:
        assert held.location == store.describe("locks/a.lock") and held.waited < 1
        started = time.monotonic()
        with (
            pytest.raises(LeaseTimeout) as caught,
            lease(store, "locks/a.lock", ttl_seconds=30, owner="host-2:9", timeout=0.3),
        ):
            pass
        assert 0.25 <= time.monotonic() - started < 5
    message = str(caught.value)
    assert f"lock {store.describe('locks/a.lock')} held by host-1:123 until " in message
    assert held.expires_at.isoformat(timespec="seconds") in message
    assert isinstance(caught.value, TimeoutError)
    with lease(store, "locks/a.lock", ttl_seconds=30, owner="host-2:9", timeout=0.3) as again:
        assert again.waited < 0.3  # free once released


def test_an_expired_lease_is_taken_over_and_its_holder_told(store: ObjectStore) -> None:
    first = lease(store, "locks/b.lock", ttl_seconds=0.3, owner="stalled", renew=False)
    first.__enter__()
    with lease(store, "locks/b.lock", ttl_seconds=30, owner="taker", timeout=5) as taken:
        assert 0.1 < taken.waited < 5
        with pytest.raises(LeaseLost, match="taken over"):
            first.__exit__(None, None, None)
        assert b"taker" in (store.get("locks/b.lock") or b"")  # the stalled holder left it
    assert store.get("locks/b.lock") is None


def test_of_two_takers_of_an_expired_lease_exactly_one_wins(store: ObjectStore) -> None:
    for round_ in range(3):
        key = f"locks/c{round_}.lock"
        stalled = lease(store, key, ttl_seconds=0.2, owner="stalled", renew=False)
        stalled.__enter__()
        time.sleep(0.3)
        holders: list[int] = []

        def take(i: int, key: str = key, holders: list[int] = holders) -> None:
            with lease(store, key, ttl_seconds=30, owner=f"taker {i}", timeout=0):
                holders.append(i)
                time.sleep(0.3)  # still held while the other one tries

        outcomes = race(4, take)
        assert len(holders) == 1, outcomes
        assert sum(isinstance(o, LeaseTimeout) for o in outcomes) == 3


def test_a_live_holder_renews_its_lease_past_the_ttl(store: ObjectStore) -> None:
    with lease(store, "locks/d.lock", ttl_seconds=0.6, owner="slow but alive"):
        time.sleep(1.5)  # well past the ttl: the renewals keep it
        with (
            pytest.raises(LeaseTimeout, match="held by slow but alive"),
            lease(store, "locks/d.lock", ttl_seconds=5, timeout=0.5),
        ):
            pass
    assert store.get("locks/d.lock") is None


def _hold_and_die(location: str, held: Any) -> None:
    with lease(store_at(location), "locks/e.lock", ttl_seconds=1, owner="doomed"):
        held.set()
        os._exit(1)  # no release: only the expiry frees it


def test_a_dead_holders_lease_frees_itself_after_its_ttl(store: ObjectStore, location: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    held = ctx.Event()
    holder = ctx.Process(target=_hold_and_die, args=(location, held))
    holder.start()
    assert held.wait(60), "the holder never took the lease"
    holder.join(30)

    with lease(store, "locks/e.lock", ttl_seconds=5, timeout=10) as taken:
        assert taken.waited < 5

"""Dead letters and replay requests in object storage, and the same layout in a folder."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from social_pipeline.storage import dead_letters
from social_pipeline.storage.dead_letters import (
    DeadLetter,
    all_dead_letters,
    dead_letter_path,
    forget_replay_request,
    open_dead_letters,
    pending_replay_requests,
    request_replay,
    write_dead_letters,
)
from social_pipeline.storage.objects import store_at
from social_pipeline_tests.s3_server import fresh_bucket


def letter(account_id: str, day: str = "2026-11-20", attempts: int = 3) -> DeadLetter:
    return DeadLetter(
        platform="x",
        account_id=account_id,
        partition_date=day,
        error_class="TransientError",
        error="HTTP 503 from api.x.com",
        attempts=attempts,
        last_attempt_at=f"{day}T06:00:00+00:00",
        reset_at=None,
    )


@pytest.fixture(params=["local", "s3"])
def data_dir(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path | str:
    if request.param == "s3":
        return fresh_bucket(monkeypatch)
    return tmp_path / "data"


@pytest.fixture
def collected(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], list[str]]:
    """Which accounts a day's job records show collected since (raw.py reads them)."""
    days: dict[tuple[str, str], list[str]] = {}

    def latest_jobs(data_dir: Any, platform: str, day: date) -> dict[str, Any]:
        return {a: ({"status": "success"}, 1) for a in days.get((platform, day.isoformat()), [])}

    monkeypatch.setattr(dead_letters.raw, "latest_jobs", latest_jobs)
    return days


def test_dead_letters_are_written_once_and_read_back_with_their_status(
    data_dir: Path | str, collected: dict[tuple[str, str], list[str]]
) -> None:
    first = [letter("42"), letter("urn:li:1"), letter("7", day="2026-11-21")]
    assert write_dead_letters(data_dir, first) == first
    assert write_dead_letters(data_dir, first) == []  # the same failures: nothing new
    again = letter("42", attempts=4)
    assert write_dead_letters(data_dir, [again]) == [again]

    collected[("x", "2026-11-20")] = ["urn:li:1"]
    letters = all_dead_letters(data_dir)
    assert [(d["account_id"], d["partition_date"], d["status"]) for d in letters] == [
        ("42", "2026-11-20", "open"),
        ("urn:li:1", "2026-11-20", "resolved"),
        ("7", "2026-11-21", "open"),
    ]
    assert letters[0]["attempts"] == 4
    assert [d["account_id"] for d in open_dead_letters(data_dir)] == ["42", "7"]
    keys = [info.key for info in store_at(data_dir).list("dead_letters/")]
    assert "dead_letters/x/date=2026-11-20/urn_li_1.json" in keys


def test_replay_requests_wait_until_forgotten(
    data_dir: Path | str, collected: dict[tuple[str, str], list[str]]
) -> None:
    where = request_replay(data_dir, "run-1", "x", "42")
    request_replay(data_dir, "run/2", "tiktok", "-000abc")

    store = store_at(data_dir)
    assert str(where) == store.describe("dead_letters/_replay_requests/run-1.json")
    assert pending_replay_requests(data_dir) == [
        {"request_id": "run-1", "platform": "x", "account_id": "42"},
        {"request_id": "run/2", "platform": "tiktok", "account_id": "-000abc"},
    ]
    assert all_dead_letters(data_dir) == []  # a request is not a letter
    forget_replay_request(data_dir, "run-1")
    forget_replay_request(data_dir, "run-1")  # already gone: fine
    assert [r["request_id"] for r in pending_replay_requests(data_dir)] == ["run/2"]


def test_letters_written_before_object_storage_still_read(
    tmp_path: Path, collected: dict[tuple[str, str], list[str]]
) -> None:
    data = tmp_path / "data"
    old = letter("42")
    path = dead_letter_path(data, old)
    assert path == data / "dead_letters" / "x" / "date=2026-11-20" / "42.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(old.__dict__, indent=1))
    requests = data / "dead_letters" / "_replay_requests"
    requests.mkdir()
    (requests / "r1.json").write_text('{"request_id": "r1", "platform": "x", "account_id": "42"}')

    assert [d["account_id"] for d in all_dead_letters(data)] == ["42"]
    assert write_dead_letters(data, [old]) == []
    assert pending_replay_requests(data)[0]["request_id"] == "r1"
    assert request_replay(data, "r2", "x", "42") == requests / "r2.json"

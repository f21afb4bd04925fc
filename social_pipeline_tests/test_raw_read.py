"""Landed pulls read back: every line as written, old files too, large ones streamed.

`raw.read_pull` reads pages with orjson where that gives what Python's `json` gives, and
with `json` where it would not; a pull too large to hold as Python objects is read again
from its file on each pass, and must normalize exactly like one held in memory.
"""

from __future__ import annotations

import copy
import gzip
import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.pulls import RawPull
from social_pipeline.core.window import CollectionWindow
from social_pipeline.normalize import items
from social_pipeline.normalize.common import PlatformFrames
from social_pipeline.operations.registry import platform_code
from social_pipeline.sandbox.server import Sandbox
from social_pipeline.storage import raw
from social_pipeline_tests import helpers

WINDOW = CollectionWindow(date(2026, 11, 20))


def header(pull: RawPull) -> dict[str, Any]:
    return {
        "platform": pull.platform,
        "account_id": pull.account_id,
        "partition_date": pull.partition_date.isoformat(),
        "window_start": pull.window_start.isoformat(),
        "window_end": pull.window_end.isoformat(),
        "collected_at": pull.collected_at.isoformat(),
        "job_id": pull.job_id,
        "status": "success",
    }


def land(pull: RawPull, folder: Path, broken_line: bytes | None = None) -> Path:
    """`pull` written as the raw landing writes it, plus a line that is not JSON."""
    path = raw.write_pull(raw.pull_path(folder, pull.account_id), header(pull), pull.records)
    if broken_line is not None:
        with gzip.open(path, "ab") as handle:
            handle.write(broken_line + b"\n")
    return path


def frames_equal(a: PlatformFrames, b: PlatformFrames) -> None:
    for name in ("posts", "engagement", "followers", "quarantine", "gaps"):
        assert getattr(a, name).equals(getattr(b, name)), name


def test_a_malformed_line_is_kept_as_unreadable_with_its_file_and_line(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    pull = helpers.land_pull(sandbox, "x", WINDOW)
    path = land(pull, tmp_path, broken_line=b'{"kind": "posts", "body": {"data": [')

    read = raw.read_pull(path, "x")
    records = list(read.records)

    assert records[:-1] == list(pull.records)  # every page before it kept, as landed
    broken = records[-1]
    assert broken["kind"] == "unreadable" and broken["body"] is None
    assert broken["error"].startswith(f"{path}:{len(records) + 1}: ")
    assert broken["body_text"] == '{"kind": "posts", "body": {"data": ['
    quarantine = platform_code("x").normalize([read]).quarantine
    assert quarantine["reason"].to_list() == [f"page is not usable JSON: {broken['error']}"]


def test_values_orjson_would_refuse_or_round_read_as_python_reads_them(tmp_path: Path) -> None:
    odd = [
        {"kind": "posts", "body": {"n": 10**40, "m": -(10**19), "f": 1.5e300}},
        {"kind": "posts", "body": {"nan": float("nan"), "inf": float("-inf")}},
        {"kind": "posts", "body": {"text": "line\u2028separator\u0085next 🚀 é"}},
    ]
    pull = RawPull("x", "1", WINDOW.day, WINDOW.start, WINDOW.end, WINDOW.start, "j", odd, Path())
    path = land(pull, tmp_path)

    read = raw.read_pull(path, "x")

    assert json.dumps(list(read.records)) == json.dumps(odd)  # NaN != NaN, so compare text
    assert type(read.records[0]["body"]["n"]) is int  # not rounded to a float
    assert not read.plain_json  # so items are written back by `json`, NaN and all


def test_a_pull_landed_by_an_older_version_still_reads(tmp_path: Path) -> None:
    # Format 1 as first written: spaced separators, escaped non-ASCII, no status.
    lines = [
        {"kind": "header", "format": 1, "platform": "x", "account_id": "7",
         "partition_date": "2026-11-20", "window_start": "2026-10-24T00:00:00+00:00",
         "window_end": "2026-11-21T00:00:00+00:00", "collected_at": "2026-11-21T01:00:00+00:00",
         "job_id": "old"},
        {"kind": "profile", "body": {"data": {"username": "Zürich"}}},
    ]  # fmt: skip
    path = tmp_path / "7.jsonl.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(x) + "\n" for x in lines).encode()))

    read = raw.read_pull(path, "x")

    assert read.complete and read.listed_from is None and read.job_id == "old"
    assert list(read.records) == lines[1:]


def test_an_empty_or_headless_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "9.jsonl.gz"
    path.write_bytes(gzip.compress(b"not json\n"))

    with pytest.raises(ValueError, match=str(path)):
        raw.read_pull(path, "tiktok")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_streamed_pull_normalizes_exactly_like_one_held_in_memory(
    tmp_path: Path, sandbox: Sandbox, platform: str
) -> None:
    pull = helpers.land_pull(sandbox, platform, WINDOW)
    pull.records.append(helpers.unreadable_page("posts", "GET /posts", "not JSON"))
    path = land(pull, tmp_path, broken_line=b"<html>")

    held = raw.read_pull(path, platform)
    streamed = raw.read_pull(path, platform, stream_above=0)

    assert isinstance(held.records, list) and not isinstance(streamed.records, list)
    assert list(streamed.records) == held.records  # read again on every pass
    normalize = platform_code(platform).normalize
    expected = normalize([replace(pull, path=path, records=held.records)])
    assert expected.posts.height > 0 and expected.quarantine.height == 2
    frames_equal(normalize([held]), expected)
    frames_equal(normalize([streamed]), expected)


def test_a_streamed_pull_quarantines_bad_items_with_their_exact_records(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    pull = helpers.land_pull(sandbox, "x", WINDOW)
    good = helpers.first_page(pull, "posts")["body"]["data"]
    no_id, bad_metric = copy.deepcopy(good[0]), copy.deepcopy(good[1])
    del no_id["id"]
    no_id["text"] = 'back\\slash "quote" \n Zürich 🚀'
    bad_metric["public_metrics"]["like_count"] = "lots"
    good.extend([no_id, bad_metric])
    path = land(pull, tmp_path)
    monkeypatch.setattr(items, "CHUNK_CHARS", 1)  # every page decoded apart, too

    frames = platform_code("x").normalize([raw.read_pull(path, "x", stream_above=0)])

    quarantine = frames.quarantine.sort("reason")
    assert quarantine["reason"].to_list() == ["missing id", "wrong-typed public_metrics.like_count"]
    assert quarantine["record"].to_list() == [
        json.dumps(no_id, ensure_ascii=False),
        json.dumps(bad_metric, ensure_ascii=False),
    ]
    assert set(quarantine["source"]) == {str(path)}
    assert frames.posts.height == len(good) - 2


def test_items_decoded_in_chunks_equal_items_decoded_at_once(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    pull = helpers.land_pull(sandbox, "youtube", WINDOW)
    normalize = platform_code("youtube").normalize
    whole = normalize([pull])

    monkeypatch.setattr(items, "CHUNK_CHARS", 1)
    chunked = normalize([pull])

    frames_equal(chunked, whole)
    assert whole.posts.height > 0
    assert pl.concat([whole.posts, chunked.posts]).height == 2 * whole.posts.height

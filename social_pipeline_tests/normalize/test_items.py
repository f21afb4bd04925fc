"""Raw pages -> one decoded row per item: the shared layer every normalizer reads through."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from social_pipeline.core.pulls import RawPull
from social_pipeline.normalize.common import as_int, bad_int, split_quarantine
from social_pipeline.normalize.items import TEXT, each, items_frame, jfield, obj

ITEM = obj(
    id=TEXT,
    count=TEXT,
    stats=obj(likes=TEXT),
    media=obj(data=pl.List(obj(url=TEXT))),
)


def pull(*pages: Any) -> RawPull:
    """One pull whose `posts` pages hold `pages` as their `data`."""
    records = [
        {"kind": "posts", "body": {"data": items}, "fetched_at": "2026-11-20T10:00:00+00:00"}
        for items in pages
    ]
    start = datetime(2026, 11, 20, tzinfo=UTC)
    return RawPull("x", "1", date(2026, 11, 20), start, start, start, "job", records, Path("f"))


def frame_of(*pages: Any, as_text: dict[str, str] | None = None) -> pl.DataFrame:
    return items_frame([pull(*pages)], "posts", lambda body: body["data"], ITEM, as_text)


def test_every_leaf_is_read_as_text_whatever_its_json_type() -> None:
    frame = frame_of([{"id": 7, "count": 12.0, "stats": {"likes": True}}, {"id": "a"}])

    assert frame.select(jfield("id"), jfield("count"), jfield("stats.likes")).rows() == [
        ("7", "12", "true"),
        ("a", None, None),
    ]
    assert frame.select(as_int(jfield("count"))).item(0, 0) == 12


def test_a_value_of_the_wrong_shape_is_kept_as_text_or_read_as_absent() -> None:
    good = {"id": "1", "count": "3", "media": {"data": [{"url": "u1"}, {"url": "u2"}]}}
    wrong = {"id": "2", "count": {"total": 5}, "stats": "lots", "media": {"data": "none"}}
    frame = frame_of([good, wrong, None, "text"])

    assert frame.height == 4  # one row per item; the page is not lost
    assert frame.select(jfield("id")).to_series().to_list() == ["1", "2", None, None]
    assert frame.select(bad_int(jfield("count"))).to_series().to_list() == [
        False,
        True,
        False,
        False,
    ]
    assert frame.select(jfield("stats.likes")).to_series().to_list() == [None] * 4
    urls = frame.select(each("media.data", "url")).to_series().to_list()
    assert urls == [["u1", "u2"], [], [], []]


def test_a_quarantined_item_carries_its_raw_record_exactly() -> None:
    odd = {"count": "x", "text": 'back\\slash "quote" \n\t\u0001 Zürich 🚀', "n": 1.5}
    frame = frame_of([{"id": "1", "count": "2"}], [{"id": "3"}, odd])

    good, bad = split_quarantine(
        frame, {"no id": jfield("id").is_null(), "bad count": bad_int(jfield("count"))}, "posts"
    )

    assert good.select(jfield("id")).to_series().to_list() == ["1", "3"]
    assert bad["reason"].to_list() == ["no id"]
    assert bad["record"].to_list() == [json.dumps(odd, ensure_ascii=False)]


def test_an_item_polars_cannot_parse_is_quarantined_not_fatal() -> None:
    # Python's JSON reads and writes NaN, Infinity and integers of any size; polars not.
    odd = [{"id": "2", "count": float("nan")}, {"id": "3", "count": 10**40}]
    frame = frame_of([{"id": "1"}, odd[0]], [{"id": "4"}], [odd[1], {"id": "5"}])

    good, bad = split_quarantine(frame, {"no id": jfield("id").is_null()}, "posts")

    assert good.select(jfield("id")).to_series().to_list() == ["1", "4", "5"]
    assert bad["record"].to_list() == [json.dumps(item) for item in odd]


def test_as_text_tells_a_present_value_of_any_shape_from_an_absent_one() -> None:
    items = [{"stats": {"likes": 1}}, {"stats": "n/a"}, {"stats": None}, {}]
    frame = frame_of(items, as_text={"raw": "stats"})

    assert frame["raw"].to_list() == ['{"likes": 1}', "n/a", None, None]


def test_empty_pages_and_unreadable_bodies_yield_no_rows() -> None:
    broken = pull([])
    broken.records.append({"kind": "posts", "body": {"other": []}})
    broken.records.append({"kind": "posts", "body": None, "error": "not JSON"})

    frame = items_frame([broken], "posts", lambda body: body["data"], ITEM)

    assert frame.is_empty() and frame.schema["item"] == ITEM

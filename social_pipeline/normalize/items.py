"""Raw pages -> one row per item, its fields decoded once into a declared struct.

Each platform declares the shape of its items once: a polars Struct whose leaves are all
text. Each response page's items are serialized once (one JSON text per page, never one
per item) and polars decodes all pages in one pass into that struct; fields are then plain
struct lookups (`jfield`). No per-item Python touches a field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from social_pipeline.core import schema
from social_pipeline.core.pulls import RawPull

ItemsOf = Callable[[Any], Any]

# Every leaf is declared as text: numbers and booleans decode as their text, and an object
# or list where text is declared as its JSON text (see `_decode`), so a wrong type is never
# lost; `as_int` and `bad_int` judge the text afterwards. A value that does not fit a
# declared struct or list decodes as NULL, as if absent.
TEXT = pl.String()


def obj(**fields: pl.DataType) -> pl.Struct:
    """A JSON object with the named fields (others are ignored by the decoder)."""
    return pl.Struct(fields)


PAGE_COLUMNS: dict[str, pl.DataType] = {
    "platform": pl.String(),
    "account_id": pl.String(),
    "snapshot_date": pl.Date(),
    "collected_at": schema.UTC_TS,
    "window_start": schema.UTC_TS,
    "window_end": schema.UTC_TS,
    "fetched_at": pl.String(),  # parsed below, in one vectorized pass
    "source": pl.String(),
    "page": pl.String(),  # `{"item": [...]}`: what is decoded, and quarantine's source
}


def items_frame(
    pulls: Sequence[RawPull],
    kind: str,
    items_of: ItemsOf,
    item: pl.Struct,
    as_text: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """One row per item found on `kind` pages, decoded into the struct column `item`.

    `items_of(body)` gives a page's items: a list (posts on a page) or a single dict (a
    profile). A body it cannot read (KeyError/TypeError) yields no items; the page is
    quarantined by `unreadable_pages`. Besides the page columns, each row has `pos`, its
    index in the page, so `split_quarantine` can recover the raw record. `as_text` adds
    columns {name: dotted path} holding a value as JSON text whatever its shape, for the
    few checks that are about the shape itself; keep those paths out of `item`.
    """
    pages: dict[str, list[Any]] = {name: [] for name in PAGE_COLUMNS}
    for pull in pulls:
        for record in pull.records:
            if record.get("kind") != kind or record.get("body") is None:
                continue
            try:
                found = items_of(record["body"])
            except (KeyError, TypeError, IndexError, AttributeError):
                continue
            if isinstance(found, dict):
                found = [found]
            if not isinstance(found, list):
                continue
            pages["platform"].append(pull.platform)
            pages["account_id"].append(pull.account_id)
            pages["snapshot_date"].append(pull.partition_date)
            pages["collected_at"].append(pull.collected_at)
            pages["window_start"].append(pull.window_start)
            pages["window_end"].append(pull.window_end)
            pages["fetched_at"].append(record.get("fetched_at"))
            pages["source"].append(str(pull.path))
            pages["page"].append(_ENCODER.encode({"item": found}))
    frame = pl.DataFrame(pages, schema=PAGE_COLUMNS)
    as_text = as_text or {}
    lists = {"item": _decode(frame["page"], pl.List(item))}
    if as_text:
        lists["texts"] = _read(frame["page"], pl.List(_text_struct(as_text.values())))
    frame = (
        frame.with_columns(
            pl.col("fetched_at").str.to_datetime(time_zone="UTC", strict=False).cast(schema.UTC_TS),
            **lists,
        )
        # Each list has one element per item of the page; an empty page would explode to
        # a NULL item, so it is left out first.
        .filter(pl.col("item").list.len() > 0)
        .with_columns(pos=pl.int_ranges(pl.col("item").list.len()))
        .explode(*lists, "pos")
    )
    if not as_text:
        return frame
    texts = {name: jfield(path, pl.col("texts")) for name, path in as_text.items()}
    return frame.with_columns(**texts).drop("texts")


# Compact and without the cycle check (the items came from JSON): encoding is the largest
# cost left in normalizing, and fewer bytes are also faster to decode.
_ENCODER = json.JSONEncoder(check_circular=False, separators=(",", ":"))


def _decode(pages: pl.Series, items: pl.List) -> pl.Series:
    """Each page `{"item": [...]}` decoded to its list of items, all pages in one pass.

    The strict decoder is fast but fails on any value of the wrong shape (an object where
    text is declared, text where an object or list is); then `_read` decodes the lot
    again, leniently. Where the strict decoder succeeds both give the same values,
    provided lists are declared as lists of objects (the strict decoder would wrap a lone
    value into a list of text).
    """
    try:
        return pages.str.json_decode(pl.Struct({"item": items})).struct.field("item")
    except pl.exceptions.PolarsError:
        return _read(pages, items)


def _read(pages: pl.Series, items: pl.List) -> pl.Series:
    """Pages decoded by the NDJSON reader: a value of the wrong shape becomes NULL, as if
    absent, or its JSON text where text is declared (the only decoder that does so).

    Python reads and writes a few things polars cannot parse at all (NaN, Infinity, an
    integer of some 30 digits). Halving finds the pages holding one, then the items: such
    an item decodes as NULL (no fields, so it is quarantined, its record still in the
    page text) and the rest of its page as usual.
    """
    try:
        return _ndjson(pages.to_list(), items)
    except pl.exceptions.PolarsError:
        if len(pages) > 1:
            half = len(pages) // 2
            return pl.concat([_read(pages[:half], items), _read(pages[half:], items)])
    return _salvage(json.loads(pages[0])["item"], items).implode()


def _salvage(found: list[Any], items: pl.List) -> pl.Series:
    """The items of one page polars cannot read whole, one element each (see `_read`)."""
    try:
        return _ndjson([_ENCODER.encode({"item": found})], items).explode()
    except pl.exceptions.PolarsError:
        if len(found) == 1:
            return pl.Series([None], dtype=items.inner)
        half = len(found) // 2
        return pl.concat([_salvage(found[:half], items), _salvage(found[half:], items)])


def _ndjson(pages: list[str], items: pl.List) -> pl.Series:
    ndjson = "\n".join(pages).encode()
    return pl.read_ndjson(ndjson, schema={"item": items}, ignore_errors=True)["item"]


def _text_struct(paths: Iterable[str]) -> pl.Struct:
    """The struct reading each dotted path as text (nested objects merged)."""
    shape: dict[str, Any] = {}
    for path in paths:
        *parents, leaf = path.split(".")
        node = shape
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = TEXT
    return _struct(shape)


def _struct(shape: dict[str, Any]) -> pl.Struct:
    return obj(**{k: _struct(v) if isinstance(v, dict) else v for k, v in shape.items()})


def jfield(path: str, base: pl.Expr | None = None) -> pl.Expr:
    """A field of each decoded item by path (`public_metrics.like_count`, `data[0].id`).

    NULL where any step is absent; `base` is the struct to start from (default `item`).
    """
    expr = pl.col("item") if base is None else base
    for step in path.split("."):
        name, _, index = step.partition("[")
        expr = expr.struct.field(name)
        if index:
            expr = expr.list.get(int(index.rstrip("]")), null_on_oob=True)
    return expr


def each(list_path: str, path: str) -> pl.Expr:
    """`path` of every element of the list at `list_path`, NULLs left out; [] if no list."""
    values = jfield(list_path).list.eval(jfield(path, pl.element()).drop_nulls())
    return values.fill_null(pl.lit([], dtype=pl.List(pl.String())))


def raw_records(rows: pl.DataFrame) -> pl.Series:
    """The raw JSON text of each row's item, read back from its page's text by `pos`.

    Only quarantined rows come here, so a little Python is fine, and it is exact where
    polars' own JSON text of a value is not (it leaves backslashes and control characters
    unescaped). Each page is parsed once however many of its items are bad.
    """
    numbered = rows.select(
        "pos", number=pl.col("page").rank("dense").cast(pl.Int64) - 1, page=pl.col("page")
    )
    pages = numbered.unique("number").sort("number")["page"].to_list()
    parsed = [json.loads(page)["item"] for page in pages]
    records = [
        json.dumps(parsed[number][pos], ensure_ascii=False)
        for number, pos in zip(numbered["number"], numbered["pos"], strict=True)
    ]
    return pl.Series("record", records, dtype=pl.String())

"""Raw pages -> one row per item, its fields decoded once into a declared struct.

Each platform declares the shape of its items once: a polars Struct whose leaves are all
text. Each response page's items are serialized once (one JSON text per page, never one
per item) and polars decodes all pages in one pass into that struct; fields are then plain
struct lookups (`jfield`). No per-item Python touches a field.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson
import polars as pl

from social_pipeline.core import schema
from social_pipeline.core.pulls import LandedPage, RawPull, Rereadable

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
    # Quarantine's source: `{"item": [...]}`, or for a streamed pull (`LandedPage`) a
    # reference to its line in the landed file (see `raw_records`).
    "page": pl.String(),
    "text": pl.String(),  # `{"item": [...]}`: what is decoded; dropped once it is
}

# Pages are decoded this many characters of items at a time, so a pull of a million
# posts is never held as text and Python objects at once (see `raw.read_pull`).
CHUNK_CHARS = 4 * 1024 * 1024


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
    _ACCESSORS[_accessor_key(items_of)] = items_of
    frames = [
        _items_of_pages(pages, item, as_text or {}) for pages in _page_chunks(pulls, kind, items_of)
    ]
    return pl.concat(frames) if len(frames) > 1 else frames[0]


def _page_chunks(
    pulls: Sequence[RawPull], kind: str, items_of: ItemsOf
) -> Iterator[dict[str, list[Any]]]:
    """The `kind` pages of `pulls` as columns (`PAGE_COLUMNS`), at most `CHUNK_CHARS` of
    item text at a time (at least one chunk, maybe empty)."""
    pages: dict[str, list[Any]] = {name: [] for name in PAGE_COLUMNS}
    chars = 0
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
            plain = pull.plain_json or getattr(record, "plain", False)
            text = _encode_plain({"item": found}) if plain else _ENCODER.encode({"item": found})
            pages["platform"].append(pull.platform)
            pages["account_id"].append(pull.account_id)
            pages["snapshot_date"].append(pull.partition_date)
            pages["collected_at"].append(pull.collected_at)
            pages["window_start"].append(pull.window_start)
            pages["window_end"].append(pull.window_end)
            pages["fetched_at"].append(record.get("fetched_at"))
            pages["source"].append(str(pull.path))
            pages["page"].append(_reference(record, items_of))
            pages["text"].append(text)
            chars += len(text)
            if chars >= CHUNK_CHARS:
                yield pages
                pages, chars = {name: [] for name in PAGE_COLUMNS}, 0
    yield pages


def _items_of_pages(
    pages: dict[str, list[Any]], item: pl.Struct, as_text: Mapping[str, str]
) -> pl.DataFrame:
    frame = pl.DataFrame(pages, schema=PAGE_COLUMNS)
    lists = {"item": _decode(frame["text"], pl.List(item))}
    if as_text:
        lists["texts"] = _read(frame["text"], pl.List(_text_struct(as_text.values())))
    frame = (
        frame.with_columns(
            pl.col("fetched_at").str.to_datetime(time_zone="UTC", strict=False).cast(schema.UTC_TS),
            pl.coalesce("page", "text").alias("page"),
            **lists,
        )
        .drop("text")
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


# A page of a streamed pull is referred to, not copied: `\x1f<accessor>\x1f<line>\x1f<file>`.
# JSON text never starts with the unit separator.
_REF = "\x1f"
_ACCESSORS: dict[str, ItemsOf] = {}
_STREAMED: weakref.WeakValueDictionary[str, Rereadable] = weakref.WeakValueDictionary()


def _accessor_key(items_of: ItemsOf) -> str:
    # The id tells two lambdas of one scope apart; `_ACCESSORS` keeps each alive, so an
    # id is never reused for another function while its key is in use.
    return f"{items_of.__module__}.{items_of.__qualname__}#{id(items_of)}"


def _reference(record: dict[str, Any], items_of: ItemsOf) -> str | None:
    """Where to read a streamed page's items again; None for a page held in memory."""
    if not isinstance(record, LandedPage):
        return None
    source = str(record.pages.path)
    _STREAMED[source] = record.pages
    return f"{_REF}{_accessor_key(items_of)}{_REF}{record.line}{_REF}{source}"


def _referenced_items(references: list[str]) -> dict[str, list[Any]]:
    """The items of pages referred to by `_reference`, each file read once."""
    wanted: dict[str, dict[int, list[str]]] = {}
    for reference in references:
        _, key, line, source = reference.split(_REF, 3)
        wanted.setdefault(source, {}).setdefault(int(line), []).append(reference)
    found: dict[str, list[Any]] = {}
    for source, lines in wanted.items():
        pages = _STREAMED[source].records_at(set(lines))
        for line, refs in lines.items():
            for reference in refs:
                items = _ACCESSORS[reference.split(_REF, 3)[1]](pages[line]["body"])
                found[reference] = [items] if isinstance(items, dict) else items
    return found


# Compact and without the cycle check (the items came from JSON): encoding is the largest
# cost left in normalizing, and fewer bytes are also faster to decode.
_ENCODER = json.JSONEncoder(check_circular=False, separators=(",", ":"))


def _encode_plain(page: dict[str, Any]) -> str:
    """A page read by orjson, written back by it (see `RawPull.plain_json`): the same JSON
    `_ENCODER` writes (only non-ASCII is left unescaped), some ten times faster."""
    try:
        return orjson.dumps(page).decode()
    except TypeError:  # not from orjson after all (an int past 64 bits)
        return _ENCODER.encode(page)


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
    referenced = _referenced_items([page for page in pages if page.startswith(_REF)])
    parsed = [
        referenced[page] if page.startswith(_REF) else json.loads(page)["item"] for page in pages
    ]
    records = [
        json.dumps(parsed[number][pos], ensure_ascii=False)
        for number, pos in zip(numbered["number"], numbered["pos"], strict=True)
    ]
    return pl.Series("record", records, dtype=pl.String())

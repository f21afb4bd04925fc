"""Metadata the Dagster UI renders inline: tables with a schema, plain text for the rest.

Markdown values show as a "[Show Markdown]" link, so checks and per-account status use
these instead; the UI draws a table value as a table, sortable, right on the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import polars as pl


def table_value(
    rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str]
) -> dg.TableMetadataValue:
    """Rows as a table; `columns` maps each column to its type (string, int, float, bool)."""
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns.items()])
    records = [
        dg.TableRecord({c: _cell(row.get(c), kind) for c, kind in columns.items()}) for row in rows
    ]
    return dg.MetadataValue.table(records, schema=schema)


def frame_value(frame: pl.DataFrame, limit: int = 50) -> dg.TableMetadataValue:
    """The first `limit` rows of a frame as a table, typed from the frame's schema."""
    columns = {
        name: "int"
        if dtype.is_integer()
        else "float"
        if dtype.is_float()
        else "bool"
        if dtype == pl.Boolean
        else "string"
        for name, dtype in frame.schema.items()
    }
    return table_value(frame.head(limit).to_dicts(), columns)


def _cell(value: Any, kind: str) -> str | int | float | bool | None:
    if value is None or kind != "string":
        return value
    return str(value)

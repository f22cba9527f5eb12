"""Salesforce records as frames of text: REST JSON records and Bulk API 2.0 CSV pages give the same frame.

Values are text as Salesforce writes them in Bulk CSV: booleans "true"/"false", numbers without a trailing
".0" (1500000, 12.5), dates "2026-11-23", date-times as sent ("2026-11-23T10:15:30.000+0000"); null is None
(Salesforce has no empty text: an empty CSV cell is null). Parent fields are "Relationship.Field" columns.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

BLOCK_BYTES = 16 << 20  # pyarrow parses a page in blocks of this size (several threads when it has several)


def text(value: Any) -> str | None:
    """One JSON value as Bulk CSV text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _lookup(record: Mapping[str, Any], path: str) -> Any:
    """`path` ("Email", "Owner.Name") in a REST record, names matched case-insensitively."""
    current: Any = record
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        if part in current:
            current = current[part]
            continue
        lowered = part.lower()
        current = next((v for k, v in current.items() if k.lower() == lowered), None)
    return None if isinstance(current, Mapping) else current


def rest_frame(records: Sequence[Mapping[str, Any]], columns: Mapping[str, str]) -> pd.DataFrame:
    """A frame of `columns` ({output name: field path}) from REST records (their `attributes` dropped)."""
    data = {name: [text(_lookup(r, path)) for r in records] for name, path in columns.items()}
    return pd.DataFrame(data, columns=list(columns), dtype=object)


def rest_table(records: Sequence[Mapping[str, Any]], columns: Mapping[str, str]) -> pa.Table:
    """rest_frame as an Arrow table of strings."""
    return pa.table({name: pa.array([text(_lookup(r, path)) for r in records], pa.string())
                     for name, path in columns.items()})


def csv_table(page: str | bytes, columns: Mapping[str, str]) -> pa.Table:
    """An Arrow table of `columns` ({output name: field path}, every column text) from a Bulk API 2.0 CSV
    page (header of field paths, matched case-insensitively; a field the page lacks is all null). The page
    is parsed by pyarrow's CSV reader, in C++, straight into string columns: no Python object per value."""
    data = page.encode("utf-8") if isinstance(page, str) else page
    end = data.find(b"\n")
    head = (data if end < 0 else data[:end]).decode("utf-8").removeprefix("\ufeff").rstrip("\r")
    header = next(csv.reader([head]), []) if head.strip() else []
    body = b"" if end < 0 else data[end + 1:]
    if not header or not body.strip():
        return pa.table({name: pa.array([], pa.string()) for name in columns})
    position = {}
    for i, name in enumerate(header):
        position.setdefault(name.lower(), i)
    wanted = {name: position.get(path.lower()) for name, path in columns.items()}
    generated = [f"c{i}" for i in range(len(header))]
    read = sorted({i for i in wanted.values() if i is not None})
    parsed = pacsv.read_csv(
        pa.BufferReader(body),
        read_options=pacsv.ReadOptions(column_names=generated, block_size=BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={generated[i]: pa.string() for i in read}, include_columns=[generated[i] for i in read],
            null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True))
    rows = parsed.num_rows
    return pa.table({name: parsed.column(generated[i]) if i is not None else pa.nulls(rows, pa.string())
                     for name, i in wanted.items()})

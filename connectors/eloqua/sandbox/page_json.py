"""JSON for a page of staged export rows, built with Arrow string kernels instead of Python dicts.

A 50,000-row page of 15 text columns serialises in a few tens of milliseconds this way, where
`to_pylist()` + `json.dumps` takes most of a second and several times the memory.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_CONTROL = r"[\x00-\x1f]"


def _escaped(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Text as it goes between JSON double quotes."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    column = pc.fill_null(column, "")
    if pc.any(pc.match_substring_regex(column, _CONTROL)).as_py():
        # Rare (line breaks in a large text field): let the json module escape this column.
        return pa.array([json.dumps(v, ensure_ascii=False)[1:-1] for v in column.to_pylist()], pa.string())
    column = pc.replace_substring(column, "\\", "\\\\")
    return pc.replace_substring(column, '"', '\\"')


def items_json(table: pa.Table) -> bytes:
    """`[{"key": "value", ...}, ...]` for a table of string columns (nulls written as "")."""
    if table.num_rows == 0 or table.num_columns == 0:
        return b"[" + b",".join(b"{}" for _ in range(table.num_rows)) + b"]"
    parts: list[pa.Array | str] = []
    for i, name in enumerate(table.column_names):
        parts.append(("{" if i == 0 else '",') + json.dumps(name, ensure_ascii=False) + ':"')
        parts.append(_escaped(table.column(name)))
    parts.append('"},')
    rows = pc.binary_join_element_wise(*parts, "")
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32, count=len(rows) + 1, offset=rows.offset * 4)
    data = memoryview(rows.buffers()[2])[offsets[0]:offsets[-1] - 1]  # without the last row's comma
    return b"[" + bytes(data) + b"]"


def page_json(meta: dict, table: pa.Table) -> bytes:
    """A data page: the paging fields from `meta`, then the rows as "items"."""
    head = json.dumps(meta, ensure_ascii=False, separators=(",", ":"))[:-1]
    return head.encode() + b',"items":' + items_json(table) + b"}"

"""Keeping the sandbox org's records in a folder across restarts: one Parquet file per object (column-wise,
typed by the schema) and `ids.json` with the id counters. Saves are atomic per file (write, then rename)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from leadsync.connectors.salesforce.sandbox.store import RecordStore

log = logging.getLogger(__name__)

_ARROW_TYPES = {"int": pa.int64(), "double": pa.float64(), "currency": pa.float64(), "percent": pa.float64(),
                "boolean": pa.bool_()}


def save(store: RecordStore, folder: Path) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with store.lock:
        snapshot = {}
        for name, table in store.tables.items():
            columns = {spec.name: list(table.column(spec.name)) for spec in table.spec.stored_fields
                       if spec.name in table.columns}
            snapshot[name] = (table, columns)
        counters = dict(store.ids.counters)
    for name, (table, columns) in snapshot.items():
        types = {spec.name: _ARROW_TYPES.get(spec.type, pa.string()) for spec in table.spec.stored_fields}
        arrow = pa.table({column: pa.array(values, type=types[column]) for column, values in columns.items()})
        _atomic(folder / f"{name}.parquet", lambda path, arrow=arrow: pq.write_table(arrow, path))
    _atomic(folder / "ids.json", lambda path: Path(path).write_text(json.dumps(counters, indent=1)))


def load(store: RecordStore, folder: Path) -> dict[str, int]:
    """Load what `save` wrote into an empty store; returns records loaded per object. Columns the schema
    no longer has are dropped (with a warning)."""
    folder = Path(folder)
    counts: dict[str, int] = {}
    ids_file = folder / "ids.json"
    if ids_file.exists():
        store.ids.counters.update(json.loads(ids_file.read_text()))
    with store.lock:
        for name, table in store.tables.items():
            path = folder / f"{name}.parquet"
            if not path.exists():
                continue
            arrow = pq.read_table(path)
            if arrow.num_rows == 0:
                continue
            columns = {}
            for column in arrow.column_names:
                if column not in table.spec.fields or table.spec.fields[column].computed:
                    log.warning("%s: column %s is not in the schema; dropped", path, column)
                    continue
                columns[column] = _intern(arrow.column(column))
            table.append_columns(columns, arrow.num_rows)
            counts[name] = arrow.num_rows
    return counts


def _intern(column: pa.ChunkedArray) -> list:
    """Python values, sharing one object per distinct value for low-cardinality text (picklists, countries):
    a 300,000-row column of 30 statuses then costs pointers, not 300,000 strings."""
    if pa.types.is_string(column.type) and len(column) > 1000:
        encoded = column.combine_chunks().dictionary_encode()
        if len(encoded.dictionary) < len(column) // 4:
            values = encoded.dictionary.to_pylist()
            return [None if i is None else values[i] for i in encoded.indices.to_pylist()]
    return column.to_pylist()


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)

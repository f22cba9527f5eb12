"""Salesforce records as frames of text: REST JSON records and Bulk API 2.0 CSV pages give the same frame.

Values are text as Salesforce writes them in Bulk CSV: booleans "true"/"false", numbers without a trailing
".0" (1500000, 12.5), dates "2026-11-23", date-times as sent ("2026-11-23T10:15:30.000+0000"); null is None
(Salesforce has no empty text: an empty CSV cell is null). Parent fields are "Relationship.Field" columns.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd


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


def csv_frame(page: str, columns: Mapping[str, str]) -> pd.DataFrame:
    """A frame of `columns` ({output name: field path}) from a Bulk API 2.0 CSV page (header of field paths,
    matched case-insensitively)."""
    if not page.strip():
        return pd.DataFrame({name: [] for name in columns}, columns=list(columns), dtype=object)
    raw = pd.read_csv(io.StringIO(page), dtype=str, keep_default_na=False, na_filter=False)
    by_lower = {str(c).lower(): c for c in raw.columns}
    data = {}
    for name, path in columns.items():
        source = by_lower.get(path.lower())
        if source is None:
            data[name] = [None] * len(raw)
        else:
            data[name] = [value if value != "" else None for value in raw[source].tolist()]
    return pd.DataFrame(data, columns=list(columns), dtype=object)

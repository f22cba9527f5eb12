"""Marketo records as leadsync stores them: text columns named as Marketo names its fields, nulls as None;
Marketo's datetimes; and the content digest that makes batch keys deterministic."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

ID, UPDATED_AT = "id", "updatedAt"


def text(value: Any) -> str | None:
    """A JSON value as the text Bulk Extract writes for it (`true`/`false`, numbers as written)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def frame(records: Iterable[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """Records (JSON objects; a missing field means null) as a DataFrame of text `columns`."""
    rows = [[text(record.get(name)) for name in columns] for record in records]
    return pd.DataFrame(rows, columns=columns, dtype=object)


def iso(when: datetime) -> str:
    """Marketo's datetime format: `2016-05-17T22:11:45Z` (UTC, whole seconds)."""
    return as_utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_time(value: Any) -> datetime | None:
    """A Marketo datetime (REST `…Z`, the Asset API's `…Z+0000`, an offset, or a date) as UTC; None if empty."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raw = str(value).strip()
    if raw.endswith("Z+0000"):
        raw = raw[:-5]
    return as_utc(datetime.fromisoformat(raw))


def iso_text(value: Any) -> str | None:
    """A Marketo datetime rendered in the REST format (the Asset API's variant normalised)."""
    when = parse_time(value)
    return iso(when) if when is not None else None


def digest(records: pd.DataFrame | pa.Table) -> str:
    """A short digest of the (id, updatedAt) pairs of a batch: the same records give the same digest."""
    if isinstance(records, pa.Table):  # sorted by (id, updatedAt) as text: UTF-8 byte order is code point order
        pairs = pa.table({"i": pc.fill_null(records.column(ID).cast(pa.string()), "None"),
                          "u": pc.fill_null(records.column(UPDATED_AT).cast(pa.string()), "")})
        pairs = pairs.take(pc.sort_indices(pairs, [("i", "ascending"), ("u", "ascending")]))
        if not pairs.num_rows:
            return hashlib.sha1(b"").hexdigest()[:12]
        # the lines joined by Arrow into one buffer, hashed as it lies: no Python string per record
        lines = pc.binary_join_element_wise(pairs.column("i"), pairs.column("u"), "|").combine_chunks()
        joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines), "\n")
        return hashlib.sha1(joined[0].as_buffer()).hexdigest()[:12]
    pairs = sorted(zip(records[ID].astype(str), records[UPDATED_AT].fillna("").astype(str), strict=True))
    return hashlib.sha1("\n".join(f"{i}|{u}" for i, u in pairs).encode()).hexdigest()[:12]


def max_updated(records: pd.DataFrame | pa.Table) -> datetime | None:
    if isinstance(records, pa.Table):
        return parse_time(pc.max(records.column(UPDATED_AT)).as_py()) if records.num_rows else None
    values = records[UPDATED_AT].dropna()
    return parse_time(max(values)) if len(values) else None

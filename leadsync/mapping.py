"""Apply a source's field mapping to a table of source strings.

Pure functions over DataFrames: no I/O. `map_records` returns the leads that passed validation
(typed, one column per lead field) and the rows that did not, each with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from leadsync.config.schema import FieldMapping, FieldType, SourceConfig
from leadsync.validation import (
    canonical_multi,
    canonical_picklist,
    failure_reasons,
    is_required,
    parse_datetime,
)


class MissingColumnsError(ValueError):
    """The file lacks required columns; nothing in it can become a lead."""


@dataclass
class MappedRecords:
    leads: pd.DataFrame  # index = input index; one typed column per lead field
    quarantined: pd.Series  # index = input index; value = reason


def resolve_columns(cfg: SourceConfig, columns: list[str]) -> dict[str, str]:
    """Map each present lead field to the file's column (headers match case- and space-insensitively).

    Raises MissingColumnsError when a required column is absent, naming it and what the file has."""
    by_key = {c.strip().lower(): c for c in columns}
    found: dict[str, str] = {}
    missing: list[FieldMapping] = []
    for f in cfg.fields:
        col = by_key.get(f.column.strip().lower())
        if col is not None:
            found[f.field] = col
        elif is_required(f):
            missing.append(f)
    if missing:
        names = ", ".join(f"'{f.column}' (lead field {f.field})" for f in missing)
        raise MissingColumnsError(
            f"missing required column{'s' if len(missing) > 1 else ''} {names}; the file has columns: "
            f"{', '.join(repr(c) for c in columns)}. Add the column to the file or fix 'column' in the mapping."
        )
    return found


def normalise(values: pd.Series) -> pd.Series:
    """Trim whitespace; empty strings become missing. Arrow-backed strings: vectorised in C++."""
    s = values.astype("string[pyarrow]").str.strip()
    return s.mask(s == "")


def map_records(cfg: SourceConfig, raw: pd.DataFrame, columns: dict[str, str]) -> MappedRecords:
    frame = pd.DataFrame(
        {f.field: normalise(raw[columns[f.field]]) if f.field in columns else pd.Series(None, index=raw.index, dtype=object)
         for f in cfg.fields},
        index=raw.index,
    )
    reasons = failure_reasons(cfg, frame)
    good = frame.drop(index=reasons.index)
    return MappedRecords(leads=cast(cfg, good), quarantined=reasons)


def cast(cfg: SourceConfig, frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for f in cfg.fields:
        s = frame[f.field]
        if f.type is FieldType.number:
            out[f.field] = pd.to_numeric(s, errors="coerce").astype("float64")
        elif f.type is FieldType.datetime:
            out[f.field] = parse_datetime(s, f.format)
        elif f.type is FieldType.picklist:
            out[f.field] = canonical_picklist(s, f.values or []).astype(object)
        elif f.type is FieldType.multi_picklist:
            out[f.field] = canonical_multi(s, f).astype(object)
        elif f.format == "email":
            out[f.field] = s.str.lower()
        else:
            out[f.field] = s
        out[f.field] = as_objects(out[f.field])
    return out


def as_objects(values: pd.Series) -> pd.Series:
    """Arrow strings back to Python objects with None for missing (what the store and routing expect)."""
    if isinstance(values.dtype, pd.StringDtype):
        return values.astype(object).where(values.notna(), None)
    return values

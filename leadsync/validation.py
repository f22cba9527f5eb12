"""Pandera schemas built from a source's field mapping.

Two schemas come from the same YAML:
- `raw_schema` checks the source's strings before casting (is it an email, a number, a date, an
  allowed picklist value, present when required); its failure cases become per-row quarantine reasons.
- `typed_schema` describes a stored lead after casting; the asset check validates stored leads with it.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pandera.pandas as pa

from leadsync.config.schema import FieldMapping, FieldType, SourceConfig

EMAIL_PATTERN = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"


def is_email(values: pd.Series) -> pd.Series:
    return values.astype("string").str.fullmatch(EMAIL_PATTERN).fillna(False).astype(bool)


def parse_datetime(values: pd.Series, fmt: str | None) -> pd.Series:
    """Parse strings to UTC timestamps; unparseable values become NaT. Naive times are taken as UTC."""
    if fmt:
        return pd.to_datetime(values, format=fmt, errors="coerce", utc=True)
    return pd.to_datetime(values, format="ISO8601", errors="coerce", utc=True)


def canonical_picklist(values: pd.Series, allowed: list[str]) -> pd.Series:
    """Map values case-insensitively onto the allowed spelling; unknown values become NaN."""
    lookup = {v.lower(): v for v in allowed}
    return values.str.lower().map(lookup)


def split_multi(values: pd.Series, sep: str) -> pd.Series:
    """One row per value of a multi-picklist cell, index kept, blanks dropped."""
    parts = values.dropna().str.split(sep, regex=False).explode().str.strip()
    return parts[parts.notna() & (parts != "")]


def canonical_multi(values: pd.Series, f: FieldMapping) -> pd.Series:
    """Allowed spellings, de-duplicated, in the order of the allowed list, joined by the separator.
    Vectorised: one boolean column per allowed value, no per-row Python."""
    parts = canonical_picklist(split_multi(values, f.separator), f.values or []).dropna()
    joined = pd.Series("", index=values.index, dtype=object)
    for allowed in f.values or []:
        present = parts[parts == allowed].groupby(level=0).size().reindex(values.index, fill_value=0) > 0
        joined = joined + present.map({True: allowed + f.separator, False: ""}).astype(object)
    joined = joined.str.slice(0, -len(f.separator)) if f.separator else joined
    return joined.where(joined.str.len() > 0, None)


def _checks(f: FieldMapping) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if f.type is FieldType.string and f.format == "email":
        checks.append(pa.Check(is_email, name="email", ignore_na=True))
    if f.type is FieldType.string and f.max_length:
        checks.append(pa.Check(lambda s, n=f.max_length: s.str.len() <= n, name="max_length", ignore_na=True))
    if f.type is FieldType.number:
        checks.append(pa.Check(lambda s: pd.to_numeric(s, errors="coerce").notna(), name="number", ignore_na=True))
    if f.type is FieldType.datetime:
        checks.append(pa.Check(lambda s, fmt=f.format: parse_datetime(s, fmt).notna(), name="datetime", ignore_na=True))
    if f.type is FieldType.picklist:
        checks.append(
            pa.Check(lambda s, v=f.values: canonical_picklist(s, v).notna(), name="picklist", ignore_na=True)
        )
    if f.type is FieldType.multi_picklist:

        def all_allowed(s: pd.Series, f: FieldMapping = f) -> pd.Series:
            parts = split_multi(s, f.separator)
            ok = canonical_picklist(parts, f.values or []).notna().groupby(level=0).all()
            return ok.reindex(s.index, fill_value=True)

        checks.append(pa.Check(all_allowed, name="multi_picklist", ignore_na=True))
    return checks


def is_required(f: FieldMapping) -> bool:
    # A lead without an email cannot be delivered to anyone, whatever the YAML says.
    return f.required or f.field == "email"


def raw_schema(cfg: SourceConfig) -> pa.DataFrameSchema:
    columns = {f.field: pa.Column(None, checks=_checks(f), nullable=not is_required(f), coerce=False)
               for f in cfg.fields}
    return pa.DataFrameSchema(columns, name=f"{cfg.name}_raw", strict=False)


_PANDAS_TYPES = {
    FieldType.string: object,
    FieldType.picklist: object,
    FieldType.multi_picklist: object,
    FieldType.number: "float64",
    FieldType.datetime: pd.DatetimeTZDtype(tz="UTC"),
}


def typed_schema(cfg: SourceConfig) -> pa.DataFrameSchema:
    """What a stored lead of this source looks like; lead_id is unique."""
    columns: dict[str, pa.Column] = {"lead_id": pa.Column(str, unique=True, nullable=False)}
    for f in cfg.fields:
        checks = []
        if f.type is FieldType.picklist:
            checks.append(pa.Check.isin(f.values or [], name="picklist"))
        if f.type is FieldType.multi_picklist:
            checks.append(
                pa.Check(lambda s, f=f: split_multi(s, f.separator).isin(f.values or []).all(), name="multi_picklist")
            )
        if f.type is FieldType.string and f.format == "email":
            checks.append(pa.Check(is_email, name="email"))
        columns[f.field] = pa.Column(_PANDAS_TYPES[f.type], checks=checks, nullable=not is_required(f))
    return pa.DataFrameSchema(columns, name=f"{cfg.name}_leads", strict=False)


def failure_reasons(cfg: SourceConfig, frame: pd.DataFrame) -> pd.Series:
    """Validate `frame` (normalised strings, one column per lead field) and return, per failing row
    index, a readable reason naming each bad column, its value and what was expected."""
    try:
        raw_schema(cfg).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return pd.Series(dtype=object)
    cases = cases[cases["index"].notna()]
    by_field = {f.field: f for f in cfg.fields}
    messages = [
        _reason(by_field[col], check, value)
        for col, check, value in zip(cases["column"], cases["check"], cases["failure_case"])
    ]
    reasons = pd.Series(messages, index=cases["index"].astype(frame.index.dtype).to_numpy())
    return reasons.groupby(level=0).agg(lambda s: "; ".join(dict.fromkeys(s)))


def _reason(f: FieldMapping, check: str, value: object) -> str:
    where = f"column '{f.column}'"
    explain: dict[str, Callable[[], str]] = {
        "not_nullable": lambda: f"{where} is empty but required",
        "email": lambda: f"{where} value {value!r} is not a valid email address",
        "max_length": lambda: f"{where} value is longer than {f.max_length} characters",
        "number": lambda: f"{where} value {value!r} is not a number",
        "datetime": lambda: f"{where} value {value!r} is not a date/time (expected "
        + (f"format {f.format}" if f.format else "ISO 8601, e.g. 2026-11-23 or 2026-11-23T14:30:00Z")
        + ")",
        "picklist": lambda: f"{where} value {value!r} is not one of: {', '.join(f.values or [])}",
        "multi_picklist": lambda: f"{where} value {value!r} has values outside: {', '.join(f.values or [])}",
    }
    return explain.get(check.split("(")[0], lambda: f"{where} value {value!r} failed check {check}")()

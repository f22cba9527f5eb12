"""The pandera schema of a source's stored leads, built from the same YAML as the plan: what users and the
`schema_valid` asset check see. It runs on polars frames over the store's Arrow batches (vectorised, in
slices), never over Python objects.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pandera.polars as pa
import polars as pl
import sqlalchemy as sa

from leadsync.config.schema import FieldMapping, FieldType, SourceConfig
from leadsync.intake.plan import EMAIL_PATTERN, is_required
from leadsync.store import LeadStore, tables
from leadsync.store.tables import STANDARD_LEAD_FIELDS

_DTYPES = {
    FieldType.string: pl.Utf8,
    FieldType.picklist: pl.Utf8,
    FieldType.multi_picklist: pl.Utf8,
    FieldType.number: pl.Float64,
    FieldType.datetime: pl.Datetime(time_unit="us", time_zone="UTC"),
}


def _multi_allowed(f: FieldMapping) -> pa.Check:
    allowed = list(f.values or [])

    def check(data) -> pl.LazyFrame:
        parts = pl.col(data.key).str.split(f.separator)
        return data.lazyframe.select(parts.list.eval(pl.element().is_in(allowed)).list.all().fill_null(True))

    return pa.Check(check, name="multi_picklist")


def _checks(f: FieldMapping) -> list[pa.Check]:
    if f.type is FieldType.picklist:
        return [pa.Check.isin(f.values or [], name="picklist")]
    if f.type is FieldType.multi_picklist:
        return [_multi_allowed(f)]
    if f.type is FieldType.string and f.format == "email":
        return [pa.Check.str_matches(f"^(?:{EMAIL_PATTERN})$", name="email")]
    if f.type is FieldType.string and f.max_length:
        return [pa.Check.str_length(max_value=f.max_length, name="max_length")]
    return []


def typed_schema(cfg: SourceConfig) -> pa.DataFrameSchema:
    """What a stored lead of this source looks like; lead_id is unique."""
    columns: dict[str, pa.Column] = {"lead_id": pa.Column(pl.Utf8, unique=True, nullable=False)}
    for f in cfg.fields:
        columns[f.field] = pa.Column(_DTYPES[f.type], checks=_checks(f), nullable=not is_required(f))
    return pa.DataFrameSchema(columns, name=f"{cfg.name}_leads", strict=False)


def stored_slices(store: LeadStore, cfg: SourceConfig, where, rows: int = 250_000) -> Iterator[pl.DataFrame]:
    """The source's stored leads matching `where`, as typed polars frames of about `rows` rows."""
    t = tables.leads
    standard = [f.field for f in cfg.fields if f.field in STANDARD_LEAD_FIELDS]
    extra = [f for f in cfg.fields if f.field not in STANDARD_LEAD_FIELDS]
    cols = [t.c.lead_id, *[t.c[name] for name in standard], *([t.c.attributes] if extra else [])]
    with store.begin() as conn:
        for batch in store.read_batches(conn, sa.select(*cols).where(t.c.source == cfg.name, where), rows):
            frame = pl.from_arrow(batch)
            if extra:
                shape = pl.Struct({f.field: pl.Float64 if f.type is FieldType.number else pl.Utf8 for f in extra})
                frame = frame.with_columns(pl.col("attributes").str.json_decode(shape)).unnest("attributes")
                frame = frame.with_columns([pl.col(f.field).str.to_datetime(time_zone="UTC", strict=False)
                                            for f in extra if f.type is FieldType.datetime])
            yield frame.with_columns([pl.col(f.field).cast(_DTYPES[f.type]) for f in cfg.fields
                                      if f.field in frame.columns and f.type is FieldType.datetime])


def validate_stored(cfg: SourceConfig, store: LeadStore, batch_ids: list[str]) -> tuple[int, pd.DataFrame | None]:
    """Validate the leads stored from these batches against the typed schema, slice by slice.
    Returns (rows checked, failure cases as a DataFrame, or None when every lead conforms)."""
    schema = typed_schema(cfg)
    checked, failures = 0, []
    for frame in stored_slices(store, cfg, tables.leads.c.batch_id.in_(batch_ids)):
        checked += frame.height
        try:
            schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as exc:
            failures.append(exc.failure_cases.head(100).to_pandas())
    return checked, (pd.concat(failures, ignore_index=True) if failures else None)

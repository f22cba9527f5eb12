"""The pandera schema of a source's stored leads, built from the same YAML as the plan: what users and the
`schema_valid` asset check see. It runs on polars frames over the Arrow slices the intake stores (vectorised),
never over Python objects. Imported by the intake when it first checks a slice, not with the code location.
"""

from __future__ import annotations

import pandas as pd
import pandera.polars as pa
import polars as pl
import pyarrow as pa_arrow
import sqlalchemy as sa

from leadsync.config.schema import FieldMapping, FieldType, SourceConfig
from leadsync.intake.plan import EMAIL_PATTERN, is_required
from leadsync.store import tables
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


def stored_columns(cfg: SourceConfig) -> list[sa.Column]:
    """The leads-table columns the schema reads: the id, the standard fields, the attributes holding the rest."""
    t = tables.leads
    standard = [f.field for f in cfg.fields if f.field in STANDARD_LEAD_FIELDS]
    extra = any(f.field not in STANDARD_LEAD_FIELDS for f in cfg.fields)
    return [t.c.lead_id, *[t.c[name] for name in standard], *([t.c.attributes] if extra else [])]


def typed_frame(cfg: SourceConfig, rows: pa_arrow.Table | pa_arrow.RecordBatch) -> pl.DataFrame:
    """Leads as stored (Arrow, the leads table's columns) as the typed polars frame the schema checks: the
    mapped fields without a column of their own decoded from `attributes`, times as UTC datetimes."""
    extra = [f for f in cfg.fields if f.field not in STANDARD_LEAD_FIELDS]
    frame = pl.from_arrow(rows.select([c.name for c in stored_columns(cfg)]))
    if extra:
        shape = pl.Struct({f.field: pl.Float64 if f.type is FieldType.number else pl.Utf8 for f in extra})
        frame = frame.with_columns(pl.col("attributes").str.json_decode(shape)).unnest("attributes")
        frame = frame.with_columns([pl.col(f.field).str.to_datetime(time_zone="UTC", strict=False)
                                    for f in extra if f.type is FieldType.datetime])
    return frame.with_columns([pl.col(f.field).cast(_DTYPES[f.type]) for f in cfg.fields
                               if f.field in frame.columns and f.type is FieldType.datetime])


class SchemaCheck:
    """The `schema_valid` check of one intake run: every slice of leads the intake stores is validated against
    the typed schema as it is stored (the Arrow table it sends to the store, or on the embedded store the
    slice read back where it lies), so the check never reads the run's leads back from the store."""

    def __init__(self, cfg: SourceConfig):
        self.cfg, self.schema = cfg, typed_schema(cfg)
        self.checked, self._failures = 0, []

    def validate(self, rows: pa_arrow.Table | pa_arrow.RecordBatch) -> None:
        frame = typed_frame(self.cfg, rows)
        self.checked += frame.height
        try:
            self.schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as exc:
            if sum(len(f) for f in self._failures) < 100:  # enough to show; the count of rows checked is exact
                self._failures.append(exc.failure_cases.head(100).to_pandas())

    @property
    def failures(self) -> pd.DataFrame | None:
        """Failure cases (at most a hundred per slice, first slices first), or None when every lead conforms."""
        return pd.concat(self._failures, ignore_index=True) if self._failures else None

"""Map and validate: new raw rows of a source become leads or quarantine rows, never nothing."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from leadsync.config.schema import SourceConfig
from leadsync.mapping import MissingColumnsError, map_records, resolve_columns
from leadsync.pull.raw_batches import rows_as_json
from leadsync.store import LeadStore, tables
from leadsync.store.tables import STANDARD_LEAD_FIELDS
from leadsync.uniqueness import lead_identity


@dataclass
class IntakeReport:
    received: int = 0
    stored: int = 0
    merged_duplicates: int = 0
    quarantined: int = 0
    reasons: Counter = field(default_factory=Counter)
    batch_ids: list[str] = field(default_factory=list)


def map_new_rows(cfg: SourceConfig, store: LeadStore, now: datetime) -> IntakeReport:
    report = IntakeReport()
    with store.begin() as conn:
        batches = conn.execute(
            sa.select(tables.raw_rows.c.batch_id, tables.source_files.c.file_name)
            .join(tables.source_files, tables.source_files.c.batch_id == tables.raw_rows.c.batch_id)
            .where(tables.raw_rows.c.source == cfg.name, tables.raw_rows.c.state == "new")
            .group_by(tables.raw_rows.c.batch_id, tables.source_files.c.file_name)
            .order_by(tables.raw_rows.c.batch_id)
        ).fetchall()
    for batch_id, file_name in batches:
        _map_batch(cfg, store, batch_id, file_name, now, report)
    return report


def _map_batch(cfg: SourceConfig, store: LeadStore, batch_id: str, file_name: str, now: datetime,
               report: IntakeReport) -> None:
    with store.begin() as conn:
        raw = store.read_frame(
            conn,
            sa.select(tables.raw_rows.c.row_number, tables.raw_rows.c.payload)
            .where(tables.raw_rows.c.batch_id == batch_id, tables.raw_rows.c.state == "new")
            .order_by(tables.raw_rows.c.row_number),
        )
        if raw.empty:
            return
        records = parse_payloads(raw["payload"])
        records.index = raw["row_number"].to_numpy()
        payloads = pd.Series(raw["payload"].to_numpy(), index=records.index)
        report.received += len(records)

        try:
            mapped = map_records(cfg, records, resolve_columns(cfg, list(records.columns)))
            reasons = mapped.quarantined
            id_column = _record_id_column(cfg, records)
            ids = records[id_column].astype(str) if id_column else None
            good = lead_identity(cfg, batch_id, mapped.leads, ids)
            if ids is not None:
                good["source_record_id"] = ids.reindex(good.index).to_numpy()
            if SEGREGATED in records:
                good["segregated"] = (records[SEGREGATED].astype(str).str.lower() == "true").reindex(good.index)
        except MissingColumnsError as exc:  # the mapping changed since the pull: nothing maps
            reasons = pd.Series(str(exc), index=records.index)
            good = pd.DataFrame()

        report.merged_duplicates += len(records) - len(reasons) - len(good)
        if len(good):
            frame = _lead_rows(cfg, batch_id, good, now)
            key_mode = cfg.uniqueness.mode == "key" or cfg.is_api  # API records update their lead
            update = [c for c in frame.columns if c not in ("lead_id", "received_at")]
            store.insert_frame(conn, tables.leads, frame, conflict="update" if key_mode else "nothing",
                               update=update)
        if len(reasons):
            q = pd.DataFrame({
                "batch_id": batch_id,
                "row_number": reasons.index.astype("int64"),
                "source": cfg.name,
                "file_name": file_name,
                "payload": payloads.loc[reasons.index].to_numpy(),
                "reason": reasons.to_numpy(),
                "quarantined_at": now,
            })
            store.insert_frame(conn, tables.quarantine, q, conflict="nothing")
            report.reasons.update(_reason_kinds(reasons))
        conn.execute(
            sa.update(tables.raw_rows)
            .where(tables.raw_rows.c.batch_id == batch_id, tables.raw_rows.c.state == "new")
            .values(state="mapped")
        )
    report.stored += len(good)
    report.quarantined += len(reasons)
    report.batch_ids.append(batch_id)


# The column an API connector adds to flag records of the source's segregation filter.
SEGREGATED = "__segregated__"


def _record_id_column(cfg: SourceConfig, records: pd.DataFrame) -> str | None:
    wanted = cfg.record_id_column
    if wanted is None:
        return None
    return next((c for c in records.columns if c.lower() == wanted.lower()), None)


def parse_payloads(payloads: pd.Series) -> pd.DataFrame:
    """JSON rows back into a table of strings (pyarrow's reader: C++, multi-threaded)."""
    import pyarrow as pa
    import pyarrow.json as pajson

    table = pajson.read_json(io.BytesIO("\n".join(payloads).encode("utf-8")),
                             read_options=pajson.ReadOptions(block_size=1 << 24))
    frame = table.to_pandas(types_mapper={pa.string(): pd.ArrowDtype(pa.string())}.get)
    return frame.astype(object).where(frame.notna(), None)


def _lead_rows(cfg: SourceConfig, batch_id: str, good: pd.DataFrame, now: datetime) -> pd.DataFrame:
    standard = [f.field for f in cfg.fields if f.field in STANDARD_LEAD_FIELDS]
    extra = [f.field for f in cfg.fields if f.field not in STANDARD_LEAD_FIELDS]
    frame = pd.DataFrame({
        "lead_id": good["lead_id"].to_numpy(),
        "source": cfg.name,
        "batch_id": batch_id,
        "row_number": good.index.astype("int64"),
        "lead_key": good["lead_key"].to_numpy(),
        "source_record_id": good["source_record_id"].to_numpy() if "source_record_id" in good else None,
        "segregated": good["segregated"].to_numpy(dtype=bool) if "segregated" in good else False,
    })
    for name in standard:
        frame[name] = good[name].to_numpy()
    frame["attributes"] = rows_as_json(good[extra].reset_index(drop=True)) if extra else None
    frame["received_at"] = now
    frame["updated_at"] = now
    return frame


def _reason_kinds(reasons: pd.Series) -> Counter:
    """Count reasons by kind (the message without the offending value) for the run summary."""
    kinds: Counter = Counter()
    for text in reasons:
        for part in str(text).split("; "):
            kinds[part.split(" value ")[0] + (" (bad value)" if " value " in part else "")] += 1
    return kinds


def leads_frame(store: LeadStore, conn: sa.Connection, cfg: SourceConfig, where,
                fields: list[str] | None = None) -> pd.DataFrame:
    """Stored leads of a source with attributes expanded back into columns, one per mapped field.
    `fields` limits the lead fields read (the bookkeeping columns always come)."""
    t = tables.leads
    if fields is None:
        cols, extra = list(t.c), [f.field for f in cfg.fields if f.field not in STANDARD_LEAD_FIELDS]
    else:
        wanted = set(fields)
        extra = [f.field for f in cfg.fields if f.field not in STANDARD_LEAD_FIELDS and f.field in wanted]
        # only what routing needs: a million leads' unused text columns would cost hundreds of MB
        keep = {"lead_id", "batch_id", "row_number", "received_at", "segregated", "attributes"}
        cols = [c for c in t.c if c.name in keep or (c.name in STANDARD_LEAD_FIELDS and c.name in wanted)]
        if not extra:
            cols = [c for c in cols if c.name != "attributes"]
    df = store.read_frame(conn, sa.select(*cols).where(t.c.source == cfg.name, where))
    if extra:
        present = df["attributes"].notna() & (df["attributes"] != "")
        attrs = parse_payloads(df.loc[present, "attributes"]) if present.any() else pd.DataFrame()
        attrs.index = df.index[present]
        for name in extra:
            df[name] = attrs[name].reindex(df.index) if name in attrs else None
    return df

"""Pull an API source (Salesforce, Marketo, Eloqua) into the raw store, batch by batch, with a watermark.

Every source is driven the same way through the LeadSource contract (connectors/source_api.py):
check the connection, check the YAML's mapped fields against the source's real fields, then store each
pulled batch and move the watermark (and the export's resume point) in the same transaction. A record
version already received (same id and modification stamp, e.g. re-read in the look-back window) is not
stored again. Daily-quota exhaustion stops the pull cleanly: what was stored stays, the watermark stays
where the last stored batch left it, and the report carries the vendor's message.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from connectors.api_client import ApiConfigError, ApiQuotaExhausted
from connectors.source_api import CampaignSelection, LeadSource, PulledBatch
from leadsync.config import ConfigError
from leadsync.config.schema import ApiSource
from leadsync.pull.raw_batches import BatchInfo, rows_as_json, store_batch
from leadsync.store import LeadStore, tables

# Columns the pull adds to records from the campaign membership (map them like any other column).
CAMPAIGN_COLUMNS = ("CampaignId", "CampaignName")


@dataclass
class ApiPullReport:
    batches: int = 0
    received: int = 0
    stored: int = 0
    already_had: int = 0
    paths: Counter = field(default_factory=Counter)  # rest | bulk → records
    watermark: datetime | None = None
    stopped: str | None = None  # why the pull stopped early (quota), None when it read everything
    campaigns: int = 0
    memberships: int = 0
    activities: int = 0


def check_mapping(cfg: ApiSource, source: LeadSource, file: Path) -> list[str]:
    """The source's field names for the mapped columns; a column the source does not have fails the pull
    with the object, the field and the mapping file."""
    available = source.available_fields()
    by_lower = {name.lower(): name for name in available}
    fields, problems = [], []
    for i, f in enumerate(cfg.fields):
        if f.column in CAMPAIGN_COLUMNS:
            continue
        name = by_lower.get(f.column.lower())
        if name is None:
            near = [n for n in available if n.lower().startswith(f.column.lower()[:4])][:5]
            hint = f"; similar fields: {', '.join(near)}" if near else ""
            problems.append(f"fields[{i}] ({f.field}): {object_label(cfg)} has no field '{f.column}'{hint}. "
                            "Fix 'column' in the mapping or create the field in the source system.")
        else:
            fields.append(name)
    if problems:
        raise ConfigError(file, problems)
    return sorted({*fields, source.record_id_field, source.modified_field})


def object_label(cfg: ApiSource) -> str:
    if cfg.type == "salesforce":
        return f"Salesforce {cfg.connection.object}"
    return {"marketo": "Marketo lead", "eloqua": "Eloqua contact"}.get(cfg.type, cfg.type)


@dataclass(frozen=True)
class PullWindow:
    """A time window of the source's history (a backfill partition): records modified in [start, end), read
    with a watermark of its own (stream `records@<key>`), so a window that failed resumes where it stopped
    without touching the others or the incremental pull's watermark."""

    key: str
    start: datetime
    end: datetime

    @property
    def stream(self) -> str:
        return f"records@{self.key}"


def pull_records(cfg: ApiSource, source: LeadSource, store: LeadStore, now: datetime, file: Path,
                 window: PullWindow | None = None) -> ApiPullReport:
    """The incremental pull (window None), or one window of history. Records already received (the same
    version, from any window or the incremental pull) are not stored twice."""
    report = ApiPullReport()
    try:
        source.check()
        fields = check_mapping(cfg, source, file)
    except ApiConfigError as exc:
        raise ConfigError(file, [f"connection: {exc}"]) from None
    stream = window.stream if window else "records"
    watermark, resume = _watermark(store, cfg.name, stream)
    since = (watermark - timedelta(minutes=cfg.pull.look_back_minutes)) if watermark else cfg.pull.since
    until = None
    if window is not None:
        since, until = max(since, window.start) if since else window.start, window.end
    report.watermark = watermark

    membership = _campaign_data(cfg, source, store, since, now, report)
    try:
        for batch in source.pull(fields, since, resume, until):
            _store(cfg, source, store, batch, membership, now, report, stream)
    except ApiQuotaExhausted as exc:
        report.stopped = f"stopped early, the watermark stays at {report.watermark}: {exc}"
    # activities have no upper bound in the source contract: the incremental pull reads them
    if cfg.pull.activities.enabled and window is None:
        _activities(cfg, source, store, since, report)
    return report


def _store(cfg: ApiSource, source: LeadSource, store: LeadStore, batch: PulledBatch, membership: pd.DataFrame,
           now: datetime, report: ApiPullReport, stream: str = "records") -> None:
    records = batch.records.reset_index(drop=True)
    report.batches += 1
    report.received += len(records)
    report.paths[batch.kind] += len(records)
    batch_id = hashlib.sha1(f"{cfg.name}\0{batch.key}".encode()).hexdigest()[:16]
    versions = record_versions(as_strings(records), source.record_id_field, source.modified_field)
    sr = tables.source_records
    with store.begin() as conn, store.staged(conn, versions) as stage:
        # set-based against what the source already sent: a version seen before, or the same content under a
        # new modification stamp (our own writeback's echo), is not a change
        seen = conn.execute(sa.text(
            f"SELECT s.position, s.last AND NOT EXISTS (SELECT 1 FROM {sr.name} v WHERE v.source = :source "
            f"AND v.record_id = s.record_id AND v.modified = s.modified) AS new_version, "
            f"NOT EXISTS (SELECT 1 FROM {sr.name} v WHERE v.source = :source AND v.record_id = s.record_id "
            f"AND v.content_sha = s.content_sha) AS changed FROM {stage} s ORDER BY s.position"),
            {"source": cfg.name}).all()
    new_version = pd.Series([bool(r[1]) for r in seen], index=records.index)
    changed = pd.Series([bool(r[2]) for r in seen], index=records.index)
    fresh = new_version & changed
    report.already_had += int((~fresh).sum())
    kept = versions.filter(pa.array(new_version.to_numpy()))
    new_versions = pa.table({"source": pa.array([cfg.name] * kept.num_rows, pa.string()),
                             "record_id": kept.column("record_id"), "modified": kept.column("modified"),
                             "content_sha": kept.column("content_sha"),
                             "batch_id": pa.array([batch_id] * kept.num_rows, pa.string())})
    rows = _with_campaigns(cfg, records[fresh].reset_index(drop=True), source.record_id_field, membership)

    def move_watermark(conn: sa.Connection) -> None:
        store.insert_frame(conn, tables.source_records, new_versions, conflict="nothing")
        _save_watermark(store, conn, cfg.name, stream, batch.watermark, batch.resume, now)

    shas = versions.filter(pa.array(fresh.to_numpy())).column("content_sha").to_pylist()
    digest = hashlib.sha256("\n".join(shas).encode()).hexdigest() if shas else "empty"
    info = BatchInfo(batch_id, cfg.name, batch.key, digest, 0)
    table = as_strings(rows)
    report.stored += store_batch(store, info, table, pa.array(range(1, table.num_rows + 1), pa.int64()), now,
                                 also=move_watermark)
    if batch.watermark is not None:
        report.watermark = batch.watermark


def as_strings(records: pd.DataFrame) -> pa.Table:
    """The records as received, every column text (a missing value stays null), for the raw store."""
    columns = {}
    for name in records.columns:
        values = records[name]
        if pd.api.types.is_bool_dtype(values):  # True/False as the vendors' JSON would print them
            values = values.map({True: "true", False: "false"})
        columns[str(name)] = pa.array(values.astype("string"), pa.string())
    return pa.table(columns) if columns else pa.table({})


def record_versions(table: pa.Table, id_field: str, modified_field: str) -> pa.Table:
    """Per record of the page: position, record id, modification stamp, a hash of what it says (its stamp
    aside: our own writeback changes the stamp of every record it touches, and those echoes must not come
    back as changed leads), and whether it is the last copy of that version in the page. Computed set-based
    in DuckDB."""
    content = [c for c in table.column_names if c != modified_field]
    parts = ", ".join(f"coalesce({_ident(c)}, chr(0))" for c in content) or "''"
    con = duckdb.connect()
    try:
        con.register("page", table.append_column("__position__", pa.array(range(table.num_rows), pa.int64())))
        return con.execute(
            f"SELECT position, record_id, modified, content_sha, "
            f"row_number() OVER (PARTITION BY record_id, modified ORDER BY position DESC) = 1 AS last FROM ("
            f"SELECT __position__ AS position, CAST({_ident(id_field)} AS VARCHAR) AS record_id, "
            f"coalesce(CAST({_ident(modified_field)} AS VARCHAR), '') AS modified, "
            f"left(sha1(concat_ws(chr(31), {parts})), 20) AS content_sha FROM page) ORDER BY position").to_arrow_table()
    finally:
        con.close()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _with_campaigns(cfg: ApiSource, records: pd.DataFrame, id_field: str, membership: pd.DataFrame) -> pd.DataFrame:
    """Attach CampaignId/CampaignName. With campaign in the uniqueness key a record in two campaigns is two
    rows (two leads); otherwise the record keeps one row with its latest campaign."""
    if membership.empty or records.empty:
        return records
    keyed = records.assign(__record__=records[id_field].astype(str))
    joined = keyed.merge(membership.rename(columns={"record_id": "__record__"}), on="__record__", how="left")
    joined = joined.drop(columns="__record__")
    if "campaign" not in cfg.uniqueness.key:
        joined = joined.drop_duplicates(subset=[id_field], keep="last")
    return joined.reset_index(drop=True)


def _campaign_data(cfg: ApiSource, source: LeadSource, store: LeadStore, since, now, report) -> pd.DataFrame:
    """Selected campaigns and their members, stored; returns record_id → CampaignId/CampaignName."""
    sel = cfg.pull.campaigns
    if not sel.any:
        return pd.DataFrame()
    found = source.campaigns(CampaignSelection(ids=sel.ids, name_pattern=sel.name_pattern, types=sel.types))
    if found.empty:
        return pd.DataFrame()
    standard = ["campaign_id", "name", "description", "type", "start_date", "end_date"]
    rows = pd.DataFrame({c: found[c].astype(object) if c in found else None for c in standard})
    extra = found.drop(columns=[c for c in standard if c in found])
    rows["details"] = rows_as_json(extra.astype(str)) if len(extra.columns) else None
    rows["source"], rows["updated_at"] = cfg.name, now
    members = source.memberships(rows["campaign_id"].astype(str).tolist(), None)
    with store.begin() as conn:
        store.insert_frame(conn, tables.campaigns, rows, conflict="update",
                           update=[*standard[1:], "details", "updated_at"])
        if len(members):
            m = members.assign(source=cfg.name)[["source", "campaign_id", "record_id", "status", "joined_at"]]
            m = m.astype({"campaign_id": str, "record_id": str}).drop_duplicates(["campaign_id", "record_id"])
            store.insert_frame(conn, tables.campaign_members, m, conflict="update", update=["status", "joined_at"])
        stored = store.read_frame(conn, sa.select(tables.campaign_members.c.record_id,
                                                  tables.campaign_members.c.campaign_id,
                                                  tables.campaign_members.c.joined_at, tables.campaigns.c.name)
                                  .join(tables.campaigns, sa.and_(
                                      tables.campaigns.c.source == tables.campaign_members.c.source,
                                      tables.campaigns.c.campaign_id == tables.campaign_members.c.campaign_id))
                                  .where(tables.campaign_members.c.source == cfg.name))
    report.campaigns, report.memberships = len(rows), len(members)
    stored = stored.sort_values(["record_id", "joined_at"], na_position="first")
    return stored.rename(columns={"campaign_id": "CampaignId", "name": "CampaignName"})[
        ["record_id", "CampaignId", "CampaignName"]]


def _activities(cfg: ApiSource, source: LeadSource, store: LeadStore, since, report: ApiPullReport) -> None:
    found = source.activities(since, cfg.pull.activities.types or None)
    if found.empty:
        return
    rows = found.assign(source=cfg.name)[["source", "activity_id", "record_id", "activity_type", "occurred_at",
                                          "detail"]].astype({"activity_id": str, "record_id": str})
    with store.begin() as conn:
        store.insert_frame(conn, tables.lead_activities, rows.drop_duplicates("activity_id"), conflict="nothing")
    report.activities = len(rows)


def _watermark(store: LeadStore, source: str, stream: str) -> tuple[datetime | None, dict | None]:
    w = tables.source_watermarks
    with store.begin() as conn:
        rows = conn.execute(sa.select(w.c.watermark, w.c.resume).where(w.c.source == source, w.c.stream == stream)).all()
    if not rows:
        return None, None
    watermark, resume = rows[0]
    return (pd.Timestamp(watermark).tz_convert("UTC").to_pydatetime() if watermark is not None else None,
            json.loads(resume) if resume else None)


def _save_watermark(store: LeadStore, conn: sa.Connection, source: str, stream: str, watermark: datetime | None,
                    resume: dict | None, now: datetime) -> None:
    w = tables.source_watermarks
    current = conn.execute(sa.select(w.c.watermark).where(w.c.source == source, w.c.stream == stream)).all()
    keep = current[0][0] if current else None
    row = pd.DataFrame([{"source": source, "stream": stream, "watermark": watermark or keep,
                         "resume": json.dumps(resume, default=str) if resume else None, "updated_at": now}])
    row["watermark"] = pd.to_datetime(row["watermark"], utc=True)
    store.insert_frame(conn, tables.source_watermarks, row, conflict="update", update=["watermark", "resume", "updated_at"])

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
import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from connectors.api_client import ApiConfigError, ApiQuotaExhausted
from connectors.source_api import CampaignSelection, LeadSource, PulledBatch, text_table
from leadsync.config import ConfigError
from leadsync.config.schema import ApiSource
from leadsync.pull.raw_batches import BatchInfo, rows_as_json, store_batch
from leadsync.store import LeadStore, tables

log = logging.getLogger(__name__)
T = TypeVar("T")

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
    batches = _with_versions(source.pull(fields, since, resume, until), source.record_id_field,
                             source.modified_field)
    try:
        for batch, versions in read_ahead(batches):
            _store(cfg, store, batch, versions, source.record_id_field, membership, now, report, stream)
            del batch, versions  # the reader starts the batch after next once this one is let go
    except ApiQuotaExhausted as exc:
        report.stopped = f"stopped early, the watermark stays at {report.watermark}: {exc}"
    # activities have no upper bound in the source contract: the incremental pull reads them
    if cfg.pull.activities.enabled and window is None:
        _activities(cfg, source, store, since, report)
    return report


def _with_versions(batches: Iterator[PulledBatch], id_field: str, modified_field: str
                   ) -> Iterator[tuple[PulledBatch, pa.Table]]:
    """Each batch with its record versions (see record_versions): pure work on the batch alone, so it runs
    ahead of the store with the connector's reading."""
    for batch in batches:
        yield batch, record_versions(batch.table, id_field, modified_field)


def read_ahead(items: Iterator[T], join_s: float = 120.0) -> Iterator[T]:
    """`items`, produced in a thread of their own one item ahead of the consumer, so the connector reads
    (network, parsing: mostly outside the GIL) while the previous batch is stored. At most two items are
    alive: the one the consumer holds and the next; the producer starts a further one only once the consumer
    asks for it (the consumer must drop its reference to the previous one by then). An exception of `items`
    reaches the consumer after the items before it, as if it had been iterated directly; when the consumer
    stops early (or fails), the producer stops before its next item and closes `items` (its clean-up runs),
    and the consumer waits for that."""
    handoff: queue.Queue = queue.Queue(maxsize=1)
    turns = threading.Semaphore(2)  # items the producer may start before the consumer has finished one
    stop = threading.Event()
    end = object()

    def wait(acquire: Callable[[], bool]) -> bool:
        while not stop.is_set():
            if acquire():
                return True
        return False

    def put(entry: tuple[bool, object]) -> bool:
        def attempt() -> bool:
            try:
                handoff.put(entry, timeout=0.1)
                return True
            except queue.Full:
                return False
        return wait(attempt)

    def produce() -> None:
        try:
            while wait(lambda: turns.acquire(timeout=0.1)):
                try:
                    item = next(items)
                except StopIteration:
                    put((True, end))
                    return
                if not put((True, item)):
                    return
                del item
        except BaseException as exc:  # noqa: BLE001 (handed to the consumer, raised there)
            put((False, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None and stop.is_set():
                close()

    producer = threading.Thread(target=produce, name="leadsync-pull-ahead", daemon=True)
    producer.start()
    try:
        while True:
            ok, item = handoff.get()
            if not ok:
                raise item  # type: ignore[misc]
            if item is end:
                return
            yield item  # type: ignore[misc]
            item = None
            turns.release()
    finally:
        stop.set()
        producer.join(join_s)
        if producer.is_alive():
            log.warning("the source's reader thread did not stop within %.0f s; leaving it to finish", join_s)


def _store(cfg: ApiSource, store: LeadStore, batch: PulledBatch, versions: pa.Table, id_field: str,
           membership: pd.DataFrame, now: datetime, report: ApiPullReport, stream: str = "records") -> None:
    table = batch.table
    count = table.num_rows
    report.batches += 1
    report.received += count
    report.paths[batch.kind] += count
    batch_id = hashlib.sha1(f"{cfg.name}\0{batch.key}".encode()).hexdigest()[:16]
    new_version, changed = _seen(store, cfg.name, versions)
    fresh = new_version & changed
    report.already_had += count - int(fresh.sum())
    kept = versions.filter(pa.array(new_version))
    new_versions = pa.table({"source": pa.repeat(pa.scalar(cfg.name, pa.string()), kept.num_rows),
                             "record_id": kept.column("record_id"), "modified": kept.column("modified"),
                             "content_sha": kept.column("content_sha"),
                             "batch_id": pa.repeat(pa.scalar(batch_id, pa.string()), kept.num_rows)})
    rows = table if fresh.all() else table.filter(pa.array(fresh))
    if not membership.empty and rows.num_rows:
        rows = text_table(_with_campaigns(cfg, rows.to_pandas(), id_field, membership))

    def move_watermark(conn: sa.Connection) -> None:
        store.insert_frame(conn, tables.source_records, new_versions, conflict="nothing")
        _save_watermark(store, conn, cfg.name, stream, batch.watermark, batch.resume, now)

    shas = versions.column("content_sha").filter(pa.array(fresh)).to_pylist()
    digest = hashlib.sha256("\n".join(shas).encode()).hexdigest() if shas else "empty"
    info = BatchInfo(batch_id, cfg.name, batch.key, digest, 0)
    row_numbers = pa.array(np.arange(1, rows.num_rows + 1, dtype=np.int64))
    report.stored += store_batch(store, info, rows, row_numbers, now, also=move_watermark)
    if batch.watermark is not None:
        report.watermark = batch.watermark


def _seen(store: LeadStore, source: str, versions: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Per record of the page (in order): whether it is a version the source has not sent before (and the
    last copy of it in the page), and whether its content changed. Set-based against what the source already
    sent: a version seen before, or the same content under a new modification stamp (our own writeback's
    echo), is not a change. One join on the record id, built on the page's side (an anti-join would hash
    every version the source ever sent, for every page); only the records that are not fresh come back."""
    count = versions.num_rows
    new_version = versions.column("last").to_numpy(zero_copy_only=False).astype(bool, copy=True)
    changed = np.ones(count, dtype=bool)
    if not count:
        return new_version, changed
    sr = tables.source_records
    with store.begin() as conn, store.staged(conn, versions) as stage:
        rows = conn.execute(sa.text(
            f"SELECT position, new_version, changed FROM (SELECT s.position, "
            f"s.last AND NOT bool_or(v.modified = s.modified) AS new_version, "
            f"NOT bool_or(v.content_sha = s.content_sha) AS changed "
            f"FROM {stage} s JOIN {sr.name} v ON v.source = :source AND v.record_id = s.record_id "
            f"GROUP BY s.position, s.last) AS flags WHERE NOT (new_version AND changed)"),
            {"source": source}).all()
    if rows:
        positions = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        new_version[positions] = np.fromiter((bool(r[1]) for r in rows), dtype=bool, count=len(rows))
        changed[positions] = np.fromiter((bool(r[2]) for r in rows), dtype=bool, count=len(rows))
    return new_version, changed


def record_versions(table: pa.Table, id_field: str, modified_field: str) -> pa.Table:
    """Per record of the page, in order: position, record id, modification stamp, a hash of what it says
    (its stamp aside: our own writeback changes the stamp of every record it touches, and those echoes must
    not come back as changed leads), and whether it is the last copy of that version in the page (a page
    seldom holds one twice: then DuckDB ranks the copies)."""
    count = table.num_rows
    record_id = table.column(id_field).cast(pa.string())
    modified = pc.fill_null(table.column(modified_field).cast(pa.string()), "")
    content = [c for c in table.column_names if c != modified_field]
    parts = ", ".join(f"coalesce({_ident(c)}, chr(0))" for c in content) or "''"
    position = pa.array(np.arange(count, dtype=np.int64))
    con = duckdb.connect(config={"preserve_insertion_order": True})  # a projection keeps the page's order
    try:
        con.register("page", table)
        content_sha = con.sql(f"SELECT left(sha1(concat_ws(chr(31), {parts})), 20) AS h FROM page"
                              ).to_arrow_table().column(0)
        key = pc.binary_join_element_wise(record_id, modified, "\x1f")
        if pc.count_distinct(key).as_py() == count:
            last = pa.repeat(pa.scalar(True), count)
        else:
            con.register("versions", pa.table({"position": position, "record_id": record_id, "modified": modified}))
            last = con.sql("SELECT row_number() OVER (PARTITION BY record_id, modified ORDER BY position DESC) = 1 "
                           "AS last FROM versions ORDER BY position").to_arrow_table().column(0)
    finally:
        con.close()
    if len(content_sha) != count:
        raise RuntimeError(f"record versions: {len(content_sha)} hashes for {count} records")
    return pa.table({"position": position, "record_id": record_id, "modified": modified,
                     "content_sha": content_sha, "last": last})


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

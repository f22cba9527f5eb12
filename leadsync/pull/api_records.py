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
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Self, TypeVar

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from leadsync.config import ConfigError
from leadsync.config.schema import ApiSource
from leadsync.connectors.api_client import (
    ApiConfigError,
    ApiQuotaExhausted,
    ApiTransientError,
    ApiUnreachable,
    SourceOutage,
)
from leadsync.connectors.source_api import CampaignSelection, LeadSource, PulledBatch, text_table
from leadsync.pull.arrow_memory import returned_to_os
from leadsync.pull.campaign_fields import chosen_values, store_values
from leadsync.pull.campaign_fields import ensure_table as ensure_campaign_fields
from leadsync.pull.follow_source import FollowReport, SourceFollower, lifecycle_for
from leadsync.pull.outage import pull_outage
from leadsync.pull.raw_batches import BatchInfo, rows_as_json, store_batch
from leadsync.store import LeadStore, tables
from leadsync.writeback.records_created import source_records_created

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
    followed: FollowReport | None = None  # follow_source: changes made at the source (follow_source.py)
    campaigns: int = 0
    memberships: int = 0
    activities: int = 0
    warnings: list[str] = field(default_factory=list)  # what the source warned of (its data is kept)


def check_mapping(cfg: ApiSource, source: LeadSource, file: Path) -> list[str]:
    """The source's field names for the mapped columns (and the fields `follow_source` reads); a column the
    source does not have fails the pull with the object, the field and the mapping file."""
    available = source.available_fields()
    by_lower = {name.lower(): name for name in available}
    fields, problems = [], []
    fix = "Fix 'column' in the mapping or create the field in the source system."
    wanted = [(f"fields[{i}] ({f.field})", f.column, fix) for i, f in enumerate(cfg.fields)]
    if cfg.follow_source is not None:
        follow_fix = "Fix the field name under follow_source or create the field in the source system."
        wanted += [("follow_source", name, follow_fix) for name in cfg.follow_source.source_fields]
    for where, column, fix in wanted:
        if column in CAMPAIGN_COLUMNS:
            continue
        name = by_lower.get(column.lower())
        if name is None:
            near = [n for n in available if n.lower().startswith(column.lower()[:4])][:5]
            hint = f"; similar fields: {', '.join(near)}" if near else ""
            problems.append(f"{where}: {object_label(cfg)} has no field '{column}'{hint}. {fix}")
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
                 window: PullWindow | None = None, lifecycle=None) -> ApiPullReport:
    """The incremental pull (window None), or one window of history. Records already received (the same
    version, from any window or the incremental pull) are not stored twice. With `follow_source`, the
    incremental pull turns changes made at the source into lifecycle events (`lifecycle`: the project's,
    loaded from the source file's project when not given)."""
    report = ApiPullReport()
    try:
        with returned_to_os():
            return _pull(cfg, source, store, now, file, window, lifecycle, report)
    except ApiTransientError as exc:  # retries spent: say who failed, that nothing is lost, where the next run starts
        if isinstance(exc, SourceOutage | ApiUnreachable):
            raise
        stored = _watermark(store, cfg.name, window.stream if window else "records")[0]
        raise pull_outage(cfg, exc, stored, report.stored, cfg.connection.retries.attempts) from exc


def _pull(cfg: ApiSource, source: LeadSource, store: LeadStore, now: datetime, file: Path,
          window: PullWindow | None, lifecycle, report: ApiPullReport) -> ApiPullReport:
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

    membership = _campaign_data(cfg, source, store, since, now, report, file)
    follower = (SourceFollower(cfg, store, source.record_id_field, source.modified_field)
                if cfg.follow_source is not None and window is None else None)
    pages = _hashed(source.pull(fields, since, resume, until), source.modified_field)
    try:
        # one store connection for the units (each its own transaction), let go while the source keeps us waiting
        with store.session(duckdb_threads=SESSION_THREADS) as session, ReadAhead(pages, ahead_bytes=READ_AHEAD_BYTES,
                                                   size=lambda item: item[0].table.nbytes) as ahead:
            for unit in _units(IdleRelease(ahead, session.release), source.record_id_field, source.modified_field):
                with session.begin() as conn:
                    _store(cfg, store, conn, unit, source.record_id_field, membership, now, report, stream)
                if follower is not None:
                    follower.collect(unit.table)
                del unit
                if session.unsaved_bytes() >= SESSION_UNSAVED_BYTES:
                    session.release()  # checkpoints what DuckDB held
    except ApiQuotaExhausted as exc:
        report.stopped = f"stopped early, the watermark stays at {report.watermark}: {exc}"
    if follower is not None:  # what was stored is the source's state: follow it (also after a quota stop)
        report.followed = follower.apply(lifecycle or lifecycle_for(file, store), now)
    # activities have no upper bound in the source contract: the incremental pull reads them
    if cfg.pull.activities.enabled and window is None:
        _activities(cfg, source, store, since, report)
    return report


@dataclass
class StoreUnit:
    """Consecutive batches of one pull, stored in one transaction: their rows (the batches' tables end to
    end, no copy), the record versions of those rows, and what storing them all moves: the watermark and
    resume state of the last batch that carries them, as if each had been stored in turn."""

    batches: list[PulledBatch]
    table: pa.Table
    versions: pa.Table

    @property
    def key(self) -> str:
        """The batch's key for one batch (its ledger entry as before); for several, all their keys in turn."""
        if len(self.batches) == 1:
            return self.batches[0].key
        return "\0".join(b.key for b in self.batches)

    @property
    def label(self) -> str:
        """What the ledger's file_name says: the batch key, or the first and last of the batches'."""
        if len(self.batches) == 1:
            return self.batches[0].key
        return f"{self.batches[0].key} … {self.batches[-1].key} ({len(self.batches)} batches)"

    @property
    def watermark(self) -> datetime | None:
        return next((b.watermark for b in reversed(self.batches) if b.watermark is not None), None)

    @property
    def resume(self) -> dict | None:
        return self.batches[-1].resume


# A store transaction's fixed cost (DuckDB: open the file, checkpoint on close, rewrite the last partial row
# group) dwarfs a small batch's rows: the pull stores consecutive batches together up to UNIT_ROWS rows or
# UNIT_BYTES of Arrow data (wide records), or what arrived within UNIT_SECONDS of the first, whichever comes
# first. 50,000 rows: every vendor's full bulk page (50,000 records) is a unit of its own, not held in memory
# beside the next as at 100,000; REST pages and an export job's short last chunk are still stored together.
UNIT_ROWS = 50_000
UNIT_BYTES = 64 << 20
UNIT_SECONDS = 5.0
# The store session is opened afresh once DuckDB holds this many bytes of committed rows not yet checkpointed:
# an open DuckDB keeps them in memory, uncompressed (Salesforce: 35 MiB per 100,000 records with their
# versions; a source with wide records far more per row), so memory would grow with the pull. Measured by
# DuckDB itself rather than counted in rows, so wide records are bounded too. Not after every unit: a
# checkpoint rewrites the table's last, partly filled row group (122,880 rows), and a checkpoint per
# 100,000-row unit cost 0.4-0.6 CPU-s more per 300,000 Salesforce records (2.3-2.5 → 2.9-3.0 CPU-s of the
# stage) for 55 MiB less peak RSS. At 64 MiB (every 200,000 Salesforce records) the stage peaked at 464-486
# MiB, against 489-513 MiB when it held 300,000 records (105 MiB) before checkpointing. With newer libraries
# (pyarrow 26, DuckDB 2.0) it peaked at 64 MiB and units of 100,000 rows at 473-490 MiB, too near the bar of
# 500 MB; at 32 MiB (about every 100,000 Salesforce records) and units of 50,000 rows (bench/api_pull.py,
# 300,000 records, 2026-12-05): Salesforce 427-439 MiB, Marketo 448 (468-473), Eloqua 397-403 (443-444), at
# 0.2-0.5 CPU-s more per stage and the same records/s but Marketo's (135-145k → 127-128k).
SESSION_UNSAVED_BYTES = 32 << 20
# DuckDB's threads while the pull stores (its reader thread parses and hashes meanwhile): one, measured on
# 2 cores as 10% less CPU for the same wall time as DuckDB's default (a thread per core).
SESSION_THREADS = 1
# The source is read ahead of the store while the batches read and not yet taken hold fewer bytes than this
# (at least one batch): after a job's small last chunk (Marketo's exports: 50,000 records, then a few hundred)
# the next job is polled and read while a unit is stored; a large batch (a 50,000-record page is 7-9 MB) stays
# one ahead.
READ_AHEAD_BYTES = 1 << 20

END, NOT_YET = object(), object()  # what ReadAhead.get returns at the end, and when nothing came in time


class ReadAhead:
    """`items`, produced in a thread of their own one item ahead of the consumer, so the connector reads
    (network, parsing: mostly outside the GIL) while the consumer stores. The producer starts an item only
    once the consumer has taken the previous one: besides what the consumer holds, one item is alive.
    With `ahead_bytes` (and `size`, an item's bytes), the producer also starts the next item while the items
    not yet taken hold fewer than `ahead_bytes`: a source whose small items come with waits (jobs to poll)
    keeps reading while the consumer stores, and large items stay one ahead.
    An exception of `items` is raised by `get` after the items before it, as if they had been iterated
    directly. Closing (leaving the `with`) stops the producer before its next item, closes `items` (its
    clean-up runs) and waits for the thread."""

    def __init__(self, items: Iterator[T], join_s: float = 120.0, ahead_bytes: int = 0,
                 size: Callable[[T], int] | None = None):
        self._items, self._join_s = items, join_s
        self._ahead_bytes, self._size = ahead_bytes, size or (lambda _: 0)
        self._handoff: queue.Queue = queue.Queue()
        self._room = threading.Condition()
        self._waiting, self._waiting_bytes = 0, 0  # items produced and not yet taken, and their bytes
        self._stop = threading.Event()
        self._over = False
        self._thread = threading.Thread(target=self._produce, name="leadsync-pull-ahead", daemon=True)
        self._thread.start()

    def _may_start(self) -> bool:
        """Wait (until stopped) for room to start the next item."""
        with self._room:
            while not self._stop.is_set():
                if self._waiting == 0 or self._waiting_bytes < self._ahead_bytes:
                    return True
                self._room.wait(0.1)
        return False

    def _produce(self) -> None:
        try:
            while self._may_start():
                try:
                    item = next(self._items)
                except StopIteration:
                    self._handoff.put((True, END, 0))
                    return
                size = self._size(item)
                with self._room:
                    self._waiting += 1
                    self._waiting_bytes += size
                self._handoff.put((True, item, size))
                del item
        except BaseException as exc:  # noqa: BLE001 (handed to the consumer, raised by get)
            self._handoff.put((False, exc, 0))
        finally:
            close = getattr(self._items, "close", None)
            if close is not None and self._stop.is_set():
                close()

    def get(self, timeout: float | None = None) -> T | object:
        """The next item; END after the last; NOT_YET when none came within `timeout` seconds."""
        if self._over:
            return END
        try:
            ok, item, size = self._handoff.get(timeout=timeout)
        except queue.Empty:
            return NOT_YET
        if not ok:
            self._over = True
            raise item  # type: ignore[misc]
        if item is END:
            self._over = True
            return item
        with self._room:
            self._waiting -= 1
            self._waiting_bytes -= size
            self._room.notify()
        return item

    def close(self) -> None:
        self._stop.set()
        with self._room:
            self._room.notify()
        self._thread.join(self._join_s)
        if self._thread.is_alive():
            log.warning("the source's reader thread did not stop within %.0f s; leaving it to finish",
                        self._join_s)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class IdleRelease:
    """A ReadAhead whose consumer, once it has waited `idle_s` seconds for the next item, calls `on_idle` (a
    store session lets the store go: a slow source must not keep other processes out of a DuckDB file)."""

    def __init__(self, ahead: ReadAhead, on_idle: Callable[[], None], idle_s: float = 1.0):
        self._ahead, self._on_idle, self._idle_s = ahead, on_idle, idle_s

    def get(self, timeout: float | None = None) -> object:
        first = self._idle_s if timeout is None else min(timeout, self._idle_s)
        item = self._ahead.get(first)
        if item is not NOT_YET or (timeout is not None and timeout <= first):
            return item
        self._on_idle()
        return self._ahead.get(None if timeout is None else timeout - first)


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """`items` through a ReadAhead, as an iterator."""
    with ReadAhead(items) as ahead:
        while (item := ahead.get()) is not END:
            yield item  # type: ignore[misc]


def _hashed(batches: Iterator[PulledBatch], modified_field: str) -> Iterator[tuple[PulledBatch, pa.Array]]:
    """Each batch with the content hashes of its records (content_hashes): the costly part of the record
    versions, work on the batch alone, done in the reader's thread."""
    con = duckdb.connect(config={"preserve_insertion_order": True})  # one for the pull (opening one costs ~35 ms)
    try:
        for batch in batches:
            yield batch, content_hashes(batch.table, modified_field, con)
    finally:
        con.close()


def _units(ahead: ReadAhead | IdleRelease, id_field: str, modified_field: str, rows: int | None = None,
           seconds: float | None = None, size: int | None = None) -> Iterator[StoreUnit]:
    """The batches of `ahead` (with their hashes) as store units: a unit takes batches until it holds
    `rows` rows or `size` bytes, `seconds` have passed since its first batch came (a slow source is stored
    as it comes), the next batch has other columns, or the source ends or fails. What the source delivered
    before an error is stored (as if the batches had been stored one by one), then the error is raised.
    The limits default to UNIT_ROWS, UNIT_SECONDS and UNIT_BYTES."""
    rows = UNIT_ROWS if rows is None else rows
    seconds = UNIT_SECONDS if seconds is None else seconds
    size = UNIT_BYTES if size is None else size
    carry = None
    while True:
        group = [] if carry is None else [carry]
        carry, error, ended = None, None, False
        count = sum(batch.rows for batch, _ in group)
        held = sum(batch.table.nbytes for batch, _ in group)
        deadline = time.monotonic() + seconds
        while count < rows and held < size:
            wait = None if not group else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                break
            try:
                item = ahead.get(wait)
            except Exception as exc:  # noqa: BLE001 (raised once the batches before it are stored)
                error = exc
                break
            if item is NOT_YET:
                break
            if item is END:
                ended = True
                break
            if group and item[0].table.column_names != group[0][0].table.column_names:
                carry = item
                break
            if not group:
                deadline = time.monotonic() + seconds
            group.append(item)
            count += item[0].rows
            held += item[0].table.nbytes
            del item
        if group:
            yield _unit(group, id_field, modified_field)
            del group
        if error is not None:
            raise error
        if ended:
            return


def _unit(group: list[tuple[PulledBatch, pa.Array]], id_field: str, modified_field: str) -> StoreUnit:
    batches = [batch for batch, _ in group]
    if len(group) == 1:
        table, hashes = batches[0].table, group[0][1]
    else:
        table = pa.concat_tables([batch.table for batch in batches])
        hashes = pa.chunked_array([h for _, h in group], pa.string())
    return StoreUnit(batches, table, record_versions(table, id_field, modified_field, hashes))


def _store(cfg: ApiSource, store: LeadStore, conn: sa.Connection, unit: StoreUnit, id_field: str,
           membership: pd.DataFrame, now: datetime, report: ApiPullReport, stream: str = "records") -> None:
    """Store one unit in `conn`'s transaction: which of its record versions are new (read in the same
    transaction as they are written, so a version is stored once), its fresh rows, their versions, the
    ledger entry and the watermark."""
    table, versions = unit.table, unit.versions
    count = table.num_rows
    report.batches += len(unit.batches)
    report.received += count
    for batch in unit.batches:
        report.paths[batch.kind] += batch.rows
        report.warnings += [w for w in batch.warnings if w not in report.warnings]
    batch_id = hashlib.sha1(f"{cfg.name}\0{unit.key}".encode()).hexdigest()[:16]
    new_version, changed = _seen(store, conn, cfg.name, versions)
    fresh = new_version & changed & ~_created_here(conn, cfg.name, versions)
    report.already_had += count - int(fresh.sum())
    kept = versions.filter(pa.array(new_version))
    new_versions = pa.table({"source": pa.repeat(pa.scalar(cfg.name, pa.string()), kept.num_rows),
                             "record_id": kept.column("record_id"), "modified": kept.column("modified"),
                             "content_sha": kept.column("content_sha"),
                             "batch_id": pa.repeat(pa.scalar(batch_id, pa.string()), kept.num_rows)})
    rows = table if fresh.all() else table.filter(pa.array(fresh))
    if not membership.empty and rows.num_rows:
        rows = _campaign_rows(cfg, unit, fresh, id_field, membership)
    watermark = unit.watermark

    def move_watermark(conn: sa.Connection) -> None:
        # DuckDB: the file lock is held since _seen found these versions absent (and `last` keeps one copy of
        # each), so a plain append; Postgres (another process may pull the same source) skips conflicts
        store.insert_frame(conn, tables.source_records, new_versions,
                           conflict="error" if store.dialect == "duckdb" else "nothing")
        _save_watermark(store, conn, cfg.name, stream, watermark, unit.resume, now)

    info = BatchInfo(batch_id, cfg.name, unit.label, _digest(versions.column("content_sha"), fresh), 0)
    row_numbers = pa.array(np.arange(1, rows.num_rows + 1, dtype=np.int64))
    report.stored += store_batch(store, info, rows, row_numbers, now, also=move_watermark, conn=conn)
    if watermark is not None:
        report.watermark = watermark


def _created_here(conn: sa.Connection, source: str, versions: pa.Table) -> np.ndarray:
    """Per record of the page: whether leadsync created it for a lead it already holds (a lead entered by hand,
    `source_records_created` kind new_record). Such a record comes back on the next pull; it is the lead
    itself, not a new one, so its version is recorded as seen and its row not stored (no second lead)."""
    made = source_records_created
    ids = conn.execute(sa.select(made.c.record_id).where(made.c.source == source,
                                                          made.c.kind == "new_record")).scalars().all()
    if not ids or not versions.num_rows:
        return np.zeros(versions.num_rows, dtype=bool)
    return pc.is_in(versions.column("record_id"), value_set=pa.array(ids, pa.string())).to_numpy(
        zero_copy_only=False).astype(bool)


def _digest(shas: pa.ChunkedArray | pa.Array, fresh: np.ndarray) -> str:
    """SHA-256 of the fresh records' content hashes joined by newlines ("empty" for none), joined by Arrow."""
    kept = shas.filter(pa.array(fresh))
    if not len(kept):
        return "empty"
    kept = kept.combine_chunks() if isinstance(kept, pa.ChunkedArray) else kept
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(kept)], pa.int32()), kept), "\n")
    return hashlib.sha256(joined[0].as_buffer()).hexdigest()


def _campaign_rows(cfg: ApiSource, unit: StoreUnit, fresh: np.ndarray, id_field: str,
                   membership: pd.DataFrame) -> pa.Table:
    """The unit's fresh rows with their campaign columns, joined batch by batch (a record keeps one row per
    batch, see _with_campaigns)."""
    parts, offset = [], 0
    for batch in unit.batches:
        page = unit.table.slice(offset, batch.rows).filter(pa.array(fresh[offset:offset + batch.rows]))
        offset += batch.rows
        if page.num_rows:
            parts.append(text_table(_with_campaigns(cfg, page.to_pandas(), id_field, membership)))
    return pa.concat_tables(parts)


def _seen(store: LeadStore, conn: sa.Connection, source: str, versions: pa.Table) -> tuple[np.ndarray, np.ndarray]:
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
    with store.staged(conn, versions) as stage:
        sql = (f"SELECT position, new_version, changed FROM (SELECT s.position, "
               f"s.last AND NOT bool_or(v.modified = s.modified) AS new_version, "
               f"NOT bool_or(v.content_sha = s.content_sha) AS changed "
               f"FROM {stage} s JOIN {sr.name} v ON v.source = :source AND v.record_id = s.record_id "
               f"GROUP BY s.position, s.last) AS flags WHERE NOT (new_version AND changed)")
        if store.dialect == "duckdb":  # columnar out (a page read again comes back whole)
            found = conn.connection.driver_connection.sql(sql.replace(":source", "$source"),
                                                          params={"source": source}).to_arrow_table()
            flags = [found.column(i).to_numpy(zero_copy_only=False) for i in range(3)]
        else:
            rows = conn.execute(sa.text(sql), {"source": source}).all()
            flags = [np.array([r[i] for r in rows], dtype=np.int64 if i == 0 else bool) for i in range(3)]
    positions = flags[0].astype(np.int64)
    new_version[positions] = flags[1].astype(bool)
    changed[positions] = flags[2].astype(bool)
    return new_version, changed


def content_hashes(table: pa.Table, modified_field: str, con: duckdb.DuckDBPyConnection | None = None) -> pa.Array:
    """Per record, a hash of what it says, its modification stamp aside (our own writeback changes the stamp
    of every record it touches, and those echoes must not come back as changed leads): the first 20 hex
    digits of the SHA-1 of its values joined by U+001F, a null as U+0000, computed by DuckDB (on `con`, an
    in-memory connection that keeps insertion order, when given; else one of its own)."""
    content = [c for c in table.column_names if c != modified_field]
    parts = ", ".join(f"coalesce({_ident(c)}, chr(0))" for c in content) or "''"
    own = con is None
    if own:
        con = duckdb.connect(config={"preserve_insertion_order": True})  # a projection keeps the page's order
    view = f"page_{uuid.uuid4().hex[:12]}"
    try:
        con.register(view, table)
        hashes = con.sql(f"SELECT left(sha1(concat_ws(chr(31), {parts})), 20) AS h FROM {view}").to_arrow_table()
        con.unregister(view)
    finally:
        if own:
            con.close()
    if hashes.num_rows != table.num_rows:
        raise RuntimeError(f"content hashes: {hashes.num_rows} for {table.num_rows} records")
    return hashes.column(0).combine_chunks()


def record_versions(table: pa.Table, id_field: str, modified_field: str,
                    hashes: pa.Array | pa.ChunkedArray | None = None) -> pa.Table:
    """Per record of the page, in order: position, record id, modification stamp, content hash
    (content_hashes, unless given) and whether it is the last copy of that version in the page (a page
    seldom holds one twice: then DuckDB ranks the copies)."""
    count = table.num_rows
    record_id = table.column(id_field).cast(pa.string())
    modified = pc.fill_null(table.column(modified_field).cast(pa.string()), "")
    position = pa.array(np.arange(count, dtype=np.int64))
    # distinct ids (the usual page) are distinct versions: no need to build and count the id+stamp keys
    if len(pc.unique(record_id)) == count or \
            pc.count_distinct(pc.binary_join_element_wise(record_id, modified, "\x1f")).as_py() == count:
        last = pa.repeat(pa.scalar(True), count)
    else:
        con = duckdb.connect()
        try:
            con.register("versions", pa.table({"position": position, "record_id": record_id, "modified": modified}))
            last = con.sql("SELECT row_number() OVER (PARTITION BY record_id, modified ORDER BY position DESC) = 1 "
                           "AS last FROM versions ORDER BY position").to_arrow_table().column(0)
        finally:
            con.close()
    return pa.table({"position": position, "record_id": record_id, "modified": modified,
                     "content_sha": content_hashes(table, modified_field) if hashes is None else hashes,
                     "last": last})


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


def _campaign_data(cfg: ApiSource, source: LeadSource, store: LeadStore, since, now, report,
                   file: Path) -> pd.DataFrame:
    """Selected campaigns (with their chosen fields, campaign_fields.py) and their members, stored; returns
    record_id → CampaignId/CampaignName."""
    sel = cfg.pull.campaigns
    if not sel.any:
        return pd.DataFrame()
    found = source.campaigns(CampaignSelection(ids=sel.ids, name_pattern=sel.name_pattern, types=sel.types,
                                               fields=[f.field for f in sel.fields]))
    if found.empty:
        return pd.DataFrame()
    chosen = chosen_values(cfg, found, file, now)
    if len(chosen):
        ensure_campaign_fields(store)
    standard = ["campaign_id", "name", "description", "type", "start_date", "end_date"]
    rows = pd.DataFrame({c: found[c].astype(object) if c in found else None for c in standard})
    extra = found.drop(columns=[c for c in standard if c in found])
    rows["details"] = rows_as_json(extra.astype(str)) if len(extra.columns) else None
    rows["source"], rows["updated_at"] = cfg.name, now
    members = source.memberships(rows["campaign_id"].astype(str).tolist(), None)
    with store.begin() as conn:
        store.insert_frame(conn, tables.campaigns, rows, conflict="update",
                           update=[*standard[1:], "details", "updated_at"])
        store_values(store, conn, chosen)
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

"""SFTP sources get their statuses back as a CSV file in the outbox folder.

The engine writes the file (`COPY … TO`), in the outbox's order of record (its `seq`), so the same batch always
renders the same bytes, in parts: each part is uploaded while the engine writes the next. A million status
rows never pass through Python.

Every row comes from the outbox alone: an event carries its lead's file, row and email
(writeback/lead_context.py). A part is a range of outbox seq: DuckDB reads only the row groups holding it
(min-max zonemaps on an integer) and, where the outbox is checked to hold the part's events in seq order,
writes them in that order unsorted (writeback/status_scan_order.py), else sorts only its own rows; Postgres
finds it by its indexes and, where the batch holds all of its source's events in the range, by the outbox
alone, without joining the batch's bindings. Joining the leads back by their string ids, as this did before,
read every lead for every part (string zonemaps keep 8-byte prefixes, and every id starts with the source's
name), or needed a sorted scratch copy of the whole file: most of the write-back's work.
"""

from __future__ import annotations

import queue
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from leadsync.connectors.sftp.client import SftpClient
from leadsync.csv_safe import neutralise_sql
from leadsync.store import LeadStore, tables
from leadsync.store.engine import insertion_order_kept
from leadsync.writeback import status_scan_order as scan_order
from leadsync.writeback.outbox import Batch, mark_sent, members, of_batch, prepare_batch, prepared_batches

# status-file column → outbox column, in file order (lifecycle events carry their own fields)
STATUS_FIELDS = {"distribution_status": "distribution_status", "partner_id": "partner_id",
                 "partner_name": "partner_name", "rep_name": "rep_name", "rep_email": "rep_email",
                 "reason": "reason", "rejection_reason": "rejection_reason", "rejection_comment": "rejection_comment",
                 "sales_status": "sales_status", "opportunity_id": "external_id", "opportunity_name": "name",
                 "opportunity_stage": "stage", "opportunity_amount": "amount", "opportunity_close_date": "close_date",
                 "marketing_event_type": "event_type", "marketing_event_at": "occurred_at",
                 "marketing_event": "description", "decided_at": "decided_at"}
STATUS_COLUMNS = ["lead_id", "source_file", "source_row", "email", "event", *STATUS_FIELDS]
# Columns that belong to one kind of event: on any other event's row they are empty (a marketing event carries
# its name in the outbox's `name` too, which would otherwise read as an opportunity name). The other columns
# (distribution status, partner, rep, reason, decided_at) are the context every event carries.
KIND_OF_COLUMN = {"rejection_reason": "rejection", "rejection_comment": "rejection", "sales_status": "sales_status",
                  **{c: "opportunity" for c in ("opportunity_id", "opportunity_name", "opportunity_stage",
                                                "opportunity_amount", "opportunity_close_date")},
                  **{c: "marketing_event" for c in ("marketing_event_type", "marketing_event_at", "marketing_event")}}
# Not text: written as the engine prints them (a number or a date cannot start a formula).
NOT_TEXT = {"source_row", "opportunity_amount"}
# Text a partner typed (portal, partner CRM): always made inert, whatever the sink's setting says.
PARTNER_TYPED = {"rep_name", "rep_email", "rejection_comment", "opportunity_id", "opportunity_name",
                 "opportunity_stage", "marketing_event_type", "marketing_event"}


@dataclass
class WritebackReport:
    events_sent: int = 0
    files: list[str] = field(default_factory=list)
    resumed: int = 0


def status_file_name(source: str):
    def name_for(batch_id: str, now: datetime) -> str:
        return f"{source}_status_{now:%Y%m%dT%H%M%SZ}_{batch_id[:8]}.csv"
    return name_for


def _registration_email(dialect: str):
    """A lead a partner registered has no source row yet: its email is in the registration's fields."""
    if dialect == "postgresql":
        return sa.literal_column("(writeback_outbox.payload::json -> 'fields' ->> 'email')")
    return sa.func.json_extract_string(tables.writeback_outbox.c.payload, "$.fields.email")


def status_rows_query(batch: Batch, dialect: str, low: int | None = None, high: int | None = None) -> sa.Select:
    """One row per event of the batch (with outbox seq from `low` up to, not including, `high`, where given), as
    stored (no cell made inert yet), unordered: seq, then STATUS_COLUMNS: its kind in `event`, the lead as the
    event carries it (file, row, email: writeback/lead_context.py), the lead's distribution status and partner on
    every row, and the event's own fields (empty on the rows of other kinds, KIND_OF_COLUMN). The outbox alone:
    no lead is joined back."""
    return of_batch(_status_rows(dialect), batch, low, high)


def _status_rows(dialect: str) -> sa.Select:
    """seq and STATUS_COLUMNS of outbox rows, as stored (status_rows_query without its choice of rows)."""
    o = tables.writeback_outbox
    email = sa.case((o.c.kind == "registration", _registration_email(dialect)), else_=o.c.email)

    def own_kind(name: str, col: str):
        kind = KIND_OF_COLUMN.get(name)
        return o.c[col] if kind is None else sa.case((o.c.kind == kind, o.c[col]))

    return sa.select(o.c.seq, o.c.lead_id, o.c.source_file, o.c.source_row, email.label("email"),
                     o.c.kind.label("event"), *[own_kind(name, col).label(name) for name, col in STATUS_FIELDS.items()])


def status_cells(rows: sa.FromClause, dialect: str, neutralise_formulas: bool = True) -> list:
    """The file's columns over `rows` (a relation with STATUS_COLUMNS as stored). Every text cell that a
    spreadsheet would run as a formula is made inert (leadsync/csv_safe.py); with `neutralise_formulas` false
    only the partner-typed ones are (PARTNER_TYPED), for machine consumers that need the raw values."""
    def cell(name: str):
        if name in NOT_TEXT or not (neutralise_formulas or name in PARTNER_TYPED):
            return rows.c[name]
        return sa.literal_column(neutralise_sql(f'{rows.name}."{name}"', dialect)).label(name)

    return [cell(name) for name in STATUS_COLUMNS]


def status_query(batch: Batch, dialect: str, low: int | None = None, high: int | None = None,
                 neutralise_formulas: bool = True) -> sa.Select:
    """The status file's rows of the batch (outbox seq from `low` up to `high`, where given) as written: cells
    made inert (status_cells), in the outbox's order (seq)."""
    return _sorted(status_rows_query(batch, dialect, low, high), dialect, neutralise_formulas)


def _sorted(rows: sa.Select, dialect: str, neutralise_formulas: bool) -> sa.Select:
    rows = rows.subquery("status_rows")
    return (sa.select(*status_cells(rows, dialect, neutralise_formulas)).select_from(rows)
            .order_by(rows.c.seq))


def _outbox_alone_query(batch: Batch, low: int, high: int, neutralise_formulas: bool) -> sa.Select:
    """Postgres: status_query's rows of [low, high) chosen by a filter on the outbox alone, sorted by seq: right
    where status_scan_order.batch_alone_in_range holds. Joining the batch's bindings took 1.09-1.18 s a part of
    245,760 rows; this, with the check, 0.74-0.78 s."""
    return _sorted(_status_rows("postgresql").where(*scan_order.source_range(batch, low, high)), "postgresql",
                   neutralise_formulas)


def _scan_order_query(batch: Batch, low: int, high: int, neutralise_formulas: bool) -> sa.Select:
    """status_query's rows of [low, high) chosen by a filter on the outbox alone, unsorted: the file's order only
    where status_scan_order.py has checked that the outbox holds them in seq order."""
    rows = _status_rows("duckdb").where(*scan_order.source_range(batch, low, high)).subquery("status_rows")
    return sa.select(*status_cells(rows, "duckdb", neutralise_formulas)).select_from(rows)


# Rows per part of a status file: each part is written on its own, so a file of millions of rows goes out in
# bounded memory (the parts, in seq order, concatenate into the same bytes a single sort would give). Two of
# DuckDB's row groups: a part is a range of outbox seq, and DuckDB reads the row groups holding that range.
PART_ROWS = 2 * 122_880


def _part_bounds(conn: sa.Connection, batch: Batch) -> list[int]:
    """The first seq of each part after the first (the batch's events in seq order, PART_ROWS a part)."""
    if batch.event_count <= PART_ROWS:
        return []
    held = members(batch).subquery()
    ranked = sa.select(held.c.seq, sa.func.row_number().over(order_by=held.c.seq).label("n")).subquery()
    return list(conn.execute(sa.select(ranked.c.seq).where((ranked.c.n - 1) % PART_ROWS == 0, ranked.c.n > 1)
                             .order_by(ranked.c.seq)).scalars())


def status_file_parts(store: LeadStore, batch: Batch, folder: Path,
                      neutralise_formulas: bool = True) -> Iterator[Path]:
    """The batch's status file as part files in `folder`, in order (concatenated: the whole file). The engine
    renders each part in a thread of its own, one part ahead of the one the caller is using, so uploading a
    part and writing the next go on at once. Stops with the caller: closing the generator ends the thread."""
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item) -> bool:
        """Hand `item` to the caller; False when the caller has stopped."""
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def render() -> None:
        try:
            with closing(_parts(store, batch, folder, neutralise_formulas)) as parts:
                for part in parts:  # a caller that stopped early: the rest is not rendered
                    if not offer(part):
                        return
            offer(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            offer(exc)

    thread = threading.Thread(target=render, name=f"status-file-{batch.batch_id}", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


# DuckDB's memory cap while a status file is written: a part sorts its own rows (a quarter of a million, some
# 70 MB) and needs no more; under the store's 1 GB, DuckDB kept every outbox block it read cached, so the step
# grew with the batch.
RENDER_MEMORY = "256MB"


def _parts(store: LeadStore, batch: Batch, folder: Path, neutralise_formulas: bool) -> Iterator[Path]:
    """The parts in order: on Postgres one COPY cut as it streams (_streamed_parts), on DuckDB a COPY per range
    of seq (_range_parts)."""
    parts = _streamed_parts if store.dialect == "postgresql" else _range_parts
    yield from parts(store, batch, folder, neutralise_formulas)


def _range_parts(store: LeadStore, batch: Batch, folder: Path, neutralise_formulas: bool) -> Iterator[Path]:
    """DuckDB: the parts as ranges of outbox seq, each its own COPY, all in one transaction. A range reads only the
    outbox's row groups holding it (min-max zonemaps on seq), and is written in the outbox's own order where that
    is checked to be seq order (status_scan_order.py), else sorted."""
    with store.session(duckdb_memory_limit=RENDER_MEMORY) as session, session.begin() as conn, \
            insertion_order_kept(conn):  # the order read (or ORDER BY) is written
        bounds = [None, *_part_bounds(conn, batch)]
        first, last = scan_order.batch_seq_span(conn, batch)
        for i, low in enumerate(bounds):
            high = bounds[i + 1] if i + 1 < len(bounds) else None
            part = folder / f"part{i:05d}.csv"
            span = (first if low is None else low, last + 1 if high is None else high) if last is not None else None
            if not (span and _copy_in_scan_order(conn, batch, *span, neutralise_formulas, part, header=i == 0)):
                sql = LeadStore.render(conn, status_query(batch, "duckdb", low, high, neutralise_formulas))
                conn.exec_driver_sql(_duckdb_copy(sql, part, header=i == 0))
            yield part


def _streamed_parts(store: LeadStore, batch: Batch, folder: Path, neutralise_formulas: bool) -> Iterator[Path]:
    """Postgres: the whole file as one COPY, sorted by seq on the server (in its work_mem, spilling to its own temp
    files past it), cut into parts of PART_ROWS rows as it streams in: each CopyData message is one row, so this
    process holds one row at a time. A COPY per part read the outbox's range again for each part, and where two
    sources' events interleave in seq each range is most of the table (with the outbox's BRIN index unsummarized,
    all of it): eight scans of a million-event outbox for two files of 500,000 rows, 0.2 server CPU-s each. A
    caller that stops early (an upload failed) cancels the COPY."""
    with store.begin() as conn:
        # The sort in one backend, in memory up to some 600,000 rows (past that it spills, as Postgres does):
        # for two files of 500,000 rows, 2.1 server CPU-s against 2.6 with parallel workers and the default
        # work_mem (external merge), and 3.8 a COPY per part (README: *Writeback batches bound as spans*). For this
        # transaction only.
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
        first, last = scan_order.batch_seq_span(conn, batch)
        span = (first, last + 1) if last is not None else None
        sql = LeadStore.render(conn, _file_query(conn, batch, span, neutralise_formulas))
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
            part, rows, out = 0, -1, None  # the header is not one of the part's rows
            try:
                for data in copy:
                    if out is None:
                        out = (folder / f"part{part:05d}.csv").open("wb")
                    out.write(data)
                    rows += 1
                    if rows == PART_ROWS:
                        out.close()
                        out, rows = None, 0
                        yield folder / f"part{part:05d}.csv"
                        part += 1
            finally:
                if out is not None:
                    out.close()
            if out is not None or part == 0:
                yield folder / f"part{part:05d}.csv"


def _file_query(conn: sa.Connection, batch: Batch, span: tuple[int, int] | None,
                neutralise_formulas: bool) -> sa.Select:
    """Postgres: the file's rows sorted by seq, from the outbox alone where the batch holds all of its source's
    events in its span, else with the batch's bindings joined."""
    if span and scan_order.batch_alone_in_range(conn, batch, *span):
        return _outbox_alone_query(batch, *span, neutralise_formulas)
    return status_query(batch, "postgresql", neutralise_formulas=neutralise_formulas)


def _copy_in_scan_order(conn: sa.Connection, batch: Batch, low: int, high: int, neutralise_formulas: bool,
                        part: Path, header: bool) -> bool:
    """Write the part [low, high) unsorted from the outbox alone if status_scan_order.py's checks hold; False
    (nothing written) otherwise."""
    if not scan_order.rows_lie_in_seq_order(conn, batch, low, high):
        return False
    copy = _duckdb_copy(LeadStore.render(conn, _scan_order_query(batch, low, high, neutralise_formulas)), part, header)
    if not scan_order.plan_keeps_order(conn, copy):
        return False
    conn.exec_driver_sql(copy)
    return True


def write_status_csv(store: LeadStore, batch: Batch, path: Path, neutralise_formulas: bool = True) -> int:
    """Render the batch's status file to `path`; returns the number of rows."""
    with tempfile.TemporaryDirectory(prefix="leadsync-parts-") as tmp, path.open("wb") as out:
        for part in status_file_parts(store, batch, Path(tmp), neutralise_formulas):
            with part.open("rb") as data:
                shutil.copyfileobj(data, out, 1 << 20)
            part.unlink()
    return batch.event_count


def _duckdb_copy(sql: str, part: Path, header: bool) -> str:
    target = "'" + str(part).replace("'", "''") + "'"
    return f"COPY ({sql}) TO {target} (FORMAT csv, HEADER {str(header).lower()}, NEW_LINE '\\r\\n')"


def render_status_csv(store: LeadStore, batch: Batch, neutralise_formulas: bool = True) -> bytes:
    """The batch's status file as bytes (for tests and small batches)."""
    with tempfile.TemporaryDirectory(prefix="leadsync-status-") as tmp:
        path = Path(tmp) / "status.csv"
        write_status_csv(store, batch, path, neutralise_formulas)
        return path.read_bytes()


def drain_outbox(source: str, client: SftpClient, store: LeadStore, now: datetime,
                 neutralise_formulas: bool = True) -> WritebackReport:
    """Upload the source's pending statuses as one status file (after any file a dead run left prepared).
    `neutralise_formulas` is the source's `writeback.neutralise_formulas` (false only for machine consumers)."""
    report = WritebackReport()
    for batch in prepared_batches(store, source):  # left over by a run that died mid-send
        _send(batch, client, store, now, report, neutralise_formulas)
        report.resumed += 1
    batch = prepare_batch(store, source, now, status_file_name(source))
    if batch is not None:
        _send(batch, client, store, now, report, neutralise_formulas)
    return report


def _send(batch: Batch, client: SftpClient, store: LeadStore, now: datetime, report: WritebackReport,
          neutralise_formulas: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="leadsync-status-") as tmp:
        parts = status_file_parts(store, batch, Path(tmp), neutralise_formulas)
        try:
            remote = client.upload_outbox(batch.target_name, parts)
        finally:
            parts.close()  # an upload that failed part-way stops the rendering too
    mark_sent(store, batch, remote, now)
    report.events_sent += batch.event_count
    report.files.append(remote)

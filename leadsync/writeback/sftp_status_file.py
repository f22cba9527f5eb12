"""SFTP sources get their statuses back as a CSV file in the outbox folder.

The engine writes the file (`COPY … TO`), ordered by event id, so the same batch always renders the same
bytes, in parts: each part is uploaded while the engine writes the next. A million status rows never pass
through Python.

On DuckDB the batch's rows are joined (events, bindings, leads, files) and sorted once, into a scratch
database of their own (status_rows.py); each part is then a row-id range of that table, which DuckDB reads
by its row groups alone. Cutting the parts by event-id ranges of the store's tables instead made every part
read every lead (string keys give DuckDB no zone maps to skip by): the work grew with leads × parts, and the
memory with the leads. Postgres finds a part's rows by its keys' indexes and cuts by event ids.
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
from leadsync.writeback import status_rows
from leadsync.writeback.outbox import Batch, mark_sent, prepare_batch, prepared_batches

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


def status_rows_query(batch: Batch, dialect: str, low: str | None = None, high: str | None = None) -> sa.Select:
    """One row per event of the batch (with event ids from `low` up to, not including, `high`, where given), as
    stored (no cell made inert yet), unordered: event_id, then STATUS_COLUMNS: its kind in `event`, the lead's
    distribution status and partner on every row, and the event's own fields (empty on the rows of other kinds,
    KIND_OF_COLUMN)."""
    o, b, l, f = tables.writeback_outbox, tables.writeback_bindings, tables.leads, tables.source_files
    email = sa.case((o.c.kind == "registration", _registration_email(dialect)), else_=l.c.email)

    def own_kind(name: str, col: str):
        kind = KIND_OF_COLUMN.get(name)
        return o.c[col] if kind is None else sa.case((o.c.kind == kind, o.c[col]))

    # outer joins: a partner-registered lead (kind "registration") has no stored lead behind it yet
    return (sa.select(o.c.event_id, o.c.lead_id, f.c.file_name.label("source_file"),
                      l.c.row_number.label("source_row"), email.label("email"), o.c.kind.label("event"),
                      *[own_kind(name, col).label(name) for name, col in STATUS_FIELDS.items()])
            .join(b, b.c.event_id == o.c.event_id)
            .outerjoin(l, l.c.lead_id == o.c.lead_id)
            .outerjoin(f, f.c.batch_id == l.c.batch_id)
            .where(b.c.batch_id == batch.batch_id, *_event_range(low, high)))


def status_cells(rows: sa.FromClause, dialect: str, neutralise_formulas: bool = True) -> list:
    """The file's columns over `rows` (a relation named `status_rows` with STATUS_COLUMNS as stored). Every text
    cell that a spreadsheet would run as a formula is made inert (leadsync/csv_safe.py); with
    `neutralise_formulas` false only the partner-typed ones are (PARTNER_TYPED), for machine consumers that
    need the raw values."""
    def cell(name: str):
        if name in NOT_TEXT or not (neutralise_formulas or name in PARTNER_TYPED):
            return rows.c[name]
        return sa.literal_column(neutralise_sql(f'{rows.name}."{name}"', dialect)).label(name)

    return [cell(name) for name in STATUS_COLUMNS]


def status_query(batch: Batch, dialect: str, low: str | None = None, high: str | None = None,
                 neutralise_formulas: bool = True) -> sa.Select:
    """The status file's rows of the batch (event ids from `low` up to `high`, where given) as written: cells
    made inert (status_cells), in event-id order."""
    rows = status_rows_query(batch, dialect, low, high).subquery(status_rows.TABLE)
    return (sa.select(*status_cells(rows, dialect, neutralise_formulas)).select_from(rows)
            .order_by(rows.c.event_id))


def _event_range(low: str | None, high: str | None) -> list:
    o = tables.writeback_outbox
    return [*([o.c.event_id >= low] if low is not None else []), *([o.c.event_id < high] if high is not None else [])]


# Rows per part of a status file: each part is written on its own, so a file of millions of rows goes out in
# bounded memory (the parts, in event-id order, concatenate into the same bytes a single sort would give). On
# DuckDB two whole row groups of the scratch table (status_rows.ROW_GROUP), so a part reads no row it does not
# write.
PART_ROWS = 2 * status_rows.ROW_GROUP


def _part_bounds(conn: sa.Connection, batch: Batch) -> list[str]:
    """Postgres: the first event id of each part after the first (event ids in order, PART_ROWS a part; the
    server sorts on disk)."""
    b = tables.writeback_bindings
    if batch.event_count <= PART_ROWS:
        return []
    ranked = sa.select(b.c.event_id, sa.func.row_number().over(order_by=b.c.event_id).label("n")).where(
        b.c.batch_id == batch.batch_id).subquery()
    return list(conn.execute(sa.select(ranked.c.event_id).where((ranked.c.n - 1) % PART_ROWS == 0,
                                                                ranked.c.n > 1).order_by(ranked.c.event_id)).scalars())


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
            parts = (_duckdb_parts if store.dialect == "duckdb" else _postgres_parts)(
                store, batch, folder, neutralise_formulas)
            with closing(parts):  # a caller that stopped early: the rest is not rendered
                for part in parts:
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


def _duckdb_parts(store: LeadStore, batch: Batch, folder: Path, neutralise_formulas: bool) -> Iterator[Path]:
    """The parts as row-id ranges of the batch's rows, joined and sorted once as stored (status_rows.py); each
    part's cells are made inert as it is written, beside the upload of the one before."""
    raw = status_rows_query(batch, store.dialect).subquery("raw")
    query = sa.select(*[raw.c[name] for name in STATUS_COLUMNS]).order_by(raw.c.event_id)
    stored = sa.table(status_rows.TABLE, *[sa.column(name) for name in STATUS_COLUMNS])
    cells = sa.select(*status_cells(stored, store.dialect, neutralise_formulas)).select_from(stored)
    with status_rows.sorted_rows(store, query, folder) as rows:
        select = str(cells.compile(dialect=store.engine.dialect, compile_kwargs={"literal_binds": True}))
        for i, (first, last) in enumerate(rows.ranges(PART_ROWS)):
            part = folder / f"part{i:05d}.csv"
            rows.copy(first, last, part, header=i == 0, select=select)
            yield part


def _postgres_parts(store: LeadStore, batch: Batch, folder: Path, neutralise_formulas: bool) -> Iterator[Path]:
    """The parts as event-id ranges, each its own COPY, in one transaction."""
    with store.begin() as conn:
        bounds = [None, *_part_bounds(conn, batch)]
        for i, low in enumerate(bounds):
            high = bounds[i + 1] if i + 1 < len(bounds) else None
            part = folder / f"part{i:05d}.csv"
            _copy_part(conn, status_query(batch, store.dialect, low, high, neutralise_formulas), part, header=i == 0)
            yield part


def write_status_csv(store: LeadStore, batch: Batch, path: Path, neutralise_formulas: bool = True) -> int:
    """Render the batch's status file to `path`; returns the number of rows."""
    with tempfile.TemporaryDirectory(prefix="leadsync-parts-") as tmp, path.open("wb") as out:
        for part in status_file_parts(store, batch, Path(tmp), neutralise_formulas):
            with part.open("rb") as data:
                shutil.copyfileobj(data, out, 1 << 20)
            part.unlink()
    return batch.event_count


def _copy_part(conn: sa.Connection, query: sa.Select, part: Path, header: bool) -> None:
    """Postgres: COPY … TO STDOUT of the part's rows, into `part`."""
    sql = LeadStore.render(conn, query)
    cursor = conn.connection.driver_connection.cursor()
    options = "FORMAT csv, HEADER" if header else "FORMAT csv"
    with part.open("wb") as out, cursor.copy(f"COPY ({sql}) TO STDOUT WITH ({options})") as copy:
        for data in copy:
            out.write(data)


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

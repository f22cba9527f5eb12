"""Tables of the lead store. Keys are deterministic strings, so a retried step finds its own rows.

The large tables (raw rows, leads, quarantine, decisions, outbox and their ledgers) are append-only: a stage
records what it did in a ledger (`intake_batches`, `writeback_spans`, …) read with anti-joins, never by
UPDATEs of million-row tables. On DuckDB they carry no PRIMARY KEY (an ART index costs more to maintain on a
bulk load than it saves: every lookup here is a set-based join) and the store enforces their keys in the
insert itself (`LeadStore.insert_frame`); on Postgres they keep their keys and a few B-tree indexes.
Raw rows live apart, in one typed table per source (`leadsync/store/raw.py`).
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateColumn

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)

# Bump when a table changes shape; a store written by another version is refused with a clear message.
SCHEMA_VERSION = 8
# Earlier versions `leadsync store migrate` brings to SCHEMA_VERSION (leadsync/store/migrate.py).
MIGRATABLE_VERSIONS = ("2", "3", "4", "5", "6", "7")

store_meta = sa.Table(
    "store_meta",
    metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("value", sa.String, nullable=False),
)

# Lead fields with their own column; any other mapped field lives in leads.attributes (JSON text).
STANDARD_LEAD_FIELDS: dict[str, sa.types.TypeEngine] = {
    "email": sa.String(),
    "first_name": sa.String(),
    "last_name": sa.String(),
    "company": sa.String(),
    "title": sa.String(),
    "phone": sa.String(),
    "country": sa.String(),
    "state": sa.String(),
    "postal_code": sa.String(),
    "city": sa.String(),
    "lead_type": sa.String(),
    "products": sa.String(),  # multi-picklist, values joined by the mapping's separator
    "campaign": sa.String(),
    "partner_name": sa.String(),
    "account_id": sa.String(),
    "created_at": TS,
}

# One row per file (or other unit) received from a source: the ledger that makes a re-pull harmless.
source_files = sa.Table(
    "source_files",
    metadata,
    sa.Column("batch_id", sa.String, primary_key=True),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("file_name", sa.String, nullable=False),
    sa.Column("content_sha256", sa.String, nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String, nullable=False),  # stored | error | duplicate (same content as a stored file; nothing stored)
    sa.Column("row_count", sa.BigInteger, nullable=False),
    sa.Column("encoding", sa.String),
    sa.Column("error", sa.Text),
    sa.Column("received_at", TS, nullable=False),
    sa.Column("moved_to", sa.String),
    sa.Column("columns", sa.Text),  # JSON list of the batch's column names as received, in order
)

# The intake's ledger: one row per batch mapped (its rows became leads or quarantine rows). New batches are
# the stored ones without a row here.
intake_batches = sa.Table(
    "intake_batches",
    metadata,
    sa.Column("batch_id", sa.String, primary_key=True),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("received", sa.BigInteger, nullable=False),
    sa.Column("stored", sa.BigInteger, nullable=False),
    sa.Column("quarantined", sa.BigInteger, nullable=False),
    sa.Column("mapped_at", TS, nullable=False),
)

# The routing's progress: a source's batches whose every lead has been decided (assign.route_new_leads records a
# batch here once its intake had finished before the run looked for waiting leads and all of the run's slices
# committed). A run looks for undecided leads only in the batches not here (found from the intake's ledgers), so a
# sync with little new reads no more leads than are new, however many the store holds (its cost grows with the
# source's batches, as the intake's own does): looking through the whole history took 0.9 s and 1.7 Postgres
# CPU-s per source at 1M leads, every run. A batch gains no lead once its intake has finished (a key-mode pull
# moves a lead into the batch being mapped, never into an earlier one), so a batch recorded here stays decided.
routing_batches = sa.Table(
    "routing_batches",
    metadata,
    sa.Column("source", sa.String, primary_key=True),
    sa.Column("batch_id", sa.String, primary_key=True),
    sa.Column("routed_at", TS, nullable=False),
)

# The intake's progress inside a batch: one row per slice of row numbers mapped, each in a transaction of its
# own (a batch of millions of rows is never one transaction's worth of memory, and a crash repeats one slice,
# not the batch). The batch's row in `intake_batches` is written with its last slice.
intake_slices = sa.Table(
    "intake_slices",
    metadata,
    sa.Column("batch_id", sa.String, primary_key=True),
    sa.Column("last_row", sa.BigInteger, primary_key=True, autoincrement=False),  # the slice's last row number
    sa.Column("first_row", sa.BigInteger, nullable=False),
    sa.Column("received", sa.BigInteger, nullable=False),
    sa.Column("stored", sa.BigInteger, nullable=False),  # leads new to the batch (a repeated key counts once)
    sa.Column("quarantined", sa.BigInteger, nullable=False),
    sa.Column("mapped_at", TS, nullable=False),
)

leads = sa.Table(
    "leads",
    metadata,
    sa.Column("lead_id", sa.String, primary_key=True),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("batch_id", sa.String, nullable=False),
    sa.Column("row_number", sa.BigInteger, nullable=False),
    sa.Column("lead_key", sa.String, nullable=False),
    sa.Column("source_record_id", sa.String),  # the record's id in an API source (writeback target)
    sa.Column("segregated", sa.Boolean),  # matched the source's segregation filter: stored, never routed
    *[sa.Column(name, type_) for name, type_ in STANDARD_LEAD_FIELDS.items()],
    sa.Column("attributes", sa.Text),  # JSON object of the non-standard mapped fields
    sa.Column("received_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("batch_id", sa.String, primary_key=True),
    sa.Column("row_number", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("file_name", sa.String, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("quarantined_at", TS, nullable=False),
)


def _decision_columns() -> list[sa.Column]:
    """What a routing decision records: who, which step decided, and enough to explain it later."""
    return [
        sa.Column("source", sa.String, nullable=False),
        sa.Column("partner_id", sa.String),
        sa.Column("rep_email", sa.String),
        sa.Column("rep_name", sa.String),
        # routed | unassigned | needs_review | withdrawn (lifecycle adds accepted, rejected, closed)
        sa.Column("status", sa.String, nullable=False),
        # protected_account | upload_partner | named_partner | rule_group | default_partner | none | manual | timeout
        sa.Column("step", sa.String, nullable=False),
        sa.Column("rule_group", sa.String),
        sa.Column("candidates", sa.Text),  # partner ids the round robin chose among, in cycle order
        sa.Column("rr_key", sa.String),  # candidate-set key of routing_positions
        sa.Column("rr_slot", sa.BigInteger),  # the cycle slot this lead took
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("decided_at", TS, nullable=False),
        sa.Column("decided_by", sa.String, nullable=False),  # engine | reroute | manual:<who>
        sa.Column("attempt", sa.Integer, nullable=False),  # 1 for the first routing, +1 per reroute
    ]


# Every decision ever taken about a lead is kept once: the current one in `assignments`, the ones a later decision
# replaced in `assignment_log`; `assignment_history` (a view) is the two together, the audit trail (routing,
# withdrawal, reroute, manual changes, lifecycle). A million leads routed for the first time are one row each.
_ACTION = "action"  # routed | unassigned | needs_review | withdrawn | rerouted | assigned | reassigned | accepted | …

# The current routing decision per lead (the latest row of assignment_history).
assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column("lead_id", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    *_decision_columns(),
    sa.Column(_ACTION, sa.String),  # what the decision did (set on every row since schema 4)
)

# Decisions replaced by a later one: a lead's current decision moves here when the next is recorded.
assignment_log = sa.Table(
    "assignment_log",
    metadata,
    sa.Column("lead_id", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column(_ACTION, sa.String, nullable=False),
    *_decision_columns(),
)

# Every decision ever taken about a lead, oldest version first per lead: a view over assignment_log and
# assignments (not created by metadata.create_all as a table; see _create_history_view).
assignment_history = sa.Table(
    "assignment_history",
    sa.MetaData(),
    sa.Column("lead_id", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column(_ACTION, sa.String, nullable=False),
    *_decision_columns(),
)
HISTORY_COLUMNS = [c.name for c in assignment_history.c]


def history_view_sql() -> str:
    cols = ", ".join(HISTORY_COLUMNS)
    return (f"CREATE VIEW assignment_history AS SELECT {cols} FROM assignment_log "
            f"UNION ALL SELECT {cols} FROM assignments")


def _create_history_view(_metadata, connection, tables=(), **_kw) -> None:
    """After a create_all of the store's tables: the history view, unless a relation of that name is there (a
    store being migrated from schema 3 or earlier still has the table). The query is read to its end: DuckDB
    refuses other work while a result is left half-read."""
    if assignments not in tables:
        return
    found = connection.exec_driver_sql(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'assignment_history' "
        "AND table_schema = current_schema()").scalar_one()
    if not found:
        connection.exec_driver_sql(history_view_sql())


sa.event.listen(metadata, "after_create", _create_history_view)

# Round-robin pointers: where each source's cycle of a candidate set continues (across runs; see round_robin.py).
routing_positions = sa.Table(
    "routing_positions",
    metadata,
    sa.Column("set_key", sa.String, primary_key=True),
    sa.Column("partners", sa.Text, nullable=False),  # "id:weight,…" in cycle order
    sa.Column("next_slot", sa.BigInteger, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

# How far each API source has been read, and where an interrupted export continues.
source_watermarks = sa.Table(
    "source_watermarks",
    metadata,
    sa.Column("source", sa.String, primary_key=True),
    sa.Column("stream", sa.String, primary_key=True),  # records | activities | memberships
    sa.Column("watermark", TS),  # read up to here (inclusive lower bound of the next pull, minus look-back)
    sa.Column("resume", sa.Text),  # JSON: where an interrupted export continues; null when none
    sa.Column("updated_at", TS, nullable=False),
)

# Versions of source records already received: a record re-read in the look-back window is not stored again.
source_records = sa.Table(
    "source_records",
    metadata,
    sa.Column("source", sa.String, primary_key=True),
    sa.Column("record_id", sa.String, primary_key=True),
    sa.Column("modified", sa.String, primary_key=True),  # the record's modification stamp as the source gives it
    sa.Column("content_sha", sa.String, nullable=False),  # hash of the pulled values, modification stamp aside
    sa.Column("batch_id", sa.String, nullable=False),
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("source", sa.String, primary_key=True),
    sa.Column("campaign_id", sa.String, primary_key=True),
    sa.Column("name", sa.String),
    sa.Column("description", sa.Text),
    sa.Column("type", sa.String),
    sa.Column("start_date", sa.String),
    sa.Column("end_date", sa.String),
    sa.Column("details", sa.Text),  # JSON of the source's other campaign fields
    sa.Column("updated_at", TS, nullable=False),
)

campaign_members = sa.Table(
    "campaign_members",
    metadata,
    sa.Column("source", sa.String, primary_key=True),
    sa.Column("campaign_id", sa.String, primary_key=True),
    sa.Column("record_id", sa.String, primary_key=True),
    sa.Column("status", sa.String),
    sa.Column("joined_at", sa.String),
)

lead_activities = sa.Table(
    "lead_activities",
    metadata,
    sa.Column("source", sa.String, primary_key=True),
    sa.Column("activity_id", sa.String, primary_key=True),
    sa.Column("record_id", sa.String, nullable=False),
    sa.Column("activity_type", sa.String),
    sa.Column("occurred_at", sa.String),
    sa.Column("detail", sa.Text),
)

# The fields of a writeback event with a column of their own: what a distribution-status event says, and the
# fields lifecycle events (rejection, sales status, opportunity, marketing event) add. Anything else an event
# carries stays in its `payload` (JSON text; null for the million distribution-status events of a big drop).
OUTBOX_FIELDS: dict[str, sa.types.TypeEngine] = {
    "distribution_status": sa.String(),
    "partner_id": sa.String(),
    "partner_name": sa.String(),
    "rep_name": sa.String(),
    "rep_email": sa.String(),
    "reason": sa.Text(),
    "decided_at": sa.String(),  # ISO 8601 text, as it goes into the status file
    "rejection_reason": sa.String(),
    "rejection_comment": sa.Text(),
    "sales_status": sa.String(),
    "external_id": sa.String(),  # opportunity
    "name": sa.String(),
    "stage": sa.String(),
    "amount": sa.Float(),
    "close_date": sa.String(),
    "event_type": sa.String(),  # marketing event
    "occurred_at": sa.String(),
    "description": sa.Text(),
}

# Every outcome to be written back to the lead's source system, drained by that source's sink. Append-only:
# which batch an event went out in is the ledger writeback_bindings, a refusal is a writeback_refusals row.
# The outbox's order of record: every event gets the next number as it is stored (DuckDB and Postgres
# sequences alike), and a status file lists its events in that order. An integer the engines can range over:
# a part of a status file is a range of it, which DuckDB answers from the row groups holding it (min-max
# zonemaps), where a range of string event ids (one long common prefix) prunes nothing.
OUTBOX_SEQ = sa.Sequence("writeback_outbox_seq", metadata=metadata)

# The lead an event is about, as its source knows it: carried by the event from the moment it is queued (the
# lead's row is immutable), so a sink writes its rows without joining millions of leads back.
LEAD_CONTEXT: dict[str, sa.types.TypeEngine] = {
    "email": sa.String(),
    "source_file": sa.String(),  # the lead file the row came in (SFTP sources)
    "source_row": sa.BigInteger(),  # its data row in that file
}

writeback_outbox = sa.Table(
    "writeback_outbox",
    metadata,
    sa.Column("event_id", sa.String, primary_key=True),
    sa.Column("seq", sa.BigInteger, OUTBOX_SEQ, server_default=OUTBOX_SEQ.next_value(), nullable=False),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("lead_id", sa.String, nullable=False),
    sa.Column("kind", sa.String, nullable=False),  # distribution_status | rejection | sales_status | ...
    *[sa.Column(name, type_) for name, type_ in LEAD_CONTEXT.items()],
    *[sa.Column(name, type_) for name, type_ in OUTBOX_FIELDS.items()],
    sa.Column("payload", sa.Text),  # JSON object of the event's other fields, or null
    sa.Column("created_at", TS, nullable=False),
)

# A group of outbox events sent together (one status file, one round of API updates). Recorded before sending
# so that a crash between send and record resends the very same batch (same file name, same bytes) and
# nothing more.
writeback_batches = sa.Table(
    "writeback_batches",
    metadata,
    sa.Column("batch_id", sa.String, primary_key=True),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("target_name", sa.String, nullable=False),
    sa.Column("event_count", sa.BigInteger, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("state", sa.String, nullable=False),  # prepared | sent
    sa.Column("sent_at", TS),
    sa.Column("result", sa.Text),
)

# Which batch an event went out in is kept two ways (writeback/outbox.py says how they are read together):
#
# A batch's span (schema 7): the batch holds every event of its source with seq from first_seq to last_seq that
# has no binding (below). A batch takes its source's new events, those above the source's highest span, as one
# span: one row however many events, where a row per event cost Postgres 2.1 CPU-s per million and made every
# later count of what is pending read the source's whole history. Exact because no event of the source can
# still be uncommitted below the span when it is made (outbox.hold_outbox_order), and because the sequence
# hands out its numbers in order (no per-session cache).
writeback_spans = sa.Table(
    "writeback_spans",
    metadata,
    sa.Column("batch_id", sa.String, primary_key=True),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("first_seq", sa.BigInteger, nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
)

# A binding: one event bound to a batch on its own — an event sent again after a refusal, one marked as changed
# at the source, and every event a store before schema 7 bound. An event with a binding is never in a span.
# Keyed by the batch and the event's outbox seq (an integer, one per event): a batch's parts are ranges of it,
# and readers over whole sets join the outbox by it (a batch's events one by one, as the API sink reads them,
# are found by the event id: the outbox's key). Keyed by the text event id (with a second index for the batch's
# seq order), binding 500,000 events cost Postgres 1.15-1.75 s against 0.64 s with this one key (schema 6).
writeback_bindings = sa.Table(
    "writeback_bindings",
    metadata,
    sa.Column("batch_id", sa.String, primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("event_id", sa.String, nullable=False),  # the event (refusals name it)
)

# Events a source refused within a sent batch, with its reason: they are pending again, retried next run.
writeback_refusals = sa.Table(
    "writeback_refusals",
    metadata,
    sa.Column("event_id", sa.String, primary_key=True),
    sa.Column("batch_id", sa.String, primary_key=True),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("refused_at", TS, nullable=False),
)

# Tables that grow with the number of leads: no PRIMARY KEY (no ART index) on DuckDB; their keys are kept by
# the set-based inserts of LeadStore.insert_frame.
APPEND_ONLY_TABLES = {"leads", "quarantine", "assignments", "assignment_log", "writeback_outbox",
                      "writeback_bindings", "source_records", "lead_activities", "campaign_members"}

# Secondary indexes of the Postgres store (DuckDB relies on its automatic min-max zonemaps and hash joins), by
# table, name → what follows "ON <table>". Each one costs every COPY into its table (about 0.3 s per 245,760 rows
# for a B-tree here), so a large table keeps only those an interactive or per-batch reader needs.
# The outbox's seq is drawn from a sequence as events are appended, so the table lies nearly in seq order: a BRIN
# index (the least and greatest seq of each 1 MB of the table) finds a status-file part's range of seq at almost
# no cost to the appends, where a B-tree cost each routing slice 0.2 s.
POSTGRES_INDEXES: dict[str, dict[str, str]] = {
    # a batch's leads in row order (the intake's pages) and a routing slice's rows (assign._read_slice)
    "leads": {"ix_leads_source_batch_row": "(source, batch_id, row_number)"},
    "source_records": {"ix_source_records_content": "(source, record_id, content_sha)"},
    "lead_activities": {"ix_lead_activities_record": "(source, record_id)"},
    # a partner's leads (portal, capacity), the queues and the aging of decisions (console, lifecycle)
    "assignments": {"ix_assignments_partner_status": "(partner_id, status)",
                    "ix_assignments_status_decided": "(status, decided_at)"},
    "writeback_outbox": {"brin_outbox_seq": "USING brin (seq)"},
    # which events in a span's range are bound on their own (a store from before schema 7 has one binding per
    # event sent; a new one, one per event sent again after a refusal)
    "writeback_bindings": {"ix_bindings_seq": "(seq)"},
}

# Indexes an earlier leadsync made on Postgres that no reader uses now: dropped as the store opens
# (LeadStore._reconcile_postgres_indexes). The outbox's (source, created_at) served no query (a source's pending
# events are an anti-join over the whole outbox); its B-tree on seq gave way to brin_outbox_seq; the bindings'
# (batch_id) to (batch_id, seq), which finds a part's range of a batch without reading the whole batch; the
# leads' (source, batch_id) to (source, batch_id, row_number), which finds a range of a batch's rows. The bindings'
# (batch_id, seq) is their key since schema 6.
RETIRED_POSTGRES_INDEXES = ("ix_outbox_source_created", "ix_outbox_seq", "ix_bindings_batch", "ix_leads_source_batch",
                            "ix_bindings_batch_seq")


def postgres_index_sql(table: str, name: str) -> str:
    return f"CREATE INDEX IF NOT EXISTS {name} ON {table} {POSTGRES_INDEXES[table][name]}"


for _table, _indexes in POSTGRES_INDEXES.items():
    for _index in _indexes:
        sa.event.listen(metadata.tables[_table], "after_create",
                        sa.DDL(postgres_index_sql(_table, _index)).execute_if(dialect="postgresql"))


# The store's identifiers and codes compare bytes on Postgres (COLLATE "C"), as text does on DuckDB: keys,
# the columns of an index, ids (`…_id`) and the codes the store filters and groups by. Under a database's locale
# collation (even C.UTF-8, which Postgres 15 does not treat as C) each comparison of ids goes through strcoll,
# and sorts lose their abbreviated keys: the COPYs into the outbox, assignments and leads took 4-16% more server
# CPU (bench/postgres_partitions.py), binding a batch 8-11% more. People's text (names, companies, emails,
# reasons, payloads) keeps the database's collation: under "C", Postgres's lower() and ILIKE fold ASCII letters
# only, and conflict matching and the portal's and console's searches lower-case it ('MÜLLER' must still
# meet 'Müller'). DDL only: a query's casts and literals are untouched, and an expression mixing a "C" column
# with a default-collation one takes "C".
BYTE_ORDER = "C"
CODE_COLUMNS = frozenset({"source", "status", "kind", "step", "action", "lead_key", "rr_key", "decided_by"})


def compares_bytes(column: sa.Column) -> bool:
    """Whether `column` is one of the store's identifiers or codes (BYTE_ORDER on Postgres)."""
    if (column.table is None or column.table.metadata is not metadata or not isinstance(column.type, sa.String)
            or column.type.collation is not None):
        return False
    return (column.primary_key or column.name.endswith("_id") or column.name in CODE_COLUMNS
            or column.name in _indexed(column.table))


def _indexed(table: sa.Table) -> set[str]:
    """Names of the columns in the table's indexes (its own and POSTGRES_INDEXES)."""
    names = {c.name for index in table.indexes for c in index.columns}
    for spec in POSTGRES_INDEXES.get(table.name, {}).values():
        names.update(re.findall(r"\w+", spec))
    return names


@compiles(CreateColumn, "postgresql")
def _byte_order_text(element: CreateColumn, compiler, **kw) -> str:
    column = element.element
    spec = compiler.visit_create_column(element, **kw)
    if not compares_bytes(column):
        return spec
    head = f"{compiler.preparer.format_column(column)} {compiler.dialect.type_compiler_instance.process(column.type)}"
    if not spec.startswith(head):
        raise AssertionError(f"unexpected column DDL {spec!r}")
    return f'{head} COLLATE "{BYTE_ORDER}"{spec[len(head):]}'

"""`leadsync store migrate`: bring a store written by an earlier leadsync to this schema, in place, in one
transaction (a failure leaves the store as it was).

Version 2 → 3 (the columnar, append-only data plane):
- raw_rows (one JSON text per row, a `state` column) → one typed table per source (raw_<source>); a batch
  whose rows were all mapped gets its intake-ledger row, one still new is mapped by the next run;
- writeback_outbox (JSON payload, state/batch_id/attempts/last_error) → typed columns with the payload's other
  fields kept as JSON, a writeback_bindings row per event bound to a batch, and a writeback_refusals row per
  refusal an event had (its latest reason kept);
- on DuckDB the large tables are rebuilt without PRIMARY KEY (no ART index) and the old secondary indexes
  dropped; on Postgres the new indexes are made.

Version 3 → 4 (each decision stored once):
- assignments gets `action` (from its history row); the history rows a later decision replaced move to
  assignment_log; assignment_history becomes the view over the two.

Version 4 → 5 (the outbox carries what its sinks write):
- writeback_outbox gets `seq` (numbered in the order events were queued: created_at, then event id; the
  sequence goes on from the last) and its leads' context (email, source_file, source_row, from the leads);
  writeback_bindings gets each event's seq.

Version 5 → 6 (bindings keyed by the integer seq):
- writeback_bindings is keyed by (batch_id, seq) instead of (event_id, batch_id) (Postgres: the key replaced, the
  index (batch_id, seq) it makes redundant dropped; DuckDB keeps no key on the table: nothing to change).

Version 6 → 7 (a batch's new events bound as one span):
- writeback_spans is made; the bindings already made stay, each holding its event as before (a batch made
  from now on takes its source's new events as one span row, see writeback/outbox.py).

Version 7 → 8 (the routing's ledger of decided batches):
- routing_batches is made, empty: a source's first routing run after it looks through the source's whole
  history once, as before (leads stored before need not have the intake's ledger rows), and records the batches
  the intake has finished (assign._waiting_in).

Postgres, any version, in a transaction of its own after the above: identifier and code columns made before
they compared bytes get COLLATE "C" (tables.BYTE_ORDER, tables.compares_bytes): the tables' rows stay, their
indexes are rebuilt. A store without it works as it did, only slower; this is the one step a store at the
current schema can still take.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from leadsync.intake.stored import parse_payloads
from leadsync.store import raw, tables
from leadsync.store.engine import LeadStore, StoreSchemaError, stored_version
from leadsync.store.tables import OUTBOX_FIELDS, metadata
from leadsync.writeback.events import outbox_row

# v2 secondary indexes (DuckDB keeps none on the large tables; Postgres gets tables.POSTGRES_INDEXES)
V2_INDEXES = ["ix_raw_rows_source_state", "ix_leads_source", "ix_source_records_content", "ix_lead_activities_record",
              "ix_assignments_partner_status", "ix_assignments_status_decided", "ix_outbox_source_state"]
CHUNK = 100_000


@dataclass
class MigrationReport:
    from_version: str | None = None
    to_version: str = str(tables.SCHEMA_VERSION)
    raw_batches: int = 0
    raw_rows: int = 0
    batches_mapped: int = 0
    batches_to_map: int = 0
    outbox_events: int = 0
    bound: int = 0
    refusals: int = 0
    rebuilt: list[str] = field(default_factory=list)
    byte_order: list[str] = field(default_factory=list)  # Postgres tables whose id columns now compare bytes
    byte_order_blocked: str | None = None  # why that step was not taken (views over the tables), if not

    @property
    def changed(self) -> bool:
        return self.from_version != self.to_version or bool(self.byte_order)

    @property
    def upgraded(self) -> bool:
        return self.from_version != self.to_version


def migrate(url: str | None = None) -> MigrationReport:
    store = LeadStore(url, create=False)
    report = MigrationReport()
    try:
        with store.begin() as conn:
            store.hold(conn, "schema")
            found = stored_version(conn)
            report.from_version = found
            if found != str(tables.SCHEMA_VERSION):
                if found not in tables.MIGRATABLE_VERSIONS:
                    raise StoreSchemaError(
                        f"the store has schema version {found or 'unknown'}; `leadsync store migrate` brings versions "
                        f"{', '.join(tables.MIGRATABLE_VERSIONS)} to {tables.SCHEMA_VERSION} only")
                if found == "2":
                    _v2_to_v3(store, conn, report)
                if found in ("2", "3"):
                    _v3_to_v4(store, conn)
                if found in ("2", "3", "4"):
                    _v4_to_v5(store, conn)
                if found in ("2", "3", "4", "5"):
                    _v5_to_v6(store, conn)
                if found in ("2", "3", "4", "5", "6"):
                    _v6_to_v7(conn)
                _v7_to_v8(conn)
                meta = tables.store_meta
                conn.execute(sa.update(meta).where(meta.c.key == "schema_version")
                             .values(value=str(tables.SCHEMA_VERSION)))
        if store.dialect == "postgresql":
            # a transaction of its own: the schema upgrade above stands even when this step cannot be taken
            with store.begin() as conn:
                store.hold(conn, "schema")
                report.byte_order, report.byte_order_blocked = _byte_order_ids(conn)
    finally:
        store.dispose()
    return report


def _byte_order_ids(conn: sa.Connection) -> tuple[list[str], str | None]:
    """Postgres: the store's identifier and code columns (tables.compares_bytes) not yet in tables.BYTE_ORDER
    get it, one ALTER TABLE per table (its indexes rebuilt once). The history view reads two of the tables'
    columns: dropped and made again around them (its grants kept). Another view over a table to change (one
    made by hand, for a dashboard) would block the ALTER: nothing is changed then, and the message names it.
    Returns the tables changed and that message."""
    # every table of the store registers on the metadata when its module is imported
    from leadsync.console import tables as _console  # noqa: F401
    from leadsync.partner_crm import tables as _partner_crm  # noqa: F401
    from leadsync.portal import tables as _portal  # noqa: F401

    found = conn.exec_driver_sql(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND data_type IN ('character varying', 'text') "
        "AND collation_name IS DISTINCT FROM %(order)s", {"order": tables.BYTE_ORDER}).all()
    columns: dict[str, list[str]] = {}
    for table, column, data_type in found:
        known = metadata.tables.get(table)
        if known is not None and column in known.c and tables.compares_bytes(known.c[column]):
            kind = "TEXT" if data_type == "text" else "VARCHAR"
            columns.setdefault(table, []).append(f'ALTER COLUMN "{column}" TYPE {kind} COLLATE "{tables.BYTE_ORDER}"')
    if not columns:
        return [], None
    views = conn.exec_driver_sql(
        "SELECT DISTINCT v.relname FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
        "JOIN pg_class v ON v.oid = r.ev_class JOIN pg_class t ON t.oid = d.refobjid "
        "WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass AND v.oid <> t.oid "
        "AND t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%(tables)s) "
        "AND v.relname <> 'assignment_history' ORDER BY 1",
        {"tables": [*columns, "assignment_history"]}).scalars().all()
    if views:
        return [], (f"views {', '.join(views)} read the store's tables, so their id columns keep the database's "
                    f"collation (the store works so, only slower). To convert them: drop those views, run "
                    f"`leadsync store migrate` again, and make the views again.")
    grants = conn.exec_driver_sql(
        "SELECT coalesce(nullif(a.grantee, 0)::regrole::text, 'PUBLIC'), a.privilege_type, a.is_grantable "
        "FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = to_regclass('assignment_history') "
        "AND a.grantee <> c.relowner").all()
    conn.exec_driver_sql("DROP VIEW IF EXISTS assignment_history")
    for table, changes in sorted(columns.items()):
        conn.exec_driver_sql(f'ALTER TABLE "{table}" {", ".join(changes)}')
    conn.exec_driver_sql(tables.history_view_sql())
    for grantee, privilege, grantable in grants:
        conn.exec_driver_sql(f"GRANT {privilege} ON assignment_history TO {grantee}"
                             + (" WITH GRANT OPTION" if grantable else ""))
    return sorted(columns), None


def _v2_to_v3(store: LeadStore, conn: sa.Connection, report: MigrationReport) -> None:
    for name in V2_INDEXES:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
    conn.exec_driver_sql("ALTER TABLE source_files ADD COLUMN columns TEXT")
    conn.exec_driver_sql("ALTER TABLE writeback_outbox RENAME TO writeback_outbox_v2")
    if store.dialect == "duckdb":  # rebuilt without their ART key, rows kept
        for name in sorted(tables.APPEND_ONLY_TABLES - {"writeback_outbox", "writeback_bindings"}):
            if sa.inspect(conn).has_table(name):
                conn.exec_driver_sql(f"ALTER TABLE {name} RENAME TO {name}_v2")
                metadata.tables[name].create(conn)
                kept = _columns(conn, f"{name}_v2")
                cols = ", ".join(c.name for c in metadata.tables[name].c if c.name in kept)
                conn.exec_driver_sql(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM {name}_v2")
                conn.exec_driver_sql(f"DROP TABLE {name}_v2")
                report.rebuilt.append(name)
    metadata.create_all(conn)  # the new tables (and, on Postgres, their indexes)
    if store.dialect == "postgresql":
        for table, indexes in tables.POSTGRES_INDEXES.items():
            for name in indexes:
                conn.exec_driver_sql(tables.postgres_index_sql(table, name))
    _raw_rows(store, conn, report)
    _outbox(store, conn, report)
    conn.exec_driver_sql("DROP TABLE raw_rows")
    conn.exec_driver_sql("DROP TABLE writeback_outbox_v2")


def _columns(conn: sa.Connection, table: str) -> set[str]:
    result = conn.exec_driver_sql(f"SELECT * FROM {table} LIMIT 0")
    names = set(result.keys())
    result.close()
    return names


def _v3_to_v4(store: LeadStore, conn: sa.Connection) -> None:
    """Each decision stored once: the current one in assignments (now with its action), the replaced ones in
    assignment_log, assignment_history the view over both."""
    if "action" not in _columns(conn, "assignments"):
        conn.exec_driver_sql("ALTER TABLE assignments ADD COLUMN action VARCHAR")
    conn.exec_driver_sql("UPDATE assignments SET action = h.action FROM assignment_history h "
                         "WHERE h.lead_id = assignments.lead_id AND h.version = assignments.version")
    conn.exec_driver_sql("UPDATE assignments SET action = status WHERE action IS NULL")
    tables.assignment_log.create(conn, checkfirst=True)
    cols = ", ".join(tables.HISTORY_COLUMNS)
    conn.exec_driver_sql(f"INSERT INTO assignment_log ({cols}) SELECT {cols} FROM assignment_history h WHERE NOT "
                         "EXISTS (SELECT 1 FROM assignments a WHERE a.lead_id = h.lead_id AND a.version = h.version)")
    conn.exec_driver_sql("DROP TABLE assignment_history")
    conn.exec_driver_sql(tables.history_view_sql())


def _v4_to_v5(store: LeadStore, conn: sa.Connection) -> None:
    """The outbox's seq and lead context, the bindings' seq. Columns a v2 → v3 step just created with the
    tables are there already; rows it copied got their seq from the sequence: only what is missing is filled."""
    outbox_cols, binding_cols = _columns(conn, "writeback_outbox"), _columns(conn, "writeback_bindings")
    for name, type_ in {"seq": sa.BigInteger(), **tables.LEAD_CONTEXT}.items():
        if name not in outbox_cols:
            conn.exec_driver_sql(f"ALTER TABLE writeback_outbox ADD COLUMN {name} {type_.compile(conn.dialect)}")
    if "seq" not in binding_cols:
        conn.exec_driver_sql("ALTER TABLE writeback_bindings ADD COLUMN seq BIGINT")
    last = conn.exec_driver_sql("SELECT coalesce(max(seq), 0) FROM writeback_outbox").scalar_one()
    conn.exec_driver_sql(
        "UPDATE writeback_outbox SET seq = n.seq FROM (SELECT event_id, "
        f"{int(last)} + row_number() OVER (ORDER BY created_at, event_id) AS seq FROM writeback_outbox "
        "WHERE seq IS NULL) AS n WHERE n.event_id = writeback_outbox.event_id")
    if "seq" not in outbox_cols:  # the sequence goes on after the numbers given here
        following = conn.exec_driver_sql("SELECT coalesce(max(seq), 0) + 1 FROM writeback_outbox").scalar_one()
        conn.exec_driver_sql(f"DROP SEQUENCE IF EXISTS {tables.OUTBOX_SEQ.name}")
        conn.exec_driver_sql(f"CREATE SEQUENCE {tables.OUTBOX_SEQ.name} START WITH {int(following)}")
        conn.exec_driver_sql(f"ALTER TABLE writeback_outbox ALTER COLUMN seq SET DEFAULT "
                             f"nextval('{tables.OUTBOX_SEQ.name}')")
    conn.exec_driver_sql(
        "UPDATE writeback_outbox SET email = l.email, source_row = l.row_number, source_file = f.file_name "
        "FROM leads AS l LEFT JOIN source_files AS f ON f.batch_id = l.batch_id "
        "WHERE l.lead_id = writeback_outbox.lead_id AND writeback_outbox.email IS NULL "
        "AND writeback_outbox.source_row IS NULL")
    conn.exec_driver_sql("UPDATE writeback_bindings SET seq = o.seq FROM writeback_outbox AS o "
                         "WHERE o.event_id = writeback_bindings.event_id AND writeback_bindings.seq IS NULL")
    if store.dialect == "postgresql":
        for name in tables.POSTGRES_INDEXES["writeback_outbox"]:
            conn.exec_driver_sql(tables.postgres_index_sql("writeback_outbox", name))


def _v5_to_v6(store: LeadStore, conn: sa.Connection) -> None:
    """Bindings keyed by (batch_id, seq); raw rows of new batches go to blocks (raw_blocks.py), so the raw
    tables written so far get the index their batches are read by, which a table used to get at its source's
    next pull. Postgres only: DuckDB keeps no key on its append-only tables and reads raw tables by zonemaps."""
    if store.dialect != "postgresql":
        return
    key = conn.exec_driver_sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = to_regclass('writeback_bindings') AND contype = 'p'").one_or_none()
    if key is None or key[1] != "PRIMARY KEY (batch_id, seq)":  # (a v2 store's tables were just made so)
        quote = conn.dialect.identifier_preparer.quote
        if key is not None:
            conn.exec_driver_sql(f"ALTER TABLE writeback_bindings DROP CONSTRAINT {quote(key[0])}")
        conn.exec_driver_sql("ALTER TABLE writeback_bindings ALTER COLUMN seq SET NOT NULL, "
                             "ADD PRIMARY KEY (batch_id, seq)")
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_bindings_batch_seq")
    for source in conn.execute(sa.select(raw.raw_columns.c.source).distinct()).scalars():
        raw.index_legacy_table(conn, source)


def _v6_to_v7(conn: sa.Connection) -> None:
    """Batches bind their source's new events as a span (writeback_spans). The bindings made so far stay as they
    are, each holding its event as before."""
    tables.writeback_spans.create(conn, checkfirst=True)


def _v7_to_v8(conn: sa.Connection) -> None:
    """The routing records the batches it has decided (routing_batches). Starts empty: the first routing run of a
    source after the migration looks through its whole history once, as before, and records the batches it
    finds decided."""
    tables.routing_batches.create(conn, checkfirst=True)


def _raw_rows(store: LeadStore, conn: sa.Connection, report: MigrationReport) -> None:
    rr = sa.table("raw_rows", sa.column("batch_id", sa.String), sa.column("row_number", sa.BigInteger),
                  sa.column("source", sa.String), sa.column("payload", sa.Text), sa.column("state", sa.String))
    batches = conn.execute(sa.select(rr.c.source, rr.c.batch_id, sa.func.count(),
                                     sa.func.count().filter(rr.c.state == "new"))
                           .group_by(rr.c.source, rr.c.batch_id).order_by(rr.c.source, rr.c.batch_id)).all()
    now = datetime.now(UTC)
    f, lead, q = tables.source_files, tables.leads, tables.quarantine
    for source, batch_id, rows, new in batches:
        names: list[str] | None = None
        for start in range(0, rows, CHUNK):
            chunk = store.read_frame(conn, sa.select(rr.c.row_number, rr.c.payload).where(rr.c.batch_id == batch_id)
                                     .order_by(rr.c.row_number).offset(start).limit(CHUNK))
            values = parse_payloads(chunk["payload"])
            names = names or list(json.loads(chunk["payload"].iloc[0]).keys())
            table = pa.table({n: pa.array(values[n].astype("string") if n in values else [None] * len(chunk),
                                          pa.string()) for n in names})
            raw.append(store, conn, source, batch_id, table, pa.array(chunk["row_number"].to_numpy(), pa.int64()))
        conn.execute(sa.update(f).where(f.c.batch_id == batch_id).values(columns=json.dumps(names or [])))
        report.raw_batches += 1
        report.raw_rows += rows
        if new:
            report.batches_to_map += 1
            continue
        stored = conn.execute(sa.select(sa.func.count()).where(lead.c.batch_id == batch_id)).scalar_one()
        quarantined = conn.execute(sa.select(sa.func.count()).where(q.c.batch_id == batch_id)).scalar_one()
        conn.execute(sa.insert(tables.intake_batches).values(batch_id=batch_id, source=source, received=rows,
                                                             stored=stored, quarantined=quarantined, mapped_at=now))
        report.batches_mapped += 1


def _outbox(store: LeadStore, conn: sa.Connection, report: MigrationReport) -> None:
    old = sa.table("writeback_outbox_v2", *[sa.column(c) for c in (
        "event_id", "source", "lead_id", "kind", "payload", "created_at", "state", "batch_id", "attempts",
        "last_error")])
    total = conn.execute(sa.select(sa.func.count()).select_from(old)).scalar_one()
    now = datetime.now(UTC)
    for start in range(0, total, CHUNK):
        chunk = store.read_frame(conn, sa.select(old).order_by(old.c.event_id).offset(start).limit(CHUNK))
        fields = parse_payloads(chunk["payload"])
        rows = []
        for i, event in enumerate(chunk.itertuples(index=False)):
            values = {k: v for k, v in fields.iloc[i].items() if v is not None and not _missing(v)}
            rows.append(outbox_row(event.event_id, event.source, event.lead_id, event.kind, values, event.created_at))
        frame = pd.DataFrame(rows, columns=["event_id", "source", "lead_id", "kind", *OUTBOX_FIELDS, "payload",
                                            "created_at"])
        frame["amount"] = pd.to_numeric(frame["amount"], errors="coerce")
        store.insert_frame(conn, tables.writeback_outbox, frame)
        bound = chunk.loc[chunk["batch_id"].notna(), ["event_id", "batch_id"]]
        if len(bound):  # with the seq each event just got in the outbox
            with store.staged(conn, bound.astype(str)) as stage:
                conn.exec_driver_sql(f"INSERT INTO writeback_bindings (batch_id, seq, event_id) SELECT s.batch_id, "
                                     f"o.seq, o.event_id FROM {stage} AS s JOIN writeback_outbox AS o "
                                     "ON o.event_id = s.event_id")
        refused = chunk[chunk["attempts"].fillna(0) > 0]
        refusals = [{"event_id": e, "batch_id": f"migrated-{n}", "error": (err if n == a else "refused") or "refused",
                     "refused_at": now} for e, a, err in zip(refused["event_id"], refused["attempts"].astype(int),
                                                             refused["last_error"], strict=True)
                    for n in range(1, a + 1)]
        if refusals:
            store.insert_frame(conn, tables.writeback_refusals, pd.DataFrame(refusals))
        report.outbox_events += len(chunk)
        report.bound += len(bound)
        report.refusals += len(refused)


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False

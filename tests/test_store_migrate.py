"""`leadsync store migrate`: a store written by leadsync at schema 2 (tests/fixtures/store_v2, made by the code
of 3a0bbf7 with tests/fixtures/make_store_v2.py) becomes a schema-3 store in which every lead, decision and
pending event is found, the batch still to map is mapped by the next run, and nothing is sent twice."""

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from leadsync.cli import main
from leadsync.config import load_source
from leadsync.intake import map_new_rows
from leadsync.store import LeadStore, raw, tables
from leadsync.store.engine import StoreSchemaError
from leadsync.store.migrate import migrate
from leadsync.writeback.outbox import event_states, pending_events

FIXTURE = Path(__file__).parent / "fixtures" / "store_v2"
REPO = Path(__file__).resolve().parents[1]


def v2_table(name: str) -> pd.DataFrame:
    return pd.read_parquet(FIXTURE / f"{name}.parquet")


def load_v2(url: str) -> None:
    """The v2 store: its DDL (the same text for both engines), its rows."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in (FIXTURE / "schema.sql").read_text().split(";\n"):
            if statement.strip():
                conn.exec_driver_sql(statement)
        for file in sorted(FIXTURE.glob("*.parquet")):
            frame = pd.read_parquet(file)
            if len(frame):
                frame = frame.astype(object).where(frame.notna(), None)
                table = sa.table(file.stem, *[sa.column(c) for c in frame.columns])
                conn.execute(sa.insert(table), frame.to_dict("records"))
    engine.dispose()


def read(store: LeadStore, query) -> pd.DataFrame:
    with store.begin() as conn:
        return store.read_frame(conn, query)


def test_a_v2_store_is_refused_with_the_command_that_migrates_it(store_url):
    load_v2(store_url)
    with pytest.raises(StoreSchemaError, match="leadsync store migrate"):
        LeadStore(store_url)


def test_migrate_keeps_every_lead_decision_and_pending_event(store_url, capsys):
    load_v2(store_url)
    assert main(["store", "migrate", "--store", store_url]) == 0
    assert f"from schema version 2 to {tables.SCHEMA_VERSION}" in capsys.readouterr().out
    store = LeadStore(store_url)  # opens: the store is at version 3

    leads, old_leads = read(store, sa.select(tables.leads)), v2_table("leads")
    assert sorted(leads["lead_id"]) == sorted(old_leads["lead_id"])
    assert leads.set_index("lead_id")["email"].to_dict() == old_leads.set_index("lead_id")["email"].to_dict()
    decided = read(store, sa.select(tables.assignments.c.lead_id, tables.assignments.c.status,
                                    tables.assignments.c.partner_id)).set_index("lead_id").sort_index()
    old = v2_table("assignments").set_index("lead_id").sort_index()[["status", "partner_id"]]
    assert decided.fillna("-").equals(old.fillna("-"))
    assert len(read(store, sa.select(tables.assignment_history))) == len(v2_table("assignment_history"))

    outbox, old_outbox = read(store, event_states()), v2_table("writeback_outbox")
    assert sorted(outbox["event_id"]) == sorted(old_outbox["event_id"])
    states = outbox.set_index("event_id")["state"]
    was_pending = old_outbox.loc[old_outbox["state"] == "pending", "event_id"]
    assert set(states[states == "pending"].index) == set(was_pending)
    assert (states[~states.index.isin(was_pending)] == "sent").all()
    refused = outbox[outbox["attempts"].fillna(0) > 0]
    assert len(refused) == 1 and "FIELD_CUSTOM_VALIDATION_EXCEPTION" in refused["last_error"].iloc[0]
    accepted = outbox[outbox["distribution_status"] == "Accepted"]  # a lifecycle event: its fields typed
    assert len(accepted) == 1 and accepted["partner_name"].notna().all()

    with store.begin() as conn:  # every raw row, by source table, as received
        assert raw.row_count(conn, "sftp_demo") == len(v2_table("raw_rows"))
        columns = raw.physical_columns(conn, "sftp_demo")
    assert {"Email", "Last Name", "Partner"} <= set(columns)

    # the batch pulled but not mapped is mapped now, and only it
    report = map_new_rows(load_source(REPO / "mappings/sources/sftp_demo.yaml"), store, datetime.now(UTC))
    assert len(report.batch_ids) == 1 and report.received == 50
    assert len(read(store, sa.select(tables.leads))) == len(old_leads) + report.stored
    assert len(read(store, pending_events("sftp_demo"))) == len(was_pending)
    store.dispose()
    assert migrate(store_url).changed is False  # a second run has nothing to do


def refused_then_migrated(url: str, shape, version: str, capsys) -> LeadStore:
    """Give the store an earlier version's shape: it is refused with the command that migrates it; migrated by
    that command, it opens."""
    shape(url)
    with pytest.raises(StoreSchemaError, match=rf"schema version {version}.*leadsync store migrate"):
        LeadStore(url)
    assert main(["store", "migrate", "--store", url]) == 0
    assert f"from schema version {version} to {tables.SCHEMA_VERSION}" in capsys.readouterr().out
    return LeadStore(url)


def _as_schema_7(url: str) -> None:
    """Give a store the shape leadsync wrote at schema 7: no routed-batches ledger."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE routing_batches")
        conn.exec_driver_sql("UPDATE store_meta SET value = '7' WHERE key = 'schema_version'")
    engine.dispose()


def _as_schema_6(url: str) -> None:
    """Give a store the shape leadsync wrote at schema 6: no spans, a binding for every event a batch held (the
    events of a span that have none)."""
    from leadsync.writeback.outbox import batch_events

    _as_schema_7(url)
    b, spans, held = tables.writeback_bindings, tables.writeback_spans, batch_events()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        # every event a span held (one it refused and that was bound again since, too) gets its binding
        conn.execute(sa.insert(b).from_select(["batch_id", "seq", "event_id"], sa.select(
            held.c.batch_id, held.c.seq, held.c.event_id).where(
                held.c.batch_id.in_(sa.select(spans.c.batch_id)),
                ~sa.exists().where(b.c.batch_id == held.c.batch_id, b.c.seq == held.c.seq))))
        conn.exec_driver_sql("DROP TABLE writeback_spans")
        conn.exec_driver_sql("DROP INDEX IF EXISTS ix_bindings_seq")
        conn.exec_driver_sql("UPDATE store_meta SET value = '6' WHERE key = 'schema_version'")
    engine.dispose()


def _as_schema_5(url: str) -> None:
    """Give a store the shape leadsync wrote at schema 5: on Postgres, bindings keyed by (event_id, batch_id)
    with an index on (batch_id, seq) (DuckDB kept no key on them)."""
    _as_schema_6(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE writeback_bindings DROP CONSTRAINT writeback_bindings_pkey, "
                                 "ALTER COLUMN seq DROP NOT NULL, ADD PRIMARY KEY (event_id, batch_id)")
            conn.exec_driver_sql("CREATE INDEX ix_bindings_batch_seq ON writeback_bindings (batch_id, seq)")
            # a source's raw table as schema 5 wrote it, from before its read index (added at a later pull then)
            conn.exec_driver_sql("CREATE TABLE raw_legacy_src (batch_id VARCHAR NOT NULL, row_number BIGINT NOT NULL, "
                                 "c0 VARCHAR)")
            conn.exec_driver_sql("INSERT INTO raw_columns (source, name, physical) VALUES ('legacy_src', 'Email', 'c0')")
        conn.exec_driver_sql("UPDATE store_meta SET value = '5' WHERE key = 'schema_version'")
    engine.dispose()


def _as_schema_4(url: str) -> None:
    """Give a store the shape leadsync wrote at schema 4: an outbox without seq or lead context, bindings
    without seq, no sequence."""
    _as_schema_5(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for name in ("seq", "email", "source_file", "source_row"):
            conn.exec_driver_sql(f"ALTER TABLE writeback_outbox DROP COLUMN {name}")
        conn.exec_driver_sql("ALTER TABLE writeback_bindings DROP COLUMN seq")
        conn.exec_driver_sql(f"DROP SEQUENCE {tables.OUTBOX_SEQ.name}")
        conn.exec_driver_sql("UPDATE store_meta SET value = '4' WHERE key = 'schema_version'")
    engine.dispose()


def _as_schema_3(url: str) -> None:
    """Give a store the shape leadsync wrote at schema 3: every decision in an assignment_history table (the
    current one too), assignments without `action`."""
    _as_schema_4(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE history_v3 AS SELECT * FROM assignment_history")
        conn.exec_driver_sql("DROP VIEW assignment_history")
        conn.exec_driver_sql("ALTER TABLE history_v3 RENAME TO assignment_history")
        conn.exec_driver_sql("DROP TABLE assignment_log")
        conn.exec_driver_sql("ALTER TABLE assignments DROP COLUMN action")
        conn.exec_driver_sql("UPDATE store_meta SET value = '3' WHERE key = 'schema_version'")
    engine.dispose()


def test_a_schema_3_store_keeps_every_decision_once_and_routes_on(store_url, capsys):
    from leadsync.assign import reroute_overdue, route_new_leads
    from leadsync.config.schema import PartnersConfig
    from leadsync.routing.explain import explain
    from leadsync.routing.manual import assign_by_hand
    from tests.test_routing_store import PARTNERS, T0, put_leads

    source, partners = load_source(REPO / "mappings/sources/sftp_demo.yaml"), PartnersConfig.model_validate(PARTNERS)
    store = LeadStore(store_url)
    ids = put_leads(store, "b0", [{"country": "US"}, {"country": "US"}, {"country": "FR"}], T0)
    route_new_leads(source, partners, store, T0)
    reroute_overdue(source, partners, store, T0 + pd.Timedelta(days=2))  # withdrawn and rerouted: versions 2, 3
    assign_by_hand(store, partners, ids[2], "b", T0, actor="dana")
    history = read(store, sa.select(tables.assignment_history).order_by("lead_id", "version"))
    current = read(store, sa.select(tables.assignments).order_by("lead_id"))
    assert len(history) > len(current) == 3
    store.dispose()

    store = refused_then_migrated(store_url, _as_schema_3, "3", capsys)
    after = read(store, sa.select(tables.assignment_history).order_by("lead_id", "version"))
    pd.testing.assert_frame_equal(after, history)
    pd.testing.assert_frame_equal(read(store, sa.select(tables.assignments).order_by("lead_id")), current)
    assert len(read(store, sa.select(tables.assignment_log))) == len(history) - len(current)
    assert "assigned by manual:dana" in explain(store, ids[2])

    (late,) = put_leads(store, "b1", [{"country": "US"}], T0)  # routing goes on from the migrated store
    assert route_new_leads(source, partners, store, T0).decided == 1
    assert read(store, sa.select(tables.assignment_history).where(tables.assignment_history.c.lead_id == late)
                ).iloc[0]["action"] == "routed"
    store.dispose()
    assert migrate(store_url).changed is False


def test_a_schema_4_store_gets_the_outbox_order_and_lead_context_and_writes_the_same_status_file(store_url, capsys):
    from leadsync.assign import route_new_leads
    from leadsync.config.schema import PartnersConfig
    from leadsync.routing.manual import assign_by_hand
    from leadsync.writeback import outbox as wb
    from leadsync.writeback.sftp_status_file import render_status_csv, status_file_name
    from tests.test_routing_store import PARTNERS, T0, put_leads

    source, partners = load_source(REPO / "mappings/sources/sftp_demo.yaml"), PartnersConfig.model_validate(PARTNERS)
    store = LeadStore(store_url)
    with store.begin() as conn:
        conn.execute(tables.source_files.insert().values(
            batch_id="b0", source="sftp_demo", file_name="drop.csv", content_sha256="0" * 64, size_bytes=1,
            status="stored", row_count=4, received_at=T0))
    ids = put_leads(store, "b0", [{"country": "US"}, {"country": "US"}, {"country": "FR"}, {"country": "US"}], T0)
    route_new_leads(source, partners, store, T0)
    sent = wb.prepare_batch(store, "sftp_demo", T0, status_file_name("sftp_demo"))  # an earlier batch
    wb.mark_sent(store, sent, "outbox/first.csv", T0)
    assign_by_hand(store, partners, ids[2], "b", T0, actor="dana")  # pending: a later event
    batch = wb.prepare_batch(store, "sftp_demo", T0, status_file_name("sftp_demo"))
    before = render_status_csv(store, batch)
    assert b"drop.csv,3,b02@example.com" in before  # the lead's file, row and email, carried by the event
    events = read(store, sa.select(tables.writeback_outbox).order_by(tables.writeback_outbox.c.seq))
    store.dispose()

    store = refused_then_migrated(store_url, _as_schema_4, "4", capsys)
    assert render_status_csv(store, batch) == before  # the prepared batch: the very same bytes
    after = read(store, sa.select(tables.writeback_outbox).order_by(tables.writeback_outbox.c.seq))
    # numbered in the order queued, as far as the store knows it: by time, then event id
    assert after["event_id"].tolist() == events.sort_values(["created_at", "event_id"])["event_id"].tolist()
    assert after["seq"].tolist() == list(range(1, len(events) + 1))
    context = ["event_id", "email", "source_file", "source_row"]
    pd.testing.assert_frame_equal(after[context].sort_values("event_id", ignore_index=True),
                                  events[context].sort_values("event_id", ignore_index=True))
    assign_by_hand(store, partners, ids[0], "b", T0, actor="dana")  # the sequence goes on after the last
    latest = read(store, sa.select(tables.writeback_outbox.c.seq, tables.writeback_outbox.c.email)
                  .order_by(tables.writeback_outbox.c.seq.desc()).limit(1))
    assert latest["seq"].iloc[0] == len(events) + 1 and latest["email"].iloc[0] == "b00@example.com"
    store.dispose()
    assert migrate(store_url).changed is False


def test_a_schema_7_store_gets_the_routed_batches_ledger_and_decides_nothing_twice(store_url, capsys):
    """Schema 7 → 8: the ledger starts empty; the first routing run looks through the source's whole history
    once (and finds the lead stored without the intake's ledger rows), records the batches the intake finished,
    and the next runs look only in new ones."""
    from leadsync.assign import _waiting_in, route_new_leads
    from leadsync.config.schema import PartnersConfig
    from tests.test_routing_ledger import finish, ledger
    from tests.test_routing_store import PARTNERS, T0, current, put_leads

    source, partners = load_source(REPO / "mappings/sources/sftp_demo.yaml"), PartnersConfig.model_validate(PARTNERS)
    store = LeadStore(store_url)
    ids = put_leads(store, "b0", [{"country": "US"}, {"country": "FR"}, {"country": "US"}], T0)
    finish(store, "b0", len(ids))
    route_new_leads(source, partners, store, T0)
    before = current(store)
    # a lead an earlier leadsync stored without the intake's ledger rows, not routed yet
    legacy = put_leads(store, "legacy", [{"country": "US"}], T0)
    store.dispose()

    store = refused_then_migrated(store_url, _as_schema_7, "7", capsys)
    assert ledger(store) == []
    assert route_new_leads(source, partners, store, T0).decided == 1  # the first run looks through the source
    assert ledger(store) == [("sftp_demo", "b0")]
    pd.testing.assert_frame_equal(current(store).drop(legacy), before)
    more = put_leads(store, "b1", [{"country": "US"}], T0)
    finish(store, "b1", len(more))
    with store.begin() as conn:
        assert _waiting_in(store, conn, "sftp_demo")[0] == ["b1"]
    assert route_new_leads(source, partners, store, T0).decided == 1
    store.dispose()


@pytest.mark.parametrize("version", ["6", "5"])
def test_a_schema_5_or_6_store_gets_spans_and_every_event_keeps_its_state(store_url, version, capsys):
    """Schema 6 → 7: batches bind their source's new events as a span, the bindings made before stay. Schema 5 → 6
    too: the bindings keyed by (batch_id, seq). Every event keeps its state (sent, prepared, refused and pending
    again, pending), the prepared batch renders the same bytes, and the next batch binds exactly the pending
    events."""
    from leadsync.assign import route_new_leads
    from leadsync.config.schema import PartnersConfig
    from leadsync.routing.manual import assign_by_hand
    from leadsync.writeback import outbox as wb
    from leadsync.writeback.sftp_status_file import render_status_csv, status_file_name
    from tests.test_routing_store import PARTNERS, T0, put_leads

    source, partners = load_source(REPO / "mappings/sources/sftp_demo.yaml"), PartnersConfig.model_validate(PARTNERS)
    store = LeadStore(store_url)
    ids = put_leads(store, "b0", [{"country": "US"}, {"country": "US"}, {"country": "FR"}, {"country": "US"}], T0)
    route_new_leads(source, partners, store, T0)
    sent = wb.prepare_batch(store, "sftp_demo", T0, status_file_name("sftp_demo"))
    first_event = read(store, sa.select(tables.writeback_outbox.c.event_id).order_by("seq").limit(1))["event_id"][0]
    wb.mark_sent(store, sent, "outbox/first.csv", T0, refused=pd.DataFrame({"event_id": [first_event],
                                                                            "error": ["locked"]}))
    assign_by_hand(store, partners, ids[2], "b", T0, actor="dana")
    prepared = wb.prepare_batch(store, "sftp_demo", T0 + pd.Timedelta(minutes=1), status_file_name("sftp_demo"))
    assign_by_hand(store, partners, ids[3], "b", T0, actor="dana")  # pending
    before_file = render_status_csv(store, prepared)
    states = read(store, wb.event_states().order_by(tables.writeback_outbox.c.event_id))
    assert sorted(states["state"]) == ["pending", "prepared", "prepared", "sent", "sent", "sent"]
    store.dispose()

    store = refused_then_migrated(store_url, _as_schema_6 if version == "6" else _as_schema_5, version, capsys)
    with store.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.writeback_spans)).scalar_one() == 0
    prepared = wb.prepared_batches(store, "sftp_demo")[0]  # as the next run finds it: bound one by one
    if store.dialect == "postgresql" and version == "5":
        with store.begin() as conn:
            key = conn.exec_driver_sql(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'writeback_bindings'::regclass "
                "AND contype = 'p'").scalar_one()
            assert key == "PRIMARY KEY (batch_id, seq)"
            assert conn.exec_driver_sql("SELECT to_regclass('ix_bindings_batch_seq')").scalar() is None
            # new batches go to blocks: the raw table written before gets the index its batches are read by
            assert conn.exec_driver_sql("SELECT indexdef FROM pg_indexes WHERE tablename = 'raw_legacy_src'"
                                        ).scalar_one().endswith("(batch_id, row_number)")
    pd.testing.assert_frame_equal(read(store, wb.event_states().order_by(tables.writeback_outbox.c.event_id)), states)
    assert render_status_csv(store, prepared) == before_file
    wb.mark_sent(store, prepared, "outbox/second.csv", T0)
    with store.begin() as conn:
        pending = sorted(conn.execute(sa.select(wb.pending_events("sftp_demo").subquery().c.event_id)).scalars())
    last = wb.prepare_batch(store, "sftp_demo", T0 + pd.Timedelta(minutes=2), status_file_name("sftp_demo"))
    assert last.event_count == len(pending) == 1  # the last one by hand (the refused one went in `prepared`)
    assert last.span is not None  # new events: a span
    assert sorted(read(store, sa.select(wb.members(last).subquery().c.event_id))["event_id"]) == pending
    store.dispose()
    assert migrate(store_url).changed is False


def _text_columns(url: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    """The store's text columns (tables of leadsync's metadata): (table, column) → (data type, collation; None
    for the database's default)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT table_name, column_name, data_type, collation_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type IN ('character varying', 'text')").all()
    engine.dispose()
    return {(t, c): (kind, found) for t, c, kind, found in rows if t in tables.metadata.tables}


def _as_before_byte_order(url: str, columns: dict) -> None:
    """The shape an earlier leadsync made on Postgres: every text column in the database's collation."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP VIEW assignment_history")
        for (table, column), (kind, _) in sorted(columns.items()):
            conn.exec_driver_sql(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE {kind} COLLATE "default"')
        conn.exec_driver_sql(tables.history_view_sql())
    engine.dispose()


def _migrate_in_a_process(url: str) -> subprocess.CompletedProcess:
    """As an operator runs it: a process that imports only what the command imports."""
    return subprocess.run([sys.executable, "-m", "leadsync.cli", "store", "migrate", "--store", url],
                          capture_output=True, text=True, timeout=120, check=False)


def _routed_store(url: str) -> LeadStore:
    from leadsync.assign import route_new_leads
    from leadsync.config.schema import PartnersConfig
    from tests.test_routing_store import PARTNERS, T0, put_leads

    source, partners = load_source(REPO / "mappings/sources/sftp_demo.yaml"), PartnersConfig.model_validate(PARTNERS)
    store = LeadStore(url)
    put_leads(store, "b0", [{"country": "US"}, {"country": "FR"}, {"country": "US"}], T0)
    route_new_leads(source, partners, store, T0)
    return store


def test_a_postgres_store_made_before_its_ids_compared_bytes_gets_it_and_keeps_every_row(postgres_url):
    """DuckDB compares bytes already: Postgres only. Ids and codes compare bytes; people's text keeps the
    database's collation (Postgres lower-cases only ASCII letters under "C")."""
    store = _routed_store(postgres_url)
    history = read(store, sa.select(tables.assignment_history).order_by("lead_id", "version"))
    pending = read(store, pending_events("sftp_demo").order_by("seq"))
    store.dispose()
    today = _text_columns(postgres_url)
    for key in [("leads", "lead_id"), ("writeback_bindings", "event_id"), ("assignments", "status"),
                ("partner_crm_leads", "partner_id"), ("console_sign_ins", "email")]:
        assert today[key][1] == "C", key
    for key in [("leads", "company"), ("leads", "email"), ("assignments", "reason"), ("writeback_outbox", "payload")]:
        assert today[key][1] is None, key
    assert today[("assignments", "reason")][0] == "text" and today[("leads", "lead_id")][0] == "character varying"
    assert migrate(postgres_url).changed is False  # a store made today has nothing to migrate

    ids = {key: kind for key, kind in today.items() if kind[1] == "C"}
    _as_before_byte_order(postgres_url, ids)
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("GRANT SELECT ON assignment_history TO PUBLIC")
    assert all(found is None for _, found in _text_columns(postgres_url).values())
    store = LeadStore(postgres_url)  # it opens and works as it did
    assert len(read(store, sa.select(tables.leads))) == 3
    store.dispose()

    done = _migrate_in_a_process(postgres_url)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'compare bytes (COLLATE "C")' in done.stdout and "partner_crm_leads" in done.stdout
    assert "schema version" not in done.stdout
    assert _text_columns(postgres_url) == today  # every table, the partner CRM's and console's too
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM information_schema.role_table_grants WHERE "
                                    "table_name = 'assignment_history' AND grantee = 'PUBLIC'").scalar_one() == 1
    engine.dispose()
    store = LeadStore(postgres_url)
    pd.testing.assert_frame_equal(read(store, sa.select(tables.assignment_history).order_by("lead_id", "version")),
                                  history)
    pd.testing.assert_frame_equal(read(store, pending_events("sftp_demo").order_by("seq")), pending)
    store.dispose()
    assert migrate(postgres_url).changed is False


def test_a_view_made_by_hand_over_the_store_holds_the_conversion_back_and_is_named(postgres_url):
    store = _routed_store(postgres_url)
    store.dispose()
    today = _text_columns(postgres_url)
    _as_before_byte_order(postgres_url, {key: kind for key, kind in today.items() if kind[1] == "C"})
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE VIEW routed_by_partner AS SELECT partner_id, count(*) AS n FROM assignments "
                             "GROUP BY partner_id")
    done = _migrate_in_a_process(postgres_url)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "views routed_by_partner read the store's tables" in done.stderr
    assert "drop those views, run `leadsync store migrate` again" in done.stderr
    assert all(found is None for _, found in _text_columns(postgres_url).values())  # nothing half-done
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT sum(n) FROM routed_by_partner").scalar_one() == 3  # the view works
        conn.exec_driver_sql("DROP VIEW routed_by_partner")
    engine.dispose()
    done = _migrate_in_a_process(postgres_url)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr[-2000:]
    assert _text_columns(postgres_url) == today

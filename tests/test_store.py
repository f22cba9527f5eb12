"""The store's bulk path behaves the same on DuckDB and Postgres: retries add nothing, upserts update, raw rows
keep every value as received."""

from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

from leadsync.store import LeadStore, raw, tables

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def quarantined(batch: str, n: int) -> pd.DataFrame:
    return pd.DataFrame({"batch_id": batch, "row_number": range(1, n + 1), "source": "s", "file_name": "f.csv",
                         "payload": [f'{{"Email": "u{i}@x.com", "Note": "a,b \\"q\\"\\n"}}' for i in range(n)],
                         "reason": "bad", "quarantined_at": NOW})


def count(store, table) -> int:
    with store.begin() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_insert_is_idempotent_with_conflict_nothing(store_url):
    store = LeadStore(store_url)
    with store.begin() as conn:
        store.insert_frame(conn, tables.quarantine, quarantined("b1", 1000), conflict="nothing")
    with store.begin() as conn:
        store.insert_frame(conn, tables.quarantine, quarantined("b1", 1000), conflict="nothing")
        store.insert_frame(conn, tables.quarantine, quarantined("b2", 10), conflict="nothing")
    assert count(store, tables.quarantine) == 1010
    with store.begin() as conn:
        q = tables.quarantine
        payload = conn.execute(sa.select(q.c.payload).where(q.c.row_number == 1, q.c.batch_id == "b1")).scalar_one()
    assert payload == '{"Email": "u0@x.com", "Note": "a,b \\"q\\"\\n"}'  # commas, quotes, newlines survive COPY


def test_upsert_updates_named_columns_only(store_url):
    store = LeadStore(store_url)
    lead = {"lead_id": "L1", "source": "s", "batch_id": "b", "row_number": 1, "lead_key": "k",
            "email": "a@x.com", "last_name": "Old", "created_at": NOW, "received_at": NOW, "updated_at": NOW}
    with store.begin() as conn:
        store.insert_frame(conn, tables.leads, pd.DataFrame([lead]))
    later = dict(lead, last_name="New", received_at=datetime(2030, 1, 1, tzinfo=UTC))
    with store.begin() as conn:
        store.insert_frame(conn, tables.leads, pd.DataFrame([later]), conflict="update", update=["last_name"])
        row = conn.execute(sa.select(tables.leads)).one()
    assert row.last_name == "New"
    assert row.received_at == NOW and row.created_at == NOW


def test_a_failed_transaction_leaves_nothing(store_url):
    store = LeadStore(store_url)
    try:
        with store.begin() as conn:
            store.insert_frame(conn, tables.quarantine, quarantined("b1", 5))
            raw.append(store, conn, "s", "b1", pa.table({"Email": ["a@x.com"]}), pa.array([1]))
            raise RuntimeError("crash after insert, before commit")
    except RuntimeError:
        pass
    assert count(store, tables.quarantine) == 0
    with store.begin() as conn:
        assert raw.row_count(conn, "s") == 0


def test_raw_rows_keep_every_value_and_each_batch_its_own_columns(store_url):
    """Values stay the text received (leading zeros, commas, quotes, line breaks, empty vs missing); a batch
    with new or fewer columns reads back as it arrived."""
    store = LeadStore(store_url)
    first = pa.table({"Email": ["a@x.com", None], "Postal Code": ["01234", ""], "Note": ['a,b "q"\nz', "ü"]})
    second = pa.table({"email": ["b@x.com"], "Note": ["x"], "Extra": ["1"]})
    with store.begin() as conn:
        raw.append(store, conn, "s", "b1", first, pa.array([1, 3]))
        raw.append(store, conn, "s", "b2", second, pa.array([7]))
    with store.begin() as conn:
        one = pa.Table.from_batches(list(raw.read_batch(store, conn, "s", "b1", ["Email", "Postal Code", "Note"], 10)))
        two = pa.Table.from_batches(list(raw.read_batch(store, conn, "s", "b2", ["email", "Note", "Extra"], 10)))
        assert raw.row_count(conn, "s") == 3
    assert one.column(0).to_pylist() == [1, 3]
    assert one.column(1).to_pylist() == ["a@x.com", None]
    assert one.column(2).to_pylist() == ["01234", ""]
    assert one.column(3).to_pylist() == ['a,b "q"\nz', "ü"]
    assert two.column(0).to_pylist() == [7] and two.num_columns == 4
    assert [two.column(i).to_pylist() for i in (1, 2, 3)] == [["b@x.com"], ["x"], ["1"]]


def test_keyless_tables_keep_their_keys_by_the_insert_itself(store_url):
    """DuckDB's append-only tables have no PRIMARY KEY; a retried insert still adds nothing and an upsert
    updates in place (and on Postgres the key does it)."""
    store = LeadStore(store_url)
    rows = pd.DataFrame({"lead_id": ["L1", "L2"], "version": [1, 1], "source": "s", "status": "routed",
                         "step": "rule_group", "reason": "r", "decided_at": NOW, "decided_by": "engine",
                         "attempt": 1})
    with store.begin() as conn:
        store.insert_frame(conn, tables.assignments, rows, conflict="nothing")
        store.insert_frame(conn, tables.assignments, rows, conflict="nothing")
        store.insert_frame(conn, tables.assignments, rows.assign(status="withdrawn").head(1), conflict="update",
                           update=["status"])
        got = dict(conn.execute(sa.select(tables.assignments.c.lead_id, tables.assignments.c.status)).all())
    assert got == {"L1": "withdrawn", "L2": "routed"}


def test_a_session_failing_between_its_transactions_gives_no_connection_back_to_the_pool(postgres_url):
    """An exception raised in a session between two of its transactions (an interrupt, say) discards the
    session's connection: what the session made on it (here a session-level advisory lock, as routing's
    recording in flight holds one) does not go back to the pool, and the server frees it."""
    import time

    store = LeadStore(postgres_url)
    try:
        with pytest.raises(KeyboardInterrupt), store.session() as session:
            with session.begin() as conn:
                pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
                conn.exec_driver_sql("SELECT pg_advisory_lock_shared(4242, 4242)")
            raise KeyboardInterrupt
        with store.engine.connect() as other:
            assert other.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != pid
        with sa.create_engine(postgres_url).connect() as look:
            for _ in range(200):  # the server ends the discarded connection's session
                held = look.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                            "AND classid = 4242 AND objid = 4242").scalar_one()
                look.rollback()
                if not held:
                    break
                time.sleep(0.05)
            assert held == 0
    finally:
        store.dispose()


def test_a_section_held_across_transactions_is_free_again_when_its_block_fails(postgres_url):
    """`exclusive` (a session-level advisory lock): a block that raises frees the section for the next
    holder at once, and no pooled connection keeps the lock."""
    from leadsync.store.engine import _lock_key

    store = LeadStore(postgres_url)
    try:
        with pytest.raises(RuntimeError, match="boom"), store.exclusive("test:section"):
            raise RuntimeError("boom")
        with store.engine.connect() as other:
            held = other.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = "
                                         f"{_lock_key('test:section') & 0xFFFFFFFF}").scalar_one()
            assert held == 0
        with store.exclusive("test:section"):  # taken again at once
            pass
    finally:
        store.dispose()

"""The store's bulk path behaves the same on DuckDB and Postgres: retries add nothing, upserts update."""

from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from leadsync.store import LeadStore, tables

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def raw(batch: str, n: int, state: str = "new") -> pd.DataFrame:
    return pd.DataFrame({"batch_id": batch, "row_number": range(1, n + 1), "source": "s",
                         "payload": [f'{{"Email": "u{i}@x.com", "Note": "a,b \\"q\\"\\n"}}' for i in range(n)],
                         "state": state})


def count(store, table) -> int:
    with store.begin() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_insert_is_idempotent_with_conflict_nothing(store_url):
    store = LeadStore(store_url)
    with store.begin() as conn:
        store.insert_frame(conn, tables.raw_rows, raw("b1", 1000), conflict="nothing")
    with store.begin() as conn:
        store.insert_frame(conn, tables.raw_rows, raw("b1", 1000), conflict="nothing")
        store.insert_frame(conn, tables.raw_rows, raw("b2", 10), conflict="nothing")
    assert count(store, tables.raw_rows) == 1010
    with store.begin() as conn:
        payload = conn.execute(sa.select(tables.raw_rows.c.payload).where(tables.raw_rows.c.row_number == 1,
                                                                          tables.raw_rows.c.batch_id == "b1")).scalar_one()
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
            store.insert_frame(conn, tables.raw_rows, raw("b1", 5))
            raise RuntimeError("crash after insert, before commit")
    except RuntimeError:
        pass
    assert count(store, tables.raw_rows) == 0

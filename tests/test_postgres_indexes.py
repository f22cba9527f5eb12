"""The Postgres store's secondary indexes (store/tables.py POSTGRES_INDEXES): each costs every COPY into its table,
so the large tables keep only those a reader needs, and a store made by an earlier leadsync is brought to today's
set as it opens: retired indexes dropped, missing ones made."""

import sqlalchemy as sa

from leadsync.store import LeadStore, tables


def indexes(store: LeadStore, table: str | None = None) -> dict[str, str]:
    """Index name → definition of the store's Postgres indexes (of `table`, when given)."""
    sql = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
    with store.begin() as conn:
        if table is None:
            return dict(conn.exec_driver_sql(sql).all())
        return dict(conn.exec_driver_sql(sql + " AND tablename = %(t)s", {"t": table}).all())


def test_a_new_store_has_todays_indexes_and_none_retired(postgres_url):
    store = LeadStore(postgres_url)
    try:
        found = indexes(store)
    finally:
        store.dispose()
    for names in tables.POSTGRES_INDEXES.values():
        assert set(names) <= set(found)
    assert not set(tables.RETIRED_POSTGRES_INDEXES) & set(found)
    assert "USING brin (seq)" in found["brin_outbox_seq"]


def test_a_store_made_by_an_earlier_leadsync_gets_todays_indexes_as_it_opens(postgres_url):
    store = LeadStore(postgres_url)
    with store.begin() as conn:  # the outbox as schema 5 first made it
        conn.exec_driver_sql("DROP INDEX brin_outbox_seq")
        conn.exec_driver_sql("CREATE INDEX ix_outbox_source_created ON writeback_outbox (source, created_at)")
        conn.exec_driver_sql("CREATE INDEX ix_outbox_seq ON writeback_outbox (seq)")
    store.dispose()
    assert {"ix_outbox_seq", "ix_outbox_source_created"} <= set(indexes(LeadStore(postgres_url, create=False)))

    reopened = LeadStore(postgres_url)
    try:
        found = indexes(reopened)
        assert "brin_outbox_seq" in found
        assert not {"ix_outbox_seq", "ix_outbox_source_created"} & set(found)
        with reopened.begin() as conn:  # and the store works: the outbox takes events
            conn.execute(sa.insert(tables.writeback_outbox).values(
                event_id="e1", source="s", lead_id="l1", kind="distribution_status",
                created_at=sa.func.now()))
            assert conn.execute(sa.select(tables.writeback_outbox.c.seq)).scalar_one() >= 1
    finally:
        reopened.dispose()

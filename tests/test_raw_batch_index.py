"""The intake reads a raw batch a page of row numbers at a time (leadsync/store/raw.py `read_batch`). On Postgres
each page was a scan of every row the source ever sent, so mapping a small batch grew with the source's history
(a 1,000-row batch beside 2,000,000 older rows: 0.52-0.57 s to read, 0.005-0.008 s with the index). Postgres raw
tables get an index on (batch_id, row_number), also a table made before it existed; DuckDB's get none (its
zonemaps find a batch's row groups, and the issue keeps secondary indexes off its large tables)."""

import uuid

import pyarrow as pa
import sqlalchemy as sa
from test_postgres_indexes import indexes

from leadsync.store import LeadStore, raw

NAMES = ["Email", "Country"]


def append(store: LeadStore, batch_id: str, rows: int, first_email: int = 0) -> None:
    table = pa.table({"Email": [f"p{i}@x.com" for i in range(first_email, first_email + rows)],
                      "Country": ["US"] * rows})
    with store.begin() as conn:
        raw.append(store, conn, "src", batch_id, table, pa.array(range(1, rows + 1)))


def read(store: LeadStore, batch_id: str) -> list[str]:
    with store.begin() as conn:
        return [e for b in raw.read_batch(store, conn, "src", batch_id, NAMES, 7) for e in b.column(1).to_pylist()]


def raw_indexes(store: LeadStore) -> dict[str, str]:
    return indexes(store, "raw_src")


def test_a_postgres_raw_table_is_read_by_batch_and_row_through_an_index(postgres_url):
    store = LeadStore(postgres_url)
    try:
        old, new = uuid.uuid4().hex, uuid.uuid4().hex
        append(store, old, 50)
        append(store, new, 20, first_email=1000)
        (definition,) = raw_indexes(store).values()
        assert definition.endswith("(batch_id, row_number)")
        with store.begin() as conn:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # the table is small: ask whether it can be used
            plan = "\n".join(r[0] for r in conn.exec_driver_sql(
                f"EXPLAIN SELECT row_number FROM raw_src WHERE batch_id = '{new}' AND row_number > 7 "
                "ORDER BY row_number LIMIT 7"))
        assert "ix_raw_src_batch_row" in plan and "Sort" not in plan, plan
        assert read(store, new) == [f"p{i}@x.com" for i in range(1000, 1020)]  # every row, in order, across pages
    finally:
        store.dispose()


def test_a_raw_table_made_before_the_index_gets_it_at_its_next_batch(postgres_url):
    store = LeadStore(postgres_url)
    try:
        first = uuid.uuid4().hex
        append(store, first, 10)
        with store.begin() as conn:
            conn.exec_driver_sql('DROP INDEX "ix_raw_src_batch_row"')
        assert raw_indexes(store) == {}
        append(store, uuid.uuid4().hex, 5, first_email=100)
        assert list(raw_indexes(store)) == ["ix_raw_src_batch_row"]
        assert read(store, first) == [f"p{i}@x.com" for i in range(10)]
    finally:
        store.dispose()


def test_a_duckdb_raw_table_has_no_index(duckdb_store):
    append(duckdb_store, uuid.uuid4().hex, 10)
    with duckdb_store.begin() as conn:
        found = conn.execute(sa.text("SELECT count(*) FROM duckdb_indexes() WHERE table_name = 'raw_src'")).scalar_one()
    assert found == 0

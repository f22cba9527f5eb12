"""Raw rows as the intake reads them back (leadsync/store/raw.py `read_batch`, `row_range`). On Postgres a batch
is stored as its blocks, each one compressed Arrow stream (raw_blocks.py), instead of a heap row per raw row: the
rows' COPY in and out and the raw table's index were ~4 CPU-s of the server per million rows. A page of row numbers
reads only the blocks holding it. A Postgres store written before keeps its raw tables, read as before. DuckDB
keeps a typed table per source without an index (its zonemaps find a batch's row groups)."""

import uuid

import pyarrow as pa
import sqlalchemy as sa

from leadsync.store import LeadStore, raw, raw_blocks

NAMES = ["Email", "Country"]


def block(first: int, rows: int, first_email: int = 0) -> tuple[pa.Table, pa.Array]:
    emails = [f"p{i}@x.com" for i in range(first_email + first - 1, first_email + first - 1 + rows)]
    return pa.table({"Email": emails, "Country": ["US"] * rows}), pa.array(range(first, first + rows))


def append(store: LeadStore, batch_id: str, rows: int, first_email: int = 0, per_block: int | None = None) -> None:
    per_block = per_block or rows
    blocks = [block(first, min(per_block, rows - first + 1), first_email) for first in range(1, rows + 1, per_block)]
    with store.begin() as conn:
        raw.append_blocks(store, conn, "src", batch_id, NAMES, blocks)


def read(store: LeadStore, batch_id: str, between=None, page: int = 7) -> list[str]:
    with store.begin() as conn:
        return [e for b in raw.read_batch(store, conn, "src", batch_id, NAMES, page, between)
                for e in b.column(1).to_pylist()]


def test_a_postgres_batch_is_stored_as_compressed_blocks_and_read_back_page_by_page(postgres_url):
    store = LeadStore(postgres_url)
    try:
        old, new = uuid.uuid4().hex, uuid.uuid4().hex
        append(store, old, 50)
        append(store, new, 2_000, first_email=1000, per_block=300)  # seven blocks
        with store.begin() as conn:
            assert not raw.has_table(conn, "src")  # no row per raw row
            stored = conn.exec_driver_sql(
                "SELECT first_row, last_row, row_count, length(data) FROM raw_src_blocks WHERE batch_id = %(b)s "
                "ORDER BY first_row", {"b": new}).all()
            assert [(f, l, n) for f, l, n, _ in stored] == [
                (f, min(f + 299, 2_000), min(300, 2_001 - f)) for f in range(1, 2_001, 300)]
            arrow = sum(b.nbytes for b in raw.read_batch(store, conn, "src", new, NAMES, 2_000))
            assert sum(size for *_, size in stored) < arrow / 2  # compressed
            assert raw.row_count(conn, "src") == 2_050
            assert raw.row_range(store, conn, "src", new) == (1, 2_000)
            assert raw.row_range(store, conn, "src", new, after=1_000) == (1_001, 2_000)
            assert raw.row_range(store, conn, "src", new, after=2_000) == (None, None)
        # every row, in order, across pages and blocks; pages of exactly the size asked
        assert read(store, new) == [f"p{i}@x.com" for i in range(1000, 3000)]
        with store.begin() as conn:
            sizes = [b.num_rows for b in raw.read_batch(store, conn, "src", new, NAMES, 450)]
        assert sizes == [450] * 4 + [200]
        # a range of row numbers: those rows only, read from the blocks holding them (1-300 … 901-1200) alone
        decoded = []
        real_decode = raw_blocks.decode
        raw_blocks.decode = lambda data: decoded.append(1) or real_decode(data)
        try:
            assert read(store, new, (295, 905)) == [f"p{i}@x.com" for i in range(1294, 1905)]
        finally:
            raw_blocks.decode = real_decode
        assert len(decoded) == 4
        assert read(store, old) == [f"p{i}@x.com" for i in range(50)]
    finally:
        store.dispose()


def test_a_column_a_batch_did_not_have_reads_as_null_and_nul_is_kept_as_its_symbol(postgres_url):
    store = LeadStore(postgres_url)
    try:
        first, second = uuid.uuid4().hex, uuid.uuid4().hex
        with store.begin() as conn:
            raw.append(store, conn, "src", first, pa.table({"Email": ["a\x00b@x.com"]}), pa.array([1]))
            raw.append(store, conn, "src", second, pa.table({"Email": ["c@x.com"], "Country": ["DE"]}), pa.array([1]))
        with store.begin() as conn:
            (got,) = raw.read_batch(store, conn, "src", first, NAMES, 10)
            assert got.to_pydict() == {"row_number": [1], "c0": [f"a{raw.NUL_SYMBOL}b@x.com"], "c1": [None]}
            rows = raw.source_rows(store, conn, "src").to_pylist()
        assert {r["batch_id"]: (r["Email"], r["Country"]) for r in rows} == {
            first: (f"a{raw.NUL_SYMBOL}b@x.com", None), second: ("c@x.com", "DE")}
    finally:
        store.dispose()


def test_a_block_given_out_of_row_order_reads_back_in_row_order(postgres_url):
    store = LeadStore(postgres_url)
    try:
        batch = uuid.uuid4().hex
        with store.begin() as conn:
            raw.append(store, conn, "src", batch, pa.table({"Email": ["c", "a", "b"]}), pa.array([3, 1, 2]))
        assert read(store, batch) == ["a", "b", "c"]
        assert read(store, batch, (2, 3)) == ["b", "c"]
    finally:
        store.dispose()


def test_a_postgres_raw_table_of_an_earlier_leadsync_is_still_read(postgres_url):
    """A store written before the blocks: its batches stay in raw_src (with the index it had) and are read, counted
    and ranged as before; the source's next batch goes to blocks, and both read together."""
    store = LeadStore(postgres_url)
    try:
        legacy, new = uuid.uuid4().hex, uuid.uuid4().hex
        with store.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE raw_src (batch_id VARCHAR NOT NULL, row_number BIGINT NOT NULL, "
                                 "c0 VARCHAR, c1 VARCHAR)")
            conn.exec_driver_sql("CREATE INDEX ix_raw_src_batch_row ON raw_src (batch_id, row_number)")
            conn.execute(sa.insert(raw.raw_columns), [{"source": "src", "name": "Email", "physical": "c0"},
                                                      {"source": "src", "name": "Country", "physical": "c1"}])
            conn.exec_driver_sql("INSERT INTO raw_src SELECT %(b)s, n, 'old' || n || '@x.com', 'US' "
                                 "FROM generate_series(1, 30) n", {"b": legacy})
        with store.begin() as conn:  # the next batch brings a header the old table has no column for
            raw.append(store, conn, "src", new, pa.table({"Email": [f"p{i}@x.com" for i in range(10)],
                                                          "Phone": ["555"] * 10}), pa.array(range(1, 11)))
        with store.begin() as conn:
            assert raw_blocks.spans(conn, "src", legacy) is None
            assert raw.row_count(conn, "src") == 40
            rows = raw.source_rows(store, conn, "src").to_pylist()
            assert {(r["batch_id"], r["Phone"]) for r in rows} == {(legacy, None), (new, "555")} and len(rows) == 40
            (first,) = raw.read_batch(store, conn, "src", legacy, ["Email", "Phone"], 1, (1, 1))
            assert first.to_pydict() == {"row_number": [1], "c0": ["old1@x.com"], "c2": [None]}
            assert raw.row_range(store, conn, "src", legacy, after=20) == (21, 30)
        assert read(store, legacy, (5, 9)) == [f"old{i}@x.com" for i in range(5, 10)]
        assert read(store, legacy) == [f"old{i}@x.com" for i in range(1, 31)]
        assert read(store, new) == [f"p{i}@x.com" for i in range(10)]
    finally:
        store.dispose()


def test_a_duckdb_raw_table_has_no_index(duckdb_store):
    append(duckdb_store, uuid.uuid4().hex, 10)
    with duckdb_store.begin() as conn:
        found = conn.execute(sa.text("SELECT count(*) FROM duckdb_indexes() WHERE table_name = 'raw_src'")).scalar_one()
        assert raw.row_count(conn, "src") == 10
    assert found == 0

"""On DuckDB, rows appended to a table with a sequence-numbered column (the outbox's seq) are numbered by the
store from that sequence, in their order, rather than by the INSERT's nextval default (which held the append to
one thread); and settings a step changes for a few statements come back as the connection had them."""

from datetime import UTC, datetime

import pyarrow as pa
import pytest
import sqlalchemy as sa

from leadsync.store import LeadStore, tables
from leadsync.store.engine import insertion_order_kept
from leadsync.writeback.events import queue_event

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(duckdb_store):
    return duckdb_store


def events(first: int, count: int) -> pa.Table:
    numbers = range(first, first + count)
    return pa.table({"event_id": [f"e{n:04d}" for n in numbers], "source": ["a"] * count,
                     "lead_id": [f"L{n:04d}" for n in numbers], "kind": ["distribution_status"] * count,
                     "created_at": pa.array([NOW] * count, pa.timestamp("us", "UTC"))})


def append(store: LeadStore, table: pa.Table, as_stream: bool = False) -> None:
    data = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=7)) if as_stream else table
    with store.begin() as conn:
        store.append(conn, tables.writeback_outbox, data, table.column_names)


def stored(store: LeadStore) -> list[tuple[str, int]]:
    """(event_id, seq) in the table's own row order."""
    with store.begin() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            "SELECT event_id, seq FROM writeback_outbox ORDER BY rowid").fetchall()]


def test_appended_rows_take_the_next_numbers_of_the_sequence_in_their_order(store):
    append(store, events(0, 40), as_stream=True)
    with store.begin() as conn:  # one event queued the other way: the column's default draws from the sequence
        queue_event(conn, "single", "a", "L9999", "distribution_status", {}, NOW)
    append(store, events(40, 25))

    rows = stored(store)
    assert [e for e, _ in rows] == [f"e{n:04d}" for n in range(40)] + ["single"] + [f"e{n:04d}" for n in range(40, 65)]
    assert [s for _, s in rows] == list(range(1, 67))  # the sequence's values, rising with the stored order


def test_the_insert_is_given_the_numbers_rather_than_evaluating_the_default(store):
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        append(store, events(0, 3))
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", seen)
    inserts = [s for s in statements if s.startswith("INSERT INTO writeback_outbox")]
    assert len(inserts) == 1 and "seq" in inserts[0].split("SELECT")[0]


def test_a_table_without_a_sequence_is_appended_as_given(store):
    row = pa.table({"lead_id": ["L1"], "version": pa.array([1], pa.int32()), "source": ["a"], "status": ["routed"],
                    "step": ["none"], "reason": ["r"], "decided_at": pa.array([NOW], pa.timestamp("us", "UTC")),
                    "decided_by": ["engine"], "attempt": pa.array([1], pa.int32()), "action": ["routed"]})
    with store.begin() as conn:
        store.append(conn, tables.assignments, row, row.column_names)
        assert conn.execute(sa.select(tables.assignments.c.lead_id)).scalars().all() == ["L1"]


def test_settings_changed_for_a_block_come_back_as_they_were(store):
    with store.begin() as conn:
        def setting(name):
            return conn.exec_driver_sql(f"SELECT current_setting('{name}')").scalar_one()

        assert setting("preserve_insertion_order") is False  # the store's own (duckdb_settings)
        with insertion_order_kept(conn):
            assert setting("preserve_insertion_order") is True
        # a RESET would have left DuckDB's default (on) here
        assert setting("preserve_insertion_order") is False

        def mib():  # DuckDB shows the cap in MiB to one decimal
            number, unit = setting("memory_limit").split()
            return float(number) * {"MiB": 1, "GiB": 1024}[unit]

        conn.exec_driver_sql("SET memory_limit = '300MB'")
        before = mib()
        with store.memory_limit(conn, "700MB"):
            assert mib() == pytest.approx(667.5, abs=0.2)
        assert mib() == pytest.approx(before, abs=0.2)
        with pytest.raises(ValueError, match="not a memory size"), store.memory_limit(conn, "lots; DROP TABLE leads"):
            pass
        assert mib() == pytest.approx(before, abs=0.2)


@pytest.mark.parametrize("cap, inside_mib, asked_2gb_mib", [("300MB", 286.1, 286.1), ("1GB", 667.5, 953.7),
                                                          ("90%", 667.5, 1907.3)])
def test_a_raised_cap_never_goes_above_the_stores_own(duckdb_url, monkeypatch, cap, inside_mib, asked_2gb_mib):
    """LEADSYNC_DUCKDB_MEMORY_LIMIT is the most a stage may give DuckDB: a session's cap and a block's raised one
    (routing's appends) stay under it."""
    monkeypatch.setenv("LEADSYNC_DUCKDB_MEMORY_LIMIT", cap)
    store = LeadStore(duckdb_url)

    def mib(conn):  # DuckDB shows the cap to one decimal of MiB or GiB
        number, unit = conn.exec_driver_sql("SELECT current_setting('memory_limit')").scalar_one().split()
        return float(number) * {"MiB": 1, "GiB": 1024}[unit]

    try:
        assert store.memory_cap == cap
        with store.session(duckdb_memory_limit="256MB") as session, session.begin() as conn:
            assert mib(conn) == pytest.approx(min(244.1, inside_mib), abs=0.2)
            with store.memory_limit(conn, "700MB"):
                assert mib(conn) == pytest.approx(inside_mib, abs=0.2)
            assert mib(conn) == pytest.approx(min(244.1, inside_mib), abs=0.2)
        with store.session(duckdb_memory_limit="2GB") as session, session.begin() as conn:
            assert mib(conn) == pytest.approx(asked_2gb_mib, abs=103)  # GiB are shown cut to 0.1
    finally:
        store.dispose()

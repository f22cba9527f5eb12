"""Postgres's COPY in and out as Arrow (store/engine.py): a result streams out in batches of the rows asked for,
whatever the width of a row (the intake maps a batch at a time, and its fixed costs were paid per parser block of
1 MB), and timestamps go in as ISO text with their zone, an instant shared by many rows formatted once."""

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa

from leadsync.store import LeadStore
from leadsync.store.engine import _pg_ready

NOW = datetime(2026, 12, 3, 9, 0, 1, 5, tzinfo=UTC)


@pytest.fixture
def store(postgres_url):
    made = LeadStore(postgres_url)
    yield made
    made.dispose()


@pytest.mark.parametrize("width", [20, 2_000])
def test_a_result_streams_out_in_batches_of_the_rows_asked_for(store, width):
    query = sa.select(sa.literal_column("n", sa.BigInteger).label("n"),
                      sa.literal_column(f"repeat('x', {width})", sa.String).label("wide")).select_from(
        sa.text("generate_series(1, 2500) AS n"))
    with store.begin() as conn:
        batches = list(store.read_batches(conn, query, rows=1_000))
    assert [b.num_rows for b in batches] == [1_000, 1_000, 500]
    numbers = pa.Table.from_batches(batches).column("n").to_pylist()
    assert numbers == list(range(1, 2501))  # in order, none lost or repeated at the batch edges
    assert {len(v) for v in pa.Table.from_batches(batches).column("wide").to_pylist()} == {width}


def test_timestamps_go_in_as_the_same_text_whether_instants_repeat_or_not():
    repeated = pa.array([NOW] * 9 + [None], pa.timestamp("us", "UTC"))
    distinct = pa.array([NOW + timedelta(seconds=i, microseconds=i) for i in range(9)] + [None],
                        pa.timestamp("us", "UTC"))
    naive = pa.array([NOW.replace(tzinfo=None)] * 10, pa.timestamp("us"))
    ready = _pg_ready(pa.record_batch({"repeated": repeated, "distinct": distinct, "naive": naive}))

    def per_row(column):
        return pc.strftime(column, "%Y-%m-%dT%H:%M:%S%z").to_pylist()

    assert ready.column("repeated").to_pylist() == per_row(repeated)
    assert ready.column("repeated").to_pylist()[0] == "2026-12-03T09:00:01.000005+0000"
    assert ready.column("repeated").to_pylist()[-1] is None
    assert ready.column("distinct").to_pylist() == per_row(distinct)
    assert ready.column("naive").to_pylist() == per_row(pc.assume_timezone(naive, "UTC"))


def test_repeated_instants_round_trip_through_copy(store):
    """The text COPY is given reads back as the instants it came from (a routing slice's decided_at)."""
    rows = pa.table({"at": pa.array([NOW] * 5 + [NOW + timedelta(hours=1)] * 5, pa.timestamp("us", "UTC"))})
    with store.begin() as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE instants (at TIMESTAMPTZ) ON COMMIT DROP")
        from leadsync.store.engine import copy_arrow

        copy_arrow(conn, "COPY instants (at) FROM STDIN WITH (FORMAT csv)", rows)
        back = conn.exec_driver_sql("SELECT at FROM instants ORDER BY at").scalars().all()
    assert back == [NOW] * 5 + [NOW + timedelta(hours=1)] * 5

"""Postgres's COPY in and out as Arrow (store/engine.py): a result streams out in batches of the rows asked for,
whatever the width of a row (the intake maps a batch at a time, and its fixed costs were paid per parser block of
1 MB), and Arrow goes in as Postgres's binary rows, each column cast to its target column's type."""

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
import sqlalchemy as sa

from leadsync.store import LeadStore
from leadsync.store.engine import copy_arrow

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


def test_every_column_type_the_store_uses_round_trips_through_binary_copy(store):
    """COPY's binary rows carry no text for the server to convert: each Arrow column is cast to its target
    column's type first. Null and empty text stay apart, dictionary text is decoded, naive times are UTC,
    nanoseconds are cut to microseconds, and integers are narrowed where the column is."""
    rows = pa.table({
        "name": pa.array(["a", "", None, "d"]),
        "kind": pa.array(["x", "y", "x", None]).dictionary_encode(),
        "n": pa.array([1, None, -3, 2**31 - 1], pa.int64()),
        "big": pa.array([2**40, 0, None, 5], pa.int64()),
        "flag": pa.array([True, False, None, True]),
        "amount": pa.array([1.5, None, 0.0, -2.25]),
        "zoned": pa.array([NOW, None, NOW + timedelta(hours=1), NOW], pa.timestamp("us", "UTC")),
        "naive": pa.array([NOW.replace(tzinfo=None)] * 4, pa.timestamp("ns")),
        "day": pa.array([NOW.date(), None, NOW.date(), NOW.date()], pa.date32()),
        "blank": pa.nulls(4),
    })
    with store.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TEMP TABLE typed (name VARCHAR, kind TEXT, n INTEGER, big BIGINT, flag BOOLEAN, "
            "amount DOUBLE PRECISION, zoned TIMESTAMPTZ, naive TIMESTAMPTZ, day DATE, blank TEXT, "
            "seq BIGSERIAL) ON COMMIT DROP")
        copy_arrow(conn, "typed", rows.column_names, rows)
        back = conn.exec_driver_sql("SELECT name, kind, n, big, flag, amount, zoned, naive, day, blank "
                                    "FROM typed ORDER BY seq").all()
    assert [tuple(r) for r in back] == [
        ("a", "x", 1, 2**40, True, 1.5, NOW, NOW, NOW.date(), None),
        ("", "y", None, 0, False, None, None, NOW, None, None),
        (None, "x", -3, None, None, 0.0, NOW + timedelta(hours=1), NOW, NOW.date(), None),
        ("d", None, 2**31 - 1, 5, True, -2.25, NOW, NOW, NOW.date(), None),
    ]


def test_an_integer_too_large_for_its_column_is_refused_not_wrapped(store):
    with store.begin() as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE small (n INTEGER) ON COMMIT DROP")
        with pytest.raises(pa.ArrowInvalid):
            copy_arrow(conn, "small", ["n"], pa.table({"n": pa.array([2**31], pa.int64())}))


def test_a_column_the_target_lacks_is_named(store):
    with store.begin() as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE one (a TEXT) ON COMMIT DROP")
        with pytest.raises(ValueError, match="no column b there"):
            copy_arrow(conn, "one", ["a", "b"], pa.table({"a": ["x"], "b": ["y"]}))


def test_repeated_instants_round_trip_through_copy(store):
    """The instants COPY is given read back as they were (a routing slice's decided_at)."""
    rows = pa.table({"at": pa.array([NOW] * 5 + [NOW + timedelta(hours=1)] * 5, pa.timestamp("us", "UTC"))})
    with store.begin() as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE instants (at TIMESTAMPTZ) ON COMMIT DROP")
        copy_arrow(conn, "instants", ["at"], rows)
        back = conn.exec_driver_sql("SELECT at FROM instants ORDER BY at").scalars().all()
    assert back == [NOW] * 5 + [NOW + timedelta(hours=1)] * 5

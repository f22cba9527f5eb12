"""LeadStore.session(): one connection kept across several transactions (the API pull stores unit after unit
on it), each committed on its own, rolled back alone on an error, and let go on release()."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from filelock import FileLock, Timeout

from leadsync.store import LeadStore, tables


def versions(store: LeadStore) -> list[str]:
    sr = tables.source_records
    with store.begin() as conn:
        return sorted(conn.execute(sa.select(sr.c.record_id)).scalars().all())


def add(conn: sa.Connection, record_id: str) -> None:
    conn.execute(sa.insert(tables.source_records).values(source="s", record_id=record_id, modified="t",
                                                         content_sha="h", batch_id="b"))


def test_each_transaction_of_a_session_commits_on_its_own_and_one_that_fails_rolls_back_alone(store_url):
    store = LeadStore(store_url)
    with store.session() as session:
        with session.begin() as conn:
            add(conn, "1")
        with session.begin() as again:
            assert again is conn  # the same connection, not a new one per transaction
            add(again, "2")
        with pytest.raises(RuntimeError), session.begin() as conn:
            add(conn, "3")
            raise RuntimeError("the unit failed halfway")
        with session.begin() as conn:  # a new connection after the failure, the session goes on
            add(conn, "4")
    assert versions(store) == ["1", "2", "4"]
    store.dispose()


def test_a_duckdb_session_holds_the_file_lock_until_released(duckdb_url):
    store = LeadStore(duckdb_url)
    lock_path = sa.engine.make_url(duckdb_url).database + ".lock"

    def free() -> bool:
        try:
            with FileLock(lock_path, timeout=0.2, thread_local=False):
                return True
        except Timeout:
            return False

    with store.session() as session:
        assert free()  # nothing is opened before the first transaction
        with session.begin() as conn:
            add(conn, "1")
        assert not free()  # kept between transactions
        session.release()
        assert free()
        with session.begin() as conn:  # opened again
            add(conn, "2")
        assert not free()
    assert free()  # and let go when the session ends
    assert versions(store) == ["1", "2"]
    store.dispose()


def test_a_duckdb_session_can_cap_the_engines_threads(store_url):
    store = LeadStore(store_url)
    with store.session(duckdb_threads=1) as session, session.begin() as conn:
        add(conn, "1")  # Postgres ignores the cap
        if store.dialect == "duckdb":
            assert conn.exec_driver_sql("SELECT current_setting('threads')").scalar_one() == 1
    assert versions(store) == ["1"]
    store.dispose()

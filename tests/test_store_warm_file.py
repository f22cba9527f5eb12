"""A DuckDB store stays open a moment after a transaction (leadsync/store/warm_file.py): the next transaction of the
process joins the open instance, another process gets the file once it is closed (after the linger, at dispose, at
once for a store just made or a session released on purpose), and a session's own settings never outlive it."""

from __future__ import annotations

import subprocess
import sys
import time

import sqlalchemy as sa

from leadsync.store import LeadStore, tables
from leadsync.store.warm_file import LINGER_ENV, MAX_HOLD_S

# Another process opening the file directly (as a DuckDB shell would): prints what it found.
PEEK = """
import duckdb, sys
try:
    con = duckdb.connect(sys.argv[1])
except duckdb.IOException as exc:
    print("locked" if "lock" in str(exc).lower() else f"error {exc}")
else:
    print("open", con.execute("SELECT count(*) FROM store_meta").fetchone()[0])
"""
# Another leadsync process: its transaction waits for its turn at the file, then adds a row.
WRITE = """
import sys
import sqlalchemy as sa
from leadsync.store import LeadStore, tables
store = LeadStore(sys.argv[1])
with store.begin() as conn:
    conn.execute(sa.insert(tables.store_meta).values(key="from_another_process", value="1"))
store.dispose()
print("written")
"""


def peek(url: str) -> str:
    return subprocess.run([sys.executable, "-c", PEEK, url.removeprefix("duckdb:///")], capture_output=True,
                          text=True, check=True, timeout=60).stdout.strip()


def meta_rows(store: LeadStore) -> int:
    with store.begin() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(tables.store_meta)).scalar_one()


def test_a_store_just_made_is_closed_at_once(duckdb_url, monkeypatch):
    monkeypatch.setenv(LINGER_ENV, "60")
    LeadStore(duckdb_url)
    assert peek(duckdb_url) == "open 1"  # its schema version row, checkpointed into the file


def test_the_file_lingers_open_after_a_transaction_until_dispose(duckdb_url, monkeypatch):
    monkeypatch.setenv(LINGER_ENV, "60")
    store = LeadStore(duckdb_url)
    with store.begin() as conn:
        conn.execute(sa.insert(tables.store_meta).values(key="note", value="kept"))
    assert peek(duckdb_url) == "locked"  # still open in this process
    with store.begin() as conn:  # joins the open instance: the row is there
        assert conn.execute(sa.select(tables.store_meta.c.value).where(tables.store_meta.c.key == "note")).scalar_one() == "kept"
    store.dispose()
    assert peek(duckdb_url) == "open 2"


def test_without_linger_every_transaction_closes_the_file(duckdb_url, monkeypatch):
    monkeypatch.setenv(LINGER_ENV, "0")
    store = LeadStore(duckdb_url)
    assert meta_rows(store) == 1
    assert peek(duckdb_url) == "open 1"


def test_the_file_is_closed_once_the_linger_has_passed(duckdb_url, monkeypatch):
    monkeypatch.setenv(LINGER_ENV, "0.2")
    store = LeadStore(duckdb_url)
    assert meta_rows(store) == 1
    deadline = time.monotonic() + 30  # a bound for a busy machine, not a speed check
    while (found := peek(duckdb_url)) == "locked" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert found == "open 1"


def test_another_leadsync_process_gets_its_turn_while_the_file_lingers(duckdb_url, monkeypatch):
    monkeypatch.setenv(LINGER_ENV, "1")
    store = LeadStore(duckdb_url)
    assert meta_rows(store) == 1
    done = subprocess.run([sys.executable, "-c", WRITE, duckdb_url], capture_output=True, text=True, check=False,
                          timeout=120)
    assert done.stdout.strip() == "written", done.stderr[-3000:]
    assert meta_rows(store) == 2  # the file was closed for it, and opened again with its row
    store.dispose()


def test_a_process_whose_transactions_never_pause_still_lets_another_in(duckdb_url, monkeypatch):
    """Transactions 10 ms apart, each of which would linger a minute: the file is let go once it has been held
    MAX_HOLD_S, so another leadsync process gets its turn while this one keeps going (without the cap it would
    wait until the loop stops)."""
    monkeypatch.setenv(LINGER_ENV, "60")
    store = LeadStore(duckdb_url)
    writer = subprocess.Popen([sys.executable, "-c", WRITE, duckdb_url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    try:
        while writer.poll() is None and time.monotonic() < deadline:
            meta_rows(store)
            time.sleep(0.01)
        still_looping = writer.poll() is not None
    finally:
        out, err = writer.communicate(timeout=120)
    assert out.strip() == "written", err[-3000:]
    assert still_looping, "the other process got the file only once this one stopped"
    assert meta_rows(store) == 2
    store.dispose()


def test_a_process_whose_transactions_never_pause_keeps_the_file_open_while_no_one_waits(duckdb_url, monkeypatch):
    """Transactions 10 ms apart for twice MAX_HOLD_S, and no other process waiting: the instance opened by the
    first is the one the last joins (a database attached to an instance lives as long as it does)."""
    monkeypatch.setenv(LINGER_ENV, "60")
    store = LeadStore(duckdb_url)
    with store.begin() as conn:
        conn.exec_driver_sql("ATTACH ':memory:' AS opened_once")
    deadline = time.monotonic() + 2 * MAX_HOLD_S
    while time.monotonic() < deadline:
        meta_rows(store)
        time.sleep(0.01)
    with store.begin() as conn:
        attached = {row[0] for row in conn.exec_driver_sql("SELECT database_name FROM duckdb_databases()")}
    assert "opened_once" in attached, "the file was closed and opened again with no one waiting for it"
    store.dispose()
    assert peek(duckdb_url) == "open 1"


def test_a_released_session_frees_the_file_at_once(duckdb_url, monkeypatch):
    monkeypatch.setenv(LINGER_ENV, "60")
    store = LeadStore(duckdb_url)
    assert meta_rows(store) == 1  # a lingering instance the session joins
    with store.session() as session:
        with session.begin() as conn:
            conn.execute(sa.insert(tables.store_meta).values(key="unit", value="1"))
        session.release()
        assert peek(duckdb_url) == "open 2"


def test_a_sessions_own_settings_do_not_outlive_it(duckdb_url, monkeypatch):
    monkeypatch.setenv(LINGER_ENV, "60")
    store = LeadStore(duckdb_url)

    def setting(conn: sa.Connection, name: str) -> str:
        return conn.exec_driver_sql(f"SELECT current_setting('{name}')").scalar_one()

    with store.begin() as conn:  # leaves an instance lingering
        threads, memory = setting(conn, "threads"), setting(conn, "memory_limit")
    assert str(threads) != "1"
    with store.session(duckdb_threads=1, duckdb_memory_limit="64MB") as session, session.begin() as conn:
        assert str(setting(conn, "threads")) == "1" and setting(conn, "memory_limit") != memory
    with store.begin() as conn:
        assert (setting(conn, "threads"), setting(conn, "memory_limit")) == (threads, memory)
    store.dispose()


def test_stores_of_one_file_in_a_process_share_its_turns(duckdb_url, monkeypatch):
    monkeypatch.setenv(LINGER_ENV, "60")
    first, second = LeadStore(duckdb_url), LeadStore(duckdb_url)
    with first.begin() as conn:
        conn.execute(sa.insert(tables.store_meta).values(key="first", value="1"))
    assert meta_rows(second) == 2  # no wait for the first's linger: the same turn-taker, the same instance
    first.dispose()
    assert peek(duckdb_url) == "open 2"

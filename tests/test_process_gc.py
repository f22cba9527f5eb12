"""Python's collector in leadsync's processes (leadsync/process_gc.py): paused while the code location loads and
on again after; and a process that loaded the code location or ran a `leadsync` command freezes its objects as it
exits, so Python's last collections do not walk them all again; and what leadsync must release
at exit is still released: a DuckDB store written and left open by a transaction is closed, checkpointed and
readable by the next process."""

from __future__ import annotations

import subprocess
import sys

import duckdb

# Registered before leadsync is imported, so it runs after leadsync's own exit hooks (last registered, first run):
# it reports how many objects were frozen by then.
PROBE = """
import atexit, gc, sys
atexit.register(lambda: print("frozen", gc.get_freeze_count(), flush=True))
{body}
"""


def _run(body: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE.format(body=body), *args], capture_output=True, text=True, check=False,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _frozen(out: str) -> int:
    return int(out.split("frozen ")[-1].split()[0])


def test_a_process_with_the_code_location_freezes_its_objects_at_exit():
    out = _run("import leadsync.definitions\nleadsync.definitions.defs()")
    assert _frozen(out) > 50_000  # the code location, Dagster and their libraries: all skipped by the last walk


def test_a_leadsync_command_freezes_its_objects_at_exit(tmp_path):
    out = _run("from leadsync.cli import main\nmain(['--mappings', sys.argv[1], 'init', sys.argv[1]])",
               str(tmp_path / "project"))
    assert _frozen(out) > 0


def test_a_process_that_only_imports_the_store_does_not(tmp_path):
    """Only the entry points freeze: a program that uses leadsync's modules as a library keeps Python's exit as is."""
    out = _run("import leadsync.store")
    assert _frozen(out) == 0


def test_a_store_left_open_at_exit_is_closed_and_checkpointed(tmp_path):
    """The store's file is closed by its own exit hook, not by the collector: after a process that loaded the code
    location wrote a row and exited with the file still open (its linger), the row is in the file and no
    write-ahead log is left for the next process to replay."""
    db = tmp_path / "leads.duckdb"
    out = _run("import sys, sqlalchemy as sa\nimport leadsync.definitions\n"
               "from leadsync.store import LeadStore, tables\n"
               "store = LeadStore('duckdb:///' + sys.argv[1])\n"
               "with store.begin() as conn:\n"
               "    conn.execute(sa.insert(tables.store_meta).values(key='written_before_exit', value='1'))\n",
               str(db))
    assert _frozen(out) > 50_000
    assert not db.with_name(db.name + ".wal").exists()
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT value FROM store_meta WHERE key = 'written_before_exit'").fetchone() == ("1",)
    finally:
        con.close()


def test_the_collector_is_paused_while_the_code_location_loads_and_on_again_after():
    out = _run("import gc\nimport leadsync.definitions\n"
               "print('enabled after import', gc.isenabled())\n"
               "leadsync.definitions.defs()\n"
               "print('enabled after build', gc.isenabled())")
    assert "enabled after import True" in out and "enabled after build True" in out


def test_a_paused_block_leaves_the_collector_as_it_found_it():
    import gc

    from leadsync.process_gc import collections_paused

    assert gc.isenabled()
    with collections_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collections_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # a process that turned it off keeps it off
    finally:
        gc.enable()
    try:
        with collections_paused():
            raise ValueError("a failed import")
    except ValueError:
        pass
    assert gc.isenabled()

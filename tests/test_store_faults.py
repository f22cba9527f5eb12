"""Store faults reach the user as one message naming the cause and the fix, with a wait that fits the cause:
a DuckDB file locked by another (real) process is waited for, bounded, then named with its PID; a full disk
fails at once saying where to free space and how much is free; a Postgres server that refuses says which one.
In a run the step fails with that message, classed for the retry policy (lock: transient; full disk: not)."""

import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import requests
import sqlalchemy as sa
from leadsync.connectors.loopback_ports import free_port
from store_holder import duckdb_path, held

from leadsync.cli import main
from leadsync.defs.errors import source_errors, store_errors
from leadsync.defs.lifecycle_defs import closed_loop
from leadsync.defs.resources import LeadsyncResource
from leadsync.store import LeadStore
from leadsync.store.faults import StoreDiskFull, StoreFault, StoreLocked, StoreUnreachable, classify

WAIT = "0.3"  # seconds the tests let a locked store be waited for
# A fault that must not be waited for is given a long wait instead: were it retried, it would take all of it. (A
# bound of WAIT itself failed under a loaded suite: creating the store's tables alone took longer.)
LONG_WAIT = 20.0


@pytest.fixture(autouse=True)
def short_wait(monkeypatch):
    monkeypatch.setenv("LEADSYNC_STORE_WAIT", WAIT)


@pytest.fixture
def created(duckdb_url) -> str:
    LeadStore(duckdb_url).dispose()
    return duckdb_url


def dead_port() -> int:
    return free_port()


# ------------------------------------------------------------------------------------ locked by another process


def test_the_cli_names_the_process_holding_the_store_and_the_fix_without_a_traceback(created, capsys):
    with held(duckdb_path(created)) as holder:
        started = time.monotonic()
        code = main(["store", "migrate", "--store", created])
        waited = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith(f"leadsync store: The lead store {duckdb_path(created)} is locked by process {holder.pid} (")
    assert "store_holder" not in err and "duckdb.connect" in err  # the holder's own command line
    assert f"stop it with `kill {holder.pid}`" in err and "Close that program (a DuckDB shell" in err
    assert float(WAIT) <= waited < 5  # waited for, bounded


def test_a_lock_released_during_the_wait_lets_the_transaction_through(created):
    store = LeadStore(created)
    store.lock_wait = 10
    with held(duckdb_path(created)) as holder:
        holder.release_after(0.4)
        started = time.monotonic()
        with store.begin() as conn:
            assert conn.execute(sa.text("SELECT 42")).scalar_one() == 42
        assert 0.4 <= time.monotonic() - started < 5
    store.dispose()


def test_a_run_step_fails_with_the_lock_message_and_succeeds_once_the_lock_is_released(created, project, monkeypatch):
    resources = {"leadsync": LeadsyncResource(mappings_dir=str(project / "mappings"), store_url=created)}
    with held(duckdb_path(created)) as holder:
        result = closed_loop.execute_in_process(resources=resources, raise_on_error=False)
        assert not result.success
        (failure,) = [e.step_failure_data for e in result.all_events if e.is_step_failure]
        assert failure.user_failure_data.description.startswith(
            f"The lead store {duckdb_path(created)} is locked by process {holder.pid} (")
        assert failure.user_failure_data.metadata["reason"].value == "store locked by another process"
        assert failure.error.message.startswith("dagster._core.definitions.events.Failure: The lead store")

        monkeypatch.setenv("LEADSYNC_STORE_WAIT", "10")
        holder.release_after(0.5)
        assert closed_loop.execute_in_process(resources=resources, raise_on_error=False).success


def test_a_locked_store_is_a_transient_failure_for_the_retry_policy(created):
    with held(duckdb_path(created)), pytest.raises(dg.Failure) as failed, store_errors():
        LeadStore(created)
    assert failed.value.allow_retries is True  # the asset's RetryPolicy may try again later (each try waits)
    assert failed.value.metadata["store"].value == str(duckdb_path(created))
    assert isinstance(failed.value.__cause__, StoreLocked)


def test_an_error_raised_inside_a_transaction_that_is_not_the_stores_keeps_its_class(created):
    store = LeadStore(created)
    with pytest.raises(requests.ConnectionError), store.begin():
        raise requests.ConnectionError("connection to crm.example:443 refused: Connection refused")
    store.dispose()


# ------------------------------------------------------------------------------------ disk full


@contextmanager
def small_tmpfs(folder: Path) -> Iterator[Path]:
    """A 1 MB tmpfs on `folder`, every block taken (mounting needs root; skipped elsewhere: the classifier
    tests below cover the same errors)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
                             capture_output=True, check=False)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        fill(folder)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> None:
    try:
        with open(folder / "filler", "ab") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
    except OSError:
        pass


@pytest.fixture
def full_disk(tmp_path):
    folder = tmp_path / "small"
    folder.mkdir()
    with small_tmpfs(folder):
        yield folder


def test_a_full_disk_fails_at_once_saying_where_to_free_space_and_how_much_is_free(full_disk, capsys, monkeypatch):
    url = f"duckdb:///{full_disk / 'leadsync.duckdb'}"
    monkeypatch.setenv("LEADSYNC_STORE_WAIT", str(LONG_WAIT))
    started = time.monotonic()
    with pytest.raises(StoreDiskFull) as full:
        LeadStore(url)
    assert time.monotonic() - started < LONG_WAIT / 2  # not waited for, not retried
    message = str(full.value)
    assert message.startswith(f"The lead store cannot write {full_disk / 'leadsync.duckdb'}")
    assert "No space left on device" in message
    assert f"the store's folder {full_disk} (with its spill folder leadsync.duckdb.tmp/) has " in message
    assert "Free space there" in message and "LEADSYNC_STORE_URL" in message
    # DuckDB leaves an empty file behind when it could not create the store: the next open says so
    assert main(["store", "migrate", "--store", url]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"The lead store file {full_disk / 'leadsync.duckdb'} is empty (0 bytes)" in err
    assert f"({full_disk} has 0 bytes free)" in err and "delete the empty file and run again" in err


# The errors DuckDB 2.0 and psycopg 3 raised on a real full disk (a 2 MB tmpfs; a Postgres tablespace on a 1 MB
# tmpfs), as SQLAlchemy hands them over: the classifier's input where no tmpfs can be mounted.
DUCKDB_COMMIT = 'TransactionContext Error: Failed to commit: Could not write file "{path}": No space left on device'
DUCKDB_OPEN = 'IO Error: Could not write file "{path}": No space left on device'
PG_DISK_FULL = ('could not extend file "pg_tblspc/74809/PG_15_202209061/16386/74810": No space left on device\n'
                "HINT:  Check free disk space.")


def wrapped(orig: Exception) -> sa.exc.OperationalError:
    return sa.exc.OperationalError("INSERT INTO leads …", None, orig)


@pytest.mark.parametrize("raised", [
    lambda path: __import__("duckdb").TransactionException(DUCKDB_COMMIT.format(path=f"{path}.wal")),
    lambda path: __import__("duckdb").IOException(DUCKDB_OPEN.format(path=path)),
])
def test_duckdbs_full_disk_errors_are_classed_disk_full_and_not_retried(tmp_path, raised):
    path = tmp_path / "leadsync.duckdb"
    fault = classify(wrapped(raised(path)), f"duckdb:///{path}")
    assert isinstance(fault, StoreDiskFull) and fault.transient is False
    assert str(fault).startswith(f"The lead store cannot write {path}")
    assert f"the store's folder {tmp_path} (with its spill folder leadsync.duckdb.tmp/) has " in str(fault)
    assert "the temp folder" in str(fault) and "Free space there" in str(fault)
    with pytest.raises(dg.Failure) as failed, source_errors("sftp_demo"):
        raise fault
    assert failed.value.allow_retries is False and failed.value.description == str(fault)
    assert failed.value.metadata["reason"].value == "store disk full"


def test_postgres_disk_full_names_the_server_and_the_fix():
    url = "postgresql+psycopg://leadsync:secret@db.internal:5433/leadsync_scale"
    fault = classify(wrapped(psycopg.errors.DiskFull(PG_DISK_FULL)), url)
    assert isinstance(fault, StoreDiskFull) and fault.transient is False
    assert str(fault).startswith("The lead store's PostgreSQL server at db.internal:5433 (database leadsync_scale) "
                                 "has no disk space left (could not extend file \"pg_tblspc/")
    assert "Free space on the server's data disk" in str(fault) and "secret" not in str(fault)


# ------------------------------------------------------------------------------------ Postgres refuses


def test_a_postgres_server_that_refuses_is_waited_for_then_named_with_the_fix(capsys):
    port = dead_port()
    url = f"postgresql+psycopg://leadsync:secret@127.0.0.1:{port}/leadsync_{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    with pytest.raises(StoreUnreachable) as refused:
        LeadStore(url)
    assert float(WAIT) <= time.monotonic() - started < 5
    message = str(refused.value)
    assert message.startswith(f"The lead store's PostgreSQL server at 127.0.0.1:{port} refuses connections (")
    assert "Connection refused" in message and "Start the server" in message and "secret" not in message
    assert refused.value.transient is True
    assert main(["store", "migrate", "--store", url]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_an_unknown_postgres_host_is_not_waited_for(monkeypatch):
    monkeypatch.setenv("LEADSYNC_STORE_WAIT", str(LONG_WAIT))
    started = time.monotonic()
    with pytest.raises(StoreUnreachable) as unknown:
        LeadStore("postgresql+psycopg://leadsync@no-such-host.invalid:5432/leadsync")
    assert time.monotonic() - started < LONG_WAIT / 2
    assert unknown.value.transient is False and "Correct the host in the store's URL (LEADSYNC_STORE_URL" in str(unknown.value)


def test_a_postgres_server_that_drops_the_connection_is_transient():
    dropped = psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly\n\t"
                                       "This probably means the server terminated abnormally")
    fault = classify(wrapped(dropped), "postgresql+psycopg://leadsync@db.internal/leadsync_scale")
    assert isinstance(fault, StoreUnreachable) and fault.transient is True
    assert str(fault).startswith("The lead store's PostgreSQL server at db.internal:5432 closed the connection (")


def test_a_postgres_session_ended_by_the_server_mid_transaction_is_named(postgres_url):
    store = LeadStore(postgres_url)
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with pytest.raises(StoreUnreachable) as ended, store.begin() as conn:
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with admin.connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        conn.execute(sa.text("SELECT 1"))
    admin.dispose()
    store.dispose()
    assert ended.value.transient is True
    assert "closed the connection (terminating connection due to administrator command)" in str(ended.value)


def test_other_errors_are_not_store_faults():
    assert classify(ValueError("No space left on device"), "duckdb:///x.duckdb") is None  # not the driver's
    assert classify(wrapped(psycopg.errors.UniqueViolation("duplicate key")), "postgresql://h/db") is None
    assert isinstance(StoreLocked("m", "w", None, None), StoreFault)



@pytest.fixture
def postgres_on_a_full_disk():
    """A fresh Postgres database whose tables go to a tablespace on the full tmpfs (the server runs as `postgres`
    on this machine; skipped otherwise)."""
    import pwd
    import shutil

    from databases import PG_ADMIN_URL, fresh_database, postgres_unreachable

    if reason := postgres_unreachable():
        pytest.skip(reason)
    owner = next((p for p in pwd.getpwall() if p.pw_name == "postgres"), None)
    if owner is None:
        pytest.skip("the Postgres server's user is not on this machine")
    mount = Path(tempfile.mkdtemp(prefix="leadsync-full-"))  # not under pytest's folder: the server's user reads it
    name = f"leadsync_full_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with small_tmpfs(mount):
            (mount / "filler").unlink()
            folder = mount / "pg"
            folder.mkdir()
            shutil.chown(folder, owner.pw_uid, owner.pw_gid)
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE TABLESPACE {name} LOCATION '{folder}'")
            try:
                with fresh_database("leadsync_full") as url:
                    with admin.connect() as conn:
                        conn.exec_driver_sql(f'ALTER DATABASE "{sa.engine.make_url(url).database}" '
                                             f"SET default_tablespace = {name}")
                    fill(mount)
                    yield url
            finally:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f"DROP TABLESPACE IF EXISTS {name}")
    finally:
        admin.dispose()
        mount.rmdir()


def test_postgres_disk_full_for_real_is_not_retried_and_names_the_server(postgres_on_a_full_disk, monkeypatch):
    url = sa.engine.make_url(postgres_on_a_full_disk)
    monkeypatch.setenv("LEADSYNC_STORE_WAIT", str(LONG_WAIT))
    started = time.monotonic()
    with pytest.raises(StoreDiskFull) as full:
        LeadStore(postgres_on_a_full_disk)
    assert time.monotonic() - started < LONG_WAIT / 2
    assert str(full.value).startswith(f"The lead store's PostgreSQL server at {url.host}:{url.port or 5432} "
                                      f"(database {url.database}) has no disk space left (could not ")
    assert "No space left on device" in str(full.value) and "Free space on the server's data disk" in str(full.value)

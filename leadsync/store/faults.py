"""Store faults: what the store's driver raised, told apart by cause, as one message naming the cause and the fix.

  store locked       another process holds the DuckDB file (a DuckDB shell, a notebook, a stuck old run). leadsync's
                     own processes take turns through the FileLock in engine.py, so this is always a foreign
                     holder: wait for it with back-off for a bounded time ($LEADSYNC_STORE_WAIT), then fail
                     naming its PID and command. Transient: a run's retry policy may try again later.
  store unreachable  the Postgres server refuses connections (stopped, restarting): waited for like a lock;
                     a host name that does not resolve is a configuration error, not waited for.
  store disk full    DuckDB "No space left on device", Postgres DiskFull (SQLSTATE 53100), an OSError ENOSPC:
                     never retried at once; the message says where to free space and how much is free there.

`classify` is pure apart from reading how much disk is free and the lock holder's command line (/proc).
`opened` and `translated` are the two hooks LeadStore.begin() wears.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa

T = TypeVar("T")

WAIT_ENV = "LEADSYNC_STORE_WAIT"
DEFAULT_WAIT = 30.0  # seconds a locked store or a refusing server is waited for before failing
FIRST_DELAY, MAX_DELAY = 0.05, 2.0

_LOCKED = re.compile(r'Could not set lock on file "(?P<path>[^"]+)"(?::\s*Conflicting lock is held in '
                     r'(?P<program>.+?) \(PID (?P<pid>\d+)\)(?: by user (?P<user>[^.\s]+))?)?')
_NO_SPACE = re.compile(r"no space left on device|disk is full|disk full|database or disk is full", re.IGNORECASE)
_WRITE_FILE = re.compile(r'(?:write|extend|create|open) file "(?P<path>[^"]+)"', re.IGNORECASE)
_EMPTY_FILE = re.compile(r'The file "(?P<path>[^"]+)" exists, but it is not a valid DuckDB database file')
_REFUSED = re.compile(r"connection refused|is the server running|server closed the connection unexpectedly"
                      r"|the database system is (?:starting up|shutting down|in recovery mode)", re.IGNORECASE)
# admin_shutdown (a stop, or the session terminated), crash_shutdown, cannot_connect_now (starting up)
_SHUTDOWN = ("57P01", "57P02", "57P03")
_UNRESOLVED = re.compile(r"failed to resolve host|could not translate host name|name or service not known",
                         re.IGNORECASE)


class StoreFault(RuntimeError):
    """The store cannot be used right now; str() is the whole message (cause, where, fix).

    `reason` is a short label (run metadata), `transient` whether trying again later can succeed (a run's
    retry policy may), `retry_after` the seconds a web client is told to wait."""

    reason = "store fault"
    transient = False
    retry_after = 60

    def __init__(self, message: str, where: str):
        super().__init__(message)
        self.where = where


class StoreLocked(StoreFault):
    reason = "store locked by another process"
    transient = True
    retry_after = 30

    def __init__(self, message: str, where: str, pid: int | None, command: str | None):
        super().__init__(message, where)
        self.pid, self.command = pid, command


class StoreUnreachable(StoreFault):
    reason = "store unreachable"

    def __init__(self, message: str, where: str, transient: bool):
        super().__init__(message, where)
        self.transient = transient


class StoreDiskFull(StoreFault):
    reason = "store disk full"
    retry_after = 300


# ------------------------------------------------------------------------------------ waiting


def wait_seconds() -> float:
    """How long a locked store or a refusing server is waited for: $LEADSYNC_STORE_WAIT seconds (default 30)."""
    try:
        return max(0.0, float(os.environ.get(WAIT_ENV, DEFAULT_WAIT)))
    except ValueError:
        return DEFAULT_WAIT


def delays(wait: float) -> Iterator[float]:
    """Back-off before each new attempt (0.05 s doubling up to 2 s) while `wait` seconds last."""
    deadline, delay = time.monotonic() + wait, FIRST_DELAY
    while (left := deadline - time.monotonic()) > 0:
        yield min(delay, left)
        delay = min(delay * 2, MAX_DELAY)


def worth_waiting(exc: BaseException) -> bool:
    """A lock held by another process, or a server refusing connections: either can end by itself soon."""
    text = _text(exc)
    return bool(_LOCKED.search(text) or (_REFUSED.search(text) and not _UNRESOLVED.search(text)))


def attempt(open_: Callable[[], T], wait: float | None = None) -> tuple[T, float]:
    """`open_()`, tried again with back-off while it fails for a reason worth waiting for, at most `wait`
    seconds (default `wait_seconds()`). Returns the result and the seconds waited; the last error is raised
    with `waited` set on it (for the message)."""
    wait = wait_seconds() if wait is None else wait
    start = time.monotonic()
    pauses = delays(wait)
    while True:
        try:
            return open_(), time.monotonic() - start
        except Exception as exc:
            pause = next(pauses, None) if worth_waiting(exc) else None
            if pause is None:
                exc.leadsync_waited = time.monotonic() - start  # type: ignore[attr-defined]
                raise
            time.sleep(pause)


@contextmanager
def opened(begin: Callable[[], object], wait: float | None = None) -> Iterator[sa.Connection]:
    """`with begin() as conn`, its opening waited for as `attempt` does (the transaction itself is never
    repeated: only opening it)."""
    with ExitStack() as stack:
        conn, _ = attempt(lambda: stack.enter_context(begin()), wait)
        yield conn


@contextmanager
def translated(url: str) -> Iterator[None]:
    """A store fault raised inside becomes its StoreFault (the driver's error kept as the cause)."""
    try:
        yield
    except StoreFault:
        raise
    except Exception as exc:
        fault = classify(exc, url)
        if fault is None:
            raise
        raise fault from exc


# ------------------------------------------------------------------------------------ classifying


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        if (orig := getattr(exc, "orig", None)) is not None and id(orig) not in seen:
            yield orig
            seen.add(id(orig))
        exc = exc.__cause__ or exc.__context__


def _text(exc: BaseException) -> str:
    return "\n".join(str(e) for e in _chain(exc))


def _from_driver(exc: BaseException) -> bool:
    """Raised by the store's database driver (DuckDB, psycopg), directly or wrapped by SQLAlchemy."""
    return isinstance(exc, sa.exc.DBAPIError) or type(exc).__module__.split(".")[0] in ("duckdb", "_duckdb", "psycopg")


def _sqlstate(exc: BaseException) -> str | None:
    return next((s for e in _chain(exc) if (s := getattr(e, "sqlstate", None))), None)


def classify(exc: BaseException, url: str) -> StoreFault | None:
    """The StoreFault `exc` is (raised opening or using the store at `url`), or None when it is none of them."""
    if isinstance(exc, StoreFault):
        return exc
    parsed = sa.engine.make_url(url)
    store_file = str(Path(parsed.database or "\0").resolve()) if parsed.get_backend_name() == "duckdb" else "\0"
    enospc = any(isinstance(e, OSError) and e.errno == errno.ENOSPC and str(e.filename or "").startswith(store_file)
                 for e in _chain(exc))  # e.g. the FileLock's file beside the store
    if not enospc and not any(_from_driver(e) for e in _chain(exc)):
        return None  # not the store's: an HTTP error raised inside a transaction stays what it is
    text = _text(exc)
    waited = getattr(exc, "leadsync_waited", 0.0)
    if (locked := _LOCKED.search(text)) is not None:
        return _locked(locked, parsed, waited)
    if _sqlstate(exc) == "53100" or enospc or _NO_SPACE.search(text):
        return _disk_full(text, parsed)
    if (empty := _EMPTY_FILE.search(text)) is not None and _size(empty.group("path")) == 0:
        folder = Path(empty.group("path")).parent
        return StoreFault(
            f"The lead store file {empty.group('path')} is empty (0 bytes): its creation was cut short, by a full "
            f"disk most often ({folder} has {_free(folder)} free). Make room if needed, delete the empty file and "
            "run again: leadsync creates the store afresh.", empty.group("path"))
    if parsed.get_backend_name() == "postgresql":
        if _UNRESOLVED.search(text):
            return StoreUnreachable(
                f"The lead store's PostgreSQL host '{parsed.host}' is unknown ({_first_line(text)}). Correct the host "
                f"in the store's URL ({_url_names(parsed)}).", _server(parsed), transient=False)
        state = _sqlstate(exc)
        if (refused := _REFUSED.search(text)) is not None or state in _SHUTDOWN:
            closed = state in ("57P01", "57P02") or "closed" in (refused.group(0) if refused else "")
            what = "closed the connection" if closed else "refuses connections"
            return StoreUnreachable(
                f"The lead store's PostgreSQL server at {_server(parsed)} {what} "
                f"({_first_line(text)}){_waited(waited)}. Start the server (or wait for its restart to end), or "
                f"correct the store's URL ({_url_names(parsed)}); nothing was written.", _server(parsed), transient=True)
    return None


def _locked(match: re.Match, url: sa.URL, waited: float) -> StoreLocked:
    path = match.group("path") or url.database or ""
    pid = int(match.group("pid")) if match.group("pid") else None
    command = _command_line(pid) or match.group("program")
    user = f", user {match.group('user')}" if match.group("user") else ""
    if pid is None:
        holder, stop = "another process", "Close the program that has it open (`fuser` or `lsof` names it)"
    else:
        holder = f"process {pid} ({command}{user})"
        if command and re.search(r"leadsync|dagster", command):
            stop = (f"It looks like a leadsync or Dagster process that did not stop (a stuck old run): stop it "
                    f"with `kill {pid}`")
        else:
            stop = (f"Close that program (a DuckDB shell, a notebook or a script with the file open: leadsync's own "
                    f"runs, CLI and web app take turns and never hold it like this), or stop it with `kill {pid}`")
    return StoreLocked(
        f"The lead store {path} is locked by {holder}{_waited(waited)}. {stop}, then try again; to read the store "
        f"while leadsync runs, open a copy of the file. Nothing was written.", path, pid, command)


def _disk_full(text: str, url: sa.URL) -> StoreDiskFull:
    detail = _first_line(text)
    if url.get_backend_name() == "postgresql":
        return StoreDiskFull(
            f"The lead store's PostgreSQL server at {_server(url)} (database {url.database}) has no disk space left "
            f"({detail}). Free space on the server's data disk (the file named is under its data directory or a "
            "tablespace), or ask its administrator; nothing from this step was stored, rerun it once there is room.",
            _server(url))
    named = _WRITE_FILE.search(text)
    store = Path(url.database or "leadsync.duckdb")
    path = Path(named.group("path")) if named else store
    places = {path.parent: f"{path.parent} has {_free(path.parent)} free"}
    # DuckDB's temp_directory is <store>.tmp/, next to the file (large work spills there; see duckdb_settings)
    places[store.parent] = f"the store's folder {store.parent} (with its spill folder {store.name}.tmp/) has " \
                           f"{_free(store.parent)} free"
    tmp = Path(tempfile.gettempdir())
    places.setdefault(tmp, f"the temp folder {tmp} has {_free(tmp)} free")
    return StoreDiskFull(
        f"The lead store cannot write {path}: the disk is full ({detail}). {'; '.join(places.values())}. Free space "
        "there (old files under $DAGSTER_HOME/storage, logs, exports), or move the store to a disk with room "
        "(LEADSYNC_STORE_URL); nothing from this step was stored, rerun it once there is room.", str(path))


# ------------------------------------------------------------------------------------ helpers


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "no detail"
    return re.sub(r"^\([\w.]+\)\s*", "", line).rstrip(". ")  # SQLAlchemy's "(psycopg.errors.X) " prefix


def _waited(waited: float) -> str:
    return f"; leadsync waited {waited:.0f} s for it" if waited >= 0.5 else ""


def _server(url: sa.URL) -> str:
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def _url_names(url: sa.URL) -> str:
    return f"LEADSYNC_STORE_URL or --store, now {url.render_as_string(hide_password=True)}"


def _free(folder: Path) -> str:
    """Free space on the filesystem holding `folder` (its nearest existing parent), e.g. '1.2 MB'."""
    folder = Path(folder).resolve()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = float(shutil.disk_usage(folder).free)
    except OSError:
        return "an unknown amount"
    if free < 1024:
        return f"{free:.0f} bytes"
    for unit in ("KB", "MB", "GB", "TB"):
        free /= 1024
        if free < 1024 or unit == "TB":
            break
    return f"{free:.1f} {unit}"


def _size(path: str) -> int | None:
    try:
        return Path(path).stat().st_size
    except OSError:
        return None


def _command_line(pid: int | None) -> str | None:
    """The holder's command line (Linux /proc), shortened; None where it cannot be read."""
    if pid is None:
        return None
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    line = " ".join(words)
    return (line[:117] + "…") if len(line) > 120 else line or None

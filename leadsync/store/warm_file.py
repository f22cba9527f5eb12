"""A DuckDB store file kept open for a moment after a transaction, so that the next one does not open it again.

Opening a DuckDB file costs 30-90 ms (a database instance, its catalog, the write-ahead log) and closing the last
connection checkpoints (10-50 ms): as much as a small transaction, and a web request or a stage makes several in
a row. So when a process's transaction ends, its database instance stays open for `linger_seconds()` (held by a
connection of its own, the anchor); a transaction starting meanwhile connects to that instance (DuckDB hands a
connection to an open instance of the same file and settings out of its instance cache) at no cost.

The process holds the store's file lock (`<file>.lock`) for as long as the instance is open, as it held it for a
transaction before: other leadsync processes wait at most the linger longer for their turn, a program opening the
file without that lock (a DuckDB shell) finds it locked that much longer. In the process, one thread at a time
has a turn (the file lock did the same per thread).

A process whose transactions follow each other closer than the linger (a stage's loop, a busy web app) keeps the
instance open through all of them, unless another leadsync process is waiting for the file: a waiter says so by
touching `<file>.lock.wanted` while it waits, and the holder, once it has held the file `MAX_HOLD_S`, closes it at
the end of its turn when that file was touched since it took the lock. Without a waiter nothing is reopened: a
job's hundreds of transactions open the file once, not once per half second (each reopening cost 5-30 ms: the
instance, then a checkpoint at its close). A turn that asks for no linger (a store being created, a
session that releases the file on purpose, one with settings of its own) closes the instance as it ends, as does
a turn that failed, `cool()` (LeadStore.dispose) and the process's exit.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

LINGER_ENV = "LEADSYNC_DUCKDB_LINGER_S"
# Long enough for the next transaction of a request or a stage, short enough that another process's wait for
# the file hardly grows.
DEFAULT_LINGER_S = 0.05
# The longest a process keeps the file through lingering turns while another leadsync process waits for it: a
# process whose transactions follow each other closer than the linger would otherwise never let go of the file
# lock, and the waiter would wait for ever. Past this, with a waiter, a turn closes the file as it ends, and the
# next turn takes the lock again like any other process. Below it, the holder finishes a burst of transactions
# rather than handing the file back and forth for each one.
MAX_HOLD_S = 0.5
# How often a process waiting for the file lock says so again (the holder compares the wanted file's time with
# when it took the lock, so a waiter that was already waiting before must touch it again to be seen).
WANT_EVERY_S = 0.1


def linger_seconds() -> float:
    """$LEADSYNC_DUCKDB_LINGER_S, else DEFAULT_LINGER_S (also for a value that is no number); 0 closes the file
    after every transaction."""
    text = os.environ.get(LINGER_ENV, "").strip()
    if not text.replace(".", "", 1).isdigit():
        return DEFAULT_LINGER_S
    return float(text)


class WarmFile:
    """The turns of one process at one DuckDB file (see the module docstring); `warm_file(path)` gives the
    process's one instance per file, shared by every LeadStore on it."""

    def __init__(self, path: Path):
        self.path = path
        self._turn = threading.RLock()  # one thread at a time, re-entrant as the per-thread file lock was
        self._file_lock = FileLock(f"{path}.lock", thread_local=False)  # taken and freed by any thread
        self._wanted = Path(f"{path}.lock.wanted")  # touched by other processes waiting for the file lock
        self._locked = False
        self._locked_at = 0.0  # monotonic time the file lock was taken
        self._locked_at_ns = 0  # the same, as wall-clock nanoseconds (compared with the wanted file's time)
        self._anchor = None  # a duckdb connection keeping the instance open between turns
        self._anchor_settings: dict | None = None
        self._depth = 0
        self._linger = True  # every turn of the current nest asked for it
        self._timer: threading.Timer | None = None
        self._token: object | None = None  # the pending timer's: a timer that fires late finds another

    @contextmanager
    def turn(self, settings: dict, linger: bool = True) -> Iterator[WarmFile]:
        """This thread's turn at the file, with the file lock held. `settings` are those the turn's connections
        are opened with: an instance lingering with others is closed first (DuckDB refuses a second set)."""
        with self._turn:
            self._cancel_timer()
            try:
                if self._depth == 0:
                    self._linger = linger
                    if self._anchor_settings != settings:
                        self._close_anchor()
                if not self._locked:
                    self._take_file_lock()
            except BaseException:
                if self._depth == 0:
                    self._close()  # no timer left to close it: never keep the file locked for ever
                raise
            self._linger = self._linger and linger
            self._depth += 1
            failed = False
            try:
                yield self
            except BaseException:
                failed = True
                raise
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._end_turn(failed)

    def keep(self, open_anchor: Callable[[], object], settings: dict) -> None:
        """Inside a turn, once one of its connections is open: keep that instance open after the turn (if the
        turn lingers); `open_anchor()` opens another connection to it."""
        if self._linger and self._depth and self._anchor is None:
            try:
                self._anchor, self._anchor_settings = open_anchor(), dict(settings)
            except Exception:  # noqa: BLE001 - not kept open is only slower: the transaction goes on
                self._anchor, self._anchor_settings = None, None

    def cool(self, wait_s: float = -1) -> None:
        """Close the instance and free the file lock now, unless a turn is under way (it closes it as it ends).
        `wait_s`: how long to wait for another thread's turn to end (-1: as long as it lasts)."""
        if not self._turn.acquire(timeout=wait_s):
            return
        try:
            if self._depth == 0:
                self._cancel_timer()
                self._close()
        finally:
            self._turn.release()

    # ---------------------------------------------------------------------------------------------- inside

    def _take_file_lock(self) -> None:
        """Take the file lock; while another process holds it, say so every WANT_EVERY_S (the wanted file)."""
        try:
            self._file_lock.acquire(timeout=0)
        except Timeout:
            while True:
                self._want()
                try:
                    self._file_lock.acquire(timeout=WANT_EVERY_S)
                    break
                except Timeout:
                    continue
        self._locked, self._locked_at, self._locked_at_ns = True, time.monotonic(), time.time_ns()

    def _want(self) -> None:
        try:
            self._wanted.touch()
        except OSError:  # a waiter that cannot say so is let in at the holder's next pause (the linger) instead
            pass

    def _someone_waits(self) -> bool:
        """Another process touched the wanted file since this one took the lock."""
        try:
            return self._wanted.stat().st_mtime_ns >= self._locked_at_ns
        except OSError:  # never touched: no one has waited for this file
            return False

    def _end_turn(self, failed: bool) -> None:
        seconds = linger_seconds()
        held_too_long = time.monotonic() - self._locked_at >= MAX_HOLD_S and self._someone_waits()
        if failed or not self._linger or not seconds or self._anchor is None or held_too_long:
            self._close()
            return
        self._token = token = object()
        self._timer = threading.Timer(seconds, self._cool_if_idle, args=(token,))
        self._timer.daemon = True  # the process's exit does not wait for it (atexit closes the file)
        try:
            self._timer.start()
        except RuntimeError:  # no new thread while the interpreter shuts down: close now
            self._cancel_timer()
            self._close()

    def _cool_if_idle(self, token: object) -> None:
        with self._turn:
            if self._depth == 0 and self._token is token:  # no turn since this timer was set
                self._close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._token = None, None

    def _close_anchor(self) -> None:
        anchor, self._anchor, self._anchor_settings = self._anchor, None, None
        if anchor is not None:
            anchor.close()  # the instance's last connection: DuckDB checkpoints and closes the file

    def _close(self) -> None:
        try:
            self._close_anchor()
        finally:
            if self._locked:
                self._locked = False
                self._file_lock.release()


_files: dict[Path, WarmFile] = {}
_files_lock = threading.Lock()
# Objects a forked child inherited: never closed there (closing would checkpoint the parent's file).
_inherited: list[object] = []


def warm_file(path: Path) -> WarmFile:
    with _files_lock:
        found = _files.get(path)
        if found is None:
            found = _files[path] = WarmFile(path)
        return found


def _cool_all() -> None:
    """At exit: close what lingers. A daemon thread stopped in mid-turn is not waited for long: the exit frees the
    file lock, and what was committed is in the write-ahead log."""
    for found in list(_files.values()):
        found.cool(wait_s=1)


def _forget_in_child() -> None:
    """A forked child starts with no file open: the parent's instances and locks stay the parent's (a lock held
    by another thread of the parent at the fork would never be freed in the child, hence new ones)."""
    global _files_lock
    _inherited.extend(_files.values())
    _files.clear()
    _files_lock = threading.Lock()


atexit.register(_cool_all)
os.register_at_fork(after_in_child=_forget_in_child)

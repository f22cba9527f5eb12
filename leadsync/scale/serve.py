"""Stopping `leadsync scale --serve` stops everything it started.

The command starts Celery workers, sandboxes and `dagster dev` (which starts the webserver, the daemon and
code servers). Left to Python's defaults, a SIGTERM to the command's PID ends it at once, with no cleanup,
and every child lives on as an orphan; and `dagster dev` itself may ignore SIGTERM and SIGINT: it maps
SIGTERM to its SIGINT handler (dagster/_utils/interrupts.py), and SIGINT is ignored in a process started in
the background by a non-interactive shell (`make scale &`) and stays ignored in its children.

So the command:
- turns SIGTERM, SIGINT and SIGHUP into KeyboardInterrupt (`stop_on_signals`): every `with` block unwinds and
  stops what it started (workers, sandboxes); a second signal during that cleanup does not cut it short.
  A handled signal is reset to its default in a child at exec, so the children no longer inherit an ignored
  SIGINT;
- starts `dagster dev` in a session (and process group) of its own and stops it by its group
  (`ProcessGroup`): SIGTERM to the whole group, SIGKILL to what is left after a grace period, then a sweep
  of the group once more, since Dagster's code-server proxy can restart a code server while shutting down
  (../shared/DAGSTER_NOTES.md §4.5).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Self

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM/SIGINT/SIGHUP raise KeyboardInterrupt once; later ones are only reported,
    so that the cleanup they started runs to its end. Main thread only (Python delivers signals there)."""
    stopping = False

    def handler(signum: int, _frame) -> None:
        nonlocal stopping
        if stopping:
            print(f"{signal.Signals(signum).name}: already stopping everything leadsync scale started",
                  file=sys.stderr, flush=True)
            return
        stopping = True
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


# Set by the Makefile for its long-running targets (`make ui`, `make scale`, …): make passes a SIGTERM on to
# the command it runs, but a SIGKILL (kill -9, the OOM killer) ends make alone: the command and everything it
# started would run on as orphans. With this set the command asks the kernel for a SIGTERM when its parent dies, and stops
# as if signalled itself. Not by default: `nohup leadsync dev &` from a script that then exits must live on.
STOP_WITH_PARENT = "LEADSYNC_STOP_WITH_PARENT"


def stop_with_parent() -> None:
    """When $LEADSYNC_STOP_WITH_PARENT is set (Linux): SIGTERM to this process when its parent exits (call it
    after `stop_on_signals` or another SIGTERM handler is in place, so the signal runs the cleanup)."""
    if not os.environ.get(STOP_WITH_PARENT) or not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    pr_set_pdeathsig = 1
    if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0) != 0:
        print(f"{STOP_WITH_PARENT}: prctl failed (errno {ctypes.get_errno()}); a signal to the parent will not "
              "stop this process", file=sys.stderr, flush=True)
        return
    if os.getppid() != parent or parent == 1:  # the parent was gone before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def group_members(pgid: int) -> list[int]:
    """Live processes of process group `pgid` (Linux /proc; zombies left for init to reap do not count).
    Without /proc: [pgid] while the group has any process, else []."""
    if not os.path.isdir("/proc/self"):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ")"
        fields = stat[stat.rindex(b")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != b"Z":
            found.append(int(entry))
    return found


class ProcessGroup:
    """A command in a session and process group of its own, stopped with everything it started."""

    def __init__(self, command: Sequence[str], env: dict[str, str] | None = None, grace_s: float = 20):
        self.grace_s = grace_s
        self.process = subprocess.Popen(list(command), env=env, start_new_session=True)
        self.pgid = self.process.pid  # the session leader's pid is the group's id

    def wait(self) -> int:
        return self.process.wait()

    def alive(self) -> bool:
        """Whether any process of the group is left (the leader, or a child it started)."""
        return bool(group_members(self.pgid))

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL to whatever is left after the grace period, then sweep the group
        until it is empty (a child started during shutdown gets the same treatment)."""
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        while time.monotonic() < deadline and self._reap_and_check():
            time.sleep(0.2)
        for _ in range(50):  # the sweep: at most ~10 s
            if not self._reap_and_check():
                return
            self._signal(signal.SIGKILL)
            time.sleep(0.2)

    def _reap_and_check(self) -> bool:
        if self.process.poll() is None:
            return True
        return self.alive()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

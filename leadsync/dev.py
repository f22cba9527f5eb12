"""`leadsync dev` (`make ui`): the Dagster UI with everything the shipped schedules and sensors reach.

It starts, in this order:
1. every bundled sandbox the mappings point at (`SANDBOXES`, in this process), as `leadsync demo` starts
   them: SFTP, Salesforce, Marketo, Eloqua, a partner's CRM org, SMTP (leadsync/sandboxes.py);
2. the partner-response web app (`leadsync web`, a child process), so links in partner emails work;
3. `dagster dev` (webserver, daemon and code server), in a session of its own.

Stopping it (Ctrl-C, or SIGTERM / SIGINT / SIGHUP to its PID) stops all of them: `dagster dev` by a signal to
its process group, then whatever is left in its session (the code server it may restart while shutting
down, run workers) is killed; then the web app, then the sandboxes. If `dagster dev` exits by itself, the
rest is stopped too. Nothing it started outlives it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
import yaml

from leadsync.config.loader import ProjectPaths
from leadsync.connectors.loopback_ports import free_port
from leadsync.scale.serve import stop_with_parent

READY_TIMEOUT_S = 300  # the code location loads in ~10-30 s on 2 busy cores; the daemon a little later
# dagster dev's shutdown can outlast its own services: its code-server manager sees the code server exit during the
# shutdown and starts it again, and the process exits once that one has loaded and stopped too (2026-12-05, 2 busy
# cores: services down 11 s after SIGTERM, the process still there at 30 s). SIGKILL only past this.
STOP_TIMEOUT_S = 60
LOCATION = "leadsync"


class DevError(Exception):
    """`leadsync dev` cannot start: the message names what and the fix."""


# ---------------------------------------------------------------------------------------------- sandboxes


@contextmanager
def every_sandbox(paths: ProjectPaths) -> Iterator[list[str]]:
    """Every sandbox the YAML points at, as `leadsync demo` starts them (SFTP, Salesforce, Marketo, Eloqua, a
    partner's CRM org, SMTP), keeping their data from the last demo or dev session; seeded when empty."""
    from leadsync.sandboxes import SandboxSetupError, start_sandboxes

    try:
        running = start_sandboxes(paths, leads=2_000, seed=7)
    except SandboxSetupError as exc:
        raise DevError(str(exc)) from None
    with running:
        yield [_line(s) for s in running.started]


def _line(started) -> str:
    what = {"sftp": "SFTP sandbox", "salesforce": "Salesforce sandbox", "marketo": "Marketo sandbox",
            "eloqua": "Eloqua sandbox", "partner_crm": "Salesforce org (partner CRM)"}.get(started.kind)
    where = urlsplit(started.url).netloc or started.url
    head = f"SMTP sandbox on {where}" if started.kind == "smtp" else f"{what} for {started.name} on {where}"
    return head + (f" ({started.holds})" if started.holds else "")


# The one place `leadsync dev` learns which sandboxes to start: a context manager taking the project paths
# and yielding one line per server.
SANDBOXES: Callable[[ProjectPaths], AbstractContextManager[list[str]]] = every_sandbox


# ---------------------------------------------------------------------------------------------- processes


@dataclass
class Child:
    """A child process in a session of its own (its PID is its process group and session id)."""

    name: str
    proc: subprocess.Popen
    log: Path | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> str:
        """SIGTERM to its process group, SIGKILL after `timeout_s`, then every process left in its session;
        returns what it took. The children must not inherit an ignored SIGINT (see run_dev): dagster dev maps
        SIGTERM to it."""
        started, how = time.monotonic(), "stopped"
        if self.alive():
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _signal_group(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
                how = f"killed (no exit {timeout_s:g} s after SIGTERM)"
        swept = sweep_session(self.pid)
        left = f"; {len(swept)} leftover process(es) of its session stopped" if swept else ""
        return f"{self.name} {how} in {time.monotonic() - started:.1f} s{left}"


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def session_members(sid: int) -> list[int]:
    """PIDs of the processes in session `sid` (from /proc; [] where there is no /proc)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = entry.read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp session …
        if len(fields) > 3 and int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(entry.parent.name))
    return found


def sweep_session(sid: int, grace_s: float = 5.0) -> list[int]:
    """Stop whatever is left in session `sid` (SIGTERM, then SIGKILL after `grace_s`); returns their PIDs."""
    left = session_members(sid)
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and session_members(sid):
        time.sleep(0.2)
    for pid in session_members(sid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return left


def _start(name: str, args: list[str], env: dict[str, str], cwd: Path, log: Path | None) -> Child:
    out = open(log, "ab") if log else None  # noqa: SIM115 - the child holds it; closed with our copy below
    try:
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT if out else None, start_new_session=True)
    finally:
        if out:
            out.close()
    return Child(name, proc, log)


def workspace_file(paths: ProjectPaths, home: Path) -> Path:
    """A workspace naming the code location `leadsync` wherever the mappings live (a plain `-m` would name
    it after the module)."""
    file = home / "dev_workspace.yaml"
    file.write_text(yaml.safe_dump({"load_from": [{"python_module": {
        "module_name": "leadsync.definitions", "location_name": LOCATION, "working_directory": str(paths.root)}}]}))
    return file


def start_dagster(paths: ProjectPaths, host: str, port: int, env: dict[str, str], log: Path | None) -> Child:
    home = Path(env["DAGSTER_HOME"])
    dagster = Path(sys.executable).parent / "dagster"
    args = [str(dagster), "dev", "-h", host, "-p", str(port), "-w", str(workspace_file(paths, home))]
    return _start("dagster dev", args, env, paths.root, log)


def start_web(paths: ProjectPaths, env: dict[str, str], log: Path | None) -> Child:
    args = [sys.executable, "-m", "leadsync.cli", "--mappings", str(paths.mappings), "web"]
    return _start("partner web app", args, env, paths.root, log)


# What dagster dev's webserver (uvicorn) writes when its port is taken, before it exits.
UI_PORT_TAKEN = "error while attempting to bind on address"


def _text(log: Path) -> str:
    try:
        return log.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def wait_until_loaded(url: str, children: list[Child], timeout_s: float = READY_TIMEOUT_S) -> None:
    """Until the webserver answers and the code location is LOADED; DevError if a child dies first or the
    location fails to load (its error in the message)."""
    query = ("{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
             "locationOrLoadError { __typename ... on PythonError { message } } } } } }")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for child in children:
            if not child.alive():
                where = f"; its output is in {child.log}" if child.log else ""
                raise DevError(f"{child.name} exited with code {child.proc.returncode} while starting{where}")
            if child.log is not None and UI_PORT_TAKEN in _text(child.log):
                # dagster dev keeps its daemon running when the webserver cannot listen: nothing would answer
                raise DevError(f"the Dagster UI cannot listen on {urlsplit(url).netloc}: another program has "
                               f"that port; start with --port set to a free one (or --port 0: any free port)")
        try:
            data = requests.post(f"{url}/graphql", json={"query": query}, timeout=5).json()["data"]
            entries = data["workspaceOrError"]["locationEntries"]
        except (requests.RequestException, ValueError, KeyError, TypeError):
            time.sleep(1)
            continue
        for entry in entries:
            error = entry.get("locationOrLoadError") or {}
            if entry["loadStatus"] == "LOADED" and error.get("__typename") == "PythonError":
                raise DevError(f"the code location {entry['name']} failed to load: {error['message']}")
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            return
        time.sleep(1)
    raise DevError(f"the Dagster UI at {url} did not load the code location within {timeout_s:g} s")


# ---------------------------------------------------------------------------------------------- the command


class Stop(Exception):
    """A signal asked `leadsync dev` to stop."""


def _raise_stop(signum, _frame) -> None:
    raise Stop(signal.Signals(signum).name)


def run_dev(paths: ProjectPaths, host: str = "127.0.0.1", port: int = 3000, web: bool = True,
            log_dir: Path | None = None, out=print) -> int:
    """Start everything, print where it is, wait until stopped (a signal, or `dagster dev` exiting), stop
    everything (dagster dev first, then the web app, then the sandboxes). Returns 0 when stopped by a signal,
    else `dagster dev`'s exit code. DevError when something cannot start (what started is stopped)."""
    # SIGINT too: started in the background from a non-interactive shell, it is ignored, and an ignored signal
    # stays ignored in children, where dagster dev maps SIGTERM to it: dagster dev could then not be stopped.
    previous = {s: signal.signal(s, _raise_stop) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    env = {**os.environ, "LEADSYNC_MAPPINGS_DIR": str(paths.mappings.resolve())}
    logs = log_dir or Path(env["DAGSTER_HOME"]) / "dev_logs"
    logs.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://{host}:{port}"
    stack = ExitStack()
    try:
        stop_with_parent()  # `make ui`: a signal to make's PID stops this as well
        for line in stack.enter_context(SANDBOXES(paths)):
            out(f"  {line}")
        children = []
        if web and (paths.mappings / "lifecycle.yaml").exists():
            children.append(start_web(paths, env, logs / "web.log"))
            stack.callback(lambda child=children[-1]: out(f"  {child.stop()}"))
            out(f"  partner web app (`leadsync web`), log in {logs / 'web.log'}")
        dagster = start_dagster(paths, host, port, env, logs / "dagster_dev.log")
        children.append(dagster)
        stack.callback(lambda: out(f"  {dagster.stop()}"))
        out(f"  dagster dev (webserver, daemon, code server), log in {logs / 'dagster_dev.log'}")
        wait_until_loaded(url, children)
        out(f"Dagster UI on {url}; schedules and sensors are running. Ctrl-C (or SIGTERM to PID "
            f"{os.getpid()}) stops everything.")
        while dagster.alive():
            time.sleep(0.5)
        out(f"dagster dev exited with code {dagster.proc.returncode}; stopping the rest")
        return dagster.proc.returncode or 0
    except (KeyboardInterrupt, Stop):  # Ctrl-C, a signal
        out("stopping dagster dev, the web app and the sandboxes …")
        return 0
    finally:
        # not interrupted while cleaning up: a second Ctrl-C must not leave orphans behind
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        try:
            stack.close()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

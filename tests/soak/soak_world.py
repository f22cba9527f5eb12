"""The world a soak runs in: a copy of the shipped demo project (all four sources, Maple's own CRM org, the SMTP
sandbox) on free ports, its sandboxes running in this process (so their fault switches can be thrown), and the
`leadsync` job run as `dagster job execute` processes on an embedded-default instance of its own, which the
soak may SIGKILL at any moment. The run processes are forked by a warm launcher (soak_launcher.py), which has
imported dagster and leadsync's definitions once for the world.

Imported by name (pytest puts tests/ and tests/soak/ on sys.path); bench/soak.py imports it too."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
from dotenv import dotenv_values
from test_demo import demo_project

from leadsync.config.loader import project_paths
from leadsync.sandboxes import Sandboxes, drop_into_sftp_sources, start_sandboxes

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = str(Path(__file__).with_name("soak_launcher.py"))
WRITE_TARGETS = ("salesforce_demo", "marketo_demo", "eloqua_demo", "maple")  # the sandboxes leadsync writes to
# API client timeouts short enough that an injected timeout costs seconds, not the shipped 30
TIMEOUT_S = 3
# a locked store is waited for this long before the step fails (and is retried by its retry policy)
STORE_WAIT_S = "5"


@dataclass
class RunOutcome:
    run_id: str | None
    status: str  # SUCCESS | FAILURE | KILLED | TIMEOUT
    seconds: float
    output: str = ""
    started_at: datetime | None = None
    # vendor answers lost during this run, per target: a request held past the client's timeout on purpose, or
    # one that timed out by itself (the run's log says "Read timed out" for the target's port); its write may
    # land after the step's retry sent it again, which shows at the target as a write made twice
    lost_answers: Counter = field(default_factory=Counter)

    @property
    def ended_at(self) -> datetime | None:
        return None if self.started_at is None else self.started_at + timedelta(seconds=self.seconds)

    peak_rss_kb: int = 0  # of the run process, from its rusage (killed runs too)


@dataclass
class World:
    root: Path
    env: dict[str, str]
    sandboxes: Sandboxes
    home: Path
    store_url: str
    runs: list[RunOutcome] = field(default_factory=list)
    leave_out: tuple[str, ...] = ()  # ops the runs leave out: those whose name holds one of these
    _launcher: subprocess.Popen | None = None
    _answers: queue.Queue = field(default_factory=queue.Queue)

    @property
    def paths(self):
        return project_paths(self.root / "mappings")

    def server(self, name: str):
        return self.sandboxes.get(name).server

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))

    def drop_files(self, leads: int, seed: int) -> list[Path]:
        return drop_into_sftp_sources(self.paths, self.sandboxes, leads, seed)

    def run(self, killer: Callable[[ForkedRun, World], None] | None = None,
            timeout_s: float = 600) -> RunOutcome:
        """One `dagster job execute -j leadsync`; `killer(process, world)` runs on a thread beside it and may
        SIGKILL it (see kill()). The outcome is read back from the instance."""
        before = {r.run_id for r in self._runs()}
        started, started_at = time.monotonic(), datetime.now(UTC)
        log = self.root / f"run-{len(self.runs) + 1}.log"
        launcher = self._warm_launcher()
        launcher.stdin.write(f"{log}\t{','.join(self.leave_out)}\n")
        launcher.stdin.flush()
        process = ForkedRun(int(self._answer(600).split()[1]))  # a cold launcher imports first
        if killer is not None:
            threading.Thread(target=killer, args=(process, self), daemon=True).start()
        try:
            _, _, code, rss = self._answer(timeout_s).split()
            status = None
        except queue.Empty:
            kill(process)
            _, _, code, rss = self._answer(120).split()
            status = "TIMEOUT"
        process.returncode = int(code)
        if status is None:
            status = "KILLED" if process.returncode == -signal.SIGKILL else None
        new = [r for r in self._runs() if r.run_id not in before]
        run_id = new[0].run_id if new else None
        if status is None:
            status = new[0].status.value if new else "FAILURE"
        output = log.read_text(errors="replace") if log.exists() else ""
        outcome = RunOutcome(run_id, status, time.monotonic() - started, output, started_at, peak_rss_kb=int(rss))
        for name in WRITE_TARGETS:
            port = urlsplit(self.server(name).url).port
            outcome.lost_answers[name] += len(re.findall(rf"port={port}\): Read timed out", output))
        self.runs.append(outcome)
        return outcome

    def _warm_launcher(self) -> subprocess.Popen:
        if self._launcher is None or self._launcher.poll() is not None:
            self._launcher = subprocess.Popen([sys.executable, LAUNCHER], env=self.env, cwd=self.root,
                                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            threading.Thread(target=self._read_answers, args=(self._launcher,), daemon=True).start()
        return self._launcher

    def _read_answers(self, launcher: subprocess.Popen) -> None:
        for line in launcher.stdout:
            if line.startswith(("started ", "ended ")):
                self._answers.put(line.strip())

    def _answer(self, timeout_s: float) -> str:
        return self._answers.get(timeout=timeout_s)

    def stop_launcher(self) -> None:
        if self._launcher is not None:
            self._launcher.stdin.close()
            try:
                self._launcher.wait(30)
            except subprocess.TimeoutExpired:
                self._launcher.kill()
            self._launcher = None

    def _runs(self) -> list[dg.DagsterRun]:
        with self.instance() as instance:
            return list(instance.get_runs())


@dataclass
class ForkedRun:
    """A run process the launcher forked, as kill() and the faults' threads see it (a Popen's pid and poll())."""

    pid: int
    returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


def kill(process: ForkedRun) -> bool:
    """SIGKILL the run's process group (the run and anything it started); False when it had ended already."""
    if process.poll() is not None:
        return False
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def build_world(root: Path, leads: int, seed: int) -> World:
    """The demo project under `root` with its sandboxes started (seeded with `leads` records each) and its
    environment put into os.environ (the sandboxes read their credentials from it). Stop with world.sandboxes.stop()."""
    root.mkdir(parents=True, exist_ok=True)
    demo_project(root)
    _short_timeouts(root / "mappings/sources")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADSYNC_", "DAGSTER_"))}
    env.update({k: v for k, v in dotenv_values(root / ".env").items() if v is not None})
    home = root / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(REPO / "dagster_home/dagster.yaml", home / "dagster.yaml")
    store_url = f"duckdb:///{home / 'leadsync.duckdb'}"
    env.update(DAGSTER_HOME=str(home), LEADSYNC_MAPPINGS_DIR=str(root / "mappings"), LEADSYNC_STORE_URL=store_url,
               DEMO_TEST_MAPLE_KEY="maple-crm-app", DEMO_TEST_MAPLE_SECRET="maple-crm-secret",
               LEADSYNC_STORE_WAIT=STORE_WAIT_S, PYTHONUNBUFFERED="1")
    os.environ.update({k: env[k] for k in env if k.startswith(("LEADSYNC_", "DEMO_TEST_"))})
    sandboxes = start_sandboxes(project_paths(root / "mappings"), leads=leads, seed=seed, state_dir=root / "sandboxes")
    return World(root, env, sandboxes, home, store_url)


def _short_timeouts(sources: Path) -> None:
    for file in sources.glob("*.yaml"):
        text = file.read_text()
        file.write_text(text.replace("timeout_s: 30", f"timeout_s: {TIMEOUT_S}"))

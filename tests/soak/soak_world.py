"""The world a soak runs in: a copy of the shipped demo project (all four sources, Maple's own CRM org, the SMTP
sandbox) on free ports, its sandboxes running in this process (so their fault switches can be thrown), and the
`leadsync` job run as `dagster job execute` subprocesses on an embedded-default instance of its own, which the
soak may SIGKILL at any moment.

Imported by name (pytest puts tests/ and tests/soak/ on sys.path); bench/soak.py imports it too."""

from __future__ import annotations

import os
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

import dagster as dg
from dotenv import dotenv_values
from test_demo import demo_project

from leadsync.config.loader import project_paths
from leadsync.sandboxes import Sandboxes, drop_into_sftp_sources, start_sandboxes

REPO = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).parent / "dagster")
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
    # vendor answers lost on purpose during this run, per target: a request held past the client's timeout (its
    # write lands after the client has retried it), which may show at that target as a write made twice
    lost_answers: Counter = field(default_factory=Counter)

    @property
    def ended_at(self) -> datetime | None:
        return None if self.started_at is None else self.started_at + timedelta(seconds=self.seconds)

    @property
    def peak_rss_kb(self) -> int:
        """From /usr/bin/time -v's report (0 without one: not timed, or killed with the run)."""
        found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", self.output)
        return int(found.group(1)) if found else 0


@dataclass
class World:
    root: Path
    env: dict[str, str]
    sandboxes: Sandboxes
    home: Path
    store_url: str
    runs: list[RunOutcome] = field(default_factory=list)
    time_runs: bool = False  # run each job under /usr/bin/time -v, for its peak RSS

    @property
    def paths(self):
        return project_paths(self.root / "mappings")

    def server(self, name: str):
        return self.sandboxes.get(name).server

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))

    def drop_files(self, leads: int, seed: int) -> list[Path]:
        return drop_into_sftp_sources(self.paths, self.sandboxes, leads, seed)

    def run(self, killer: Callable[[subprocess.Popen, World], None] | None = None,
            timeout_s: float = 600) -> RunOutcome:
        """One `dagster job execute -j leadsync`; `killer(process, world)` runs on a thread beside it and may
        SIGKILL it (see kill()). The outcome is read back from the instance."""
        before = {r.run_id for r in self._runs()}
        started, started_at = time.monotonic(), datetime.now(UTC)
        command = [DAGSTER, "job", "execute", "-m", "leadsync.definitions", "-j", "leadsync"]
        process = subprocess.Popen(["/usr/bin/time", "-v", *command] if self.time_runs else command,
                                   env=self.env, cwd=self.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, start_new_session=True)
        if killer is not None:
            threading.Thread(target=killer, args=(process, self), daemon=True).start()
        try:
            output, _ = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            kill(process)
            output, _ = process.communicate()
            status = "TIMEOUT"
        else:
            status = "KILLED" if process.returncode == -signal.SIGKILL else None
        new = [r for r in self._runs() if r.run_id not in before]
        run_id = new[0].run_id if new else None
        if status is None:
            status = new[0].status.value if new else "FAILURE"
        outcome = RunOutcome(run_id, status, time.monotonic() - started, output, started_at)
        self.runs.append(outcome)
        return outcome

    def _runs(self) -> list[dg.DagsterRun]:
        with self.instance() as instance:
            return list(instance.get_runs())


def kill(process: subprocess.Popen) -> bool:
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

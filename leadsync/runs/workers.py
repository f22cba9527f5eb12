"""Celery workers for the scale profile, started with dagster-celery's own worker command:

    DAGSTER_HOME=dagster_home/scale dagster-celery worker start -A dagster_celery.app \\
        -y dagster_home/scale/celery.yaml -n worker1 -i leadsync.runs.warm

`Workers` does exactly that for the demo, the tests and the benchmark: each worker in its own process group
(so that "kill a worker" kills all of it, as a lost machine would), its log in a file, and it waits until every
worker answers a Celery ping before returning.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import dagster as dg

from leadsync.scale.profile import celery_config, celery_config_path


@dataclass
class Worker:
    name: str  # Celery's node name, e.g. "worker1@host"
    process: subprocess.Popen
    log: Path

    def kill(self) -> None:
        """SIGKILL the whole worker (the command, Celery's main process and its pool process)."""
        from leadsync.scale.serve import group_members

        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        deadline = time.monotonic() + 10
        while group_members(self.process.pid) and time.monotonic() < deadline:  # gone, not only signalled
            time.sleep(0.1)


WARM_MODULE = "leadsync.runs.warm"


def worker_command(name: str, queue: str | None = None) -> list[str]:
    exe = shutil.which("dagster-celery", path=str(Path(sys.executable).parent)) or "dagster-celery"
    # -i: the worker imports the code location before forking its pool process (leadsync/runs/warm.py)
    return [exe, "worker", "start", "-A", "dagster_celery.app", "-y", str(celery_config_path()), "-n", name,
            "-i", WARM_MODULE, "--loglevel", "INFO", *(["-q", queue] if queue else [])]


def prepare_instance(env: dict[str, str]) -> None:
    """Create (or migrate) the instance's storage once, before any worker starts. Every worker opens the
    instance at start, and dagster-postgres creates missing tables without a lock: two workers on a fresh
    database race, and one dies with `type "run_tags" already exists`."""
    home = env.get("DAGSTER_HOME")
    if not home:
        return
    # the instance's YAML reads its URLs from the environment: the workers' own, not only this process's
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        with dg.DagsterInstance.from_config(home) as instance:
            instance.upgrade()
    finally:
        os.environ.clear()
        os.environ.update(saved)


class Workers:
    """`count` workers named `<prefix>1..N`, with `env` added to this process's environment. The prefix is the
    Celery queue's name when `env` sets one (LEADSYNC_CELERY_QUEUE): node names are broker-wide, and two groups
    of workers on one broker under the same names would answer each other's pings and take each other's
    names in the run's events."""

    def __init__(self, count: int, env: dict[str, str], log_dir: Path, prefix: str | None = None):
        queue = {**os.environ, **env}.get("LEADSYNC_CELERY_QUEUE")
        prefix = prefix or (f"{queue}-worker" if queue else "leadsync-worker")
        self.count, self.env, self.log_dir, self.prefix = count, env, Path(log_dir), prefix
        self.workers: list[Worker] = []

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:  # a failed start, or a stop signal while waiting for the pings: no orphans
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "LEADSYNC_PROFILE": "scale"}
        # the worker command runs `celery` by name: it must find this environment's, not the system's
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        prepare_instance(env)
        host = socket.gethostname()
        for i in range(1, self.count + 1):
            name = f"{self.prefix}{i}"
            log = self.log_dir / f"{name}.log"
            with log.open("ab") as out:
                process = subprocess.Popen(worker_command(name, env.get("LEADSYNC_CELERY_QUEUE")), env=env, stdout=out, stderr=subprocess.STDOUT,
                                           start_new_session=True)
            self.workers.append(Worker(f"{name}@{host}", process, log))
        self.wait_ready()

    def wait_ready(self, timeout_s: float = 120) -> None:
        from dagster_celery.make_app import make_app

        config = celery_config()
        app = make_app({"broker": config.get("broker"), "backend": config.get("backend", "rpc://")})
        expected = {w.name for w in self.workers}
        deadline = time.monotonic() + timeout_s
        answered: set[str] = set()
        while time.monotonic() < deadline:
            for w in self.workers:
                if w.process.poll() is not None:
                    raise RuntimeError(f"worker {w.name} exited with {w.process.returncode}: see {w.log}\n"
                                       + w.log.read_text()[-2000:])
            # only the workers not heard from yet, and back as soon as they have all answered: a ping without
            # `limit` always waits its whole timeout for replies from anyone
            waiting = sorted(expected - answered)
            answered |= {name for reply in app.control.ping(destination=waiting, timeout=1.0, limit=len(waiting))
                         for name in reply}
            if expected <= answered:
                return
        raise TimeoutError(f"workers {sorted(expected - answered)} did not answer a ping in {timeout_s:.0f}s; "
                           f"logs in {self.log_dir}")

    def by_name(self, name: str) -> Worker:
        return next(w for w in self.workers if w.name == name)

    def stop(self, grace_s: float = 20) -> None:
        """SIGTERM to every worker's process group (Celery's warm shutdown), SIGKILL to what is left of a group
        after the grace period. Waits for the whole group, not only the command: Celery's main and pool
        processes outlive `dagster-celery worker start` by a moment, and must not be left behind."""
        from leadsync.scale.serve import group_members

        for w in self.workers:
            try:
                os.killpg(w.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + grace_s
        for w in self.workers:
            try:
                w.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            while group_members(w.process.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if w.process.poll() is None or group_members(w.process.pid):
                w.kill()
        self.workers = []

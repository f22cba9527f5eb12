"""Benchmark: 1,000,000 leads through the embedded default and through the scale profile with one and two
Celery workers. On a 2-core machine the point is the overhead and that the result is the same, not speed-up.

    .venv/bin/python bench/scale_1m.py [--leads 1000000] [--modes embedded,scale1,scale2] [--steps] [--keep]

The leads arrive as two SFTP sources of half each (two CSV files on the SFTP sandbox), so that two workers
have two chains to run side by side. Each mode starts from empty stores, its clock started once the files
written so far are on disk (settle), and runs both sources' sync jobs
(pull, map + validate, route, reroute, write back): the embedded default one after the other in this process
on DuckDB; the scale profile as two concurrent runs (as the schedules would start them), each orchestrated by
its own `dagster job execute` process as Dagster's run launcher would, their steps on the workers, the store
and Dagster's storage on Postgres. Needs PostgreSQL on 127.0.0.1:5432
and RabbitMQ on 127.0.0.1:5672 for the scale modes.

Prints per mode: wall time, leads stored, assignments, and peak memory (the largest single process and the
sum over every process of the mode: this one, the workers and their pool processes), sampled from /proc; and
the CPU seconds the mode used, by whom: this process (the embedded mode's whole work, and the SFTP sandbox),
the run orchestrators (`dagster job execute`), the workers, the Postgres server (its backends, autovacuum and
background processes), the broker (RabbitMQ, Redis) and the rest of the machine. On 2 cores a mode that keeps
both busy cannot finish sooner than its CPU seconds / 2: the scale profile's bar is a budget of CPU seconds.
For a scale mode, the Postgres connections opened to the store's and to Dagster's database
(pg_stat_database.sessions; the benchmark's own few lookups included): each is a server process set up.
With --steps, each run's steps too: when each started after the mode's start and how long it took, from
Dagster's own step events, so the time between steps (a worker taking the step, loading the code location)
shows apart from the steps' work.
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from leadsync.connectors.sftp.sandbox import SftpSandbox
from leadsync.connectors.sftp.seed import write_demo_leads
from proc_stat import TICK, processes

from leadsync.store import LeadStore, tables

PASSWORD = "bench-password"
SOURCES = ("sftp_demo", "sftp_two")
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PAGE = os.sysconf("SC_PAGE_SIZE")
BROKERS = ("beam.smp", "redis-server")


class MemorySampler:
    """Peak RSS of this process and of every process in the given process groups (the workers)."""

    def __init__(self, groups: list[int] | None = None):
        self.groups = set(groups or [])
        self.peak_total = self.peak_single = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _rss(self) -> list[int]:
        found = []
        for pid, process in processes():
            if pid == os.getpid() or process.group in self.groups:
                try:
                    found.append(int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE)
                except OSError:  # ended meanwhile
                    continue
        return found

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = self._rss()
            self.peak_total = max(self.peak_total, sum(rss))
            self.peak_single = max(self.peak_single, max(rss, default=0))
            self._stop.wait(0.5)


class CpuMeter:
    """CPU seconds used between `start()` and `stop()`, by whom (see the module's docstring). Counts what the
    kernel has accounted: a process's own time and that of the children it reaped (the Postgres server's
    backends that ended, the workers' pool processes), so nothing that ran and exited in between is missed."""

    def __init__(self, groups: list[int] | None = None):
        self.groups = set(groups or [])
        self.used: dict[str, float] = {}

    def _snapshot(self) -> dict[str, float]:
        found = dict.fromkeys(("workers", "postgres", "broker"), 0.0)
        for _pid, process in processes():
            if process.group in self.groups:
                found["workers"] += process.cpu_s
            elif process.name == "postgres":
                found["postgres"] += process.cpu_s
            elif process.name in BROKERS:
                found["broker"] += process.cpu_s
        me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        found["this process"] = me.ru_utime + me.ru_stime
        found["orchestrators"] = children.ru_utime + children.ru_stime  # the runs' processes, once waited for
        # user, nice, system, (idle, iowait), irq, softirq: not steal (the host's other guests), nor guest
        # (already in user)
        user, nice, system, _idle, _iowait, irq, softirq = (
            int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8])
        found["machine"] = (user + nice + system + irq + softirq) / TICK
        return found

    def start(self) -> "CpuMeter":
        self._start = self._snapshot()
        return self

    def stop(self) -> None:
        end = self._snapshot()
        self.used = {k: end[k] - self._start[k] for k in end}
        self.used["other"] = self.used["machine"] - sum(v for k, v in self.used.items() if k != "machine")

    def line(self) -> str:
        parts = [f"{k} {self.used[k]:.1f}" for k in ("this process", "orchestrators", "workers", "postgres",
                                                     "broker", "other")]
        return f"  cpu s: {self.used['machine']:.1f} in all ({', '.join(parts)})"


def make_project(root: Path, sftp: SftpSandbox) -> Path:
    shutil.copytree(REPO / "mappings", root / "mappings")
    sources = root / "mappings/sources"
    demo = yaml.safe_load((sources / "sftp_demo.yaml").read_text())
    demo["connection"].update(port=sftp.port, known_hosts=str(sftp.write_known_hosts(root / "known_hosts")))
    (sources / "sftp_demo.yaml").write_text(yaml.safe_dump(demo, sort_keys=False))
    two = {**demo, "name": "sftp_two"}
    two["connection"] = {**demo["connection"], "folders": {"inbox": "inbox2", "processed": "processed2",
                                                          "error": "error2", "outbox": "outbox2"}}
    (sources / "sftp_two.yaml").write_text(yaml.safe_dump(two, sort_keys=False))
    return root / "mappings"


def fresh_database(name: str) -> str:
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return sa.engine.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop a database the benchmark made (its connections closed by force)."""
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{sa.engine.make_url(url).database}" WITH (FORCE)')
    admin.dispose()


def counts(store_url: str) -> tuple[int, int]:
    store = LeadStore(store_url)
    try:
        with store.begin() as conn:
            leads = conn.execute(sa.select(sa.func.count()).select_from(tables.leads)).scalar_one()
            assigned = conn.execute(sa.select(sa.func.count()).select_from(tables.assignments)).scalar_one()
        return leads, assigned
    finally:
        store.dispose()


def sessions(url: str) -> int:
    """Connections opened to `url`'s database so far (pg_stat_database.sessions): each one a server process
    forked and set up, ~3.5 ms of server CPU here."""
    name = sa.engine.make_url(url).database
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return conn.exec_driver_sql("SELECT sessions FROM pg_stat_database WHERE datname = %(d)s",
                                        {"d": name}).scalar_one()
    finally:
        admin.dispose()


def step_lines(instance, started_at: float) -> list[str]:
    """Every run's steps on `instance`: start (s after `started_at`, a wall-clock time) and duration."""
    lines = []
    for run in sorted(instance.get_runs(), key=lambda r: r.job_name):
        for stat in sorted(instance.get_run_step_stats(run.run_id), key=lambda s: s.start_time or 0):
            if stat.start_time is None or stat.end_time is None:
                continue
            lines.append(f"  {run.job_name:<16} {stat.step_key:<44} at {stat.start_time - started_at:7.1f} s"
                         f"  took {stat.end_time - stat.start_time:6.1f} s")
    return lines


def settle() -> None:
    """Before a mode's clock starts: the files written so far (the generated leads, the sandbox's copies, an
    earlier mode's DuckDB store or Postgres tables) go to disk first. Otherwise the kernel writes them back in
    the middle of the next mode (once 30 s old, vm.dirty_expire_centisecs, or past the dirty-page limits), up
    to ~1 GB of an embedded store beside the scale mode's own WAL: a mode would pay for the one before it."""
    os.sync()


def run_mode(mode: str, files: Path, work: Path, steps: bool = False, keep: bool = False) -> dict:
    """One mode's run; the databases a scale mode made are dropped however it ends (a 1M run leaves ~0.9 GB),
    unless `keep`: then their URLs are printed, to look at the store (EXPLAIN, sizes) and drop by hand."""
    made: list[str] = []
    try:
        return _run_mode(mode, files, work, steps, made)
    finally:
        for url in made:
            if keep:
                print(f"  kept {sa.engine.make_url(url).render_as_string(hide_password=False)}", flush=True)
            else:
                drop_database(url)


def _run_mode(mode: str, files: Path, work: Path, steps: bool, made: list[str]) -> dict:
    import dagster as dg

    step_report: list[str] = []

    root = work / mode
    with SftpSandbox(root / "sftp", users={"demo": PASSWORD}) as sftp:
        for i, source in enumerate(SOURCES):
            box = sftp.root / ("inbox" if i == 0 else "inbox2")
            box.mkdir(parents=True, exist_ok=True)
            shutil.copy(files / f"part{i}.csv", box / f"part{i}.csv")
        mappings = make_project(root, sftp)
        os.environ.update({"LEADSYNC_SFTP_DEMO_PASSWORD": PASSWORD, "LEADSYNC_MAPPINGS_DIR": str(mappings),
                           "LEADSYNC_LIFECYCLE_SECRET": "bench"})
        if mode == "embedded":
            from leadsync.defs.build import build_definitions

            os.environ.pop("LEADSYNC_PROFILE", None)
            store_url = f"duckdb:///{root / 'leadsync.duckdb'}"
            defs = build_definitions(mappings, store_url)
            settle()
            started, started_at = time.perf_counter(), time.time()
            cpu = CpuMeter().start()
            with dg.DagsterInstance.ephemeral() as instance, MemorySampler() as mem:
                ok = all(defs.resolve_job_def(f"{s}_sync").execute_in_process(raise_on_error=False,
                                                                              instance=instance).success
                         for s in SOURCES)
                took = time.perf_counter() - started
                cpu.stop()
                step_report = step_lines(instance, started_at) if steps else []
        else:
            from leadsync.runs.workers import Workers
            from leadsync.scale.profile import SCALE_HOME

            n = int(mode.removeprefix("scale"))
            tag = uuid.uuid4().hex[:6]
            store_url = fresh_database(f"leadsync_bench_{tag}")
            dagster_url = sa.engine.make_url(fresh_database(f"leadsync_bench_dagster_{tag}")) \
                .set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
            made += [store_url, dagster_url]
            home = root / "dagster_home"
            home.mkdir(parents=True)
            shutil.copy(SCALE_HOME / "dagster.yaml", home / "dagster.yaml")
            env = {"LEADSYNC_PROFILE": "scale", "LEADSYNC_STORE_URL": store_url, "DAGSTER_HOME": str(home),
                   "LEADSYNC_DAGSTER_PG_URL": dagster_url, "LEADSYNC_CELERY_QUEUE": f"leadsync-bench-{tag}"}
            os.environ.update(env)
            with Workers(n, {**env, "LEADSYNC_MAPPINGS_DIR": str(mappings)}, root / "workers") as workers:
                from leadsync.defs.build import build_definitions
                from leadsync.runs.executors import pools_of, set_pool_limits

                with dg.DagsterInstance.from_config(str(home)) as instance:
                    set_pool_limits(instance, pools_of(build_definitions(mappings)))
                settle()
                started, started_at = time.perf_counter(), time.time()
                cpu = CpuMeter([w.process.pid for w in workers.workers]).start()
                # each run orchestrated by its own process, as Dagster's run launcher does: `dagster job execute`
                runs = [subprocess.Popen([str(Path(sys.executable).parent / "dagster"), "job", "execute", "-m",
                                          "leadsync.definitions", "-j", f"{s}_sync"],
                                         env={**os.environ, **env}, cwd=REPO, start_new_session=True,
                                         stdout=subprocess.DEVNULL, stderr=(root / f"{s}.log").open("w"))
                        for s in SOURCES]
                with MemorySampler([w.process.pid for w in workers.workers] + [r.pid for r in runs]) as mem:
                    codes = [r.wait() for r in runs]
                took = time.perf_counter() - started
                cpu.stop()
                ok = codes == [0] * len(codes)
                if steps:
                    with dg.DagsterInstance.from_config(str(home)) as instance:
                        step_report = step_lines(instance, started_at)
        leads, assigned = counts(store_url)
        if mode != "embedded":
            step_report.insert(0, "  postgres connections opened: " + ", ".join(
                f"{what} {sessions(url):,}" for what, url in (("store", store_url), ("dagster", dagster_url))))
    return {"cpu": cpu.line(), "steps": step_report, "mode": mode, "ok": ok, "seconds": took, "leads": leads,
            "assigned": assigned, "peak_single_mib": mem.peak_single / 2**20, "peak_total_mib": mem.peak_total / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--modes", default="embedded,scale1,scale2")
    parser.add_argument("--steps", action="store_true", help="print each run's steps: start and duration")
    parser.add_argument("--keep", action="store_true", help="keep a scale mode's databases (their URLs are printed)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="leadsync-scale-bench-"))
    try:
        files = work / "files"
        files.mkdir()
        half = args.leads // 2
        for i in range(2):
            write_demo_leads(files / f"part{i}.csv", half, seed=100 + i)
        print(f"scale benchmark: {2 * half:,} leads in two SFTP sources, {os.cpu_count()} cores", flush=True)
        print(f"{'mode':<10} {'ok':<5} {'seconds':>8} {'leads':>10} {'assigned':>10} "
              f"{'peak process MiB':>17} {'peak all MiB':>13}", flush=True)
        for mode in args.modes.split(","):
            r = run_mode(mode.strip(), files, work, args.steps, args.keep)
            print(f"{r['mode']:<10} {r['ok']!s:<5} {r['seconds']:8.1f} {r['leads']:>10,} {r['assigned']:>10,} "
                  f"{r['peak_single_mib']:17,.0f} {r['peak_total_mib']:13,.0f}", flush=True)
            print(r["cpu"], flush=True)
            for line in r["steps"]:
                print(line, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""`leadsync demo` (`make demo`): every bundled sandbox, seeded; the whole graph; a summary per source.

1. Sandboxes (leadsync/sandboxes.py): every source in mappings/sources/ that points at loopback gets its
   vendor's sandbox on the port its YAML names (SFTP, Salesforce, Marketo, Eloqua), seeded with realistic
   leads, campaigns and activities; a partner whose CRM points at loopback gets a Salesforce org of its own;
   partner emails go to the SMTP sandbox. The SFTP inbox gets a fresh drop of files (one with bad rows, one
   without an Email column).
2. The `leadsync` job: pull, map and validate, route, deliver, write back, reports, every source.
3. The partners at work: the CRM-connected partner works some of its new leads in its own CRM (contacted,
   one converted with an opportunity), then the `partner_crm` job runs as its schedule would: those changes
   come back as lifecycle events and every source's writeback carries them (and the acceptances of step 2)
   to the source.
4. The summary (leadsync/reports/run_summary.py): a table per source.

Dagster's event log goes to the instance (see it in the UI); the terminal gets a progress bar per stage.
`--verbose` prints Dagster's log as well.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from leadsync.connectors.sftp.sandbox import SftpSandbox
from leadsync.connectors.smtp_sandbox import SmtpSandbox
from leadsync.config.loader import ProjectPaths
from leadsync.sandboxes import (  # noqa: F401 - drop_demo_files: re-exported for older callers
    Sandboxes,
    Started,
    drop_demo_files,
    drop_into_sftp_sources,
    start_sandboxes,
)

# The order stages run in, and which steps (by the asset key's last part) belong to each.
STAGES = (
    ("pull", ("raw_rows",)),
    ("map + validate", ("leads",)),
    ("route", ("assignments", "reroutes")),
    ("deliver", ("deliveries", "crm_deliveries", "crm_updates", "leaderboard")),
    ("write back", ("writeback",)),
    ("reports", ()),
)
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
VENDOR_LABEL = {"sftp": "SFTP", "salesforce": "Salesforce", "marketo": "Marketo", "eloqua": "Eloqua",
                "partner_crm": "Salesforce (partner CRM)", "smtp": "SMTP"}


def sandbox_dir(paths: ProjectPaths) -> Path:
    """Under the project's dagster_home/, where the demo YAML's known_hosts points (relative to the project),
    whichever Dagster instance runs (the scale profile's lives in dagster_home/scale/)."""
    return paths.root / "dagster_home" / "sftp_sandbox"


def start_sandbox(paths: ProjectPaths, port: int, password: str) -> SftpSandbox:
    """The demo source's SFTP server alone (`leadsync sandbox`), with a host key that persists across runs and
    a known_hosts file where the demo YAML expects it."""
    base = sandbox_dir(paths)
    (base / "root").mkdir(parents=True, exist_ok=True)
    sandbox = SftpSandbox(base / "root", users={"demo": password}, host_key_path=base / "host_key", port=port)
    sandbox.start()
    sandbox.write_known_hosts(base / "known_hosts")
    return sandbox


def start_mail_sandbox(paths: ProjectPaths, port: int) -> SmtpSandbox:
    """The demo's mail server: partner notification emails land as .eml files under dagster_home."""
    return SmtpSandbox(sandbox_dir(paths).parent / "mail_sandbox", port=port).start()


def stage_of(step_key: str) -> str:
    """The stage a step of the job belongs to (its asset key's last part), e.g. 'sftp_demo__leads' → map."""
    last = step_key.split("__")[-1]
    if step_key.startswith("reports__"):
        return "reports"
    if last.endswith(("_connection_ok", "_configuration_valid")):
        return "pull"
    return next((name for name, parts in STAGES if last in parts), "reports")


# ---------------------------------------------------------------------------------------------- quiet output


@contextmanager
def quiet(verbose: bool):
    """Without --verbose: Python warnings and library log lines stay off the terminal (Dagster's event log
    still goes to the instance)."""
    if verbose:
        yield
        return
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            root.setLevel(before)


def start_all(console: Console, paths: ProjectPaths, leads: int, seed: int, fresh: bool,
              state_dir: Path | None = None) -> Sandboxes:
    """Start the sandboxes with a line each, and drop the SFTP files."""
    def started(s: Started) -> None:
        label = VENDOR_LABEL.get(s.kind, s.kind)
        console.print(f"  [green]✓[/] {label:<24} [bold]{s.name}[/] on {s.url}" + (f"  {s.holds}" if s.holds else ""))

    console.print("[bold]Starting the sandboxes[/] (seeding the empty ones)")
    with console.status("starting…"):
        running = start_sandboxes(paths, leads=leads, seed=seed, fresh=fresh, state_dir=state_dir,
                                  on_start=started)
    files = drop_into_sftp_sources(paths, running, leads, seed)
    if files:
        console.print(f"  [green]✓[/] dropped {len(files)} files into the SFTP inbox: "
                      + ", ".join(f.name for f in files))
    return running


# ---------------------------------------------------------------------------------------------- runs


@dataclass
class RunOutcome:
    job: str
    run_id: str
    success: bool
    seconds: float
    failed_steps: list[str]
    result: object


def run_job(console: Console, defs, job_name: str, instance, verbose: bool, title: str) -> RunOutcome:
    """Execute `job_name` in process with a progress bar per stage, fed from the run's event log."""
    import dagster as dg
    from dagster._core.utils import make_new_run_id

    job = defs.resolve_job_def(job_name)
    steps = [node.name for node in job.graph.nodes]
    per_stage = Counter(stage_of(s) for s in steps)
    run_id = make_new_run_id()
    done: set[str] = set()
    failed: list[str] = []
    console.print(f"[bold]{title}[/]  (run {run_id[:8]}; its log is in the instance: `dagster dev` shows it)")
    columns = (TextColumn("  {task.description:<16}"), BarColumn(bar_width=30), MofNCompleteColumn(),
               TextColumn("{task.fields[now]}"), TimeElapsedColumn())
    started_at = time.perf_counter()
    with Progress(*columns, console=console, transient=False, disable=verbose) as progress:
        tasks = {name: progress.add_task(name, total=per_stage[name], now="", start=False)
                 for name, _ in STAGES if per_stage.get(name)}
        stop = threading.Event()

        def follow() -> None:
            types = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS,
                     dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.STEP_SKIPPED}
            while not stop.wait(0.25):
                _update(instance, run_id, types, tasks, progress, done, failed)

        follower = threading.Thread(target=follow, name="demo-progress", daemon=True)
        follower.start()
        try:
            result = job.execute_in_process(instance=instance, run_id=run_id, raise_on_error=False,
                                            run_config=None if verbose else QUIET_RUN_CONFIG)
        finally:
            stop.set()
            follower.join(timeout=5)
        _update(instance, run_id, None, tasks, progress, done, failed)
    return RunOutcome(job_name, run_id, result.success, time.perf_counter() - started_at, failed, result)


def _update(instance, run_id, types, tasks, progress, done, failed) -> None:
    import dagster as dg

    try:
        records = instance.all_logs(run_id)
    except Exception:  # noqa: BLE001 - the storage being written this instant: read again next tick
        return
    running: dict[str, list[str]] = {}
    for record in records:
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        stage = stage_of(event.step_key)
        if stage not in tasks:
            continue
        kind = event.event_type
        if kind == dg.DagsterEventType.STEP_START:
            running.setdefault(stage, []).append(event.step_key)
            if next(t for t in progress.tasks if t.id == tasks[stage]).start_time is None:
                progress.start_task(tasks[stage])  # the stage's clock runs from its first step
        elif kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE,
                      dg.DagsterEventType.STEP_SKIPPED):
            running.get(stage, []).remove(event.step_key) if event.step_key in running.get(stage, []) else None
            if event.step_key not in done:
                done.add(event.step_key)
                progress.advance(tasks[stage])
                if kind == dg.DagsterEventType.STEP_FAILURE:
                    failed.append(event.step_key)
    for stage, task in tasks.items():
        now = running.get(stage) or []
        bad = [s for s in failed if stage_of(s) == stage]
        text = ("[red]failed: " + ", ".join(bad) + "[/] ") if bad else ""
        text += ("now: " + ", ".join(s.split("__")[0] for s in now)) if now else ""
        progress.update(task, now=text)


# ---------------------------------------------------------------------------------------------- partners at work


def partners_at_work(running: Sandboxes, store, share: float = 0.3) -> str | None:
    """The CRM-connected partners work some of the leads leadsync created in their CRMs, as their reps would:
    about `share` of them contacted, one converted with an opportunity. Returns a line saying what was done."""
    import sqlalchemy as sa

    from leadsync.partner_crm import tables as crm_tables

    done = []
    t = crm_tables.partner_crm_leads
    for crm in running.of_kind("partner_crm"):
        org = crm.server
        with store.begin() as conn:
            crm_tables.ensure_tables(conn)
            ids = [r for (r,) in conn.execute(sa.select(t.c.record_id).where(
                t.c.partner_id == crm.name, t.c.state == "delivered", t.c.record_id.is_not(None))
                .order_by(t.c.lead_id))]
        if not ids:
            continue
        statuses = list(org.schema.object("Lead").field("Status").picklist_values or ())

        def status(word: str, default: str, statuses: list[str] = statuses) -> str:
            return next((s for s in statuses if word in s.lower() and "not" not in s.lower()), default)

        untouched = [i for i in ids if _untouched(org.get("Lead", i))]  # a --keep run: not the same leads again
        if not untouched:
            continue
        worked = untouched[: max(1, int(len(ids) * share))]
        for record_id in worked[1:]:
            org.update("Lead", record_id, {"Status": status("contacted", "Working - Contacted")})
        close = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 60 * 86400))
        org.convert_lead(worked[0], {"Name": "Firewall refresh", "StageName": "Qualification", "CloseDate": close,
                                     "Amount": 48000}, converted_status=status("converted", "Closed - Converted"))
        done.append(f"{crm.name}: {len(worked) - 1} leads contacted, 1 converted with an opportunity")
    return "; ".join(done) or None


def _untouched(lead: dict | None) -> bool:
    """A lead in the partner's CRM nobody has worked yet: open, not contacted, not converted."""
    if not lead or lead.get("IsDeleted") or lead.get("IsConverted"):
        return False
    status = (lead.get("Status") or "").lower()
    return "not contacted" in status or status in ("", "open", "new")


# ---------------------------------------------------------------------------------------------- the demo


def reset_store(console: Console) -> None:
    """The demo's own store (the DuckDB file under $DAGSTER_HOME) starts empty, as the sandboxes do."""
    import sqlalchemy as sa

    from leadsync.store.engine import default_store_url

    database = sa.engine.make_url(default_store_url()).database
    for path in (Path(database), Path(f"{database}.wal")):
        path.unlink(missing_ok=True)


def run_demo(mappings: str | None, leads: int, seed: int, keep: bool, verbose: bool,
             console: Console | None = None) -> int:
    import os

    import dagster as dg

    from leadsync.config import load_partners, load_source, source_files
    from leadsync.config.loader import project_paths
    from leadsync.defs.build import build_definitions
    from leadsync.reports.run_summary import render, summarise
    from leadsync.sandboxes import SandboxSetupError
    from leadsync.store import LeadStore

    console = console or Console()
    paths = project_paths(mappings)
    fresh = not keep
    if fresh and os.environ.get("LEADSYNC_STORE_URL"):
        console.print("[yellow]LEADSYNC_STORE_URL is set: the demo keeps that store, and the sandboxes' data with "
                      "it (as with --keep)[/]")
        fresh = False
    if fresh:
        reset_store(console)
    started = time.perf_counter()
    with quiet(verbose):
        try:
            running = start_all(console, paths, leads, seed, fresh)
        except SandboxSetupError as exc:
            console.print(f"[red]leadsync demo: {exc}[/]")
            return 2
        with running:
            defs = build_definitions(mappings)
            with dg.DagsterInstance.get() as instance:
                runs = [run_job(console, defs, "leadsync", instance, verbose,
                                "Running the whole graph: job leadsync")]
                worked = partners_at_work(running, LeadStore())
                if worked:
                    console.print(f"[bold]The partners at work[/] in their own CRM: {worked}")
                runs.append(run_job(console, defs, "partner_crm", instance, verbose,
                                    "A schedule tick later: job partner_crm (partner CRMs in and out, write-backs)"))
            store = LeadStore()
            configs = [load_source(f) for f in source_files(paths)]
            names = {p.id: p.name for p in load_partners(paths.partners_file).partners}
            console.print()
            console.print("[bold]leadsync demo: where every source's leads stand[/]")
            for table in render(summarise(store, configs), names):
                console.print(table)
            mail = running.of_kind("smtp")
            if mail:
                console.print(f"Partner emails: {mail[0].server.folder} (.eml files)")
            for run in runs:
                state = "[green]succeeded[/]" if run.success else "[red]FAILED[/] (" + ", ".join(run.failed_steps) + ")"
                console.print(f"run {run.run_id} ({run.job}) {state} in {run.seconds:.1f}s")
            console.print(f"store: {_safe(store.url)}; sandboxes' data in {running_dir()}; "
                          f"{time.perf_counter() - started:.0f}s in all")
            console.print("See it in the UI: DAGSTER_HOME=$PWD/dagster_home .venv/bin/dagster dev  "
                          "(then open http://127.0.0.1:3000)")
            return 0 if all(r.success for r in runs) else 1


def running_dir() -> Path:
    from leadsync.sandboxes import default_state_dir

    return default_state_dir()


def _safe(url: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)

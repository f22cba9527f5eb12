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

Dagster's event log goes to the instance (see it in the UI); the terminal gets a progress bar per stage
(leadsync/runs/in_process.py runs the jobs). `--verbose` prints Dagster's log as well.
"""

from __future__ import annotations

import logging
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from leadsync.config.loader import ProjectPaths
from leadsync.connectors.sftp.sandbox import SftpSandbox
from leadsync.connectors.smtp_sandbox import SmtpSandbox
from leadsync.sandboxes import (  # noqa: F401 - drop_demo_files: re-exported for older callers
    Sandboxes,
    Started,
    drop_demo_files,
    drop_into_sftp_sources,
    start_sandboxes,
)

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

    from leadsync.config import load_partners, load_source, source_files
    from leadsync.config.loader import project_paths
    from leadsync.reports.run_summary import render, summarise
    from leadsync.runs.in_process import job_runner
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
            with job_runner(console, mappings, verbose) as run:
                runs = [run("leadsync", "Running the whole graph: job leadsync")]
                worked = partners_at_work(running, LeadStore())
                if worked:
                    console.print(f"[bold]The partners at work[/] in their own CRM: {worked}")
                runs.append(run("partner_crm",
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
            console.print(f"Dagster instance: {os.environ.get('DAGSTER_HOME')}. See it in the UI: "
                          f"leadsync --mappings {paths.mappings} dev  (then open http://127.0.0.1:3000; the UI "
                          f"needs the dagster-webserver package)")
            return 0 if all(r.success for r in runs) else 1


def running_dir() -> Path:
    from leadsync.sandboxes import default_state_dir

    return default_state_dir()


def _safe(url: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)

"""leadsync command line: pull supplier leads, route them to channel partners, deliver them and write the
outcomes back. `leadsync <command> --help` describes each command."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from dotenv import load_dotenv

from leadsync.config.loader import project_paths


def _env(paths) -> None:
    load_dotenv(paths.root / ".env", override=False)
    os.environ.setdefault("DAGSTER_HOME", str(paths.root / "dagster_home"))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)


@contextmanager
def _demo_sandboxes(paths, leads: int, seed: int | None):
    """Every bundled sandbox the project's YAML points at (leadsync/sandboxes.py), kept across runs under
    $DAGSTER_HOME/sandboxes and seeded when empty, with a fresh drop of files in the SFTP inbox; yields the
    SMTP sandbox (its folder keeps the emails; None when mail goes elsewhere) and stops them all afterwards."""
    from rich.console import Console

    from leadsync.demo import start_all

    with start_all(Console(), paths, leads, seed or 0, fresh=False) as running:
        mail = running.of_kind("smtp")
        yield mail[0].server if mail else None


def _print_run(result, elapsed: float, mail, where: str) -> None:
    from rich.console import Console

    from leadsync.config import load_partners, load_source, source_files
    from leadsync.config.loader import project_paths
    from leadsync.reports.run_summary import render, summarise
    from leadsync.store import LeadStore

    paths, console, store = project_paths(), Console(), LeadStore()
    names = {p.id: p.name for p in load_partners(paths.partners_file).partners}
    for table in render(summarise(store, [load_source(f) for f in source_files(paths)]), names):
        console.print(table)
    if mail is not None:
        console.print(f"Partner emails: {mail.folder} (.eml files)")
    print(f"run {result.run_id} {'succeeded' if result.success else 'FAILED'} in {elapsed:.1f}s{where}; "
          f"store: {sa_safe(store.url)}")


def cmd_demo(args: argparse.Namespace) -> int:
    from leadsync.demo import run_demo

    paths = project_paths(args.mappings)
    _env(paths)
    print(f"project: {paths.root} (mappings/ and .env); Dagster instance: DAGSTER_HOME={os.environ['DAGSTER_HOME']}",
          flush=True)
    return run_demo(args.mappings, args.leads, args.seed, args.keep, args.verbose)


def cmd_init(args: argparse.Namespace) -> int:
    """`leadsync init [DIR]`: a starter project (leadsync/starter_project.py) written into DIR."""
    from leadsync.starter_project import StarterError, write_starter

    try:
        done = write_starter(Path(args.dir), force=args.force)
    except StarterError as exc:
        print(f"leadsync init: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(done.written)} files into {done.target}:")
    for file in done.written:
        print(f"  {file}")
    here = "" if done.target == Path.cwd().resolve() else f"cd {done.target} && "
    print(f"next: {here}leadsync demo (the bundled sandboxes, seeded, and a run of every source); "
          f"`leadsync check` validates the YAML as you edit it")
    return 0


def _mappings_dir(args: argparse.Namespace) -> str | None:
    """The project a command works on: --mappings, else $LEADSYNC_MAPPINGS_DIR, else ./mappings, else (run from
    a source checkout) the repository's. With none of them, `leadsync demo` runs on the starter project in a
    folder of its own under the temp directory; any other command stops, saying how to make a project."""
    import tempfile

    from leadsync.starter_project import StarterError, write_starter

    chosen = args.mappings or os.environ.get("LEADSYNC_MAPPINGS_DIR")
    if chosen:
        return chosen
    if Path("mappings").is_dir():
        return str(Path("mappings").resolve())
    checkout = project_paths().mappings
    if checkout.is_dir():
        return str(checkout)
    if args.command == "demo":
        folder = Path(tempfile.gettempdir()) / f"leadsync-demo-{os.getuid()}"
        try:
            if not (folder / "mappings").is_dir() or not args.keep:
                write_starter(folder, force=True)
        except (StarterError, OSError) as exc:
            raise SystemExit(f"leadsync demo: no mappings/ in {Path.cwd()}, and the starter project could not be "
                             f"written to {folder}: {exc}; run `leadsync init` in an empty folder and the demo there")
        print(f"no mappings/ in {Path.cwd()}: the demo runs on the starter project in {folder} "
              f"(`leadsync init` writes one into this folder)", flush=True)
        return str(folder / "mappings")
    raise SystemExit(f"leadsync {args.command}: no mappings/ folder in {Path.cwd()}: run `leadsync init` to write a "
                     f"starter project here, or name one with --mappings DIR (or $LEADSYNC_MAPPINGS_DIR)")


def cmd_scale(args: argparse.Namespace) -> int:
    """The demo on the scale profile: Postgres, RabbitMQ, Celery workers (see leadsync/scale/local.py).
    SIGTERM, SIGINT (Ctrl-C) or SIGHUP stops everything it started (leadsync/scale/serve.py)."""
    from leadsync.scale.local import ensure_databases, scale_environment
    from leadsync.scale.serve import stop_on_signals, stop_with_parent

    paths = project_paths(args.mappings)
    load_dotenv(paths.root / ".env", override=False)
    env = scale_environment()
    os.environ.update(env)
    if args.mappings:
        os.environ["LEADSYNC_MAPPINGS_DIR"] = str(Path(args.mappings).resolve())
    with stop_on_signals():
        try:
            stop_with_parent()
            ensure_databases(env)
            return _scale(args, paths, env)
        except KeyboardInterrupt as stop:
            print(f"leadsync scale: stopped ({stop or 'interrupted'}); the workers, sandboxes"
                  f"{' and dagster dev' if args.serve else ''} it started are stopped", flush=True)
            return 130


def _scale(args: argparse.Namespace, paths, env: dict[str, str]) -> int:
    from leadsync.runs.on_workers import run_on_workers, was_interrupted
    from leadsync.runs.workers import Workers
    from leadsync.scale.local import format_pending, pending_writeback
    from leadsync.scale.serve import ProcessGroup
    from leadsync.store import LeadStore

    with _demo_sandboxes(paths, args.leads, args.seed) as mail, \
            Workers(args.workers, env, Path(env["DAGSTER_HOME"]) / "workers") as workers:
        print(f"{args.workers} Celery workers up: {', '.join(w.name for w in workers.workers)} "
              f"(logs in {workers.log_dir})", flush=True)
        success = True
        if args.run:
            started = time.perf_counter()
            result = run_on_workers()  # on the instance of $DAGSTER_HOME (the scale one)
            if was_interrupted(result):  # Dagster took the signal during the run: stop here as well
                raise KeyboardInterrupt("a stop signal during the run")
            _print_run(result, time.perf_counter() - started, mail, " on the workers")
            store = LeadStore()
            try:
                print(format_pending(pending_writeback(store)), flush=True)
            finally:
                store.dispose()
            success = result.success
        if args.serve:
            print(f"Dagster UI and daemon on http://127.0.0.1:{args.port} (Ctrl-C, or SIGTERM to pid {os.getpid()}, "
                  "stops everything)", flush=True)
            with ProcessGroup([str(Path(sys.executable).parent / "dagster"), "dev", "-m", "leadsync.definitions",
                               "-h", "127.0.0.1", "-p", str(args.port)]) as dev:
                dev.wait()
        return 0 if success else 1


def sa_safe(url: str) -> str:
    """A database URL without its password, for printing."""
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _smtp_port(paths) -> int:
    from leadsync.lifecycle.settings import load_settings

    return load_settings(paths.mappings / "lifecycle.yaml").smtp.port


def cmd_web(args: argparse.Namespace) -> int:
    from leadsync.config import ConfigError
    from leadsync.console.config import load_console
    from leadsync.lifecycle.context import load_lifecycle
    from leadsync.lifecycle.web import serve
    from leadsync.scale.serve import stop_with_parent
    from leadsync.store import LeadStore

    paths = project_paths(args.mappings)
    _env(paths)
    try:
        console = load_console(paths)
    except ConfigError as exc:
        print(f"leadsync web: {exc}", file=sys.stderr)
        return 2
    ctx = load_lifecycle(paths, LeadStore(args.store))
    print(f"partner-response app on http://{ctx.settings.web.host}:{ctx.settings.web.port} "
          f"(links in emails start with {ctx.settings.web.base_url}); Ctrl-C stops it")
    stop_with_parent()  # `make web`: a signal to make's PID stops the app as well (uvicorn stops on SIGTERM)
    serve(ctx, console=console)
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    if args.vendors:
        return _vendor_sandboxes(args)
    from leadsync import pipeline
    from leadsync.demo import start_mail_sandbox, start_sandbox
    from leadsync.scale.serve import stop_on_signals, stop_with_parent

    paths = project_paths(args.mappings)
    _env(paths)
    cfg = pipeline.source_config(paths, "sftp_demo")
    sandbox = start_sandbox(paths, cfg.connection.port, os.environ[cfg.connection.password_env])
    mail = start_mail_sandbox(paths, _smtp_port(paths))
    print(f"SFTP sandbox serving {sandbox.root} on {sandbox.host}:{sandbox.port}; SMTP sandbox on "
          f"{mail.host}:{mail.port} keeping mail in {mail.folder} (Ctrl-C stops them)")
    try:
        with stop_on_signals():  # SIGTERM too stops the sandboxes cleanly
            stop_with_parent()  # `make sandbox`: a signal to make's PID stops the sandboxes as well
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        mail.stop()
        sandbox.stop()


def _vendor_sandboxes(args: argparse.Namespace) -> int:
    """`leadsync sandbox salesforce marketo eloqua` (or `all`): the vendor emulators on fixed ports, for any
    client; see the README's "Pointing another tool at the sandboxes"."""
    from leadsync.sandboxes import (
        VENDOR_HOST_ADDRESSES,
        VENDOR_HOST_NAMES,
        SandboxSetupError,
        start_standalone,
    )
    from leadsync.scale.serve import stop_on_signals, stop_with_parent

    unknown = [v for v in args.vendors if v not in (*VENDOR_HOST_ADDRESSES, "all")]
    if unknown:
        print(f"leadsync sandbox: unknown vendor {unknown[0]!r}; use salesforce, marketo, eloqua or all",
              file=sys.stderr)
        return 2
    vendors = list(VENDOR_HOST_ADDRESSES) if "all" in args.vendors else list(dict.fromkeys(args.vendors))
    state = Path(args.state_dir or Path(os.environ.get("DAGSTER_HOME") or "dagster_home") / "sandboxes" /
                 "standalone").resolve()

    def show(started) -> None:
        lines = started.holds.split("\n")
        print(f"{started.kind}: {started.url}  ({lines[0]})")
        for line in lines[1:]:
            print(f"  {line}")

    try:
        running = start_standalone(vendors, state, leads=args.seed_leads, seed=args.seed, tls=args.tls,
                                   vendor_hosts=args.vendor_hosts, on_start=show)
    except SandboxSetupError as exc:
        print(f"leadsync sandbox: {exc}", file=sys.stderr)
        return 2
    with running:
        if args.tls:
            ca = state / "tls" / "sandbox-ca.pem"
            print(f"CA certificate: {ca}  (trust it: REQUESTS_CA_BUNDLE={ca}, curl --cacert, or the OS store)")
        if args.vendor_hosts:
            print("hosts-file lines (e.g. /etc/hosts), so clients that hard-code the vendors' hosts land here:")
            for vendor in vendors:
                print(f"  {VENDOR_HOST_ADDRESSES[vendor]}  {' '.join(VENDOR_HOST_NAMES[vendor])}")
        print(f"state kept in {state} (Ctrl-C stops)", flush=True)
        try:
            with stop_on_signals():
                stop_with_parent()
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from leadsync import pipeline
    from leadsync.config import ConfigError, load_partners
    from leadsync.lifecycle.waiting import waiting_summary
    from leadsync.store import LeadStore

    paths = project_paths(args.mappings)
    _env(paths)
    store = LeadStore(args.store)
    totals = pipeline.summary(store)
    try:
        partners = load_partners(paths.partners_file)
    except (ConfigError, OSError):
        partners = None  # the counts stand; the reasons cannot name missing recipients
    totals["waiting_per_partner"] = waiting_summary(store, partners)
    print(json.dumps(totals, indent=2))
    return 0


def _sources(paths, only: str | None) -> list[str]:
    from leadsync.config.loader import source_files

    names = [f.stem for f in source_files(paths)]
    if only and only not in names:
        raise SystemExit(f"no source '{only}' under {paths.sources_dir}; sources: {', '.join(names)}")
    return [only] if only else names


def cmd_route(args: argparse.Namespace) -> int:
    from leadsync import pipeline
    from leadsync.config import ConfigError, load_partners
    from leadsync.routing.explain import dry_run, format_dry_run
    from leadsync.store import LeadStore

    paths = project_paths(args.mappings)
    _env(paths)
    store = LeadStore(args.store)
    try:
        if args.dry_run:
            changed = load_partners(Path(args.rules)) if args.rules else load_partners(paths.partners_file)
            current = load_partners(paths.partners_file)
            configs = [pipeline.source_config(paths, s) for s in _sources(paths, args.source)]
            frame = dry_run(store, configs, current, changed)
            if args.out:
                frame.to_csv(args.out, index=False)
                print(f"every lead written to {args.out}")
            print(format_dry_run(frame, show_all=args.all, limit=args.limit or None))
            return 0
        for source in _sources(paths, args.source):
            report = pipeline.route_leads(paths, store, source)
            print(f"{source}: {report.decided} routed ({report.unassigned} unassigned, "
                  f"{report.needs_review} for review); by step: {dict(report.per_step)}")
        return 0
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2


def cmd_reroute(args: argparse.Namespace) -> int:
    from leadsync import pipeline
    from leadsync.store import LeadStore

    paths = project_paths(args.mappings)
    _env(paths)
    store = LeadStore(args.store)
    for source in _sources(paths, args.source):
        report = pipeline.reroute(paths, store, source)
        print(f"{source}: {report.withdrawn} withdrawn; rerouted to partners: {dict(report.per_partner)}; "
              f"unassigned: {report.unassigned}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from leadsync.routing.explain import explain
    from leadsync.store import LeadStore

    paths = project_paths(args.mappings)
    _env(paths)
    text = explain(LeadStore(args.store), args.lead)
    print(text)
    for line in _portal_settings(paths, args.store, _current_partner(args.store, args.lead)):
        print(line)
    return 1 if text.endswith("is not in the store") else 0


def _current_partner(store_url: str | None, lead_id: str) -> str | None:
    import sqlalchemy as sa

    from leadsync.store import LeadStore, tables

    with LeadStore(store_url).begin() as conn:
        rows = conn.execute(sa.select(tables.assignments.c.partner_id)
                            .where(tables.assignments.c.lead_id == lead_id)).all()
    return rows[0][0] if rows else None


def _portal_settings(paths, store_url: str | None, partner_id: str | None = None, every: bool = False) -> list[str]:
    """Partner settings changed in the partner portal, laid over partners.yaml (leadsync/portal/overrides.py)."""
    from leadsync.config import ConfigError, load_partners
    from leadsync.lifecycle.context import lifecycle_file
    from leadsync.lifecycle.settings import load_settings
    from leadsync.portal.overrides import stored_lines

    if partner_id is None and not every:
        return []
    try:
        partners = load_partners(paths.partners_file)
        portal = load_settings(lifecycle_file(paths)).portal
    except ConfigError:  # `leadsync check` reports it
        return []
    lines = stored_lines(store_url, partners, portal, partner_id)
    return ["partner settings changed in the portal (over partners.yaml):", *(f"  {x}" for x in lines)] if lines else []


def cmd_manual(args: argparse.Namespace) -> int:
    from leadsync.config import load_partners
    from leadsync.pipeline import now_utc
    from leadsync.routing.manual import ManualAssignmentError, assign_by_hand, withdraw_by_hand
    from leadsync.store import LeadStore

    paths = project_paths(args.mappings)
    _env(paths)
    partners = load_partners(paths.partners_file)
    store = LeadStore(args.store)
    try:
        if args.command == "assign":
            result = assign_by_hand(store, partners, args.lead, args.partner, now_utc(), rep_email=args.rep,
                                    reason=args.reason, actor=args.by)
        else:
            result = withdraw_by_hand(store, partners, args.lead, now_utc(), reason=args.reason, actor=args.by)
    except ManualAssignmentError as exc:
        print(f"leadsync {args.command}: {exc}", file=sys.stderr)
        return 2
    print(f"lead {result.lead_id} {result.action}: {result.previous_partner_id or '-'} → {result.partner_id or '-'} "
          f"(version {result.version}; written back on the next writeback run)")
    return 0


def cmd_add_lead(args: argparse.Namespace) -> int:
    from leadsync.config import ConfigError
    from leadsync.pull.manual_entry import ManualEntryError, add_lead, parse_field_args
    from leadsync.store import LeadStore

    paths = project_paths(args.mappings)
    _env(paths)
    _sources(paths, args.source)  # an unknown name stops here, listing the sources
    try:
        values = parse_field_args(args.field or [], args.json)
        entry = add_lead(paths, LeadStore(args.store), args.source, values, args.by, write_back=args.write_back)
    except (ManualEntryError, ConfigError) as exc:
        print(f"leadsync add-lead: {exc}", file=sys.stderr)
        return 2
    if entry.lead_id is None:
        print(f"leadsync add-lead: the lead was quarantined ({entry.origin}): {entry.reason}", file=sys.stderr)
        return 1
    where = f"partner {entry.partner_id}" if entry.partner_id else "no partner"
    print(f"lead {entry.lead_id} entered in {entry.source} ({entry.origin}): {entry.status or 'not routed'}, "
          f"{where}" + ("; written back" if entry.written_back else "; written back on the next writeback run")
          + (f"; record {entry.record_id} created in {entry.source}" if entry.record_id else ""))
    if entry.write_back_error:
        print(f"leadsync add-lead: {entry.write_back_error}", file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from leadsync.reports.export import REPORTS, export_report, mapped_fields, partner_names
    from leadsync.reports.options import ReportError
    from leadsync.store import LeadStore

    paths = project_paths(args.mappings)
    _env(paths)
    if args.name == "list":
        for report in REPORTS.values():
            print(f"{report.name:<28} {report.description}")
        return 0
    try:
        written = export_report(LeadStore(args.store), args.name, args.out, group_by=args.group_by,
                                partner_names=partner_names(args.mappings), date_from=args.date_from,
                                date_to=args.date_to, filters=args.filter, fields=mapped_fields(args.mappings))
    except ReportError as exc:
        print(f"leadsync report: {exc}", file=sys.stderr)
        return 2
    if args.out and args.out != "-":
        print(f"{args.name} written to {written}", file=sys.stderr)
    return 0


def cmd_store(args: argparse.Namespace) -> int:
    from leadsync.store.migrate import migrate

    report = migrate(args.store)
    if report.byte_order_blocked:
        print(f"leadsync store migrate: {report.byte_order_blocked}", file=sys.stderr)
    if not report.changed:
        if not report.byte_order_blocked:
            print(f"the store is at schema version {report.to_version} already: nothing to do")
        return 0
    if report.byte_order:
        print(f"ids and codes now compare bytes (COLLATE \"C\") in {len(report.byte_order)} tables: "
              f"{', '.join(report.byte_order)}")
    if not report.upgraded:
        return 0
    print(f"migrated the store from schema version {report.from_version} to {report.to_version}: "
          f"{report.raw_rows:,} raw rows in {report.raw_batches:,} batches moved to per-source tables "
          f"({report.batches_mapped:,} mapped, {report.batches_to_map:,} to map on the next run); "
          f"{report.outbox_events:,} writeback events ({report.bound:,} bound to batches, {report.refusals:,} "
          f"with refusals kept)" + (f"; rebuilt without keys: {', '.join(report.rebuilt)}" if report.rebuilt else ""))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from leadsync.checks import run_checks

    paths = project_paths(args.mappings)
    _env(paths)
    if args.source:
        _sources(paths, args.source)  # an unknown name stops here, listing the sources
    report = run_checks(paths, connect=args.connect, source=args.source)
    for line in report.lines():
        print(line)
    console_problem = None if args.source else _console_problem(paths)
    for line in _portal_settings(paths, args.store, every=True):
        print(line)
    if report.connected():
        print("connections that work (what was tried):")
        for line in report.connected():
            print(f"  {line}")
    print(report.summary(strict=args.strict))
    if console_problem:  # checked apart from run_checks (leadsync/checks/): the console's own file
        print(console_problem)
        print("mappings/console.yaml is not valid: `leadsync web` will not start the console until it is fixed")
    return report.exit_code(strict=args.strict) or (1 if console_problem else 0)


def _console_problem(paths) -> str | None:
    """mappings/console.yaml (the supplier console's users and sign-in) checked like the other YAML files."""
    from leadsync.config import ConfigError
    from leadsync.console.config import console_file, load_console_config

    try:
        load_console_config(console_file(paths))
    except ConfigError as exc:
        return f"error: {exc}"
    return None


def cmd_dev(args: argparse.Namespace) -> int:
    from leadsync.dev import DevError, run_dev

    paths = project_paths(args.mappings)
    _env(paths)
    print("leadsync dev: starting")
    try:
        return run_dev(paths, host=args.host, port=args.port, web=args.web,
                       log_dir=Path(args.log_dir) if args.log_dir else None,
                       out=lambda line: print(line, flush=True))
    except DevError as exc:
        print(f"leadsync dev: {exc}", file=sys.stderr)
        return 2


EPILOG = """\
common commands:
  leadsync init [DIR]            write a starter project (mappings/, .env, dagster_home/) into DIR
  leadsync demo                  start the bundled sandboxes, run every source end to end, print a summary
  leadsync dev                   the Dagster UI with the sandboxes and the partner web app (make ui)
  leadsync check [--connect]     validate the YAML under mappings/ (and log in to each source)
  leadsync summary               store totals as JSON, with the leads waiting at each partner
  leadsync explain LEAD          why a lead went where it went
  leadsync route --dry-run --rules F   where stored leads would go under a changed partners.yaml
  leadsync report list           the reports; `leadsync report NAME --out F.csv` exports one
  leadsync store migrate         upgrade a lead store written by an earlier leadsync, in place

Configuration lives in mappings/ (README.md: Configuration reference); secrets in the environment or .env.
"""


def main(argv: list[str] | None = None) -> int:
    from leadsync.process_gc import freeze_at_exit

    freeze_at_exit()  # the command exits without one last walk over everything it loaded
    parser = argparse.ArgumentParser(
        prog="leadsync", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Pull supplier leads (Salesforce, Marketo, Eloqua, SFTP files), route them to channel\n"
                    "partners, deliver them and write every outcome back to the source.")
    parser.add_argument("--mappings", help="mappings folder (default: $LEADSYNC_MAPPINGS_DIR, else ./mappings; "
                                           "`leadsync init` writes one)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    demo = sub.add_parser("demo", help="start every bundled sandbox (SFTP, Salesforce, Marketo, Eloqua, a partner's "
                                       "CRM, SMTP) with seeded leads, run everything, print a summary per source")
    demo.add_argument("--leads", type=int, default=2_000,
                      help="leads seeded per source (each API sandbox, and the SFTP drop's main file)")
    demo.add_argument("--seed", type=int, default=None, help="random seed (default: varies per run)")
    demo.add_argument("--keep", action="store_true",
                      help="keep the store and the sandboxes' data from the last demo (default: start afresh)")
    demo.add_argument("--verbose", action="store_true", help="print Dagster's event log too")
    demo.set_defaults(func=cmd_demo)
    init = sub.add_parser("init", help="write a starter project (mappings/, .env, dagster_home/) into DIR")
    init.add_argument("dir", nargs="?", default=".", metavar="DIR", help="where (default: this folder)")
    init.add_argument("--force", action="store_true", help="overwrite starter files that exist already")
    init.set_defaults(func=cmd_init)
    sc = sub.add_parser("scale", help="the demo on the scale profile: Postgres, RabbitMQ and Celery workers")
    sc.add_argument("--leads", type=int, default=5000)
    sc.add_argument("--seed", type=int, default=7)
    sc.add_argument("--workers", type=int, default=2)
    sc.add_argument("--serve", action="store_true", help="then keep the UI, daemon and workers up until Ctrl-C")
    sc.add_argument("--port", type=int, default=3000, help="the Dagster UI's port with --serve")
    sc.add_argument("--no-run", dest="run", action="store_false",
                    help="with --serve: do not run the demo job first, only bring the workers, UI and daemon up")
    sc.set_defaults(func=cmd_scale)
    sb = sub.add_parser("sandbox", help="run sandboxes in the foreground: with no VENDOR the demo's SFTP and SMTP "
                                        "ones; with VENDORs those vendor emulators, for any client")
    sb.add_argument("vendors", nargs="*", metavar="VENDOR",
                    help="salesforce, marketo, eloqua or all: on 127.0.0.1 ports 8443, 8444, 8445")
    sb.add_argument("--seed-leads", type=int, default=2000, help="leads seeded into an empty vendor sandbox")
    sb.add_argument("--seed", type=int, default=7)
    sb.add_argument("--no-tls", dest="tls", action="store_false", help="serve plain http")
    sb.add_argument("--vendor-hosts", action="store_true",
                    help="serve on port 443 of 127.0.0.2/3/4 (Salesforce/Marketo/Eloqua) and print hosts-file lines "
                         "for the vendors' own host names (needs root or CAP_NET_BIND_SERVICE)")
    sb.add_argument("--state-dir", help="where they keep data and the CA (default $DAGSTER_HOME/sandboxes/standalone)")
    sb.set_defaults(func=cmd_sandbox)
    summ = sub.add_parser("summary", help="print store totals as JSON, with the leads waiting at each partner")
    summ.add_argument("--store", help="SQLAlchemy URL (default: $LEADSYNC_STORE_URL or dagster_home DuckDB)")
    summ.set_defaults(func=cmd_summary)
    store_help = "SQLAlchemy URL (default: $LEADSYNC_STORE_URL or dagster_home DuckDB)"
    rep = sub.add_parser("report", help="export a report as CSV or XLSX (`leadsync report list` names them)")
    rep.add_argument("name", help="report name, or 'list'")
    rep.add_argument("--group-by", help="grouped reports: 1-3 of partner,source,campaign,status,month (stage, origin "
                                        "for opportunity reports) or any mapped lead field, internal-only ones too")
    rep.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD",
                     help="first day included (leads: received; opportunities: created; UTC)")
    rep.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="last day included")
    rep.add_argument("--filter", action="append", metavar="FIELD=VALUE",
                     help="keep rows whose partner, source, campaign, status or mapped lead field has this value; "
                          "repeat for more (the same field twice: either value)")
    rep.add_argument("--out", help="file: .xlsx writes a workbook, anything else CSV (default: CSV on standard "
                                   "output); every text cell is made inert for spreadsheets")
    rep.add_argument("--store", help=store_help)
    rep.set_defaults(func=cmd_report)
    web = sub.add_parser("web", help="serve the partner-response web app (accept/reject links, status pages, the "
                                     "partner portal at /portal and the supplier console at /console)")
    web.add_argument("--store", help=store_help)
    web.set_defaults(func=cmd_web)
    rt = sub.add_parser("route", help="route new leads now, or --dry-run a changed rules file over stored leads")
    rt.add_argument("--source", help="one source (default: all)")
    rt.add_argument("--dry-run", action="store_true", help="write nothing; print where stored leads would go")
    rt.add_argument("--rules", help="the changed partners.yaml to try (default: the current one)")
    rt.add_argument("--all", action="store_true", help="list unchanged leads too")
    rt.add_argument("--limit", type=int, default=50, help="leads listed (0: every one)")
    rt.add_argument("--out", help="write every lead's before/after to this CSV")
    rt.add_argument("--store", help=store_help)
    rt.set_defaults(func=cmd_route)
    rr = sub.add_parser("reroute", help="withdraw leads not accepted in time and route them again")
    rr.add_argument("--source", help="one source (default: all)")
    rr.add_argument("--store", help=store_help)
    rr.set_defaults(func=cmd_reroute)
    ex = sub.add_parser("explain", help="why a lead went where it went")
    ex.add_argument("lead")
    ex.add_argument("--store", help=store_help)
    ex.set_defaults(func=cmd_explain)
    asg = sub.add_parser("assign", help="assign or reassign a lead by hand")
    asg.add_argument("lead")
    asg.add_argument("partner", help="partner id")
    asg.add_argument("--rep", help="email of one of the partner's reps")
    wd = sub.add_parser("withdraw", help="take a lead back from its partner by hand")
    wd.add_argument("lead")
    for p in (asg, wd):
        p.add_argument("--reason", help="kept in the audit trail and written back")
        p.add_argument("--by", default=os.environ.get("USER", "operator"), help="who (default: $USER)")
        p.add_argument("--store", help=store_help)
        p.set_defaults(func=cmd_manual)
    al = sub.add_parser("add-lead", help="enter one lead by hand in a source: mapped, validated, routed and "
                                         "written back like any other")
    al.add_argument("--source", required=True, help="the source it belongs to (an API source gets a new record "
                                                        "by the write-back, unless writeback.manual_entry is false)")
    al.add_argument("--field", action="append", metavar="FIELD=VALUE",
                    help="a lead field (or source column) and its value; repeat for each field")
    al.add_argument("--json", help="the fields as a JSON object, e.g. '{\"email\": \"ann@acme.com\"}'")
    al.add_argument("--by", default=os.environ.get("USER", "operator"),
                    help="who entered it, recorded as the lead's origin (default: $USER)")
    al.add_argument("--no-write-back", dest="write_back", action="store_false",
                    help="leave the write-back to the next scheduled run")
    al.add_argument("--store", help=store_help)
    al.set_defaults(func=cmd_add_lead)
    ck = sub.add_parser("check", help="validate every YAML file; --connect also tries each source's credentials")
    ck.add_argument("--connect", action="store_true", help="log in to each source and check its mapped fields")
    ck.add_argument("--source", help="one source (default: all, plus partners.yaml and lifecycle.yaml)")
    ck.add_argument("--strict", action="store_true", help="warnings fail the check too (exit 1), e.g. in CI")
    ck.add_argument("--store", help=store_help + "; the partner settings changed in the portal are listed from it")
    ck.set_defaults(func=cmd_check)
    st = sub.add_parser("store", help="maintain the lead store: `leadsync store migrate` upgrades one written by an "
                                      "earlier leadsync, in place")
    st.add_argument("action", choices=["migrate"])
    st.add_argument("--store", help=store_help)
    st.set_defaults(func=cmd_store)
    dev = sub.add_parser("dev", help="the Dagster UI (dagster dev) with the bundled sandboxes and the partner web "
                                     "app; Ctrl-C stops all of it")
    dev.add_argument("--host", default="127.0.0.1", help="where the UI listens (default: 127.0.0.1)")
    dev.add_argument("--port", type=int, default=3000, help="the UI's port (default: 3000; 0: any free port)")
    dev.add_argument("--no-web", dest="web", action="store_false", help="do not start the partner web app")
    dev.add_argument("--log-dir", help="where the children's logs go (default: $DAGSTER_HOME/dev_logs)")
    dev.set_defaults(func=cmd_dev)
    args = parser.parse_args(argv)
    if getattr(args, "seed", 0) is None:
        args.seed = int(time.time()) % 100_000
    # `init`, `store migrate` and the vendor emulators (`sandbox VENDOR`) need no project
    if args.command not in ("init", "store") and not getattr(args, "vendors", None):
        args.mappings = _mappings_dir(args)
    from leadsync.store.engine import StoreSchemaError
    from leadsync.store.faults import StoreFault

    try:
        return args.func(args)
    except (StoreSchemaError, StoreFault) as exc:  # one message naming the cause and the fix, no traceback
        print(f"leadsync {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

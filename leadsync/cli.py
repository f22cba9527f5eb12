"""leadsync command line: `leadsync demo`, `leadsync sandbox`, `leadsync summary`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from dotenv import load_dotenv

from leadsync.config.loader import project_paths


def _env(paths) -> None:
    load_dotenv(paths.root / ".env", override=False)
    os.environ.setdefault("DAGSTER_HOME", str(paths.root / "dagster_home"))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)


def cmd_demo(args: argparse.Namespace) -> int:
    import dagster as dg

    from leadsync import pipeline
    from leadsync.defs.build import build_definitions
    from leadsync.demo import drop_demo_files, format_summary, run_figures, start_sandbox
    from leadsync.store import LeadStore

    paths = project_paths(args.mappings)
    _env(paths)
    cfg = pipeline.source_config(paths, "sftp_demo")
    sandbox = start_sandbox(paths, cfg.connection.port, os.environ[cfg.connection.password_env])
    try:
        files = drop_demo_files(sandbox.root / cfg.connection.folders.inbox, paths.partners_file,
                                args.leads, args.seed)
        print(f"SFTP sandbox on {sandbox.host}:{sandbox.port}; dropped {len(files)} files into the inbox:")
        for f in files:
            print(f"  {f.name}")
        started = time.perf_counter()
        defs = build_definitions(args.mappings)
        with dg.DagsterInstance.get() as instance:
            result = defs.resolve_job_def("leadsync").execute_in_process(instance=instance, raise_on_error=False)
        elapsed = time.perf_counter() - started
        print(format_summary(pipeline.summary(LeadStore()), run_figures(result)))
        print(f"run {result.run_id} {'succeeded' if result.success else 'FAILED'} in {elapsed:.1f}s; "
              f"store: {LeadStore().url}")
        print("See it in the UI: DAGSTER_HOME=$PWD/dagster_home .venv/bin/dagster dev  (then open http://127.0.0.1:3000)")
        return 0 if result.success else 1
    finally:
        sandbox.stop()


def cmd_sandbox(args: argparse.Namespace) -> int:
    from leadsync import pipeline
    from leadsync.demo import start_sandbox

    paths = project_paths(args.mappings)
    _env(paths)
    cfg = pipeline.source_config(paths, "sftp_demo")
    sandbox = start_sandbox(paths, cfg.connection.port, os.environ[cfg.connection.password_env])
    print(f"SFTP sandbox serving {sandbox.root} on {sandbox.host}:{sandbox.port} (Ctrl-C stops it)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        sandbox.stop()


def cmd_summary(args: argparse.Namespace) -> int:
    from leadsync import pipeline
    from leadsync.store import LeadStore

    paths = project_paths(args.mappings)
    _env(paths)
    print(json.dumps(pipeline.summary(LeadStore(args.store)), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="leadsync", description=__doc__)
    parser.add_argument("--mappings", help="mappings folder (default: ./mappings or $LEADSYNC_MAPPINGS_DIR)")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="start the SFTP sandbox with seeded leads, run everything, print a summary")
    demo.add_argument("--leads", type=int, default=20_000, help="leads in the main seeded file")
    demo.add_argument("--seed", type=int, default=None, help="random seed (default: varies per run)")
    demo.set_defaults(func=cmd_demo)
    sub.add_parser("sandbox", help="run the demo SFTP sandbox in the foreground").set_defaults(func=cmd_sandbox)
    summ = sub.add_parser("summary", help="print store totals as JSON")
    summ.add_argument("--store", help="SQLAlchemy URL (default: $LEADSYNC_STORE_URL or dagster_home DuckDB)")
    summ.set_defaults(func=cmd_summary)
    args = parser.parse_args(argv)
    if getattr(args, "seed", 0) is None:
        args.seed = int(time.time()) % 100_000
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""Imported by each scale-profile worker's main process at start (`dagster-celery worker start … -i
leadsync.runs.warm`), before Celery forks the pool process that runs the steps: the pool process inherits the
modules already imported. Otherwise the first step a worker runs pays them itself (about 2 s on this machine:
the code location's modules, 1.0 s, and Dagster's Postgres storage, 0.7 s), on the run's critical path.

Imports only: no definitions are built and no connection is opened here, since both would be shared by the
processes forked after. Nor anything that starts threads at import (polars, and pandera's polars backend with
it: a process forked while they run may deadlock in them): those are imported by each pool process as Celery
forks it (`worker_process_init`), before it takes a step, where the schema check's first step paid them (0.38 s
on this machine, on the critical path of every chain a fresh worker runs).
A module that fails to import is logged and left to the step, which reports it as the step's own error.
"""

import importlib
import logging

from celery.signals import worker_process_init

log = logging.getLogger(__name__)

# What a step imports: the code location and the libraries its stages load lazily.
MODULES = (
    "leadsync.definitions",  # dagster, the leadsync stack, pandas, pyarrow, sqlalchemy
    "dagster_postgres",  # the instance's storage, opened by every step
    "leadsync.runs.dagster_storage",  # its connections kept per process (dagster_home/scale/dagster.yaml)
    "dagster_celery.tasks",
    "psycopg",
    "pgpq",
    "duckdb",
    "paramiko",  # SFTP sources
    "leadsync.pipeline",
)

# What a step imports that starts threads: imported in each pool process once forked, never in the main process.
AFTER_FORK = (
    "leadsync.intake.schema",  # pandera's polars backend and polars: the `leads` step's schema check
)

imported, failed = [], {}


def _warm(names: tuple[str, ...]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
            imported.append(name)
        except Exception as exc:  # noqa: BLE001 - a warm-up must never stop a worker from starting
            failed[name] = f"{type(exc).__name__}: {exc}"
            log.warning("leadsync worker warm-up: %s not imported (%s); the first step imports it", name,
                        failed[name])


_warm(MODULES)


@worker_process_init.connect
def _warm_pool_process(**_) -> None:
    """In each pool process, as Celery forks it and before its first step."""
    _warm(AFTER_FORK)

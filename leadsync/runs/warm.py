"""Imported by each scale-profile worker's main process at start (`dagster-celery worker start … -i
leadsync.runs.warm`), before Celery forks the pool process that runs the steps: the pool process inherits the
modules already imported. Otherwise the first step a worker runs pays them itself (about 2 s on this machine:
the code location's modules, 1.0 s, and Dagster's Postgres storage, 0.7 s), on the run's critical path.

Imports only: no definitions are built and no connection is opened here, since both would be shared by the
processes forked after. Nor anything that starts threads at import (polars, and pandera's polars backend with
it: a process forked while they run may deadlock in them); the schema check imports those in the step.
A module that fails to import is logged and left to the step, which reports it as the step's own error.
"""

import importlib
import logging

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

imported, failed = [], {}
for name in MODULES:
    try:
        importlib.import_module(name)
        imported.append(name)
    except Exception as exc:  # noqa: BLE001 - a warm-up must never stop a worker from starting
        failed[name] = f"{type(exc).__name__}: {exc}"
        log.warning("leadsync worker warm-up: %s not imported (%s); the first step imports it", name, failed[name])

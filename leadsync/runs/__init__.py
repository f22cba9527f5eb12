"""Launching Dagster runs from leadsync's own commands: part of the Dagster layer (with leadsync/defs/,
leadsync/definitions.py and leadsync/components/), the only code that imports dagster.

- in_process.py: a job run in this process with a progress bar per stage (`leadsync demo`).
- executors.py: the executor each profile gets (in-process, or dagster-celery for `scale`) and pool limits.
- workers.py: dagster-celery workers started and stopped (`leadsync scale`, the tests, the benchmark).
- on_workers.py: a job run from here with its steps on those workers.
"""

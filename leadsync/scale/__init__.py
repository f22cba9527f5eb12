"""The `scale` profile: the same pipeline on Dagster's distributed machinery.

- profile.py: which profile the code location runs under and the executor it gets (in-process for the
  embedded default; dagster-celery over RabbitMQ for `scale`), configured from dagster_home/scale/.
- workers.py: start and stop Celery workers with dagster-celery's own worker command.
- runner.py: run a job on the scale instance (Postgres storage) with its steps on the workers.
- local.py: `leadsync scale` on this machine (databases, environment, what the summary says is pending).
- serve.py: stopping `leadsync scale --serve` by a signal stops everything it started (workers, dagster dev).
"""

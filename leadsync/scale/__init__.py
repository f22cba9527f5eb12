"""The `scale` profile: the same pipeline on Dagster's distributed machinery.

- profile.py: which profile the code location runs under, and the Celery settings (celery.yaml under
  dagster_home/scale/) its executor and its workers share.
- local.py: `leadsync scale` on this machine (databases, environment, what the summary says is pending).
- serve.py: stopping `leadsync scale --serve` by a signal stops everything it started (workers, dagster dev).

What touches Dagster is in the Dagster layer, leadsync/runs/: executors.py (the executor per profile, pool
limits), workers.py (start and stop dagster-celery workers), on_workers.py (run a job with its steps on them).
"""

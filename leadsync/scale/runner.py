"""Run a job of the code location on the scale instance: the run is orchestrated here, its steps execute on
the Celery workers (which rebuild the same code location from `leadsync.definitions`)."""

from pathlib import Path

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository

REPO = Path(__file__).resolve().parents[2]


def reconstructable_job(name: str):
    """The job as the workers find it: module leadsync.definitions, Definitions `defs`."""
    return ReconstructableRepository.for_module("leadsync.definitions", "defs", working_directory=str(REPO)) \
        .get_reconstructable_job(name)


def run_on_workers(instance: dg.DagsterInstance, job: str = "leadsync", tags: dict | None = None,
                   reexecute_from: str | None = None) -> dg.JobExecutionResult:
    """Execute `job` (the whole of it, or from the failed steps of run `reexecute_from`). The code location's
    pool limits are set first (see set_pool_limits)."""
    from leadsync.defs.build import build_definitions
    from leadsync.scale.profile import pools_of, set_pool_limits

    set_pool_limits(instance, pools_of(build_definitions()))
    options = None
    if reexecute_from is not None:
        from dagster import ReexecutionOptions

        options = ReexecutionOptions.from_failure(reexecute_from, instance)
    with dg.execute_job(reconstructable_job(job), instance=instance, tags=tags, raise_on_error=False,
                        reexecution_options=options) as result:
        return result

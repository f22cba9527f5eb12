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


def run_on_workers(instance: dg.DagsterInstance | None = None, job: str = "leadsync", tags: dict | None = None,
                   reexecute_from: str | None = None) -> dg.JobExecutionResult:
    """Execute `job` (the whole of it, or from the failed steps of run `reexecute_from`) on `instance`, by
    default the one $DAGSTER_HOME names. The code location's pool limits are set first (see set_pool_limits)."""
    if instance is None:
        with dg.DagsterInstance.get() as current:
            return run_on_workers(current, job, tags, reexecute_from)
    from leadsync.defs.build import build_definitions
    from leadsync.runs.executors import pools_of, set_pool_limits

    set_pool_limits(instance, pools_of(build_definitions()))
    options = None
    if reexecute_from is not None:
        from dagster import ReexecutionOptions

        options = ReexecutionOptions.from_failure(reexecute_from, instance)
    with dg.execute_job(reconstructable_job(job), instance=instance, tags=tags, raise_on_error=False,
                        reexecution_options=options) as result:
        return result


def was_interrupted(result: dg.JobExecutionResult) -> bool:
    """Whether the run ended because this process got SIGINT/SIGTERM while orchestrating it: Dagster takes
    those signals over during a run (dagster/_utils/interrupts.py), revokes the steps and fails the run
    as an unexpected termination instead of raising."""
    from dagster._core.events import RunFailureReason

    if result.success:
        return False
    failure = next((e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE"), None)
    return failure is not None and failure.job_failure_data.failure_reason == RunFailureReason.UNEXPECTED_TERMINATION

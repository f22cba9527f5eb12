"""The executor each profile gets, and the concurrency pools' limits on an instance.

The embedded default runs every step in this process; the scale profile sends them to dagster-celery workers
configured from celery.yaml (leadsync/scale/profile.py reads it, without Dagster).
"""

import warnings

import dagster as dg

from leadsync.scale.profile import celery_config, require_shared_store


def executor_for(profile: str, store_url: str | None = None) -> dg.ExecutorDefinition:
    if profile == "scale":
        from celery.exceptions import DuplicateTaskNameWarning
        from dagster_celery import celery_executor

        # dagster-celery registers its `execute_plan` task on the orchestrating process's Celery app again for
        # every step it submits (dagster_celery/executor.py `_submit_task` calls `create_task(app)`, a new
        # closure each time), and Celery >= 5.7 warns that the name now belongs to another callable. Harmless:
        # the orchestrator only builds the task's signature to send it by name; the workers run the task that
        # dagster_celery.app registered once. Only that name's warning is silenced.
        warnings.filterwarnings("ignore", message=r"Task name 'execute_plan' is already registered",
                                category=DuplicateTaskNameWarning)
        require_shared_store(store_url)
        _poll_steps_every(STEP_POLL_S)
        return celery_executor.configured(celery_config(), name="celery")
    # The embedded default keeps every step in one process: the DuckDB file has one writer.
    return dg.in_process_executor


# How often the run's orchestrating process asks Celery whether its steps finished. dagster-celery's loop sleeps
# a fixed TICK_SECONDS (1 s) between rounds and offers no setting for it, so each step of a chain started on
# average half a second after the one before it ended (the scale bench measured 1.2-1.5 s between steps). A
# round is one result-backend lookup per step in flight: ten a second cost nothing beside a step's work.
STEP_POLL_S = 0.1


def _poll_steps_every(seconds: float) -> None:
    import inspect

    from dagster_celery import core_execution_loop

    # a release that renamed the constant or stopped sleeping on it gets nothing set (tests/scale checks it)
    if "time.sleep(TICK_SECONDS)" in inspect.getsource(core_execution_loop.core_celery_execution_loop):
        core_execution_loop.TICK_SECONDS = seconds  # a module global, read by the loop at every round


def pools_of(defs: dg.Definitions) -> set[str]:
    """Every concurrency pool the code location's assets use."""
    graph = defs.resolve_asset_graph()
    return {pool for key in graph.get_all_asset_keys()
            if (pool := getattr(graph.get(key).assets_def.op, "pool", None))}


def set_pool_limits(instance: dg.DagsterInstance, pools: set[str], limit: int = 1) -> None:
    """Give every pool its limit explicitly, as `dagster instance concurrency set POOL 1` does.

    Left to `pools.default_limit`, Dagster creates a pool's limit row the first time a step claims it, with an
    INSERT that fails on Postgres when the row exists already (two runs claiming a new pool at once, or a
    changed default): the run crashes (dagster-io/dagster#33552). A limit set explicitly is never created on
    the fly. `run_on_workers` (so `leadsync scale` and the tests) and the benchmark call this; a deployment
    runs `dagster instance concurrency set leadsync_source_<name> 1` for each source (and `lead_store`)."""
    storage = instance.event_log_storage
    current = {p.name: p for p in storage.get_pool_limits()}
    for pool in sorted(pools):
        if pool not in current or current[pool].limit != limit or current[pool].from_default:
            storage.set_concurrency_slots(pool, limit)
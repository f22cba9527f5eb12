"""Where the embedded default frees pool slots of dead runs (leadsync/defs/pool_slots.py): at the start of every
run, before its first step asks for a slot, and every minute from the daemon's sensor (so a run already waiting
when its blocker died does not wait for the next run to start)."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.executor.base import Executor

from leadsync.defs.pool_slots import free_dead_holders, slot_holders


class FreeingDeadSlotsExecutor(Executor):
    """The wrapped executor, after freeing slots held by dead runs and saying which; waiting on a live holder is
    announced too, so a blocked step never waits without a name to look at."""

    def __init__(self, inner: Executor):
        self.inner = inner

    @property
    def retries(self):
        return self.inner.retries

    @property
    def step_dependency_config(self):
        return self.inner.step_dependency_config

    def get_step_event_or_retry_event(self, *args, **kwargs):
        return self.inner.get_step_event_or_retry_event(*args, **kwargs)

    def execute(self, plan_context, execution_plan) -> Iterator[DagsterEvent]:
        run_id = plan_context.dagster_run.run_id
        for holder in free_dead_holders(plan_context.instance, except_run=run_id):
            plan_context.log.warning(holder.freed_message())
            yield DagsterEvent.engine_event(plan_context, holder.freed_message(), EngineEventData(metadata={
                "pool": holder.pool, "dead_run": holder.run_id, "steps": ", ".join(holder.steps),
                "pid": str(holder.pid or "")}))
        for holder in slot_holders(plan_context.instance, except_run=run_id):
            plan_context.log.info(holder.waiting_message())
        yield from self.inner.execute(plan_context, execution_plan)


def freeing_dead_slots(inner: dg.ExecutorDefinition) -> dg.ExecutorDefinition:
    """`inner` (same name, config and requirements) wearing FreeingDeadSlotsExecutor."""
    create = inner.executor_creation_fn
    assert create is not None, f"executor {inner.name} has no creation function"
    return dg.ExecutorDefinition(
        name=inner.name, config_schema=inner.config_schema, requirements=inner.get_requirements,
        description=inner.description,
        executor_creation_fn=lambda init_context: FreeingDeadSlotsExecutor(create(init_context)))


@dg.sensor(name="leadsync_dead_run_slots", minimum_interval_seconds=60,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Frees pool slots held by runs whose process is gone (kill -9, a crash) and names them.")
def dead_run_slots(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    freed = free_dead_holders(context.instance)
    for holder in freed:
        context.log.warning(holder.freed_message())
    if freed:
        return dg.SkipReason(" ".join(h.freed_message() for h in freed))
    return dg.SkipReason("No pool slot is held by a dead run.")

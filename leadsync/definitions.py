"""Entry point of the code location (pyproject [tool.dg.project]); `dagster dev` loads this."""

import dagster as dg

from leadsync.process_gc import collections_paused, freeze_at_exit

# a run's process, a worker, a code server: each loads 0.3 s and exits 0.75 s sooner (leadsync/process_gc.py)
with collections_paused():
    from leadsync.defs.build import build_definitions, definition_inputs
freeze_at_exit()

_built: tuple[tuple, dg.Definitions] | None = None


@dg.definitions
def defs() -> dg.Definitions:
    """The code location, built again only when what it is built from changed (defs.build.definition_inputs).
    Dagster loads it for every step a worker takes of another job than its last, and twice in a run's process
    (to find the job, to run it): 0.05-0.15 s each, where a stat of the project's files is a millisecond."""
    global _built
    inputs = definition_inputs()
    if _built is None or _built[0] != inputs:
        with collections_paused():
            _built = (inputs, build_definitions())
    return _built[1]

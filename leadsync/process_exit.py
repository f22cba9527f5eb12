"""How a leadsync process ends: without walking every object it ever loaded one last time.

Once Dagster, pandas, Arrow and the code location are loaded a process holds a few hundred thousand objects, and
at exit Python's final garbage collections walk all of them again before the memory goes back to the operating
system anyway: 0.81 s of teardown after `import dagster, leadsync.definitions` and one build of the Definitions,
0.06 s with them frozen first (gc.freeze). Every run's orchestrating process (`dagster job execute`, a run
worker), every Celery worker and every `leadsync` command pays it, after its work is done and recorded.

Frozen objects are never collected again, so a reference cycle among them is not broken at exit: its memory goes
with the process, and a finaliser on it does not run. What leadsync must release at exit it releases explicitly,
not through the collector: the DuckDB files (store/warm_file.py's own exit hook closes them), logging's handlers
(logging's shutdown flushes them, after this hook), the standard streams (flushed by Python itself). Objects made
after the freeze, by the exit hooks that run after it, are collected as usual.
"""

from __future__ import annotations

import atexit
import gc

_registered = False


def freeze_at_exit() -> None:
    """Freeze every object this process holds once it starts to exit (registered once per process; exit hooks
    run last-registered first, so the hooks of modules imported before this call run after the freeze)."""
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True

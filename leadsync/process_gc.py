"""Python's cyclic garbage collector in a leadsync process, as it loads the code location and as it ends.

Loading: Dagster's, pandas' and leadsync's modules and the Definitions are a few hundred thousand objects made at
once, nearly all kept for the process's life, and the collector walks the young ones every 700 allocations (and
all of them every 100 walks or so): 0.32 of the 0.98 s that `import leadsync.definitions` and one build take
after Dagster is loaded. Paused while they load (`collections_paused`), then on again: the next collection sees
them as usual. What loading leaves as garbage is a few cycles at most.

Ending: at exit Python's final collections walk all those objects once more before the memory goes back to the
operating system anyway: 0.81 s of teardown after `import dagster, leadsync.definitions` and one build of the Definitions,
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
from collections.abc import Iterator
from contextlib import contextmanager

_registered = False


def freeze_at_exit() -> None:
    """Freeze every object this process holds once it starts to exit (registered once per process; exit hooks
    run last-registered first, so the hooks of modules imported before this call run after the freeze)."""
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True


@contextmanager
def collections_paused() -> Iterator[None]:
    """No cyclic collection while the block runs (the collector left as it was found: a process that turned it
    off keeps it off)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()

"""Arrow's memory while a pull runs: jemalloc, which gives freed pages back to the operating system.

pyarrow allocates from mimalloc by default, which keeps freed pages for reuse: a pull frees a batch's buffers
(the page received, its parsed table, casts, concatenations) as soon as they are stored, yet the pages stay with
the process. Arrow's jemalloc pool hands them back after a short decay. Measured with bench/api_pull.py at
300,000 Salesforce records, back to back on the shared 2-core machine: stage peak RSS 452-468 MiB with jemalloc,
471-494 MiB with mimalloc (main), 485-502 MiB with the system allocator (glibc's per-thread arenas: the
connector parses in threads of its own), at the same CPU time. Each buffer remembers the pool it came from, so
switching pools while buffers live is safe. A pyarrow built without jemalloc uses the system allocator.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

_lock = threading.Lock()
_depth = 0
_before: pa.MemoryPool | None = None


def returning_pool() -> pa.MemoryPool:
    """Arrow's jemalloc pool, or the system allocator's where pyarrow was built without jemalloc."""
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:
        return pa.system_memory_pool()


@contextmanager
def returned_to_os() -> Iterator[None]:
    """Arrow allocates from `returning_pool()` inside the block (nested or concurrent blocks share it); the
    pool that was the default before the outermost block is the default again after it."""
    global _depth, _before
    with _lock:
        if _depth == 0:
            _before = pa.default_memory_pool()
            pa.set_memory_pool(returning_pool())
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                pa.set_memory_pool(_before)
                _before = None

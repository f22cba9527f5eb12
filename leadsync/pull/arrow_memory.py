"""Arrow's memory while a pull runs: buffers go back to the operating system when they are freed.

pyarrow allocates from mimalloc by default, which keeps freed pages for reuse: a pull frees a batch's buffers
(parsed pages, casts, concatenations) as soon as they are stored, yet mimalloc held on to them, about 55 MiB
of a 300,000-record API pull's peak RSS (the pull stage over 300,000 Salesforce records: 475 → 420 MiB,
same CPU time).
The system allocator hands large buffers back at free (they are mmap'ed), so the pull's memory follows what
it holds. Each buffer remembers the pool it came from, so switching pools while buffers live is safe.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

_lock = threading.Lock()
_depth = 0
_before: pa.MemoryPool | None = None


@contextmanager
def returned_to_os() -> Iterator[None]:
    """Arrow allocates from the system allocator inside the block (nested or concurrent blocks share it);
    the pool that was the default before the outermost block is the default again after it."""
    global _depth, _before
    with _lock:
        if _depth == 0:
            _before = pa.default_memory_pool()
            pa.set_memory_pool(pa.system_memory_pool())
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                pa.set_memory_pool(_before)
                _before = None

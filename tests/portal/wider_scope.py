"""A function-scoped fixture's own code used at a wider scope (imported by name from tests/portal)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def wrapped(made) -> Iterator[object]:
    """A fixture body (a value, or a generator yielding one and then tearing down) as a context manager: to use
    a function-scoped fixture's own code at a wider scope."""
    if not hasattr(made, "__next__"):
        yield made
        return
    value = next(made)
    try:
        yield value
    finally:
        next(made, None)

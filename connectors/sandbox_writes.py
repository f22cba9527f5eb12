"""Writes a sandbox served to its clients, counted per (object, record id, field).

A vendor shows what it was sent, not what the sender meant: a write replayed after a lost answer sets the same
field of the same record a second time. Every HTTP sandbox (Salesforce, Marketo, Eloqua, and a partner's CRM org,
which is a Salesforce sandbox) counts each write it applies for a client over its API, whatever the path
(REST, collections, composite, bulk ingest or import jobs, syncs, list and member changes), so a test or the
soak can tell "written once" from "written twice". Writes a test makes in-process (seeding, the sandboxes'
own helpers) are not counted: they were not served.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

WriteKey = tuple[str, str, str]  # (object, record id, field)


class WriteCounts:
    """Thread-safe counts of served writes. Record ids are kept as text (Marketo's and Eloqua's are numbers)."""

    def __init__(self) -> None:
        self._counts: Counter[WriteKey] = Counter()
        self._lock = threading.Lock()

    def add(self, object_name: str, record_id: object, fields: Iterable[str]) -> None:
        """One write of `fields` on one record (a create counts every field it set)."""
        keys = [(object_name, str(record_id), name) for name in fields]
        with self._lock:
            self._counts.update(keys)

    def take_back(self, object_name: str, record_id: object, fields: Iterable[str]) -> None:
        """Undo an add() whose write was rolled back (an all-or-none request that failed later)."""
        keys = [(object_name, str(record_id), name) for name in fields]
        with self._lock:
            self._counts.subtract(keys)
            for key in keys:
                if self._counts[key] <= 0:
                    del self._counts[key]

    def snapshot(self, object_name: str | None = None) -> dict[WriteKey, int]:
        """Every count so far (of one object when named), as a plain dict that later writes leave alone."""
        with self._lock:
            return {k: n for k, n in self._counts.items() if object_name is None or k[0] == object_name}

    def of_record(self, object_name: str, record_id: object) -> dict[str, int]:
        """field -> writes, for one record."""
        wanted = str(record_id)
        with self._lock:
            return {f: n for (o, r, f), n in self._counts.items() if o == object_name and r == wanted}

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()

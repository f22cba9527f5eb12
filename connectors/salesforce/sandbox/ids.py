"""Salesforce record ids: 15-character case-sensitive ids and their 18-character case-safe form.

An id is a 3-character key prefix naming the object (00Q Lead, 003 Contact, ...), a 2-character pod, a
reserved "0", and a 9-digit base-62 number; the 18-character form appends a 3-character checksum of where
the upper-case letters are, so the id survives case-insensitive systems (Excel, most databases).
"""

from __future__ import annotations

import threading

import numpy as np

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_POD = "8d0"  # pod "8d" and the reserved character
_FIRST_NUMBER = 3_000_000_000  # start well inside the 9-digit space so ids look like real ones
_BASE62_CODES = np.frombuffer(BASE62.encode(), dtype=np.uint8)
_SUFFIX_CODES = np.frombuffer(_SUFFIX.encode(), dtype=np.uint8)


def checksum_suffix(id15: str) -> str:
    """The 3 characters that turn a 15-character id into its 18-character form."""
    out = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5:chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_SUFFIX[bits])
    return "".join(out)


def looks_like_id(value: object) -> bool:
    return (isinstance(value, str) and len(value) in (15, 18) and value.isalnum() and value.isascii())


def to_18(record_id: str) -> str:
    """The 18-character form of a 15- or 18-character id (an 18-character id is returned as is)."""
    if len(record_id) == 15:
        return record_id + checksum_suffix(record_id)
    return record_id


def make_ids(prefix: str, numbers: np.ndarray) -> list[str]:
    """18-character ids for the given record numbers, vectorised (300,000 ids in a few milliseconds)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    n = len(numbers)
    if n == 0:
        return []
    head = np.frombuffer((prefix + _POD).encode(), dtype=np.uint8)
    powers = 62 ** np.arange(8, -1, -1, dtype=np.int64)
    digits = _BASE62_CODES[(numbers[:, None] // powers) % 62]
    id15 = np.concatenate([np.broadcast_to(head, (n, 6)), digits], axis=1)
    upper = ((id15 >= ord("A")) & (id15 <= ord("Z"))).reshape(n, 3, 5)
    bits = (upper * np.array([1, 2, 4, 8, 16], dtype=np.uint8)).sum(axis=2)
    text = np.concatenate([id15, _SUFFIX_CODES[bits]], axis=1).tobytes().decode("ascii")
    return [text[i:i + 18] for i in range(0, 18 * n, 18)]


class IdAllocator:
    """Hands out new ids per key prefix; thread-safe; its counters are saved with the data."""

    def __init__(self, counters: dict[str, int] | None = None):
        self._lock = threading.Lock()
        self.counters: dict[str, int] = dict(counters or {})

    def allocate(self, prefix: str, count: int = 1) -> list[str]:
        with self._lock:
            start = self.counters.get(prefix, _FIRST_NUMBER)
            self.counters[prefix] = start + count
        return make_ids(prefix, np.arange(start, start + count, dtype=np.int64))

    def new(self, prefix: str) -> str:
        return self.allocate(prefix, 1)[0]

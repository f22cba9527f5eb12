"""Eloqua-specific fault switches (the generic ones, 5xx/latency/drops, are HttpSandbox's `faults`).

- `throttle_next(n)`: the next n API calls answer 429 Too Many Requests.
- `rate_limit(capacity, per_second)`: a leaky bucket, Eloqua's throttling model: each API call adds one, the
  bucket drains `per_second`, and calls that would overflow it answer 429 until it has drained.
- `fail_next_sync(message)`: the next sync ends in `error`, with the message in its logs.
- `reject_next_import_of(email, ...)`: the next import sync that touches that email rejects its row.
"""

from __future__ import annotations

import threading
import time
from collections import deque

DEFAULT_SYNC_FAILURE = "Sync failed due to a temporary error. Please retry the sync."
DEFAULT_BAD_RECORD = ("ELQ-00032", "Malformed records. The record could not be processed.")


class EloquaFaults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._throttle = 0
        self._bucket: tuple[int, float] | None = None
        self._level = 0.0
        self._drained_at = time.monotonic()
        self._sync_failures: deque[str] = deque()
        self._bad_records: dict[str, tuple[str, str]] = {}
        self.throttled = 0  # 429s answered so far
        self.retry_after_s: int | None = None  # Eloqua documents no Retry-After header; set one if wanted

    def throttle_next(self, times: int = 1) -> None:
        with self._lock:
            self._throttle += times

    def rate_limit(self, capacity: int | None, per_second: float = 1.0) -> None:
        """Enable the leaky bucket (None disables it)."""
        with self._lock:
            self._bucket = None if capacity is None else (capacity, per_second)
            self._level = 0.0
            self._drained_at = time.monotonic()

    def fail_next_sync(self, message: str = DEFAULT_SYNC_FAILURE, times: int = 1) -> None:
        with self._lock:
            self._sync_failures.extend([message] * times)

    def reject_next_import_of(self, email: str, message: str = DEFAULT_BAD_RECORD[1],
                              status_code: str = DEFAULT_BAD_RECORD[0]) -> None:
        with self._lock:
            self._bad_records[email.strip().lower()] = (status_code, message)

    def clear(self) -> None:
        with self._lock:
            self._throttle = 0
            self._bucket = None
            self._sync_failures.clear()
            self._bad_records.clear()

    # ------------------------------------------------------------------ consumed by the sandbox

    def take_throttle(self) -> bool:
        """True when this API call must be answered 429."""
        with self._lock:
            if self._throttle:
                self._throttle -= 1
                self.throttled += 1
                return True
            if self._bucket is None:
                return False
            capacity, per_second = self._bucket
            now = time.monotonic()
            self._level = max(0.0, self._level - (now - self._drained_at) * per_second)
            self._drained_at = now
            if self._level + 1 > capacity:
                self.throttled += 1
                return True
            self._level += 1
            return False

    def take_sync_failure(self) -> str | None:
        with self._lock:
            return self._sync_failures.popleft() if self._sync_failures else None

    def take_bad_record(self, email: str) -> tuple[str, str] | None:
        with self._lock:
            return self._bad_records.pop(email.strip().lower(), None)

"""Marketo-specific fault switches: the ways a Marketo instance misbehaves that a client must survive.

Generic HTTP faults (5xx answers, slowness, dropped connections) are the base sandbox's
(`sandbox.http_faults`, see connectors/http_sandbox.py); these are the vendor's own.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from leadsync.connectors.marketo.sandbox.auth import TokenIssuer
from leadsync.connectors.marketo.sandbox.envelope import MarketoError, RecordError
from leadsync.connectors.marketo.sandbox.limits import Meter


class MarketoFaults:
    def __init__(self, tokens: TokenIssuer, meter: Meter):
        self._tokens = tokens
        self._meter = meter
        self._lock = threading.Lock()
        self._forced: deque[tuple[str, str | None, str | None]] = deque()
        self._bad_records: dict[str, deque[RecordError]] = {}
        self._failing_exports: deque[str] = deque()
        self.call_duration_s = 0.0  # each API call holds its concurrency slot this long (a slow Marketo)
        self.exports_paused = False  # True: enqueued export jobs stay Queued
        self._set_export_quota: Callable[[float], None] | None = None  # wired by the sandbox

    def expire_tokens(self) -> None:
        """Every token issued so far expires now: calls with it get 602; the identity call issues a new one."""
        self._tokens.expire_all()

    def set_remaining_daily_quota(self, calls: int) -> None:
        """Only `calls` more API calls today; then 607 until midnight Central Time (or clock.advance)."""
        self._meter.set_remaining_daily_quota(calls)

    def set_remaining_export_quota_mb(self, megabytes: float) -> None:
        """Only this much more export file volume today; beyond it create/enqueue answer 1029."""
        if self._set_export_quota is None:
            raise RuntimeError("export jobs are not wired to these faults")
        self._set_export_quota(megabytes)

    def force_error(self, code: str | int, times: int = 1, message: str | None = None,
                    path_prefix: str | None = None) -> None:
        """The next `times` API calls (under `path_prefix`, if given) fail at response level with `code`:
        e.g. "606" or "615" to exercise a client's backoff, "604", "608", "611", "713". Not counted."""
        with self._lock:
            for _ in range(times):
                self._forced.append((str(code), message, path_prefix))

    def bad_record(self, lead: int | str, code: str | int = "1003", message: str | None = None,
                   times: int = 1) -> None:
        """The next `times` writes of this lead (by id, or by email) are skipped with this reason."""
        key = _lead_key(lead)
        with self._lock:
            queue = self._bad_records.setdefault(key, deque())
            for _ in range(times):
                queue.append(RecordError(code, message or "Invalid data"))

    def fail_next_export(self, message: str = "Export failed: internal error") -> None:
        """The next export job to be processed ends Failed with this errorMsg."""
        with self._lock:
            self._failing_exports.append(message)

    def clear(self) -> None:
        with self._lock:
            self._forced.clear()
            self._bad_records.clear()
            self._failing_exports.clear()
            self.call_duration_s = 0.0
            self.exports_paused = False

    # ---------------------------------------------------------------- consumed by the sandbox

    def take_forced(self, path: str) -> MarketoError | None:
        with self._lock:
            for i, (code, message, prefix) in enumerate(self._forced):
                if prefix is None or path.startswith(prefix):
                    del self._forced[i]
                    return MarketoError(code, message)
        return None

    def take_bad_record(self, lead_id: int | None, email: str | None) -> RecordError | None:
        with self._lock:
            for key in (_lead_key(lead_id) if lead_id is not None else None,
                        _lead_key(email) if email else None):
                queue = self._bad_records.get(key) if key else None
                if queue:
                    error = queue.popleft()
                    if not queue:
                        del self._bad_records[key]
                    return error
        return None

    def take_export_failure(self) -> str | None:
        with self._lock:
            return self._failing_exports.popleft() if self._failing_exports else None


def _lead_key(lead: int | str) -> str:
    if isinstance(lead, int) or (isinstance(lead, str) and lead.isdigit()):
        return f"id:{int(lead)}"
    return f"email:{str(lead).strip().lower()}"

"""Salesforce-specific fault switches, next to the generic ones of the shared HTTP sandbox.

    sandbox.faults.expire_tokens()              # every session ends: clients get 401 INVALID_SESSION_ID
    sandbox.faults.exhaust_api_limit()          # 403 REQUEST_LIMIT_EXCEEDED until reset_api_limit()
    sandbox.faults.limit_exceeded_next(2)       # the next two calls answer 403 REQUEST_LIMIT_EXCEEDED
    sandbox.faults.server_error_next(1, 503)    # 5xx with Salesforce's error body
    sandbox.faults.latency_s = 0.5              # slow responses
    sandbox.faults.drop_next(1)                 # a dropped connection
    sandbox.faults.reject_records(emails=["bad@x.example"])   # that record's writes fail with
                                                # FIELD_CUSTOM_VALIDATION_EXCEPTION (Collections, REST, Bulk)
    sandbox.faults.fail_next_bulk_jobs(1)       # the next Bulk API 2.0 job ends in state Failed
    sandbox.faults.clear()
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from leadsync.connectors.http_sandbox import FaultSwitches
from leadsync.connectors.salesforce.sandbox.auth import SessionRegistry
from leadsync.connectors.salesforce.sandbox.errors import RecordError
from leadsync.connectors.salesforce.sandbox.ids import looks_like_id, to_18
from leadsync.connectors.salesforce.sandbox.limits import ApiBudget

DEFAULT_REJECTION = "This record is locked by a validation rule: LeadSync updates are blocked for it."
_SERVER_ERRORS = {
    500: ("UNKNOWN_EXCEPTION", ("An unexpected error occurred. Please include this ErrorId if you contact "
                               "support: 1234567890-12345 (-1234567890)")),
    502: ("SERVER_UNAVAILABLE", "Bad gateway"),
    503: ("SERVER_UNAVAILABLE", "Server is temporarily unavailable. Please try again later."),
    504: ("SERVER_UNAVAILABLE", "Gateway timeout"),
}


class RecordRejections:
    """"One bad record in a batch": writes touching a marked record (by id, or by any field value such as
    its e-mail or external id) fail with FIELD_CUSTOM_VALIDATION_EXCEPTION, as a validation rule would."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[dict[str, Any]] = []

    def add(self, ids: Iterable[str] = (), values: Iterable[str] = (), times: int | None = None,
            message: str = DEFAULT_REJECTION, fields: Sequence[str] = ()) -> None:
        rule = {"ids": {to_18(i) for i in ids if looks_like_id(i)},
                "values": {str(v).casefold() for v in values}, "times": times, "message": message,
                "fields": tuple(fields)}
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def __call__(self, object_name: str, record_id: str | None,
                 states: Sequence[Mapping[str, Any]]) -> RecordError | None:
        with self._lock:
            if not self._rules:
                return None
            for rule in self._rules:
                if rule["times"] == 0:
                    continue
                hit = record_id is not None and record_id in rule["ids"]
                if not hit and rule["values"]:
                    hit = any(isinstance(v, str) and v.casefold() in rule["values"]
                              for state in states for v in state.values())
                if hit:
                    if rule["times"] is not None:
                        rule["times"] -= 1
                    return RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", rule["message"], rule["fields"])
        return None


class SalesforceFaults:
    """Every fault switch of the Salesforce sandbox in one place."""

    def __init__(self, http: FaultSwitches, sessions: SessionRegistry, budget: ApiBudget,
                 rejections: RecordRejections):
        self._http = http
        self._sessions = sessions
        self._budget = budget
        self._rejections = rejections
        self._lock = threading.Lock()
        self._failing_jobs: list[str] = []

    def expire_tokens(self) -> int:
        """End every session now (clients must log in again); returns how many sessions ended."""
        return self._sessions.expire_all()

    def exhaust_api_limit(self) -> None:
        self._budget.exhaust()

    def limit_exceeded_next(self, times: int = 1) -> None:
        self._budget.fail_next(times)

    def reset_api_limit(self, used: int = 0, daily_limit: int | None = None) -> None:
        self._budget.reset(used, daily_limit)

    def server_error_next(self, times: int = 1, status: int = 503, path_prefix: str | None = None) -> None:
        """The next `times` requests answer `status` with Salesforce's error body for it."""
        code, message = _SERVER_ERRORS.get(status, ("UNKNOWN_EXCEPTION", f"HTTP {status}"))
        self._http.fail_next(times, status=status, body=[{"message": message, "errorCode": code}],
                             path_prefix=path_prefix)

    def drop_next(self, times: int = 1) -> None:
        self._http.drop_next(times)

    def drop_response_next(self, path_contains: str, method: str | None = None) -> None:
        """Carry out the next matching request, then lose its answer (http_sandbox.FaultSwitches)."""
        self._http.drop_response_next(path_contains, method)

    @property
    def latency_s(self) -> float:
        return self._http.latency_s

    @latency_s.setter
    def latency_s(self, seconds: float) -> None:
        self._http.latency_s = seconds

    def reject_records(self, ids: Iterable[str] = (), emails: Iterable[str] = (), values: Iterable[str] = (),
                       times: int | None = None, message: str = DEFAULT_REJECTION,
                       fields: Sequence[str] = ()) -> None:
        """Writes touching these records fail with FIELD_CUSTOM_VALIDATION_EXCEPTION: records with these
        ids, or having any of these `emails`/`values` in any field before or after the write. `times`
        None: every time until `clear()`; n: the next n matching writes only."""
        self._rejections.add(ids, [*emails, *values], times, message, fields)

    def fail_next_bulk_jobs(self, times: int = 1,
                            message: str = "InternalServerError : retried 15 times") -> None:
        """The next `times` Bulk API 2.0 jobs end in state Failed with `message` as errorMessage."""
        with self._lock:
            self._failing_jobs.extend([message] * times)

    def take_bulk_job_failure(self) -> str | None:
        with self._lock:
            return self._failing_jobs.pop(0) if self._failing_jobs else None

    def clear(self) -> None:
        """Every switch off (sessions already ended stay ended; the API usage counter is reset)."""
        self._http.clear()
        self._budget.reset(0)
        self._rejections.clear()
        with self._lock:
            self._failing_jobs.clear()

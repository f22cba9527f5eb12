"""The org's daily API request allocation, as the `Sforce-Limit-Info` header and `/limits` report it.

Every authenticated /services/data call counts one request. Past the allocation (or while a forced
failure is pending) the API answers 403 [{"message": "TotalRequests Limit exceeded.",
"errorCode": "REQUEST_LIMIT_EXCEEDED"}].
"""

from __future__ import annotations

import threading

LIMIT_EXCEEDED_MESSAGE = "TotalRequests Limit exceeded."


class ApiBudget:
    def __init__(self, daily_limit: int = 100_000):
        self._lock = threading.Lock()
        self.daily_limit = daily_limit
        self.used = 0
        self._forced_failures = 0

    def charge(self) -> bool:
        """Count one request; False when it must be refused with REQUEST_LIMIT_EXCEEDED."""
        with self._lock:
            if self._forced_failures:
                self._forced_failures -= 1
                return False
            if self.used >= self.daily_limit:
                return False
            self.used += 1
            return True

    @property
    def remaining(self) -> int:
        return max(0, self.daily_limit - self.used)

    def header(self) -> str:
        return f"api-usage={self.used}/{self.daily_limit}"

    def exhaust(self) -> None:
        """Use up the day's allocation: every call answers 403 until `reset()`."""
        with self._lock:
            self.used = self.daily_limit

    def fail_next(self, times: int = 1) -> None:
        """The next `times` calls answer 403 REQUEST_LIMIT_EXCEEDED (e.g. the concurrent-request limit),
        without using the allocation."""
        with self._lock:
            self._forced_failures += times

    def reset(self, used: int = 0, daily_limit: int | None = None) -> None:
        with self._lock:
            self.used = used
            self._forced_failures = 0
            if daily_limit is not None:
                self.daily_limit = daily_limit

    def limits_body(self) -> dict:
        """The /limits resource (the entries clients look at)."""
        def entry(maximum: int, remaining: int) -> dict:
            return {"Max": maximum, "Remaining": remaining}
        return {
            "DailyApiRequests": entry(self.daily_limit, self.remaining),
            "DailyBulkApiBatches": entry(15000, 15000),
            "DailyBulkV2QueryFileStorageMB": entry(976562, 976562),
            "DailyBulkV2QueryJobs": entry(10000, 10000),
            "DataStorageMB": entry(1024, 1000),
            "FileStorageMB": entry(1024, 1024),
            "ConcurrentAsyncGetReportInstances": entry(200, 200),
            "HourlyODataCallout": entry(20000, 20000),
        }

"""`SalesforceClient`: one logged-in simple-salesforce client and the connector's call policy.

Every call goes through `call(what, fn)`: `fn(sf)` runs under `with_retries` with the settings' retry
policy (each HTTP request it makes holds a slot of the org's API budget, transport.py); its exceptions
become the connector errors (errors.py); an ended session makes the next attempt log in again first. `fn`
receives the current client on every attempt, so a repeated call runs with the new session.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from simple_salesforce import Salesforce
from simple_salesforce.bulk2 import _Bulk2Client
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from leadsync.connectors.api_budget import ApiBudget
from leadsync.connectors.api_client import ApiTransientError, RetryPolicy, poll_delays, with_retries
from leadsync.connectors.salesforce.source.auth import login, login_error
from leadsync.connectors.salesforce.source.describe import ObjectDescription
from leadsync.connectors.salesforce.source.errors import BulkJobFailed, SessionExpired, bulk_job_error, translate
from leadsync.connectors.salesforce.source.settings import SalesforceSettings
from leadsync.connectors.salesforce.source.transport import LimitInfo, OrgBudgets, build_session

log = logging.getLogger(__name__)
T = TypeVar("T")
BULK_POLL_MAX_S = 30.0  # the longest wait between two polls of a bulk job
RetryHook = Callable[[ApiTransientError, int], None]


def _log_retry(error: ApiTransientError, attempt: int) -> None:
    log.warning("Salesforce call failed (attempt %d), retrying: %s", attempt, error)


class SalesforceClient:
    """`budget`: the org's API budget for every request; by default one per host requests go to (the org's
    My Domain host), built from the settings, in Redis when LEADSYNC_REDIS_URL is set (transport.py)."""

    def __init__(self, settings: SalesforceSettings, on_retry: RetryHook | None = None,
                 budget: ApiBudget | None = None):
        self.settings = settings
        self.limits = LimitInfo()
        self.budgets = OrgBudgets(settings, budget)
        self.on_retry = on_retry or _log_retry
        self.logins = 0
        self._sf: Salesforce | None = None
        self._described: dict[str, ObjectDescription] = {}

    # ------------------------------------------------------------------ session

    @property
    def sf(self) -> Salesforce:
        """The logged-in client (logging in on first use, or after the session ended)."""
        if self._sf is None:
            session = build_session(self.settings, self.limits, self.budgets)
            self._sf = login(self.settings, session)
            self.logins += 1
        return self._sf

    def forget_session(self) -> None:
        if self._sf is not None:
            self._sf.session.close()
        self._sf = None

    def close(self) -> None:
        self.forget_session()

    # ------------------------------------------------------------------ calls

    def call(self, what: str, fn: Callable[[Salesforce], T], retry: bool = True) -> T:
        """`fn(sf)` with retries on transient errors (once only with `retry` False: a call that must not be
        repeated, e.g. an upload whose answer may have been lost after it landed); raises ApiConfigError /
        ApiQuotaExhausted / ApiError."""
        def attempt() -> T:
            try:
                return fn(self.sf)
            except SalesforceAuthenticationFailed as exc:  # simple-salesforce logging in again by itself
                self.forget_session()
                raise login_error(self.settings, exc) from exc
            except Exception as exc:
                error = translate(exc, what, self.limits)
                if error is None or error is exc:
                    raise
                if isinstance(error, SessionExpired):
                    self.forget_session()
                raise error from exc
        policy = self.settings.http.retry if retry else RetryPolicy(attempts=1)
        return with_retries(attempt, policy, self.on_retry)

    def with_new_jobs(self, run_job: Callable[[], T]) -> T:
        """`run_job()` (create a bulk job and see it through), run again as a new job when Salesforce failed
        the job itself (BulkJobFailed), `bulk_job_attempts` times in all; every other error passes."""
        retry = self.settings.http.retry
        policy = RetryPolicy(self.settings.bulk_job_attempts, retry.initial_s, retry.max_s)
        return with_retries(run_job, policy, self.on_retry, retry_on=BulkJobFailed)

    def wait_for_bulk_job(self, object_name: str, job_id: str, is_query: bool) -> dict[str, Any]:
        """Poll a Bulk API 2.0 job until it is JobComplete (its info is returned), each poll retried alone, so
        a poll that fails never costs a new job. A job that ends Failed or Aborted raises what its
        errorMessage means (errors.bulk_job_error); one still running after `bulk_timeout_s` is transient."""
        kind = "query" if is_query else "ingest"
        deadline = time.monotonic() + self.settings.bulk_timeout_s
        delays = poll_delays(self.settings.bulk_poll_s, BULK_POLL_MAX_S)
        while True:
            time.sleep(next(delays))
            info = self.call(f"bulk {kind} job {job_id} of {object_name}",
                             lambda sf: self.bulk2(sf, object_name).get_job(job_id, is_query))
            state = info.get("state")
            if state == "JobComplete":
                return info
            if state in ("Failed", "Aborted"):
                raise bulk_job_error(f"bulk {kind} of {object_name}", str(info.get("errorMessage") or state), job_id)
            if time.monotonic() >= deadline:
                raise ApiTransientError(f"bulk {kind} of {object_name}: job {job_id} still {state} after "
                                        f"{self.settings.bulk_timeout_s:g} s (bulk_timeout_s)")

    def describe(self, object_name: str, fresh: bool = False) -> ObjectDescription:
        """describe of `object_name`, once per client (again with `fresh`)."""
        key = object_name.lower()
        if fresh or key not in self._described:
            body = self.call(f"describe {object_name}", lambda sf: getattr(sf, object_name).describe())
            self._described[key] = ObjectDescription.from_describe(body)
        return self._described[key]

    def query_pages(self, soql: str, what: str, batch_size: int = 2000) -> Iterator[dict[str, Any]]:
        """REST query, one response (page) at a time, following nextRecordsUrl; each page retried alone."""
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        page = self.call(what, lambda sf: sf.query(soql, headers=headers))
        yield page
        while not page.get("done", True):
            next_url = page["nextRecordsUrl"]
            page = self.query_more(next_url, what, batch_size)
            yield page

    def query_more(self, next_url: str, what: str, batch_size: int = 2000) -> dict[str, Any]:
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        return self.call(what, lambda sf: sf.query_more(next_url, identifier_is_url=True, headers=headers))

    def records(self, soql: str, what: str) -> Iterator[dict[str, Any]]:
        for page in self.query_pages(soql, what):
            yield from page.get("records", [])

    def count(self, soql: str, what: str) -> int:
        return int(self.call(what, lambda sf: sf.query(soql))["totalSize"])

    def bulk2(self, sf: Salesforce, object_name: str) -> _Bulk2Client:
        """simple-salesforce's Bulk API 2.0 client for `object_name`, carrying `sf`'s current session (the
        public SFBulk2Type hides job ids and locators, which keys and resume need)."""
        return getattr(sf.bulk2, object_name)._client

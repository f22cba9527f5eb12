"""What every vendor API client shares: one error taxonomy, HTTP with retries and back-off, rate limits.

A vendor client (connectors/<vendor>/client.py) adds only what is its own: how it authenticates, how its
responses say "error" (Marketo answers HTTP 200 with an error code; Salesforce answers a JSON list), how it
pages, and which of its errors are configuration problems, transient, or quota exhaustion.

Errors, as the pipeline treats them:
- ApiConfigError: bad credentials, a missing field or object, no permission. Never retried; the run fails
  with the message and the supplier's contacts are emailed.
- ApiTransientError: 5xx, timeouts, dropped connections, rate limits (429, Marketo 606/615, Salesforce
  REQUEST_LIMIT_EXCEEDED on a burst). Retried here with back-off; raised only when retries are exhausted.
- ApiQuotaExhausted: the daily quota is spent (the vendor said so, or leadsync's shared budget,
  connectors/api_budget.py, is used up). Not retried; the pull stops cleanly, the watermark stays where it
  was, and the message says when the quota resets.
- ApiRecordError is not an exception: per-record failures come back as results and are stored.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
import urllib3
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)


class ApiError(Exception):
    """Base of the vendor errors; `vendor_code` is the vendor's own code when it gave one."""

    def __init__(self, message: str, vendor_code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.vendor_code = vendor_code
        self.status = status


class ApiConfigError(ApiError):
    """Something the supplier must fix (credentials, permissions, a mapped field). Not retried."""


class ApiTransientError(ApiError):
    """Worth retrying: the service is busy, slow, rate-limiting or briefly unreachable."""

    def __init__(self, message: str, vendor_code: str | None = None, status: int | None = None,
                 retry_after_s: float | None = None):
        super().__init__(message, vendor_code, status)
        self.retry_after_s = retry_after_s


class ApiUnreachable(ApiTransientError):
    """Nothing answered at the address: the name did not resolve, the connection was refused, or connecting
    timed out. Retried like any transient error; a connection check (which has no earlier answer to go by)
    reports it as a wrong URL. A host that accepted the connection and then answered slowly or dropped it
    is not unreachable: that is a plain ApiTransientError."""


class SourceOutage(ApiTransientError):
    """A vendor that kept failing after every retry, said for an operator: which vendor and endpoint, that
    nothing was lost and where the next run resumes (the message); the same as `metadata` (for the run's
    failure metadata). Still transient: the next run (or a retry of the step) may succeed."""

    def __init__(self, message: str, metadata: dict, cause: ApiTransientError):
        super().__init__(message, cause.vendor_code, cause.status, cause.retry_after_s)
        self.metadata = metadata


class ApiQuotaExhausted(ApiError):
    """The daily API quota is spent: stop cleanly, keep the watermark, try again after the reset.
    `resets_at` (UTC-aware) is when calls are available again, when known."""

    def __init__(self, message: str, vendor_code: str | None = None, status: int | None = None,
                 resets_at: datetime | None = None):
        super().__init__(message, vendor_code, status)
        self.resets_at = resets_at


def out_of_bounds(bounds: dict[str, tuple[float | int | None, float, float]]) -> list[str]:
    """`name must be within low..high, not value` for each setting outside its bounds (None: not set, fine).
    Every numeric setting has an upper bound, so a typo (an extra three zeros) fails at once, by name, rather
    than overflowing or stalling a run later."""
    return [f"{name} must be within {low:,}..{high:,}, not {value!r}" for name, (value, low, high) in bounds.items()
            if value is not None and not low <= value <= high]


@dataclass
class RetryPolicy:
    attempts: int = 6
    initial_s: float = 0.5
    max_s: float = 30.0

    def wait(self) -> Callable[[RetryCallState], float]:
        backoff = wait_exponential_jitter(initial=self.initial_s, max=self.max_s)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            hinted = getattr(exc, "retry_after_s", None)
            return max(float(hinted), 0.0) if hinted is not None else backoff(state)
        return wait


def with_retries(fn: Callable[[], Any], policy: RetryPolicy, on_retry: Callable[[ApiTransientError, int], None]
                 | None = None, retry_on: type[ApiTransientError] | Callable[[BaseException], bool]
                 = ApiTransientError) -> Any:
    """Run `fn`, retrying `retry_on` (ApiTransientError; a class, or a test of the exception) with back-off
    (a Retry-After hint wins); other errors pass."""
    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            on_retry(state.outcome.exception(), state.attempt_number)

    retry = retry_if_exception_type(retry_on) if isinstance(retry_on, type) else retry_if_exception(retry_on)
    retrying = Retrying(retry=retry, stop=stop_after_attempt(policy.attempts),
                        wait=policy.wait(), reraise=True, before_sleep=before_sleep)
    return retrying(fn)


class SlidingWindowLimiter:
    """At most `calls` calls in any `window_s` seconds (Marketo: 100 per 20 s), shared by the threads of
    one process. Waits rather than letting the vendor refuse. The vendor clients now use
    connectors/api_budget.py, which shares the window across processes; this stays for other callers."""

    def __init__(self, calls: int, window_s: float, clock: Callable[[], float] = time.monotonic):
        self.calls, self.window_s, self._clock = calls, window_s, clock
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._stamps and now - self._stamps[0] >= self.window_s:
                    self._stamps.popleft()
                if len(self._stamps) < self.calls:
                    self._stamps.append(now)
                    return
                wait = self.window_s - (now - self._stamps[0])
            time.sleep(max(wait, 0.001))


@dataclass
class HttpSettings:
    timeout_s: float = 30.0
    ca_bundle: Path | None = None  # trust this CA (a sandbox's test CA); None: the system's trust store
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        problems = out_of_bounds({"timeout_s": (self.timeout_s, 0.001, 600), "retry.attempts": (
            self.retry.attempts, 1, 20), "retry.initial_s": (self.retry.initial_s, 0, 60),
            "retry.max_s": (self.retry.max_s, 0, 300)})
        if problems:
            raise ApiConfigError("HTTP settings: " + "; ".join(problems))


def new_session(settings: HttpSettings) -> requests.Session:
    """A session that verifies TLS against `ca_bundle` when given. The CA-bundle environment variables
    would override a session's `verify` (API_FACTS §0), so with an explicit bundle they are ignored."""
    session = requests.Session()
    if settings.ca_bundle is not None:
        session.trust_env = False
        session.verify = str(settings.ca_bundle)
    return session


def answered_refusal(exc: BaseException) -> bool:
    """A transient error the server answered with a status (429, 5xx): the request was refused, not carried
    out, so sending it again cannot do it twice. A timeout or a dropped connection may come after the server
    acted on the request: a write that must not happen twice is not repeated on those."""
    return isinstance(exc, ApiTransientError) and exc.status is not None


def transport_errors(exc: requests.RequestException, what: str) -> ApiError:
    """A requests failure as an ApiError: TLS failures are configuration problems (the URL or CA is wrong);
    a host that never answered is ApiUnreachable; a read timeout or a dropped connection (the host was
    reached, it is slow or restarting) is ApiTransientError."""
    if isinstance(exc, requests.exceptions.SSLError):
        return ApiConfigError(f"{what}: TLS verification failed ({exc}); check the URL and the CA bundle")
    if isinstance(exc, requests.ConnectTimeout) or (isinstance(exc, requests.ConnectionError)
                                                     and _never_connected(exc)):
        return ApiUnreachable(f"{what}: {type(exc).__name__}: {exc}")
    if isinstance(exc, requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError):
        return ApiTransientError(f"{what}: {type(exc).__name__}: {exc}")
    return ApiTransientError(f"{what}: {exc}")


def _never_connected(exc: BaseException) -> bool:
    """Whether a requests ConnectionError failed before a connection was made (urllib3's NewConnectionError,
    which covers refused connections and names that do not resolve), as opposed to one dropped later."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.NewConnectionError):
            return True
        stack += [getattr(current, "reason", None), current.__cause__, current.__context__,
                  *(arg for arg in current.args if isinstance(arg, BaseException))]
    return False


def http_status_error(status: int, body: str, what: str, retry_after: str | None = None) -> ApiError:
    """The generic meaning of an HTTP status when the vendor's body says nothing more specific."""
    text = body[:300]
    if status in (401, 403):
        return ApiConfigError(f"{what}: HTTP {status} {text}; check the credentials and the API user's permissions",
                              status=status)
    if status == 404:
        return ApiConfigError(f"{what}: HTTP 404 {text}; check the base URL", status=status)
    if status == 429 or status >= 500:
        hint = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
        return ApiTransientError(f"{what}: HTTP {status} {text}", status=status, retry_after_s=hint)
    return ApiError(f"{what}: HTTP {status} {text}", status=status)


def poll_delays(first: float, longest: float) -> Iterator[float]:
    """The waits between a vendor job's status checks (a Bulk API job, an export, a sync): `first`, then twice
    as long each time up to `longest` (a first of 0 checks at once, then after 0.05 s). A small job is seen done
    soon after it ends; a long one is not polled more often than every `longest` seconds."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2 or 0.05, longest)

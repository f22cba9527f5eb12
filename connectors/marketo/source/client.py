"""Marketo over HTTP: the bearer token, the rate limit (calls per 20 s), the concurrency limit and the daily
quota kept on our side by the instance's API budget (connectors/api_budget.py: shared by every worker when
LEADSYNC_REDIS_URL is set), the envelope's errors classified, transient ones retried with back-off
(connectors/api_client.py).

Every call is one of `get`, `query` (Marketo's long-query form: POST with `_method=GET` and a form body),
`post` (a JSON body) or `download` (an export file, streamed to disk)."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from leadsync.connectors.api_budget import ApiBudget, Call
from leadsync.connectors.api_client import (
    ApiError,
    ApiTransientError,
    http_status_error,
    new_session,
    transport_errors,
    with_retries,
)
from leadsync.connectors.marketo.source.auth import TokenCache
from leadsync.connectors.marketo.source.errors import NO_DATA, TokenRejected, envelope_error
from leadsync.connectors.marketo.source.settings import MarketoSettings

log = logging.getLogger(__name__)
CHUNK_BYTES = 1024 * 1024


class MarketoClient:
    """`budget`: the instance's API budget; by default one built from the settings' limits under
    `settings.budget_key`, in Redis when LEADSYNC_REDIS_URL is set, else in this process."""

    def __init__(self, settings: MarketoSettings, clock: Callable[[], datetime] | None = None,
                 budget: ApiBudget | None = None):
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.session = new_session(settings.http)
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(settings.max_concurrent, 10))
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        # The budget's clock is the client's: the day bucket and the reset in messages follow the same
        # "now" as Marketo's own 607 answers (in tests, the sandbox's clock).
        self.budget = budget or ApiBudget(settings.budget_key, settings.budget_limits(), clock=self.clock)
        self.tokens = TokenCache(settings, self.session, self.budget)
        self.calls = 0  # API calls sent (identity calls not included)
        self._count_lock = threading.Lock()

    def close(self) -> None:
        self.session.close()

    # ------------------------------------------------------------------ calls

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._call("GET", path, params=params)

    def query(self, path: str, form: dict[str, Any]) -> dict[str, Any]:
        """A read with its parameters in a form body (Marketo's `_method=GET`): no 8 KB URI limit."""
        return self._call("POST", path, data={**form, "_method": "GET"})

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", path, json=body)

    def delete(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("DELETE", path, json=body)

    def pages(self, path: str, params: dict[str, Any], form: bool = False) -> Iterator[dict[str, Any]]:
        """The answers of a call paged by `nextPageToken`, until `moreResult` is false (or, for calls that
        do not say, until no token comes back). `form`: a read in the long-query form (`query`). An answer
        saying there is more without a token to get it raises ApiTransientError: the caller has not read
        everything and must not act as if it had."""
        token = params.get("nextPageToken")
        read = self.query if form else self.get
        while True:
            body = read(path, {**params, "nextPageToken": token} if token else params)
            yield body
            more = body.get("moreResult")
            next_token = body.get("nextPageToken")
            if more is True and not next_token:
                raise ApiTransientError(f"Marketo {path}: moreResult is true but no nextPageToken came back")
            if more is False or not next_token or (more is None and next_token == token):
                return
            if next_token == token:  # more to come, yet the same place: paging again would loop for ever
                raise ApiError(f"Marketo {path}: paging did not advance (nextPageToken {token!r} came back "
                               f"with moreResult true)")
            token = next_token

    def download(self, path: str, dest: Path, checksum: str | None = None) -> int:
        """Stream a raw file (a Bulk Extract file) to `dest`; returns its size. A 404 means "not ready"
        and is retried; a `sha256:` checksum, when given, is verified."""
        return with_retries(lambda: self._attempt("GET", path, {"stream": True}, dest=dest, checksum=checksum),
                            self.settings.http.retry, self._on_retry)

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return with_retries(lambda: self._attempt(method, path, kwargs), self.settings.http.retry, self._on_retry)

    @staticmethod
    def _on_retry(error: ApiTransientError, attempt: int) -> None:
        log.warning("Marketo call failed (attempt %d), retrying: %s", attempt, error)

    # ------------------------------------------------------------------ one attempt

    def _attempt(self, method: str, path: str, kwargs: dict[str, Any], dest: Path | None = None,
                 checksum: str | None = None) -> Any:
        """One attempt; a refused token is refreshed and the call repeated once within it."""
        what = f"Marketo {method} {path}"
        for refreshed in (False, True):
            token = self.tokens.token()
            try:
                return self._send(method, path, kwargs, token, what, dest, checksum)
            except TokenRejected:
                self.tokens.invalidate(token)
                if refreshed:
                    raise
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, kwargs: dict[str, Any], token: str, what: str,
              dest: Path | None, checksum: str | None) -> Any:
        with self.budget.call() as call:  # a window slot, an in-flight lease, one call of the day
            with self._count_lock:
                self.calls += 1
            try:
                response = self.session.request(method, self.settings.base_url + path,
                                                headers={"Authorization": f"Bearer {token}"},
                                                timeout=self.settings.http.timeout_s, **kwargs)
                with response:
                    if dest is not None and response.status_code == 200 and not _is_json(response):
                        return _save(response, dest, checksum, what, call)
                    if dest is not None and response.status_code == 404:
                        raise ApiTransientError(f"{what}: the file is not ready ({response.text[:200]})",
                                                status=404)
                    if response.status_code != 200:
                        raise http_status_error(response.status_code, response.text, what,
                                                response.headers.get("Retry-After"))
                    body = _envelope(response, what, self.settings.base_url)
            except requests.RequestException as exc:
                raise transport_errors(exc, what) from exc
        if body.get("success") is False:
            errors = body.get("errors") or []
            if errors and str(errors[0].get("code")) == NO_DATA:
                return {**body, "success": True, "result": []}
            raise envelope_error(errors, what, self.clock(), self.settings.rate_limit_wait_s)
        return body


def _envelope(response: requests.Response, what: str, base_url: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):  # a 200 that is not Marketo's envelope: not its REST endpoint
        raise ApiError(f"{what}: the answer is not Marketo's JSON envelope; check base_url ({base_url})")
    return body


def _is_json(response: requests.Response) -> bool:
    return response.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


def _save(response: requests.Response, dest: Path, checksum: str | None, what: str, call: Call) -> int:
    digest = hashlib.sha256()
    size = 0
    with open(dest, "wb") as out:
        for block in response.iter_content(CHUNK_BYTES):
            call.renew()  # a download may outlast the lease TTL (the HTTP timeout is per read, not in all)
            out.write(block)
            digest.update(block)
            size += len(block)
    if checksum and checksum.startswith("sha256:") and checksum[7:] != digest.hexdigest():
        raise ApiTransientError(f"{what}: the file's checksum does not match ({size} bytes received)")
    return size

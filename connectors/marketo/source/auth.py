"""Marketo's client-credentials token: fetched from the identity service, kept until shortly before it
expires, refreshed at once when a call answers 601/602.

Marketo hands out the *same* token, with its remaining lifetime, when asked again before expiry; a token
that comes back unchanged is therefore used until it expires rather than asked for again on every call."""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext

import requests

from leadsync.connectors.api_budget import ApiBudget
from leadsync.connectors.api_client import ApiConfigError, ApiError, http_status_error, transport_errors
from leadsync.connectors.marketo.source.settings import MarketoSettings

EARLY_REFRESH_S = 60  # ask for a new token this long before the current one expires


class TokenCache:
    def __init__(self, settings: MarketoSettings, session: requests.Session, budget: ApiBudget | None = None):
        self.settings = settings
        self.session = session
        # Identity calls take a window slot and a lease like every other call, but not a call of the day:
        # Marketo's usage report (and MarketoClient.calls) counts REST/bulk calls only.
        self.budget = budget
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0  # time.monotonic() after which the token is fetched again
        self.fetched = 0  # identity calls made (for tests and run metadata)

    def token(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._refresh_at:
                self._fetch()
            return self._token  # type: ignore[return-value]

    def invalidate(self, token: str) -> None:
        """`token` was refused (601/602): the next `token()` fetches a new one, unless another thread
        already did."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch(self) -> None:
        url = f"{self.settings.base_url}/identity/oauth/token"
        what = f"Marketo identity at {self.settings.base_url}"
        try:
            with self.budget.call(count_daily=False) if self.budget is not None else nullcontext():
                response = self.session.get(url, timeout=self.settings.http.timeout_s, params={
                    "grant_type": "client_credentials", "client_id": self.settings.client_id,
                    "client_secret": self.settings.client_secret})
        except requests.RequestException as exc:
            raise transport_errors(exc, what) from exc
        body = _json(response)
        if response.status_code == 429 or response.status_code >= 500:
            raise http_status_error(response.status_code, response.text, what, response.headers.get("Retry-After"))
        if response.status_code in (400, 401, 403) or body.get("error"):
            detail = body.get("error_description") or body.get("error") or response.text[:200]
            raise ApiConfigError(
                f"{what} refused the client credentials ({response.status_code}: {detail}); check client_id "
                f"and client_secret: Marketo Admin > LaunchPoint > the leadsync API service > View Details",
                vendor_code=body.get("error"), status=response.status_code)
        if response.status_code != 200:
            raise http_status_error(response.status_code, response.text, what,
                                    response.headers.get("Retry-After"))
        if not body.get("access_token"):
            raise ApiError(f"{what}: no access_token in the answer; check that base_url is the REST endpoint "
                           f"(https://<munchkin-id>.mktorest.com)")
        previous = self._token
        self._token = str(body["access_token"])
        lifetime = float(body.get("expires_in") or 0)
        early = EARLY_REFRESH_S if lifetime > 2 * EARLY_REFRESH_S and self._token != previous else 0
        self._refresh_at = time.monotonic() + max(lifetime - early, 0)
        self.fetched += 1


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}

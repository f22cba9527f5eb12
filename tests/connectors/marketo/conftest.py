"""Shared fixtures: a seeded Marketo sandbox on loopback (real sockets), a marketorestpython client
pointed at it, and a plain HTTP helper for the wire-level checks the client hides."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from leadsync.connectors.marketo.sandbox import MarketoSandbox
from leadsync.connectors.marketo.sandbox.clock import SandboxClock

SEEDED = 400
# Seeded data is a function of (count, seed, until); a fixed start keeps it the same in every run.
START = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


class Wire:
    """Raw HTTP against the sandbox with a valid token; no retries, no client-side throttle."""

    def __init__(self, sandbox: MarketoSandbox):
        self.sandbox = sandbox
        self.session = requests.Session()
        self.session.trust_env = False  # API_FACTS §0: env CA bundles would win over our settings
        self.token = self.new_token()

    def new_token(self) -> str:
        r = self.session.get(self.sandbox.identity_url, params={
            "grant_type": "client_credentials", "client_id": self.sandbox.client_id,
            "client_secret": self.sandbox.client_secret})
        r.raise_for_status()
        return r.json()["access_token"]

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **params: Any) -> dict:
        r = self.session.get(self.sandbox.url + path, params=params, headers=self._headers())
        assert r.status_code == 200, r.text
        return r.json()

    def post(self, path: str, body: Any = None, params: dict | None = None, form: dict | None = None) -> dict:
        r = self.session.post(self.sandbox.url + path, params=params, json=body if form is None else None,
                              data=form, headers=self._headers())
        assert r.status_code == 200, r.text
        return r.json()

    def raw(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self._headers(), **kwargs.pop("headers", {})}
        return self.session.request(method, self.sandbox.url + path, headers=headers, **kwargs)


@pytest.fixture
def sandbox():
    """A fresh sandbox with SEEDED leads; the clock runs from START."""
    with MarketoSandbox(seed_leads=SEEDED, clock=SandboxClock(start=START)) as server:
        yield server


@pytest.fixture
def client(sandbox):
    return sandbox.client(max_retry_time=2)


@pytest.fixture
def wire(sandbox) -> Wire:
    return Wire(sandbox)


@pytest.fixture
def make_wire():
    """make_wire(sandbox) -> Wire, for tests that start a sandbox of their own. (A fixture, not a helper
    import: test folders here have no __init__ files.)"""
    return Wire

"""A `requests.Session` that talks to an Eloqua instance the way integrations do: Basic auth built as
`Site\\User:password`, then the base URL discovered through `/id` (never assumed)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import requests


def basic_authorization(site: str, username: str, password: str) -> str:
    """The Authorization header value Eloqua expects: Basic base64("Site\\User:password")."""
    token = base64.b64encode(f"{site}\\{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


@dataclass
class EloquaConnection:
    session: requests.Session
    base_url: str  # urls.base from /id, e.g. "https://secure.p03.eloqua.com"
    rest_template: str  # urls.apis.rest.standard, with {version}
    bulk_template: str  # urls.apis.rest.bulk, with {version}

    def rest(self, version: str = "1.0") -> str:
        """Base of Application API calls, without the trailing slash: {base}/API/REST/1.0."""
        return self.rest_template.replace("{version}", version).rstrip("/")

    @property
    def bulk(self) -> str:
        """Base of Bulk API 2.0 calls, without the trailing slash: {base}/API/Bulk/2.0."""
        return self.bulk_template.replace("{version}", "2.0").rstrip("/")


def open_session(login_url: str, site: str, username: str, password: str,
                 ca_pem_path: Path | None = None, timeout_s: float = 10) -> EloquaConnection:
    """Log in with Basic auth and discover the pod's URLs. Raises requests.HTTPError on a 401."""
    session = requests.Session()
    session.headers["Authorization"] = basic_authorization(site, username, password)
    session.headers["Accept"] = "application/json"
    if ca_pem_path is not None:
        # The machine's REQUESTS_CA_BUNDLE would beat session.verify (API_FACTS §0): ignore the environment.
        session.trust_env = False
        session.verify = str(ca_pem_path)
    answer = session.get(f"{login_url.rstrip('/')}/id", timeout=timeout_s)
    answer.raise_for_status()
    urls = answer.json()["urls"]
    return EloquaConnection(session, urls["base"], urls["apis"]["rest"]["standard"], urls["apis"]["rest"]["bulk"])

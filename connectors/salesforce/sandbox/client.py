"""Pointing Salesforce clients at the sandbox without changing them.

simple-salesforce always speaks https and always logs in at https://{domain}.salesforce.com. A
`requests.Session` from `sandbox_session()` trusts the sandbox's test CA (and ignores the CA-bundle
environment variables, see API_FACTS §0) and sends every *.salesforce.com request (login.salesforce.com,
test.salesforce.com, <MyDomain>.my.salesforce.com) to the sandbox; the token response's instance_url is the
sandbox itself, so data calls go there directly. Pass it as `Salesforce(..., session=...)`.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from leadsync.connectors.salesforce.sandbox.auth import SandboxCredentials


class SandboxRedirectAdapter(HTTPAdapter):
    """Sends requests for Salesforce's hosts to the sandbox URL (scheme, host and port); requests for the
    sandbox itself go out unchanged, or downgraded to http when the sandbox runs without TLS."""

    def __init__(self, sandbox_url: str, **kwargs):
        super().__init__(**kwargs)
        target = urlsplit(sandbox_url)
        self._scheme, self._netloc = target.scheme, target.netloc

    def send(self, request, **kwargs):  # type: ignore[override]
        parts = urlsplit(request.url)
        host = (parts.hostname or "").lower()
        if host.endswith(".salesforce.com") or host == "salesforce.com" or parts.netloc == self._netloc:
            request.url = urlunsplit((self._scheme, self._netloc, parts.path, parts.query, parts.fragment))
        return super().send(request, **kwargs)


def sandbox_session(sandbox_url: str, ca_pem_path: str | Path | None) -> requests.Session:
    """A session that trusts the sandbox's CA and routes Salesforce's login hosts to the sandbox."""
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise override `verify`
    session.verify = str(ca_pem_path) if ca_pem_path else True
    adapter = SandboxRedirectAdapter(sandbox_url)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


LOGIN_FLOWS = ("client_credentials", "jwt", "password", "soap")


def connect_simple_salesforce(sandbox_url: str, ca_pem_path: str | Path | None,
                              credentials: SandboxCredentials | None = None, flow: str = "client_credentials",
                              jwt_private_key: str | None = None, version: str = "59.0",
                              session: requests.Session | None = None):
    """A `simple_salesforce.Salesforce` logged in to a running sandbox (in this process or started with
    `python -m leadsync.connectors.salesforce.sandbox`) with one of Salesforce's login flows: client_credentials
    (domain="<MyDomain>.my"), jwt (needs the sandbox's or a configured private key), password (OAuth
    username-password) or soap (username + password + security token). simple-salesforce itself is
    unchanged: it logs in at https://*.salesforce.com, which the session routes to the sandbox."""
    from simple_salesforce import Salesforce

    creds = credentials or SandboxCredentials()
    http = session or sandbox_session(sandbox_url, ca_pem_path)
    if flow == "client_credentials":
        return Salesforce(consumer_key=creds.client_id, consumer_secret=creds.client_secret,
                          domain=f"{creds.my_domain}.my", session=http, version=version)
    if flow == "jwt":
        if not jwt_private_key:
            raise ValueError("the jwt flow needs jwt_private_key (PEM)")
        return Salesforce(username=creds.username, consumer_key=creds.client_id, privatekey=jwt_private_key,
                          domain="login", session=http, version=version)
    if flow == "password":
        return Salesforce(username=creds.username, password=creds.password, consumer_key=creds.client_id,
                          consumer_secret=creds.client_secret, session=http, version=version)
    if flow == "soap":
        return Salesforce(username=creds.username, password=creds.password,
                          security_token=creds.security_token, session=http, version=version)
    raise ValueError(f"unknown login flow {flow!r}; use one of {LOGIN_FLOWS}")

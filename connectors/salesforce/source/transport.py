"""The requests session simple-salesforce runs on: TLS trust, a timeout on every request, login routing for a
login_url off salesforce.com, and the last `Sforce-Limit-Info` header seen (simple-salesforce's errors do
not carry response headers, so a refusal's usage is read here)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from connectors.api_client import new_session
from connectors.salesforce.source.settings import SALESFORCE_HOSTS, SalesforceSettings

_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


class _SalesforceAdapter(HTTPAdapter):
    """Applies the default timeout; with `route_to`, sends requests for Salesforce's hosts (and for
    `route_to`'s own host, keeping its scheme) to `route_to`."""

    def __init__(self, timeout_s: float, route_to: str | None = None):
        super().__init__()
        self.timeout_s = timeout_s
        target = urlsplit(route_to) if route_to else None
        self._scheme, self._netloc = (target.scheme, target.netloc) if target else (None, None)

    def send(self, request, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout_s
        if self._netloc:
            parts = urlsplit(request.url)
            host = (parts.hostname or "").lower()
            if host.endswith(SALESFORCE_HOSTS) or parts.netloc == self._netloc:
                request.url = urlunsplit((self._scheme, self._netloc, parts.path, parts.query,
                                          parts.fragment))
        return super().send(request, **kwargs)


class LimitInfo:
    """The org's API usage as the last response reported it (`Sforce-Limit-Info: api-usage=18/15000`)."""

    def __init__(self) -> None:
        self.header: str | None = None

    def remember(self, response: requests.Response, *args, **kwargs) -> None:
        value = response.headers.get("Sforce-Limit-Info")
        if value:
            self.header = value

    @property
    def usage(self) -> tuple[int, int] | None:
        match = _USAGE.search(self.header or "")
        return (int(match.group(1)), int(match.group(2))) if match else None


def build_session(settings: SalesforceSettings, limits: LimitInfo) -> requests.Session:
    session = new_session(settings.http)
    route_to = None if settings.on_salesforce else settings.login_url
    adapter = _SalesforceAdapter(settings.http.timeout_s, route_to)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.hooks["response"].append(limits.remember)
    return session

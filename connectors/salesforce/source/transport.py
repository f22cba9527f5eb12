"""The requests session simple-salesforce runs on: TLS trust, a timeout on every request, login routing for a
login_url off salesforce.com, the org's API budget around every request (login, REST, Bulk API 2.0: they
all go through this adapter), and the last `Sforce-Limit-Info` header seen (simple-salesforce's errors do
not carry response headers, so a refusal's usage is read here).

The budget (connectors/api_budget.py) is the org's: its key is `salesforce:<host>` of the URL simple-salesforce
asked for, before any routing. Data calls go to the instance URL the token response names (the org's My
Domain host), so every source on one org shares one budget. Only /services/data and /services/async calls
count against the daily allocation (Salesforce does not count OAuth/SOAP logins); each response's
`api-usage=used/max` is reported to the budget, which never believes fewer calls were spent."""

from __future__ import annotations

import re
import threading
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from leadsync.connectors.api_budget import ApiBudget, budget_key
from leadsync.connectors.api_client import new_session
from leadsync.connectors.salesforce.source.settings import SALESFORCE_HOSTS, SalesforceSettings

_USAGE = re.compile(r"(?:^|[;,\s])api-usage=(\d+)/(\d+)")
_APP_USAGE = re.compile(r"per-app-api-usage=(\d+)/(\d+)(?:\(appName=([^)]*)\))?")
COUNTED_PATHS = ("/services/data/", "/services/async/")  # what the daily request allocation counts


def parse_usage(header: str | None) -> tuple[int, int] | None:
    """(used, max) of `Sforce-Limit-Info: api-usage=25/5000; per-app-api-usage=17/250(appName=...)` as the
    API budget should count it: the org's allocation, tightened by the connected app's own quota when the
    header carries one (per-app-api-usage): `max - used` is the fewer calls left of the two, so a 250-call
    app cap inside a 5,000-call org reads as 4,767/5,000 after 17 calls of the app and 25 of the org."""
    org = _USAGE.search(header or "")
    app = _APP_USAGE.search(header or "")
    if org is None and app is None:
        return None
    if org is None:
        return int(app.group(1)), int(app.group(2))
    used, maximum = int(org.group(1)), int(org.group(2))
    if app is not None:
        app_left = int(app.group(2)) - int(app.group(1))
        used = max(used, maximum - app_left)
    return used, maximum


def app_usage(header: str | None) -> tuple[int, int, str] | None:
    """(used, max, app name) of the connected app's quota in a `Sforce-Limit-Info` header, when it has one."""
    app = _APP_USAGE.search(header or "")
    return (int(app.group(1)), int(app.group(2)), app.group(3) or "") if app else None


class OrgBudgets:
    """The API budget of each host requests go to (one per org in practice: its My Domain host), built from
    the settings' limits, or `budget` for every host when given."""

    def __init__(self, settings: SalesforceSettings, budget: ApiBudget | None = None):
        self.settings = settings
        self.fixed = budget
        self._lock = threading.Lock()
        self._budgets: dict[str, ApiBudget] = {}

    def for_host(self, netloc: str) -> ApiBudget:
        if self.fixed is not None:
            return self.fixed
        key = budget_key("salesforce", netloc)
        with self._lock:
            if key not in self._budgets:
                self._budgets[key] = ApiBudget(key, self.settings.budget_limits())
            return self._budgets[key]


class _SalesforceAdapter(HTTPAdapter):
    """Applies the default timeout; with `route_to`, sends requests for Salesforce's hosts (and for
    `route_to`'s own host, keeping its scheme) to `route_to`; with `budgets`, every request holds a slot of
    its org's API budget while it is sent, and hands the budget the usage the answer reports."""

    def __init__(self, timeout_s: float, route_to: str | None = None, budgets: OrgBudgets | None = None):
        super().__init__()
        self.timeout_s = timeout_s
        self.budgets = budgets
        target = urlsplit(route_to) if route_to else None
        self._scheme, self._netloc = (target.scheme, target.netloc) if target else (None, None)

    def send(self, request, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout_s
        parts = urlsplit(request.url)
        owner = parts.netloc.lower()  # the org's host as simple-salesforce names it, before routing
        if self._netloc:
            host = (parts.hostname or "").lower()
            if host.endswith(SALESFORCE_HOSTS) or parts.netloc == self._netloc:
                request.url = urlunsplit((self._scheme, self._netloc, parts.path, parts.query,
                                          parts.fragment))
        if self.budgets is None:
            return super().send(request, **kwargs)
        budget = self.budgets.for_host(owner)
        with budget.call(count_daily=parts.path.startswith(COUNTED_PATHS)) as call:
            response = super().send(request, **kwargs)
            usage = parse_usage(response.headers.get("Sforce-Limit-Info"))
            if usage is not None:
                call.report_usage(*usage)
        return response


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
        return parse_usage(self.header)


def build_session(settings: SalesforceSettings, limits: LimitInfo,
                  budgets: OrgBudgets | None = None) -> requests.Session:
    session = new_session(settings.http)
    route_to = None if settings.on_salesforce else settings.login_url
    adapter = _SalesforceAdapter(settings.http.timeout_s, route_to, budgets)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.hooks["response"].append(limits.remember)
    return session

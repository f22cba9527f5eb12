"""Connection and behaviour settings of one Salesforce source.

Where to log in: `login_url` is the org's login or My Domain URL ("https://login.salesforce.com",
"https://test.salesforce.com", "https://acme.my.salesforce.com"); simple-salesforce's `domain` is derived
from it ("login", "test", "acme.my") unless given. A `login_url` off salesforce.com (a loopback sandbox,
a gateway) is reached by routing simple-salesforce's https://<domain>.salesforce.com requests there; with
`http.ca_bundle` the session trusts that CA (the sandbox's test CA) instead of the system store. Data calls
go to the `instance_url` the token response names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit

from leadsync.connectors.api_budget import BudgetLimits, Rolling24h, lease_ttl
from leadsync.connectors.api_client import ApiConfigError, HttpSettings, out_of_bounds
from leadsync.connectors.salesforce.source.segregation import SegregationFilter
from leadsync.connectors.salesforce.source.soql import identifier

AUTH_FLOWS = ("client_credentials", "jwt", "password")
OBJECTS = ("Lead", "Contact")
SALESFORCE_HOSTS = ".salesforce.com"
# client_credentials refuses "login"/"test": off salesforce.com any My Domain-shaped name does, since the
# request is routed to login_url anyway.
ROUTED_MY_DOMAIN = "routed.my"

# OPPORTUNITY_COLUMNS / EVENT_COLUMNS → the target object's fields.
OPPORTUNITY_FIELDS = MappingProxyType({"name": "Name", "stage": "StageName", "amount": "Amount",
                                       "close_date": "CloseDate", "partner": "LeadSync_Partner__c"})
OPPORTUNITY_RECORD_FIELD = MappingProxyType({"Lead": "LeadSync_Lead__c", "Contact": "ContactId"})
EVENT_FIELDS = MappingProxyType({"record_id": "WhoId", "subject": "Subject", "occurred_at": "ActivityDate",
                                 "description": "Description"})
EVENT_VALUES = MappingProxyType({"Status": "Completed"})


@dataclass(frozen=True)
class SalesforceSettings:
    """Everything a SalesforceSource needs. Secrets are repr=False (settings end up in logs and metadata)."""

    auth: str = "client_credentials"  # client_credentials | jwt | password
    login_url: str = "https://login.salesforce.com"
    domain: str | None = None  # simple-salesforce's domain; None: from login_url
    consumer_key: str = field(default="", repr=False)
    consumer_secret: str | None = field(default=None, repr=False)
    username: str | None = None  # the integration user (jwt, password)
    private_key_path: str | None = None  # jwt: PEM key of the connected app's certificate
    private_key: str | None = field(default=None, repr=False)  # jwt: the PEM itself, instead of a path
    password: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)  # appended to the password
    object: str = "Lead"  # Lead | Contact
    api_version: str = "62.0"
    http: HttpSettings = field(default_factory=HttpSettings)

    # API budget (connectors/api_budget.py), per org (key `salesforce:<instance host>`), shared by every
    # leadsync worker. The count is the org's rolling-24-hour request usage: leadsync's own calls, raised to
    # what Salesforce reports in `Sforce-Limit-Info` (which includes every other integration's calls). So
    # `daily_api_budget` reads "leadsync stops once the org has used this many of its allocation", leaving
    # the rest for the org's other integrations; the allocation's maximum, once reported, caps it too.
    # With neither field set the budget is off: calls need no budget store (no Redis round trip).
    daily_api_budget: int | None = None  # None: no cap of leadsync's own (Salesforce's 403 still stops it)
    max_concurrent: int | None = None  # calls in flight at once across workers (Salesforce: 25 long ones)

    # Pull
    bulk_threshold: int = 10_000  # changed records (COUNT() first) above which the pull uses Bulk API 2.0
    bulk_page_size: int = 50_000  # rows per Bulk API 2.0 results page (maxRecords)
    bulk_poll_s: float = 1.0  # first wait before polling a bulk job (doubling from there, up to 30 s)
    bulk_job_attempts: int = 2  # a job Salesforce failed for its own reasons is created afresh this many times in all
    bulk_timeout_s: float = 6 * 3600.0  # a bulk job still running after this long fails the pull (transient)
    look_back_s: float = 300.0  # re-read this far behind the watermark
    rest_batch_size: int = 2000  # REST page size (Sforce-Query-Options batchSize, 200..2000)
    segregation: SegregationFilter | None = None

    # Writes
    collections_size: int = 200  # records per sObject Collections call (≤200)
    write_bulk_threshold: int = 2000  # rows above which a write goes through a Bulk API 2.0 ingest job
    opportunity_object: str = "Opportunity"
    opportunity_external_id_field: str = "LeadSync_External_Id__c"
    # name, stage, amount, close_date, partner → fields
    opportunity_fields: Mapping[str, str] = field(default_factory=lambda: OPPORTUNITY_FIELDS)
    opportunity_record_field: str | None = None  # takes record_id; None: LeadSync_Lead__c (Lead), ContactId
    opportunity_account_field: str | None = "AccountId"  # set to the lead's / contact's account; None: not
    event_object: str = "Task"  # or a custom object
    event_external_id_field: str = "LeadSync_Event_Id__c"
    # record_id, subject, occurred_at, description → fields; then constant fields of every event record
    event_fields: Mapping[str, str] = field(default_factory=lambda: EVENT_FIELDS)
    event_values: Mapping[str, str] = field(default_factory=lambda: EVENT_VALUES)
    # Records leadsync creates (registrations, hand-entered leads) carry their key here: an External ID
    # marked Unique on the object, so a second send of the same key finds the first record (creates.py)
    lead_key_field: str = "LeadSync_Lead_Key__c"

    def __post_init__(self) -> None:
        problems = []
        if self.auth not in AUTH_FLOWS:
            problems.append(f"auth must be one of {', '.join(AUTH_FLOWS)}, not {self.auth!r}")
        if self.object not in OBJECTS:
            problems.append(f"object must be Lead or Contact, not {self.object!r}")
        parts = urlsplit(self.login_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            problems.append(f"login_url must be an https URL, not {self.login_url!r}")
        if not re.fullmatch(r"\d{2,3}\.0", self.api_version):
            problems.append(f"api_version looks like 62.0, not {self.api_version!r}")
        problems += self._credential_problems()
        if not 200 <= self.rest_batch_size <= 2000:
            problems.append("rest_batch_size must be within 200..2000")
        if not 1 <= self.collections_size <= 200:
            problems.append("collections_size must be within 1..200")
        if self.bulk_threshold < 0 or self.write_bulk_threshold < 0 or self.bulk_page_size < 1:
            problems.append("bulk_threshold, write_bulk_threshold must be ≥ 0 and bulk_page_size ≥ 1")
        if self.bulk_job_attempts < 1 or self.bulk_timeout_s <= 0:
            problems.append("bulk_job_attempts must be ≥ 1 and bulk_timeout_s positive")
        if self.look_back_s < 0:
            problems.append("look_back_s must be ≥ 0")
        if self.daily_api_budget is not None and self.daily_api_budget < 0:
            problems.append("daily_api_budget must be ≥ 0 (or null for no cap of leadsync's own)")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            problems.append("max_concurrent must be ≥ 1 (or null)")
        for name in (self.opportunity_object, self.opportunity_external_id_field, self.event_object,
                     self.lead_key_field,
                     self.event_external_id_field, *self.opportunity_fields.values(),
                     *self.event_fields.values(), *self.event_values):
            identifier(name)
        day = 86_400
        problems += out_of_bounds({
            "bulk_threshold": (self.bulk_threshold, 0, 100_000_000),
            "write_bulk_threshold": (self.write_bulk_threshold, 0, 100_000_000),
            "bulk_page_size": (self.bulk_page_size, 1, 1_000_000), "bulk_poll_s": (self.bulk_poll_s, 0, 300),
            "bulk_job_attempts": (self.bulk_job_attempts, 1, 10), "bulk_timeout_s": (self.bulk_timeout_s, 0.001, 2 * day),
            "look_back_s": (self.look_back_s, 0, 7 * day), "daily_api_budget": (self.daily_api_budget, 0, 1_000_000_000),
            "max_concurrent": (self.max_concurrent, 1, 25)})
        if problems:
            raise ApiConfigError("Salesforce settings: " + "; ".join(problems))

    def _credential_problems(self) -> list[str]:
        needs = {"client_credentials": ["consumer_key", "consumer_secret"],
                 "jwt": ["consumer_key", "username"],
                 "password": ["consumer_key", "consumer_secret", "username", "password"]}.get(self.auth, [])
        missing = [name for name in needs if not getattr(self, name)]
        if self.auth == "jwt" and not (self.private_key_path or self.private_key):
            missing.append("private_key_path")
        return [f"auth {self.auth} needs {', '.join(missing)}"] if missing else []

    @property
    def on_salesforce(self) -> bool:
        """Whether login_url is one of Salesforce's own hosts (no routing needed)."""
        host = (urlsplit(self.login_url).hostname or "").lower()
        return host.endswith(SALESFORCE_HOSTS)

    @property
    def sf_domain(self) -> str:
        """simple-salesforce's `domain`: https://{domain}.salesforce.com is where it logs in."""
        if self.domain:
            return self.domain
        host = (urlsplit(self.login_url).hostname or "").lower()
        if host.endswith(SALESFORCE_HOSTS):
            return host[: -len(SALESFORCE_HOSTS)]
        return ROUTED_MY_DOMAIN if self.auth == "client_credentials" else "login"

    @property
    def jwt_domains(self) -> tuple[str, str | None]:
        """(audience domain, token host domain or None) for the JWT bearer flow: the audience is
        login.salesforce.com (test. for sandboxes) even when the token is asked of a My Domain."""
        if self.domain or not self.on_salesforce:
            return self.sf_domain, None
        host_domain = self.sf_domain
        if host_domain in ("login", "test"):
            return host_domain, None
        return ("test" if host_domain.endswith(".sandbox.my") else "login"), host_domain

    @property
    def opportunity_record_target(self) -> str:
        return self.opportunity_record_field or OPPORTUNITY_RECORD_FIELD[self.object]

    def budget_limits(self) -> BudgetLimits:
        """Without a daily_api_budget nothing is counted (and no call waits on the budget store): the
        vendor's usage report, kept from the first answer on once a budget is set, is the count that
        matters, and Salesforce's own 403 stops an unbudgeted pull."""
        return BudgetLimits(max_concurrent=self.max_concurrent, lease_ttl_s=lease_ttl(self.http.timeout_s),
                            daily_limit=self.daily_api_budget,
                            day=Rolling24h() if self.daily_api_budget is not None else None, vendor="Salesforce")


def sandbox_settings(org, **overrides) -> SalesforceSettings:
    """Settings reaching a running SalesforceSandbox (connectors/salesforce/sandbox/): its URL and test CA,
    client credentials, quick retries and bulk polling that suit a server on loopback."""
    from leadsync.connectors.api_client import RetryPolicy

    values = {"login_url": org.url, "consumer_key": org.credentials.client_id,
              "consumer_secret": org.credentials.client_secret, "bulk_poll_s": 0,
              "http": HttpSettings(ca_bundle=org.ca_pem_path, retry=RetryPolicy(attempts=4, initial_s=0.01, max_s=0.05))}
    return SalesforceSettings(**{**values, **overrides})

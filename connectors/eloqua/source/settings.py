"""How leadsync reaches one Eloqua instance and what it reads and writes there.

Credentials: Basic auth (`Site\\User:password`) by default; OAuth 2.0 when `client_id` is set, with the
refresh-token grant when a `refresh_token` is given and the resource-owner password grant otherwise. Refresh
tokens rotate on every use: `on_refresh_token` receives each new one so the caller can store it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from leadsync.connectors.api_budget import BudgetLimits, MidnightIn, budget_key, lease_ttl
from leadsync.connectors.api_client import ApiConfigError, HttpSettings, out_of_bounds

MAX_EXPORT_PAGE = 50_000  # Bulk API: at most 50,000 records per data request
MAX_LIST_PAGE = 1000  # Bulk API lists (fields, rejects, logs) and REST pages: at most 1000

DEFAULT_OPPORTUNITY_FIELDS = {"external_id": "External Id", "name": "Name", "stage": "Stage", "amount": "Amount",
                              "close_date": "Close Date", "partner": "Partner"}
DEFAULT_EVENT_FIELDS = {"key": "Event Id", "event_type": "Event Type", "occurred_at": "Event Date",
                        "description": "Details", "partner": "Partner"}


@dataclass(frozen=True)
class EloquaSettings:
    site: str  # the company (site) name users log in with
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    login_url: str = "https://login.eloqua.com"  # or a sandbox's URL; /id there tells the pod
    # OAuth 2.0 (optional): client credentials, plus a refresh token from an earlier authorization.
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    on_refresh_token: Callable[[str], None] | None = field(default=None, repr=False, compare=False)
    http: HttpSettings = field(default_factory=HttpSettings)
    # Limits, per company and shared by every leadsync worker through the API budget (connectors/
    # api_budget.py, key `eloqua:<login host>:<site>`). Eloqua publishes no REST rate or daily number (it
    # throttles with 429), so all are off unless configured.
    calls_per_window: int | None = None  # client-side throttle: calls per window_s; None: off
    window_s: float = 1.0
    max_concurrent: int | None = None  # calls in flight at once, across workers; None: off
    daily_quota: int | None = None  # calls per UTC day; None: off
    # Bulk exports
    export_page_size: int = MAX_EXPORT_PAGE  # rows per /syncs/{id}/data request, and per PulledBatch
    export_retention: str = "P1D"  # how long a sync's data stays readable, so an interrupted pull can resume
    sync_poll_interval_s: float = 2.0
    sync_timeout_s: float = 3600.0
    look_back: timedelta = timedelta(minutes=5)  # incremental pulls re-read this far behind the watermark
    membership_activity_types: tuple[str, ...] = ("EmailSend", "EmailOpen", "EmailClickthrough", "FormSubmit")
    # Writes
    identifier: Literal["ContactID", "C_EmailAddress"] = "ContactID"  # what record_id holds in writes
    import_rows_per_upload: int = 20_000
    status_mode: Literal["contact_fields", "custom_object"] = "contact_fields"
    status_object: str | None = None  # custom object (name or id) when status_mode is custom_object
    opportunity_object: str = "LeadSync Opportunity"  # custom object name or id
    opportunity_fields: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_OPPORTUNITY_FIELDS))
    event_object: str = "LeadSync Partner Event"
    event_fields: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_EVENT_FIELDS))
    # Contacts leadsync creates (registrations, hand-entered leads) carry their key here (creates.py)
    lead_key_field: str = "C_LeadSync_Lead_Key1"

    def __post_init__(self) -> None:
        problems = []
        if not self.site:
            problems.append("site is required")
        if not 1 <= self.export_page_size <= MAX_EXPORT_PAGE:
            problems.append(f"export_page_size must be between 1 and {MAX_EXPORT_PAGE:,} (Bulk API limit), "
                            f"not {self.export_page_size}")
        if self.client_id is None and not (self.username and self.password):
            problems.append("Basic auth needs username and password (or set client_id for OAuth)")
        if self.client_id is not None and not self.client_secret:
            problems.append("OAuth needs client_secret with client_id")
        if self.client_id is not None and not self.refresh_token and not (self.username and self.password):
            problems.append("OAuth needs a refresh_token, or username and password for the password grant")
        if self.status_mode == "custom_object" and not self.status_object:
            problems.append("status_mode custom_object needs status_object")
        if self.identifier not in ("ContactID", "C_EmailAddress"):
            problems.append(f"identifier must be ContactID or C_EmailAddress, not {self.identifier!r}")
        if self.sync_poll_interval_s <= 0 or self.sync_timeout_s <= 0:
            problems.append("sync_poll_interval_s and sync_timeout_s must be positive")
        if (self.calls_per_window is not None and self.calls_per_window < 1) or self.window_s <= 0 or \
                (self.max_concurrent is not None and self.max_concurrent < 1) or \
                (self.daily_quota is not None and self.daily_quota < 0):
            problems.append("calls_per_window and max_concurrent must be ≥ 1, daily_quota ≥ 0 (or null), "
                            "window_s positive")
        problems += out_of_bounds({
            "calls_per_window": (self.calls_per_window, 1, 1_000_000), "window_s": (self.window_s, 0.001, 86_400),
            "max_concurrent": (self.max_concurrent, 1, 100), "daily_quota": (self.daily_quota, 0, 1_000_000_000),
            "sync_poll_interval_s": (self.sync_poll_interval_s, 0.001, 600),
            "sync_timeout_s": (self.sync_timeout_s, 0.001, 172_800),
            "import_rows_per_upload": (self.import_rows_per_upload, 1, 5_000_000),
            "look_back (seconds)": (self.look_back.total_seconds(), 0, 7 * 86_400)})
        if problems:
            raise ApiConfigError("Eloqua settings: " + "; ".join(problems))

    @property
    def uses_oauth(self) -> bool:
        return self.client_id is not None

    @property
    def budget_key(self) -> str:
        """Whose limits these are: the company (site), as reached through its login host."""
        return budget_key("eloqua", urlsplit(self.login_url).netloc or self.login_url, self.site)

    def budget_limits(self) -> BudgetLimits:
        return BudgetLimits(calls_per_window=self.calls_per_window, window_s=self.window_s,
                            max_concurrent=self.max_concurrent, lease_ttl_s=lease_ttl(self.http.timeout_s),
                            daily_limit=self.daily_quota, day=MidnightIn() if self.daily_quota is not None else None,
                            vendor="Eloqua")

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

from connectors.api_client import ApiConfigError, HttpSettings

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
    calls_per_window: int | None = None  # client-side throttle (Eloqua publishes no number); None: off
    window_s: float = 1.0
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
        if problems:
            raise ApiConfigError("Eloqua settings: " + "; ".join(problems))

    @property
    def uses_oauth(self) -> bool:
        return self.client_id is not None

"""How leadsync reaches one Marketo instance and how hard it may use it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from leadsync.connectors.api_budget import BudgetLimits, MidnightIn, budget_key, lease_ttl
from leadsync.connectors.api_client import HttpSettings, RetryPolicy, out_of_bounds

if TYPE_CHECKING:
    from leadsync.connectors.marketo.sandbox import MarketoSandbox

# OPPORTUNITY_COLUMNS (connectors/source_api.py) → Marketo opportunity fields; `key` and `record_id` are ours.
OPPORTUNITY_FIELDS = {"external_id": "externalOpportunityId", "name": "name", "stage": "stage",
                      "amount": "amount", "close_date": "closeDate", "partner": "leadsyncPartner"}
# EVENT_COLUMNS → attributes of the partner-event custom activity type (the sandbox's leadsyncPartnerEvent).
EVENT_ATTRIBUTES = {"partner": "partnerName", "event_type": "eventType", "occurred_at": "eventDate"}
# History pulled by `activities()` when the caller names no types: web visits, forms, email, new lead,
# data value changes, program status changes.
HISTORY_ACTIVITY_TYPES = (1, 2, 6, 10, 11, 12, 13, 104)


@dataclass(frozen=True)
class MarketoSettings:
    """One Marketo instance. `base_url` is `https://<munchkin-id>.mktorest.com` (or a sandbox URL)."""

    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    http: HttpSettings = field(default_factory=HttpSettings)

    # Limits, per instance and shared by every leadsync worker through the API budget (connectors/
    # api_budget.py, key `marketo:<rest host>`). Marketo allows 100 calls per 20 s, 10 in flight and 50,000
    # calls a day (reset at midnight US Central) per instance; keep a margin for its other integrations.
    calls_per_20s: int = 90  # calls per `window_s` (Marketo's window is 20 s; tests shorten it)
    max_concurrent: int = 10
    window_s: float = 20.0
    daily_quota: int | None = 50_000  # None: leadsync keeps no daily cap (Marketo's 607 still stops it)
    rate_limit_wait_s: float = 20.0  # after a 606 the window has to slide: wait this long

    # Pull.
    bulk_threshold: int = 10_000  # more changed leads than this: Bulk Extract instead of REST
    look_back_s: int = 300  # each incremental pull re-reads this much before `since`
    rest_batch_size: int = 300  # leads per Get Leads call (Marketo's maximum) and per REST batch
    change_activity_type_ids: tuple[int, ...] = (12, 13)  # New Lead, Change Data Value
    first_pull_days: int = 730  # a first pull (no `since`) reads leads updated in these many days
    bulk_window_days: int = 31  # Marketo's maximum date range of an export filter
    bulk_chunk_rows: int = 50_000  # rows per bulk batch
    export_poll_s: float = 30.0  # Marketo refreshes a job's status at most once a minute
    export_timeout_s: float = 3 * 3600.0
    export_queue_wait_s: float = 60.0  # after 1029 "Too many jobs in queue": wait, enqueue the same job again
    export_attempts: int = 2  # a Failed export job is created afresh this many times in all
    work_dir: Path | None = None  # where export files are streamed to (default: the system temp dir)

    # History.
    activity_type_ids: tuple[int, ...] = HISTORY_ACTIVITY_TYPES
    history_days: int = 30  # activities() without `since` reads this far back

    # Write-back. Lead updates are matched on the Marketo lead id (lookupField id).
    custom_activity_type: str = "leadsyncPartnerEvent"  # api name or numeric id of the partner-event type
    event_attributes: dict[str, str] = field(default_factory=lambda: dict(EVENT_ATTRIBUTES))
    event_key_attribute: str | None = None  # an attribute of the type that holds our key, if it has one
    opportunity_mode: str = "opportunity"  # "opportunity" (+ roles) | "custom_object"
    opportunity_fields: dict[str, str] = field(default_factory=lambda: dict(OPPORTUNITY_FIELDS))
    opportunity_role: str = "Partner Lead"
    custom_object_name: str = "leadsyncOpportunity_c"
    custom_object_lead_field: str = "leadId"  # custom_object mode: the field linking the object to a lead
    # Leads leadsync creates (registrations, hand-entered leads) carry their key here: a searchable string
    # field, the lookupField of the createOnly sync, so a key sent again is never a second lead (creates.py)
    lead_key_field: str = "leadsyncLeadKey"

    def __post_init__(self) -> None:
        if self.opportunity_mode not in ("opportunity", "custom_object"):
            raise ValueError(f"opportunity_mode must be 'opportunity' or 'custom_object', not "
                             f"{self.opportunity_mode!r}")
        if not 1 <= self.rest_batch_size <= 300:
            raise ValueError("rest_batch_size must be between 1 and 300 (Marketo's maximum)")
        if not 1 <= self.bulk_window_days <= 31:
            raise ValueError("bulk_window_days must be between 1 and 31 (Marketo's maximum)")
        if self.calls_per_20s < 1 or self.max_concurrent < 1 or self.window_s <= 0:
            raise ValueError("calls_per_20s, max_concurrent and window_s must be positive")
        if self.daily_quota is not None and self.daily_quota < 0:
            raise ValueError("daily_quota must be ≥ 0 (or None for no cap of leadsync's own)")
        day = 86_400
        problems = out_of_bounds({
            "calls_per_20s": (self.calls_per_20s, 1, 100), "max_concurrent": (self.max_concurrent, 1, 10),
            "window_s": (self.window_s, 0.001, 3600), "daily_quota": (self.daily_quota, 0, 100_000_000),
            "rate_limit_wait_s": (self.rate_limit_wait_s, 0, 600), "bulk_threshold": (self.bulk_threshold, 0, 100_000_000),
            "look_back_s": (self.look_back_s, 0, 7 * day), "first_pull_days": (self.first_pull_days, 1, 3650),
            "bulk_chunk_rows": (self.bulk_chunk_rows, 1, 10_000_000), "export_poll_s": (self.export_poll_s, 0, 3600),
            "export_timeout_s": (self.export_timeout_s, 0.001, 2 * day),
            "export_queue_wait_s": (self.export_queue_wait_s, 0, 3600), "export_attempts": (self.export_attempts, 1, 10),
            "history_days": (self.history_days, 1, 3650)})
        if problems:
            raise ValueError("Marketo settings: " + "; ".join(problems))
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    @property
    def budget_key(self) -> str:
        """Whose limits these are: the instance (its REST host carries the munchkin id). Two sources on one
        instance share one budget whatever their API users: Marketo counts per instance."""
        return budget_key("marketo", urlsplit(self.base_url).netloc or self.base_url)

    def budget_limits(self) -> BudgetLimits:
        return BudgetLimits(calls_per_window=self.calls_per_20s, window_s=self.window_s,
                            max_concurrent=self.max_concurrent, lease_ttl_s=lease_ttl(self.http.timeout_s),
                            daily_limit=self.daily_quota, day=MidnightIn("America/Chicago", "US Central"),
                            vendor="Marketo")


def sandbox_settings(sandbox: MarketoSandbox, **overrides: Any) -> MarketoSettings:
    """Settings for a running MarketoSandbox (connectors/marketo/sandbox.py): its URL, credentials and CA,
    with the quick retries and export polling that suit a server on loopback. Pass the sandbox's clock to
    MarketoSource (`clock=sandbox.clock.now`) so pulls read up to the sandbox's now."""
    quick = MarketoSettings(sandbox.url, sandbox.client_id, sandbox.client_secret,
                            http=HttpSettings(timeout_s=30, ca_bundle=sandbox.ca_pem_path,
                                              retry=RetryPolicy(attempts=6, initial_s=0.05, max_s=0.5)),
                            rate_limit_wait_s=0.5, export_poll_s=0.05, export_timeout_s=60)
    return replace(quick, **overrides)

"""YAML of the API sources (Salesforce, Marketo, Eloqua): connection, pull and writeback sections.

A source file's `type` picks its model (leadsync/config/loader.py); everything shared by all sources
(name, contacts, uniqueness, fields…) is in SourceConfig. Secrets are named by environment variable
(`*_env`), never written in YAML.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field, model_validator

from leadsync.config.partners import Strict

# What the writeback can set on a source record: outbox values → the vendor's field names.
WRITEBACK_VALUES = ("distribution_status", "partner_name", "partner_id", "reason", "rejection_reason",
                    "sales_status", "rep_name", "rep_email", "decided_at")
SALES_STATUSES = ("Not Contacted", "Contacted", "Nurture", "Converted Opportunity", "Unqualified/Invalid")


class CampaignFieldConfig(Strict):
    """One campaign field to pull and keep with its campaign: the source's field (Salesforce: the Campaign
    field's API name, e.g. BudgetedCost or Region__c; Marketo: a program column such as channel, cost, url,
    tags; Eloqua: a standard column or a custom campaign field's name), how partners see it, and whether they
    may."""

    field: str = Field(min_length=1, max_length=120)
    label: str | None = Field(None, max_length=120, description="Label partners see; defaults to the field name.")
    shared: bool = Field(True, description="Shown to partners (emails, portal, reports); false keeps it internal.")


class CampaignSelectionConfig(Strict):
    """Which campaigns (Salesforce campaigns, Marketo programs, Eloqua campaigns) to pull."""

    ids: list[str] = Field(default_factory=list, max_length=1000)
    name_pattern: str | None = Field(None, max_length=500,
                                     description="Regular expression matched against the campaign name.")
    types: list[str] = Field(default_factory=list, max_length=100)
    fields: list[CampaignFieldConfig] = Field(
        default_factory=list, max_length=100,
        description="Campaign fields pulled beyond name, description, type and dates, with partner-facing labels.")

    @model_validator(mode="after")
    def _unique_fields(self) -> CampaignSelectionConfig:
        names = [f.field.lower() for f in self.fields]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"pull.campaigns.fields: {twice} chosen twice; name each field once")
        return self

    @property
    def any(self) -> bool:
        return bool(self.ids or self.name_pattern or self.types)


class ActivitiesConfig(Strict):
    enabled: bool = Field(False, description="Pull the records' activity history.")
    types: list[str] = Field(default_factory=list, description="Activity types to keep; all when empty.")


class BackfillConfig(Strict):
    """History read window by window, one Dagster partition per window (asset `<source>/backfill`): a year's
    backfill fans out over the workers, each window keeps its own watermark, a failed window reruns alone."""

    start: date = Field(description="First day of the history to read (UTC).")
    window: Literal["day", "week", "month"] = Field("month", description="One partition per window.")


class PullConfig(Strict):
    since: datetime | None = Field(None, description="Where the first pull starts; everything when omitted.")
    bulk_threshold: int = Field(10_000, ge=1, le=100_000_000, description="Changed records above which the bulk API is used.")
    look_back_minutes: float = Field(5, ge=0, le=10_080, description="Re-read this far behind the watermark.")
    campaigns: CampaignSelectionConfig = CampaignSelectionConfig()
    activities: ActivitiesConfig = ActivitiesConfig()
    backfill: BackfillConfig | None = Field(None, description="Read history in time-window partitions.")


class OpportunityWriteback(Strict):
    mode: Literal["opportunity", "custom_object"] = "opportunity"
    custom_object: str | None = Field(None, description="Custom object name/id when mode is custom_object.")


class EventWriteback(Strict):
    mode: Literal["activity", "custom_object"] = Field(
        "activity", description="activity: Salesforce Task / Marketo custom activity; or a custom object.")
    custom_object: str | None = None


class WritebackConfig(Strict):
    fields: dict[str, str] = Field(default_factory=dict, description="Writeback value → the source's field name.")
    sales_status_values: dict[str, str] = Field(
        default_factory=dict, description="Our sales statuses → the source's picklist values (same when omitted).")
    distribution_status_values: dict[str, str] = Field(
        default_factory=dict, description="Our distribution statuses (Routed, Not Routed, Needs Review, Withdrawn, "
                                          "Rerouted, Accepted, Rejected) → the source's values (same when omitted).")
    status_object: str | None = Field(
        None, description="Eloqua: write statuses to this custom object (keyed by the contact) instead of contact fields.")
    opportunities: OpportunityWriteback = OpportunityWriteback()
    events: EventWriteback = EventWriteback()
    manual_entry: bool = Field(
        True, description="Leads entered by hand (`leadsync add-lead`, the console's form) become new records of "
                          "the source, created by the next writeback (keyed by the lead id in the lead key field). "
                          "false refuses manual entry into this source.")

    @model_validator(mode="after")
    def _known(self) -> WritebackConfig:
        unknown = sorted(set(self.fields) - set(WRITEBACK_VALUES))
        if unknown:
            raise ValueError(f"writeback.fields: unknown values {unknown}; allowed: {list(WRITEBACK_VALUES)}")
        bad = sorted(set(self.sales_status_values) - set(SALES_STATUSES))
        if bad:
            raise ValueError(f"writeback.sales_status_values: unknown statuses {bad}; ours are {list(SALES_STATUSES)}")
        return self


class RetryConfig(Strict):
    """How a vendor call that failed transiently (5xx, 429, timeout, dropped connection) is tried again, with
    exponential back-off and jitter (a Retry-After hint wins); once spent, the run ends naming the vendor's
    endpoint, and the next run resumes from the watermark."""

    attempts: int = Field(6, ge=1, le=10, description="Tries in all, the first included.")
    initial_s: float = Field(0.5, gt=0, le=60, description="First wait between tries.")
    max_s: float = Field(30, gt=0, le=300, description="Longest wait between tries.")


class NurtureConfig(Strict):
    """Leads a partner is nurturing go into the supplier's nurture campaign; leads that are done leave it.
    Decided per record from the latest sales status a writeback carries: `enrol_on` enrols, `remove_on`
    removes, any other status leaves the enrolment as it is."""

    target: Literal["campaign", "program", "static_list", "contact_list"] = Field(
        description="Salesforce: campaign (CampaignMember); Marketo: program or static_list; Eloqua: contact_list.")
    id: str = Field(min_length=1, max_length=64, description="The campaign / program / list id in the source.")
    member_status: str | None = Field(
        None, max_length=80, description="Salesforce CampaignMember Status, or the Marketo program status "
                                         "(required for a program, e.g. Member).")
    enrol_on: list[str] = Field(default_factory=lambda: ["Contacted", "Nurture"], max_length=len(SALES_STATUSES))
    remove_on: list[str] = Field(default_factory=lambda: ["Unqualified/Invalid", "Converted Opportunity"],
                                 max_length=len(SALES_STATUSES))

    @model_validator(mode="after")
    def _statuses(self) -> NurtureConfig:
        bad = sorted(set(self.enrol_on + self.remove_on) - set(SALES_STATUSES))
        if bad:
            raise ValueError(f"nurture: unknown sales statuses {bad}; ours are {list(SALES_STATUSES)}")
        both = sorted(set(self.enrol_on) & set(self.remove_on))
        if both:
            raise ValueError(f"nurture: {both} both enrol and remove; keep each status in one list")
        if self.target == "program" and not self.member_status:
            raise ValueError("nurture: a Marketo program needs member_status (a status of its channel, e.g. Member)")
        return self


class FollowStatus(Strict):
    field: str = Field(min_length=1, max_length=120, description="The source field holding the sales status.")
    values: dict[str, str] = Field(
        default_factory=dict, max_length=200,
        description="The source's values → our sales statuses; a value equal to one of ours needs no entry, and "
                    "the reverse of writeback.sales_status_values is known already. Other values are ignored "
                    "(and reported).")

    @model_validator(mode="after")
    def _ours(self) -> FollowStatus:
        bad = sorted(set(self.values.values()) - set(SALES_STATUSES))
        if bad:
            raise ValueError(f"follow_source.sales_status.values: {bad} are not sales statuses; ours are "
                             f"{list(SALES_STATUSES)}")
        return self


class FollowSourceConfig(Strict):
    """Changes the supplier's own team makes at the source, on leads a partner holds, become the same lifecycle
    events a partner's update makes (actor `source:<name>`), and are never written back to the source.
    Conflict rule: a source change applies only when the record was modified after the partner's latest
    update of the lead (its newest lifecycle event not made by the source, else its acceptance); an older one
    is skipped and reported in the pull's metadata, the partner's update kept."""

    sales_status: FollowStatus | None = None
    owner_name: str | None = Field(None, max_length=120, description="Source field: the rep's (owner's) name.")
    owner_email: str | None = Field(None, max_length=120, description="Source field: the rep's email.")
    converted: str | None = Field(None, max_length=120,
                                  description="Source boolean field: true makes the lead Converted Opportunity.")
    opportunity: dict[Literal["name", "stage", "amount", "close_date"], str] = Field(
        default_factory=dict, description="Opportunity value → source field (read with a conversion).")

    @property
    def source_fields(self) -> list[str]:
        names = [self.sales_status.field if self.sales_status else None, self.owner_name, self.owner_email,
                 self.converted, *self.opportunity.values()]
        return [n for n in names if n]


NURTURE_TARGETS = {"salesforce": ("campaign",), "marketo": ("program", "static_list"), "eloqua": ("contact_list",)}


class SalesforceConnection(Strict):
    login_url: str = Field("https://login.salesforce.com", description="Login (or My Domain) URL.")
    auth: Literal["client_credentials", "jwt", "password"] = "client_credentials"
    consumer_key_env: str
    consumer_secret_env: str | None = None
    username: str | None = Field(None, description="The integration user (jwt, password).")
    private_key_path: str | None = Field(None, description="PEM key of the connected app's certificate (jwt).")
    password_env: str | None = None
    object: Literal["Lead", "Contact"] = "Lead"
    api_version: str = "62.0"
    ca_bundle: str | None = Field(None, description="CA file to trust (a sandbox's test CA).")
    timeout_s: float = Field(30, gt=0, le=600, description="Seconds a call may take before it is retried.")
    retries: RetryConfig = RetryConfig()
    daily_api_budget: int | None = Field(
        None, ge=0, le=1_000_000_000, description="Stop once the org has used this many API requests in 24 h (its allocation counts "
                                "every integration): leaves room for the others. None: only Salesforce's limit.")
    max_concurrent: int | None = Field(None, ge=1, le=25, description="API calls in flight at once, across all workers "
                                                                        "(Salesforce allows 25 long-running requests).")

    @model_validator(mode="after")
    def _flow(self) -> SalesforceConnection:
        needs = {"client_credentials": ["consumer_secret_env"], "jwt": ["username", "private_key_path"],
                 "password": ["username", "password_env", "consumer_secret_env"]}[self.auth]
        missing = [k for k in needs if not getattr(self, k)]
        if missing:
            raise ValueError(f"auth '{self.auth}' needs {', '.join(missing)}")
        return self


class MarketoConnection(Strict):
    base_url: str = Field(description="https://<munchkin id>.mktorest.com")
    client_id_env: str
    client_secret_env: str
    calls_per_20s: int = Field(90, ge=1, le=100, description="Stay under Marketo's 100 calls per 20 s.")
    max_concurrent: int = Field(8, ge=1, le=10)
    daily_quota: int | None = Field(50_000, ge=0, le=100_000_000, description="Calls per day (US Central) leadsync may make; "
                                                              "Marketo's default subscription quota is 50,000.")
    export_poll_s: float = Field(30, gt=0, le=3600, description="How often a Bulk Extract job's status is checked.")
    ca_bundle: str | None = None
    timeout_s: float = Field(30, gt=0, le=600, description="Seconds a call may take before it is retried.")
    retries: RetryConfig = RetryConfig()


class EloquaConnection(Strict):
    login_url: str = "https://login.eloqua.com"
    site: str = Field(description="Company (site) name of the Eloqua instance.")
    auth: Literal["basic", "oauth"] = Field(
        "basic", description="basic: Site\\User:password on every call; oauth: OAuth 2.0 bearer tokens from "
                             "/auth/oauth2/token (Oracle's recommendation), renewed once on a 401.")
    username: str | None = Field(None, description="The integration user (basic; oauth's password grant).")
    password_env: str | None = None
    client_id_env: str | None = Field(None, description="oauth: environment variable holding the app's client id.")
    client_secret_env: str | None = None
    refresh_token_env: str | None = Field(
        None, description="oauth: environment variable holding a refresh token from the app's authorization "
                          "(authorization code grant). Without it, the password grant with username/password_env.")
    token_file: str | None = Field(
        None, description="oauth: file where leadsync keeps the refresh token; Eloqua rotates it on every use, so "
                          "the newest one is written here (mode 600) and read before refresh_token_env.")
    identifier: Literal["ContactID", "C_EmailAddress"] = Field(
        "ContactID", description="What writes are keyed by.")
    sync_poll_s: float = Field(2.0, gt=0, le=600, description="The longest wait between a Bulk sync's status checks: the first "
                                                 "comes 0.05 s after the sync starts, each later one twice as late, up to this.")
    ca_bundle: str | None = None
    timeout_s: float = Field(30, gt=0, le=600, description="Seconds a call may take before it is retried.")
    retries: RetryConfig = RetryConfig()
    calls_per_window: int | None = Field(None, ge=1, le=1_000_000, description="At most this many calls per `window_s`.")
    window_s: float = Field(1.0, gt=0, le=86_400)
    max_concurrent: int | None = Field(None, ge=1, le=100, description="Calls in flight at once, across all workers.")
    daily_quota: int | None = Field(None, ge=0, le=1_000_000_000, description="Calls per UTC day leadsync may make.")

    @model_validator(mode="after")
    def _auth(self) -> EloquaConnection:
        if self.auth == "basic":
            missing = [k for k in ("username", "password_env") if not getattr(self, k)]
            if missing:
                raise ValueError(f"auth 'basic' needs {', '.join(missing)} (or set auth: oauth)")
            return self
        missing = [k for k in ("client_id_env", "client_secret_env") if not getattr(self, k)]
        if not self.refresh_token_env and not self.token_file and not (self.username and self.password_env):
            missing.append("refresh_token_env (or token_file, or username and password_env for the password grant)")
        if missing:
            raise ValueError(f"auth 'oauth' needs {', '.join(missing)}")
        return self

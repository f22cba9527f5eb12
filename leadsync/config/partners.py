"""mappings/partners.yaml as pydantic models: the partners, and how leads are routed to them.

Routing precedence (each step optional; see leadsync/routing/engine.py):
protected accounts → partner named on the lead / chosen for the upload → rule groups (round robin among
several matches) → default partner → unassigned queue.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from leadsync.config.crm_kinds import crm_kinds

IDENTIFIER = r"^[a-z][a-z0-9_]*$"
EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s]+"
# Upper bounds of the numeric settings: far above any sane value, far below what overflows a date or an interval
# (a setting that passes `leadsync check` must not crash a run later).
MAX_DAYS = 365  # to accept, to claim an offer: a lead older than a year is no longer a lead
MAX_LOOKBACK_DAYS = 3650  # channel conflict look-back
MAX_CAPACITY = 1_000_000  # open leads one partner may hold


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rep(Strict):
    """A partner sales rep a lead can be assigned to (account protection, manual assignment)."""

    name: str
    email: str

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if not re.fullmatch(EMAIL, v):
            raise ValueError(f"'{v}' is not an email address")
        return v.lower()


class PartnerUser(Strict):
    """A person at the partner who may receive lead notifications.

    `default` marks a default lead-notification recipient. Unset on every user, the first user listed
    (the first added) is the default; a first user set to false passes it to the next one listed; once
    any user is set to true, no one else becomes a default automatically."""

    name: str
    email: str
    default: bool | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if not re.fullmatch(EMAIL, v):
            raise ValueError(f"'{v}' is not an email address")
        return v.lower()


class CrmCampaign(Strict):
    """How the lead's source campaign appears in the partner's CRM."""

    mode: Literal["lead_source", "campaign", "field", "none"] = Field(
        "lead_source", description="lead_source: the Lead Source field; campaign: a campaign membership (the "
                                   "campaign found by name); field: the CRM field named by `field`; none.")
    field: str | None = Field(None, description="The CRM field holding the campaign name (mode field).")
    create_missing: bool = Field(True, description="mode campaign: create a campaign the CRM does not have.")

    @model_validator(mode="after")
    def _field(self) -> CrmCampaign:
        if (self.mode == "field") != bool(self.field):
            raise ValueError("give 'field' exactly when mode is 'field' (the CRM field that takes the campaign)")
        return self


class CrmOwner(Strict):
    """Who owns a lead created in the partner's CRM: the lead's rep (a partner rep chosen by routing or by
    hand) when the CRM has a user with that email, else the default owner, else the CRM's own default
    (the integration user)."""

    default_email: str | None = Field(None, description="Email of the CRM user who owns leads without a rep.")
    use_rep: bool = True

    @field_validator("default_email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(EMAIL, v):
            raise ValueError(f"'{v}' is not an email address")
        return v.lower() if v else v


class CrmWithdrawal(Strict):
    """How a lead withdrawn from the partner is marked in its CRM (it is never deleted): its status set to
    `status`, or the field `field` set to `value`."""

    status: str | None = None
    field: str | None = None
    value: str | bool | float | None = True

    @model_validator(mode="after")
    def _one(self) -> CrmWithdrawal:
        if bool(self.status) == bool(self.field):
            raise ValueError("mark withdrawals by 'status' (a CRM status value) or by 'field' (+ 'value'): "
                             "exactly one of the two")
        return self


class PartnerCrm(Strict):
    """The partner's own CRM: leads it accepts are created there, and its changes to them come back as
    lifecycle events. `type` picks the connector (a kind registered in leadsync/config/crm_kinds.py);
    `connection` takes that connector's connection keys (salesforce: the same keys as a Salesforce source's
    `connection`)."""

    type: str = Field("salesforce", description="The CRM connector: salesforce.")
    connection: Any = Field(description="How to reach the partner's CRM; secrets are named by *_env keys.")
    external_id_field: str = Field(
        "LeadSync_Lead_Id__c", description="CRM field (an external id) holding leadsync's lead id: a retry "
                                           "updates the record it created instead of creating another.")
    fields: dict[str, str] = Field(
        default_factory=dict, description="Lead field → CRM field, over the connector's defaults; only fields "
                                          "the source shares with partners are ever sent.")
    campaign: CrmCampaign = CrmCampaign()
    owner: CrmOwner = CrmOwner()
    crm_only_opportunities: bool = Field(
        False, description="Also read opportunities the partner created in its CRM without a leadsync lead "
                           "(the Opportunity Summary's CRM-only class).")
    status_map: dict[str, str] = Field(
        default_factory=dict, description="CRM lead status → our sales status, over the connector's defaults.")
    stage_map: dict[str, str] = Field(
        default_factory=dict, description="CRM opportunity stage → a lifecycle.yaml stage, over the defaults.")
    withdrawal: CrmWithdrawal = CrmWithdrawal(status="Closed - Not Converted")

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        kinds = crm_kinds()
        if v not in kinds:
            raise ValueError(f"'{v}' is not a CRM connector; known: {', '.join(kinds) or 'none registered'}")
        return v

    @field_validator("connection", mode="before")
    @classmethod
    def _connection(cls, v: Any, info: ValidationInfo) -> Any:
        kind = crm_kinds().get(info.data.get("type") or "")
        if kind is None:
            return v
        if isinstance(v, kind.connection_model):
            return v
        try:
            return kind.connection_model.model_validate(v)
        except ValidationError as exc:
            raise ValueError("; ".join(
                ".".join([*(str(p) for p in e["loc"]), ""])[:-1] + (": " if e["loc"] else "")
                + ("required key is missing" if e["type"] == "missing" else e["msg"].removeprefix("Value error, "))
                for e in exc.errors())) from None

    @field_validator("status_map")
    @classmethod
    def _statuses(cls, v: dict[str, str]) -> dict[str, str]:
        from leadsync.config.api_sources import SALES_STATUSES

        bad = {k: s for k, s in v.items() if s not in SALES_STATUSES}
        if bad:
            raise ValueError(f"{bad}: map each CRM status to one of our sales statuses {list(SALES_STATUSES)}")
        return v


class Partner(Strict):
    id: Annotated[str, Field(pattern=IDENTIFIER)]
    name: str
    type: str | None = None
    tier: str | None = None
    countries: list[str] = Field(default_factory=list)
    states: list[str] = Field(default_factory=list)
    postal_codes: list[str] | dict[str, list[str]] = Field(
        default_factory=list, description="Prefixes ('94') or ranges ('94000-94999'); or per country, "
                                          "{DE: ['10000-19999'], AT: ['1000-1999']}: each list holds only for "
                                          "leads of that country.")
    products: list[str] = Field(default_factory=list)
    competencies: list[str] = Field(default_factory=list)
    lead_types: list[str] = Field(default_factory=list, description="SMB, Mid-Market, Enterprise or your own.")
    reps: list[Rep] = Field(default_factory=list)
    users: list[PartnerUser] = Field(default_factory=list, description="In the order they were added.")
    auto_accept: bool = Field(False, description="Leads are accepted on delivery, with no notification email: for "
                                                 "partners whose CRM receives them (`crm`).")
    auto_accept_without_crm: str | None = Field(
        None, description="Why this partner auto-accepts with no CRM connection (nobody is told of its "
                                        "leads); `leadsync check` refuses auto_accept without a `crm` unless set.")
    closed_loop: bool = Field(True, description="false: the partner opted out of closed-loop status reporting.")
    active: bool = True
    weight: int = Field(1, ge=1, le=1000, description="Share of round robin among several matching partners.")
    capacity: int | None = Field(None, ge=1, le=MAX_CAPACITY,
                                  description="Most open leads the partner may hold; none: no limit.")
    accept_within_days: float | None = Field(
        None, gt=0, le=MAX_DAYS,
        description="Days to accept before the lead is withdrawn and rerouted (overrides routing's).")
    crm: PartnerCrm | None = Field(
        None, description="The partner's own CRM: accepted leads are created there and its updates come back.")
    technical_contact: str | None = Field(
        None, description="Who at the partner is emailed when its CRM refuses leadsync (credentials, fields).")
    timezone: str = Field("UTC", description="IANA zone the partner works in (e.g. Europe/Berlin): its days, "
                                            "windows and reminders are counted there, its emails show dates there.")
    business_days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = Field(
        None, min_length=1, description="Days the partner works (e.g. [mon, tue, wed, thu, fri]): acceptance "
                                        "windows and reminders count only these; none: every day.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{v}' is not an IANA time zone; write e.g. Europe/Berlin, America/New_York or "
                             "UTC") from None
        return v

    @field_validator("business_days")
    @classmethod
    def _days(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len(set(v)) != len(v):
            raise ValueError(f"business_days names a day twice: {v}")
        return v

    @field_validator("auto_accept_without_crm")
    @classmethod
    def _reason(cls, v: str | None) -> str | None:
        if v is not None and len(v.strip()) < 3:
            raise ValueError("say why the partner auto-accepts without a CRM (a sentence), or remove the key")
        return v.strip() if v else v

    @field_validator("technical_contact")
    @classmethod
    def _contact(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(EMAIL, v):
            raise ValueError(f"'{v}' is not an email address")
        return v.lower() if v else v

    @field_validator("postal_codes")
    @classmethod
    def _postal_countries(cls, v: list[str] | dict[str, list[str]]) -> list[str] | dict[str, list[str]]:
        if isinstance(v, dict):
            blank = [c for c in v if not str(c).strip()]
            if blank:
                raise ValueError("postal_codes per country: every key must be a country (as leads spell it, "
                                 "e.g. DE), not empty")
            seen: dict[str, str] = {}
            for c in v:
                norm = str(c).strip().lower()
                if norm in seen:
                    raise ValueError(f"postal_codes names country '{c}' twice (as '{seen[norm]}' too): merge the "
                                     "two lists")
                seen[norm] = c
        return v

    def rep(self, email: str) -> Rep | None:
        return next((r for r in self.reps if r.email == email.lower()), None)

    def default_users(self) -> list[PartnerUser]:
        """The default lead-notification recipients (see PartnerUser)."""
        flagged = [u for u in self.users if u.default is True]
        if flagged:
            return flagged
        first = next((u for u in self.users if u.default is None), None)
        return [first] if first else []


Operator = Literal["equals", "in", "not_in", "prefix", "range", "contains_any", "is_empty"]
PARTNER_ATTRIBUTES = ("type", "tier", "countries", "states", "postal_codes", "products", "competencies", "lead_types")


class Rule(Strict):
    """lead.<field> <op> (value | partner.<attribute>).

    When the lead's field is empty: by default the rule does not hold (the group does not match); with
    `required: true` the lead goes to manual review; with `optional: true` the rule is skipped.
    """

    field: str
    op: Operator
    value: str | float | list[str] | None = None
    partner_attribute: Literal[PARTNER_ATTRIBUTES] | None = None  # type: ignore[valid-type]
    required: bool = False
    optional: bool = False

    @model_validator(mode="after")
    def _operand(self) -> Rule:
        if self.required and self.optional:
            raise ValueError(f"rule on '{self.field}' cannot be both required and optional")
        if self.op == "is_empty":
            if self.value is not None or self.partner_attribute is not None:
                raise ValueError("'is_empty' takes no 'value' or 'partner_attribute'")
            if self.required or self.optional:
                raise ValueError("'is_empty' tests emptiness itself: it cannot be required or optional")
            return self
        if (self.value is None) == (self.partner_attribute is None):
            raise ValueError(f"rule on '{self.field}' ({self.op}) needs exactly one of 'value' or 'partner_attribute'")
        if self.op in ("in", "not_in", "contains_any") and self.value is not None and not isinstance(self.value, list):
            raise ValueError(f"'{self.op}' compares with a list: write value: [a, b]")
        if self.op == "range" and self.value is not None and not (
                isinstance(self.value, list) and len(self.value) == 2):
            raise ValueError("'range' takes value: [low, high]")
        return self


class OfferSettings(Strict):
    """How a group in `mode: offer` offers a lead: to up to `to` of its matching partners at once (taken in
    round-robin turn), the first to accept gets it; unclaimed after `claim_within_days` (routing's
    accept_within_days when omitted; never when both are unset) it goes to `fallback`."""

    to: int = Field(3, ge=2, le=50, description="How many matching partners are offered the lead at once.")
    claim_within_days: float | None = Field(None, gt=0, le=MAX_DAYS, description="Days the offer stays open.")
    fallback: Literal["unassigned", "default_partner"] = Field(
        "unassigned", description="Where an unclaimed lead goes: the unassigned queue or routing.default_partner.")


class RuleGroup(Strict):
    """Rules inside a group all hold (AND); the first group with a match wins (groups are OR).

    `mode: assign` (default) gives each lead to one partner (round robin); `mode: offer` offers it to
    several (`offer`), and the first to accept gets it."""

    name: str
    partners: list[str] | None = Field(None, description="Candidate partner ids; all active partners when omitted.")
    rules: list[Rule] = Field(min_length=1)
    mode: Literal["assign", "offer"] = "assign"
    offer: OfferSettings | None = Field(None, description="mode offer: to how many, for how long, then where.")

    @model_validator(mode="after")
    def _offer(self) -> RuleGroup:
        if self.offer is not None and self.mode != "offer":
            raise ValueError(f"rule group '{self.name}' has 'offer' settings but mode '{self.mode}': add "
                             "`mode: offer` or remove `offer`")
        if self.mode == "offer" and self.offer is None:
            object.__setattr__(self, "offer", OfferSettings())
        return self


class ProtectedAccount(Strict):
    """A named account whose leads always go to one partner (and rep), unless marked open."""

    account_id: str | None = None
    company: str | None = None
    email_domain: str | None = None
    partner: str
    rep: str | None = Field(None, description="Email of one of the partner's reps.")
    open: bool = Field(False, description="true: leads of this account compete as normal.")

    @model_validator(mode="after")
    def _one_key(self) -> ProtectedAccount:
        given = [k for k in ("account_id", "company", "email_domain") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("name the account by exactly one of account_id, company or email_domain")
        return self

    @property
    def key(self) -> tuple[str, str]:
        """(lead field it matches, normalised value)."""
        if self.account_id:
            return "account_id", self.account_id.strip().lower()
        if self.company:
            return "company", " ".join(self.company.lower().split())
        return "email_domain", self.email_domain.strip().lower().lstrip("@")


class ConflictPolicy(Strict):
    """Channel conflict: a new lead for a buyer someone already works. The buyer is the same when `match`
    agrees (the email; or the email domain and the company, case and spacing ignored) with a lead received
    within `within_days` before it that a partner still holds (routed or accepted, not closed), or with a
    lead a partner registered in that time. `same_partner`: the new lead goes to that partner; `review`: it
    waits for a person, both leads named; `allow`: no check."""

    match: list[Literal["email", "domain", "company"]] = Field(
        description="[email] or [domain, company]: what makes two leads the same buyer.")
    within_days: float = Field(gt=0, le=MAX_LOOKBACK_DAYS,
                               description="How far back (days before the new lead arrived) to look.")
    action: Literal["same_partner", "review", "allow"]

    @field_validator("match")
    @classmethod
    def _match(cls, v: list[str]) -> list[str]:
        if sorted(v) not in (["email"], ["company", "domain"]):
            raise ValueError(f"{v} is not a conflict match: write [email] (the same person) or [domain, company] "
                             "(the same organisation)")
        return ["email"] if v == ["email"] else ["domain", "company"]


class Routing(Strict):
    default_partner: str | None = Field(None, description="Partner for leads no rule matches; else unassigned.")
    accept_within_days: float | None = Field(
        None, gt=0, le=MAX_DAYS,
        description="Withdraw and reroute leads not accepted within this many days; none: never.")
    protected_accounts: list[ProtectedAccount] = Field(default_factory=list)
    protected_accounts_file: str | None = Field(
        None, description="CSV beside partners.yaml with columns account_id,company,email_domain,partner,rep,open.")
    rule_groups: list[RuleGroup] = Field(default_factory=list)
    conflict: ConflictPolicy | None = Field(
        None, description="Channel-conflict policy for every source (a source's own `conflict` overrides it).")


class PartnersConfig(Strict):
    """mappings/partners.yaml: the partners and how leads are routed to them."""

    partners: list[Partner] = Field(min_length=1)
    routing: Routing = Routing()
    _by_id: dict[str, Partner] | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _references(self) -> PartnersConfig:
        ids = [p.id for p in self.partners]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"partner ids used twice: {dupes}")
        known = set(ids)
        shown = ids if len(ids) <= 20 else [*ids[:20], "…"]
        if self.routing.default_partner and self.routing.default_partner not in known:
            raise ValueError(f"routing.default_partner '{self.routing.default_partner}' is not a partner id; known: {shown}")
        for g in self.routing.rule_groups:
            unknown = [p for p in g.partners or [] if p not in known]
            if unknown:
                raise ValueError(f"rule group '{g.name}' names unknown partners {unknown}; known: {shown}")
            if g.offer and g.offer.fallback == "default_partner" and not self.routing.default_partner:
                raise ValueError(f"rule group '{g.name}': offer fallback 'default_partner' needs "
                                 "routing.default_partner; set one or use fallback 'unassigned'")
        by_id = {p.id: p for p in self.partners}
        seen: dict[tuple[str, str], str] = {}
        for a in self.routing.protected_accounts:
            label = f"protected account {a.key[0]}={a.key[1]!r}"
            if a.partner not in known:
                raise ValueError(f"{label} names unknown partner '{a.partner}'; known: {shown}")
            if a.rep and by_id[a.partner].rep(a.rep) is None:
                reps = [r.email for r in by_id[a.partner].reps]
                raise ValueError(f"{label}: rep '{a.rep}' is not one of {a.partner}'s reps {reps}")
            if a.key in seen and seen[a.key] != a.partner:
                raise ValueError(f"{label} is protected for two partners: {seen[a.key]} and {a.partner}")
            seen[a.key] = a.partner
        return self

    def by_id(self, partner_id: str) -> Partner | None:
        return self._index().get(partner_id)

    def rule_group(self, name: str | None) -> RuleGroup | None:
        return next((g for g in self.routing.rule_groups if g.name == name), None)

    def _index(self) -> dict[str, Partner]:
        if self._by_id is None:  # built on first use: thousands of partners are looked up per batch
            self._by_id = {p.id: p for p in self.partners}
        return self._by_id

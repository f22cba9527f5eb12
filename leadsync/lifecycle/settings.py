"""mappings/lifecycle.yaml as pydantic models: how leads reach partners and how partners answer.

Every model forbids unknown keys (a typo'd key is an error naming its path). Secrets (the SMTP password,
the link-signing secret) are never in the YAML: the YAML names the environment variables holding them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leadsync.config.loader import ConfigError, _load
from leadsync.config.partners import RuleGroup
from leadsync.lifecycle.bounds import between
from leadsync.portal.config import PortalSettings

EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s]+"
CODE = r"^[a-z][a-z0-9_]*$"
DEFAULT_PORTS = {"plain": 25, "starttls": 587, "ssl": 465}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmtpSettings(Strict):
    """The mail server notifications go through: plain, STARTTLS or implicit TLS (ssl); login optional."""

    host: str
    port: int | None = Field(None, ge=1, le=65535, description="Default: 25 plain, 587 starttls, 465 ssl.")
    security: Literal["plain", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password_env: str | None = Field(None, description="Environment variable holding the SMTP password.")
    from_address: str
    from_name: str | None = None
    timeout_s: Annotated[float, between(0, 600, low_open=True)] = Field(15.0, description="Seconds, at most 600.")
    retries: int = Field(3, ge=0, le=10, description="Further attempts after a transient failure.")
    retry_wait_s: Annotated[float, between(0, 300)] = Field(2.0, description="Seconds between attempts, at most 300.")

    @field_validator("from_address")
    @classmethod
    def _email(cls, v: str) -> str:
        if not re.fullmatch(EMAIL, v):
            raise ValueError(f"'{v}' is not an email address")
        return v

    @model_validator(mode="after")
    def _login(self) -> SmtpSettings:
        if bool(self.username) != bool(self.password_env):
            raise ValueError("give both 'username' and 'password_env' to log in, or neither for an open relay")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]

    def password(self) -> str | None:
        if not self.password_env:
            return None
        value = os.environ.get(self.password_env)
        if not value:
            raise ConfigError("mappings/lifecycle.yaml", [(
                f"smtp.password_env: environment variable {self.password_env} is not set; set it to the SMTP "
                f"password of {self.username}")])
        return value


class WebSettings(Strict):
    """The partner-response web app that email links point at."""

    base_url: str = Field(description="How partners reach the app, e.g. https://leads.supplier.example.")
    host: str = Field("127.0.0.1", description="Interface the app listens on.")
    port: int = Field(8040, ge=1, le=65535)
    secret_env: str = Field("LEADSYNC_LIFECYCLE_SECRET", description="Environment variable: link-signing secret.")
    token_ttl_hours: Annotated[float, between(0, 8760, low_open=True)] = Field(
        168, description="Accept/reject links expire after this many hours (at most 8760, a year).")
    status_link_ttl_days: Annotated[float, between(0, 3650, low_open=True)] = Field(
        30, description="Status-page and import links expire after this many days (at most 3650).")
    api_key_ttl_days: Annotated[float, between(0, 3650, low_open=True)] = Field(
        365, description="Partner API keys expire after this many days (at most 3650).")
    one_click_accept: bool = Field(
        False, description="true: opening the accept link accepts. false: it shows the lead and an Accept "
                           "button, so mail scanners that open every link never accept a lead.")
    support_contact: str | None = Field(None, description="Shown on refusal pages: who to ask for a new link.")

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"'{v}' is not an http(s) URL")
        return v.rstrip("/")

    def secret(self) -> bytes:
        value = os.environ.get(self.secret_env, "")
        if len(value) < 16:
            state = "is not set" if not value else "is shorter than 16 characters"
            raise ConfigError("mappings/lifecycle.yaml", [(
                f"web.secret_env: environment variable {self.secret_env} {state}; set it to a long random "
                "string (python -c 'import secrets; print(secrets.token_urlsafe(32))'). Changing it voids every "
                "link already sent.")])
        return value.encode()


class RejectReason(Strict):
    code: Annotated[str, Field(pattern=CODE)]
    label: str
    comment: Literal["none", "optional", "required"] = "optional"


class Opportunities(Strict):
    stages: list[str] = Field(default_factory=lambda: [
        "Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost"], min_length=1)
    currency: str = "USD"


class MarketingEvents(Strict):
    types: list[str] = Field(default_factory=lambda: ["Email", "Call", "Meeting", "Webinar", "Event"],
                             min_length=1)


class Rewards(Strict):
    """Points for keeping leads up to date, for the partner and its rep on the lead."""

    timely_within_days: Annotated[float, between(0, 365, low_open=True)] = Field(
        7, description="An update is timely within this many days of acceptance or the previous update.")
    points_per_timely_update: Annotated[int, between(0, 1_000_000)] = 10
    conversion_points: Annotated[int, between(0, 1_000_000)] = Field(0, description="Extra points when a lead becomes an opportunity.")


class ClosedLoop(Strict):
    enabled: bool = True
    every_days: Annotated[float, between(0, 365, low_open=True)] = Field(7, description="One request per owner per period of this many days.")
    stale_after_days: Annotated[float, between(0, 3650)] = Field(
        0, description="Ask only about leads not updated for this many days; 0: every open lead.")
    skip_auto_accept: bool = Field(
        True, description="Auto-accept partners work leads in their own CRM and report by import/API: no email.")


RegistrationMode = Literal["off", "supplier_managed", "own_rules"]


class AutoRegistration(Strict):
    """Leads a partner creates are registered with the supplier per the partner's mode: `off` (the default:
    none is), `supplier_managed` (the supplier's rule groups) or `own_rules` (the partner's own groups);
    leads of ignored companies or email domains (the supplier's lists and the partner's own) never are.
    Partners change their mode, own rules and own ignored lists in the portal; this is the baseline."""

    target_source: str | None = Field(None, description="Source whose writeback outbox receives registrations.")
    ignored_companies: list[str] = Field(default_factory=list)
    ignored_email_domains: list[str] = Field(default_factory=list)
    supplier_rules: list[RuleGroup] = Field(default_factory=list)
    partner_rules: dict[str, list[RuleGroup]] = Field(default_factory=dict)
    modes: dict[str, RegistrationMode] = Field(
        default_factory=dict, description="Partner id (or '*' for every partner) → its mode until its admin "
                                          "chooses another in the portal; a partner not listed: off.")

    def mode_of(self, partner_id: str) -> RegistrationMode:
        return self.modes.get(partner_id, self.modes.get("*", "off"))


class EmailLimits(Strict):
    """Caps on what one email to a partner may carry: a lead field of millions of characters must not become
    a mail of tens of megabytes. A longer field is cut and ends with an ellipsis (…); a longer body is cut
    with a note that the rest is on the lead's page."""

    max_field_chars: Annotated[int, between(20, 100_000)] = Field(
        2000, description="Characters of one lead field shown in an email (20 to 100,000).")
    max_body_chars: Annotated[int, between(1000, 5_000_000)] = Field(
        200_000, description="Characters of the text part, and of the HTML part, of one email (1,000 to "
                             "5,000,000).")


class Aging(Strict):
    """Leads that wait: a reminder before a partner's acceptance window ends, a notice when a lead is
    withdrawn from it, and an escalation to the supplier's contacts for leads nobody has taken. Each email
    is queued once (the `deliveries` ledger) whatever the number of runs. Days are the partner's (its
    `timezone` and `business_days` in partners.yaml)."""

    remind_days_before: Annotated[float | None, between(0, 365, low_open=True)] = Field(
        1, description="Remind the partner this many of its days before the acceptance window ends; "
                             "null: no reminder.")
    withdrawal_notice: bool = Field(True, description="Tell the partner when a lead is withdrawn from it.")
    notice_within_days: Annotated[float, between(0, 3650, low_open=True)] = Field(
        7, description="Withdrawals older than this are not notified (a store upgraded with old ones).")
    escalate_after_days: Annotated[float | None, between(0, 3650, low_open=True)] = Field(
        None, description="Email the source's contacts about leads unassigned or in review longer than "
                                "this many days (one email per source and run, each lead once); null: never.")


class LifecycleSettings(Strict):
    """mappings/lifecycle.yaml."""

    smtp: SmtpSettings
    web: WebSettings
    rejected_leads: Literal["reroute", "return_to_supplier"] = Field(
        "reroute", description="reroute: route again, never to a partner that had the lead; "
                               "return_to_supplier: the lead waits for the supplier to assign it by hand.")
    reject_reasons: list[RejectReason] = Field(min_length=1)
    opportunities: Opportunities = Opportunities()
    marketing_events: MarketingEvents = MarketingEvents()
    rewards: Rewards = Rewards()
    closed_loop: ClosedLoop = ClosedLoop()
    auto_registration: AutoRegistration = AutoRegistration()
    portal: PortalSettings = PortalSettings()  # the partner portal (leadsync/portal/)
    aging: Aging = Aging()
    emails: EmailLimits = EmailLimits()

    @model_validator(mode="after")
    def _portal_knows_registration(self) -> LifecycleSettings:
        portal = self.portal.model_copy()  # a copy: the default PortalSettings() instance is shared
        portal._auto_registration = self.auto_registration
        object.__setattr__(self, "portal", portal)
        return self

    @model_validator(mode="after")
    def _unique_codes(self) -> LifecycleSettings:
        codes = [r.code for r in self.reject_reasons]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"reject reason codes used twice: {dupes}")
        return self

    def reject_reason(self, code: str | None) -> RejectReason | None:
        return next((r for r in self.reject_reasons if r.code == code), None)


def load_settings(path: str | Path) -> LifecycleSettings:
    """Read mappings/lifecycle.yaml; every problem raises ConfigError naming the key path and the fix."""
    return _load(Path(path), LifecycleSettings)

"""lifecycle.yaml `portal:`: how partner users sign in, how long a session lasts, who is a partner admin,
what the stack ranking shows of other partners, and which partner settings the supplier locks."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from leadsync.lifecycle.bounds import between

# The partner settings a partner admin may change in the portal (leadsync/portal/overrides.py).
SettingName = Literal["notification_users", "notified_reps", "auto_accept", "closed_loop", "language", "time_zone",
                      "auto_registration", "registration_rules", "ignored_companies", "ignored_email_domains"]


class PortalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="false: /portal answers 404 (emailed links keep working).")
    sign_in_link_ttl_minutes: Annotated[float, between(0, 24 * 60, low_open=True)] = Field(
        15, description="A sign-in link expires after this many minutes (at most 1440).")
    session_hours: Annotated[float, between(0, 24 * 30, low_open=True)] = Field(
        12, description="A session ends after this many hours (at most 720), or at sign-out.")
    sign_in_requests_per_hour: Annotated[int, between(1, 10_000)] = Field(
        5, description="Sign-in links one email address may request per hour; more are refused (429).")
    sign_in_requests_per_hour_per_client: Annotated[int, between(1, 100_000)] = Field(
        30, description="Sign-in requests one client address may make per hour, whatever the email.")
    admins: dict[str, list[str]] = Field(
        default_factory=dict, description="Partner id → emails of its partner admins (may change settings). "
                                          "A partner not listed: its first user (the first added) is its admin.")
    other_partners_reps: Literal["shown", "anonymised"] = Field(
        "anonymised", description="The rep stack ranking across partners: other partners' rep names shown, or "
                                  "anonymised ('Rep of another partner').")
    locked: dict[str, list[SettingName]] = Field(
        default_factory=dict, description="Partner id (or '*' for every partner) → settings its admins may not "
                                          "change in the portal: partners.yaml stays in force for them.")

    # lifecycle.yaml `auto_registration`, set by LifecycleSettings when it is loaded: the YAML baseline of the
    # auto-registration settings a partner may change here (leadsync/portal/overrides.py reads it). A private
    # attribute, so the portal settings alone (as `leadsync check` passes them) still know that baseline.
    _auto_registration: Any = PrivateAttr(None)

    @property
    def auto_registration(self) -> Any:
        return self._auto_registration

    def is_locked(self, partner_id: str, setting: str) -> bool:
        return setting in self.locked.get("*", []) or setting in self.locked.get(partner_id, [])

"""lifecycle.yaml `portal:`: how partner users sign in, how long a session lasts, who is a partner admin,
what the stack ranking shows of other partners, and which partner settings the supplier locks."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# The partner settings a partner admin may change in the portal (leadsync/portal/overrides.py).
SettingName = Literal["notification_users", "notified_reps", "auto_accept", "closed_loop", "language", "time_zone"]


class PortalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="false: /portal answers 404 (emailed links keep working).")
    sign_in_link_ttl_minutes: float = Field(15, gt=0, le=24 * 60, description="A sign-in link expires after this.")
    session_hours: float = Field(12, gt=0, le=24 * 30, description="A session ends after this, or at sign-out.")
    sign_in_requests_per_hour: int = Field(
        5, ge=1, description="Sign-in links one email address may request per hour; more are refused (429).")
    sign_in_requests_per_hour_per_client: int = Field(
        30, ge=1, description="Sign-in requests one client address may make per hour, whatever the email.")
    admins: dict[str, list[str]] = Field(
        default_factory=dict, description="Partner id → emails of its partner admins (may change settings). "
                                          "A partner not listed: its first user (the first added) is its admin.")
    other_partners_reps: Literal["shown", "anonymised"] = Field(
        "anonymised", description="The rep stack ranking across partners: other partners' rep names shown, or "
                                  "anonymised ('Rep of another partner').")
    locked: dict[str, list[SettingName]] = Field(
        default_factory=dict, description="Partner id (or '*' for every partner) → settings its admins may not "
                                          "change in the portal: partners.yaml stays in force for them.")

    def is_locked(self, partner_id: str, setting: str) -> bool:
        return setting in self.locked.get("*", []) or setting in self.locked.get(partner_id, [])

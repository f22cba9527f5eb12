"""Links partners receive: the web app's URLs with a signed token (see tokens.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.tokens import Action, issue


def token_for(ctx: Lifecycle, action: Action, partner_id: str, lead_id: str | None, now: datetime,
              version: int | None = None) -> str:
    web = ctx.settings.web
    ttl = {"accept": timedelta(hours=web.token_ttl_hours), "reject": timedelta(hours=web.token_ttl_hours),
           "status": timedelta(days=web.status_link_ttl_days), "import": timedelta(days=web.status_link_ttl_days),
           "api": timedelta(days=web.api_key_ttl_days)}[action]
    return issue(web.secret(), action, partner_id, lead_id, now, ttl, version)


def link(ctx: Lifecycle, action: Action, partner_id: str, lead_id: str | None, now: datetime,
         version: int | None = None) -> str:
    """The URL a partner clicks for `action` on `lead_id` (import: the partner's CSV upload page)."""
    path = {"accept": "/lead/accept", "reject": "/lead/reject", "status": "/lead/status", "import": "/import"}[action]
    token = token_for(ctx, action, partner_id, lead_id, now, version)
    return f"{ctx.settings.web.base_url}{path}?{urlencode({'t': token})}"


def issue_api_key(ctx: Lifecycle, partner_id: str, now: datetime) -> str:
    """A partner's key for the JSON/CSV API (Authorization: Bearer <key>); valid for web.api_key_ttl_days.
    Rotating web.secret_env revokes every key and link."""
    if ctx.partner(partner_id) is None:
        raise ValueError(f"'{partner_id}' is not a partner id in partners.yaml")
    return token_for(ctx, "api", partner_id, None, now)

"""An email to a partner (or one of its reps) in the recipient's language and the partner's time zone.

Language: the recipient's own choice in the portal (a partner user or rep who picked one), else the
partner's language setting (portal, else English). Time zone: the partner's (portal `time_zone`, else
partners.yaml `timezone`, else UTC) — `local(moment, partner)` for the times a caller prints, and the
`local_time` template filter for the times a lead view holds (activity dates). Sizes: lifecycle.yaml
`emails` (email_render.render)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from leadsync.config.partners import Partner
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.email_render import RenderedEmail, render
from leadsync.portal.overrides import user_language
from leadsync.routing.business_time import shown


def language_for(ctx: Lifecycle, conn: sa.Connection, partner_id: str, recipient: str | None = None) -> str:
    """The language to write to `recipient` (else to the partner) in."""
    if recipient:
        own = user_language(conn, partner_id, recipient.strip().lower())
        if own:
            return own
    chosen = ctx.settings_of(partner_id)
    return chosen.language if chosen else "en"


def local(moment: datetime, partner: Partner | None) -> str:
    """A moment as the partner reads it: its time zone, with the zone's abbreviation."""
    return shown(moment, partner)


def render_for(ctx: Lifecycle, conn: sa.Connection, template: str, subject: str, of: Partner,
               recipient: str | None = None, **context) -> RenderedEmail:
    """render() for a recipient of partner `of`: in the recipient's language, the partner's time zone and
    lifecycle.yaml's size limits."""
    return render(template, subject, language=language_for(ctx, conn, of.id, recipient),
                  limits=ctx.settings.emails, zone=of.timezone, **context)

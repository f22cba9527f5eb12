"""Emails about a partner's CRM refusing leadsync: to the partner's `technical_contact` and the supplier's
`contacts` of the sources whose leads are concerned, with every reason and what happens next.

They go through the partner email queue (`deliveries`, kind `crm_alert`), so an SMTP outage keeps them for
`partner_mail_retry_schedule`. The delivery id holds the partner, a digest of the reasons and
the day: the same failure repeated by every run (or by both stages) is emailed once a day, a new one at once.
"""

from __future__ import annotations

import hashlib
import html
from datetime import datetime

import sqlalchemy as sa

from leadsync.config.partners import Partner
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.email_render import RenderedEmail
from leadsync.lifecycle.mail_queue import queue_email
from leadsync.partner_crm.kinds import kind_of
from leadsync.partner_crm.outcome import PartnerOutcome
from leadsync.store import tables

MAX_REASONS = 25
WHAT = {"deliveries": "create leads in", "updates": "read the partner's updates from"}


def supplier_contacts(ctx: Lifecycle, partner: Partner, sources: set[str]) -> list[str]:
    """The contacts of `sources`; with none named, of the sources whose leads the partner has had (else of
    every source)."""
    if not sources:
        a = tables.assignments
        with ctx.store.begin() as conn:
            sources = set(conn.execute(sa.select(a.c.source).where(a.c.partner_id == partner.id)
                                       .distinct()).scalars().all())
    chosen = [ctx.sources[s] for s in sorted(sources) if s in ctx.sources] or list(ctx.sources.values())
    return list(dict.fromkeys(c for cfg in chosen for c in cfg.contacts))


def recipients(ctx: Lifecycle, partner: Partner, outcome: PartnerOutcome) -> list[str]:
    technical = [partner.technical_contact] if partner.technical_contact else []
    return list(dict.fromkeys([*technical, *supplier_contacts(ctx, partner, outcome.sources)]))


def alert_email(partner: Partner, stage: str, outcome: PartnerOutcome, run_url: str | None = None) -> RenderedEmail:
    label = kind_of(partner).label
    reasons = outcome.reasons
    shown = reasons[:MAX_REASONS]
    more = [f"… and {len(reasons) - len(shown)} more"] if len(reasons) > len(shown) else []
    first = reasons[0].split(": ", 1)[-1] if reasons else "failed"
    subject = " ".join(f"leadsync: {partner.name}'s {label} ({stage}) failed: {first}".split())[:200]
    lines = [
        (f"leadsync could not {WHAT.get(stage, stage)} the {label} CRM of {partner.name} "
         f"(partner '{partner.id}')."),
        "",
        *[f"- {r}" for r in [*shown, *more]],
        "",
        ("Nothing is lost and nothing is done twice: the leads concerned stay queued and the next run tries "
         "again (a lead is upserted by its external id, so a retry never creates a second record). Other "
         "partners are not affected."),
        "",
        (f"How to fix: credentials and settings are partners.yaml partners[{partner.id}].crm and the "
         "environment variables it names; a missing field, a validation rule or a required field is fixed in "
         f"{partner.name}'s {label} org (or by changing crm.fields / crm.external_id_field)."),
    ]
    if run_url:
        lines += ["", f"The run: {run_url}"]
    text = "\n".join(lines) + "\n"
    body = "".join(f"<p>{html.escape(line)}</p>" if not line.startswith("- ") else
                   f"<ul><li>{html.escape(line[2:])}</li></ul>" for line in lines if line)
    return RenderedEmail(subject=subject, text=text, html=f"<html><body>{body}</body></html>")


def queue_alert(ctx: Lifecycle, partner: Partner, stage: str, outcome: PartnerOutcome, now: datetime,
                run_url: str | None = None) -> tuple[str | None, str | None]:
    """Queue the alert email (once a day per distinct failure); (delivery id or None, a problem or None)."""
    to = recipients(ctx, partner, outcome)
    if not to:
        return None, (f"no one to tell that {partner.name}'s CRM failed: set technical_contact for partner "
                      f"'{partner.id}' in partners.yaml and contacts in the source YAML")
    digest = hashlib.sha1("\n".join(sorted(outcome.reasons)).encode()).hexdigest()[:12]
    # not the stage: bad credentials fail deliveries and updates alike, and are one email
    delivery_id = f"crm_alert:{partner.id}:{digest}:{now:%Y-%m-%d}"
    with ctx.store.begin() as conn:
        queued = queue_email(conn, delivery_id=delivery_id, kind="crm_alert", partner_id=partner.id, recipients=to,
                             email=alert_email(partner, stage, outcome, run_url), now=now)
    return (delivery_id if queued else None), None

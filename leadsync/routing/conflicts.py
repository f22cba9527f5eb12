"""Channel conflict: which queued leads name a buyer a partner already works.

One SQL join per routing slice (the slice's leads against the stored leads and the partner registrations of
the policy's window), never a query per lead: the answer is a small frame, one row per conflicting lead
with the earlier lead (or registration) and the partner holding it. The engine decides with it
(`engine._conflicts`).
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from leadsync.config.partners import ConflictPolicy, PartnersConfig
from leadsync.config.schema import SourceConfig
from leadsync.lifecycle import tables as lt
from leadsync.store import LeadStore, tables

# Leads a partner is holding (as routing.state.OPEN_STATUSES; not imported: state imports the engine).
HELD = ("routed", "accepted")
CONFLICT_COLUMNS = ["lead_id", "earlier_id", "earlier_kind", "earlier_source", "partner_id", "earlier_at"]


def policy_for(cfg: SourceConfig, partners: PartnersConfig) -> ConflictPolicy | None:
    """The source's own policy, else the global one; None when conflicts are not checked (or `allow`)."""
    policy = cfg.conflict or partners.routing.conflict
    return None if policy is None or policy.action == "allow" else policy


def _email(column):
    return sa.func.lower(sa.func.trim(column))


def _company(column):
    return sa.func.lower(sa.func.regexp_replace(sa.func.trim(column), r"\s+", " ", "g"))


def _keys(policy: ConflictPolicy, email, company) -> list:
    if policy.match == ["email"]:
        return [_email(email)]
    return [sa.func.split_part(_email(email), "@", 2), _company(company)]


# The lead columns earlier_holders reads of the queued leads.
CONFLICT_KEYS = [tables.leads.c.lead_id, tables.leads.c.received_at, tables.leads.c.email, tables.leads.c.company]


def earlier_holders(store: LeadStore, conn: sa.Connection, policy: ConflictPolicy, queued: sa.Select) -> pd.DataFrame:
    """For the leads `queued` selects (columns lead_id, received_at, email, company), the latest earlier
    lead a partner still holds, or registration, of the same buyer within the policy's window: one row per
    conflicting lead (CONFLICT_COLUMNS). Runs inside the routing section, after waiting for every recording
    in flight (state.await_recordings), so no routing decision it could read is made or pending meanwhile
    (a partner accepting, rejecting or a lead withdrawn by hand may still change a holder)."""
    q = queued.subquery("q")
    window = sa.text(f"INTERVAL '{int(policy.within_days * 86400)} seconds'")  # a number from the config
    mine = _keys(policy, q.c.email, q.c.company)
    present = sa.and_(*[k.is_not(None) & (k != "") for k in mine])
    l, a, r = tables.leads, tables.assignments, lt.partner_registrations
    # the leads partners hold, received in the slice's window, with their keys: the small side of the join
    # (computed once, not per pair), so a first run over a million leads nobody holds yet costs nothing
    since = sa.select(sa.func.min(q.c.received_at)).scalar_subquery() - window
    held = (sa.select(l.c.lead_id, l.c.source, l.c.received_at, a.c.partner_id,
                      *[k.label(f"k{i}") for i, k in enumerate(_keys(policy, l.c.email, l.c.company))])
            .select_from(a.join(l, l.c.lead_id == a.c.lead_id))
            .where(a.c.status.in_(HELD), a.c.partner_id.is_not(None), l.c.received_at >= since)
            .cte("held"))
    theirs = [held.c[f"k{i}"] for i in range(len(mine))]
    earlier_leads = (
        sa.select(q.c.lead_id, held.c.lead_id.label("earlier_id"), sa.literal("lead").label("earlier_kind"),
                  held.c.source.label("earlier_source"), held.c.partner_id, held.c.received_at.label("earlier_at"))
        .select_from(q.join(held, sa.and_(*[m == t for m, t in zip(mine, theirs, strict=True)])))
        .where(present, held.c.lead_id != q.c.lead_id, held.c.received_at <= q.c.received_at,
               held.c.received_at >= q.c.received_at - window))
    registered = _keys(policy, r.c.email, r.c.company)
    registrations = (
        sa.select(q.c.lead_id, r.c.registration_id.label("earlier_id"), sa.literal("registration").label("earlier_kind"),
                  sa.literal(None, sa.String).label("earlier_source"), r.c.partner_id,
                  r.c.decided_at.label("earlier_at"))
        .select_from(q.join(r, sa.and_(*[m == t for m, t in zip(mine, registered, strict=True)])))
        .where(present, r.c.decision == "registered", r.c.decided_at <= q.c.received_at,
               r.c.decided_at >= q.c.received_at - window))
    found = store.read_frame(conn, sa.union_all(earlier_leads, registrations))
    if found.empty:
        return pd.DataFrame(columns=CONFLICT_COLUMNS)
    found = found.sort_values(["lead_id", "earlier_at", "earlier_id"], ascending=[True, False, True], kind="stable")
    return found.drop_duplicates("lead_id")[CONFLICT_COLUMNS].reset_index(drop=True)

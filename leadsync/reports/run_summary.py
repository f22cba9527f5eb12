"""Where every source's leads stand, per source: what `leadsync demo` prints after its run.

pulled (rows received: the ledger of what each source delivered), quarantined (with the top reasons), routed
per partner, unassigned, needs review, delivered (email / auto-accept / partner CRM), written back and where,
and what is still pending and why. Everything is read from the store; nothing here depends on how a run went,
so the figures are the store's as they stand (all runs so far).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa

from leadsync.config.schema import SourceConfig
from leadsync.lifecycle import tables as lt
from leadsync.partner_crm import tables as crm_tables
from leadsync.store import LeadStore, tables
from leadsync.writeback.outbox import last_refusals, pending_events, sent_events, source_top

# Outbox kinds that set fields on the lead's own record at the source (see writeback/api_sink.py).
RECORD_KINDS = ("distribution_status", "rejection", "sales_status", "rep")
# Assignment statuses under which a lead is with a partner.
WITH_PARTNER = ("routed", "accepted", "rejected", "closed")
VENDOR = {"salesforce": "Salesforce", "marketo": "Marketo", "eloqua": "Eloqua", "sftp": "SFTP"}


def refusals(source: str, top: int | None = None) -> sa.Select:
    """Why the source refused its pending events: (latest reason, events), the three most frequent. `top`: the
    source's (outbox.source_top)."""
    pending = pending_events(source, top).subquery()
    last = last_refusals().subquery()
    return (sa.select(last.c.last_error, sa.func.count()).join(pending, pending.c.event_id == last.c.event_id)
            .group_by(last.c.last_error).order_by(sa.func.count().desc()).limit(3))


@dataclass
class SourceSummary:
    source: str
    type: str
    pulled: int = 0  # rows received in stored files / API batches
    files_in_error: int = 0
    leads: int = 0
    quarantined: int = 0
    quarantine_reasons: list[tuple[str, int]] = field(default_factory=list)  # the top ones
    routed: dict[str, int] = field(default_factory=dict)  # partner id → leads with that partner
    unassigned: int = 0
    needs_review: int = 0
    withdrawn: int = 0
    awaiting_acceptance: int = 0
    accepted: int = 0
    delivered_email: int = 0  # leads whose new-lead email was sent
    delivered_auto: int = 0  # leads accepted at once by an auto-accept partner
    delivered_crm: int = 0  # leads created in a partner's own CRM
    emails_waiting: int = 0  # new-lead emails not sent yet (pending) or refused (failed)
    written_back: int = 0  # outbox events sent
    written_back_records: int = 0  # distinct leads whose own record was updated
    written_back_kinds: dict[str, int] = field(default_factory=dict)
    where: str = ""
    pending: int = 0
    pending_kinds: dict[str, int] = field(default_factory=dict)
    pending_why: str = ""

    def as_dict(self) -> dict:
        return self.__dict__ | {"quarantine_reasons": [list(r) for r in self.quarantine_reasons]}


def summarise(store: LeadStore, configs: list[SourceConfig], top_reasons: int = 3) -> list[SourceSummary]:
    """One SourceSummary per source in `configs` (in that order), read from the store."""
    out = []
    with store.begin() as conn:
        lt.ensure_tables(conn)
        crm_tables.ensure_tables(conn)
        for cfg in configs:
            out.append(_one(conn, cfg, top_reasons))
    return out


def _count(conn: sa.Connection, query: sa.Select) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one())


def _one(conn: sa.Connection, cfg: SourceConfig, top_reasons: int) -> SourceSummary:
    s = SourceSummary(cfg.name, cfg.type)
    f, q, a, leads = tables.source_files, tables.quarantine, tables.assignments, tables.leads
    s.pulled = int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(f.c.row_count), 0))
                                .where(f.c.source == cfg.name, f.c.status == "stored")).scalar_one())
    s.files_in_error = _count(conn, sa.select(f.c.batch_id).where(f.c.source == cfg.name, f.c.status == "error"))
    s.leads = _count(conn, sa.select(leads.c.lead_id).where(leads.c.source == cfg.name))

    s.quarantined = _count(conn, sa.select(q.c.batch_id).where(q.c.source == cfg.name))
    reasons = Counter()
    for reason, n in conn.execute(sa.select(q.c.reason, sa.func.count()).where(q.c.source == cfg.name)
                                  .group_by(q.c.reason)):
        reasons[_short_reason(reason)] += n
    s.quarantine_reasons = reasons.most_common(top_reasons)

    by_status = dict(conn.execute(sa.select(a.c.status, sa.func.count()).where(a.c.source == cfg.name)
                                  .group_by(a.c.status)).all())
    s.unassigned, s.needs_review = by_status.get("unassigned", 0), by_status.get("needs_review", 0)
    s.withdrawn, s.awaiting_acceptance = by_status.get("withdrawn", 0), by_status.get("routed", 0)
    s.accepted = by_status.get("accepted", 0) + by_status.get("closed", 0)
    s.routed = {p: n for p, n in conn.execute(
        sa.select(a.c.partner_id, sa.func.count()).where(a.c.source == cfg.name, a.c.status.in_(WITH_PARTNER),
                                                         a.c.partner_id.is_not(None))
        .group_by(a.c.partner_id).order_by(sa.func.count().desc(), a.c.partner_id))}

    d, ev, crm = lt.deliveries, lt.lifecycle_events, crm_tables.partner_crm_leads
    of_source = sa.select(leads.c.lead_id).where(leads.c.source == cfg.name)
    emails = sa.select(d.c.lead_id).where(d.c.kind == "new_lead", d.c.lead_id.in_(of_source))
    s.delivered_email = _count(conn, emails.where(d.c.state == "sent").distinct())
    s.emails_waiting = _count(conn, emails.where(d.c.state.in_(("pending", "failed"))).distinct())
    s.delivered_auto = _count(conn, sa.select(ev.c.lead_id).where(
        ev.c.source == cfg.name, ev.c.kind == "accepted", ev.c.actor == "auto_accept").distinct())
    s.delivered_crm = _count(conn, sa.select(crm.c.lead_id).where(crm.c.source == cfg.name,
                                                                   crm.c.state == "delivered").distinct())

    sent = sent_events().subquery()
    s.written_back_kinds = dict(conn.execute(sa.select(sent.c.kind, sa.func.count()).where(sent.c.source == cfg.name)
                                             .group_by(sent.c.kind)).all())
    s.written_back = sum(s.written_back_kinds.values())
    s.written_back_records = _count(conn, sa.select(sent.c.lead_id).where(
        sent.c.source == cfg.name, sent.c.kind.in_(RECORD_KINDS)).distinct())
    s.where = where_written(cfg, s)

    top = source_top(conn, cfg.name)
    pending = pending_events(cfg.name, top).subquery()
    s.pending_kinds = dict(conn.execute(sa.select(pending.c.kind, sa.func.count())
                                        .where(pending.c.source == cfg.name).group_by(pending.c.kind)).all())
    s.pending = sum(s.pending_kinds.values())
    if s.pending:
        refused = conn.execute(refusals(cfg.name, top)).all()
        why = "; ".join(f"{n:,} refused: {_short_reason(str(reason))}" for reason, n in refused)
        s.pending_why = (why + "; " if why else "") + f"the next {cfg.name}/writeback run sends (or retries) them"
    return s


def _short_reason(reason: str) -> str:
    """A quarantine reason without the row's own value, so that like reasons count together."""
    text = reason.strip().splitlines()[0] if reason.strip() else "(no reason)"
    text = re.sub(r" value '[^']*'", "", text)
    text = re.sub(r" \(expected .*\)$", "", text)
    return text if len(text) <= 110 else text[:109] + "…"


def where_written(cfg: SourceConfig, s: SourceSummary) -> str:
    """Where the outcomes went, in the source's own words, e.g. 'Salesforce: 1,204 Lead records updated'."""
    if not s.written_back:
        return ""
    vendor = VENDOR.get(cfg.type, cfg.type)
    extra = []
    if n := s.written_back_kinds.get("opportunity"):
        extra.append(f"{n:,} {'opportunity' if n == 1 else 'opportunities'} upserted")
    if n := s.written_back_kinds.get("marketing_event"):
        extra.append(f"{n:,} partner {'activity' if n == 1 else 'activities'} recorded")
    tail = f"; {', '.join(extra)}" if extra else ""
    if cfg.type == "sftp":
        c = cfg.connection
        return f"{vendor}: {s.written_back:,} status rows in files under {c.folders.outbox}/ on {c.host}:{c.port}"
    record = {"salesforce": getattr(getattr(cfg, "connection", None), "object", "Lead"), "marketo": "lead",
              "eloqua": "contact"}.get(cfg.type, "record")
    status_object = getattr(getattr(cfg, "writeback", None), "status_object", None)
    if status_object:
        return f"{vendor}: {s.written_back_records:,} {status_object} custom object records upserted{tail}"
    return f"{vendor}: {s.written_back_records:,} {record} records updated{tail}"


# ---------------------------------------------------------------------------------------------- rendering


def render(summaries: list[SourceSummary], partner_names: dict[str, str] | None = None):
    """The summaries as rich renderables: one table per source."""
    from rich.table import Table

    names = partner_names or {}
    out = []
    for s in summaries:
        t = Table(title=f"{s.source} ({VENDOR.get(s.type, s.type)})", title_justify="left", show_header=False,
                  width=100, pad_edge=False)
        t.add_column("what", style="bold")
        t.add_column("leads", justify="right")
        t.add_column("detail", ratio=1)
        t.add_row("pulled", f"{s.pulled:,}", f"{s.files_in_error} file(s) moved to error/" if s.files_in_error
                  else "")
        t.add_row("quarantined", f"{s.quarantined:,}", "")
        for reason, n in s.quarantine_reasons:
            t.add_row("", f"{n:,}", reason)
        routed = sum(s.routed.values())
        t.add_row("routed to partners", f"{routed:,}", "")
        for partner, n in s.routed.items():
            t.add_row("", f"{n:,}", names.get(partner, partner))
        t.add_row("unassigned", f"{s.unassigned:,}", "waiting in the unassigned queue" if s.unassigned else "")
        t.add_row("needs review", f"{s.needs_review:,}", "")
        t.add_row("delivered by email", f"{s.delivered_email:,}",
                  f"{s.emails_waiting:,} email(s) not sent yet" if s.emails_waiting else "")
        t.add_row("delivered: auto-accept", f"{s.delivered_auto:,}", "")
        t.add_row("delivered into partner CRM", f"{s.delivered_crm:,}", "")
        t.add_row("awaiting acceptance", f"{s.awaiting_acceptance:,}", "routed, not accepted or rejected yet")
        t.add_row("written back", f"{s.written_back:,}", s.where)
        t.add_row("pending write-back", f"{s.pending:,}",
                  (", ".join(f"{k} {n:,}" for k, n in s.pending_kinds.items()) + "; " + s.pending_why)
                  if s.pending else "")
        out.append(t)
    return out

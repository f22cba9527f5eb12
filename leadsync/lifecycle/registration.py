"""Partner auto-registration: leads a partner creates are registered with the supplier per the partner's
mode, which its admin chooses in the portal (leadsync/portal/overrides.py; baseline lifecycle.yaml
`auto_registration.modes`, supplier locks in `portal.locked`):

  off               (the default) no lead is registered;
  supplier_managed  a lead is registered when it matches one of the supplier's rule groups
                    (`auto_registration.supplier_rules`; a group with `partners: [...]` applies to those only);
  own_rules         a lead is registered when it matches one of the partner's own rule groups (edited in the
                    portal; baseline `auto_registration.partner_rules.<partner>`).

Rules AND inside a group, groups OR. Leads of ignored companies or email domains — the supplier's lists
(`auto_registration.ignored_*`) and the partner's own — are never registered, whatever the mode.

Rules are the routing rules of partners.yaml (`field`, `op`, `value` or `partner_attribute` — compared with
the partner that created the lead; `optional: true` skips a rule when the lead lacks the field).

A registered lead becomes a `registration` event in the outbox of `auto_registration.target_source`.
A lead once registered stays registered; one not registered is decided again when sent again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from leadsync.config.partners import Partner, RuleGroup
from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.events import LifecycleError
from leadsync.portal.overrides import PartnerSettings, in_force
from leadsync.routing.fields import LeadFields
from leadsync.routing.rules import describe, literal_truth, partner_truth
from leadsync.writeback.events import queue_event

SEPARATOR = ";"


@dataclass
class RegistrationReport:
    received: int = 0
    registered: int = 0
    not_matched: int = 0
    ignored: int = 0
    decisions: list[dict] = field(default_factory=list)  # reference, decision, matched_by, reason


def group_matches(group: RuleGroup, fields: LeadFields, partner: Partner) -> np.ndarray:
    """One boolean per lead: every rule of the group holds."""
    hit = np.ones(fields.n, dtype=bool)
    for rule in group.rules:
        enc = fields[rule.field]
        if rule.op == "is_empty":
            hit &= enc.empty
            continue
        if rule.partner_attribute:
            per_value = partner_truth(rule, enc, [partner], SEPARATOR)[:, 0]
        else:
            per_value = literal_truth(rule, enc, SEPARATOR)
        hit &= enc.gather(per_value.astype(bool), when_empty=rule.optional)
    return hit


def _norm_company(text: object) -> str:
    return " ".join(str(text or "").lower().replace(",", " ").replace(".", " ").split())


def _records(raw: list[dict]) -> pd.DataFrame:
    rows = []
    for i, rec in enumerate(raw, start=1):
        if not isinstance(rec, dict):
            raise LifecycleError(f"lead {i} is not an object of fields", None)
        norm = {"_".join(str(k).strip().lower().split()): (None if v is None else str(v).strip() or None)
                for k, v in rec.items()}
        if not norm.get("reference"):
            raise LifecycleError(f"lead {i} has no 'reference' (your own id for the lead)", "reference")
        rows.append(norm)
    return pd.DataFrame(rows)


def registration_settings(ctx: Lifecycle, partner_id: str) -> PartnerSettings:
    """The partner's auto-registration settings in force (portal change, lock or lifecycle.yaml)."""
    ctx.refresh_partner_settings()  # a mode changed in the portal counts from the next lead the partner sends
    chosen = ctx.settings_of(partner_id)
    if chosen is not None:
        return chosen
    return in_force(ctx.yaml_partners.by_id(partner_id), {}, ctx.settings.portal)


def _ignored(leads: pd.DataFrame, companies: list[str], domains: list[str]) -> np.ndarray:
    n = len(leads)
    companies_n = {_norm_company(c) for c in companies} - {""}
    domains_n = {d.strip().lower().lstrip("@") for d in domains} - {""}
    company = leads["company"].map(_norm_company) if "company" in leads else pd.Series([""] * n)
    domain = (leads["email"].fillna("").str.rsplit("@", n=1).str[-1].str.lower() if "email" in leads
              else pd.Series([""] * n))
    return (company.isin(companies_n) & (company != "")).to_numpy() | (domain.isin(domains_n) & (domain != "")).to_numpy()


def decide(ctx: Lifecycle, partner: Partner, leads: pd.DataFrame, chosen: PartnerSettings | None = None) -> pd.DataFrame:
    """decision (registered | not_matched | ignored), matched_by and reason per lead, per the partner's mode
    (`chosen`, else its settings in force); pure but for reading those settings."""
    rules = ctx.settings.auto_registration
    chosen = chosen or registration_settings(ctx, partner.id)
    n = len(leads)
    decision = np.full(n, "not_matched", dtype=object)
    matched_by = np.full(n, None, dtype=object)
    reason = np.full(n, "matches no registration rule group", dtype=object)
    fields = LeadFields(leads)
    undecided = np.ones(n, dtype=bool)

    by_supplier = _ignored(leads, rules.ignored_companies, rules.ignored_email_domains)
    by_partner = _ignored(leads, chosen.ignored_companies, chosen.ignored_email_domains) & ~by_supplier
    decision[by_supplier | by_partner] = "ignored"
    reason[by_supplier] = "company or email domain is on the supplier's ignored list"
    reason[by_partner] = f"company or email domain is on {partner.name}'s own ignored list"
    undecided &= ~(by_supplier | by_partner)

    mode = chosen.auto_registration
    if mode == "off":
        reason[undecided] = (f"auto-registration is off for {partner.name} "
                             f"({chosen.origin('auto_registration')})")
        return pd.DataFrame({"decision": decision, "matched_by": matched_by, "reason": reason})
    if mode == "own_rules":
        groups = [("partner", g) for g in chosen.registration_groups()]
        if not groups:
            reason[undecided] = f"{partner.name} registers by its own rules and has none"
    else:
        groups = [("supplier", g) for g in rules.supplier_rules if g.partners is None or partner.id in g.partners]
    for owner, group in groups:
        if not undecided.any():
            break
        hit = group_matches(group, fields, partner) & undecided
        decision[hit] = "registered"
        matched_by[hit] = f"{owner}:{group.name}"
        reason[hit] = f"{owner} rule group '{group.name}': " + " and ".join(describe(r) for r in group.rules)
        undecided &= ~hit
    return pd.DataFrame({"decision": decision, "matched_by": matched_by, "reason": reason})


def register_partner_leads(ctx: Lifecycle, partner_id: str, records: list[dict], now: datetime,
                           actor: str = "api") -> RegistrationReport:
    """Decide and record leads the partner created; queue the registered ones for the supplier."""
    partner = ctx.partner(partner_id)
    if partner is None:
        raise LifecycleError(f"'{partner_id}' is not a partner id in partners.yaml", "partner_id", 404)
    report = RegistrationReport(received=len(records))
    if not records:
        return report
    leads = _records(records)
    dupes = sorted({r for r in leads["reference"] if (leads["reference"] == r).sum() > 1})
    if dupes:
        raise LifecycleError(f"references sent twice in one request: {dupes[:10]}", "reference")
    decided = decide(ctx, partner, leads)
    target = ctx.settings.auto_registration.target_source
    r = lt.partner_registrations
    with ctx.store.begin() as conn:
        ids = [f"{partner_id}:{ref}" for ref in leads["reference"]]
        already = set(conn.execute(sa.select(r.c.registration_id).where(
            r.c.registration_id.in_(ids), r.c.decision == "registered")).scalars().all())
        for i, reg_id in enumerate(ids):
            row = leads.iloc[i]
            outcome = decided.iloc[i]
            item = {"reference": row["reference"], "decision": outcome["decision"],
                    "matched_by": outcome["matched_by"], "reason": outcome["reason"]}
            if reg_id in already:
                item.update(decision="registered", reason="registered before")
                report.decisions.append(item)
                report.registered += 1
                continue
            values = {k: (None if pd.isna(v) else v) for k, v in row.items()}
            conn.execute(sa.delete(r).where(r.c.registration_id == reg_id))
            conn.execute(sa.insert(r).values(
                registration_id=reg_id, partner_id=partner_id, reference=row["reference"],
                email=values.get("email"), company=values.get("company"), fields=json.dumps(values, sort_keys=True),
                decision=outcome["decision"], matched_by=outcome["matched_by"], reason=outcome["reason"],
                decided_at=now))
            if outcome["decision"] == "registered" and target:
                payload = {"registration_id": reg_id, "partner_id": partner_id, "partner_name": partner.name,
                           "reference": row["reference"], "fields": values, "matched_by": outcome["matched_by"],
                           "distribution_status": "Registered", "reason": outcome["reason"],
                           "decided_at": now.isoformat(), "actor": actor}
                queue_event(conn, f"registration:{reg_id}", target, reg_id, "registration", payload, now)
            report.decisions.append(item)
            setattr(report, outcome["decision"], getattr(report, outcome["decision"]) + 1)
    return report

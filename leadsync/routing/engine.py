"""Route leads to partners (the foundation's precedence; the full engine builds on this).

Precedence, first that applies:
1. one partner chosen for the whole upload (source `upload_partner`);
2. the partner named on the lead (source `partner_field`), by id or name, case-insensitively;
   an unknown or inactive partner is an error for that lead (needs_review), never a silent fallback;
3. the first rule group with a matching partner (the first matching candidate in YAML order);
4. the default partner, else the unassigned queue.
"""

from __future__ import annotations

import pandas as pd

from leadsync.config.schema import PartnersConfig, SourceConfig
from leadsync.routing.rules import LeadColumns, describe, evaluate

DECISION_COLUMNS = ["lead_id", "partner_id", "status", "method", "reason"]


def route(leads: pd.DataFrame, partners: PartnersConfig, source: SourceConfig) -> pd.DataFrame:
    """One decision per lead: partner_id (or None), status, method and a readable reason."""
    n = len(leads)
    partner_id = pd.Series([None] * n, index=leads.index, dtype=object)
    status = pd.Series([None] * n, index=leads.index, dtype=object)
    method = pd.Series([None] * n, index=leads.index, dtype=object)
    reason = pd.Series([None] * n, index=leads.index, dtype=object)
    undecided = pd.Series(True, index=leads.index)

    def decide(mask: pd.Series, pid, st: str, how: str, why) -> None:
        nonlocal undecided
        mask = mask & undecided
        partner_id[mask] = pid if not isinstance(pid, pd.Series) else pid[mask]
        status[mask] = st
        method[mask] = how
        reason[mask] = why if not isinstance(why, pd.Series) else why[mask]
        undecided &= ~mask

    active = [p for p in partners.partners if p.active]

    if source.upload_partner:
        p = partners.by_id(source.upload_partner)
        if p is None or not p.active:
            state = "not a known partner id" if p is None else "inactive"
            decide(undecided, None, "needs_review", "upload_partner",
                   f"upload partner '{source.upload_partner}' is {state}; fix upload_partner in the source YAML")
        else:
            decide(undecided, p.id, "assigned", "upload_partner", f"upload partner '{p.name}' chosen for every lead")

    if source.partner_field and source.partner_field in leads:
        named = leads[source.partner_field].astype("string").str.strip()
        has_name = named.notna() & (named != "")
        lookup = {}
        for p in partners.partners:
            lookup[p.id.lower()] = p
            lookup[p.name.strip().lower()] = p
        resolved = named.str.lower().map(lambda k: lookup.get(k) if isinstance(k, str) else None)
        known = resolved.notna() & has_name
        ok = known & resolved.map(lambda p: bool(p and p.active))
        decide(ok, resolved.map(lambda p: p.id if p else None), "assigned", "named_partner",
               "partner named on the lead: " + named.fillna(""))
        column = source.field(source.partner_field).column
        decide(known & ~ok, None, "needs_review", "named_partner",
               "partner '" + named.fillna("") + f"' named in column '{column}' is inactive; assign by hand")
        decide(has_name & ~known, None, "needs_review", "named_partner",
               "partner '" + named.fillna("") + f"' named in column '{column}' is not a known partner; "
               "fix the name in the file or add the partner to partners.yaml")

    cols = LeadColumns(leads)
    for group in partners.routing.rule_groups:
        if not undecided.any():
            break
        candidates = [p for p in active if group.partners is None or p.id in group.partners]
        text = " AND ".join(describe(r) for r in group.rules)
        for p in candidates:
            mask = undecided.copy()
            for rule in group.rules:
                mask &= evaluate(rule, cols, p)
                if not mask.any():
                    break
            decide(mask, p.id, "assigned", "rule_group", f"rule group '{group.name}' matched {p.name}: {text}")

    default = partners.by_id(partners.routing.default_partner) if partners.routing.default_partner else None
    if default is not None and default.active:
        decide(undecided, default.id, "assigned", "default_partner", f"no rule matched; default partner {default.name}")
    decide(undecided, None, "unassigned", "none", "no rule matched and there is no default partner: unassigned queue")

    return pd.DataFrame({"lead_id": leads["lead_id"], "partner_id": partner_id, "status": status,
                         "method": method, "reason": reason})

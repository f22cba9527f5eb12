"""Route leads to partners: one decision per lead, with the step that decided it and why.

Precedence, the first step that decides wins (each is optional):
1. protected accounts — a named account (account id, company or email domain) goes to its partner and rep;
   accounts marked open compete as normal;
2. the partner chosen for the whole upload (source `upload_partner`), else the partner named on the lead
   (source `partner_field`) — an unknown or inactive partner is an error for that lead (needs_review),
   never a silent fallback;
3. rule groups in order — rules AND inside a group, groups OR; a lead missing a required rule's field
   goes to manual review; several matching partners share by weighted round robin, skipping partners at
   capacity;
4. the default partner (if it has room), else the unassigned queue.

Leads being rerouted carry the partners that already had them; those are excluded at every step.
The engine is pure: state (round-robin pointers, open-lead counts) comes in and goes out as values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leadsync.config.partners import Partner, PartnersConfig
from leadsync.config.schema import SourceConfig
from leadsync.routing.fields import LeadFields, email_domain, squeezed
from leadsync.routing.matching import FieldCache, match_group
from leadsync.routing.round_robin import allocate, allocate_unlimited, sequence, set_key

DECISION_COLUMNS = ["lead_id", "partner_id", "rep_email", "rep_name", "status", "step", "rule_group",
                    "candidates", "rr_key", "rr_slot", "reason"]


@dataclass
class RoutingState:
    positions: dict[str, int] = field(default_factory=dict)  # (source, candidate set) key → next slot
    open_leads: dict[str, int] = field(default_factory=dict)  # partner id → open leads now
    excluded: dict[str, set[str]] = field(default_factory=dict)  # lead id → partners that already had it


@dataclass
class RoutingResult:
    decisions: pd.DataFrame
    positions: dict[str, tuple[int, str]]  # changed pointers: key → (next slot, "id:weight,…")


class _Decisions:
    """Column arrays filled step by step; `undecided` shrinks as steps decide."""

    def __init__(self, n: int):
        self.cols = {c: np.full(n, None, dtype=object) for c in DECISION_COLUMNS if c != "lead_id"}
        self.undecided = np.ones(n, dtype=bool)

    def set(self, rows: np.ndarray, **values) -> None:
        """Decide `rows` (those still undecided; per-row value arrays align with `rows`)."""
        keep = self.undecided[rows]
        rows = rows[keep]
        for name, value in values.items():
            self.cols[name][rows] = value[keep] if isinstance(value, np.ndarray) else value
        self.undecided[rows] = False


def route(leads: pd.DataFrame, partners: PartnersConfig, source: SourceConfig,
          state: RoutingState | None = None) -> RoutingResult:
    """Decide every lead of `leads` (in arrival order: round robin hands out slots in this order)."""
    state = state or RoutingState()
    n = len(leads)
    out = _Decisions(n)
    lead_ids = leads["lead_id"].to_numpy(dtype=object)
    excluded_rows = ({i: state.excluded[lid] for i, lid in enumerate(lead_ids) if lid in state.excluded}
                     if state.excluded else {})
    room = {p.id: (p.capacity - state.open_leads.get(p.id, 0)) if p.capacity else np.inf for p in partners.partners}
    fields = LeadFields(leads)
    separator = _separator(source)

    _protected_accounts(out, fields, partners, excluded_rows)
    _named_partner(out, leads, fields, partners, source, excluded_rows)
    positions = _rule_groups(out, fields, partners, separator, state, room, excluded_rows, source.name)
    _default_or_unassigned(out, partners, room, excluded_rows)

    frame = pd.DataFrame({"lead_id": lead_ids, **out.cols})
    return RoutingResult(frame, positions)


def fields_used(partners: PartnersConfig, source: SourceConfig) -> list[str]:
    """The lead fields routing reads: rule fields, protection keys, the partner-name field."""
    used = {r.field for g in partners.routing.rule_groups for r in g.rules}
    keys = {a.key[0] for a in partners.routing.protected_accounts}
    used |= {"email" if k == "email_domain" else k for k in keys}
    if source.partner_field:
        used.add(source.partner_field)
    return sorted(used | {"email"})


def _separator(source: SourceConfig) -> str:
    mapped = source.field("products")
    return mapped.separator if mapped is not None else ";"


def _is_excluded(excluded_rows: dict[int, set[str]], row: int, partner_id: str) -> bool:
    return partner_id in excluded_rows.get(row, ())


# ------------------------------------------------------------------------------------- step 1


def _protected_accounts(out: _Decisions, fields: LeadFields, partners: PartnersConfig,
                        excluded_rows: dict[int, set[str]]) -> None:
    accounts = partners.routing.protected_accounts
    if not accounts:
        return
    by_field: dict[str, dict[str, object]] = {"account_id": {}, "company": {}, "email_domain": {}}
    for a in accounts:
        name, value = a.key
        by_field[name][value] = a
    # (lead field, how its normalised value becomes the account key); each evaluated per distinct value
    keys = {"account_id": ("account_id", None),
            "company": ("company", squeezed),
            "email_domain": ("email", email_domain)}
    for name in ("account_id", "company", "email_domain"):  # the most specific key first
        table = by_field[name]
        if not table:
            continue
        field_name, key = keys[name]
        accounts_here = list(table.values())
        # per lead, the index of its protected account (or None), computed per distinct value; then one
        # decision per account for all its leads at once
        hits = fields.lookup(field_name, {k: i for i, k in enumerate(table)}, key)
        found = pd.notna(hits) & out.undecided
        if not found.any():
            continue
        rows_found = np.flatnonzero(found)
        codes = hits[rows_found].astype(np.int64)
        for i in np.unique(codes):
            account = accounts_here[i]
            if account.open:
                continue
            partner = partners.by_id(account.partner)
            rows = rows_found[codes == i]
            # rerouting away from the protecting partner: those leads compete as normal
            rows = rows[[not _is_excluded(excluded_rows, int(r), partner.id) for r in rows]] \
                if excluded_rows else rows
            if not len(rows):
                continue
            label = f"protected account ({name} {account.key[1]!r})"
            if not partner.active:
                out.set(rows, status="needs_review", step="protected_account",
                        reason=f"{label} belongs to {partner.name}, which is inactive; assign by hand or "
                               f"move the account in partners.yaml")
                continue
            rep = partner.rep(account.rep) if account.rep else None
            out.set(rows, partner_id=partner.id, status="routed", step="protected_account",
                    rep_email=rep.email if rep else None, rep_name=rep.name if rep else None,
                    reason=f"{label} is protected for {partner.name}" + (f", rep {rep.name}" if rep else ""))


# ------------------------------------------------------------------------------------- step 2


def _named_partner(out: _Decisions, leads: pd.DataFrame, fields: LeadFields, partners: PartnersConfig,
                   source: SourceConfig, excluded_rows: dict[int, set[str]]) -> None:
    if source.upload_partner:
        p = partners.by_id(source.upload_partner)
        rows = np.flatnonzero(out.undecided)
        rows = np.array([r for r in rows if not (p and _is_excluded(excluded_rows, r, p.id))], dtype=np.int64)
        if p is None or not p.active:
            state = "not a known partner id" if p is None else "inactive"
            out.set(rows, status="needs_review", step="upload_partner",
                    reason=f"upload partner '{source.upload_partner}' is {state}; fix upload_partner in the source YAML")
        else:
            out.set(rows, partner_id=p.id, status="routed", step="upload_partner",
                    reason=f"upload partner {p.name} chosen for every lead of this source")
    if not source.partner_field or source.partner_field not in leads:
        return
    by_key: dict[str, int] = {}  # partner id or name (as compared) → index in partners.partners
    for i, p in enumerate(partners.partners):
        by_key[p.id.lower()] = i
        by_key[" ".join(p.name.lower().split())] = i
    column = source.field(source.partner_field).column
    raw = leads[source.partner_field]
    named = ~fields[source.partner_field].empty
    found = fields.lookup(source.partner_field, by_key, squeezed)
    rows_all = np.flatnonzero(named & out.undecided)
    if not len(rows_all):
        return
    # decided in groups (one partner, or one spelling of an unknown or inactive one), not lead by lead
    hits = pd.array(found[rows_all], dtype="Int64")
    unknown = np.asarray(hits.isna(), dtype=bool)
    codes_of_partner = hits.to_numpy(dtype=np.int64, na_value=-1)
    shown_codes, shown = pd.factorize(raw.iloc[rows_all].astype(str).str.strip().to_numpy(dtype=object))
    for code in np.unique(shown_codes[unknown]):
        out.set(rows_all[unknown & (shown_codes == code)], status="needs_review", step="named_partner",
                reason=f"partner '{shown[code]}' named in column '{column}' is not a known partner; fix the name "
                       "in the file or add the partner to partners.yaml")
    for i in np.unique(codes_of_partner[~unknown]):
        p = partners.partners[int(i)]
        rows = rows_all[codes_of_partner == i]
        if excluded_rows:  # rerouting away from the named partner
            rows = rows[[not _is_excluded(excluded_rows, int(r), p.id) for r in rows]]
        if not len(rows):
            continue
        if not p.active:
            codes = shown_codes[np.searchsorted(rows_all, rows)]
            for code in np.unique(codes):
                out.set(rows[codes == code], status="needs_review", step="named_partner",
                        reason=f"partner '{shown[code]}' named in column '{column}' is inactive; assign by hand")
            continue
        out.set(rows, partner_id=p.id, status="routed", step="named_partner",
                reason=f"partner {p.name} named on the lead (column '{column}')")


# ------------------------------------------------------------------------------------- step 3


def _rule_groups(out: _Decisions, fields: LeadFields, partners: PartnersConfig, separator: str,
                 state: RoutingState, room: dict[str, float], excluded_rows: dict[int, set[str]], source: str):
    cache = FieldCache(fields, separator)
    active = [p for p in partners.partners if p.active]
    changed: dict[str, tuple[int, str]] = {}
    for group in partners.routing.rule_groups:
        if not out.undecided.any():
            break
        wanted = set(group.partners) if group.partners is not None else None
        candidates = [p for p in active if wanted is None or p.id in wanted]
        match = match_group(group, candidates, cache, out.undecided, excluded_rows)
        if len(match.review_rows):
            reasons = np.array([f"rule group '{group.name}' requires {', '.join(missing)}, which the lead does "
                                "not have: review by hand" for missing in match.review_fields], dtype=object)
            out.set(match.review_rows, status="needs_review", step="rule_group", rule_group=group.name,
                    reason=reasons)
        if len(match.rows):
            _share(out, match, candidates, group.name, state, room, changed, source)
    return changed


def _share(out: _Decisions, match, candidates: list[Partner], group_name: str, state: RoutingState,
           room: dict[str, float], changed: dict[str, tuple[int, str]], source: str) -> None:
    """Hand the group's matched leads to partners, by weighted round robin within each candidate set (the
    source's own cycle of it: see round_robin.py)."""
    sets = [[candidates[j] for j in members] for members in match.set_members]
    keys = [set_key(s, source) for s in sets]
    seqs = [sequence([p.weight for p in s]) for s in sets]
    starts = np.array([state.positions.get(k, 0) for k in keys], dtype=np.int64)
    order = np.lexsort((match.rows, match.set_of_row))  # by set, then arrival order
    rows, set_of_row = match.rows[order], match.set_of_row[order]
    counts = np.bincount(set_of_row, minlength=len(sets))
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ranks = np.arange(len(rows)) - first[set_of_row]

    limited = np.array([any(np.isfinite(room[p.id]) for p in s) for s in sets], dtype=bool)
    pos = np.full(len(rows), -1, dtype=np.int64)
    slot = np.full(len(rows), -1, dtype=np.int64)
    free = ~limited[set_of_row]
    if free.any():
        pos[free], slot[free] = allocate_unlimited(ranks[free], set_of_row[free], seqs, starts)
    for s in np.flatnonzero(counts):
        members = sets[s]
        if limited[s]:  # capacity is shared across sets: allocate these one set at a time, in order
            span = slice(first[s], first[s] + counts[s])
            alloc = allocate(int(counts[s]), [p.weight for p in members], int(starts[s]),
                             [room[p.id] for p in members])
            pos[span], slot[span], next_slot = alloc.partner_pos, alloc.slot, alloc.next_slot
            taken = np.bincount(alloc.partner_pos[alloc.partner_pos >= 0], minlength=len(members))
            for j, p in enumerate(members):
                room[p.id] -= int(taken[j])
        else:
            next_slot = int((starts[s] + counts[s]) % len(seqs[s]))
        state.positions[keys[s]] = next_slot
        changed[keys[s]] = (next_slot, ",".join(f"{p.id}:{p.weight}" for p in members))

    # leads whose every matching partner is at capacity (pos -1) stay undecided for the later steps
    got = pos >= 0
    rows, set_of_row, pos, slot = rows[got], set_of_row[got], pos[got], slot[got]
    sizes = np.array([len(s) for s in sets], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat_ids = np.array([p.id for s in sets for p in s], dtype=object)
    partner_ids = flat_ids[offsets[set_of_row] + pos]
    names = {p.id: p.name for p in candidates}
    # one text per distinct (set, slot, partner): a cycle has a handful of slots, so a million leads share a
    # few texts
    width_slot, width_pos = int(slot.max(initial=0)) + 1, int(pos.max(initial=0)) + 1
    combined = (set_of_row.astype(np.int64) * width_slot + slot) * width_pos + pos
    distinct, codes = np.unique(combined, return_inverse=True)
    texts = np.array([
        f"rule group '{group_name}' matched {len(sets[st])} partner{'s' if len(sets[st]) > 1 else ''}; "
        f"round robin slot {sl + 1} of {len(seqs[st])}: {names[flat_ids[offsets[st] + p]]}"
        for st, sl, p in ((int(c) // width_pos // width_slot, int(c) // width_pos % width_slot, int(c) % width_pos)
                          for c in distinct)], dtype=object)
    reasons = texts[codes]
    out.set(rows, partner_id=partner_ids, status="routed", step="rule_group", rule_group=group_name,
            candidates=np.array([",".join(p.id for p in s) for s in sets], dtype=object)[set_of_row],
            rr_key=np.array(keys, dtype=object)[set_of_row], rr_slot=slot.astype(object),
            reason=np.array(reasons, dtype=object))


# ------------------------------------------------------------------------------------- step 4


def _default_or_unassigned(out: _Decisions, partners: PartnersConfig, room: dict[str, float],
                           excluded_rows: dict[int, set[str]]) -> None:
    rows = np.flatnonzero(out.undecided)
    default = partners.by_id(partners.routing.default_partner) if partners.routing.default_partner else None
    if default is not None and default.active and len(rows):
        eligible = np.array([r for r in rows if not _is_excluded(excluded_rows, r, default.id)], dtype=np.int64)
        take = eligible[: int(min(len(eligible), room[default.id]))] if np.isfinite(room[default.id]) else eligible
        room[default.id] -= len(take)
        out.set(take, partner_id=default.id, status="routed", step="default_partner",
                reason=f"no rule matched; default partner {default.name}")
    rows = np.flatnonzero(out.undecided)
    if len(rows):
        out.set(rows, status="unassigned", step="none",
                reason="no partner matched (or every match is at capacity or already had the lead): unassigned queue")

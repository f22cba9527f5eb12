"""Route leads to partners: one decision per lead, with the step that decided it and why.

Precedence, the first step that decides wins (each is optional):
1. protected accounts — a named account (account id, company or email domain) goes to its partner and rep;
   accounts marked open compete as normal;
2. the partner chosen for the whole upload (source `upload_partner`), else the partner named on the lead
   (source `partner_field`) — an unknown or inactive partner is an error for that lead (needs_review),
   never a silent fallback;
   then channel conflict (the source's or the global `conflict` policy) — a lead of a buyer a partner
   already holds (an earlier lead within the window, or a registration) goes to that partner
   (`same_partner`) or to review (`review`), its reason naming the earlier lead;
3. rule groups in order — rules AND inside a group, groups OR; a lead missing a required rule's field
   goes to manual review when a candidate that has the rule's attribute would match it otherwise (the
   missing value is what stands between them; candidates without the attribute fail the rule, and a group
   left with none does not match); several matching partners share by weighted round robin, skipping
   partners at capacity;
4. the default partner (if it has room), else the unassigned queue.

Leads being rerouted carry the partners that already had them; those are excluded at every step.
The engine is pure: state (round-robin pointers, open-lead counts) comes in and goes out as values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leadsync.config.partners import Partner, PartnersConfig, RuleGroup
from leadsync.config.schema import SourceConfig
from leadsync.routing.conflict_steps import decide_earlier_holders, follow_first, hold_same_buyer
from leadsync.routing.fields import LeadFields, email_domain, squeezed
from leadsync.routing.matching import FieldCache, match_group
from leadsync.routing.round_robin import allocate, allocate_unlimited, sequence, set_key
from leadsync.routing.rules import describe

DECISION_COLUMNS = ["lead_id", "partner_id", "rep_email", "rep_name", "status", "step", "rule_group",
                    "candidates", "rr_key", "rr_slot", "reason"]
# What a decision says besides its lead: a million leads share a few hundred distinct outcomes ("kinds").
KIND_COLUMNS = DECISION_COLUMNS[1:]


@dataclass
class RoutingState:
    positions: dict[str, int] = field(default_factory=dict)  # (source, candidate set) key → next slot
    open_leads: dict[str, int] = field(default_factory=dict)  # partner id → open leads now
    excluded: dict[str, set[str]] = field(default_factory=dict)  # lead id → partners that already had it


@dataclass
class RoutingResult:
    """Decisions as codes: lead i's decision is row `codes[i]` of `kinds` (one row per distinct outcome:
    partner, rep, status, step, group, candidates, round-robin key and slot, reason). `decisions` spells
    them out per lead (object columns, for callers working lead by lead); `lead_ids` is the leads' id column
    as it came in (an Arrow-backed column stays one)."""

    lead_ids: pd.Series
    codes: np.ndarray
    kinds: pd.DataFrame
    positions: dict[str, tuple[int, str]]  # changed pointers: key → (next slot, "id:weight,…")
    _decisions: pd.DataFrame | None = None

    @property
    def decisions(self) -> pd.DataFrame:
        if self._decisions is None:
            columns = {"lead_id": self.lead_ids.to_numpy(dtype=object)}
            for name in KIND_COLUMNS:
                columns[name] = self.kinds[name].to_numpy(dtype=object)[self.codes]
            self._decisions = pd.DataFrame(columns)
        return self._decisions

    def count(self, column: str, where: dict | None = None) -> dict:
        """Leads per value of a kind column (optionally only kinds matching `where`), without spelling out the
        decisions: a bincount over the codes."""
        per_kind = np.bincount(self.codes, minlength=len(self.kinds))
        kinds = self.kinds.assign(_n=per_kind)
        for name, value in (where or {}).items():
            kinds = kinds[kinds[name] == value]
        kinds = kinds[kinds["_n"] > 0]
        return {k: int(n) for k, n in kinds.groupby(column, dropna=True, sort=False)["_n"].sum().items()}


class _Decisions:
    """Per lead the code of its decision's kind, filled step by step; `undecided` shrinks as steps decide.
    Kinds are kept column by column."""

    def __init__(self, n: int):
        self.codes = np.full(n, -1, dtype=np.int64)
        self.undecided = np.ones(n, dtype=bool)
        self.columns: dict[str, list] = {name: [] for name in KIND_COLUMNS}
        self.count = 0
        self._known: dict[tuple, int] = {}

    def kind(self, **values) -> int:
        """The code of one outcome (unnamed columns are None); the same outcome always gets the same code."""
        key = tuple(values.get(name) for name in KIND_COLUMNS)
        code = self._known.get(key)
        if code is None:
            code = self._known[key] = self.count
            for name, value in zip(KIND_COLUMNS, key, strict=True):
                self.columns[name].append(value)
            self.count += 1
        return code

    def new_kinds(self, n: int, **values) -> np.ndarray:
        """Codes of n outcomes known to be new and distinct (per-kind sequences or one value for all; unnamed
        columns are None): the round-robin turns of one rule group, named by group, set and slot."""
        for name in KIND_COLUMNS:
            value = values.get(name)
            self.columns[name].extend(value if isinstance(value, list | np.ndarray) else [value] * n)
        self.count += n
        return np.arange(self.count - n, self.count, dtype=np.int64)

    def set(self, rows: np.ndarray, codes) -> None:
        """Decide `rows` (those still undecided) with one kind, or per-row kind codes aligned with `rows`."""
        keep = self.undecided[rows]
        rows = rows[keep]
        self.codes[rows] = codes[keep] if isinstance(codes, np.ndarray) else codes
        self.undecided[rows] = False

    def kinds_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in self.columns.items()},
                             columns=KIND_COLUMNS)
        return frame.where(frame.notna(), None)


def route(leads: pd.DataFrame, partners: PartnersConfig, source: SourceConfig,
          state: RoutingState | None = None, conflicts: pd.DataFrame | None = None) -> RoutingResult:
    """Decide every lead of `leads` (in arrival order: round robin hands out slots in this order).
    `conflicts` (routing.conflicts.CONFLICT_COLUMNS): per lead of `leads` with an earlier lead or
    registration of the same buyer, which one and the partner holding it."""
    state = state or RoutingState()
    n = len(leads)
    out = _Decisions(n)
    lead_ids = leads["lead_id"].reset_index(drop=True)
    excluded_rows = ({i: state.excluded[lid] for i, lid in enumerate(lead_ids.to_numpy(dtype=object))
                      if lid in state.excluded} if state.excluded else {})
    room = {p.id: (p.capacity - state.open_leads.get(p.id, 0)) if p.capacity else np.inf for p in partners.partners}
    fields = LeadFields(leads)
    separator = _separator(source)

    _protected_accounts(out, fields, partners, excluded_rows)
    _named_partner(out, leads, fields, partners, source, excluded_rows)
    policy = source.conflict or partners.routing.conflict
    if policy is not None and policy.action == "allow":
        policy = None
    if conflicts is not None and len(conflicts) and policy is not None:
        decide_earlier_holders(out, lead_ids, conflicts, policy, partners, room)
    follow = hold_same_buyer(out, fields, policy) if policy is not None else None
    positions = _rule_groups(out, fields, partners, separator, state, room, excluded_rows, source.name)
    _default_or_unassigned(out, partners, room, excluded_rows)
    if follow is not None:
        follow_first(out, lead_ids, follow, policy, partners, room)
    return RoutingResult(lead_ids, out.codes, out.kinds_frame(), positions)


def fields_used(partners: PartnersConfig, source: SourceConfig) -> list[str]:
    """The lead fields routing reads: rule fields, protection keys, the partner-name field."""
    used = {r.field for g in partners.routing.rule_groups for r in g.rules}
    keys = {a.key[0] for a in partners.routing.protected_accounts}
    used |= {"email" if k == "email_domain" else k for k in keys}
    if source.partner_field:
        used.add(source.partner_field)
    policy = source.conflict or partners.routing.conflict
    if policy is not None and policy.action != "allow":
        used |= {"received_at", *(["company"] if "company" in policy.match else [])}  # same buyer in a batch
    return sorted(used | {"email"})


def _separator(source: SourceConfig) -> str:
    mapped = source.field("products")
    return mapped.separator if mapped is not None else ";"


def _not_excluded(excluded_rows: dict[int, set[str]], rows: np.ndarray, partner_id: str) -> np.ndarray:
    """`rows` without the leads being rerouted away from `partner_id`."""
    if not excluded_rows:
        return rows
    return rows[[partner_id not in excluded_rows.get(int(r), ()) for r in rows]]


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
        if all(account.open for account in table.values()):
            continue  # none, or only open accounts (which decide nothing): no key to compute per lead
        field_name, key = keys[name]
        accounts_here = list(table.values())
        # per lead, the index of its protected account (-1: none), computed per distinct value; then one
        # decision per account for all its leads at once
        hits = fields.lookup(field_name, list(table), key)
        rows_found = np.flatnonzero((hits >= 0) & out.undecided)
        if not len(rows_found):
            continue
        codes = hits[rows_found]
        for i in np.unique(codes):
            account = accounts_here[i]
            if account.open:
                continue
            partner = partners.by_id(account.partner)
            # rerouting away from the protecting partner: those leads compete as normal
            rows = _not_excluded(excluded_rows, rows_found[codes == i], partner.id)
            if not len(rows):
                continue
            label = f"protected account ({name} {account.key[1]!r})"
            if not partner.active:
                out.set(rows, out.kind(status="needs_review", step="protected_account",
                                       reason=f"{label} belongs to {partner.name}, which is inactive; assign by "
                                              f"hand or move the account in partners.yaml"))
                continue
            rep = partner.rep(account.rep) if account.rep else None
            out.set(rows, out.kind(partner_id=partner.id, status="routed", step="protected_account",
                                   rep_email=rep.email if rep else None, rep_name=rep.name if rep else None,
                                   reason=f"{label} is protected for {partner.name}"
                                          + (f", rep {rep.name}" if rep else "")))


# ------------------------------------------------------------------------------------- step 2


def _named_partner(out: _Decisions, leads: pd.DataFrame, fields: LeadFields, partners: PartnersConfig,
                   source: SourceConfig, excluded_rows: dict[int, set[str]]) -> None:
    if source.upload_partner:
        p = partners.by_id(source.upload_partner)
        rows = np.flatnonzero(out.undecided)
        if p is not None:
            rows = _not_excluded(excluded_rows, rows, p.id)
        if p is None or not p.active:
            state = "not a known partner id" if p is None else "inactive"
            out.set(rows, out.kind(status="needs_review", step="upload_partner",
                                   reason=f"upload partner '{source.upload_partner}' is {state}; fix "
                                          "upload_partner in the source YAML"))
        else:
            out.set(rows, out.kind(partner_id=p.id, status="routed", step="upload_partner",
                                   reason=f"upload partner {p.name} chosen for every lead of this source"))
    if not source.partner_field or source.partner_field not in leads:
        return
    by_key: dict[str, int] = {}  # partner id or name (as compared) → index in partners.partners
    for i, p in enumerate(partners.partners):
        by_key[p.id.lower()] = i
        by_key[" ".join(p.name.lower().split())] = i
    column = source.field(source.partner_field).column
    enc = fields[source.partner_field]
    index = np.append(np.fromiter(by_key.values(), dtype=np.int64, count=len(by_key)), -1)
    found = index[fields.lookup(source.partner_field, list(by_key), squeezed)]
    rows_all = np.flatnonzero(~enc.empty & out.undecided)
    if not len(rows_all):
        return
    # decided in groups (one partner, or one spelling of an unknown or inactive one), not lead by lead: the
    # name is shown as written (trimmed), one text per distinct spelling
    shown = np.asarray(pd.Series(enc.raw_uniques, dtype=object).astype(str).str.strip(), dtype=object)
    raw_codes = enc.raw_codes[rows_all]
    partner_of_row = found[rows_all]
    unknown = partner_of_row < 0
    for code in np.unique(raw_codes[unknown]):
        out.set(rows_all[unknown & (raw_codes == code)], out.kind(
            status="needs_review", step="named_partner",
            reason=f"partner '{shown[code]}' named in column '{column}' is not a known partner; fix the name "
                   "in the file or add the partner to partners.yaml"))
    for i in np.unique(partner_of_row[~unknown]):
        p = partners.partners[int(i)]
        mine = partner_of_row == i
        rows = _not_excluded(excluded_rows, rows_all[mine], p.id)  # rerouting away from the named partner
        if not len(rows):
            continue
        if not p.active:
            codes = enc.raw_codes[rows]
            for code in np.unique(codes):
                out.set(rows[codes == code], out.kind(
                    status="needs_review", step="named_partner",
                    reason=f"partner '{shown[code]}' named in column '{column}' is inactive; assign by hand"))
            continue
        out.set(rows, out.kind(partner_id=p.id, status="routed", step="named_partner",
                               reason=f"partner {p.name} named on the lead (column '{column}')"))


# ------------------------------------------------------------------------------------- step 3


def _rule_groups(out: _Decisions, fields: LeadFields, partners: PartnersConfig, separator: str,
                 state: RoutingState, room: dict[str, float], excluded_rows: dict[int, set[str]], source: str):
    cache = FieldCache(fields, separator)
    active = [p for p in partners.partners if p.active]
    position = {p.id: i for i, p in enumerate(active)}
    changed: dict[str, tuple[int, str]] = {}
    for group in partners.routing.rule_groups:
        if not out.undecided.any():
            break
        # the group's partners that are active, in partners.yaml order
        candidates = active if group.partners is None else \
            [active[i] for i in sorted({position[w] for w in group.partners if w in position})]
        match = match_group(group, candidates, cache, out.undecided, excluded_rows)
        if len(match.review_rows):
            _review(out, match, candidates, group.name)
        if len(match.rows):
            _share(out, match, candidates, group, state, room, changed, source)
    return changed


def _review(out: _Decisions, match, candidates: list[Partner], group_name: str) -> None:
    """Leads held for review by a required rule: one kind per distinct (missing fields, partners that could
    take the lead with them); the reason names the rules and the partners, the candidates column lists them."""
    combined = match.review_missing * max(len(match.review_members), 1) + match.review_set
    distinct, inverse = np.unique(combined, return_inverse=True)
    codes = []
    for value in distinct.tolist():
        mask, members = divmod(value, max(len(match.review_members), 1))
        rules = [r for j, r in enumerate(match.required_rules) if mask >> j & 1]
        waiting = [candidates[j] for j in match.review_members[members]]
        shown = ", ".join(p.name for p in waiting[:10]) + (f" and {len(waiting) - 10} more" if len(waiting) > 10 else "")
        codes.append(out.kind(
            status="needs_review", step="rule_group", rule_group=group_name,
            candidates=",".join(p.id for p in waiting),
            reason=f"rule group '{group_name}' requires {', '.join(dict.fromkeys(r.field for r in rules))}, which "
                   f"the lead does not have ({'; '.join(describe(r) for r in rules)}); with it the lead could go to "
                   f"{shown}: review by hand"))
    out.set(match.review_rows, np.array(codes, dtype=np.int64)[inverse.reshape(-1)])


def _share(out: _Decisions, match, candidates: list[Partner], group: RuleGroup, state: RoutingState,
           room: dict[str, float], changed: dict[str, tuple[int, str]], source: str) -> None:
    """Hand the group's matched leads to partners, by weighted round robin within each candidate set (the
    source's own cycle of it: see round_robin.py). In `mode: offer` the partner whose turn it is and the
    set's next ones (with room) up to `offer.to` are offered the lead: status `offered`, no partner yet,
    `candidates` the partners offered in that order."""
    group_name = group.name
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
    # one kind per distinct (set, slot, partner): a cycle has a handful of slots, so a million leads share a
    # few decisions; new ones all (this group's turns), made column by column
    width_slot, width_pos = int(slot.max(initial=0)) + 1, int(pos.max(initial=0)) + 1
    combined = (set_of_row.astype(np.int64) * width_slot + slot) * width_pos + pos
    distinct, inverse = np.unique(combined, return_inverse=True)
    st, sl, at = distinct // width_pos // width_slot, distinct // width_pos % width_slot, distinct % width_pos
    sizes = np.array([len(s) for s in sets], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    chosen = [p for s in sets for p in s]
    chosen = [chosen[i] for i in (offsets[st] + at).tolist()]
    member_ids = np.array([",".join(p.id for p in s) for s in sets], dtype=object)
    cycle = np.array([len(q) for q in seqs], dtype=np.int64)
    reasons = [f"rule group '{group_name}' matched {n} partner{'s' if n > 1 else ''}; round robin slot {t + 1} of "
               f"{c}: {p.name}" for n, t, c, p in zip(sizes[st].tolist(), sl.tolist(), cycle[st].tolist(), chosen,
                                                      strict=True)]
    if group.mode == "offer":
        offered = [_offered(sets[s], p, group.offer.to, room) for s, p in zip(st.tolist(), chosen, strict=True)]
        kinds = out.new_kinds(
            len(distinct), partner_id=None, status="offered", step="rule_group", rule_group=group_name,
            candidates=[",".join(p.id for p in o) for o in offered],
            rr_key=np.array(keys, dtype=object)[st].tolist(), rr_slot=sl.tolist(),
            reason=[f"rule group '{group_name}' (mode offer) matched {n} partner{'s' if n > 1 else ''}; offered to "
                    f"{', '.join(p.name for p in o)}: the first to accept gets it"
                    for n, o in zip(sizes[st].tolist(), offered, strict=True)])
        out.set(rows, kinds[inverse.reshape(-1)])
        return
    kinds = out.new_kinds(len(distinct), partner_id=[p.id for p in chosen], status="routed", step="rule_group",
                          rule_group=group_name, candidates=member_ids[st].tolist(),
                          rr_key=np.array(keys, dtype=object)[st].tolist(), rr_slot=sl.tolist(), reason=reasons)
    out.set(rows, kinds[inverse.reshape(-1)])


def _offered(members: list[Partner], first: Partner, to: int, room: dict[str, float]) -> list[Partner]:
    """The partner whose turn it is, then the set's next partners (in set order, wrapping) that have room."""
    start = members.index(first)
    after = [members[(start + i) % len(members)] for i in range(1, len(members))]
    return [first, *[p for p in after if room[p.id] > 0]][:to]


# ------------------------------------------------------------------------------------- step 4


def _default_or_unassigned(out: _Decisions, partners: PartnersConfig, room: dict[str, float],
                           excluded_rows: dict[int, set[str]]) -> None:
    rows = np.flatnonzero(out.undecided)
    default = partners.by_id(partners.routing.default_partner) if partners.routing.default_partner else None
    if default is not None and default.active and len(rows):
        eligible = _not_excluded(excluded_rows, rows, default.id)
        take = eligible[: int(min(len(eligible), room[default.id]))] if np.isfinite(room[default.id]) else eligible
        room[default.id] -= len(take)
        out.set(take, out.kind(partner_id=default.id, status="routed", step="default_partner",
                               reason=f"no rule matched; default partner {default.name}"))
    rows = np.flatnonzero(out.undecided)
    if len(rows):
        out.set(rows, out.kind(status="unassigned", step="none",
                               reason="no partner matched (or every match is at capacity or already had the "
                                      "lead): unassigned queue"))

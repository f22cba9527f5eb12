"""Channel conflict as routing steps (the engine's step 2b; the policy is ConflictPolicy): leads of a buyer a
partner already holds — found by routing.conflicts in the store — and leads of the same buyer twice in one
routing run. Pure, like the engine: decisions go into the engine's per-lead decision codes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadsync.config.partners import ConflictPolicy, PartnersConfig
from leadsync.routing.fields import LeadFields, email_domain, normalised_column, squeezed

if TYPE_CHECKING:
    from leadsync.routing.engine import _Decisions as Decisions


def decide_earlier_holders(out: Decisions, lead_ids: pd.Series, conflicts: pd.DataFrame, policy: ConflictPolicy,
                           partners: PartnersConfig, room: dict[str, float]) -> None:
    """Leads of a buyer a partner already works (see ConflictPolicy): `same_partner` sends them to that
    partner (capacity does not split a buyer; an inactive partner means review), `review` holds them. One
    decision per lead: its reason names the earlier lead."""
    found = pd.Index(lead_ids.astype(object)).get_indexer(conflicts["lead_id"].astype(object))
    conflicts = conflicts[found >= 0].assign(row=found[found >= 0])
    conflicts = conflicts[out.undecided[conflicts["row"].to_numpy()]]
    if conflicts.empty:
        return
    buyer = "email" if policy.match == ["email"] else "email domain and company"
    partner_ids, statuses, reasons = [], [], []
    for c in conflicts.itertuples(index=False):
        p = partners.by_id(c.partner_id)
        name = p.name if p is not None else c.partner_id
        earlier = (f"earlier lead {c.earlier_id} (source '{c.earlier_source}', received {c.earlier_at:%Y-%m-%d}), "
                   f"held by {name}" if c.earlier_kind == "lead" else
                   f"registration {c.earlier_id} by {name} ({c.earlier_at:%Y-%m-%d})")
        what = f"channel conflict: same {buyer} as {earlier}, within {policy.within_days:g} days"
        if policy.action == "same_partner" and p is not None and p.active:
            partner_ids.append(p.id)
            statuses.append("routed")
            reasons.append(f"{what}: sent to {name}, which already works this buyer")
            room[p.id] -= 1
        else:
            why = "review by hand" if policy.action == "review" else \
                f"{name} is inactive or unknown, so it cannot take the buyer's new lead: review by hand"
            partner_ids.append(None)
            statuses.append("needs_review")
            reasons.append(f"{what}: {why} (this lead and {c.earlier_id})")
    kinds = out.new_kinds(len(conflicts), partner_id=partner_ids, status=statuses, step="conflict",
                          candidates=conflicts["partner_id"].tolist(), reason=reasons)
    out.set(conflicts["row"].to_numpy(dtype=np.int64), kinds)


def hold_same_buyer(out: Decisions, fields: LeadFields, policy: ConflictPolicy) -> np.ndarray | None:
    """Leads of one batch naming the same buyer: per lead the row of the previous lead with the same key
    within the policy's window (-1: none), for the undecided ones only; those are held out of the later
    steps (they follow that lead, see follow_first). None when no lead has an earlier twin."""
    keys = _buyer_keys(fields, policy)
    if keys is None:
        return None
    rows = np.flatnonzero(keys >= 0)
    order = rows[np.argsort(keys[rows], kind="stable")]  # by key, then arrival
    same = np.zeros(len(order), dtype=bool)
    same[1:] = keys[order[1:]] == keys[order[:-1]]
    previous = np.full(fields.n, -1, dtype=np.int64)
    previous[order[1:][same[1:]]] = order[:-1][same[1:]]
    received = fields.leads.get("received_at")
    if received is not None:
        at = _nanoseconds(received)
        has = previous >= 0
        gap = np.zeros(fields.n, dtype=np.int64)
        gap[has] = at[has] - at[previous[has]]
        previous[has & (gap > int(policy.within_days * 86400e9))] = -1
    previous[~out.undecided] = -1
    if not (previous >= 0).any():
        return None
    out.undecided[previous >= 0] = False  # held: decided after the others, from the lead they follow
    return previous


def _nanoseconds(column: pd.Series) -> np.ndarray:
    """Instants as int64 nanoseconds since the epoch (an Arrow-backed column without a Python object each)."""
    if isinstance(column.dtype, pd.ArrowDtype):
        values = pa.array(column)
        values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        return pc.cast(pc.cast(values, pa.timestamp("ns", values.type.tz)), pa.int64()).to_numpy(zero_copy_only=False)
    return pd.to_datetime(column, utc=True).astype("int64").to_numpy()


def _buyer_keys(fields: LeadFields, policy: ConflictPolicy) -> np.ndarray | None:
    """Per lead a code of its buyer key (email, or email domain + company; normalised), -1 when missing."""
    email = fields.leads.get("email")
    if email is None:
        return None
    values = normalised_column(email)
    if policy.match != ["email"]:
        company = fields.leads.get("company")
        if company is None:
            return None
        domain = email_domain(values)
        firm = squeezed(normalised_column(company))
        valid = pc.and_(pc.is_valid(domain), pc.is_valid(firm))
        values = pc.if_else(valid, pc.binary_join_element_wise(domain, firm, "\x1f"), pa.scalar(None, pa.string()))
    encoded = pc.dictionary_encode(values)
    return encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def follow_first(out: Decisions, lead_ids: pd.Series, previous: np.ndarray, policy: ConflictPolicy,
                 partners: PartnersConfig, room: dict[str, float]) -> None:
    """Decide the held leads from the lead of the same buyer before them in the batch: `same_partner` goes to
    the partner that lead went to, `review` holds them when it went to one; otherwise (it went to no partner)
    the same outcome as that lead."""
    ids = lead_ids.to_numpy(dtype=object)
    kinds = out.columns
    buyer = "email" if policy.match == ["email"] else "email domain and company"
    for row in np.flatnonzero(previous >= 0).tolist():  # arrival order: a lead's predecessor is decided first
        first = int(previous[row])
        code = int(out.codes[first])
        partner = partners.by_id(kinds["partner_id"][code]) if kinds["partner_id"][code] else None
        if partner is None or kinds["status"][code] not in ("routed", "accepted"):
            out.codes[row] = code
            continue
        what = f"channel conflict: same {buyer} as lead {ids[first]} in the same batch, routed to {partner.name}"
        if policy.action == "same_partner" and partner.active:
            room[partner.id] -= 1
            out.codes[row] = out.kind(partner_id=partner.id, status="routed", step="conflict",
                                      candidates=partner.id, reason=f"{what}: sent to {partner.name}, which "
                                                                    "already works this buyer")
        else:
            out.codes[row] = out.kind(status="needs_review", step="conflict", candidates=partner.id,
                                      reason=f"{what}: review by hand (this lead and {ids[first]})")

"""Routing rules evaluated over a field's distinct values.

A literal rule (`country in [US, CA]`) gives one boolean per distinct value. A partner-attribute rule
(`country in partner.countries`) gives, per distinct value, which of a group's candidate partners it
satisfies: a boolean matrix (distinct values × candidates). Both are gathered to leads by code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadsync.config.partners import Partner, Rule
from leadsync.routing.fields import EncodedField


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return [str(int(value))]
    return [str(value)]


def _norm(values: Sequence[str]) -> list[str]:
    return [str(v).strip().lower() for v in values if str(v).strip()]


class PostalIndex:
    """Distinct postal codes sorted per prefix length, so a prefix ('94') or a range ('94000-94999',
    'SW1-SW9') is one binary search, not a scan: ranges compare the leading characters of equal length."""

    def __init__(self, uniques: np.ndarray):
        self.uniques = uniques
        self._by_len: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _heads(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        if length not in self._by_len:
            heads = np.array([u[:length] for u in self.uniques], dtype=object) if len(self.uniques) else \
                np.array([], dtype=object)
            order = np.argsort(heads, kind="stable")
            self._by_len[length] = (heads[order], order)
        return self._by_len[length]

    def match(self, entry: str) -> np.ndarray:
        """Indexes of the distinct values the entry covers."""
        entry = entry.strip().lower()
        low, high = entry, entry
        if entry.count("-") == 1 and all(entry.split("-")):
            low, high = entry.split("-")
        length = len(low)
        sorted_heads, order = self._heads(length)
        start = np.searchsorted(sorted_heads, low, side="left")
        stop = np.searchsorted(sorted_heads, high, side="right")
        return order[start:stop]


def literal_truth(rule: Rule, enc: EncodedField, separator: str, postal: PostalIndex | None = None) -> np.ndarray:
    """Does the rule hold for each distinct value? (Empty leads are handled by the caller.)"""
    uniques = enc.uniques
    wanted = _norm(_as_list(rule.value))
    if rule.op in ("equals", "in", "not_in"):
        hit = np.isin(uniques, np.array(wanted, dtype=object))
        return ~hit if rule.op == "not_in" else hit
    if rule.op == "contains_any":
        return _multi_value_matrix(enc.arrow_uniques, separator, {w: 0 for w in wanted}, 1)[:, 0]
    if rule.op == "range":
        low, high = wanted
        num = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce").to_numpy()
        lo, hi = pd.to_numeric(pd.Series([low, high]), errors="coerce")
        if pd.notna(lo) and pd.notna(hi) and not np.isnan(num).all():
            return (num >= lo) & (num <= hi)  # NaN (not a number) compares False
        return _postal_hits(postal or PostalIndex(uniques), [f"{low}-{high}"])
    if rule.op == "prefix":
        return _postal_hits(postal or PostalIndex(uniques), wanted)
    raise ValueError(f"operator {rule.op} has no literal form")


def _postal_hits(index: PostalIndex, entries: list[str]) -> np.ndarray:
    hit = np.zeros(len(index.uniques), dtype=bool)
    for entry in entries:
        hit[index.match(entry)] = True
    return hit


def has_attribute(partner: Partner, attribute: str) -> bool:
    """Does the partner say anything about this attribute (a non-empty list or mapping, or a value)?"""
    value = getattr(partner, attribute)
    return bool(value) if isinstance(value, list | dict) else value is not None and str(value).strip() != ""


def _scoped_entries(partner: Partner, attribute: str) -> list[tuple[str | None, list[str]]]:
    """The partner's entries for an attribute as (country or None for every country, entries): a flat list
    is one unscoped pair; a mapping `{DE: [...], AT: [...]}` one pair per country (normalised)."""
    value = getattr(partner, attribute)
    if isinstance(value, dict):
        return [(str(c).strip().lower(), _as_list(v)) for c, v in value.items()]
    return [(None, _as_list(value))]


def partner_truth(rule: Rule, enc: EncodedField, candidates: Sequence[Partner], separator: str,
                  postal: PostalIndex | None = None, countries: np.ndarray | None = None) -> np.ndarray:
    """Boolean matrix (distinct values × candidates): does the rule hold for this value and that partner?

    `countries` (per distinct value, the lead's country) is given when the values are country-scoped pairs
    (see CountryScopedField): a partner's entries under a country then hold only for values of that country."""
    uniques = enc.uniques
    k = len(candidates)
    attr = rule.partner_attribute
    if countries is not None:
        return _scoped_truth(rule, uniques, countries, candidates, postal)
    if rule.op in ("equals", "in", "not_in"):
        position = {u: i for i, u in enumerate(uniques)}
        out = np.zeros((len(uniques), k), dtype=bool)
        for j, p in enumerate(candidates):
            rows = [position[v] for v in _norm(_as_list(getattr(p, attr))) if v in position]
            out[rows, j] = True
        return ~out if rule.op == "not_in" else out
    if rule.op == "contains_any":
        items: dict[str, int] = {}
        pairs: list[tuple[str, int]] = []
        for j, p in enumerate(candidates):
            pairs += [(v, j) for v in _norm(_as_list(getattr(p, attr)))]
        for v, _ in pairs:
            items.setdefault(v, len(items))
        item_partners = np.zeros((len(items), k), dtype=bool)
        for v, j in pairs:
            item_partners[items[v], j] = True
        return _multi_value_matrix(enc.arrow_uniques, separator, items, k, item_partners)
    if rule.op in ("prefix", "range"):
        index = postal or PostalIndex(uniques)
        out = np.zeros((len(uniques), k), dtype=bool)
        for j, p in enumerate(candidates):
            for entry in _as_list(getattr(p, attr)):
                out[index.match(entry), j] = True
        return out
    raise ValueError(f"operator {rule.op} cannot compare with a partner attribute")


def _scoped_truth(rule: Rule, uniques: np.ndarray, countries: np.ndarray, candidates: Sequence[Partner],
                  postal: PostalIndex | None) -> np.ndarray:
    if rule.op not in ("equals", "in", "not_in", "prefix", "range"):
        raise ValueError(f"operator {rule.op} cannot compare with a country-scoped partner attribute")
    index = postal or PostalIndex(uniques)
    out = np.zeros((len(uniques), len(candidates)), dtype=bool)
    for j, p in enumerate(candidates):
        for country, entries in _scoped_entries(p, rule.partner_attribute):
            if rule.op in ("prefix", "range"):
                rows = np.concatenate([index.match(e) for e in entries]) if entries else np.array([], dtype=np.int64)
            else:
                rows = np.flatnonzero(np.isin(uniques, np.array(_norm(entries), dtype=object)))
            if country is not None:
                rows = rows[countries[rows] == country]
            out[rows, j] = True
    return ~out if rule.op == "not_in" else out


def _multi_value_matrix(uniques: np.ndarray | pa.Array, separator: str, items: dict[str, int], k: int,
                        item_partners: np.ndarray | None = None) -> np.ndarray:
    """For multi-picklist values ('Firewall;SD-WAN'): OR over the value's items of each item's row. Split,
    normalised and looked up in Arrow."""
    out = np.zeros((len(uniques), k), dtype=bool)
    if not len(uniques) or not items:
        return out
    values = uniques if isinstance(uniques, pa.Array) else pa.array(np.asarray(uniques, dtype=object), pa.string())
    parts = pc.split_pattern(values, separator)
    found = pc.index_in(pc.utf8_lower(pc.utf8_trim_whitespace(pc.list_flatten(parts))),
                        value_set=pa.array(list(items), pa.string())).fill_null(-1).to_numpy(zero_copy_only=False)
    hit = found >= 0
    value_rows = pc.list_parent_indices(parts).to_numpy(zero_copy_only=False)[hit]
    item_rows = np.fromiter(items.values(), dtype=np.int64, count=len(items))[found[hit]]
    if item_partners is None:
        out[value_rows, 0] = True
    else:
        np.logical_or.at(out, value_rows, item_partners[item_rows])
    return out


def describe(rule: Rule) -> str:
    if rule.op == "is_empty":
        return f"{rule.field} is empty"
    target = f"partner.{rule.partner_attribute}" if rule.partner_attribute else repr(rule.value)
    flag = " (required)" if rule.required else " (optional)" if rule.optional else ""
    return f"{rule.field} {rule.op} {target}{flag}"

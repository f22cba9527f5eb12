"""Which leads a rule group matches, and with which of its candidate partners.

Literal rules filter the leads first (cheap, one boolean per distinct value). Partner-attribute rules then
AND together per lead as bitsets over the group's candidates (64 partners per machine word), in chunks
of leads so memory stays bounded whatever the group size. The distinct bitsets are the "candidate sets"
that round robin shares leads within.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leadsync.config.partners import Partner, Rule, RuleGroup
from leadsync.routing.fields import CountryScopedField, EncodedField, LeadFields
from leadsync.routing.rules import PostalIndex, has_attribute, literal_truth, partner_truth

CHUNK = 1 << 18
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5],
                dtype=np.uint64)


@dataclass
class GroupMatch:
    rows: np.ndarray  # lead rows the group matched
    set_of_row: np.ndarray  # per matched row: index into set_members
    set_members: list[np.ndarray] = field(default_factory=list)  # per set: candidate indexes, in YAML order
    review_rows: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))
    # per review row: which required rules' fields it lacks (bit j: required_rules[j])
    review_missing: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))
    required_rules: list[Rule] = field(default_factory=list)
    # per review row: index into review_members, the candidates that could take the lead given the value
    review_set: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))
    review_members: list[np.ndarray] = field(default_factory=list)


class FieldCache:
    """Per-routing-call caches shared by all groups: encoded fields, postal indexes, and for each field
    the lead rows grouped by value (so a group starts from its most selective rule's rows)."""

    SCAN_ABOVE = 512  # a rule true for more distinct values than this is cheaper as one scan

    def __init__(self, fields: LeadFields, separator: str):
        self.fields = fields
        self.separator = separator
        self._postal: dict[str, PostalIndex] = {}
        self._rows_by_value: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._scoped: dict[str, CountryScopedField] = {}

    def rule_field(self, rule: Rule, candidates: Sequence[Partner]) -> str:
        """The name a rule's lead values are read under: the field itself, or `<field>@country` when a
        candidate scopes that attribute by country (`postal_codes: {DE: [...]}`)."""
        attribute = rule.partner_attribute
        if attribute and any(isinstance(getattr(p, attribute), dict) for p in candidates):
            return f"{rule.field}@country"
        return rule.field

    def field(self, name: str) -> EncodedField:
        if not name.endswith("@country"):
            return self.fields[name]
        if name not in self._scoped:
            self._scoped[name] = CountryScopedField(self.fields[name.removesuffix("@country")],
                                                    self.fields["country"])
        return self._scoped[name]

    def countries(self, name: str) -> np.ndarray | None:
        """Per distinct value of a country-scoped name, the lead's country; None for a plain field."""
        return self._scoped[name].countries if name in self._scoped else None

    def _index(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if name not in self._rows_by_value:
            shifted = self.field(name).codes + 1  # 0 = empty, 1.. = distinct values
            counts = np.bincount(shifted, minlength=len(self.field(name).uniques) + 1)
            # a stable sort of small integers is numpy's radix sort
            narrow = np.int16 if len(counts) < 1 << 15 else np.int32 if len(counts) < 1 << 31 else np.int64
            order = np.argsort(shifted.astype(narrow), kind="stable")
            starts = np.concatenate([[0], np.cumsum(counts)])
            self._rows_by_value[name] = (order, starts, counts)
        return self._rows_by_value[name]

    def estimate(self, name: str, truth: np.ndarray, when_empty: bool) -> int:
        """How many leads a rule lets through (before the undecided filter)."""
        _, _, counts = self._index(name)
        return int(counts[1:][truth].sum() + (counts[0] if when_empty else 0))

    def rows_where(self, name: str, truth: np.ndarray, when_empty: bool) -> np.ndarray:
        order, starts, _ = self._index(name)
        values = np.flatnonzero(truth) + 1
        if when_empty:
            values = np.concatenate([[0], values])
        if len(values) > self.SCAN_ABOVE:
            return np.flatnonzero(self.field(name).gather(truth, when_empty))
        if not len(values):
            return np.array([], dtype=np.int64)
        return np.concatenate([order[starts[v]:starts[v + 1]] for v in values])

    def postal(self, name: str) -> PostalIndex:
        if name not in self._postal:
            self._postal[name] = PostalIndex(self.field(name).uniques)
        return self._postal[name]


def _pack(matrix: np.ndarray, words: int) -> np.ndarray:
    """Bool matrix (rows × k) → uint64 words (rows × words), bit j of the row = column j."""
    packed = np.packbits(matrix, axis=1, bitorder="little")
    padded = np.zeros((matrix.shape[0], words * 8), dtype=np.uint8)
    padded[:, : packed.shape[1]] = packed
    return padded.view(np.uint64)


def _members(words_row: np.ndarray, k: int) -> np.ndarray:
    bits = np.unpackbits(words_row.view(np.uint8), bitorder="little")[:k]
    return np.flatnonzero(bits)


def _row_keys(words: np.ndarray) -> np.ndarray:
    """One uint64 per row identifying its bitset: the word itself for one word (exact), a strong mix of
    the words otherwise (a collision would need two distinct sets with equal 64-bit mixes)."""
    if words.shape[1] == 1:
        return words[:, 0].copy()
    h = np.zeros(words.shape[0], dtype=np.uint64)
    for w in range(words.shape[1]):
        x = words[:, w] * _MIX[w % 4] + np.uint64(w + 1)
        x ^= x >> np.uint64(31)
        h = (h ^ x) * _MIX[(w + 1) % 4]
        h ^= h >> np.uint64(29)
    return h


def match_group(group: RuleGroup, candidates: Sequence[Partner], cache: FieldCache, undecided: np.ndarray,
                excluded: dict[int, set[str]] | None = None) -> GroupMatch:
    """Match the undecided leads (a boolean mask over lead rows) against one group's rules and candidates.

    An empty lead field: a plain rule does not hold; an optional one is skipped; a required one holds only
    for the candidates that have the attribute it compares with (a literal rule: for every candidate), and
    a lead that then still has a candidate goes to review (`review_rows`, with those candidates) — the
    missing value is what stands between it and a partner that could take it. Candidates without the
    attribute fail the rule, so a lead none of whose candidates could use the value fails the group."""
    sep = cache.separator
    k = len(candidates)
    nothing = GroupMatch(np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    if k == 0:
        return nothing
    required_rules = [r for r in group.rules if r.required]

    # Each rule as one boolean per distinct value (for a partner rule: "some candidate accepts it") and
    # what an empty lead field means for it; partner rules keep their full matrix for the bitsets, and the
    # candidates an empty value still leaves in (all: optional; those with the attribute: required).
    filters, matrices = [], []
    for rule in group.rules:
        name = cache.rule_field(rule, candidates)
        enc = cache.field(name)
        if rule.op == "is_empty":
            filters.append((name, enc, np.zeros(len(enc.uniques), dtype=bool), True))
            continue
        postal = cache.postal(name) if rule.op in ("prefix", "range") else None
        if rule.partner_attribute is None:
            filters.append((name, enc, literal_truth(rule, enc, sep, postal), rule.optional or rule.required))
        else:
            truth = partner_truth(rule, enc, candidates, sep, postal, cache.countries(name))
            if rule.optional:
                empty_ok = np.ones(k, dtype=bool)
            elif rule.required:
                empty_ok = np.array([has_attribute(p, rule.partner_attribute) for p in candidates], dtype=bool)
            else:
                empty_ok = np.zeros(k, dtype=bool)
            filters.append((name, enc, truth.any(axis=1), bool(empty_ok.any())))
            matrices.append((enc, truth, empty_ok))

    # Start from the most selective rule's leads (an index lookup, not a scan), then filter by the others.
    driver = min(range(len(filters)), key=lambda i: cache.estimate(filters[i][0], filters[i][2], filters[i][3]))
    name, _, truth, when_empty = filters[driver]
    rows = cache.rows_where(name, truth, when_empty)
    rows = rows[undecided[rows]]
    for i, (_, enc, truth, when_empty) in enumerate(filters):
        if i != driver and len(rows):
            rows = rows[enc.gather(truth, when_empty, rows)]
    if not len(rows):
        return nothing

    words = (k + 63) // 64
    full = _pack(np.ones((1, k), dtype=bool), words)[0]
    packed_rules = [(enc, np.vstack([_pack(truth, words), _pack(empty_ok[None, :], words)]))
                    for enc, truth, empty_ok in matrices]

    excluded_bits = _exclusion_bits(excluded, candidates, words) if excluded else {}
    excluded_rows = np.fromiter(excluded_bits, dtype=np.int64, count=len(excluded_bits))

    matched_rows, matched_keys, review_rows, review_keys = [], [], [], []
    representatives: dict[int, np.ndarray] = {}
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        acc = np.broadcast_to(full, (len(chunk), words)).copy()
        for enc, table in packed_rules:
            acc &= table[enc.codes[chunk]]
        if excluded_bits:  # leads being rerouted: drop the partners that already had them
            for i in np.flatnonzero(np.isin(chunk, excluded_rows)):
                acc[i] &= ~excluded_bits[int(chunk[i])]
        hit = acc.any(axis=1)
        if required_rules:
            missing = np.zeros(len(chunk), dtype=bool)
            for rule in required_rules:
                missing |= cache.field(cache.rule_field(rule, candidates)).empty[chunk]
            review = hit & missing
            keys = _row_keys(acc[review])
            _remember(representatives, keys, acc[review])
            review_rows.append(chunk[review])
            review_keys.append(keys)
            hit &= ~missing
        acc, chunk = acc[hit], chunk[hit]
        keys = _row_keys(acc)
        _remember(representatives, keys, acc)
        matched_rows.append(chunk)
        matched_keys.append(keys)

    rows_out = np.concatenate(matched_rows) if matched_rows else np.array([], dtype=np.int64)
    keys_all = np.concatenate(matched_keys) if matched_keys else np.array([], dtype=np.uint64)
    set_of_row, set_keys = pd.factorize(keys_all)
    members = [_members(representatives[int(key)], k) for key in set_keys]
    review = np.concatenate(review_rows) if review_rows else np.array([], dtype=np.int64)
    review_set, review_set_keys = pd.factorize(np.concatenate(review_keys) if review_keys else
                                               np.array([], dtype=np.uint64))
    missing = np.zeros(len(review), dtype=np.int64)
    for j, rule in enumerate(required_rules):
        missing |= cache.field(cache.rule_field(rule, candidates)).empty[review].astype(np.int64) << j
    return GroupMatch(rows_out, set_of_row.astype(np.int64), members, review, missing, required_rules,
                      review_set.astype(np.int64), [_members(representatives[int(key)], k) for key in review_set_keys])


def _remember(representatives: dict[int, np.ndarray], keys: np.ndarray, acc: np.ndarray) -> None:
    """Keep one bitset per key (the sets named by `_row_keys`)."""
    uniq, first = np.unique(keys, return_index=True)
    for key, i in zip(uniq.tolist(), first.tolist(), strict=True):
        representatives.setdefault(key, acc[i])


def _exclusion_bits(excluded: dict[int, set[str]], candidates: Sequence[Partner], words: int) -> dict[int, np.ndarray]:
    position = {p.id: j for j, p in enumerate(candidates)}
    out = {}
    for row, ids in excluded.items():
        cols = [position[i] for i in ids if i in position]
        if cols:
            mask = np.zeros((1, len(candidates)), dtype=bool)
            mask[0, cols] = True
            out[row] = _pack(mask, words)[0]
    return out

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

from leadsync.config.partners import Partner, RuleGroup
from leadsync.routing.fields import LeadFields
from leadsync.routing.rules import PostalIndex, literal_truth, partner_truth

CHUNK = 1 << 18
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5],
                dtype=np.uint64)


@dataclass
class GroupMatch:
    rows: np.ndarray  # lead rows the group matched
    set_of_row: np.ndarray  # per matched row: index into set_members
    set_members: list[np.ndarray] = field(default_factory=list)  # per set: candidate indexes, in YAML order
    review_rows: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))
    review_fields: list[list[str]] = field(default_factory=list)  # per review row: the empty required fields


class FieldCache:
    """Per-routing-call caches shared by all groups: encoded fields and postal indexes."""

    def __init__(self, fields: LeadFields, separator: str):
        self.fields = fields
        self.separator = separator
        self._postal: dict[str, PostalIndex] = {}

    def postal(self, name: str) -> PostalIndex:
        if name not in self._postal:
            self._postal[name] = PostalIndex(self.fields[name].uniques)
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


def match_group(group: RuleGroup, candidates: Sequence[Partner], cache: FieldCache, rows: np.ndarray,
                excluded: dict[int, set[str]] | None = None) -> GroupMatch:
    """Match `rows` (lead row indexes still undecided) against one group's rules and candidates."""
    fields, sep = cache.fields, cache.separator
    k = len(candidates)
    if k == 0 or len(rows) == 0:
        return GroupMatch(np.array([], dtype=np.int64), np.array([], dtype=np.int64))

    literal = [r for r in group.rules if r.partner_attribute is None]
    partner = [r for r in group.rules if r.partner_attribute is not None]
    required_fields = [r.field for r in group.rules if r.required]

    for rule in literal:  # shrink the leads before the per-partner work
        enc = fields[rule.field]
        if rule.op == "is_empty":
            ok = enc.empty[rows]
        else:
            postal = cache.postal(rule.field) if rule.op in ("prefix", "range") else None
            truth = literal_truth(rule, enc, sep, postal)
            ok = enc.gather(truth, rule.optional or rule.required, rows)
        rows = rows[ok]
        if not len(rows):
            return GroupMatch(rows, np.array([], dtype=np.int64))

    words = (k + 63) // 64
    full = _pack(np.ones((1, k), dtype=bool), words)[0]
    packed_rules = []
    for rule in partner:
        enc = fields[rule.field]
        postal = cache.postal(rule.field) if rule.op in ("prefix", "range") else None
        table = _pack(partner_truth(rule, enc, candidates, sep, postal), words)
        empty_row = full if (rule.optional or rule.required) else np.zeros(words, dtype=np.uint64)
        packed_rules.append((enc, np.vstack([table, empty_row[None, :]])))

    excluded_bits = _exclusion_bits(excluded, candidates, words) if excluded else {}

    matched_rows, matched_keys, review_rows = [], [], []
    representatives: dict[int, np.ndarray] = {}
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        acc = np.broadcast_to(full, (len(chunk), words)).copy()
        for enc, table in packed_rules:
            acc &= table[enc.codes[chunk]]
        for i, bits in ((i, excluded_bits[r]) for i, r in enumerate(chunk) if r in excluded_bits):
            acc[i] &= ~bits
        hit = acc.any(axis=1)
        if required_fields:
            missing = np.zeros(len(chunk), dtype=bool)
            for name in required_fields:
                missing |= fields[name].empty[chunk]
            review_rows.append(chunk[hit & missing])
            hit &= ~missing
        acc, chunk = acc[hit], chunk[hit]
        keys = _row_keys(acc)
        uniq, first = np.unique(keys, return_index=True)
        for key, i in zip(uniq.tolist(), first.tolist(), strict=True):
            representatives.setdefault(key, acc[i])
        matched_rows.append(chunk)
        matched_keys.append(keys)

    rows_out = np.concatenate(matched_rows) if matched_rows else np.array([], dtype=np.int64)
    keys_all = np.concatenate(matched_keys) if matched_keys else np.array([], dtype=np.uint64)
    set_of_row, set_keys = pd.factorize(keys_all)
    members = [_members(representatives[int(key)], k) for key in set_keys]
    review = np.concatenate(review_rows) if review_rows else np.array([], dtype=np.int64)
    review_fields = [[name for name in required_fields if fields[name].empty[r]] for r in review]
    return GroupMatch(rows_out, set_of_row.astype(np.int64), members, review, review_fields)


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

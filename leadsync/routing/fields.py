"""Lead columns dictionary-encoded once per routing call.

Every rule compares one lead field with values, so it is evaluated once per *distinct* value of that
field and the answer is gathered back to the leads by code. A million leads have a few thousand distinct
countries, states, postal codes or product lists: rules cost what the dictionary costs, not the leads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EMPTY = -1  # code of an empty or missing value


def normalise(values: pd.Series | np.ndarray) -> pd.Series:
    """Trimmed, lower-case text: how every routing comparison sees a value."""
    return pd.Series(values, dtype="string[pyarrow]").str.strip().str.lower()


class EncodedField:
    """`codes[i]` is lead i's index into `uniques` (normalised text), or EMPTY."""

    def __init__(self, column: pd.Series | None, n: int):
        self._empty: np.ndarray | None = None
        if column is None:
            self.codes = np.full(n, EMPTY, dtype=np.int64)
            self.uniques = np.array([], dtype=object)
            return
        raw_codes, raw_uniques = pd.factorize(column.to_numpy(dtype=object, na_value=None), use_na_sentinel=True)
        norm = normalise(np.asarray(raw_uniques, dtype=object))
        norm = norm.where(norm != "", None)
        norm_codes, uniques = pd.factorize(norm.to_numpy(dtype=object, na_value=None), use_na_sentinel=True)
        lookup = np.append(norm_codes, EMPTY).astype(np.int64)  # raw code -1 (missing) → EMPTY
        self.codes = lookup[raw_codes]
        self.uniques = np.asarray(uniques, dtype=object)

    @property
    def empty(self) -> np.ndarray:
        if self._empty is None:
            self._empty = self.codes == EMPTY
        return self._empty

    def gather(self, per_unique: np.ndarray, when_empty, rows: np.ndarray | None = None) -> np.ndarray:
        """Per-lead values from per-unique ones (`when_empty` for empty leads); only `rows` if given."""
        table = np.concatenate([per_unique, np.asarray([when_empty], dtype=per_unique.dtype).reshape(
            (1, *per_unique.shape[1:]))])
        codes = self.codes if rows is None else self.codes[rows]
        return table[codes]  # EMPTY (-1) picks the appended last row


class LeadFields:
    """Encoded lead columns, built on first use and shared by every rule of every group."""

    def __init__(self, leads: pd.DataFrame):
        self.leads = leads
        self.n = len(leads)
        self._encoded: dict[str, EncodedField] = {}

    def __getitem__(self, field: str) -> EncodedField:
        if field not in self._encoded:
            column = self.leads.get(field, None)
            self._encoded[field] = EncodedField(column, self.n)
        return self._encoded[field]

    def lookup(self, field: str, table: dict[str, object], key=None) -> np.ndarray:
        """Per lead, `table[key(normalised value)]` or None — computed once per distinct value. `key` maps the
        array of distinct values at once (see `squeezed`, `email_domain`)."""
        enc = self[field]
        keys = enc.uniques if key is None else key(enc.uniques)
        # membership first, vectorised: a million distinct emails, a handful of table keys
        known = pd.Index(list(table)).get_indexer(pd.Index(keys)) if len(keys) else np.array([], dtype=np.int64)
        values = np.array([*table.values(), None], dtype=object)
        found = np.append(values[known], None)  # -1 (not in the table) picks the None appended to values
        return found[enc.codes]


def squeezed(values: np.ndarray) -> np.ndarray:
    """Inner runs of whitespace as one space (names compared as a person reads them)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(values, pa.string())
    return np.asarray(pc.replace_substring_regex(pc.utf8_trim_whitespace(arr), r"\s+", " ")
                      .to_numpy(zero_copy_only=False), dtype=object)


def email_domain(values: np.ndarray) -> np.ndarray:
    """What follows the last @ (the whole value when there is none)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(values, pa.string())
    return np.asarray(pc.replace_substring_regex(arr, r"^.*@", "").to_numpy(zero_copy_only=False), dtype=object)

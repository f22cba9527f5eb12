"""Lead columns dictionary-encoded once per routing call.

Every rule compares one lead field with values, so it is evaluated once per *distinct* value of that
field and the answer is gathered back to the leads by code. A million leads have a few thousand distinct
countries, states, postal codes or product lists: rules cost what the dictionary costs, not the leads.

Columns held as Arrow (pandas' ArrowDtype, as the routing stage reads them from the store) or as pandas
categoricals are encoded without a Python object per lead; plain object columns are factorized.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

EMPTY = -1  # code of an empty or missing value


def _normalised(values: pa.Array) -> pa.Array:
    """Trimmed, lower-case text (how every routing comparison sees a value), with empty text as null; ASCII
    text by the faster ASCII kernels, which give the same result on it."""
    if pc.all(pc.string_is_ascii(values)).as_py() is not False:
        norm = pc.ascii_lower(pc.ascii_trim_whitespace(values))
    else:
        norm = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    return pc.if_else(pc.equal(norm, ""), pa.scalar(None, norm.type), norm)


def _raw_encoding(column: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """Per lead the code of its raw value (-1: missing), and the distinct raw values as Arrow text."""
    values = _arrow_text(column)
    if values is not None:
        encoded = pc.dictionary_encode(values)
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        return codes, encoded.dictionary
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy().astype(np.int64)
        raw = column.cat.categories.to_numpy(dtype=object)
    else:
        codes, raw = pd.factorize(column.to_numpy(dtype=object, na_value=None), use_na_sentinel=True)
        codes = codes.astype(np.int64, copy=False)
    # values as text the way pandas' string dtype writes them (a number becomes its digits)
    return codes, pa.array(pd.Series(np.asarray(raw, dtype=object), dtype="string[pyarrow]"))


class EncodedField:
    """`codes[i]` is lead i's index into `uniques` (normalised text), or EMPTY. `raw_codes[i]` indexes
    `raw_uniques`, the distinct values as written (-1: missing)."""

    def __init__(self, column: pd.Series | None, n: int):
        self._empty: np.ndarray | None = None
        self._uniques: np.ndarray | None = None
        self._raw_uniques: np.ndarray | None = None
        if column is None:
            self.codes = np.full(n, EMPTY, dtype=np.int64)
            self.raw_codes = self.codes
            self.arrow_uniques = self.arrow_raw_uniques = pa.array([], pa.string())
            return
        self.raw_codes, self.arrow_raw_uniques = _raw_encoding(column)
        encoded = pc.dictionary_encode(_normalised(self.arrow_raw_uniques))
        lookup = np.append(encoded.indices.fill_null(EMPTY).to_numpy(zero_copy_only=False), EMPTY).astype(np.int64)
        self.codes = lookup[self.raw_codes]  # raw code -1 (missing) picks the EMPTY appended last
        self.arrow_uniques = encoded.dictionary

    @property
    def uniques(self) -> np.ndarray:
        """The distinct normalised values (object array of str)."""
        if self._uniques is None:
            self._uniques = np.asarray(self.arrow_uniques.to_numpy(zero_copy_only=False), dtype=object)
        return self._uniques

    @property
    def raw_uniques(self) -> np.ndarray:
        if self._raw_uniques is None:
            self._raw_uniques = np.asarray(self.arrow_raw_uniques.to_numpy(zero_copy_only=False), dtype=object)
        return self._raw_uniques

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

    def lookup(self, field: str, keys: list[str], key=None) -> np.ndarray:
        """Per lead, the index in `keys` of `key(normalised value)` (-1: not there, or empty) — computed once
        per distinct value, in Arrow; for a column of mostly distinct values (emails) not yet encoded, once per
        lead (cheaper than encoding it). `key` maps an Arrow array of values at once (see `squeezed`,
        `email_domain`); `keys` must be distinct."""
        column = self.leads.get(field, None)
        if field not in self._encoded and column is not None and _mostly_distinct(column):
            values = _normalised(_arrow_text(column))
            values = values if key is None else key(values)
            found = pc.index_in(values, value_set=pa.array(keys, values.type)).fill_null(-1)
            return found.to_numpy(zero_copy_only=False).astype(np.int64)
        enc = self[field]
        values = enc.arrow_uniques if key is None else key(enc.arrow_uniques)
        found = pc.index_in(values, value_set=pa.array(keys, values.type)).fill_null(-1)
        per_unique = np.append(found.to_numpy(zero_copy_only=False), -1).astype(np.int64)
        return per_unique[enc.codes]  # EMPTY (-1) picks the -1 appended last


def _arrow_text(column: pd.Series) -> pa.Array | None:
    """The column's Arrow text array when it is Arrow-backed text (None otherwise)."""
    if not isinstance(column.dtype, pd.ArrowDtype):
        return None
    if not (pa.types.is_string(column.dtype.pyarrow_dtype) or pa.types.is_large_string(column.dtype.pyarrow_dtype)):
        return None
    values = pa.array(column)
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def normalised_column(column: pd.Series) -> pa.Array:
    """A lead column as routing compares it (trimmed, lower-case, empty as null), as one Arrow array."""
    values = _arrow_text(column)
    if values is None:
        values = pa.array(column.to_numpy(dtype=object), pa.string(), from_pandas=True)
    return _normalised(values)


def _mostly_distinct(column: pd.Series, sample: int = 2000) -> bool:
    """An Arrow-backed text column whose first values are nearly all different (e.g. emails)."""
    values = _arrow_text(column)
    if values is None or len(values) < 4 * sample:
        return False
    head = values.slice(0, sample)
    return len(pc.unique(head)) > 0.9 * sample


def _text(values) -> pa.Array:
    return values if isinstance(values, pa.Array) else pa.array(np.asarray(values, dtype=object), pa.string())


def squeezed(values) -> pa.Array:
    """Inner runs of whitespace as one space (names compared as a person reads them)."""
    return pc.replace_substring_regex(pc.utf8_trim_whitespace(_text(values)), r"\s+", " ")


def email_domain(values) -> pa.Array:
    """What follows the last @ (the whole value when there is none)."""
    values = _text(values)
    parts = pc.split_pattern(pc.fill_null(values, ""), "@", max_splits=1, reverse=True)  # [before, after] or [whole]
    offsets = parts.offsets
    last = pc.list_flatten(parts).take(pc.subtract(offsets[1:], offsets[0].as_py() + 1))
    return pc.if_else(pc.is_null(values), pa.scalar(None, last.type), last)


class CountryScopedField(EncodedField):
    """A field read together with the lead's country: one code per distinct (country, value) pair, so a
    partner's country-scoped entries (`postal_codes: {DE: [...], AT: [...]}`) are evaluated per pair.
    `uniques[i]` is pair i's value and `countries[i]` its country (normalised; "" when the lead has none);
    a lead whose value is empty is EMPTY whatever its country."""

    def __init__(self, value: EncodedField, country: EncodedField):
        self._empty = None
        self._raw_uniques = None
        n_values = max(len(value.uniques), 1)
        combined = np.where(value.codes == EMPTY, -1, (country.codes + 1) * n_values + value.codes)
        codes, pairs = pd.factorize(combined, use_na_sentinel=True)
        # factorize keeps -1 as a value: map it back to EMPTY and renumber the real pairs
        real = pairs >= 0
        renumber = np.full(len(pairs), EMPTY, dtype=np.int64)
        renumber[real] = np.arange(int(real.sum()))
        self.codes = renumber[codes] if len(codes) else codes.astype(np.int64)
        pairs = pairs[real]
        country_names = np.append(country.uniques, "").astype(object)  # code -1 (no country) → ""
        self.countries = country_names[pairs // n_values - 1]
        self._uniques = value.uniques[pairs % n_values] if len(value.uniques) else np.array([], dtype=object)
        self.arrow_uniques = pa.array(self._uniques.tolist(), pa.string())
        self.raw_codes = self.codes
        self.arrow_raw_uniques = self.arrow_uniques

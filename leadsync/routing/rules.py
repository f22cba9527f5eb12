"""Evaluate one routing rule over many leads at once (vectorised; one boolean per lead)."""

from __future__ import annotations

import pandas as pd

from leadsync.config.schema import Partner, Rule


def _text(values: pd.Series) -> pd.Series:
    return values.astype("string[pyarrow]").str.strip().str.lower()


class LeadColumns:
    """Lead columns normalised once per routing call (trimmed, lower-case Arrow strings), not once per
    partner and rule."""

    def __init__(self, leads: pd.DataFrame):
        self.leads = leads
        self._text: dict[str, pd.Series] = {}

    def raw(self, field: str) -> pd.Series:
        if field in self.leads:
            return self.leads[field]
        return pd.Series(None, index=self.leads.index, dtype=object)

    def text(self, field: str) -> pd.Series:
        if field not in self._text:
            self._text[field] = _text(self.raw(field))
        return self._text[field]


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def operand(rule: Rule, partner: Partner | None) -> list[str]:
    if rule.partner_attribute is not None:
        return _as_list(getattr(partner, rule.partner_attribute) if partner else None)
    return _as_list(rule.value)


def _postal_match(values: pd.Series, entries: list[str]) -> pd.Series:
    """Entries are prefixes ('941') or inclusive ranges ('94000-94999'), compared as text of equal length."""
    hit = pd.Series(False, index=values.index)
    v = values.astype("string").str.strip().str.upper()
    for entry in entries:
        entry = entry.strip().upper()
        if "-" in entry and entry.count("-") == 1 and all(entry.split("-")):
            low, high = entry.split("-")
            head = v.str.slice(0, len(low))
            hit |= ((head >= low) & (head <= high)).fillna(False)
        else:
            hit |= v.str.startswith(entry).fillna(False)
    return hit


def evaluate(rule: Rule, cols: LeadColumns, partner: Partner | None, separator: str = ";") -> pd.Series:
    """Does `rule` hold for each lead (against `partner` when it compares with a partner attribute)?
    A rule over an empty lead field is false, except is_empty."""
    leads, values, text = cols.leads, cols.raw(rule.field), cols.text(rule.field)
    present = (text.notna() & (text != "")).fillna(False).astype(bool)
    if rule.op == "is_empty":
        return ~present
    wanted = operand(rule, partner)
    if rule.op in ("equals", "in", "not_in"):
        hit = text.isin([w.strip().lower() for w in wanted]).fillna(False).astype(bool)
        return present & (~hit if rule.op == "not_in" else hit)
    if rule.op == "prefix":
        return present & _postal_match(values, [w for w in wanted if "-" not in w.strip("-")] or wanted)
    if rule.op == "range":
        if rule.partner_attribute is not None:  # e.g. postal_codes: prefixes and ranges mixed
            return present & _postal_match(values, wanted)
        low, high = wanted
        num = pd.to_numeric(values, errors="coerce")
        if pd.notna(pd.to_numeric(low, errors="coerce")) and num.notna().any():
            return present & num.between(float(low), float(high)).fillna(False)
        return present & _postal_match(values, [f"{low}-{high}"])
    if rule.op == "contains_any":
        wanted_l = {w.strip().lower() for w in wanted}
        parts = text.dropna().astype(object).str.split(separator, regex=False).explode().str.strip()
        hit = parts.isin(wanted_l).groupby(level=0).any()
        return present & hit.reindex(leads.index, fill_value=False)
    raise ValueError(f"unknown operator {rule.op}")


def describe(rule: Rule) -> str:
    target = f"partner.{rule.partner_attribute}" if rule.partner_attribute else repr(rule.value)
    return f"{rule.field} is empty" if rule.op == "is_empty" else f"{rule.field} {rule.op} {target}"

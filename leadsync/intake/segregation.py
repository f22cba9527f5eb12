"""A source's `segregate:` filter compiled into the intake plan's SQL: one boolean per row, set-based.

The conditions are partners.yaml's literal routing rules (leadsync/config/partners.py `Rule`), matched the way
routing matches them (leadsync/routing/rules.py `literal_truth`): values trimmed and lower-cased; an empty
lead field fails every operator but `is_empty`; `in`/`equals` test membership; `contains_any` splits the
value on the `products` mapping's separator (as routing does); `prefix` takes prefixes or ranges
('94000-94999', 'SW1-SW9': the leading characters compared); `range` compares numbers when both bounds are
numbers, the leading characters otherwise.

Values enter the SQL only as quoted literals.
"""

from __future__ import annotations

from leadsync.config.partners import Rule
from leadsync.config.schema import FieldType, Segregation, SourceConfig
from leadsync.intake.sql import ident, literal
from leadsync.routing.rules import _as_list, _norm  # routing's own reading of a rule's values


def _text(field: str) -> str:
    """The mapped field as routing compares it: trimmed, lower-case text, empty as null."""
    return f"NULLIF(lower(trim(CAST({ident(field)} AS VARCHAR))), '')"


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _leading_between(v: str, entry: str) -> str:
    """A prefix entry ('94') or a range of leading characters ('94000-94999') as SQL over text `v`."""
    low, high = entry, entry
    if entry.count("-") == 1 and all(entry.split("-")):
        low, high = entry.split("-")
    return f"(left({v}, {len(low)}) BETWEEN {literal(low)} AND {literal(high)})"


def condition_sql(rule: Rule, source: SourceConfig) -> str:
    """SQL true where the row's mapped lead field satisfies the rule."""
    v = _text(rule.field)
    if rule.op == "is_empty":
        return f"({v} IS NULL)"
    wanted = _norm(_as_list(rule.value))
    mapped = source.field(rule.field)
    if rule.op in ("equals", "in", "not_in"):
        if mapped is not None and mapped.type is FieldType.number and all(_number(w) is not None for w in wanted):
            # a number field holds 5.0 where the YAML says 5: compare as numbers
            test = f"CAST({ident(rule.field)} AS DOUBLE) IN ({', '.join(repr(_number(w)) for w in wanted)})"
        else:
            test = f"{v} IN ({', '.join(literal(w) for w in wanted)})"
        test = f"NOT ({test})" if rule.op == "not_in" else test
    elif rule.op == "contains_any":
        products = source.field("products")
        separator = products.separator if products is not None else ";"
        items = f"list_transform(string_split({v}, {literal(separator)}), lambda x: trim(x))"
        test = f"list_has_any({items}, [{', '.join(literal(w) for w in wanted)}])"
    elif rule.op == "prefix":
        test = "(" + " OR ".join(_leading_between(v, w) for w in wanted) + ")"
    elif rule.op == "range":
        low, high = wanted
        if _number(low) is not None and _number(high) is not None:
            test = f"(TRY_CAST({v} AS DOUBLE) BETWEEN {_number(low)!r} AND {_number(high)!r})"
        else:
            test = _leading_between(v, f"{low}-{high}")
    else:  # the Rule model admits no other operator; a new one must be taught here before it is accepted
        raise ValueError(f"segregate: operator {rule.op!r} has no intake form")
    return f"({v} IS NOT NULL AND {test})"


def segregation_sql(source: SourceConfig) -> str | None:
    """The source's segregate filter as one SQL boolean over the mapped lead fields, or None without one
    (Salesforce's own filter, evaluated by its connector, is not this model and is not compiled here)."""
    filt = source.segregate
    if not isinstance(filt, Segregation):
        return None
    joiner = " AND " if filt.match == "all" else " OR "
    return "coalesce(" + joiner.join(condition_sql(r, source) for r in filt.rules) + ", false)"

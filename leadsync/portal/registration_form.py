"""The auto-registration part of the portal's settings form: the partner's own rule groups as form rows and
back. A group is `rg-<g>-name` and rows `rg-<g>-<r>-field|op|value|optional`; a value lists with commas
(`in`, `not_in`, `contains_any`, `range` low,high) and `partner.<attribute>` compares with the partner's own
attribute, as `partner_attribute` does in partners.yaml. Blank rows and groups with no rule are dropped,
so the page offers one empty group and two empty rows per group to add with."""

from __future__ import annotations

import re

from leadsync.config.partners import PARTNER_ATTRIBUTES

OPERATORS = ("equals", "in", "not_in", "prefix", "range", "contains_any", "is_empty")
LIST_OPERATORS = ("in", "not_in", "contains_any", "range")
SPARE_ROWS = 2
PRESENT = "rg-present"  # the form carried the rule groups (a form without them leaves them as they are)


def groups_from_form(fields: dict[str, str]) -> list[dict]:
    """The rule groups a submitted form describes, as partners.yaml would write them (not yet validated)."""
    groups: dict[int, dict] = {}
    for key, value in fields.items():
        found = re.fullmatch(r"rg-(\d+)-(?:(name)|(\d+)-(field|op|value|optional))", key)
        if not found:
            continue
        g = int(found.group(1))
        group = groups.setdefault(g, {"name": "", "rows": {}})
        if found.group(2):
            group["name"] = value.strip()
        else:
            group["rows"].setdefault(int(found.group(3)), {})[found.group(4)] = value.strip()
    out = []
    for g in sorted(groups):
        rules = [_rule(row) for _, row in sorted(groups[g]["rows"].items()) if row.get("field")]
        if rules:
            out.append({"name": groups[g]["name"] or f"group {len(out) + 1}", "rules": rules})
    return out


def _rule(row: dict[str, str]) -> dict:
    rule: dict = {"field": row["field"], "op": row.get("op") or "equals"}
    text = row.get("value", "")
    if rule["op"] == "is_empty":
        return rule
    attribute = text.removeprefix("partner.")
    if text.startswith("partner.") and attribute in PARTNER_ATTRIBUTES:
        rule["partner_attribute"] = attribute
    elif rule["op"] in LIST_OPERATORS:
        rule["value"] = [v.strip() for v in text.split(",") if v.strip()]
    else:
        rule["value"] = text
    if row.get("optional") == "on":
        rule["optional"] = True
    return rule


def form_rows(groups: list[dict]) -> list[dict]:
    """The groups for the page: each with its rules as text fields, plus spare rows and one spare group."""
    shown = []
    for group in [*groups, {"name": "", "rules": []}]:
        rows = []
        for rule in group["rules"]:
            if rule.get("partner_attribute"):
                value = f"partner.{rule['partner_attribute']}"
            elif isinstance(rule.get("value"), list):
                value = ", ".join(str(v) for v in rule["value"])
            else:
                value = "" if rule.get("value") is None else str(rule["value"])
            rows.append({"field": rule["field"], "op": rule["op"], "value": value,
                         "optional": bool(rule.get("optional"))})
        rows += [{"field": "", "op": "equals", "value": "", "optional": False}] * SPARE_ROWS
        shown.append({"name": group["name"], "rows": rows})
    return shown


def lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]

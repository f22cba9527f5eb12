"""Checks every Bulk definition shares, and the 400 body they produce.

Eloqua answers an invalid definition with HTTP 400 and
`{"failures": [{"field": "identifierFieldName", "constraint": "Must be a string value, at least 1 character
and at most 100 characters long.", "value": "..."}]}`; `failure()` builds one entry.
"""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
MIN_RETENTION = timedelta(hours=1)
MAX_RETENTION = timedelta(days=14)
DEFAULT_EXPORT_RETENTION = "PT12H"
DEFAULT_IMPORT_RETENTION = "P7D"
NAME_CONSTRAINT = "Must be a string value, at least 1 character and at most 100 characters long."


def failure(field: str, constraint: str, value: object = None) -> dict:
    out = {"field": field, "constraint": constraint}
    if value is not None:
        out["value"] = value if isinstance(value, str) else str(value)
    return out


def parse_duration(text: str) -> timedelta | None:
    """ISO-8601 duration (P3D, PT12H, P1DT6H) or None when it is not one."""
    m = _DURATION.match(text or "")
    if not m or text in ("P", "PT"):
        return None
    weeks, days, hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def check_common(body: dict, default_retention: str) -> list[dict]:
    """name, dataRetentionDuration and autoDeleteDuration; fills in the default retention."""
    problems = []
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
        problems.append(failure("name", NAME_CONSTRAINT, name))
    body.setdefault("dataRetentionDuration", default_retention)
    retention = parse_duration(str(body["dataRetentionDuration"]))
    if retention is None or not MIN_RETENTION <= retention <= MAX_RETENTION:
        problems.append(failure("dataRetentionDuration",
                                "Must be a valid ISO-8601 duration between PT1H and P14D.",
                                body["dataRetentionDuration"]))
    if "autoDeleteDuration" in body and (parse_duration(str(body["autoDeleteDuration"])) or timedelta(0)) \
            < MIN_RETENTION:
        problems.append(failure("autoDeleteDuration", "Must be a valid ISO-8601 duration of at least PT1H.",
                                body["autoDeleteDuration"]))
    return problems


def check_fields(fields: object, limit: int) -> list[dict]:
    if not isinstance(fields, dict) or not 1 <= len(fields) <= limit:
        count = len(fields) if isinstance(fields, dict) else fields
        return [failure("fields", f"Must be a dictionary containing at least 1 and at most {limit} items.",
                        f"{count} items" if isinstance(fields, dict) else count)]
    problems = []
    for key, statement in fields.items():
        if not 1 <= len(key) <= 100:
            problems.append(failure("fields", "Field names must be at least 1 and at most 100 characters long.",
                                    key))
        if not isinstance(statement, str) or not statement.strip():
            problems.append(failure(f"fields.{key}", "Must be a valid Eloqua Markup Language statement.",
                                    statement))
    return problems

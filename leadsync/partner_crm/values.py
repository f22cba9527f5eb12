"""What a partner's CRM gets of a lead, and how the CRM's words map back to ours. Pure functions.

Only fields the source marks `shared` (the default) ever reach a partner's CRM: mapped ones (`crm.fields`
over the connector's defaults) go to their CRM field; the other shared fields are listed, one
"Label: value" line each, in the connector's notes field (Salesforce: Description). `shared: false` fields
are never read for this.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import pandas as pd

from leadsync.config.schema import SourceConfig
from leadsync.lifecycle.status import CONVERTED, parse_status

CAMPAIGN_FIELD = "campaign"
_DASHES = re.compile(r"[\u2010-\u2015\u2212]")


def text(value: Any) -> str | None:
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    out = str(value).strip()
    return out or None


def crm_values(cfg: SourceConfig, lead: Mapping[str, Any], field_map: Mapping[str, str],
               notes_field: str | None, required: Mapping[str, str] | None = None) -> dict[str, str]:
    """CRM field → value of the lead's shared fields. `required` (CRM field → filler) fills required CRM
    fields the lead leaves empty or does not share."""
    values: dict[str, str] = {}
    notes: list[str] = []
    for f in cfg.fields:
        if not f.shared or f.field == CAMPAIGN_FIELD:
            continue
        value = text(lead.get(f.field))
        if value is None:
            continue
        target = field_map.get(f.field)
        if target:
            values[target] = value
        elif notes_field:
            notes.append(f"{f.display_label}: {value}")
    if notes and notes_field:
        values[notes_field] = "\n".join([values[notes_field], *notes] if values.get(notes_field) else notes)
    for target, filler in (required or {}).items():
        values.setdefault(target, filler)
    return values


def normalise(word: str) -> str:
    """Status and stage names compared ignoring case, spacing and the kind of dash ("Working – Contacted")."""
    return " ".join(_DASHES.sub("-", word).casefold().split())


def sales_status_for(crm_status: str | None, converted: bool, status_map: Mapping[str, str]) -> str | None:
    """Our sales status for the CRM's lead status (a converted lead is Converted Opportunity); None when the
    status is neither in the map nor one of ours by name."""
    if converted:
        return CONVERTED
    if not crm_status:
        return None
    table = {normalise(k): v for k, v in status_map.items()}
    return table.get(normalise(crm_status)) or parse_status(crm_status)


def stage_for(crm_stage: str | None, stage_map: Mapping[str, str], stages: list[str]) -> str | None:
    """The lifecycle.yaml stage for the CRM's opportunity stage: through the map, else the same name; None
    when neither gives one of `stages`."""
    if not crm_stage:
        return None
    mapped = {normalise(k): v for k, v in stage_map.items()}.get(normalise(crm_stage), crm_stage)
    return next((s for s in stages if normalise(s) == normalise(mapped)), None)

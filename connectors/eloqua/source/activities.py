"""Contacts' activity history through Bulk activity exports, one export per activity type (Eloqua's rule).

Each row: record_id (the contact id), activity_id (`<type>:<Eloqua id>`, since Eloqua numbers each activity
type on its own), activity_type, occurred_at (ISO 8601, UTC) and detail (a JSON object of the type's
descriptive fields that have a value). Activities of anonymous visitors (no contact) are left out.
"""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.eloqua.source.bulk import Bulk
from leadsync.connectors.eloqua.source.filters import any_of, since_clause
from leadsync.connectors.eloqua.source.settings import EloquaSettings
from leadsync.connectors.eloqua.source.timestamps import bulk_to_iso

ACTIVITY_COLUMNS = ["record_id", "activity_id", "activity_type", "occurred_at", "detail"]
_EMAIL = {"asset": "{{Activity.Asset.Name}}", "campaign_id": "{{Activity.Campaign.Id}}"}
# The descriptive fields exported per type, under the names `detail` uses.
DETAIL_FIELDS = {
    "EmailSend": {**_EMAIL, "subject": "{{Activity.Field(SubjectLine)}}"},
    "EmailOpen": {**_EMAIL, "subject": "{{Activity.Field(SubjectLine)}}"},
    "EmailClickthrough": {**_EMAIL, "subject": "{{Activity.Field(SubjectLine)}}",
                          "link": "{{Activity.Field(EmailClickedThruLink)}}"},
    "Subscribe": dict(_EMAIL),
    "Unsubscribe": dict(_EMAIL),
    "Bounceback": {**_EMAIL, "smtp_message": "{{Activity.Field(SmtpMessage)}}"},
    "WebVisit": {"first_page": "{{Activity.Field(FirstPageViewUrl)}}", "pages": "{{Activity.Field(NumberOfPages)}}",
                 "duration_s": "{{Activity.Field(Duration)}}"},
    "PageView": {"url": "{{Activity.Field(Url)}}", "campaign_id": "{{Activity.Campaign.Id}}"},
    "FormSubmit": {**_EMAIL, "raw_data": "{{Activity.Field(RawData)}}"},
}
_BASE = {"ActivityId": "{{Activity.Id}}", "ContactId": "{{Activity.Contact.Id}}", "CreatedAt": "{{Activity.CreatedAt}}"}


def read_activities(bulk: Bulk, settings: EloquaSettings, since: datetime | None,
                    types: list[str] | None) -> pd.DataFrame:
    chosen = list(dict.fromkeys(types)) if types else list(DETAIL_FIELDS)
    unknown = [t for t in chosen if t not in DETAIL_FIELDS]
    if unknown:
        raise ApiConfigError(f"Eloqua activity types {unknown} are not exportable; known: {list(DETAIL_FIELDS)}")
    lower = since - settings.look_back if since is not None else None
    columns: dict[str, list] = {name: [] for name in ACTIVITY_COLUMNS}
    for activity_type in chosen:
        details = DETAIL_FIELDS[activity_type]
        fields = {**_BASE, **{f"d_{name}": statement for name, statement in details.items()}}
        clauses = [any_of("{{Activity.Type}}", [activity_type]), since_clause("{{Activity.CreatedAt}}", lower)]
        filter_ = " AND ".join(c for c in clauses if c)
        for page in bulk.export("activities", fields, filter_, settings.export_page_size,
                                f"leadsync {activity_type} activities"):
            for item in page:
                if not item.get("ContactId"):
                    continue
                columns["record_id"].append(item["ContactId"])
                columns["activity_id"].append(f"{activity_type}:{item['ActivityId']}")
                columns["activity_type"].append(activity_type)
                columns["occurred_at"].append(bulk_to_iso(item.get("CreatedAt")))
                detail = {name: item[f"d_{name}"] for name in details if item.get(f"d_{name}")}
                columns["detail"].append(json.dumps(detail, ensure_ascii=False, sort_keys=True))
    return pd.DataFrame(columns, columns=ACTIVITY_COLUMNS).astype(object)

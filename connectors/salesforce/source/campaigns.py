"""Campaign data: the selected Campaigns, their members (CampaignMember) and the records' activity history
(Task and Event), as frames of text over REST.

Selection: a campaign is selected when its id is listed, or when it matches every other criterion given
(a type among `types` and a name matching `name_pattern`, re.search); an empty selection selects nothing.
Types are filtered in SOQL, the name pattern here (SOQL has no regular expressions).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.salesforce.source.client import SalesforceClient
from leadsync.connectors.salesforce.source.records import rest_frame
from leadsync.connectors.salesforce.source.settings import SalesforceSettings
from leadsync.connectors.salesforce.source.soql import chunks, datetime_literal, in_list
from leadsync.connectors.source_api import CampaignSelection

CAMPAIGN_COLUMNS = {"campaign_id": "Id", "name": "Name", "description": "Description", "type": "Type",
                    "status": "Status", "start_date": "StartDate", "end_date": "EndDate",
                    "is_active": "IsActive"}
MEMBERSHIP_COLUMNS = ["record_id", "campaign_id", "status", "joined_at", "member_id"]
ACTIVITY_COLUMNS = ["record_id", "activity_id", "activity_type", "occurred_at", "detail", "object", "subject",
                    "description"]
# Per activity object: the fields read, and where occurred_at comes from (first non-null).
_ACTIVITY_FIELDS = {"Task": ("Id", "WhoId", "Type", "Subject", "ActivityDate", "CreatedDate", "Description"),
                    "Event": ("Id", "WhoId", "Type", "Subject", "ActivityDateTime", "ActivityDate",
                              "CreatedDate", "Description")}
_OCCURRED = {"Task": ("ActivityDate", "CreatedDate"),
             "Event": ("ActivityDateTime", "ActivityDate", "CreatedDate")}


class CampaignReader:
    def __init__(self, client: SalesforceClient, settings: SalesforceSettings):
        self.client, self.settings = client, settings

    # ------------------------------------------------------------------ campaigns

    def campaigns(self, selection: CampaignSelection, extra_fields: Sequence[str] = ()) -> pd.DataFrame:
        described = self.client.describe("Campaign")
        extras = described.require([*extra_fields, *selection.fields])
        columns = {**CAMPAIGN_COLUMNS, **{name: path for name, path in extras.items()
                                          if path not in CAMPAIGN_COLUMNS.values()}}
        if not (selection.ids or selection.name_pattern or selection.types):
            return pd.DataFrame({c: [] for c in columns}, columns=list(columns), dtype=object)
        try:
            pattern = re.compile(selection.name_pattern) if selection.name_pattern else None
        except re.error as exc:
            raise ApiConfigError(f"campaigns.name_pattern {selection.name_pattern!r} is not a regular "
                                 f"expression: {exc}") from None
        select = f"SELECT {', '.join(dict.fromkeys(columns.values()))} FROM Campaign"
        records: list[dict[str, Any]] = []
        seen: set[str] = set()
        for where in self._campaign_filters(selection):
            for record in self.client.records(f"{select}{where} ORDER BY Name, Id", "query Campaign"):
                if record["Id"] not in seen:
                    seen.add(record["Id"])
                    records.append(record)
        wanted_ids = {i[:15] for i in selection.ids}
        types = {t.casefold() for t in selection.types}

        def selected(record: dict[str, Any]) -> bool:
            if record["Id"][:15] in wanted_ids:
                return True
            if not (selection.types or pattern):
                return False
            if types and (record.get("Type") or "").casefold() not in types:
                return False
            return pattern is None or pattern.search(record.get("Name") or "") is not None

        return rest_frame([r for r in records if selected(r)], columns)

    @staticmethod
    def _campaign_filters(selection: CampaignSelection) -> Iterator[str]:
        for ids in chunks(list(selection.ids)):
            yield f" WHERE Id IN {in_list(ids)}"
        if selection.types:
            yield f" WHERE Type IN {in_list(selection.types, 'picklist', 'Type')}"
        elif selection.name_pattern:
            yield ""  # every campaign: the pattern is applied here

    # ------------------------------------------------------------------ members

    def memberships(self, campaign_ids: Sequence[str], since: datetime | None) -> pd.DataFrame:
        """record_id (LeadId or ContactId, per the source's object), campaign_id, status, joined_at
        (CreatedDate), member_id, for members changed since `since` (minus the look-back)."""
        person = "LeadId" if self.settings.object == "Lead" else "ContactId"
        columns = {"record_id": person, "campaign_id": "CampaignId", "status": "Status",
                   "joined_at": "CreatedDate", "member_id": "Id"}
        changed = self._since(since)
        frames = []
        for ids in chunks(list(dict.fromkeys(campaign_ids))):
            soql = (f"SELECT Id, CampaignId, {person}, Status, CreatedDate FROM CampaignMember "
                    f"WHERE CampaignId IN {in_list(ids)} AND {person} != null{changed} "
                    "ORDER BY CampaignId, Id")
            frames.append(rest_frame(list(self.client.records(soql, "query CampaignMember")), columns))
        if not frames:
            return pd.DataFrame({c: [] for c in MEMBERSHIP_COLUMNS}, columns=MEMBERSHIP_COLUMNS, dtype=object)
        return pd.concat(frames, ignore_index=True)[MEMBERSHIP_COLUMNS]

    # ------------------------------------------------------------------ activities

    def activities(self, since: datetime | None, types: Sequence[str] | None = None) -> pd.DataFrame:
        """Tasks and Events on the source's records: record_id (WhoId), activity_id, activity_type (Type, else
        the object name), occurred_at, detail (subject and description), object, subject, description.
        `types` keeps those activity types ("Call", "Meeting"…); "Task" or "Event" keeps a whole object."""
        described = self.client.describe(self.settings.object)
        wanted = [t for t in (types or []) if t]
        rows: list[dict[str, Any]] = []
        for obj, fields in _ACTIVITY_FIELDS.items():
            where = f" WHERE WhoId != null{self._since(since)}"
            if wanted and obj.casefold() not in {t.casefold() for t in wanted}:
                where += f" AND Type IN {in_list(wanted, 'picklist', 'Type')}"
            soql = f"SELECT {', '.join(fields)} FROM {obj}{where} ORDER BY SystemModstamp, Id"
            for record in self.client.records(soql, f"query {obj}"):
                if described.owns(record.get("WhoId")):
                    rows.append(_activity(obj, record))
        frame = rest_frame(rows, {c: c for c in ACTIVITY_COLUMNS})
        return frame[ACTIVITY_COLUMNS]

    def _since(self, since: datetime | None) -> str:
        if since is None:
            return ""
        lower = since - timedelta(seconds=self.settings.look_back_s)
        return f" AND SystemModstamp >= {datetime_literal(lower)}"


def _activity(obj: str, record: dict[str, Any]) -> dict[str, Any]:
    occurred = next((record.get(f) for f in _OCCURRED[obj] if record.get(f)), None)
    subject, description = record.get("Subject"), record.get("Description")
    detail = "\n".join(str(part) for part in (subject, description) if part) or None
    return {"record_id": record.get("WhoId"), "activity_id": record["Id"],
            "activity_type": record.get("Type") or obj, "occurred_at": occurred, "detail": detail,
            "object": obj, "subject": subject, "description": description}

"""Campaigns (Application API 2.0 assets) and who is in them (Bulk campaign responses and activities).

A campaign is selected when it meets every criterion the selection gives (ids, a regular expression searched
in the name, types); an empty selection selects all. Dates come as Unix-second strings and leave as ISO 8601
(UTC). Custom campaign fields become columns named by the field (`field_<id>` when the field list cannot be
read).

Memberships merge campaign responses (their member status) with activities that carry a campaign id (email
sends, opens, click-throughs, form submits: a status from the activity type); per record and campaign the
earliest date is `joined_at`, and the status is the campaign response's latest, else the furthest activity.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

import pandas as pd

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.eloqua.source.bulk import Bulk
from leadsync.connectors.eloqua.source.client import EloquaClient
from leadsync.connectors.eloqua.source.filters import any_of, chunked_any_of, since_clause
from leadsync.connectors.eloqua.source.settings import EloquaSettings
from leadsync.connectors.eloqua.source.timestamps import epoch_to_iso, parse_bulk_time
from leadsync.connectors.source_api import CampaignSelection

CAMPAIGN_COLUMNS = ["campaign_id", "name", "description", "type", "start_date", "end_date", "status", "updated_at",
                    "created_at", "crm_id"]
MEMBERSHIP_COLUMNS = ["record_id", "campaign_id", "status", "joined_at"]
# Activity types that carry a campaign id, as a membership status, furthest last.
ACTIVITY_STATUS = {"EmailSend": "Sent", "Subscribe": "Subscribed", "Unsubscribe": "Unsubscribed",
                   "Bounceback": "Bounced", "PageView": "Visited", "EmailOpen": "Opened",
                   "EmailClickthrough": "Clicked", "FormSubmit": "Responded"}
_RANK = {status: rank for rank, status in enumerate(ACTIVITY_STATUS.values())}


class Campaigns:
    def __init__(self, client: EloquaClient, bulk: Bulk, settings: EloquaSettings):
        self.client = client
        self.bulk = bulk
        self.settings = settings

    # ------------------------------------------------------------------ campaigns

    def select(self, selection: CampaignSelection) -> pd.DataFrame:
        try:
            pattern = re.compile(selection.name_pattern) if selection.name_pattern else None
        except re.error as exc:
            raise ApiConfigError(f"campaign name_pattern {selection.name_pattern!r} is not a regular expression: "
                                 f"{exc}") from None
        ids = {str(i) for i in selection.ids}
        types = {t.lower() for t in selection.types}
        names = self._field_names()
        rows = []
        for campaign in self._campaigns(ids if ids and not pattern and not types else None):
            row = self._row(campaign, names)
            if ids and row["campaign_id"] not in ids:
                continue
            if pattern and not pattern.search(row["name"] or ""):
                continue
            if types and (row["type"] or "").lower() not in types:
                continue
            rows.append(row)
        extra = sorted({k for r in rows for k in r} - set(CAMPAIGN_COLUMNS))
        return pd.DataFrame(rows, columns=CAMPAIGN_COLUMNS + extra).astype(object)

    def _campaigns(self, ids: set[str] | None) -> Iterator[dict]:
        rest = self.client.endpoints.rest("2.0")
        if ids is not None:  # a handful of known ids: fetch them, not the whole list
            for campaign_id in sorted(ids):
                if not campaign_id.isdigit():
                    continue
                answer = self.client.request("GET", f"{rest}/assets/campaign/{campaign_id}", allow=(404,),
                                             what=f"Eloqua campaign {campaign_id}", params={"depth": "complete"})
                if answer.status_code != 404:
                    yield answer.json()
            return
        yield from self.client.rest_elements(f"{rest}/assets/campaigns", "Eloqua campaigns",
                                             {"depth": "complete", "orderBy": "id ASC"})

    def _field_names(self) -> dict[str, str]:
        """Campaign field id → name (empty when the instance does not list its campaign fields)."""
        url = f"{self.client.endpoints.rest('2.0')}/assets/campaign/fields"
        answer = self.client.request("GET", url, what="Eloqua campaign fields", allow=(404,),
                                     params={"depth": "minimal", "count": 1000})
        if answer.status_code == 404:
            return {}
        return {str(e["id"]): e.get("name") or f"field_{e['id']}" for e in answer.json().get("elements") or []}

    @staticmethod
    def _row(c: dict, names: dict[str, str]) -> dict:
        row = {"campaign_id": str(c.get("id")), "name": c.get("name"), "description": c.get("description"),
               "type": c.get("campaignType") or c.get("campaignCategory"),
               "start_date": epoch_to_iso(c.get("startAt")), "end_date": epoch_to_iso(c.get("endAt")),
               "status": c.get("currentStatus"), "updated_at": epoch_to_iso(c.get("updatedAt")),
               "created_at": epoch_to_iso(c.get("createdAt")), "crm_id": c.get("crmId") or None}
        for value in c.get("fieldValues") or []:
            fid = str(value.get("id"))
            row[names.get(fid, f"field_{fid}")] = value.get("value")
        return row

    # ------------------------------------------------------------------ memberships

    def memberships(self, campaign_ids: list[str], since: datetime | None) -> pd.DataFrame:
        wanted = sorted({str(i) for i in campaign_ids if str(i).strip().isdigit()})
        if not wanted:
            return pd.DataFrame(columns=MEMBERSHIP_COLUMNS, dtype=object)
        merged: dict[tuple[str, str], dict] = {}
        for record_id, campaign_id, status, at, from_response in self._evidence(wanted, since):
            if not record_id or campaign_id not in wanted:
                continue
            moment = parse_bulk_time(at)
            entry = merged.setdefault((record_id, campaign_id), {"joined": moment, "status": None, "rank": -1,
                                                                  "response_at": None})
            if moment is not None and (entry["joined"] is None or moment < entry["joined"]):
                entry["joined"] = moment
            if from_response:
                if entry["response_at"] is None or (moment and moment >= entry["response_at"]):
                    entry["status"], entry["response_at"], entry["rank"] = status, moment, len(_RANK)
            elif _RANK.get(status, -1) > entry["rank"]:
                entry["status"], entry["rank"] = status, _RANK[status]
        rows = [{"record_id": r, "campaign_id": c, "status": e["status"],
                 "joined_at": e["joined"].isoformat(timespec="milliseconds") if e["joined"] else None}
                for (r, c), e in sorted(merged.items(), key=lambda kv: (kv[0][1], int(kv[0][0]) if kv[0][0].isdigit()
                                                                        else 0, kv[0][0]))]
        return pd.DataFrame(rows, columns=MEMBERSHIP_COLUMNS).astype(object)

    def _evidence(self, campaign_ids: list[str], since: datetime | None) -> Iterator[tuple]:
        """(record id, campaign id, status, created at text, from a campaign response?)"""
        lower = since - self.settings.look_back if since is not None else None
        fields = {"ContactId": "{{CampaignResponse.Contact.Id}}", "CampaignId": "{{CampaignResponse.Campaign.Id}}",
                  "Status": "{{CampaignResponse.Field(MemberStatus)}}", "CreatedAt": "{{CampaignResponse.CreatedAt}}"}
        date = since_clause("{{CampaignResponse.CreatedAt}}", lower)
        for ids_clause in chunked_any_of("{{CampaignResponse.Campaign.Id}}", campaign_ids, reserve=len(date or "") + 10):
            for page in self.bulk.export("campaignResponses", fields, _and(ids_clause, date),
                                         self.settings.export_page_size, "leadsync campaign responses"):
                for item in page:
                    yield item["ContactId"], item["CampaignId"], item["Status"] or "Responded", item["CreatedAt"], True
        for activity_type in self.settings.membership_activity_types:
            if activity_type not in ACTIVITY_STATUS:
                continue
            fields = {"ContactId": "{{Activity.Contact.Id}}", "CampaignId": "{{Activity.Campaign.Id}}",
                      "CreatedAt": "{{Activity.CreatedAt}}"}
            head = _and(any_of("{{Activity.Type}}", [activity_type]), since_clause("{{Activity.CreatedAt}}", lower))
            for ids_clause in chunked_any_of("{{Activity.Campaign.Id}}", campaign_ids, reserve=len(head or "") + 10):
                for page in self.bulk.export("activities", fields, _and(head, ids_clause),
                                             self.settings.export_page_size, f"leadsync {activity_type} by campaign"):
                    for item in page:
                        yield (item["ContactId"], item["CampaignId"], ACTIVITY_STATUS[activity_type],
                               item["CreatedAt"], False)


def _and(*clauses: str | None) -> str | None:
    parts = [c for c in clauses if c]
    if not parts:
        return None
    return " AND ".join(f"( {p} )" if " OR " in p else p for p in parts)

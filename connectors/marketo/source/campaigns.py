"""Marketo programs as leadsync's campaigns (Asset API), and their members (REST)."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pandas as pd

from leadsync.connectors.marketo.source.client import MarketoClient
from leadsync.connectors.marketo.source.records import iso_text, parse_time, text
from leadsync.connectors.source_api import CampaignSelection

CAMPAIGN_COLUMNS = ["campaign_id", "name", "description", "type", "channel", "status", "start_date", "end_date",
                    "created_at", "updated_at", "cost", "url", "folder", "workspace", "tags"]
MEMBERSHIP_COLUMNS = ["record_id", "campaign_id", "status", "joined_at", "reached_success", "updated_at"]
MAX_RETURN = 200  # programs per browse call (Marketo's maximum)
MAX_FILTER_VALUES = 300


def campaigns(client: MarketoClient, selection: CampaignSelection) -> pd.DataFrame:
    """The selected programs: by id (when ids are given), then by name pattern (a regular expression,
    searched) and by type (a program's type or channel, case-insensitive). Dates come from the program's
    period costs: start_date is the first period's start; end_date is left empty (Marketo keeps none)."""
    pattern = re.compile(selection.name_pattern) if selection.name_pattern else None
    types = {t.lower() for t in selection.types}
    rows = []
    for program in _browse(client, [str(i) for i in selection.ids]):
        if pattern is not None and not pattern.search(program.get("name") or ""):
            continue
        if types and not types & {str(program.get("type", "")).lower(), str(program.get("channel", "")).lower()}:
            continue
        rows.append(_campaign_row(program, _details(client, program["id"])))
    return pd.DataFrame(rows, columns=CAMPAIGN_COLUMNS, dtype=object)


def _browse(client: MarketoClient, ids: list[str]) -> list[dict]:
    if ids:
        found = []
        for start in range(0, len(ids), MAX_FILTER_VALUES):
            found += _browse_pages(client, {"filterType": "id", "filterValues": ",".join(
                ids[start:start + MAX_FILTER_VALUES])})
        return found
    return _browse_pages(client, {})


def _browse_pages(client: MarketoClient, params: dict) -> list[dict]:
    programs, offset = [], 0
    while True:
        body = client.get("/rest/asset/v1/programs.json", {**params, "maxReturn": MAX_RETURN, "offset": offset})
        page = body.get("result") or []  # no `result` at all once the programs are exhausted
        programs += page
        if len(page) < MAX_RETURN:
            return programs
        offset += MAX_RETURN


def _details(client: MarketoClient, program_id: int) -> dict:
    result = client.get(f"/rest/asset/v1/program/{program_id}.json").get("result") or [{}]
    return result[0]


def _campaign_row(program: dict, details: dict) -> list[str | None]:
    costs = details.get("costs") or []
    starts = sorted(str(c["startDate"]) for c in costs if c.get("startDate"))
    total = sum(float(c.get("cost") or 0) for c in costs)
    folder = program.get("folder") or {}
    return [text(program["id"]), program.get("name"), program.get("description") or None, program.get("type"),
            program.get("channel"), program.get("status") or None, starts[0] if starts else None, None,
            iso_text(program.get("createdAt")), iso_text(program.get("updatedAt")),
            text(total) if costs else None, program.get("url"), text(folder.get("folderName")),
            text(program.get("workspace")),
            json.dumps({t["tagType"]: t["tagValue"] for t in details.get("tags") or []}) if details else None]


def memberships(client: MarketoClient, campaign_ids: list[str], since: datetime | None) -> pd.DataFrame:
    """Members of the programs (Get Leads by Program Id), those whose membership changed at or after
    `since` when it is given."""
    rows = []
    for program_id in campaign_ids:
        for body in client.pages(f"/rest/v1/leads/programs/{int(program_id)}.json",
                                 {"fields": "id", "batchSize": 300}):
            for lead in body.get("result") or []:
                member = lead.get("membership") or {}
                updated = parse_time(member.get("updatedAt") or member.get("membershipDate"))
                if since is not None and (updated is None or updated < parse_time(since)):
                    continue
                rows.append([text(lead["id"]), str(program_id), member.get("progressionStatus"),
                             iso_text(member.get("membershipDate")), text(member.get("reachedSuccess")),
                             iso_text(member.get("updatedAt"))])
    return pd.DataFrame(rows, columns=MEMBERSHIP_COLUMNS, dtype=object)

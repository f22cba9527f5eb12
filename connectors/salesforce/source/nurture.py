"""Nurture enrolment in Salesforce: a CampaignMember of the nurture campaign for each enrolled Lead (or
Contact), with `member_status` as its Status; removal deletes that CampaignMember. The members present are read
first, so a lead already in the campaign is not inserted again (Salesforce would answer DUPLICATE_VALUE,
"Already a campaign member", which is counted as done too) and a lead that is not there has nothing to delete."""

from __future__ import annotations

from typing import Any

import pandas as pd

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.salesforce.source.client import SalesforceClient
from leadsync.connectors.salesforce.source.ingest import is_missing
from leadsync.connectors.salesforce.source.settings import SalesforceSettings
from leadsync.connectors.salesforce.source.soql import chunks, in_list, quote
from leadsync.connectors.source_api import RESULT_COLUMNS, NurtureTarget

ALREADY_MEMBER = "DUPLICATE_VALUE"


def change_campaign(client: SalesforceClient, settings: SalesforceSettings, target: NurtureTarget,
                    changes: pd.DataFrame) -> pd.DataFrame:
    if target.kind != "campaign":
        raise ApiConfigError(f"Salesforce nurture targets are campaigns, not {target.kind!r}: set nurture.target "
                             "to campaign")
    person = "LeadId" if settings.object == "Lead" else "ContactId"
    ids = ["" if is_missing(v) else str(v).strip() for v in changes["record_id"]]
    errors: dict[int, str] = {p: "no record_id to enrol" for p, i in enumerate(ids) if not i}
    members = _members(client, target.id, person, [i for i in ids if i])
    enrol = [p for p, a in enumerate(changes["action"]) if a == "enrol" and p not in errors
             and ids[p][:15] not in members]
    remove = [p for p, a in enumerate(changes["action"]) if a == "remove" and p not in errors
              and ids[p][:15] in members]
    for chunk in chunks(enrol, settings.collections_size):
        records = [{"attributes": {"type": "CampaignMember"}, "CampaignId": target.id, person: ids[p],
                    **({"Status": target.member_status} if target.member_status else {})} for p in chunk]
        answer = client.call("add leads to the nurture campaign", lambda sf, r=records: sf.restful(
            "composite/sobjects", method="POST", json={"allOrNone": False, "records": r})) or []
        _outcomes(chunk, answer, errors)
    for chunk in chunks(remove, settings.collections_size):
        member_ids = ",".join(members[ids[p][:15]] for p in chunk)
        answer = client.call("remove leads from the nurture campaign", lambda sf, m=member_ids: sf.restful(
            "composite/sobjects", method="DELETE", params={"ids": m, "allOrNone": "false"})) or []
        _outcomes(chunk, answer, errors)
    keys = list(changes["key"])
    return pd.DataFrame({"key": keys, "ok": [p not in errors for p in range(len(keys))],
                         "error": [errors.get(p) for p in range(len(keys))]}, columns=RESULT_COLUMNS)


def _members(client: SalesforceClient, campaign_id: str, person: str, ids: list[str]) -> dict[str, str]:
    """15-character person id → its CampaignMember id in the campaign."""
    found: dict[str, str] = {}
    for chunk in chunks(sorted(set(ids))):
        soql = (f"SELECT Id, {person} FROM CampaignMember WHERE CampaignId = {quote(campaign_id)} "
                f"AND {person} IN {in_list(chunk)}")
        for record in client.records(soql, "read the nurture campaign's members"):
            found[str(record[person])[:15]] = record["Id"]
    return found


def _outcomes(positions: list[int], answer: list[Any], errors: dict[int, str]) -> None:
    for i, position in enumerate(positions):
        result = answer[i] if i < len(answer) else None
        if result is None:
            errors[position] = "Salesforce returned no result for this record"
        elif not result.get("success"):
            problems = result.get("errors") or []
            if any(e.get("statusCode") == ALREADY_MEMBER for e in problems):
                continue  # enrolled meanwhile: the goal is reached
            errors[position] = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in problems) or \
                "failed without an error message"

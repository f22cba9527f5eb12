"""Nurture enrolment in Marketo: leads made members of a program with a status (Sync Program Member Status)
and removed from it (Delete Program Members), or added to / removed from a static list. Both are idempotent
in Marketo's own terms: a member synced again is `updated`; removing a non-member is `skipped` with 1004
(program) or 1015 (list), which here means done."""

from __future__ import annotations

import pandas as pd

from leadsync.connectors.api_client import ApiConfigError, ApiError
from leadsync.connectors.marketo.source.client import MarketoClient
from leadsync.connectors.marketo.source.errors import record_error
from leadsync.connectors.marketo.source.values import lead_id, results
from leadsync.connectors.source_api import NurtureTarget

BATCH = 300
DONE = {"created", "updated", "added", "removed", "deleted"}
NOT_A_MEMBER = {"1004", "1015"}  # removing a lead that is not there: already done


def change_membership(client: MarketoClient, target: NurtureTarget, changes: pd.DataFrame) -> pd.DataFrame:
    if target.kind not in ("program", "static_list"):
        raise ApiConfigError(f"Marketo nurture targets are a program or a static_list, not {target.kind!r}")
    if target.kind == "program" and not target.member_status:
        raise ApiConfigError("Marketo nurture into a program needs nurture.member_status (a status of the "
                             "program's channel, e.g. Member)")
    outcomes: list[tuple[bool, str | None]] = [(True, None)] * len(changes)
    for action in ("enrol", "remove"):
        positions, leads = [], []
        for position, (record_id, wanted) in enumerate(zip(changes["record_id"], changes["action"], strict=True)):
            if wanted != action:
                continue
            lead = lead_id(record_id)
            if lead is None:
                outcomes[position] = (False, f"1003: record_id {record_id!r} is not a Marketo lead id")
                continue
            positions.append(position)
            leads.append(lead)
        for start in range(0, len(leads), BATCH):
            chunk = leads[start:start + BATCH]
            answer = _call(client, target, action, chunk)
            if len(answer) != len(chunk):
                raise ApiError(f"Marketo {target.kind} {target.id}: {len(answer)} results for {len(chunk)} leads")
            for position, item in zip(positions[start:start + BATCH], answer, strict=True):
                codes = {str(r.get("code")) for r in item.get("reasons") or []}
                done = item.get("status") in DONE or (action == "remove" and codes & NOT_A_MEMBER)
                outcomes[position] = (True, None) if done else (False, record_error(item))
    return results(list(changes["key"]), outcomes)


def _call(client: MarketoClient, target: NurtureTarget, action: str, leads: list[int]) -> list[dict]:
    if target.kind == "program":
        base = f"/rest/v1/programs/{int(target.id)}/members"
        members = [{"leadId": lead} for lead in leads]
        if action == "enrol":
            return client.post(f"{base}/status.json", {"statusName": target.member_status, "input": members}
                               ).get("result") or []
        return client.post(f"{base}/delete.json", {"input": members}).get("result") or []
    path = f"/rest/v1/lists/{int(target.id)}/leads.json"
    body = {"input": [{"id": lead} for lead in leads]}
    return (client.post(path, body) if action == "enrol" else client.delete(path, body)).get("result") or []

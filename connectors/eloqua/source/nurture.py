"""Nurture enrolment in Eloqua: contacts added to / removed from a shared contact list (the list a nurture
program listens to) with one PUT of `assets/contact/list/{id}` carrying membershipAdditions and
membershipDeletions. Eloqua ignores an addition of a member and a deletion of a non-member, so the same
change sent twice is harmless."""

from __future__ import annotations

import pandas as pd

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.eloqua.source.client import EloquaClient
from leadsync.connectors.eloqua.source.timestamps import import_value
from leadsync.connectors.source_api import RESULT_COLUMNS, NurtureTarget

PER_CALL = 1000  # contact ids per PUT: keeps the body small


def change_list(client: EloquaClient, target: NurtureTarget, changes: pd.DataFrame) -> pd.DataFrame:
    if target.kind != "contact_list":
        raise ApiConfigError(f"Eloqua nurture targets are contact lists, not {target.kind!r}: set nurture.target "
                             "to contact_list")
    url = f"{client.endpoints.rest('1.0')}/assets/contact/list/{target.id}"
    found = client.request("GET", url, what=f"Eloqua contact list {target.id}", allow=(404,))
    if found.status_code == 404:
        raise ApiConfigError(f"Eloqua has no contact list {target.id}: set nurture.id to a shared contact list's id "
                             "(Audience > Shared Lists)")
    name = found.json().get("name")
    errors: dict[int, str] = {}
    ids = [import_value(v).strip() for v in changes["record_id"]]
    for position, record_id in enumerate(ids):
        if not record_id.isdigit():
            errors[position] = f"record_id {record_id!r} is not an Eloqua contact id"
    adds = [p for p, a in enumerate(changes["action"]) if a == "enrol" and p not in errors]
    removes = [p for p, a in enumerate(changes["action"]) if a == "remove" and p not in errors]
    for start in range(0, max(len(adds), len(removes)), PER_CALL):
        part_adds, part_removes = adds[start:start + PER_CALL], removes[start:start + PER_CALL]
        body = {"id": str(target.id), "name": name, "membershipAdditions": [ids[p] for p in part_adds],
                "membershipDeletions": [ids[p] for p in part_removes]}
        answer = client.request("PUT", url, what=f"Eloqua contact list {target.id} membership", allow=(400,),
                                json=body)
        if answer.status_code == 400:  # the list refused the call: every contact of it failed, with Eloqua's why
            why = f"Eloqua refused the list change: {answer.text[:300]}"
            errors.update({p: why for p in part_adds + part_removes})
    keys = list(changes["key"])
    return pd.DataFrame({"key": keys, "ok": [p not in errors for p in range(len(keys))],
                         "error": [errors.get(p) for p in range(len(keys))]}, columns=RESULT_COLUMNS)

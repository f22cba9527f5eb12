"""Programs (Marketo's campaigns) and their members: the Asset API's browse/get, Get Leads by Program Id
(`membership` per lead), Get Program Members (with program member custom fields) and its describe.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pyarrow as pa

from leadsync.connectors.marketo.sandbox.clock import SandboxClock, asset_iso, iso, naive_utc, parse_iso
from leadsync.connectors.marketo.sandbox.database import Database
from leadsync.connectors.marketo.sandbox.envelope import MarketoError
from leadsync.connectors.marketo.sandbox.fields import DEFAULT_LEAD_RESPONSE_FIELDS, FieldDef, FieldSet
from leadsync.connectors.marketo.sandbox.leads import (
    LeadStore,
    batch_size,
    decode_cursor,
    encode_cursor,
    filter_values,
)

NO_ASSETS = "No assets found for the given search criteria."
# Progression statuses per channel, the success status last.
CHANNEL_STATUSES = {
    "Webinar": ["Not in Program", "Invited", "Registered", "No Show", "Attended"],
    "Tradeshow": ["Not in Program", "Visited Booth", "Had Conversation"],
    "Email Blast": ["Not in Program", "Sent", "Opened", "Clicked"],
    "Online Advertising": ["Not in Program", "Clicked", "Converted"],
    "Content Syndication": ["Not in Program", "Downloaded", "Engaged"],
    "Nurture": ["Not in Program", "Member", "Engaged"],
}
STANDARD_MEMBER_FIELDS = [
    FieldDef("leadId", "Lead Id", "integer", updateable=False, searchable=True),
    FieldDef("programId", "Program Id", "integer", updateable=False),
    FieldDef("statusName", "Status Name", searchable=True),
    FieldDef("reachedSuccess", "Reached Success", "boolean", updateable=False),
    FieldDef("acquiredBy", "Acquired By", "boolean", updateable=False),
    FieldDef("membershipDate", "Membership Date", "datetime", updateable=False),
    FieldDef("updatedAt", "Updated At", "datetime", updateable=False, searchable=True),
]
DEFAULT_MEMBER_FIELDS = ["acquiredBy", "leadId", "membershipDate", "programId", "reachedSuccess"]


class Programs:
    def __init__(self, db: Database, clock: SandboxClock, leads: LeadStore, member_fields: list[FieldDef]):
        self.db = db
        self.clock = clock
        self.leads = leads
        custom = [FieldDef(x.name, x.display_name, x.data_type, x.length, x.updateable,
                           x.searchable or x.data_type in {"string", "integer"}) for x in member_fields]
        self.member_fields = FieldSet([*STANDARD_MEMBER_FIELDS, *custom])
        self.custom_member_fields = [x.name for x in custom]

    # ------------------------------------------------------------------ direct helpers (seeding, tests)

    def create(self, name: str, description: str = "", type: str = "Default", channel: str = "Webinar",
               status: str = "", folder: str = "Campaigns", tags: dict[str, str] | None = None,
               costs: list[dict] | None = None, created_at: datetime | None = None) -> int:
        """Add a program; returns its id."""
        program_id = int(self.db.scalar("SELECT coalesce(max(id), 1000) FROM programs")) + 1
        when = naive_utc(created_at or self.clock.now())
        self.db.execute("INSERT INTO programs VALUES (?, ?, ?, ?, ?, ?, 'Default', ?, ?, ?, ?, ?, ?)",
                        [program_id, name, description, type, channel, status, 100 + len(folder), folder,
                         when, when, json.dumps([{"tagType": k, "tagValue": v} for k, v in (tags or {}).items()]),
                         json.dumps(costs) if costs else None])
        return program_id

    def add_members(self, program_id: int, lead_ids: list[int], status: str | None = None,
                    custom: dict[str, Any] | None = None, when: datetime | None = None) -> None:
        statuses = CHANNEL_STATUSES.get(self._program(program_id)["channel"], ["Not in Program", "Member"])
        status = status or statuses[1]
        first = int(self.db.scalar("SELECT coalesce(max(id), 0) FROM program_members")) + 1
        at = naive_utc(when or self.clock.now())
        n = len(lead_ids)
        self.db.insert("program_members", pa.table({
            "id": list(range(first, first + n)), "programId": [program_id] * n, "leadId": list(lead_ids),
            "progressionStatus": [status] * n, "acquiredBy": [True] * n,
            "reachedSuccess": [status == statuses[-1]] * n, "membershipDate": [at] * n, "updatedAt": [at] * n,
            "custom": [json.dumps(custom) if custom else None] * n}))

    def sync_member_status(self, program_id: Any, status: Any, items: Any) -> list[dict[str, Any]]:
        """Sync Program Member Status (POST /rest/v1/programs/{id}/members/status.json): each lead becomes a
        member with `statusName` (created), or has its status set (updated); per-lead `skipped` reasons."""
        program = self._program(program_id)
        statuses = CHANNEL_STATUSES.get(program["channel"], ["Not in Program", "Member"])
        if status not in statuses[1:]:
            raise MarketoError("1003", f"Invalid statusName '{status}' for program {program['id']}; "
                                       f"the channel's statuses are {statuses[1:]}")
        results = []
        with self.db.lock:
            for seq, lead in enumerate(_lead_ids(items)):
                if lead is None or not self.leads.existing_ids({lead}):
                    results.append({"seq": seq, "status": "skipped",
                                    "reasons": [{"code": "1004", "message": "Lead not found"}]})
                    continue
                at = naive_utc(self.clock.now())
                found = self.db.scalar("SELECT count(*) FROM program_members WHERE programId = ? AND leadId = ?",
                                       [program["id"], lead])
                if found:
                    self.db.execute("UPDATE program_members SET progressionStatus = ?, reachedSuccess = ?, "
                                    "updatedAt = ? WHERE programId = ? AND leadId = ?",
                                    [status, status == statuses[-1], at, program["id"], lead])
                else:
                    self.add_members(program["id"], [lead], status, when=at)
                results.append({"seq": seq, "leadId": lead, "status": "updated" if found else "created"})
        return results

    def delete_members(self, program_id: Any, items: Any) -> list[dict[str, Any]]:
        """Delete Program Members (POST /rest/v1/programs/{id}/members/delete.json): `deleted`, or `skipped`
        (1004) for a lead that is no member."""
        program = self._program(program_id)
        results = []
        with self.db.lock:
            for seq, lead in enumerate(_lead_ids(items)):
                found = lead is not None and self.db.scalar(
                    "SELECT count(*) FROM program_members WHERE programId = ? AND leadId = ?", [program["id"], lead])
                if not found:
                    results.append({"seq": seq, "status": "skipped",
                                    "reasons": [{"code": "1004", "message": "Lead not a member of the program"}]})
                    continue
                self.db.execute("DELETE FROM program_members WHERE programId = ? AND leadId = ?", [program["id"], lead])
                results.append({"seq": seq, "leadId": lead, "status": "deleted"})
        return results

    def member_lead_ids(self, program_id: Any) -> list[int]:
        return [r["leadId"] for r in self.db.rows("SELECT leadId FROM program_members WHERE programId = ? ORDER BY id",
                                                  [int(program_id)])]

    # ------------------------------------------------------------------ Asset API

    def _program(self, program_id: Any) -> dict[str, Any]:
        rows = self.db.rows("SELECT * FROM programs WHERE id = ?", [_int(program_id, "programId")])
        if not rows:
            raise MarketoError("1013", f"Program '{program_id}' not found")
        return rows[0]

    @staticmethod
    def render(row: dict[str, Any], full: bool = False) -> dict[str, Any]:
        prefix = {"Engagement": "NP", "Email": "EBP"}.get(row["type"], "PG")
        out = {"id": row["id"], "name": row["name"], "description": row["description"] or "",
               "createdAt": asset_iso(row["createdAt"]), "updatedAt": asset_iso(row["updatedAt"]),
               "url": f"https://app-sj01.marketo.com/#{prefix}{row['id']}A1", "type": row["type"],
               "channel": row["channel"],
               "folder": {"type": "Folder", "value": row["folderId"], "folderName": row["folderName"]},
               "status": row["status"] or "", "workspace": row["workspace"]}
        if full:
            out["tags"] = json.loads(row["tags"] or "[]")
            out["costs"] = json.loads(row["costs"]) if row["costs"] else None
        out["headStart"] = False
        return out

    def browse(self, params: dict[str, str]) -> dict[str, Any]:
        """Get Programs: {result} or, when nothing matches, no result and the no-assets warning."""
        where, args, max_return, offset = asset_browse(params)
        if params.get("status"):
            where.append("status = ?")
            args.append(params["status"])
        if params.get("filterType"):
            column = {"id": "id", "programid": "id", "folderid": "folderId", "workspace": "workspace"}.get(
                params["filterType"].lower())
            if column is None:
                raise MarketoError("1003", f"Invalid filterType '{params['filterType']}'")
            values = filter_values(params.get("filterValues"), self.leads.limits)
            if column in ("id", "folderId"):
                values = [_int(v, "filterValues") for v in values]  # type: ignore[misc]
            where.append(f"{column} IN ({', '.join('?' * len(values))})")
            args += values
        rows = self.db.rows(f"SELECT * FROM programs WHERE {' AND '.join(where)} ORDER BY id LIMIT ? OFFSET ?",
                            [*args, max_return, offset])
        if not rows:
            return {"warnings": [NO_ASSETS]}
        return {"result": [self.render(row) for row in rows]}

    def get(self, program_id: Any = None, name: str | None = None) -> dict[str, Any]:
        rows = (self.db.rows("SELECT * FROM programs WHERE id = ?", [_int(program_id, "id")]) if name is None
                else self.db.rows("SELECT * FROM programs WHERE name = ?", [name]))
        return {"result": [self.render(rows[0], full=True)]} if rows else {"warnings": [NO_ASSETS]}

    # ------------------------------------------------------------------ membership (REST)

    def leads_of(self, program_id: Any, fields: str | None, size: Any, token: str | None) -> dict[str, Any]:
        """Get Leads by Program Id: leads with a `membership` object, paged by nextPageToken."""
        program = self._program(program_id)
        wanted = self.leads.schema.parse_list(fields, DEFAULT_LEAD_RESPONSE_FIELDS)
        page = batch_size(size, self.leads.limits)
        after = decode_cursor(f"program{program['id']}", token)
        with self.db.lock:
            members = self.db.rows("SELECT * FROM program_members WHERE programId = ? AND leadId > ? "
                                   "ORDER BY leadId LIMIT ?", [program["id"], after, page + 1])
            ids = [m["leadId"] for m in members[:page]]
            marks = ", ".join("?" * len(ids)) or "NULL"
            leads = {r["id"]: r for r in self.db.rows(f"SELECT * FROM leads WHERE id IN ({marks})", ids)}
        statuses = CHANNEL_STATUSES.get(program["channel"], [])
        result = []
        for member in members[:page]:
            if member["leadId"] not in leads:
                continue
            lead = self.leads.render(leads[member["leadId"]], wanted)
            lead["membership"] = {
                "progressionStatus": member["progressionStatus"],
                "progressionStatusType": member["progressionStatus"] if member["progressionStatus"] in statuses
                else None,
                "isExhausted": False, "acquiredBy": member["acquiredBy"], "reachedSuccess": member["reachedSuccess"],
                "membershipDate": iso(member["membershipDate"]), "updatedAt": iso(member["updatedAt"])}
            result.append(lead)
        out: dict[str, Any] = {"result": result}
        if len(members) > page:
            out["nextPageToken"] = encode_cursor(f"program{program['id']}", members[page - 1]["leadId"])
        return out

    def members(self, program_id: Any, params: dict[str, str]) -> dict[str, Any]:
        """Get Program Members: filterType/filterValues (or updatedAt with startAt/endAt), fields, paging."""
        program = self._program(program_id)
        wanted = self.member_fields.parse_list(params.get("fields"), DEFAULT_MEMBER_FIELDS)
        page = batch_size(params.get("batchSize"), self.leads.limits)
        after = decode_cursor(f"members{program['id']}", params.get("nextPageToken"))
        field = self.member_fields.get(params.get("filterType") or "")
        if field is None or not field.searchable:
            raise MarketoError("1003", f"Invalid filterType '{params.get('filterType')}'")
        rows = [self._member(r, program["id"]) for r in self.db.rows(
            "SELECT * FROM program_members WHERE programId = ? AND id > ? ORDER BY id", [program["id"], after])]
        if field.name == "updatedAt":
            start, end = _when(params.get("startAt"), "startAt"), _when(params.get("endAt"), "endAt")
            rows = [r for r in rows if start <= naive_utc(parse_iso(r["updatedAt"])) <= end]
        else:
            wanted_values = {str(field.coerce(v)).lower() for v in filter_values(params.get("filterValues"),
                                                                                 self.leads.limits)}
            rows = [r for r in rows if str(r.get(field.name)).lower() in wanted_values]
        result = [{"seq": i, **{x.name: r[x.name] for x in wanted if r.get(x.name) is not None}}
                  for i, r in enumerate(rows[:page])]
        out: dict[str, Any] = {"result": result, "moreResult": len(rows) > page}
        if len(rows) > page:
            out["nextPageToken"] = encode_cursor(f"members{program['id']}", rows[page - 1]["_id"])
        return out

    def _member(self, row: dict[str, Any], program_id: int) -> dict[str, Any]:
        custom = json.loads(row["custom"] or "{}")
        return {"_id": row["id"], "leadId": row["leadId"], "programId": program_id,
                "statusName": row["progressionStatus"], "reachedSuccess": row["reachedSuccess"],
                "acquiredBy": row["acquiredBy"], "membershipDate": iso(row["membershipDate"]),
                "updatedAt": iso(row["updatedAt"]), **{k: custom.get(k) for k in self.custom_member_fields}}

    def describe_members(self) -> list[dict[str, Any]]:
        return [{"name": "Program Member", "description": "Map for Program Member attributes",
                 "dedupeFields": ["leadId", "programId"],
                 "searchableFields": [[x.name] for x in self.member_fields.fields if x.searchable],
                 "fields": [{"name": x.name, "displayName": x.display_name, "dataType": x.data_type,
                             **({"length": x.length} if x.length else {}), "updateable": x.updateable}
                            for x in self.member_fields.fields]}]

    def memberships_of(self, lead_id: Any) -> list[dict[str, Any]]:
        rows = self.db.rows("SELECT * FROM program_members WHERE leadId = ? ORDER BY programId",
                            [_int(lead_id, "id")])
        return [{"id": r["programId"], "progressionStatus": r["progressionStatus"], "isExhausted": False,
                 "acquiredBy": r["acquiredBy"], "reachedSuccess": r["reachedSuccess"],
                 "membershipDate": iso(r["membershipDate"]), "updatedAt": iso(r["updatedAt"])} for r in rows]


def asset_browse(params: dict[str, str]) -> tuple[list[str], list[Any], int, int]:
    """The Asset API's browse parameters every asset shares: `maxReturn` (1..200, default 20), `offset`, and
    the `earliestUpdatedAt`/`latestUpdatedAt` watermarks; returns SQL conditions, their arguments, maxReturn
    and offset."""
    max_return = _int(params.get("maxReturn") or 20, "maxReturn")
    offset = _int(params.get("offset") or 0, "offset")
    if not 1 <= max_return <= 200 or offset < 0:
        raise MarketoError("1003", "maxReturn must be between 1 and 200")
    where, args = ["TRUE"], []
    for name, op in (("earliestUpdatedAt", ">="), ("latestUpdatedAt", "<=")):
        if params.get(name):
            where.append(f"updatedAt {op} ?")
            args.append(_when(params[name], name))
    return where, args, max_return, offset


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise MarketoError("1003", f"Invalid {name} '{value}'") from None


def _when(value: Any, name: str) -> datetime:
    try:
        return naive_utc(parse_iso(value))
    except (TypeError, ValueError):
        raise MarketoError("1003", f"Invalid {name} '{value}'") from None


def _lead_ids(items: Any) -> list[int | None]:
    if not isinstance(items, list) or not items:
        raise MarketoError("701", "input cannot be blank")
    if len(items) > 300:
        raise MarketoError("1003", "At most 300 leads per call")
    out: list[int | None] = []
    for item in items:
        raw = item.get("leadId") if isinstance(item, dict) else None
        out.append(int(raw) if str(raw).isdigit() else None)
    return out

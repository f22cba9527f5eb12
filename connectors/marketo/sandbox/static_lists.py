"""Static lists: Get Lists, Get List by Id, Get Leads by List Id (paged), Add to / Remove from List and
Member of List, as marketorestpython calls them (`get_multiple_lists`, `get_multiple_leads_by_list_id`,
`add_leads_to_list`, `remove_leads_from_list`, `member_of_list`); and the Asset API's Get Static Lists
(browse: `folder`, `offset`/`maxReturn`, `earliestUpdatedAt`/`latestUpdatedAt`), Get Static List by Id and
by Name (`browse_lists`, `get_list_by_id`, `get_list_by_name`), answered like the other assets: nothing
found is a success with the "No assets found" warning and no `result`.

A list unknown to the instance is 1013 "Static list not found"; per-lead results are `added` / `removed` /
`memberof` / `notmemberof`, or `skipped` with 1004 (no such lead) or 1015 (not in the list).
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from leadsync.connectors.marketo.sandbox.clock import SandboxClock, asset_iso, iso, naive_utc
from leadsync.connectors.marketo.sandbox.database import Database
from leadsync.connectors.marketo.sandbox.envelope import MarketoError
from leadsync.connectors.marketo.sandbox.fields import DEFAULT_LEAD_RESPONSE_FIELDS
from leadsync.connectors.marketo.sandbox.leads import LeadStore, batch_size, decode_cursor, encode_cursor
from leadsync.connectors.marketo.sandbox.programs import NO_ASSETS, asset_browse

MAX_LEADS_PER_CALL = 300
# The folder that holds lists made outside any program (Database > Group Lists in the Marketo UI).
GROUP_LISTS_FOLDER = {"id": 12, "type": "Folder"}


class StaticLists:
    def __init__(self, db: Database, clock: SandboxClock, leads: LeadStore):
        self.db, self.clock, self.leads = db, clock, leads

    # ------------------------------------------------------------------ direct helpers (seeding, tests)

    def create(self, name: str, lead_ids: list[int] = (), description: str = "",
               program_name: str | None = None) -> int:
        """Add a list (with members); returns its id."""
        now = naive_utc(self.clock.now())
        with self.db.lock:
            list_id = int(self.db.scalar("SELECT coalesce(max(id), 1000) FROM static_lists")) + 1
            self.db.execute("INSERT INTO static_lists VALUES (?, ?, ?, ?, 'Default', ?, ?)",
                            [list_id, name, description, program_name, now, now])
            self._add(list_id, list(lead_ids))
        return list_id

    def _add(self, list_id: int, lead_ids: list[int]) -> None:
        """Members not in the list yet, added in one statement (a seeded list holds thousands)."""
        if not lead_ids:
            return
        ids = pa.array(sorted(set(lead_ids)), pa.int64())
        incoming = pa.table({"listId": pa.repeat(pa.scalar(list_id, pa.int64()), len(ids)), "leadId": ids})
        with self.db.lock:
            self.db.con.register("_members", incoming)
            try:
                self.db.execute("INSERT INTO static_list_members SELECT m.listId, m.leadId FROM _members m WHERE NOT "
                                "EXISTS (SELECT 1 FROM static_list_members s WHERE s.listId = m.listId AND "
                                "s.leadId = m.leadId)")
            finally:
                self.db.con.unregister("_members")

    # ------------------------------------------------------------------ REST

    def lists(self, params: dict[str, str]) -> dict[str, Any]:
        where, args = ["TRUE"], []
        for key, column, cast in (("id", "id", int), ("name", "name", str), ("programName", "programName", str),
                                  ("workspaceName", "workspaceName", str)):
            if params.get(key):
                try:
                    values = [cast(v.strip()) for v in str(params[key]).split(",") if v.strip()]
                except ValueError:
                    raise MarketoError("1003", f"Invalid {key} '{params[key]}'") from None
                where.append(f"{column} IN ({', '.join('?' * len(values))})")
                args += values
        page = batch_size(params.get("batchSize"), self.leads.limits)
        after = decode_cursor("lists", params.get("nextPageToken"))
        rows = self.db.rows(f"SELECT * FROM static_lists WHERE {' AND '.join(where)} AND id > ? ORDER BY id "
                            "LIMIT ?", [*args, after, page + 1])
        out: dict[str, Any] = {"result": [self._render(r) for r in rows[:page]]}
        if len(rows) > page:
            out["nextPageToken"] = encode_cursor("lists", rows[page - 1]["id"])
        return out

    def get(self, list_id: Any) -> dict[str, Any]:
        return {"result": [self._render(self._list(list_id))]}

    def leads_of(self, list_id: Any, fields: str | None, size: Any, token: str | None) -> dict[str, Any]:
        found = self._list(list_id)
        wanted = self.leads.schema.parse_list(fields, DEFAULT_LEAD_RESPONSE_FIELDS)
        page = batch_size(size, self.leads.limits)
        after = decode_cursor(f"list{found['id']}", token)
        rows = self.db.rows("SELECT l.* FROM static_list_members m JOIN leads l ON l.id = m.leadId "
                            "WHERE m.listId = ? AND l.id > ? ORDER BY l.id LIMIT ?", [found["id"], after, page + 1])
        out: dict[str, Any] = {"result": [self.leads.render(r, wanted) for r in rows[:page]]}
        if len(rows) > page:
            out["nextPageToken"] = encode_cursor(f"list{found['id']}", rows[page - 1]["id"])
        return out

    def change(self, list_id: Any, lead_ids: list[Any], action: str) -> dict[str, Any]:
        """action: add | remove | check (Member of List)."""
        found = self._list(list_id)
        if not lead_ids:
            raise MarketoError("701", "id cannot be blank")
        if len(lead_ids) > MAX_LEADS_PER_CALL:
            raise MarketoError("1003", f"At most {MAX_LEADS_PER_CALL} leads per call")
        results = []
        with self.db.lock:
            members = {r["leadId"] for r in self.db.rows("SELECT leadId FROM static_list_members WHERE listId = ?",
                                                         [found["id"]])}
            known = self.leads.existing_ids({int(i) for i in lead_ids if str(i).isdigit()})
            for raw in lead_ids:
                lead_id = int(raw) if str(raw).isdigit() else raw
                if lead_id not in known:
                    results.append({"id": lead_id, "status": "skipped",
                                    "reasons": [{"code": "1004", "message": "Lead not found"}]})
                elif action == "check":
                    results.append({"id": lead_id, "status": "memberof" if lead_id in members else "notmemberof"})
                elif action == "remove" and lead_id not in members:
                    results.append({"id": lead_id, "status": "skipped",
                                    "reasons": [{"code": "1015", "message": "Lead not in list"}]})
                elif action == "remove":
                    self.db.execute("DELETE FROM static_list_members WHERE listId = ? AND leadId = ?",
                                    [found["id"], lead_id])
                    results.append({"id": lead_id, "status": "removed"})
                else:
                    self._add(found["id"], [lead_id])
                    results.append({"id": lead_id, "status": "added"})
            if action != "check":
                self.db.execute("UPDATE static_lists SET updatedAt = ? WHERE id = ?",
                                [naive_utc(self.clock.now()), found["id"]])
        return {"result": results}

    # ------------------------------------------------------------------ Asset API

    def browse(self, params: dict[str, str]) -> dict[str, Any]:
        """Get Static Lists: in a `folder` ({"id","type"} JSON), paged by offset/maxReturn."""
        where, args, max_return, offset = asset_browse(params)
        rows = self.db.rows(f"SELECT * FROM static_lists WHERE {' AND '.join(where)} ORDER BY id", args)
        if params.get("folder"):
            try:
                folder = json.loads(params["folder"])
                wanted = (int(folder["id"]), str(folder.get("type") or "Folder"))
            except (ValueError, TypeError, KeyError):
                raise MarketoError("1003", f"Invalid folder '{params['folder']}'") from None
            rows = [r for r in rows if self._folder(r) == {"id": wanted[0], "type": wanted[1]}]
        rows = rows[offset:offset + max_return]
        return {"result": [self._asset(r) for r in rows]} if rows else {"warnings": [NO_ASSETS]}

    def asset(self, list_id: Any = None, name: str | None = None) -> dict[str, Any]:
        """Get Static List by Id (path) or by Name (exact match)."""
        if name is None:
            try:
                rows = self.db.rows("SELECT * FROM static_lists WHERE id = ?", [int(list_id)])
            except (TypeError, ValueError):
                raise MarketoError("1003", f"Invalid id '{list_id}'") from None
        else:
            rows = self.db.rows("SELECT * FROM static_lists WHERE name = ?", [name])
        return {"result": [self._asset(rows[0])]} if rows else {"warnings": [NO_ASSETS]}

    def _folder(self, row: dict[str, Any]) -> dict[str, Any]:
        """A list made in a program sits in that program; any other in the Group Lists folder."""
        if row["programName"]:
            program = self.db.rows("SELECT id FROM programs WHERE name = ?", [row["programName"]])
            if program:
                return {"id": program[0]["id"], "type": "Program"}
        return dict(GROUP_LISTS_FOLDER)

    def _asset(self, row: dict[str, Any]) -> dict[str, Any]:
        out = {"id": row["id"], "name": row["name"], "description": row["description"] or None,
               "createdAt": asset_iso(row["createdAt"]), "updatedAt": asset_iso(row["updatedAt"]),
               "folder": self._folder(row), "computedUrl": f"https://app-sj01.marketo.com/#ST{row['id']}A1"}
        return {k: v for k, v in out.items() if v is not None}

    def member_ids(self, list_id: Any) -> list[int]:
        """The lead ids of a list (Get Lead Activities' `listId`)."""
        found = self._list(list_id)
        return [r["leadId"] for r in self.db.rows("SELECT leadId FROM static_list_members WHERE listId = ? "
                                                   "ORDER BY leadId", [found["id"]])]

    def _list(self, list_id: Any) -> dict[str, Any]:
        try:
            rows = self.db.rows("SELECT * FROM static_lists WHERE id = ?", [int(list_id)])
        except (TypeError, ValueError):
            rows = []
        if not rows:
            raise MarketoError("1013", f"Static list '{list_id}' not found")
        return rows[0]

    @staticmethod
    def _render(row: dict[str, Any]) -> dict[str, Any]:
        out = {"id": row["id"], "name": row["name"], "description": row["description"],
               "programName": row["programName"], "workspaceName": row["workspaceName"],
               "createdAt": iso(row["createdAt"]), "updatedAt": iso(row["updatedAt"])}
        return {k: v for k, v in out.items() if v not in (None, "")}

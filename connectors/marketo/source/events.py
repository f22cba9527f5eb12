"""Partner marketing events as custom activities (Add Custom Activities) of the configured type.

Marketo has no upsert for custom activities: a second add is a second activity. So before adding, the
activities of this type already on the leads are read back and an event that is there is reported ok
without being sent again. An event is recognised by `event_key_attribute` (our key) when the type has such
an attribute, otherwise by (lead, activity date, primary value, partner). Guarantee: a retry does not
duplicate an event as long as writers of the same events do not run concurrently."""

from __future__ import annotations

from typing import Any

import pandas as pd

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.marketo.source.changes import paging_token
from leadsync.connectors.marketo.source.client import MarketoClient
from leadsync.connectors.marketo.source.records import iso, parse_time
from leadsync.connectors.marketo.source.values import MISSING, json_value, lead_id, results
from leadsync.connectors.marketo.source.writes import OK, Outcome, sync

MAX_LEADS_PER_READ = 30  # Get Lead Activities takes at most 30 lead ids


class EventWriter:
    def __init__(self, client: MarketoClient):
        self.client = client
        self.settings = client.settings
        self._type: dict[str, Any] | None = None

    def activity_type(self) -> dict[str, Any]:
        """The custom activity type's description (id, primaryAttribute, attributes), looked up once."""
        if self._type is None:
            wanted = str(self.settings.custom_activity_type)
            listed = self.client.get("/rest/v1/activities/external/types.json").get("result") or []
            found = next((t for t in listed if wanted in (t.get("apiName"), str(t.get("id")))), None)
            if found is None:
                names = ", ".join(str(t.get("apiName")) for t in listed) or "none"
                raise ApiConfigError(f"Marketo at {self.settings.base_url} has no custom activity type {wanted!r} "
                                     f"(it has: {names}); set custom_activity_type or create and approve the "
                                     f"type in Marketo Admin > Marketo Custom Activities")
            (described,) = self.client.get(
                f"/rest/v1/activities/external/type/{found['apiName']}/describe.json")["result"]
            have = {a["apiName"] for a in described.get("attributes") or []}
            needed = [*self.settings.event_attributes.values(), *filter(None, [self.settings.event_key_attribute])]
            missing = [name for name in needed if name not in have]
            if missing:
                raise ApiConfigError(f"Marketo custom activity type {found['apiName']!r} has no attribute "
                                     f"{', '.join(map(repr, missing))} (it has: {', '.join(sorted(have))}); "
                                     f"check event_attributes / event_key_attribute")
            self._type = described
        return self._type

    def write(self, events: pd.DataFrame) -> pd.DataFrame:
        kind = self.activity_type()
        rows = [dict(zip(events.columns, r, strict=True)) for r in events.itertuples(index=False)]
        outcomes: list[Outcome | None] = [None] * len(rows)
        items: dict[int, dict] = {}
        for position, row in enumerate(rows):
            item = self._item(row, kind["id"])
            if isinstance(item, str):
                outcomes[position] = (False, item)
            else:
                items[position] = item
        first_of: dict[tuple, int] = {}  # an event twice in one call is sent once
        for position, item in items.items():
            first_of.setdefault(self._identity(item), position)
        present = self._present(list(items.values()), kind)
        to_send = [p for identity, p in first_of.items() if identity not in present]
        sent = dict(zip(to_send, sync(self.client, "/rest/v1/activities/external.json", {},
                                      [items[p] for p in to_send]), strict=True))
        for position, item in items.items():
            identity = self._identity(item)
            outcomes[position] = OK if identity in present else sent[first_of[identity]]
        return results([row.get("key") for row in rows], outcomes)  # type: ignore[arg-type]

    def _item(self, row: dict[str, Any], type_id: int) -> dict | str:
        """The custom activity for an EVENT_COLUMNS row, or the reason it cannot be sent."""
        lead = lead_id(row.get("record_id"))
        if lead is None:
            return f"1003: record_id {row.get('record_id')!r} is not a Marketo lead id"
        raw = json_value(row.get("occurred_at"))
        try:
            when = None if raw is MISSING else parse_time(raw)
        except (TypeError, ValueError):
            when = None
        if when is None:
            return f"1003: occurred_at {row.get('occurred_at')!r} is not a date and time"
        primary = next((v for v in (json_value(row.get("description")), json_value(row.get("event_type")))
                        if v is not MISSING and str(v).strip()), None)
        if primary is None:
            return "1003: an event needs a description or an event_type"
        values = {column: json_value(row.get(column)) for column in self.settings.event_attributes}
        values["occurred_at"] = iso(when)
        attributes = [{"apiName": self.settings.event_attributes[c], "value": v} for c, v in values.items()
                      if v is not MISSING]
        if self.settings.event_key_attribute and json_value(row.get("key")) is not MISSING:
            attributes.append({"apiName": self.settings.event_key_attribute, "value": str(row.get("key"))})
        return {"leadId": lead, "activityDate": iso(when), "activityTypeId": type_id,
                "primaryAttributeValue": str(primary), "attributes": attributes}

    def _identity(self, item: dict) -> tuple:
        attributes = {a["apiName"]: a.get("value") for a in item.get("attributes") or []}
        if self.settings.event_key_attribute:
            return ("key", str(attributes.get(self.settings.event_key_attribute)))
        partner = attributes.get(self.settings.event_attributes.get("partner", ""))
        return (int(item["leadId"]), item["activityDate"], str(item["primaryAttributeValue"]),
                None if partner is None else str(partner))

    def _present(self, items: list[dict], kind: dict) -> set[tuple]:
        """Identities of these events that Marketo already holds."""
        if not items:
            return set()
        api_names = {a["name"]: a["apiName"] for a in kind.get("attributes") or []}
        leads = sorted({item["leadId"] for item in items})
        since = min(parse_time(item["activityDate"]) for item in items)
        found: set[tuple] = set()
        for start in range(0, len(leads), MAX_LEADS_PER_READ):
            chunk = ",".join(map(str, leads[start:start + MAX_LEADS_PER_READ]))
            params = {"nextPageToken": paging_token(self.client, since), "activityTypeIds": str(kind["id"]),
                      "leadIds": chunk, "batchSize": 300}
            for body in self.client.pages("/rest/v1/activities.json", params):
                for activity in body.get("result") or []:
                    attributes = [{"apiName": api_names.get(a.get("name"), a.get("name")), "value": a.get("value")}
                                  for a in activity.get("attributes") or []]
                    found.add(self._identity({**activity, "attributes": attributes}))
        return found

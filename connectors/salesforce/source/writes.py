"""leadsync's three writes, as rows for `RecordWriter` (ingest.py):

- write_records: updates of the source's own records by Id (key, record_id, one column per field).
- write_opportunities: Opportunity (or a configured object) upserted by its external id field, with Name,
  StageName, Amount, CloseDate, the partner, the lead (LeadSync_Lead__c; ContactId for Contacts) and, when
  the lead is converted (or the contact has one), its account.
- write_events: partner marketing events as Tasks (or a configured object) upserted by LeadSync_Event_Id__c
  = the event's key: WhoId = record_id, Subject, ActivityDate, Description, Status Completed.

Fields are checked against describe first (an unknown field fails the whole write with ApiConfigError,
since every record would fail); per-record failures come back as results.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.salesforce.source.client import SalesforceClient
from leadsync.connectors.salesforce.source.describe import ObjectDescription
from leadsync.connectors.salesforce.source.ingest import RecordWriter, WriteRow, field_value, is_missing
from leadsync.connectors.salesforce.source.settings import SalesforceSettings
from leadsync.connectors.salesforce.source.soql import chunks, in_list
from leadsync.connectors.source_api import EVENT_COLUMNS, OPPORTUNITY_COLUMNS, RESULT_COLUMNS

_RECORD_COLUMNS = ("key", "record_id")


def _missing_columns(frame: pd.DataFrame, needed: Iterable[str], what: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {missing}")


def _empty_result() -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in RESULT_COLUMNS}, columns=RESULT_COLUMNS)


def writable(described: ObjectDescription, names: Iterable[str],
              upsert_key: str | None = None) -> dict[str, str]:
    """{name: describe's spelling} of fields this write sets; ApiConfigError for unknown or read-only ones."""
    canonical = described.require(names)
    for spelled in canonical.values():
        entry = described.field(spelled) or {}
        if spelled != upsert_key and not (entry.get("updateable") or entry.get("createable")):
            raise ApiConfigError(f"{described.name}.{spelled} cannot be written (describe: not updateable)")
    return canonical


class Writes:
    def __init__(self, client: SalesforceClient, settings: SalesforceSettings):
        self.client, self.settings = client, settings
        self.writer = RecordWriter(client, settings)

    def records(self, updates: pd.DataFrame) -> pd.DataFrame:
        obj = self.settings.object
        _missing_columns(updates, _RECORD_COLUMNS, "write_records")
        if updates.empty:
            return _empty_result()
        described = self.client.describe(obj)
        fields = writable(described, [c for c in updates.columns if c not in _RECORD_COLUMNS])
        rows = []
        for record in updates.to_dict("records"):
            record_id = record["record_id"]
            if is_missing(record_id) or not str(record_id).strip():
                rows.append(WriteRow(str(record["key"]), error="no record_id to update"))
                continue
            values: dict[str, Any] = {"Id": str(record_id).strip()}
            for name, spelled in fields.items():
                if not is_missing(record[name]):
                    values[spelled] = field_value(record[name], described.type_of(spelled))
            rows.append(WriteRow(str(record["key"]), values))
        return self.writer.write(obj, rows, "Id", upsert=False)

    def opportunities(self, opportunities: pd.DataFrame) -> pd.DataFrame:
        settings = self.settings
        _missing_columns(opportunities, OPPORTUNITY_COLUMNS, "write_opportunities")
        if opportunities.empty:
            return _empty_result()
        obj, external = settings.opportunity_object, settings.opportunity_external_id_field
        described = self.client.describe(obj)
        mapping = {**settings.opportunity_fields, "record_id": settings.opportunity_record_target}
        fields = writable(described, [external, *mapping.values()], upsert_key=external)
        account_field = settings.opportunity_account_field
        if account_field and described.canonical(account_field) is None:
            account_field = None  # e.g. a custom object without an account lookup
        accounts = self._accounts(opportunities["record_id"]) if account_field else {}
        rows = []
        for record in opportunities.to_dict("records"):
            key = str(record["key"])
            if is_missing(record["external_id"]) or not str(record["external_id"]).strip():
                rows.append(WriteRow(key, error="no external_id to upsert by"))
                continue
            values: dict[str, Any] = {fields[external]: str(record["external_id"]).strip()}
            for column, target in mapping.items():
                if not is_missing(record.get(column)):
                    values[fields[target]] = field_value(record[column], described.type_of(fields[target]))
            record_id = record["record_id"]
            account = None if is_missing(record_id) else accounts.get(str(record_id)[:15])
            if account_field and account:
                values[described.canonical(account_field)] = account
            rows.append(WriteRow(key, values))
        return self.writer.write(obj, rows, fields[external], upsert=True)

    def events(self, events: pd.DataFrame) -> pd.DataFrame:
        settings = self.settings
        _missing_columns(events, EVENT_COLUMNS, "write_events")
        if events.empty:
            return _empty_result()
        obj, external = settings.event_object, settings.event_external_id_field
        described = self.client.describe(obj)
        mapping = dict(settings.event_fields)
        fields = writable(described, [external, *mapping.values(), *settings.event_values],
                           upsert_key=external)
        constants = {fields[name]: field_value(value, described.type_of(fields[name]))
                     for name, value in settings.event_values.items()}
        rows = []
        for record in events.to_dict("records"):
            key = str(record["key"])
            if is_missing(record["record_id"]):
                rows.append(WriteRow(key, error="no record_id for the event"))
                continue
            source = {"record_id": record["record_id"], "subject": _subject(record, described, fields.get(
                mapping.get("subject", ""))), "occurred_at": record["occurred_at"],
                "description": record["description"]}
            values: dict[str, Any] = {fields[external]: key, **constants}
            for column, target in mapping.items():
                if not is_missing(source.get(column)):
                    values[fields[target]] = field_value(source[column], described.type_of(fields[target]))
            rows.append(WriteRow(key, values))
        return self.writer.write(obj, rows, fields[external], upsert=True)

    def _accounts(self, record_ids: pd.Series) -> dict[str, str]:
        """15-character record id → its account: a converted lead's ConvertedAccountId, a contact's
        AccountId."""
        ids = sorted({str(i).strip() for i in record_ids
                      if not is_missing(i) and _looks_like_id(str(i).strip())})
        if self.settings.object == "Lead":
            select, account = "SELECT Id, ConvertedAccountId FROM Lead WHERE IsConverted = true AND Id IN ", \
                "ConvertedAccountId"
        else:
            select = "SELECT Id, AccountId FROM Contact WHERE AccountId != null AND Id IN "
            account = "AccountId"
        found: dict[str, str] = {}
        for chunk in chunks(ids):
            what = f"read the accounts of {self.settings.object}s"
            for record in self.client.records(select + in_list(chunk), what):
                if record.get(account):
                    found[record["Id"][:15]] = record[account]
        return found


def _looks_like_id(value: str) -> bool:
    return len(value) in (15, 18) and value.isascii() and value.isalnum()


def _subject(record: Mapping[str, Any], described: ObjectDescription, field: str | None) -> str:
    subject = f"LeadSync: {record['event_type']}"
    if not is_missing(record.get("partner")) and str(record["partner"]).strip():
        subject += f" ({record['partner']})"
    entry = described.field(field) if field else None
    length = int(entry.get("length") or 0) if entry else 0
    return subject[:length] if length else subject

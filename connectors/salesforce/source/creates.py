"""Records leadsync creates in the org (a partner's registration, a lead entered by hand): upserted by the
lead key field (`settings.lead_key_field`, an External ID marked Unique), so sending the same key again, after
a lost answer or a crash, finds the record made the first time instead of making a second one. The created
(or found) record's Id comes back with each result, read by the key after the write."""

from __future__ import annotations

from typing import Any

import pandas as pd

from leadsync.connectors.salesforce.source.client import SalesforceClient
from leadsync.connectors.salesforce.source.ingest import RecordWriter, WriteRow, field_value, is_missing
from leadsync.connectors.salesforce.source.settings import SalesforceSettings
from leadsync.connectors.salesforce.source.soql import chunks, in_list
from leadsync.connectors.salesforce.source.writes import writable
from leadsync.connectors.source_api import CREATE_RESULT_COLUMNS


def create_records(client: SalesforceClient, settings: SalesforceSettings, records: pd.DataFrame) -> pd.DataFrame:
    """`records`: `key` (the idempotency key, stored in the lead key field) and one column per field to set.
    Returns CREATE_RESULT_COLUMNS in the rows' order; a field describe lacks raises ApiConfigError."""
    if "key" not in records.columns:
        raise ValueError("create_records: missing column 'key'")
    if records.empty:
        return pd.DataFrame({c: [] for c in CREATE_RESULT_COLUMNS}, columns=CREATE_RESULT_COLUMNS)
    obj, key_field = settings.object, settings.lead_key_field
    described = client.describe(obj)
    columns = [c for c in records.columns if c != "key"]
    fields = writable(described, [key_field, *columns], upsert_key=key_field)
    rows = []
    for record in records.to_dict("records"):
        key = str(record["key"]).strip()
        if is_missing(record["key"]) or not key:
            rows.append(WriteRow(str(record["key"]), error="no key to create the record by"))
            continue
        values: dict[str, Any] = {fields[key_field]: key}
        for name in columns:
            if not is_missing(record[name]):
                values[fields[name]] = field_value(record[name], described.type_of(fields[name]))
        rows.append(WriteRow(key, values))
    results = RecordWriter(client, settings).write(obj, rows, fields[key_field], upsert=True)
    ids = _ids_by_key(client, obj, fields[key_field], [r.key for r in rows if not r.error])
    results["record_id"] = [ids.get(str(k)) if ok else None for k, ok in zip(results["key"], results["ok"],
                                                                             strict=True)]
    missing = results["ok"] & results["record_id"].isna()
    results.loc[missing, "ok"] = False
    results.loc[missing, "error"] = f"written, but no {obj} holds this {fields[key_field]} when read back"
    return results[CREATE_RESULT_COLUMNS]


def _ids_by_key(client: SalesforceClient, obj: str, key_field: str, keys: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in chunks(sorted(set(keys))):
        soql = f"SELECT Id, {key_field} FROM {obj} WHERE {key_field} IN {in_list(chunk)}"
        for record in client.records(soql, f"read back the {obj}s leadsync created"):
            found[str(record[key_field])] = record["Id"]
    return found

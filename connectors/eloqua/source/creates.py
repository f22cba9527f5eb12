"""Contacts leadsync creates in Eloqua (a partner's registration, a lead entered by hand): one Bulk contact
import keyed by the email address, which is what makes an Eloqua contact unique, carrying leadsync's key in
the lead key field (`settings.lead_key_field`). Importing the same rows again, after a lost answer or a crash,
updates the contact the first import made (Eloqua never holds two contacts with one address), so a retry is
never a second contact. An address Eloqua already knows is that contact: it gets the key and the fields.
Each contact's id is then read by the key (a Bulk export filtered on the lead key field)."""

from __future__ import annotations

import pandas as pd

from leadsync.connectors.eloqua.source.contact_fields import CONTACT_ID_STATEMENT, RECORD_ID
from leadsync.connectors.eloqua.source.filters import chunked_any_of
from leadsync.connectors.eloqua.source.timestamps import import_value
from leadsync.connectors.eloqua.source.writes import EMAIL_STATEMENT, Writes
from leadsync.connectors.source_api import CREATE_RESULT_COLUMNS

EMAIL = "C_EmailAddress"


def create_contacts(writes: Writes, records: pd.DataFrame) -> pd.DataFrame:
    """`records`: `key` and one column per contact field (internal names or statements); C_EmailAddress is
    required. CREATE_RESULT_COLUMNS, in input order."""
    if "key" not in records.columns:
        raise ValueError("create_records: missing column 'key'")
    catalog = writes.contact_fields()
    key_name, key_statement = catalog.resolve(writes.settings.lead_key_field)
    fields = {EMAIL: EMAIL_STATEMENT, key_name: key_statement}
    names: dict[str, str] = {}
    for column in records.columns:
        if column != "key":
            name, statement = catalog.resolve(column)
            fields.setdefault(name, statement)
            names[column] = name
    email_column = next((c for c, n in names.items() if n == EMAIL), None)
    keys = [import_value(k).strip() for k in records["key"]]
    errors: dict[int, str] = {}
    rows, positions = [], []
    for position, record in enumerate(records.to_dict("records")):
        email = import_value(record.get(email_column)).strip() if email_column else ""
        if not keys[position]:
            errors[position] = "no key to create the contact by"
        elif not email:
            errors[position] = f"no email address: Eloqua needs {EMAIL} to create a contact"
        else:
            row = {names[c]: import_value(v) for c, v in record.items() if c != "key" and import_value(v) != ""}
            rows.append({**row, EMAIL: email, key_name: keys[position]})
            positions.append(position)
    rejected = writes.import_rows("contacts", fields, EMAIL, rows, {}) if rows else {}
    errors.update({positions[i]: why for i, why in rejected.items()})
    done = [keys[p] for p in positions if p not in errors]
    ids = _ids_by_key(writes, key_name, key_statement, done)
    record_ids: list[str | None] = []
    for position, key in enumerate(keys):
        found = None if position in errors else ids.get(key.lower())
        if position not in errors and found is None:
            errors[position] = f"imported, but no contact holds {key_name} {key!r} when read back"
        record_ids.append(found)
    return pd.DataFrame({"key": list(records["key"]), "ok": [p not in errors for p in range(len(keys))],
                         "error": [errors.get(p) for p in range(len(keys))], "record_id": record_ids},
                        columns=CREATE_RESULT_COLUMNS)


def _ids_by_key(writes: Writes, key_name: str, key_statement: str, keys: list[str]) -> dict[str, str]:
    """lower-cased key → contact id, for the keys some contact holds (an exact match: `*` is a wildcard in
    Eloqua's filters, so what comes back is checked against the key itself)."""
    wanted = {k.lower() for k in keys}
    found: dict[str, str] = {}
    fields = {RECORD_ID: CONTACT_ID_STATEMENT, key_name: key_statement}
    for clause in chunked_any_of(key_statement, sorted(wanted)):
        for page in writes.bulk.export("contacts", fields, clause, writes.settings.export_page_size,
                                       "leadsync created contacts"):
            for item in page:
                key = str(item.get(key_name) or "").lower()
                if key in wanted and item.get(RECORD_ID):
                    found.setdefault(key, str(item[RECORD_ID]))
    return found

"""Email addresses of contacts known by id, for linking custom object records to them (Eloqua links a record
to a contact by a field value, and leadsync's custom objects carry the contact's email address)."""

from __future__ import annotations

from leadsync.connectors.eloqua.source.bulk import Bulk
from leadsync.connectors.eloqua.source.filters import MAX_FILTER, chunked_any_of, compare

ID = "{{Contact.Id}}"
MAX_OR_EXPORTS = 3  # beyond this many OR-filtered exports, one export of the id range is cheaper


def emails_by_id(bulk: Bulk, contact_ids: list[str], page_size: int) -> dict[str, str]:
    """contact id → email address, for the ids that exist (an unknown id is simply absent)."""
    ids = sorted({str(i).strip() for i in contact_ids if str(i).strip().isdigit()}, key=int)
    if not ids:
        return {}
    clauses = list(chunked_any_of(ID, ids))
    if len(clauses) > MAX_OR_EXPORTS:
        clauses = [f"{compare(ID, '>=', ids[0])} AND {compare(ID, '<=', ids[-1])}"]
    assert all(len(c) <= MAX_FILTER for c in clauses)
    wanted, found = set(ids), {}
    fields = {"ContactID": ID, "Email": "{{Contact.Field(C_EmailAddress)}}"}
    for clause in clauses:
        for page in bulk.export("contacts", fields, clause, page_size, "leadsync contact emails"):
            for item in page:
                if item.get("ContactID") in wanted and item.get("Email"):
                    found[item["ContactID"]] = item["Email"]
    return found

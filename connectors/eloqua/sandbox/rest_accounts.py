"""Application API accounts: the account JSON at each depth, search terms, and the changes of a POST or PUT.

Accounts appear as `{"type": "Account", "id": "3", "createdAt": "1543784368", "depth": "complete",
"description": "", "name": "ACME Group", "updatedAt": "…", "address1": "", …, "fieldValues": […]}`: the
standard properties (name, address1-3, city, province, postalCode, country, businessPhone) as text, "" when
empty; `depth=minimal` gives the identity only, `complete` adds `fieldValues` for the other account fields.
"""

from __future__ import annotations

from leadsync.connectors.eloqua.sandbox.accounts import ACCOUNT_FIELDS, NAME, AccountStore, account_field
from leadsync.connectors.eloqua.sandbox.rest_contacts import field_values, object_error, record_changes, wire_text

SEARCH_ALIASES = {"id": "id", "name": NAME, "createdat": "created_at", "updatedat": "updated_at"}


def account_search_column(name: str) -> str | None:
    column = SEARCH_ALIASES.get(name.lower())
    if column is None:
        f = account_field(name) or next((f for f in ACCOUNT_FIELDS if (f.rest_property or "").lower() == name.lower()),
                                        None)
        column = f.internal_name if f else None
    return column


def account_json(row: dict, depth: str) -> dict:
    """The REST representation of one account row (as AccountStore.row returns it)."""
    body = {"type": "Account", "id": str(row["id"]), "createdAt": wire_text(row["created_at"]), "depth": depth,
            "description": "", "name": row[NAME] or "", "updatedAt": wire_text(row["updated_at"])}
    if depth == "minimal":
        return body
    for f in ACCOUNT_FIELDS:
        if f.rest_property and f.rest_property not in body:
            body[f.rest_property] = row.get(f.internal_name) or ""
    if depth == "complete":
        body["fieldValues"] = field_values(ACCOUNT_FIELDS, row)
    return body


def account_changes(body: dict, full: bool) -> dict[str, object]:
    """Column values for a PUT (full=True: standard properties left out are blanked) or a POST; `name` is
    required. Raises RestValidationError."""
    errors = []
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append(object_error("Account", "name", "NotNullRequirement", name))
    changes = record_changes(ACCOUNT_FIELDS, lambda i: next((f for f in ACCOUNT_FIELDS if f.id == i), None), body,
                             full, "Account", errors)
    changes[NAME] = name.strip()
    return changes


def new_account(store: AccountStore, changes: dict, now) -> int:
    """Append an account (under the store's lock); returns its id."""
    with store.lock:
        account_id = store.next_id()
        store.apply({}, [store.new_row(account_id, changes, now)])
    return account_id

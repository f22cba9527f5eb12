"""The instance's contact fields (Bulk `/contacts/fields`) and how a field name becomes an export statement.

Fields are named as Eloqua names them internally (`C_EmailAddress`, `C_LeadSync_Partner1`); the statement
(`{{Contact.Field(C_EmailAddress)}}`) is accepted too. The contact id is `ContactID` (`{{Contact.Id}}`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.eloqua.source.client import EloquaClient

RECORD_ID = "ContactID"
MODIFIED = "C_DateModified"
EMAIL = "C_EmailAddress"
CONTACT_ID_STATEMENT = "{{Contact.Id}}"
# Statements that are not fields of the list, under the column name a pull gives them.
SYSTEM_STATEMENTS = {RECORD_ID: CONTACT_ID_STATEMENT, "Contact.CreatedAt": "{{Contact.CreatedAt}}",
                     "Contact.UpdatedAt": "{{Contact.UpdatedAt}}",
                     "Contact.Email.IsSubscribed": "{{Contact.Email.IsSubscribed}}",
                     "Contact.Email.IsBounced": "{{Contact.Email.IsBounced}}",
                     "Contact.Email.Format": "{{Contact.Email.Format}}"}
SYSTEM_TYPES = {RECORD_ID: "number", "Contact.CreatedAt": "date", "Contact.UpdatedAt": "date",
                "Contact.Email.IsSubscribed": "boolean", "Contact.Email.IsBounced": "boolean",
                "Contact.Email.Format": "string"}
_FIELD_STATEMENT = re.compile(r"^\{\{Contact\.Field\(([A-Za-z0-9_]+)\)\}\}$")


@dataclass(frozen=True)
class ContactField:
    internal_name: str
    data_type: str
    statement: str
    read_only: bool


class ContactFields:
    def __init__(self, items: list[dict]):
        self.fields = {i["internalName"]: ContactField(i["internalName"], i.get("dataType", "string"),
                                                       i.get("statement") or f"{{{{Contact.Field({i['internalName']})}}}}",
                                                       bool(i.get("hasReadOnlyConstraint")))
                       for i in items if i.get("internalName")}
        self._by_lower = {name.lower(): f for name, f in self.fields.items()}
        self._by_statement = {f.statement: f for f in self.fields.values()}

    @classmethod
    def load(cls, client: EloquaClient) -> ContactFields:
        return cls(list(client.bulk_items("/contacts/fields", "Eloqua Bulk contact fields")))

    def types(self) -> dict[str, str]:
        """internal name → Bulk data type, plus the statements and ContactID (the contact id)."""
        out = {name: f.data_type for name, f in self.fields.items()}
        out.update(SYSTEM_TYPES)
        out.update({f.statement: f.data_type for f in self.fields.values()})
        out.update({statement: SYSTEM_TYPES[name] for name, statement in SYSTEM_STATEMENTS.items()})
        return out

    def resolve(self, name: str) -> tuple[str, str]:
        """(column name, statement) for a field given by internal name or statement; ApiConfigError when the
        instance has no such field."""
        name = name.strip()
        for column, statement in SYSTEM_STATEMENTS.items():
            if name.lower() == column.lower() or name == statement:
                return column, statement
        found = self._by_lower.get(name.lower()) or self._by_statement.get(name)
        m = _FIELD_STATEMENT.match(name)
        if found is None and m:
            found = self._by_lower.get(m.group(1).lower())
        if found is None:
            raise ApiConfigError(f"Eloqua has no contact field {name!r}: check the field mapping (fields are named "
                                 f"by their internal name, e.g. C_EmailAddress, or by their statement); "
                                 f"{len(self.fields)} contact fields exist, see available_fields()")
        return found.internal_name, found.statement

    def export_fields(self, names: list[str]) -> dict[str, str]:
        """The export definition's fields: column → statement, ContactID and C_DateModified always included."""
        out: dict[str, str] = {}
        for name in [RECORD_ID, *names, MODIFIED]:
            column, statement = self.resolve(name)
            out.setdefault(column, statement)
        return out

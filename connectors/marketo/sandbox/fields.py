"""Field definitions: the lead schema (standard fields, leadsync's custom fields and the supplier's own custom
fields that routing reads, extendable), the types Marketo names (`string`, `email`, `integer`, `currency`,
`datetime`, ...), and how API input is checked against them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pyarrow as pa

from leadsync.connectors.marketo.sandbox.clock import iso, naive_utc, parse_iso
from leadsync.connectors.marketo.sandbox.envelope import MarketoError, RecordError

STRING_TYPES = {"string", "email", "phone", "url", "text", "reference", "textarea"}
SQL_TYPES = {"integer": "BIGINT", "float": "DOUBLE", "currency": "DOUBLE", "boolean": "BOOLEAN",
             "date": "DATE", "datetime": "TIMESTAMP"}
ARROW_TYPES = {"integer": pa.int64(), "float": pa.float64(), "currency": pa.float64(), "boolean": pa.bool_(),
               "date": pa.date32(), "datetime": pa.timestamp("us")}
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # also what makes a name safe to quote in SQL


@dataclass(frozen=True)
class FieldDef:
    """One field of a Marketo object. `searchable`: usable as filterType / lookupField."""

    name: str
    display_name: str
    data_type: str = "string"
    length: int | None = None
    updateable: bool = True
    searchable: bool = False
    id: int | None = None

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name):
            raise ValueError(f"field name {self.name!r} is not a valid Marketo API name")
        if self.length is None and self.data_type in {"string", "email", "phone", "url", "reference"}:
            object.__setattr__(self, "length", 255)

    @property
    def sql_type(self) -> str:
        return SQL_TYPES.get(self.data_type, "VARCHAR")

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES.get(self.data_type, pa.string())

    def coerce(self, value: Any) -> Any:
        """API input → stored value (None clears). Raises RecordError 1003 when it does not fit."""
        if value is None or (isinstance(value, str) and value == "" and self.data_type not in STRING_TYPES):
            return None
        try:
            return _coerce(self, value)
        except (ValueError, TypeError, OverflowError):
            raise RecordError("1003", f"Invalid value '{value}' for field '{self.name}'") from None

    def render(self, value: Any) -> Any:
        """Stored value → JSON value as Marketo answers it."""
        if value is None:
            return None
        if self.data_type == "datetime":
            return iso(value)
        if self.data_type == "date":
            return value.isoformat()
        return value


def _coerce(field: FieldDef, value: Any) -> Any:
    kind = field.data_type
    if kind in STRING_TYPES:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError
        text = str(value)
        if field.length is not None and len(text) > field.length:
            raise ValueError
        if kind == "email" and text and not text.isascii():
            raise ValueError  # Marketo accepts only ASCII in email addresses
        return text or None
    if kind == "integer":
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError
            return int(value)
        number = int(str(value).strip())
        if abs(number) >= 2**63:
            raise OverflowError
        return number
    if kind in {"float", "currency"}:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if math.isnan(number) or math.isinf(number):
            raise ValueError
        return number
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"true", "1", "yes"}:
            return True
        if text in {"false", "0", "no"}:
            return False
        raise ValueError
    if kind == "datetime":
        return naive_utc(value if isinstance(value, datetime) else parse_iso(value))
    if kind == "date":
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        return date.fromisoformat(str(value).strip()[:10])
    raise ValueError


def f(name: str, display: str, kind: str = "string", **kw: Any) -> FieldDef:
    return FieldDef(name, display, kind, **kw)


STANDARD_LEAD_FIELDS = [
    f("id", "Id", "integer", updateable=False, searchable=True),
    f("email", "Email Address", "email", searchable=True),
    f("firstName", "First Name"),
    f("lastName", "Last Name"),
    f("company", "Company Name", searchable=True),
    f("title", "Job Title"),
    f("phone", "Phone Number", "phone"),
    f("city", "City"),
    f("state", "State"),
    f("postalCode", "Postal Code"),
    f("country", "Country"),
    f("industry", "Industry"),
    f("leadSource", "Lead Source", searchable=True),
    f("numberOfEmployees", "Num Employees", "integer"),
    f("annualRevenue", "Annual Revenue", "currency"),
    f("createdAt", "Created At", "datetime", updateable=False),
    f("updatedAt", "Updated At", "datetime", updateable=False),
]
# The fields leadsync writes back. Custom string/integer fields are searchable in Marketo.
LEADSYNC_LEAD_FIELDS = [
    f("leadsyncDistributionStatus", "Leadsync Distribution Status", searchable=True),
    f("leadsyncPartner", "Leadsync Partner", searchable=True),
    f("leadsyncRejectionReason", "Leadsync Rejection Reason", searchable=True),
    f("leadsyncSalesStatus", "Leadsync Sales Status", searchable=True),
    f("leadsyncRepName", "Leadsync Rep Name", searchable=True),
    f("leadsyncRepEmail", "Leadsync Rep Email", "email", searchable=True),
    f("leadsyncLeadKey", "Leadsync Lead Key", searchable=True),
]
# The supplier's own custom fields (an admin's, Admin > Field Management): the lead's segment and the products
# it asked about. Marketo has no multi-select type: a multi-select synced from the CRM, or filled by a form's
# checkboxes, lands in a string field as `;`-joined values ("Firewall;SD-WAN").
SUPPLIER_LEAD_FIELDS = [
    f("leadType", "Lead Type"),
    f("productInterest", "Product Interest"),
]
# Fields Get Leads returns when the call names none.
DEFAULT_LEAD_RESPONSE_FIELDS = ["id", "email", "updatedAt", "createdAt", "firstName", "lastName"]


class FieldSet:
    """An ordered set of fields with case-insensitive lookup, as Marketo matches API names."""

    def __init__(self, fields: list[FieldDef]):
        self.fields: list[FieldDef] = []
        self._by_lower: dict[str, FieldDef] = {}
        for field in fields:
            if field.name.lower() in self._by_lower:
                raise ValueError(f"duplicate field {field.name!r}")
            self.fields.append(field)
            self._by_lower[field.name.lower()] = field

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_lower

    def get(self, name: str) -> FieldDef | None:
        return self._by_lower.get(str(name).lower())

    def require(self, name: str) -> FieldDef:
        """The named field, or response-level 1006 (the call names a field that does not exist)."""
        field = self.get(name)
        if field is None:
            raise MarketoError("1006", f"Field '{name}' not found")
        return field

    def parse_list(self, names: str | list | None, default: list[str]) -> list[FieldDef]:
        """A `fields` parameter (comma-separated, or a list) → fields; unknown names → 1006."""
        if names is None or names == "" or names == []:
            names = default
        if isinstance(names, str):
            names = names.split(",")
        return [self.require(name.strip()) for name in names if str(name).strip()]

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([(field.name, field.arrow_type) for field in self.fields])


class LeadSchema(FieldSet):
    """The lead fields: standard, leadsync's custom ones, the supplier's, plus any the caller adds."""

    def __init__(self, extra_fields: list[FieldDef] | tuple = ()):
        fields = [*STANDARD_LEAD_FIELDS, *LEADSYNC_LEAD_FIELDS, *SUPPLIER_LEAD_FIELDS, *extra_fields]
        numbered = []
        for position, field in enumerate(fields, start=1):
            custom = position > len(STANDARD_LEAD_FIELDS)
            field_id = field.id or (position + 1000 if custom else position)
            numbered.append(FieldDef(field.name, field.display_name, field.data_type, field.length,
                                     field.updateable, field.searchable or (custom and field.data_type in
                                     {"string", "email", "integer"}), field_id))
        super().__init__(numbered)

    def describe(self) -> list[dict]:
        """`GET /rest/v1/leads/describe.json` result."""
        out = []
        for field in self.fields:
            item: dict[str, Any] = {"id": field.id, "displayName": field.display_name,
                                    "dataType": field.data_type}
            if field.length is not None:
                item["length"] = field.length
            item["rest"] = {"name": field.name, "readOnly": not field.updateable}
            item["soap"] = {"name": field.name[0].upper() + field.name[1:], "readOnly": not field.updateable}
            out.append(item)
        return out

    def describe2(self) -> list[dict]:
        """`GET /rest/v1/leads/describe2.json` result: the searchable fields and the field list."""
        fields = []
        for field in self.fields:
            item: dict[str, Any] = {"name": field.name, "displayName": field.display_name,
                                    "dataType": field.data_type}
            if field.length is not None:
                item["length"] = field.length
            item.update({"updateable": field.updateable, "crmManaged": False})
            fields.append(item)
        return [{"name": "API Lead", "searchableFields": [[x.name] for x in self.fields if x.searchable],
                 "fields": fields}]

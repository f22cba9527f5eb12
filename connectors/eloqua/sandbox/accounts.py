"""Accounts (Eloqua's "companies"): their fields, as the Bulk and Application APIs describe them, and the
stored account records.

Accounts are records of their own: Bulk account imports and the Application API create and update them,
account exports read them. A fresh sandbox seeds one account per distinct non-empty contact Company, with the
field values of that company's first contact (lowest contact id). A contact links to the account named as its
Company (case-insensitively; the lowest account id when several share the name), so
`{{Contact.Account.Field(M_City)}}` in a contact export is the city of that account (export_sources reads it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leadsync.connectors.eloqua.sandbox.contacts import TIMESTAMP, ArrowRecords, to_timestamp
from leadsync.connectors.eloqua.sandbox.field_shapes import SYSTEM_CREATED
from leadsync.connectors.eloqua.sandbox.schema import CONTACT_TEXT_MAX

LINKED_ACCOUNT_RE = re.compile(r"^\{\{Contact\.Account\.Field\(([A-Za-z0-9_]+)\)\}\}$")
ACCOUNT_FIELD_RE = re.compile(r"^\{\{Account\.Field\(([A-Za-z0-9_]+)\)\}\}$")


@dataclass(frozen=True)
class AccountField:
    id: int
    name: str
    internal_name: str
    data_type: str  # Bulk data type: string | number
    contact_column: str | None  # the contact field a seeded account takes the value from
    rest_property: str | None = None  # the property on the REST account object, when it has one
    system: bool = False  # read-only and unique, derived from the account id

    @property
    def statement(self) -> str:
        return f"{{{{Account.Field({self.internal_name})}}}}"

    @property
    def max_length(self) -> int:
        return CONTACT_TEXT_MAX


ACCOUNT_FIELDS: tuple[AccountField, ...] = (
    AccountField(100081, "Company Name", "M_CompanyName", "string", "C_Company", "name"),
    AccountField(100082, "Address 1", "M_Address1", "string", "C_Address1", "address1"),
    AccountField(100083, "Address 2", "M_Address2", "string", "C_Address2", "address2"),
    AccountField(100092, "Address 3", "M_Address3", "string", None, "address3"),
    AccountField(100084, "City", "M_City", "string", "C_City", "city"),
    AccountField(100085, "State or Province", "M_State_Prov", "string", "C_State_Prov", "province"),
    AccountField(100086, "Zip or Postal Code", "M_Zip_Postal", "string", "C_Zip_Postal", "postalCode"),
    AccountField(100087, "Country", "M_Country", "string", "C_Country", "country"),
    AccountField(100088, "Business Phone", "M_Business_Phone", "string", "C_BusPhone", "businessPhone"),
    AccountField(100089, "Industry", "M_Industry", "string", "C_Industry1"),
    AccountField(100090, "Annual Revenue", "M_Annual_Revenue", "string", "C_Annual_Revenue1"),
    AccountField(100091, "Eloqua Company ID", "M_CompanyID", "number", None, system=True),
    AccountField(100093, "Eloqua Company ID (External)", "CompanyIDExt", "string", None, system=True),
)
# The fields an import may match accounts on (Oracle's sync action and import tutorials).
IDENTIFIER_COLUMNS = {"id", "M_CompanyName", "M_CompanyID", "CompanyIDExt"}
NAME = "M_CompanyName"


def account_field(internal_name: str) -> AccountField | None:
    return next((f for f in ACCOUNT_FIELDS if f.internal_name.lower() == internal_name.lower()), None)


def account_target(statement: str) -> str | None:
    """The account column an import statement writes ("id" for {{Account.Id}}), or None."""
    if statement == "{{Account.Id}}":
        return "id"
    m = ACCOUNT_FIELD_RE.match(statement)
    f = account_field(m.group(1)) if m else None
    return f.internal_name if f else None


def bulk_account_field(f: AccountField) -> dict:
    return {"name": f.name, "internalName": f.internal_name, "dataType": f.data_type,
            "hasReadOnlyConstraint": f.system, "hasNotNullConstraint": False,
            "hasUniquenessConstraint": f.system, "statement": f.statement,
            "uri": f"/accounts/fields/{f.id}", "createdAt": SYSTEM_CREATED, "updatedAt": SYSTEM_CREATED}


def system_values(account_id: int) -> dict[str, str]:
    """The read-only fields every account gets from its id."""
    return {"M_CompanyID": str(account_id), "CompanyIDExt": f"CMPSYN{account_id:012d}"}


ACCOUNT_SCHEMA = pa.schema([("id", pa.int64()), ("created_at", TIMESTAMP), ("updated_at", TIMESTAMP)]
                           + [(f.internal_name, pa.string()) for f in ACCOUNT_FIELDS])


class AccountStore(ArrowRecords):
    """Accounts: `id`, `created_at`, `updated_at` and each account field as text."""

    def __init__(self, table: pa.Table | None = None):
        table = table if table is not None else ACCOUNT_SCHEMA.empty_table()
        for name in ACCOUNT_SCHEMA.names:  # a saved table from before a field was added
            if name not in table.column_names:
                table = table.append_column(ACCOUNT_SCHEMA.field(name), pa.nulls(table.num_rows, pa.string()))
        super().__init__(table.select(ACCOUNT_SCHEMA.names).cast(ACCOUNT_SCHEMA))

    def seed_from(self, contacts: pa.Table) -> None:
        """One account per distinct non-empty contact Company, numbered from 1 in name order, with the values
        of its first contact (lowest id), created when its first contact was and updated when its last one
        was."""
        companies = pc.fill_null(contacts.column("C_Company"), "").to_numpy(zero_copy_only=False).astype(str)
        order = np.argsort(contacts.column("id").to_numpy(zero_copy_only=False), kind="stable")
        names, first = np.unique(companies[order], return_index=True)
        keep = names != ""
        names, first_rows = names[keep], pa.array(order[first][keep], pa.int64())
        ids = np.arange(1, len(names) + 1)
        columns = {"id": pa.array(ids, pa.int64())}
        spans = contacts.group_by("C_Company").aggregate([("C_DateCreated", "min"), ("C_DateModified", "max")])
        at = pc.index_in(pa.array(names, pa.string()), value_set=spans.column("C_Company"))
        columns["created_at"] = spans.column("C_DateCreated_min").take(at)
        columns["updated_at"] = spans.column("C_DateModified_max").take(at)
        for f in ACCOUNT_FIELDS:
            if f.contact_column is not None:
                source = contacts.column(f.contact_column).take(first_rows)
                columns[f.internal_name] = pc.cast(source, pa.string()) if len(names) else pa.array([], pa.string())
            elif f.system:
                columns[f.internal_name] = pa.array([system_values(int(i))[f.internal_name] for i in ids],
                                                    pa.string())
            else:
                columns[f.internal_name] = pa.nulls(len(names), pa.string())
        with self.lock:
            self.table = pa.table(columns).select(ACCOUNT_SCHEMA.names).cast(ACCOUNT_SCHEMA)
            self._changed()

    def positions_for_names(self, names) -> np.ndarray:
        return self.positions_for_text(NAME, names)

    def new_row(self, account_id: int, values: dict, when: datetime) -> dict:
        stamp = to_timestamp(when)
        return {**values, **system_values(account_id), "id": account_id, "created_at": stamp, "updated_at": stamp}

"""Accounts (Eloqua's "companies") as the Bulk API describes them, and what a contact links to.

Accounts are not stored on their own here: each distinct non-empty contact Company is one account, whose
field values are those of its first contact (lowest contact id); a contact links to the account of its
Company. So `{{Contact.Account.Field(M_CompanyName)}}` in a contact export is the contact's Company, and
`{{Contact.Account.Field(M_City)}}` the city of its account's first contact (export_sources reads them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from connectors.eloqua.sandbox.field_shapes import SYSTEM_CREATED

LINKED_ACCOUNT_RE = re.compile(r"^\{\{Contact\.Account\.Field\(([A-Za-z0-9_]+)\)\}\}$")


@dataclass(frozen=True)
class AccountField:
    id: int
    name: str
    internal_name: str
    data_type: str  # Bulk data type: string | number | date
    contact_column: str | None  # the contact field an account takes the value from (None: the account id)

    @property
    def statement(self) -> str:
        return f"{{{{Account.Field({self.internal_name})}}}}"


ACCOUNT_FIELDS: tuple[AccountField, ...] = (
    AccountField(100081, "Company Name", "M_CompanyName", "string", "C_Company"),
    AccountField(100082, "Address 1", "M_Address1", "string", "C_Address1"),
    AccountField(100083, "Address 2", "M_Address2", "string", "C_Address2"),
    AccountField(100084, "City", "M_City", "string", "C_City"),
    AccountField(100085, "State or Province", "M_State_Prov", "string", "C_State_Prov"),
    AccountField(100086, "Zip or Postal Code", "M_Zip_Postal", "string", "C_Zip_Postal"),
    AccountField(100087, "Country", "M_Country", "string", "C_Country"),
    AccountField(100088, "Business Phone", "M_Business_Phone", "string", "C_BusPhone"),
    AccountField(100089, "Industry", "M_Industry", "string", "C_Industry1"),
    AccountField(100090, "Annual Revenue", "M_Annual_Revenue", "string", "C_Annual_Revenue1"),
    AccountField(100091, "Eloqua Company ID", "M_CompanyID", "number", None),
)
FIRST_ACCOUNT_ID = 1


def account_field(internal_name: str) -> AccountField | None:
    return next((f for f in ACCOUNT_FIELDS if f.internal_name.lower() == internal_name.lower()), None)


def bulk_account_field(f: AccountField) -> dict:
    return {"name": f.name, "internalName": f.internal_name, "dataType": f.data_type,
            "hasReadOnlyConstraint": f.contact_column is None, "hasNotNullConstraint": False,
            "hasUniquenessConstraint": f.contact_column is None, "statement": f.statement,
            "uri": f"/accounts/fields/{f.id}", "createdAt": SYSTEM_CREATED, "updatedAt": SYSTEM_CREATED}


"""What Eloqua records look like: contact fields and custom objects, with their Bulk API statements.

A contact field has an id, a display name, an internal name (`C_EmailAddress`), an Application API data type
(text, largeText, date, numeric, emailAddress) and constraints. The Bulk API describes the same field with a
coarser data type (string, date, number, emailAddress) and the EML statement `{{Contact.Field(C_X)}}`.
Custom object fields are addressed by id: `{{CustomObject[1].Field[101]}}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

BULK_DATA_TYPE = {"text": "string", "largeText": "string", "emailAddress": "emailAddress",
                  "date": "date", "numeric": "number", "number": "number"}
# Small text holds 100 characters on contacts and 250 on custom objects; large text 32,000 (Bulk data types page).
CONTACT_TEXT_MAX = 100
CUSTOM_OBJECT_TEXT_MAX = 250
LARGE_TEXT_MAX = 32000
EMAIL_MAX = 400


@dataclass(frozen=True)
class ContactField:
    id: int
    name: str
    internal_name: str
    data_type: str = "text"  # Application API granularity: text | largeText | date | numeric | emailAddress
    read_only: bool = False
    not_null: bool = False
    unique: bool = False
    rest_property: str | None = None  # the property on the REST contact object, when it has one
    is_standard: bool = True

    @property
    def statement(self) -> str:
        return f"{{{{Contact.Field({self.internal_name})}}}}"

    @property
    def max_length(self) -> int | None:
        return {"text": CONTACT_TEXT_MAX, "largeText": LARGE_TEXT_MAX, "emailAddress": EMAIL_MAX}.get(
            self.data_type)


def _f(id_: int, name: str, internal: str, data_type: str = "text", rest: str | None = None,
       **flags: bool) -> ContactField:
    return ContactField(id_, name, internal, data_type, rest_property=rest, **flags)


DEFAULT_CONTACT_FIELDS: tuple[ContactField, ...] = (
    _f(100001, "Email Address", "C_EmailAddress", "emailAddress", "emailAddress", unique=True),
    _f(100002, "First Name", "C_FirstName", rest="firstName"),
    _f(100003, "Last Name", "C_LastName", rest="lastName"),
    _f(100004, "Company", "C_Company", rest="accountName"),
    _f(100005, "Email Display Name", "C_EmailDisplayName"),
    _f(100006, "Address 1", "C_Address1", rest="address1"),
    _f(100007, "Address 2", "C_Address2", rest="address2"),
    _f(100008, "City", "C_City", rest="city"),
    _f(100009, "State or Province", "C_State_Prov", rest="province"),
    _f(100010, "Zip or Postal Code", "C_Zip_Postal", rest="postalCode"),
    _f(100011, "Country", "C_Country", rest="country"),
    _f(100012, "Business Phone", "C_BusPhone", rest="businessPhone"),
    _f(100013, "Mobile Phone", "C_MobilePhone", rest="mobilePhone"),
    _f(100014, "Fax", "C_Fax_Number", rest="fax"),
    _f(100015, "Title", "C_Title", rest="title"),
    _f(100016, "Salutation", "C_Salutation", rest="salutation"),
    _f(100017, "Sales Rep", "C_SalesPerson", rest="salesPerson"),
    _f(100018, "Date Created", "C_DateCreated", "date", read_only=True),
    _f(100019, "Date Modified", "C_DateModified", "date", read_only=True),
    _f(100020, "Eloqua Contact ID", "ContactIDExt", read_only=True, unique=True),
    _f(100021, "Industry", "C_Industry1"),
    _f(100022, "Company Size", "C_Company_Size1"),
    _f(100023, "Lead Source - Most Recent", "C_Lead_Source___Most_Recent1"),
    _f(100024, "Annual Revenue", "C_Annual_Revenue1", "numeric"),
    # The supplier's own custom fields that routing reads (an admin's; Eloqua appends "1" to internal names):
    # the lead's segment, and the products it asked about as `;`-joined values ("Firewall;SD-WAN"), as a
    # CRM multi-select lands in an Eloqua text field.
    _f(100101, "Lead Type", "C_Lead_Type1", is_standard=False),
    _f(100102, "Product Interest", "C_Product_Interest1", is_standard=False),
    # The fields leadsync writes back (custom fields an admin creates; Eloqua appends "1" to internal names).
    _f(100201, "LeadSync Distribution Status", "C_LeadSync_Distribution_Status1", is_standard=False),
    _f(100202, "LeadSync Partner", "C_LeadSync_Partner1", is_standard=False),
    _f(100203, "LeadSync Rejection Reason", "C_LeadSync_Rejection_Reason1", "largeText", is_standard=False),
    _f(100204, "LeadSync Sales Status", "C_LeadSync_Sales_Status1", is_standard=False),
    _f(100205, "LeadSync Rep Name", "C_LeadSync_Rep_Name1", is_standard=False),
    _f(100206, "LeadSync Rep Email", "C_LeadSync_Rep_Email1", is_standard=False),
    _f(100207, "LeadSync Lead Key", "C_LeadSync_Lead_Key1", is_standard=False),
)

# Contact statements that are not fields; they map onto a column of the contact table.
CONTACT_SYSTEM_STATEMENTS = {
    "{{Contact.Id}}": "id",
    "{{Contact.CreatedAt}}": "C_DateCreated",
    "{{Contact.UpdatedAt}}": "C_DateModified",
    "{{Contact.Email.IsSubscribed}}": "_subscribed",
    "{{Contact.Email.IsBounced}}": "_bounced",
    "{{Contact.Email.Format}}": "_email_format",
}

CONTACT_FIELD_RE = re.compile(r"^\{\{Contact\.Field\(([A-Za-z0-9_]+)\)\}\}$")
CUSTOM_OBJECT_RE = re.compile(
    r"^\{\{CustomObject\[(\d+)\]\.(?:Field\[(\d+)\]|(Id|ExternalId|CreatedAt|UpdatedAt|Contact\.Id)"
    r"|Contact\.Field\(([A-Za-z0-9_]+)\))\}\}$")


@dataclass(frozen=True)
class CustomObjectField:
    id: int
    name: str
    internal_name: str
    data_type: str = "text"  # text | largeText | date | number (float) | numeric (integer)
    unique: bool = False
    not_null: bool = False

    def statement(self, object_id: int) -> str:
        return f"{{{{CustomObject[{object_id}].Field[{self.id}]}}}}"

    @property
    def max_length(self) -> int | None:
        return {"text": CUSTOM_OBJECT_TEXT_MAX, "largeText": LARGE_TEXT_MAX}.get(self.data_type)


@dataclass
class CustomObject:
    id: int
    name: str
    description: str = ""
    fields: list[CustomObjectField] = field(default_factory=list)
    unique_code_field_id: int | None = None
    email_address_field_id: int | None = None
    display_name_field_id: int | None = None

    def field_by_id(self, field_id: int) -> CustomObjectField | None:
        return next((f for f in self.fields if f.id == field_id), None)


def _co_field(id_: int, name: str, data_type: str = "text", **flags: bool) -> CustomObjectField:
    internal = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") + "1"
    return CustomObjectField(id_, name, internal, data_type, **flags)


def default_custom_objects() -> list[CustomObject]:
    """The two custom objects leadsync writes to: opportunities (keyed by the CRM's id) and partner events."""
    return [
        CustomObject(1, "LeadSync Opportunity", "Opportunities reported by partners, keyed by the CRM id.", [
            _co_field(101, "External Id", unique=True, not_null=True),
            _co_field(102, "Contact Email"),
            _co_field(103, "Name"),
            _co_field(104, "Stage"),
            _co_field(105, "Amount", "number"),
            _co_field(106, "Close Date", "date"),
            _co_field(107, "Partner"),
        ], unique_code_field_id=101, email_address_field_id=102, display_name_field_id=103),
        CustomObject(2, "LeadSync Partner Event", "Marketing events partners ran for distributed leads.", [
            _co_field(201, "Event Id", unique=True, not_null=True),
            _co_field(202, "Contact Email"),
            _co_field(203, "Partner"),
            _co_field(204, "Event Type"),
            _co_field(205, "Event Date", "date"),
            _co_field(206, "Details", "largeText"),
        ], unique_code_field_id=201, email_address_field_id=202, display_name_field_id=204),
    ]

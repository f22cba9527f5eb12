"""What each Bulk export reads: the records of one entity and the EML statements that address their values.

A source answers three questions: which statements exist (and their kind, for filtering), which column a
filter compares, and the text an export writes for a statement. Exports always write text, and empty values
come out as "" (as the Bulk API does).
"""

from __future__ import annotations

import re
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leadsync.connectors.eloqua.sandbox.accounts import ACCOUNT_FIELD_RE, LINKED_ACCOUNT_RE, account_field
from leadsync.connectors.eloqua.sandbox.schema import CONTACT_FIELD_RE, CONTACT_SYSTEM_STATEMENTS, CUSTOM_OBJECT_RE

KIND = {"text": "text", "largeText": "text", "emailAddress": "text", "date": "date", "numeric": "number",
        "number": "number"}
SYSTEM_KIND = {"id": "number", "C_DateCreated": "date", "C_DateModified": "date", "_subscribed": "bool",
               "_bounced": "bool", "_email_format": "text"}


class Catalog(Protocol):
    """What sources read from the sandbox state (see state.py)."""

    contacts: object
    accounts: object
    custom_objects: object
    campaigns: list[dict]
    activities: pa.Table
    campaign_responses: pa.Table


def as_text(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The Bulk API's text rendering of a column; dates as 'YYYY-MM-DD HH:MM:SS.fff', nulls as ""."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    return pc.fill_null(column, "")


def contact_values(catalog: Catalog, contact_ids: pa.Array, internal_name: str) -> pa.Array:
    """A contact field's text for each contact id (a join on the contact table)."""
    store = catalog.contacts
    positions = store.positions_for_ids(pc.fill_null(contact_ids, -1).to_numpy(zero_copy_only=False))
    found = positions >= 0
    column = as_text(store.table.column(store.field(internal_name).internal_name))
    taken = column.take(pa.array(np.where(found, positions, 0)))
    return pc.if_else(pa.array(found), taken, "") if len(positions) else pa.array([], pa.string())


def campaign_values(catalog: Catalog, campaign_ids: pa.Array, key: str) -> pa.Array:
    ids = pa.array([c["id"] for c in catalog.campaigns], pa.int64())
    values = pa.array([str(c.get(key) or "") for c in catalog.campaigns], pa.string())
    return pc.fill_null(values.take(pc.index_in(campaign_ids, value_set=ids)), "")


class CatalogSource:
    """What the sources over the sandbox's state share: the state, and the 250-field cap."""

    max_fields = 250

    def __init__(self, catalog: Catalog):
        self.catalog = catalog


class ContactSource(CatalogSource):
    entity = "contacts"

    def column_of(self, statement: str) -> str | None:
        if statement in CONTACT_SYSTEM_STATEMENTS:
            return CONTACT_SYSTEM_STATEMENTS[statement]
        m = CONTACT_FIELD_RE.match(statement)
        f = self.catalog.contacts.field(m.group(1)) if m else None
        return f.internal_name if f else None

    def kind_of(self, statement: str) -> str | None:
        linked = LINKED_ACCOUNT_RE.match(statement)
        if linked:
            return "account" if account_field(linked.group(1)) else None
        column = self.column_of(statement)
        if column is None:
            return None
        return SYSTEM_KIND.get(column) or KIND[self.catalog.contacts.field(column).data_type]

    def filterable(self, statement: str) -> bool:
        return self.kind_of(statement) not in (None, "account")

    def table(self) -> pa.Table:
        return self.catalog.contacts.table

    def filter_column(self, table: pa.Table, statement: str):
        return table.column(self.column_of(statement)), self.kind_of(statement)

    def output_column(self, table: pa.Table, statement: str) -> pa.Array:
        linked = LINKED_ACCOUNT_RE.match(statement)
        if linked:
            return linked_account_values(self.catalog, table, linked.group(1))
        return as_text(table.column(self.column_of(statement)))


def linked_account_values(catalog: Catalog, rows: pa.Table, internal_name: str) -> pa.Array:
    """`{{Contact.Account.Field(internal_name)}}` for each contact of `rows`: the field of the account named as
    the contact's Company (accounts.py)."""
    accounts = catalog.accounts
    position = accounts.positions_for_names(as_text(rows.column("C_Company")).to_pylist())
    found = position >= 0
    column = as_text(accounts.table.column(account_field(internal_name).internal_name))
    if not len(column):
        return pa.array([""] * rows.num_rows, pa.string())
    return pc.if_else(pa.array(found), column.take(pa.array(np.where(found, position, 0))), "")


ACCOUNT_SYSTEM = {"{{Account.Id}}": ("id", "number"), "{{Account.CreatedAt}}": ("created_at", "date"),
                  "{{Account.UpdatedAt}}": ("updated_at", "date")}


class AccountSource(CatalogSource):
    """Account exports over the stored accounts (accounts.py)."""

    entity = "accounts"

    def _column(self, statement: str) -> tuple[str, str] | None:
        if statement in ACCOUNT_SYSTEM:
            return ACCOUNT_SYSTEM[statement]
        m = ACCOUNT_FIELD_RE.match(statement)
        f = account_field(m.group(1)) if m else None
        return (f.internal_name, "number" if f.data_type == "number" else "text") if f else None

    def kind_of(self, statement: str) -> str | None:
        column = self._column(statement)
        return column[1] if column else None

    def filterable(self, statement: str) -> bool:
        return self._column(statement) is not None

    def table(self) -> pa.Table:
        return self.catalog.accounts.table

    def filter_column(self, table: pa.Table, statement: str):
        column, kind = self._column(statement)
        values = table.column(column)
        return (pc.cast(values, pa.int64()) if kind == "number" and column != "id" else values), kind

    def output_column(self, table: pa.Table, statement: str) -> pa.Array:
        return as_text(table.column(self._column(statement)[0]))


# Activity statements: those stored as a column, then those derived from the stored ids on output.
ACTIVITY_COLUMNS = {"{{Activity.Id}}": ("id", "number"), "{{Activity.Type}}": ("type", "text"),
                    "{{Activity.CreatedAt}}": ("created_at", "date"), "{{Activity.Contact.Id}}": ("contact_id", "number"),
                    "{{Activity.Visitor.Id}}": ("visitor_id", "number"),
                    "{{Activity.Campaign.Id}}": ("campaign_id", "number"), "{{Activity.Asset.Id}}": ("asset_id", "number"),
                    "{{Activity.Field(NumberOfPages)}}": ("number_of_pages", "number"),
                    "{{Activity.Field(Duration)}}": ("duration", "number")}
ASSET_TYPE = {"EmailSend": "Email", "EmailOpen": "Email", "EmailClickthrough": "Email", "Subscribe": "Email",
              "Unsubscribe": "Email", "Bounceback": "Email", "FormSubmit": "Form", "PageView": "Landing Page"}
_COMMON = {"{{Activity.Id}}", "{{Activity.Type}}", "{{Activity.CreatedAt}}", "{{Activity.Contact.Id}}",
           "{{Activity.ExternalId}}"}
_EMAIL = _COMMON | {"{{Activity.Field(EmailAddress)}}", "{{Activity.Field(EmailRecipientId)}}",
                    "{{Activity.Asset.Type}}", "{{Activity.Asset.Name}}", "{{Activity.Asset.Id}}",
                    "{{Activity.Campaign.Id}}", "{{Activity.Campaign.Field(CampaignName)}}",
                    "{{Activity.Campaign.Field(CRMCampaignId)}}"}
_SENT = _EMAIL | {"{{Activity.Field(SubjectLine)}}", "{{Activity.Field(EmailWebLink)}}",
                  "{{Activity.Field(EmailDeploymentId)}}", "{{Activity.Field(EmailSendType)}}"}
_OPENED = _SENT | {"{{Activity.Field(IpAddress)}}", "{{Activity.Visitor.Id}}", "{{Activity.Visitor.ExternalId}}"}
_WEB = _COMMON | {"{{Activity.Visitor.Id}}", "{{Activity.Visitor.ExternalId}}", "{{Activity.Field(IpAddress)}}",
                  "{{Activity.Field(ReferrerUrl)}}"}
ACTIVITY_TYPE_FIELDS = {
    "EmailSend": _SENT,
    "EmailOpen": _OPENED,
    "EmailClickthrough": _OPENED | {"{{Activity.Field(EmailClickedThruLink)}}"},
    "Subscribe": _EMAIL,
    "Unsubscribe": _EMAIL,
    "Bounceback": _EMAIL | {"{{Activity.Field(SmtpErrorCode)}}", "{{Activity.Field(SmtpStatusCode)}}",
                            "{{Activity.Field(SmtpMessage)}}", "{{Activity.Field(EmailDeploymentId)}}"},
    "WebVisit": _WEB | {"{{Activity.Field(NumberOfPages)}}", "{{Activity.Field(FirstPageViewUrl)}}",
                        "{{Activity.Field(Duration)}}"},
    "PageView": _WEB | {"{{Activity.Campaign.Id}}", "{{Activity.Field(WebVisitId)}}", "{{Activity.Field(Url)}}",
                        "{{Activity.Field(IsWebTrackingOptedIn)}}"},
    "FormSubmit": _COMMON | {"{{Activity.Visitor.Id}}", "{{Activity.Visitor.ExternalId}}", "{{Activity.Asset.Type}}",
                             "{{Activity.Asset.Id}}", "{{Activity.Asset.Name}}", "{{Activity.Field(RawData)}}",
                             "{{Activity.Campaign.Id}}", "{{Activity.Campaign.Field(CampaignName)}}"},
}
ACTIVITY_CONTACT_RE = re.compile(r"^\{\{Activity\.Contact\.Field\(([A-Za-z0-9_]+)\)\}\}$")


class ActivitySource(CatalogSource):
    entity = "activities"
    max_contact_fields = 10  # "a maximum of 10 contact fields allowed in an activity export definition"

    def kind_of(self, statement: str) -> str | None:
        if statement in ACTIVITY_COLUMNS:
            return ACTIVITY_COLUMNS[statement][1]
        m = ACTIVITY_CONTACT_RE.match(statement)
        if m:
            return "contact" if self.catalog.contacts.field(m.group(1)) else None
        return "text" if any(statement in fields for fields in ACTIVITY_TYPE_FIELDS.values()) else None

    def filterable(self, statement: str) -> bool:
        return statement in ACTIVITY_COLUMNS

    def table(self) -> pa.Table:
        return self.catalog.activities

    def filter_column(self, table: pa.Table, statement: str):
        column, kind = ACTIVITY_COLUMNS[statement]
        values = table.column(column)
        if kind == "text":
            values = pc.cast(values, pa.string())
        return values, kind

    def output_column(self, table: pa.Table, statement: str) -> pa.Array:
        n = table.num_rows
        if statement in ACTIVITY_COLUMNS:
            return as_text(table.column(ACTIVITY_COLUMNS[statement][0]))
        m = ACTIVITY_CONTACT_RE.match(statement)
        types = as_text(table.column("type"))
        ids = table.column("id").combine_chunks()
        campaign = table.column("campaign_id").combine_chunks()
        asset = as_text(table.column("asset_id"))
        if m:
            return contact_values(self.catalog, table.column("contact_id").combine_chunks(), m.group(1))
        name = statement[len("{{Activity."):-2]
        if name == "Field(EmailAddress)":
            return contact_values(self.catalog, table.column("contact_id").combine_chunks(), "C_EmailAddress")
        if name == "Field(RawData)":
            emails = contact_values(self.catalog, table.column("contact_id").combine_chunks(), "C_EmailAddress")
            return pc.binary_join_element_wise("emailAddress=", emails, "&submit=Submit", "")
        if name == "Visitor.ExternalId":
            return pc.binary_join_element_wise("V", as_text(table.column("visitor_id")), "")
        if name == "ExternalId":
            return pc.binary_join_element_wise("A", as_text(ids), "")
        if name in ("Asset.Type", "Asset.Name"):
            kinds = pa.array([ASSET_TYPE.get(t, "") for t in ASSET_TYPE] + [""])
            asset_type = kinds.take(pc.fill_null(pc.index_in(types, pa.array(list(ASSET_TYPE))), len(ASSET_TYPE)))
            if name == "Asset.Type":
                return asset_type
            return pc.if_else(pc.equal(asset, ""), "", pc.binary_join_element_wise(asset_type, asset, " "))
        if name in ("Campaign.Field(CampaignName)", "Campaign.Field(CRMCampaignId)"):
            key = "name" if "CampaignName" in name else "crmId"
            return campaign_values(self.catalog, campaign, key)
        if name == "Field(SubjectLine)":
            names = campaign_values(self.catalog, campaign, "name")
            return pc.if_else(pc.equal(names, ""), "", pc.binary_join_element_wise("News: ", names, ""))
        if name in ("Field(EmailClickedThruLink)", "Field(Url)", "Field(FirstPageViewUrl)"):
            return pc.binary_join_element_wise("https://www.example.com/p/", asset, "")
        if name == "Field(EmailWebLink)":
            return pc.binary_join_element_wise("https://s.example.com/e/es.aspx?s=", as_text(ids), "")
        if name == "Field(IpAddress)":
            ip = table.column("ip").combine_chunks().to_numpy(zero_copy_only=False)
            octets = [pa.array(((ip >> s) & 255).astype(str)) for s in (24, 16, 8, 0)]
            return pc.binary_join_element_wise(*octets, ".")
        if name == "Field(EmailDeploymentId)":
            return as_text(pc.add(pc.multiply(campaign, 10), 7))
        if name == "Field(EmailRecipientId)":
            return pc.utf8_lpad(as_text(ids), 10, "0")
        if name == "Field(WebVisitId)":
            return as_text(table.column("visitor_id"))
        constant = {"Field(EmailSendType)": "Campaign", "Field(ReferrerUrl)": "https://www.google.com/",
                    "Field(SmtpErrorCode)": "5.1.1", "Field(SmtpStatusCode)": "550",
                    "Field(SmtpMessage)": "550 5.1.1 User unknown", "Field(IsWebTrackingOptedIn)": "true"}
        return pa.array(np.full(n, constant.get(name, ""), dtype=object), pa.string())


class CustomObjectSource:
    max_fields = 250

    def __init__(self, catalog: Catalog, object_id: int):
        self.catalog = catalog
        self.object_id = object_id
        self.entity = f"customObjects/{object_id}"
        self.data = catalog.custom_objects.get(object_id)

    def parse(self, statement: str) -> tuple[str, str] | None:
        """(column, kind) of a custom object statement, or None when it is not one of this object's."""
        m = CUSTOM_OBJECT_RE.match(statement)
        if not m or int(m.group(1)) != self.object_id:
            return None
        field_id, system, contact_field = m.group(2), m.group(3), m.group(4)
        if field_id:
            f = self.data.schema.field_by_id(int(field_id))
            return (f"f{f.id}", KIND[f.data_type]) if f else None
        if contact_field:
            return ("contact:" + contact_field, "contact") if self.catalog.contacts.field(contact_field) else None
        return {"Id": ("id", "number"), "ExternalId": ("external_id", "text"), "CreatedAt": ("created_at", "date"),
                "UpdatedAt": ("updated_at", "date"), "Contact.Id": ("contact_id", "number")}[system]

    def kind_of(self, statement: str) -> str | None:
        parsed = self.parse(statement)
        return parsed[1] if parsed else None

    def filterable(self, statement: str) -> bool:
        return self.kind_of(statement) not in (None, "contact")

    def table(self) -> pa.Table:
        with self.catalog.custom_objects.lock:
            return self.data.table()

    def filter_column(self, table: pa.Table, statement: str):
        column, kind = self.parse(statement)
        return table.column(column), kind

    def output_column(self, table: pa.Table, statement: str) -> pa.Array:
        column, kind = self.parse(statement)
        if kind == "contact":
            return contact_values(self.catalog, table.column("contact_id").combine_chunks(), column[8:])
        return as_text(table.column(column))


CAMPAIGN_RESPONSE_COLUMNS = {
    "{{CampaignResponse.Id}}": ("id", "number"), "{{CampaignResponse.CreatedAt}}": ("created_at", "date"),
    "{{CampaignResponse.Field(MemberStatus)}}": ("member_status", "text"),
    "{{CampaignResponse.Field(IntegrationReturnValue)}}": ("integration_return_value", "text"),
    "{{CampaignResponse.Campaign.Id}}": ("campaign_id", "number"),
    "{{CampaignResponse.Contact.Id}}": ("contact_id", "number"),
}
CAMPAIGN_RESPONSE_DERIVED = {"{{CampaignResponse.Campaign.Field(CampaignName)}}": "name",
                             "{{CampaignResponse.Campaign.Field(CRMCampaignId)}}": "crmId"}
CAMPAIGN_RESPONSE_CONTACT_RE = re.compile(r"^\{\{CampaignResponse\.Contact\.Field\(([A-Za-z0-9_]+)\)\}\}$")


class CampaignResponseSource(CatalogSource):
    entity = "campaignResponses"

    def kind_of(self, statement: str) -> str | None:
        if statement in CAMPAIGN_RESPONSE_COLUMNS:
            return CAMPAIGN_RESPONSE_COLUMNS[statement][1]
        if statement in CAMPAIGN_RESPONSE_DERIVED:
            return "text"
        m = CAMPAIGN_RESPONSE_CONTACT_RE.match(statement)
        return "contact" if m and self.catalog.contacts.field(m.group(1)) else None

    def filterable(self, statement: str) -> bool:
        return statement in CAMPAIGN_RESPONSE_COLUMNS

    def table(self) -> pa.Table:
        return self.catalog.campaign_responses

    def filter_column(self, table: pa.Table, statement: str):
        column, kind = CAMPAIGN_RESPONSE_COLUMNS[statement]
        return table.column(column), kind

    def output_column(self, table: pa.Table, statement: str) -> pa.Array:
        if statement in CAMPAIGN_RESPONSE_COLUMNS:
            return as_text(table.column(CAMPAIGN_RESPONSE_COLUMNS[statement][0]))
        if statement in CAMPAIGN_RESPONSE_DERIVED:
            return campaign_values(self.catalog, table.column("campaign_id").combine_chunks(),
                                   CAMPAIGN_RESPONSE_DERIVED[statement])
        field = CAMPAIGN_RESPONSE_CONTACT_RE.match(statement).group(1)
        return contact_values(self.catalog, table.column("contact_id").combine_chunks(), field)

"""JSON shapes of fields, campaigns and custom objects, as the Bulk and Application APIs return them."""

from __future__ import annotations

from datetime import datetime

from leadsync.connectors.eloqua.sandbox.clock import epoch_str, number_str
from leadsync.connectors.eloqua.sandbox.schema import BULK_DATA_TYPE, ContactField, CustomObject

SYSTEM_CREATED = "1900-01-01T05:00:00.0000000Z"  # what Eloqua shows for fields that came with the instance
DISPLAY_TYPE = {"text": "text", "emailAddress": "text", "largeText": "textArea", "date": "text",
                "numeric": "text", "number": "text"}


def bulk_contact_field(f: ContactField) -> dict:
    return {"name": f.name, "internalName": f.internal_name, "dataType": BULK_DATA_TYPE[f.data_type],
            "hasReadOnlyConstraint": f.read_only, "hasNotNullConstraint": f.not_null,
            "hasUniquenessConstraint": f.unique, "statement": f.statement, "uri": f"/contacts/fields/{f.id}",
            "createdAt": SYSTEM_CREATED, "updatedAt": SYSTEM_CREATED}


def rest_contact_field(f: ContactField, depth: str = "complete") -> dict:
    body = {"type": "ContactField", "id": str(f.id), "createdAt": "-2208970800", "depth": depth, "name": f.name,
            "updatedAt": "-2208970800"}
    if depth != "minimal":
        body.update({"dataType": "text" if f.data_type == "emailAddress" else f.data_type,
                     "displayType": DISPLAY_TYPE[f.data_type], "internalName": f.internal_name,
                     "isReadOnly": str(f.read_only).lower(), "isRequired": str(f.not_null).lower(),
                     "isStandard": str(f.is_standard).lower(), "updateType": "always"})
    return body


def bulk_custom_object_field(co: CustomObject, f) -> dict:
    return {"name": f.name, "internalName": f.internal_name, "dataType": BULK_DATA_TYPE[f.data_type],
            "hasReadOnlyConstraint": False, "hasNotNullConstraint": f.not_null,
            "hasUniquenessConstraint": f.unique, "statement": f.statement(co.id),
            "uri": f"/customObjects/{co.id}/fields/{f.id}"}


def bulk_custom_object_system_fields(co: CustomObject) -> list[dict]:
    """The record-level statements listed with a custom object's fields."""
    def system(name: str, statement: str, data_type: str, unique: bool = False) -> dict:
        return {"name": name, "internalName": name.replace(" ", ""), "dataType": data_type,
                "hasReadOnlyConstraint": statement.endswith(("Id}}", "At}}")) and not unique,
                "hasNotNullConstraint": False, "hasUniquenessConstraint": unique,
                "statement": f"{{{{CustomObject[{co.id}].{statement[2:-2]}}}}}"}
    return [system("Id", "{{Id}}", "number", True), system("External Id", "{{ExternalId}}", "string", True),
            system("Contact Id", "{{Contact.Id}}", "number"), system("Created At", "{{CreatedAt}}", "date"),
            system("Updated At", "{{UpdatedAt}}", "date")]


def rest_custom_object(co: CustomObject, depth: str, user: str) -> dict:
    body = {"type": "CustomObject", "id": str(co.id), "createdAt": "1640995200", "createdBy": user,
            "depth": depth, "name": co.name, "updatedAt": "1640995200", "updatedBy": user}
    if depth == "minimal":
        return body
    body["description"] = co.description
    for key, value in (("uniqueCodeFieldId", co.unique_code_field_id),
                       ("emailAddressFieldId", co.email_address_field_id),
                       ("displayNameFieldId", co.display_name_field_id)):
        if value is not None:
            body[key] = str(value)
    body["fields"] = [{"type": "CustomObjectField", "id": str(f.id), "depth": depth, "name": f.name,
                       "dataType": f.data_type, "displayType": DISPLAY_TYPE[f.data_type],
                       "internalName": f.internal_name, "defaultValue": ""} for f in co.fields]
    return body


def rest_custom_object_record(co: CustomObject, record) -> dict:
    def text(value: object) -> str:
        return epoch_str(value) if isinstance(value, datetime) else number_str(value) if isinstance(value, float) \
            else str(value)
    body = {"type": "CustomObjectData", "id": str(record.id), "depth": "complete",
            "createdAt": text(record.created_at), "updatedAt": text(record.updated_at),
            "fieldValues": [{"type": "FieldValue", "id": str(f.id), "value": text(record.values[f.id])}
                            for f in co.fields if record.values.get(f.id) is not None]}
    if record.contact_id is not None:
        body["contactId"] = str(record.contact_id)
    if co.unique_code_field_id and record.values.get(co.unique_code_field_id) is not None:
        body["uniqueCode"] = text(record.values[co.unique_code_field_id])
    if co.display_name_field_id and record.values.get(co.display_name_field_id) is not None:
        body["name"] = text(record.values[co.display_name_field_id])
    return body


def rest_campaign(c: dict, depth: str, user: str, fields: list[dict]) -> dict:
    body = {"type": "Campaign", "id": str(c["id"]), "createdAt": epoch_str(c["createdAt"]), "createdBy": user,
            "depth": depth, "folderId": "42", "name": c["name"], "updatedAt": epoch_str(c["updatedAt"]),
            "updatedBy": user, "currentStatus": c["currentStatus"]}
    if depth == "minimal":
        return body
    body.update({"permissions": ["Retrieve", "SetSecurity", "Delete", "Update"],
                 "budgetedCost": f"{c['budgetedCost']:.1f}", "actualCost": "0.0",
                 "campaignCategory": "emailMarketing", "crmId": c["crmId"], "description": c["description"],
                 "startAt": epoch_str(c["startAt"]), "endAt": epoch_str(c["endAt"]),
                 "isEmailMarketingCampaign": "false", "isIncludedInROI": "true",
                 "isMemberAllowedReEntry": "false", "isReadOnly": "false", "isSyncedWithCRM": "true"})
    if depth == "complete":
        known = {f["id"] for f in fields}
        body["fieldValues"] = [{"type": "FieldValue", "id": fid, "value": value}
                               for fid, value in c["fieldValues"].items() if fid in known]
        body["elements"] = []
    return body

"""What the Bulk API 2.0 lists for discovery besides contact and account fields: activity fields (per
activity type) and custom objects."""

from __future__ import annotations

import re

from leadsync.connectors.eloqua.sandbox.export_sources import ACTIVITY_COLUMNS, ACTIVITY_TYPE_FIELDS

# ------------------------------------------------------------------------------------------ activity fields

_NUMBER = {"{{Activity.Id}}", "{{Activity.Contact.Id}}", "{{Activity.Visitor.Id}}", "{{Activity.Campaign.Id}}",
           "{{Activity.Asset.Id}}", "{{Activity.Field(NumberOfPages)}}", "{{Activity.Field(Duration)}}"}
_INTERNAL = {"{{Activity.Id}}": "ActivityId", "{{Activity.Type}}": "ActivityType",
             "{{Activity.CreatedAt}}": "ActivityDate", "{{Activity.Contact.Id}}": "ContactId",
             "{{Activity.Visitor.Id}}": "VisitorId", "{{Activity.Visitor.ExternalId}}": "VisitorExternalId",
             "{{Activity.Campaign.Id}}": "CampaignId", "{{Activity.Asset.Id}}": "AssetId",
             "{{Activity.Asset.Type}}": "AssetType", "{{Activity.Asset.Name}}": "AssetName",
             "{{Activity.ExternalId}}": "ExternalId", "{{Activity.Campaign.Field(CampaignName)}}": "CampaignName",
             "{{Activity.Campaign.Field(CRMCampaignId)}}": "CRMCampaignId"}
ACTIVITY_TYPES = tuple(ACTIVITY_TYPE_FIELDS)


def _internal_name(statement: str) -> str:
    if statement in _INTERNAL:
        return _INTERNAL[statement]
    return statement[len("{{Activity.Field("):-3]


def activity_fields(activity_type: str | None = None) -> list[dict]:
    """Every activity field (with the activity types that have it), or those of one type."""
    statements = sorted({s for fields in ACTIVITY_TYPE_FIELDS.values() for s in fields} | set(ACTIVITY_COLUMNS),
                        key=lambda s: (s not in _INTERNAL, s))
    out = []
    for number, statement in enumerate(statements, start=1):
        types = [t for t, fields in ACTIVITY_TYPE_FIELDS.items() if statement in fields]
        if not types or (activity_type is not None and activity_type not in types):
            continue
        internal = _internal_name(statement)
        data_type = ("number" if statement in _NUMBER else "date" if statement == "{{Activity.CreatedAt}}"
                     else "emailAddress" if internal == "EmailAddress" else "string")
        out.append({"name": re.sub(r"(?<=[a-z])(?=[A-Z])", " ", internal), "internalName": internal,
                    "dataType": data_type, "hasReadOnlyConstraint": True, "hasNotNullConstraint": False,
                    "hasUniquenessConstraint": statement == "{{Activity.Id}}", "statement": statement,
                    "activityTypes": types, "uri": f"/activities/fields/{number}"})
    return out


# ------------------------------------------------------------------------------------------ custom objects


def bulk_custom_object(co, user: str) -> dict:
    """A custom object as GET /api/bulk/2.0/customObjects lists it."""
    def uri(field_id: int | None) -> str | None:
        return f"/customObjects/{co.id}/fields/{field_id}" if field_id is not None else None

    body = {"name": co.name, "description": co.description, "displayNameFieldUri": uri(co.display_name_field_id),
            "emailAddressFieldUri": uri(co.email_address_field_id), "uniqueFieldUri": uri(co.unique_code_field_id),
            "uri": f"/customObjects/{co.id}", "createdBy": user, "createdAt": "2022-01-01T00:00:00.0000000Z",
            "updatedBy": user, "updatedAt": "2022-01-01T00:00:00.0000000Z"}
    return {k: v for k, v in body.items() if v is not None}

"""The describe resources: `/sobjects` (describeGlobal), `/sobjects/{Object}` (basic info) and
`/sobjects/{Object}/describe`, in Salesforce's shape (the keys clients and schema checks read)."""

from __future__ import annotations

from typing import Any

from leadsync.connectors.salesforce.sandbox.schema import ID_TYPES, TEXT_TYPES, FieldSpec, ObjectSpec, Schema

_MERGEABLE = {"Lead", "Contact", "Account"}
_NOT_SORTABLE = {"textarea", "multipicklist"}
_NOT_GROUPABLE = {"textarea", "multipicklist", "double", "currency", "percent", "datetime"}


def _urls(version: str, name: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{name}"
    return {"compactLayouts": f"{base}/describe/compactLayouts", "rowTemplate": f"{base}/{{ID}}",
            "approvalLayouts": f"{base}/describe/approvalLayouts",
            "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
            "listviews": f"{base}/listviews", "describe": f"{base}/describe",
            "quickActions": f"{base}/quickActions", "layouts": f"{base}/describe/layouts", "sobject": base}


def global_entry(spec: ObjectSpec, version: str) -> dict[str, Any]:
    urls = _urls(version, spec.name)
    return {
        "activateable": False, "associateEntityType": None, "associateParentEntity": None,
        "createable": spec.createable, "custom": spec.custom, "customSetting": False, "deepCloneable": False,
        "deletable": spec.deletable, "deprecatedAndHidden": False, "feedEnabled": True, "hasSubtypes": False,
        "isInterface": False, "isSubtype": False, "keyPrefix": spec.key_prefix, "label": spec.label,
        "labelPlural": spec.label_plural, "layoutable": True, "mergeable": spec.name in _MERGEABLE,
        "mruEnabled": True, "name": spec.name, "queryable": spec.queryable, "replicateable": True,
        "retrieveable": True, "searchable": True, "triggerable": True, "undeletable": spec.deletable,
        "updateable": spec.createable,
        "urls": {key: urls[key] for key in ("rowTemplate", "defaultValues", "describe", "sobject")},
    }


def describe_global(schema: Schema, version: str) -> dict[str, Any]:
    return {"encoding": "UTF-8", "maxBatchSize": 200,
            "sobjects": [global_entry(spec, version) for spec in schema.objects.values()]}


def basic_info(spec: ObjectSpec, version: str) -> dict[str, Any]:
    return {"objectDescribe": global_entry(spec, version), "recentItems": []}


def describe_field(spec: FieldSpec) -> dict[str, Any]:
    kind = spec.type
    length = spec.max_length if kind in TEXT_TYPES or kind in ID_TYPES else 0
    system_default = spec.name in ("Id", "OwnerId", "CreatedDate", "CreatedById", "LastModifiedDate",
                                   "LastModifiedById", "SystemModstamp", "IsDeleted")
    picklist = [{"active": True, "defaultValue": value == spec.default_value, "label": value, "validFor": None,
                 "value": value} for value in spec.picklist_values]
    return {
        "aggregatable": kind not in _NOT_SORTABLE, "aiPredictionField": False, "autoNumber": False,
        "byteLength": length * 3, "calculated": spec.computed, "calculatedFormula": None,
        "cascadeDelete": False, "caseSensitive": False, "compoundFieldName": None, "controllerName": None,
        "createable": spec.createable, "custom": spec.custom,
        "defaultValue": spec.default_value if kind == "boolean" else None, "defaultValueFormula": None,
        "defaultedOnCreate": system_default or spec.default_value is not None, "dependentPicklist": False,
        "deprecatedAndHidden": False, "digits": spec.precision if kind == "int" else 0,
        "displayLocationInDecimal": False, "encrypted": False, "externalId": spec.external_id,
        "extraTypeInfo": "personname" if spec.name == "Name" and spec.computed else None,
        "filterable": kind != "textarea", "filteredLookupInfo": None, "formulaTreatNullNumberAsZero": False,
        "groupable": kind not in _NOT_GROUPABLE, "highScaleNumber": False, "htmlFormatted": False,
        "idLookup": kind == "id" or spec.external_id or spec.name in ("Email", "Username"),
        "inlineHelpText": None, "label": spec.display_label, "length": length, "mask": None, "maskType": None,
        "name": spec.name, "nameField": spec.name_field, "namePointing": len(spec.reference_to) > 1,
        "nillable": spec.nillable, "permissionable": spec.nillable and not system_default,
        "picklistValues": picklist, "polymorphicForeignKey": len(spec.reference_to) > 1,
        "precision": spec.precision if kind in ("double", "currency", "percent") else 0,
        "queryByDistance": False, "referenceTargetField": None, "referenceTo": list(spec.reference_to),
        "relationshipName": spec.relationship_name, "relationshipOrder": None, "restrictedDelete": False,
        "restrictedPicklist": spec.restricted_picklist,
        "scale": 2 if kind == "currency" else spec.scale, "searchPrefilterable": False,
        "soapType": spec.soap_type, "sortable": kind not in _NOT_SORTABLE, "type": kind,
        "unique": spec.unique, "updateable": spec.updateable, "writeRequiresMasterRead": False,
    }


# Child relationship names of the standard lookups (Account.Contacts, Campaign.CampaignMembers, ...), as
# SOQL sub-queries and sObject Tree requests name them. Lookups not listed have none.
CHILD_RELATIONSHIPS = {
    ("Contact", "AccountId"): "Contacts", ("Opportunity", "AccountId"): "Opportunities",
    ("CampaignMember", "CampaignId"): "CampaignMembers", ("CampaignMember", "LeadId"): "CampaignMembers",
    ("CampaignMember", "ContactId"): "CampaignMembers", ("Campaign", "ParentId"): "ChildCampaigns",
    ("Task", "WhoId"): "Tasks", ("Task", "WhatId"): "Tasks", ("Event", "WhoId"): "Events",
    ("Event", "WhatId"): "Events",
}


def _children(spec: ObjectSpec, schema: Schema) -> list[tuple[ObjectSpec, FieldSpec]]:
    return [(child, field_spec) for child in schema.objects.values() for field_spec in child.fields.values()
            if field_spec.type == "reference" and spec.name in field_spec.reference_to]


def child_relationship(schema: Schema, spec: ObjectSpec, name: str) -> tuple[ObjectSpec, str] | None:
    """The child object and its lookup field behind `spec`'s child relationship `name` (any case)."""
    for child, field_spec in _children(spec, schema):
        if CHILD_RELATIONSHIPS.get((child.name, field_spec.name), "").lower() == name.lower():
            return child, field_spec.name
    return None


def _child_relationships(spec: ObjectSpec, schema: Schema) -> list[dict[str, Any]]:
    return [{"cascadeDelete": child.name == "CampaignMember", "childSObject": child.name,
             "deprecatedAndHidden": False, "field": field_spec.name, "junctionIdListNames": [],
             "junctionReferenceTo": [], "relationshipName": CHILD_RELATIONSHIPS.get((child.name, field_spec.name)),
             "restrictedDelete": False} for child, field_spec in _children(spec, schema)]


def describe_object(spec: ObjectSpec, schema: Schema, version: str) -> dict[str, Any]:
    urls = _urls(version, spec.name)
    urls.update({"uiDetailTemplate": "https://leadsync-sandbox.my.salesforce.com/{ID}",
                 "uiEditTemplate": "https://leadsync-sandbox.my.salesforce.com/{ID}/e",
                 "uiNewRecord": f"https://leadsync-sandbox.my.salesforce.com/{spec.key_prefix}/e"})
    body = global_entry(spec, version)
    body.update({
        "actionOverrides": [], "childRelationships": _child_relationships(spec, schema),
        "compactLayoutable": True, "defaultImplementation": None, "extendedBy": None,
        "extendsInterfaces": None, "fields": [describe_field(f) for f in spec.fields.values()],
        "implementedBy": None, "implementsInterfaces": None, "listviewable": None, "lookupLayoutable": None,
        "namedLayoutInfos": [], "networkScopeFieldName": None,
        "recordTypeInfos": [{"active": True, "available": True, "defaultRecordTypeMapping": True,
                             "developerName": "Master", "master": True, "name": "Master",
                             "recordTypeId": "012000000000000AAA",
                             "urls": {"layout": f"/services/data/v{version}/sobjects/{spec.name}/describe/"
                                                "layouts/012000000000000AAA"}}],
        "searchLayoutable": True, "sobjectDescribeOption": "FULL",
        "supportedScopes": [{"label": "All " + spec.label_plural.lower(), "name": "everything"},
                            {"label": "My " + spec.label_plural.lower(), "name": "mine"}],
        "urls": urls,
    })
    return body

"""The sandbox's object model: which objects exist, their fields, types, picklists and external ids.

`Schema.default()` holds the objects leadsync uses (see `standard_objects`); callers add their own custom
fields and picklist values at construction:

    schema = Schema.default(extra_fields={"Lead": [FieldSpec("Partner_Tier__c", "picklist",
                                                             picklist_values=("Gold", "Silver"))]})

Field and object names are matched case-insensitively, as Salesforce does; results use the declared
spelling.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "picklist", "multipicklist",
                        "combobox"})
ID_TYPES = frozenset({"id", "reference"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})
FIELD_TYPES = TEXT_TYPES | ID_TYPES | NUMBER_TYPES | {"boolean", "date", "datetime"}

_DEFAULT_LENGTH = {"string": 255, "textarea": 32768, "email": 80, "phone": 40, "url": 255, "picklist": 255,
                   "multipicklist": 4099, "combobox": 255, "id": 18, "reference": 18}
_SOAP_TYPE = {"id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int",
              "double": "xsd:double", "currency": "xsd:double", "percent": "xsd:double", "date": "xsd:date",
              "datetime": "xsd:dateTime"}


@dataclass(frozen=True)
class FieldSpec:
    """One field. `type` is a Salesforce field type (string, email, picklist, reference, datetime, ...).

    `required` means the API refuses a create without it (REQUIRED_FIELD_MISSING); `restricted_picklist`
    means values outside `picklist_values` are refused (INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST)."""

    name: str
    type: str = "string"
    label: str | None = None
    length: int | None = None
    required: bool = False
    picklist_values: tuple[str, ...] = ()
    restricted_picklist: bool = False
    default_value: Any = None
    external_id: bool = False
    unique: bool = False
    createable: bool = True
    updateable: bool = True
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    precision: int = 18
    scale: int = 0
    name_field: bool = False
    compute: Callable[[Mapping[str, Any]], Any] | None = field(default=None, compare=False, repr=False)
    depends_on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise ValueError(f"field {self.name}: unknown type {self.type!r}; use one of {sorted(FIELD_TYPES)}")
        if self.type in ("picklist", "multipicklist") and self.restricted_picklist and not self.picklist_values:
            raise ValueError(f"field {self.name}: a restricted picklist needs picklist_values")
        if self.type == "reference" and not self.reference_to:
            raise ValueError(f"field {self.name}: a reference field needs reference_to")

    @property
    def display_label(self) -> str:
        if self.label:
            return self.label
        base = self.name.removesuffix("__c")
        return base.replace("_", " ")

    @property
    def max_length(self) -> int:
        return self.length if self.length is not None else _DEFAULT_LENGTH.get(self.type, 0)

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def computed(self) -> bool:
        return self.compute is not None

    @property
    def nillable(self) -> bool:
        return not self.required and self.type not in ("boolean", "id")

    @property
    def soap_type(self) -> str:
        return _SOAP_TYPE.get(self.type, "xsd:string")


@dataclass
class ObjectSpec:
    """One sObject: its name, key prefix and fields (in describe order)."""

    name: str
    key_prefix: str
    label: str
    label_plural: str
    fields: dict[str, FieldSpec]
    createable: bool = True
    deletable: bool = True
    queryable: bool = True
    _by_lower: dict[str, FieldSpec] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._reindex()

    def _reindex(self) -> None:
        self._by_lower = {name.lower(): spec for name, spec in self.fields.items()}

    def field(self, name: str) -> FieldSpec | None:
        """The field named `name` (any case), or None."""
        return self._by_lower.get(name.lower())

    def relationship(self, name: str) -> FieldSpec | None:
        """The reference field whose relationship name is `name` (any case): "Campaign" -> CampaignId."""
        lowered = name.lower()
        for spec in self.fields.values():
            if spec.relationship_name and spec.relationship_name.lower() == lowered:
                return spec
        return None

    @property
    def stored_fields(self) -> list[FieldSpec]:
        return [spec for spec in self.fields.values() if not spec.computed]

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    def add_field(self, spec: FieldSpec) -> None:
        if spec.name.lower() in self._by_lower:
            existing = self._by_lower[spec.name.lower()].name
            self.fields.pop(existing)
        self.fields[spec.name] = spec
        self._reindex()


class Schema:
    """The objects of the sandbox org, looked up by name (any case) or by id key prefix."""

    def __init__(self, objects: Iterable[ObjectSpec]):
        self.objects: dict[str, ObjectSpec] = {}
        for spec in objects:
            self.objects[spec.name] = spec
        self._reindex()

    def _reindex(self) -> None:
        self._by_lower = {name.lower(): spec for name, spec in self.objects.items()}
        self._by_prefix = {spec.key_prefix: spec for spec in self.objects.values()}

    @classmethod
    def default(cls, extra_fields: Mapping[str, Sequence[FieldSpec]] | None = None,
                picklists: Mapping[str, Mapping[str, Sequence[str]]] | None = None) -> Schema:
        """The standard objects leadsync uses plus its writeback custom fields (`standard_objects`), with
        `extra_fields` ({"Lead": [FieldSpec(...)]}) added and `picklists` ({"Lead": {"Status": [...]}})
        replacing the values of existing picklists."""
        from leadsync.connectors.salesforce.sandbox.standard_objects import standard_objects

        schema = cls(copy.deepcopy(standard_objects()))
        for object_name, specs in (extra_fields or {}).items():
            for spec in specs:
                schema.add_field(object_name, spec)
        for object_name, values_by_field in (picklists or {}).items():
            for field_name, values in values_by_field.items():
                schema.set_picklist_values(object_name, field_name, values)
        return schema

    def object(self, name: str) -> ObjectSpec | None:
        return self._by_lower.get(name.lower())

    def by_prefix(self, record_id: str) -> ObjectSpec | None:
        return self._by_prefix.get(record_id[:3])

    def add_object(self, spec: ObjectSpec) -> None:
        self.objects[spec.name] = spec
        self._reindex()

    def add_field(self, object_name: str, spec: FieldSpec) -> None:
        """Add (or replace) a field on an existing object."""
        target = self._require(object_name)
        target.add_field(spec)

    def set_picklist_values(self, object_name: str, field_name: str, values: Sequence[str],
                            restricted: bool | None = None, default: str | None = None) -> None:
        """Replace a picklist's values. The default value is `default`, else the old default if still
        allowed, else (for a required picklist) the first value."""
        target = self._require(object_name)
        spec = target.field(field_name)
        if spec is None or spec.type not in ("picklist", "multipicklist"):
            raise KeyError(f"{object_name}.{field_name} is not a picklist field")
        if default is None:
            default = spec.default_value if spec.default_value in values else None
        if default is None and spec.required and values:
            default = values[0]
        target.add_field(replace(spec, picklist_values=tuple(values), default_value=default,
                                 restricted_picklist=spec.restricted_picklist if restricted is None
                                 else restricted))

    def _require(self, object_name: str) -> ObjectSpec:
        target = self.object(object_name)
        if target is None:
            raise KeyError(f"no object {object_name!r} in the sandbox schema; known: {sorted(self.objects)}")
        return target

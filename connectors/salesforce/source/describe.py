"""What describe says about an object: its fields, their types, its relationships and its id prefix.

Salesforce matches field names case-insensitively; `canonical()` gives describe's spelling. Dotted paths
("Owner.Name") are checked up to the relationship (the parent's field is left to the query to check).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from leadsync.connectors.api_client import ApiConfigError


@dataclass(frozen=True)
class ObjectDescription:
    name: str
    key_prefix: str | None
    fields: Mapping[str, Mapping[str, Any]]  # lower-case name → describe's field entry
    relationships: Mapping[str, Mapping[str, Any]]  # lower-case relationship name → the lookup field's entry

    @classmethod
    def from_describe(cls, body: Mapping[str, Any]) -> ObjectDescription:
        fields = {f["name"].lower(): f for f in body.get("fields", [])}
        relationships = {f["relationshipName"].lower(): f for f in body.get("fields", [])
                         if f.get("relationshipName")}
        return cls(body["name"], body.get("keyPrefix"), fields, relationships)

    def field(self, name: str) -> Mapping[str, Any] | None:
        return self.fields.get(name.lower())

    def canonical(self, path: str) -> str | None:
        """describe's spelling of a field or "Relationship.Field" path; None when there is no such field."""
        head, dot, rest = path.partition(".")
        if not dot:
            entry = self.field(path)
            return entry["name"] if entry else None
        if head.lower() == self.name.lower():
            return self.canonical(rest)
        link = self.relationships.get(head.lower())
        return f"{link['relationshipName']}.{rest}" if link and rest else None

    def type_of(self, path: str) -> str:
        """describe's type of a field ("string" for a parent's field, which describe of this object omits)."""
        entry = self.field(path) if "." not in path else None
        return str(entry["type"]) if entry else "string"

    def require(self, names: Iterable[str]) -> dict[str, str]:
        """{name as given: describe's spelling}; ApiConfigError "<Object> has no field '<X>'" for the first
        unknown one (others are named after it)."""
        known, missing = {}, []
        for name in names:
            canonical = self.canonical(name) if isinstance(name, str) and name else None
            if canonical is None:
                missing.append(name)
            else:
                known[name] = canonical
        if missing:
            others = ", ".join(f"'{m}'" for m in missing[1:])
            nor = f" (nor {others})" if others else ""
            raise ApiConfigError(f"{self.name} has no field '{missing[0]}'{nor}")
        return known

    def types(self) -> dict[str, str]:
        return {entry["name"]: str(entry["type"]) for entry in self.fields.values()}

    def owns(self, record_id: str | None) -> bool:
        """Whether `record_id` is an id of this object (by its key prefix)."""
        return bool(record_id) and self.key_prefix is not None and str(record_id)[:3] == self.key_prefix

"""Custom objects leadsync writes to (opportunities, partner events, optionally statuses): found by name or id
through the Application API, their fields and statements through the Bulk API."""

from __future__ import annotations

from dataclasses import dataclass

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.eloqua.source.client import EloquaClient


@dataclass(frozen=True)
class ObjectField:
    id: str
    name: str
    internal_name: str
    data_type: str  # Bulk data type: string | date | number | emailAddress
    statement: str
    unique: bool


@dataclass(frozen=True)
class CustomObjectInfo:
    id: str
    name: str
    fields: tuple[ObjectField, ...]
    email_field_id: str | None  # the field Eloqua links records to contacts by (emailAddressFieldId)
    unique_field_id: str | None

    @property
    def entity(self) -> str:
        return f"customObjects/{self.id}"

    def field(self, name: str) -> ObjectField:
        """A field by name, internal name or id (case-insensitive); ApiConfigError when there is none."""
        wanted = str(name).strip().lower()
        for f in self.fields:
            if wanted in (f.name.lower(), f.internal_name.lower(), f.id):
                return f
        raise ApiConfigError(f"Eloqua custom object {self.name!r} (id {self.id}) has no field {name!r}; its fields: "
                             f"{[f.name for f in self.fields]}")

    @property
    def email_field(self) -> ObjectField | None:
        return next((f for f in self.fields if f.id == self.email_field_id), None)


class CustomObjects:
    def __init__(self, client: EloquaClient):
        self.client = client
        self._known: dict[str, CustomObjectInfo] = {}

    def get(self, ref: str) -> CustomObjectInfo:
        """The custom object named `ref` (or with id `ref`), looked up once per source."""
        key = str(ref).strip()
        if key not in self._known:
            self._known[key] = self._load(key)
        return self._known[key]

    def _load(self, ref: str) -> CustomObjectInfo:
        rest = self.client.endpoints.rest("2.0")
        found = None
        if ref.isdigit():
            answer = self.client.request("GET", f"{rest}/assets/customObject/{ref}", what=f"Eloqua custom object {ref}",
                                         params={"depth": "complete"}, allow=(404,))
            found = answer.json() if answer.status_code != 404 else None
        # Search by name first; list them all when the search finds nothing (search syntax varies by release).
        for params in ({"depth": "complete", "search": f"name='{ref}'"}, {"depth": "complete"}):
            if found is not None:
                break
            for element in self.client.rest_elements(f"{rest}/assets/customObjects", "Eloqua custom objects",
                                                     params):
                if str(element.get("name", "")).strip().lower() == ref.lower():
                    found = element
                    break
        if found is None:
            raise ApiConfigError(f"Eloqua has no custom object named {ref!r}: create it (with a unique field for "
                                 "the external id) or set the object name/id in the Eloqua settings")
        object_id = str(found["id"])
        items = list(self.client.bulk_items(f"/customObjects/{object_id}/fields",
                                            f"Eloqua custom object {object_id} fields"))
        by_statement = {i.get("statement"): i for i in items}
        unique_id = str(found.get("uniqueCodeFieldId") or "") or None
        fields = []
        for f in found.get("fields") or []:
            statement = "{{CustomObject[%s].Field[%s]}}" % (object_id, f["id"])  # noqa: UP031 - EML braces
            item = by_statement.get(statement, {})
            fields.append(ObjectField(str(f["id"]), f.get("name") or item.get("name", ""),
                                      f.get("internalName") or item.get("internalName", ""),
                                      item.get("dataType") or f.get("dataType", "string"), statement,
                                      bool(item.get("hasUniquenessConstraint")) or str(f["id"]) == unique_id))
        email_id = str(found.get("emailAddressFieldId") or "") or None
        return CustomObjectInfo(object_id, found.get("name", ref), tuple(fields), email_id, unique_id)

"""Custom objects (Eloqua's "custom data objects"): their definitions and their records.

Records are few compared with contacts (opportunities, partner events), so they live as Python dicts with an
index per unique field; exports turn them into an Arrow table on demand.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from leadsync.connectors.eloqua.sandbox.contacts import TIMESTAMP
from leadsync.connectors.eloqua.sandbox.schema import CustomObject, CustomObjectField


@dataclass
class CustomObjectRecord:
    id: int
    values: dict[int, object]  # field id -> str | float | datetime | None
    contact_id: int | None = None
    external_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class CustomObjectData:
    schema: CustomObject
    records: dict[int, CustomObjectRecord] = field(default_factory=dict)
    next_record_id: int = 1

    def find(self, field_id: int, value: object) -> CustomObjectRecord | None:
        """The record whose field holds `value` (text compares case-insensitively)."""
        wanted = value.lower() if isinstance(value, str) else value
        for record in self.records.values():
            got = record.values.get(field_id)
            if (got.lower() if isinstance(got, str) else got) == wanted:
                return record
        return None

    def index(self, field_id: int) -> dict[object, int]:
        """value -> record id for one field, built once per import sync."""
        out: dict[object, int] = {}
        for record in self.records.values():
            got = record.values.get(field_id)
            if got is not None:
                out.setdefault(got.lower() if isinstance(got, str) else got, record.id)
        return out

    def table(self) -> pa.Table:
        records = sorted(self.records.values(), key=lambda r: r.id)
        columns: dict[str, pa.Array] = {
            "id": pa.array([r.id for r in records], pa.int64()),
            "external_id": pa.array([r.external_id for r in records], pa.string()),
            "contact_id": pa.array([r.contact_id for r in records], pa.int64()),
            "created_at": pa.array([r.created_at for r in records], TIMESTAMP),
            "updated_at": pa.array([r.updated_at for r in records], TIMESTAMP),
        }
        for f in self.schema.fields:
            columns[f"f{f.id}"] = pa.array([r.values.get(f.id) for r in records], arrow_type(f))
        return pa.table(columns)


def arrow_type(f: CustomObjectField) -> pa.DataType:
    return {"date": TIMESTAMP, "number": pa.float64(), "numeric": pa.float64()}.get(f.data_type, pa.string())


class CustomObjectStore:
    def __init__(self, objects: list[CustomObject]):
        self.lock = threading.RLock()
        self.objects: dict[int, CustomObjectData] = {o.id: CustomObjectData(o) for o in objects}

    def get(self, object_id: int) -> CustomObjectData | None:
        return self.objects.get(object_id)

    def add(self, schema: CustomObject) -> CustomObject:
        with self.lock:
            if schema.id in self.objects:
                raise ValueError(f"custom object {schema.id} already exists")
            used = {f.id for data in self.objects.values() for f in data.schema.fields}
            clash = used & {f.id for f in schema.fields}
            if clash:
                raise ValueError(f"custom object field ids already used: {sorted(clash)}")
            self.objects[schema.id] = CustomObjectData(schema)
        return schema

    def next_object_id(self) -> int:
        return max(self.objects, default=0) + 1

    def next_field_id(self) -> int:
        return max((f.id for d in self.objects.values() for f in d.schema.fields), default=100) + 1

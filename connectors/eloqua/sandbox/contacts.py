"""The contact database of the sandbox: one Arrow table, a column per contact field.

Arrow keeps 300,000 contacts in a few tens of megabytes and lets exports filter and project them with
vectorised kernels. The table is replaced, never mutated in place, so a reader holding the previous table (an
export being staged) is never disturbed by an import being applied.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leadsync.connectors.eloqua.sandbox.schema import ContactField

TIMESTAMP = pa.timestamp("ms")
# System columns next to the fields: the contact id and the email group flags exports can read.
SYSTEM_COLUMNS = {"id": pa.int64(), "_subscribed": pa.bool_(), "_bounced": pa.bool_(),
                  "_email_format": pa.string()}


def arrow_type(f: ContactField) -> pa.DataType:
    return {"date": TIMESTAMP, "numeric": pa.float64()}.get(f.data_type, pa.string())


def contact_id_ext(ids: pa.Array | Iterable[int]) -> pa.Array:
    """Eloqua's "Eloqua Contact ID" text field: a site prefix and the zero-padded contact id."""
    ids = ids if isinstance(ids, pa.Array) else pa.array(list(ids), pa.int64())
    return pc.binary_join_element_wise("CLSYN", pc.utf8_lpad(pc.cast(ids, pa.string()), 12, "0"), "")


class ArrowRecords:
    """Records as an Arrow table sorted by `id`, replaced (never mutated) on each write. Thread-safe for the
    sandbox's use: writers hold `lock`. Contacts and accounts are kept this way."""

    def __init__(self, table: pa.Table):
        self.lock = threading.RLock()
        self.table = table
        self._ids: np.ndarray | None = None

    def __len__(self) -> int:
        return self.table.num_rows

    def next_id(self) -> int:
        ids = self.ids()
        return int(ids[-1]) + 1 if len(ids) else 1

    def ids(self) -> np.ndarray:
        if self._ids is None:
            self._ids = self.table.column("id").to_numpy()
        return self._ids

    def positions_for_ids(self, ids: Iterable[int]) -> np.ndarray:
        """Row positions of these record ids; -1 where there is no such record."""
        all_ids = self.ids()
        wanted = np.asarray(list(ids), dtype=np.int64)
        if not len(all_ids):
            return np.full(len(wanted), -1, dtype=np.int64)
        pos = np.searchsorted(all_ids, wanted)
        found = (pos < len(all_ids)) & (all_ids[np.minimum(pos, len(all_ids) - 1)] == wanted)
        return np.where(found, pos, -1)

    def positions_for_text(self, column: str, values: Iterable[str]) -> np.ndarray:
        """Row positions of the first record (lowest id) whose `column` equals each value, ignoring case as
        Eloqua matches; -1 where none does."""
        lowered = self._lowered(column)
        wanted = pc.utf8_lower(pa.array([v.strip() for v in values], pa.string()))
        found = pc.index_in(wanted, value_set=lowered)
        return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)

    def _lowered(self, column: str) -> pa.Array:
        return pc.utf8_lower(self.table.column(column).combine_chunks())

    def row(self, position: int) -> dict[str, object]:
        return {name: col[0] for name, col in self.table.slice(position, 1).to_pydict().items()}

    def apply(self, updates: dict[int, dict[str, object]], new_rows: list[dict[str, object]] | None = None,
              ) -> None:
        """Set columns of existing rows (position -> {column: value}) and append new rows (ids included).
        Values are Python values of the column's type (str, datetime, float, bool) or None."""
        with self.lock:
            table = self.table
            if updates:
                positions = np.array(sorted(updates), dtype=np.int64)
                touched = sorted({col for change in updates.values() for col in change})
                for col in touched:
                    rows = [p for p in positions if col in updates[p]]
                    mask = np.zeros(table.num_rows, dtype=bool)
                    mask[rows] = True
                    column = table.column(col).combine_chunks()
                    values = pa.array([updates[p][col] for p in rows], column.type)
                    replaced = pc.replace_with_mask(column, pa.array(mask), values)
                    table = table.set_column(table.column_names.index(col), col, replaced)
            if new_rows:
                appended = pa.Table.from_pylist(
                    [{name: r.get(name) for name in table.column_names} for r in new_rows], schema=table.schema)
                table = pa.concat_tables([table, appended]).combine_chunks()
            self.table = table
            self._changed()

    def _changed(self) -> None:
        """Drop lookup caches after the table was replaced."""
        self._ids = None


class ContactStore(ArrowRecords):
    """Contacts: a column per contact field next to the system columns."""

    def __init__(self, fields: Iterable[ContactField], table: pa.Table | None = None):
        self._fields: dict[str, ContactField] = {}
        for f in fields:
            self._fields[f.internal_name.lower()] = f
        super().__init__(table if table is not None else self._empty_table())
        self._ensure_columns()
        self._emails_lower: pa.Array | None = None

    # ------------------------------------------------------------------ schema

    @property
    def fields(self) -> list[ContactField]:
        return sorted(self._fields.values(), key=lambda f: f.id)

    def field(self, internal_name: str) -> ContactField | None:
        return self._fields.get(internal_name.lower())

    def field_by_id(self, field_id: int) -> ContactField | None:
        return next((f for f in self._fields.values() if f.id == field_id), None)

    def add_field(self, f: ContactField) -> ContactField:
        with self.lock:
            if f.internal_name.lower() in self._fields:
                raise ValueError(f"contact field {f.internal_name} already exists")
            if any(existing.id == f.id for existing in self._fields.values()):
                raise ValueError(f"contact field id {f.id} already used")
            self._fields[f.internal_name.lower()] = f
            self.table = self.table.append_column(f.internal_name, pa.nulls(self.table.num_rows, arrow_type(f)))
        return f

    def _empty_table(self) -> pa.Table:
        schema = pa.schema([(name, t) for name, t in SYSTEM_COLUMNS.items()]
                           + [(f.internal_name, arrow_type(f)) for f in self.fields])
        return schema.empty_table()

    def _ensure_columns(self) -> None:
        n = self.table.num_rows
        for name, t in SYSTEM_COLUMNS.items():
            if name not in self.table.column_names:
                self.table = self.table.append_column(name, pa.nulls(n, t))
        for f in self.fields:
            if f.internal_name not in self.table.column_names:
                self.table = self.table.append_column(f.internal_name, pa.nulls(n, arrow_type(f)))

    # ------------------------------------------------------------------ lookups

    def positions_for_emails(self, emails: Iterable[str]) -> np.ndarray:
        """Row positions of these email addresses (case-insensitive, as Eloqua matches); -1 where unknown."""
        return self.positions_for_text("C_EmailAddress", emails)

    def _lowered(self, column: str) -> pa.Array:
        if column != "C_EmailAddress":
            return super()._lowered(column)
        if self._emails_lower is None:
            self._emails_lower = super()._lowered(column)
        return self._emails_lower

    def _changed(self) -> None:
        super()._changed()
        self._emails_lower = None


def to_timestamp(value: datetime) -> datetime:
    """Naive UTC datetime at millisecond precision, the way the table stores dates."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)

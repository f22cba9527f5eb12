"""The sandbox's records, kept column by column in memory.

Each object is a `Table`: one Python list per field that holds any value (a field nobody has set costs
nothing), an Id -> row map, and lazily built indexes on external-id/unique fields. Values are kept in their
wire form (strings for text, ids, dates and date-times; int/float/bool for the rest), so queries compare
strings and the REST layer serialises without conversion. Deleted records stay (IsDeleted = true) for
queryAll.

All access goes through `RecordStore.lock` (an RLock): the HTTP handlers, bulk job workers and test code
run on different threads. `transaction()` records an undo log so a failed allOrNone request rolls back.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from leadsync.connectors.salesforce.sandbox.ids import IdAllocator, looks_like_id, to_18
from leadsync.connectors.sandbox_writes import WriteCounts
from leadsync.connectors.salesforce.sandbox.schema import ObjectSpec, Schema


class NullColumn(Sequence):
    """A column no record has a value in."""

    def __init__(self, size: int):
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [None] * len(range(*index.indices(self.size)))
        return None

    def __iter__(self) -> Iterator[None]:
        return itertools.repeat(None, self.size)


def index_key(value: Any) -> Any:
    """External ids and unique text values match case-insensitively."""
    return value.casefold() if isinstance(value, str) else value


class Table:
    """The records of one object."""

    def __init__(self, spec: ObjectSpec):
        self.spec = spec
        self.size = 0
        self.columns: dict[str, list] = {}
        self.row_of_id: dict[str, int] = {}
        self._indexes: dict[str, dict[Any, list[int]]] = {}

    # ------------------------------------------------------------------ reading

    def get(self, row: int, name: str) -> Any:
        spec = self.spec.fields.get(name)
        if spec is None:
            return None  # e.g. IsDeleted on User, which has none
        if spec.compute is not None:
            return spec.compute({dep: self.get(row, dep) for dep in spec.depends_on})
        column = self.columns.get(name)
        return None if column is None else column[row]

    def column(self, name: str) -> Sequence:
        """All values of a field, row by row (computed fields are computed; a field the object does not
        have reads as null)."""
        spec = self.spec.fields.get(name)
        if spec is None:
            return NullColumn(self.size)
        if spec.compute is not None:
            deps = spec.depends_on
            columns = [self.column(dep) for dep in deps]
            return [spec.compute(dict(zip(deps, values, strict=True)))
                    for values in zip(*columns, strict=True)]
        column = self.columns.get(name)
        return NullColumn(self.size) if column is None else column

    def row(self, record_id: str) -> int | None:
        if not looks_like_id(record_id):
            return None
        return self.row_of_id.get(to_18(record_id))

    def is_deleted(self, row: int) -> bool:
        return bool(self.get(row, "IsDeleted"))

    def record(self, row: int, names: Sequence[str] | None = None) -> dict[str, Any]:
        return {name: self.get(row, name) for name in (names or list(self.spec.fields))}

    def find(self, name: str, value: Any, include_deleted: bool = False) -> list[int]:
        """Rows whose `name` equals `value` (case-insensitively for text)."""
        rows = self._index(name).get(index_key(value), [])
        return [r for r in rows if include_deleted or not self.is_deleted(r)]

    def _index(self, name: str) -> dict[Any, list[int]]:
        index = self._indexes.get(name)
        if index is None:
            index = {}
            for row, value in enumerate(self.column(name)):
                if value is not None:
                    index.setdefault(index_key(value), []).append(row)
            self._indexes[name] = index
        return index

    # ------------------------------------------------------------------ writing (callers hold the lock)

    def append(self, values: Mapping[str, Any]) -> int:
        row = self.size
        for name, column in self.columns.items():
            column.append(values.get(name))
        for name, value in values.items():
            if value is not None and name not in self.columns:
                self.columns[name] = [None] * row + [value]
        self.size += 1
        self.row_of_id[values["Id"]] = row
        for name, index in self._indexes.items():
            value = values.get(name)
            if value is not None:
                index.setdefault(index_key(value), []).append(row)
        return row

    def append_columns(self, columns: Mapping[str, Sequence], count: int) -> range:
        """Append `count` records given column-wise (seeding); returns their rows."""
        start = self.size
        for name, column in self.columns.items():
            given = columns.get(name)
            column.extend(given if given is not None else itertools.repeat(None, count))
        for name, given in columns.items():
            if name not in self.columns:
                self.columns[name] = [None] * start + list(given)
        self.size += count
        self.row_of_id.update(zip(columns["Id"], range(start, start + count), strict=True))
        self._indexes.clear()
        return range(start, start + count)

    def set(self, row: int, name: str, value: Any) -> Any:
        """Set one value; returns the old one."""
        column = self.columns.get(name)
        if column is None:
            if value is None:
                return None
            column = self.columns[name] = [None] * self.size
        old = column[row]
        column[row] = value
        index = self._indexes.get(name)
        if index is not None and old != value:
            if old is not None:
                rows = index.get(index_key(old), [])
                if row in rows:
                    rows.remove(row)
            if value is not None:
                index.setdefault(index_key(value), []).append(row)
        return old

    def pop_last(self) -> None:
        row = self.size - 1
        record_id = self.columns["Id"][row]
        for name, index in self._indexes.items():
            value = self.columns[name][row] if name in self.columns else None
            if value is not None:
                rows = index.get(index_key(value), [])
                if row in rows:
                    rows.remove(row)
        for column in self.columns.values():
            column.pop()
        self.size -= 1
        self.row_of_id.pop(record_id, None)


class Transaction:
    def __init__(self, store: RecordStore, mark: int):
        self._store = store
        self._mark = mark

    def rollback(self) -> None:
        """Undo every change made since this transaction (or savepoint) began."""
        self._store._undo_to(self._mark)


class RecordStore:
    """Every table of the sandbox org, one lock, ids and an undo log."""

    def __init__(self, schema: Schema, ids: IdAllocator | None = None):
        self.schema = schema
        self.lock = threading.RLock()
        self.ids = ids or IdAllocator()
        self.tables: dict[str, Table] = {name: Table(spec) for name, spec in schema.objects.items()}
        self.changes = 0  # counts writes; persistence saves when it moved
        self._undo: list[tuple] | None = None

    def table(self, object_name: str) -> Table | None:
        spec = self.schema.object(object_name)
        return None if spec is None else self.tables[spec.name]

    def locate(self, record_id: str) -> tuple[Table, int] | None:
        """The table and row of any record id (15 or 18 characters), or None."""
        if not looks_like_id(record_id):
            return None
        spec = self.schema.by_prefix(record_id)
        if spec is None:
            return None
        table = self.tables[spec.name]
        row = table.row(record_id)
        return None if row is None else (table, row)

    def count(self, object_name: str, include_deleted: bool = False) -> int:
        table = self.table(object_name)
        if table is None:
            raise KeyError(object_name)
        with self.lock:
            if include_deleted:
                return table.size
            return sum(1 for deleted in table.column("IsDeleted") if not deleted)

    # ------------------------------------------------------------------ changes with undo

    def insert_row(self, table: Table, values: Mapping[str, Any]) -> int:
        with self.lock:
            row = table.append(values)
            if self._undo is not None:
                self._undo.append(("append", table))
            self.changes += 1
            return row

    def set_value(self, table: Table, row: int, name: str, value: Any) -> None:
        with self.lock:
            old = table.set(row, name, value)
            if self._undo is not None:
                self._undo.append(("set", table, row, name, old))
            self.changes += 1

    def count_write(self, counts: WriteCounts, object_name: str, record_id: str, fields: Sequence[str]) -> None:
        """Count a served write; a rollback of the transaction it is part of takes the count back."""
        with self.lock:
            counts.add(object_name, record_id, fields)
            if self._undo is not None:
                self._undo.append(("count", counts, object_name, record_id, tuple(fields)))

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Changes inside can be rolled back (`tx.rollback()`, or any exception). Holds the lock."""
        with self.lock:
            owner = self._undo is None
            if owner:
                self._undo = []
            tx = Transaction(self, len(self._undo))
            try:
                yield tx
            except BaseException:
                tx.rollback()
                raise
            finally:
                if owner:
                    self._undo = None

    def _undo_to(self, mark: int) -> None:
        with self.lock:
            undo = self._undo
            if undo is None:
                return
            while len(undo) > mark:
                entry = undo.pop()
                if entry[0] == "append":
                    entry[1].pop_last()
                elif entry[0] == "count":
                    entry[1].take_back(*entry[2:])
                else:
                    _, table, row, name, old = entry
                    table.set(row, name, old)
            self.changes += 1

"""Where the sandbox keeps its data: one DuckDB database, in memory or in a file (a `--data-dir` keeps
state across restarts). Columnar storage keeps 300,000 leads small and makes Bulk Extract a single
`COPY ... TO` that streams to disk.

Identifiers interpolated into SQL are field names validated by `FieldDef` (letters, digits, `_`) or
constants of this package; values always travel as parameters.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from leadsync.connectors.marketo.sandbox.fields import FieldSet

TABLES = {
    "activities": """id BIGINT, leadId BIGINT, activityDate TIMESTAMP, activityTypeId INTEGER,
        campaignId BIGINT, primaryAttributeValueId BIGINT, primaryAttributeValue VARCHAR,
        attributes VARCHAR, fieldName VARCHAR""",
    "programs": """id BIGINT, name VARCHAR, description VARCHAR, type VARCHAR, channel VARCHAR,
        status VARCHAR, workspace VARCHAR, folderId BIGINT, folderName VARCHAR, createdAt TIMESTAMP,
        updatedAt TIMESTAMP, tags VARCHAR, costs VARCHAR""",
    "program_members": """id BIGINT, programId BIGINT, leadId BIGINT, progressionStatus VARCHAR,
        acquiredBy BOOLEAN, reachedSuccess BOOLEAN, membershipDate TIMESTAMP, updatedAt TIMESTAMP,
        custom VARCHAR""",
    "objects": """objectName VARCHAR, marketoGUID VARCHAR, seq BIGINT, record VARCHAR,
        createdAt TIMESTAMP, updatedAt TIMESTAMP""",
    "static_lists": """id BIGINT, name VARCHAR, description VARCHAR, programName VARCHAR, workspaceName VARCHAR,
        createdAt TIMESTAMP, updatedAt TIMESTAMP""",
    "static_list_members": "listId BIGINT, leadId BIGINT",
    "export_jobs": """exportId VARCHAR, entity VARCHAR, owner VARCHAR, status VARCHAR, format VARCHAR,
        spec VARCHAR, createdAt TIMESTAMP, queuedAt TIMESTAMP, startedAt TIMESTAMP, finishedAt TIMESTAMP,
        numberOfRecords BIGINT, fileSize BIGINT, fileChecksum VARCHAR, errorMsg VARCHAR, path VARCHAR""",
}


class Database:
    """A DuckDB connection guarded by one re-entrant lock. Background threads use `cursor()`."""

    def __init__(self, path: Path | None, lead_fields: FieldSet):
        self.path = Path(path) if path else None
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(self.path) if self.path else ":memory:")
        self._run(self.con, "SET TimeZone = 'UTC'")
        self.lock = threading.RLock()
        self._create_tables(lead_fields)

    def _create_tables(self, lead_fields: FieldSet) -> None:
        with self.lock:
            columns = ", ".join(f'"{x.name}" {x.sql_type}' for x in lead_fields.fields)
            self._run(self.con, f"CREATE TABLE IF NOT EXISTS leads ({columns})")
            existing = {row[0].lower() for row in self.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'leads'").fetchall()}
            for field in lead_fields.fields:  # fields added since the file was written
                if field.name.lower() not in existing:
                    self._run(self.con, f'ALTER TABLE leads ADD COLUMN "{field.name}" {field.sql_type}')
            for name, ddl in TABLES.items():
                self._run(self.con, f"CREATE TABLE IF NOT EXISTS {name} ({ddl})")

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own for a background thread (DuckDB connections are not shared)."""
        cursor = self.con.cursor()
        self._run(cursor, "SET TimeZone = 'UTC'")
        return cursor

    @staticmethod
    def _run(con: duckdb.DuckDBPyConnection, sql: str, params: list | tuple = ()) -> list[tuple]:
        """Execute and drain the result (DuckDB 2 refuses new work while a result is unread)."""
        return con.execute(sql, list(params)).fetchall()

    def rows(self, sql: str, params: list | tuple = ()) -> list[dict[str, Any]]:
        with self.lock:
            cursor = self.con.execute(sql, list(params))
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def scalar(self, sql: str, params: list | tuple = ()) -> Any:
        with self.lock:
            rows = self._run(self.con, sql, params)
            return rows[0][0] if rows else None

    def execute(self, sql: str, params: list | tuple = ()) -> None:
        with self.lock:
            self._run(self.con, sql, params)

    def insert(self, table: str, data: pa.Table) -> None:
        """Append an Arrow table whose columns are a subset of the table's, by name."""
        if data.num_rows == 0:
            return
        columns = ", ".join(f'"{name}"' for name in data.column_names)
        with self.lock:
            self.con.register("_incoming", data)
            try:
                self._run(self.con, f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _incoming")
            finally:
                self.con.unregister("_incoming")

    def update_by_id(self, table: str, data: pa.Table, key: str = "id") -> None:
        """Overwrite the named columns of the rows whose `key` appears in `data`."""
        if data.num_rows == 0:
            return
        sets = ", ".join(f'"{name}" = u."{name}"' for name in data.column_names if name != key)
        with self.lock:
            self.con.register("_updates", data)
            try:
                self._run(self.con, f'UPDATE {table} SET {sets} FROM _updates u WHERE {table}."{key}" = u."{key}"')
            finally:
                self.con.unregister("_updates")

    def checkpoint(self) -> None:
        if self.path:
            with self.lock:
                self._run(self.con, "CHECKPOINT")

    def close(self) -> None:
        with self.lock:
            self.con.close()

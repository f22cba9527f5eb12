"""Decode a downloaded lead file (CSV/TXT/TSV or XLSX) into a table of strings with true row numbers.

Values stay text: "01234" is a postal code, not 1234, and typing is the mapping layer's job. Empty rows are
dropped, but every row keeps the number it has in the file so a user can find it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from connectors.sftp.errors import LeadFileError
from connectors.sftp.lead_csv import read_delimited
from connectors.sftp.lead_xlsx import read_xlsx

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
XLSX_SUFFIXES = (".xlsx",)
ROW_NUMBER = "__row__"  # 1-based data row in the file; the header is row 0


@dataclass
class LeadTable:
    columns: list[str]  # header names as in the file, trimmed, BOM removed
    rows: pa.Table  # one string column per header name (null for an empty cell) plus ROW_NUMBER
    encoding: str  # "utf-8", "utf-8-sig", "cp1252", "latin-1" or "xlsx"

    @property
    def values(self) -> pa.Table:
        """The data columns alone, named as in the file."""
        return self.rows.drop_columns([ROW_NUMBER])

    @property
    def row_numbers(self) -> pa.Array:
        return self.rows.column(ROW_NUMBER).combine_chunks()

    @property
    def frame(self) -> pd.DataFrame:
        """The same as a DataFrame of Python strings (None for empty), for scripts and small files."""
        frame = self.rows.to_pandas()
        for column_name in self.columns:
            if frame[column_name].dtype != object:  # pandas configured to infer its own string dtype
                frame[column_name] = frame[column_name].astype(object).where(frame[column_name].notna(), None)
        return frame


def read_lead_file(name: str, data: bytes) -> LeadTable:
    """Raises LeadFileError, naming the file, the reason and the fix, for anything not a lead table."""
    low = name.lower()
    if low.endswith(XLSX_SUFFIXES):
        header, rows, _sheet = read_xlsx(name, data)
        width = max([len(header)] + [len(r) for r in rows])
        padded = [r + [None] * (width - len(r)) for r in rows]
        columns = list(zip(*padded, strict=True)) if padded else [()] * width
        table = pa.table({f"c{i}": pa.array(col, pa.string()) for i, col in enumerate(columns)})
        return _finish(name, header + [None] * (width - len(header)), table, "xlsx")
    if low.endswith(CSV_SUFFIXES):
        header, table, encoding = read_delimited(name, data)
        return _finish(name, header, table, encoding)
    raise LeadFileError(f"{name}: unsupported file type; upload lead files as .csv, .txt, .tsv or .xlsx")


def _blank_to_null(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Whitespace-only cells are empty cells: exporters pad with spaces, and " " is no email address."""
    blank = pc.equal(pc.utf8_trim_whitespace(column), "")
    return pc.if_else(blank, pa.scalar(None, pa.string()), column)


def _finish(name: str, header: list[str | None], table: pa.Table, encoding: str) -> LeadTable:
    names = [(h or "").strip().lstrip("\ufeff").strip() for h in header]
    values = [_blank_to_null(c) for c in table.columns]
    numbers = pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64))

    kept_names, kept_values, kept_positions = [], [], []
    for position, (column_name, column) in enumerate(zip(names, values, strict=True), start=1):
        if column_name:
            kept_names.append(column_name)
            kept_values.append(column)
            kept_positions.append(position)
        elif column.null_count < len(column):
            first = pc.filter(numbers, pc.is_valid(column))[0].as_py()
            raise LeadFileError(f"{name}: column {position} has values (first in data row {first}) but no "
                                "name in the header row; name the column or delete it")
        # else: a trailing delimiter or an empty spreadsheet column: nothing to keep
    _check_names(name, kept_names, kept_positions)

    has_value = None
    for column in kept_values:
        valid = pc.is_valid(column)
        has_value = valid if has_value is None else pc.or_(has_value, valid)
    rows = pa.table(kept_values + [numbers], names=[f"c{i}" for i in range(len(kept_values))] + [ROW_NUMBER])
    rows = rows.filter(has_value)
    if rows.num_rows == 0:
        raise LeadFileError(f"{name}: the file has no data rows (only a header row); upload a file with at "
                            "least one lead below the header")

    return LeadTable(columns=kept_names, rows=rows.rename_columns(kept_names + [ROW_NUMBER]), encoding=encoding)


def _check_names(name: str, names: list[str], positions_in_file: list[int]) -> None:
    if not names:
        raise LeadFileError(f"{name}: the header row is empty; the first row must name the columns")
    if ROW_NUMBER in names:
        raise LeadFileError(f"{name}: the column name {ROW_NUMBER!r} is reserved; rename that column")
    # Mappings match column names case-insensitively, so "Email" and "email" would be ambiguous.
    seen: dict[str, list[tuple[int, str]]] = {}
    for position, column_name in zip(positions_in_file, names, strict=True):
        seen.setdefault(column_name.casefold(), []).append((position, column_name))
    groups = [group for group in seen.values() if len(group) > 1]
    dupes = [" and ".join(f"{n!r} (column {p})" for p, n in group) for group in groups]
    if dupes:
        raise LeadFileError(f"{name}: duplicate column names in the header row: {'; '.join(dupes)}; each "
                            "column name must appear once, so rename or remove the extra columns")

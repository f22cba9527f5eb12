"""Decode a downloaded lead file (CSV/TXT/TSV or XLSX) into a table of strings with true row numbers.

Values stay text: "01234" is a postal code, not 1234, and typing is the mapping layer's job. Empty rows are
dropped, but every row keeps the number it has in the file so a user can find it.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadsync.connectors.sftp.errors import LeadFileError
from leadsync.connectors.sftp.lead_csv import STRAY_ROW, DelimitedReader
from leadsync.connectors.sftp.lead_xlsx import check_inflated_size, open_xlsx
from leadsync.connectors.sftp.mixed_encoding import StrayLine

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


class LeadFileReader:
    """A lead file opened for reading: its column names and encoding at once, its rows as LeadTables of a
    block each (row numbers counted over the whole file), read while iterating. Iterate once.

    Iterating raises LeadFileError on the first problem found, however far into the file: a caller storing
    the blocks as they come must do so in one transaction and roll it back on that error."""

    def __init__(self, name: str, header: list[str | None], encoding: str, blocks: Iterable[pa.Table],
                 stray: dict[int, StrayLine] | None = None, stray_encoding: str | None = None):
        self.name = name
        self.encoding = encoding
        # Lines not in the file's encoding (connectors/sftp/mixed_encoding.py): each arrives as a stand-in row,
        # taken out here; `undecodable` holds (data row number, the line) for the caller to quarantine.
        self._stray = stray or {}
        self.stray_encoding = stray_encoding
        self.undecodable: list[tuple[int, StrayLine]] = []
        names = [(h or "").strip().lstrip("\ufeff").strip() for h in header]
        self._names = names
        self.columns = [n for n in names if n]
        self._keep = [i for i, n in enumerate(names) if n]
        self._nameless = [i + 1 for i, n in enumerate(names) if not n]  # 1-based positions
        self._blocks = blocks
        try:
            _check_names(name, self.columns, [i + 1 for i in self._keep])
            self._header_problem: LeadFileError | None = None
        except LeadFileError as exc:
            # Reported once the whole file is read, nothing yielded meanwhile: a malformed row, then an
            # unnamed column with values, are reported before it.
            self._header_problem = exc

    def __iter__(self) -> Iterator[LeadTable]:
        next_row, kept = 1, 0
        nameless: dict[int, int] = {}  # column position → first data row with a value, for unnamed columns
        for block in self._blocks:
            numbers = pa.array(np.arange(next_row, next_row + block.num_rows, dtype=np.int64))
            next_row += block.num_rows
            if self._stray and block.num_columns:
                block, numbers = self._take_out_stray_rows(block, numbers)
            for position in self._nameless:
                if position not in nameless:
                    column = _blank_to_null(block.column(position - 1))
                    if column.null_count < len(column):
                        nameless[position] = pc.filter(numbers, pc.is_valid(column))[0].as_py()
                # else: a trailing delimiter or an empty spreadsheet column: nothing to keep
            if nameless or self._header_problem is not None:
                continue  # read on without yielding: a malformed row further down is reported first
            kept_values = [_blank_to_null(block.column(i)) for i in self._keep]
            has_value = None
            for column in kept_values:
                valid = pc.is_valid(column)
                has_value = valid if has_value is None else pc.or_(has_value, valid)
            rows = pa.Table.from_arrays(kept_values + [numbers], names=self.columns + [ROW_NUMBER])
            if not pc.all(has_value).as_py():  # filtering copies every column: only for a block with empty rows
                rows = rows.filter(has_value)
            if rows.num_rows:
                kept += rows.num_rows
                yield LeadTable(columns=self.columns, rows=rows, encoding=self.encoding)
        if nameless:
            position = min(nameless)
            raise LeadFileError(f"{self.name}: column {position} has values (first in data row {nameless[position]}) "
                                "but no name in the header row; name the column or delete it")
        if self._header_problem is not None:
            raise self._header_problem
        if kept == 0:
            raise LeadFileError(f"{self.name}: the file has no data rows (only a header row); upload a file "
                                "with at least one lead below the header")


    def _take_out_stray_rows(self, block: pa.Table, numbers: pa.Array) -> tuple[pa.Table, pa.Array]:
        first = block.column(0)
        marked = pc.fill_null(pc.starts_with(first, STRAY_ROW), False)
        if not pc.any(marked).as_py():
            return block, numbers
        for row, cell in zip(pc.filter(numbers, marked).to_pylist(), pc.filter(first, marked).to_pylist(),
                             strict=True):  # one turn per stray line only
            self.undecodable.append((row, self._stray[int(cell[len(STRAY_ROW):])]))
        keep = pc.invert(marked)
        return block.filter(keep), pc.filter(numbers, keep)


@contextmanager
def open_lead_file(name: str, source: Path | bytes, max_bytes: int | None = None) -> Iterator[LeadFileReader]:
    """Open a lead file by its name's extension; raises LeadFileError, naming the file, the reason and the
    fix, for anything not a lead table (problems in the header at once, the rest while iterating).

    Both kinds are read as a stream: memory stays flat whatever the size. An XLSX whose parts inflate to
    more than `max_bytes` is refused (LeadFileLimitError) before any of it is read."""
    low = name.lower()
    if not low.endswith(CSV_SUFFIXES + XLSX_SUFFIXES):
        raise LeadFileError(f"{name}: unsupported file type; upload lead files as .csv, .txt, .tsv or .xlsx")
    with io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb") as file:
        if low.endswith(XLSX_SUFFIXES):
            if max_bytes is not None:
                check_inflated_size(name, file, max_bytes)
            with open_xlsx(name, file) as sheet:
                yield LeadFileReader(name, sheet.header, "xlsx", _xlsx_tables(sheet.blocks(), len(sheet.header)))
        else:
            csv = DelimitedReader(name, file)
            yield LeadFileReader(name, csv.header, csv.encoding, csv, csv.stray, csv.stray_encoding)


def _xlsx_tables(blocks: Iterator[list[list[str | None]]], width: int) -> Iterator[pa.Table]:
    for block in blocks:
        columns = list(zip(*block, strict=True))
        yield pa.table({f"c{i}": pa.array(columns[i], pa.string()) for i in range(width)})


def read_lead_file(name: str, data: bytes) -> LeadTable:
    """The whole file as one LeadTable (for scripts and small files; the pull streams with open_lead_file).
    Raises LeadFileError, naming the file, the reason and the fix, for anything not a lead table."""
    with open_lead_file(name, data) as reader:
        blocks = [block.rows for block in reader]
    return LeadTable(columns=reader.columns, rows=pa.concat_tables(blocks), encoding=reader.encoding)


def _blank_to_null(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Whitespace-only cells are empty cells: exporters pad with spaces, and " " is no email address. An
    empty string is one too (the CSV reader already reads those as null, a workbook may hold one). Classified
    in place (no trimmed copy), and a column without such a cell, the usual one, is returned as it is."""
    blank = pc.or_(pc.utf8_is_space(column), pc.equal(pc.binary_length(column), 0))
    if not pc.any(blank).as_py():
        return column
    return pc.if_else(blank, pa.scalar(None, pa.string()), column)


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

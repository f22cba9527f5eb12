"""Decode a downloaded lead file (CSV/TXT/TSV or XLSX) into a table of strings."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from connectors.sftp.errors import LeadFileError

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
DELIMITERS = [",", ";", "\t", "|"]


@dataclass
class LeadTable:
    columns: list[str]  # header names as in the file (trimmed, BOM removed)
    frame: pd.DataFrame  # str or None per cell, plus "__row__": the 1-based data row number in the file
    encoding: str


def read_lead_file(name: str, data: bytes) -> LeadTable:
    low = name.lower()
    if low.endswith(".xlsx"):
        return _read_xlsx(name, data)
    if low.endswith(CSV_SUFFIXES):
        return _read_csv(name, data)
    raise LeadFileError(f"{name}: unsupported file type; upload .csv, .txt, .tsv or .xlsx files")


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:  # Excel's "CSV" on Windows
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _header(name: str, text: str) -> tuple[list[str], str]:
    first = text.split("\n", 1)[0].rstrip("\r")
    if not first.strip():
        raise LeadFileError(f"{name}: the file has no header row and no data rows; upload a file with a "
                            "header row and at least one lead")
    delimiter = max(DELIMITERS, key=first.count)
    header = next(csv.reader([first], delimiter=delimiter))
    return [h.strip().lstrip("\ufeff").strip() for h in header], delimiter


def _check_header(name: str, columns: list[str]) -> None:
    if any(c == "" for c in columns):
        raise LeadFileError(f"{name}: the header row has an empty column name (column "
                            f"{columns.index('') + 1}); name every column")
    seen = [c.lower() for c in columns]
    dupes = sorted({c for c in columns if seen.count(c.lower()) > 1})
    if dupes:
        raise LeadFileError(f"{name}: duplicate column names {dupes}; each column must appear once")


def _blank_rows(table: pa.Table) -> np.ndarray:
    """Rows whose every cell is missing or whitespace (Excel leaves such rows at the end of exports)."""
    blank = None
    for col in table.columns:
        text = pc.cast(col, pa.string())
        empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(text), ""), True)
        blank = empty if blank is None else pc.and_(blank, empty)
    return np.asarray(blank.to_numpy(zero_copy_only=False), dtype=bool)


def _finish(name: str, columns: list[str], table: pa.Table, encoding: str) -> LeadTable:
    keep = ~_blank_rows(table)
    # to_pandas gives str objects and None for missing cells, which is what callers rely on.
    frame = table.filter(pa.array(keep)).to_pandas()
    frame.columns = columns
    frame["__row__"] = np.flatnonzero(keep) + 1  # empty rows dropped; row numbers stay those of the file
    if frame.empty:
        raise LeadFileError(f"{name}: the file has no data rows (only a header); upload a file with leads")
    return LeadTable(columns=columns, frame=frame, encoding=encoding)


def _read_csv(name: str, data: bytes) -> LeadTable:
    if not data.strip():
        raise LeadFileError(f"{name}: the file is empty (0 data rows); upload a file with a header row and leads")
    text, encoding = _decode(data)
    columns, delimiter = _header(name, text)
    _check_header(name, columns)
    raw_names = [f"c{i}" for i in range(len(columns))]
    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(column_names=raw_names, skip_rows=1, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in raw_names},
                                                 strings_can_be_null=True),
        )
    except pa.ArrowInvalid as exc:
        raise LeadFileError(f"{name}: not a readable {delimiter!r}-delimited file ({exc}); check that every "
                            "row has the same number of columns as the header and quotes are closed") from None
    return _finish(name, columns, table, encoding)


def _cell(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_xlsx(name: str, data: bytes) -> LeadTable:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book["Leads"] if "Leads" in book.sheetnames else book.worksheets[0]
        rows = [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        book.close()
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError) as exc:
        raise LeadFileError(f"{name}: not a valid XLSX workbook (the file is truncated or corrupt: "
                            f"{type(exc).__name__}: {exc}); re-export it from Excel and upload it again") from None
    start = next((i for i, r in enumerate(rows) if any(v not in (None, "") for v in r)), None)
    if start is None:
        raise LeadFileError(f"{name}: the workbook is empty; upload a sheet with a header row and leads")
    header = rows[start]
    while header and header[-1] in (None, ""):
        header = header[:-1]
    columns = [(h or "").strip() for h in header]
    _check_header(name, columns)
    body = [(r + [None] * len(columns))[: len(columns)] for r in rows[start + 1:]]
    table = pa.table({f"c{i}": pa.array([r[i] for r in body], type=pa.string()) for i in range(len(columns))})
    return _finish(name, columns, table, "xlsx")

"""Read an XLSX lead file (openpyxl, read-only) as a header and blocks of rows of strings, streaming.

Cells become the text a user sees in Excel, so XLSX and CSV drops of the same leads give the same values:
dates as ISO 8601, whole numbers without ".0". A workbook is a zip: what it inflates to is checked against
the caller's limit from the zip's central directory before a single cell is read (a 1 MB file can inflate to
gigabytes), and the sheet is then read a block of rows at a time, so memory stays flat whatever its length.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import BinaryIO

from leadsync.connectors.sftp.errors import LeadFileError, LeadFileLimitError

LEADS_SHEET = "leads"  # a sheet with this name (any case) wins over the first sheet
BLOCK_ROWS = 50_000


def cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):  # before int: bool is an int
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat(timespec="seconds")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check_inflated_size(name: str, file: BinaryIO, max_bytes: int) -> None:
    """LeadFileLimitError when the workbook's parts inflate to more than `max_bytes`, by the sizes the zip's
    central directory records (a part cannot inflate past its recorded size: zipfile stops there and the
    CRC check fails). A file that is no zip at all is left for the reader to report."""
    try:
        with zipfile.ZipFile(file) as archive:
            inflated = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    finally:
        file.seek(0)
    if inflated > max_bytes:
        raise LeadFileLimitError(
            f"{name}: the workbook inflates to {inflated:,} bytes, over the file limit of {max_bytes:,} "
            "(files.max_file_bytes in the source's YAML; raise it there, up to its maximum, or split the "
            "workbook); nothing of it was read")


def _unreadable(name: str, exc: Exception) -> LeadFileError:
    return LeadFileError(f"{name}: not a valid XLSX workbook (the file is truncated or corrupt: "
                         f"{type(exc).__name__}: {exc}); re-export it from Excel and upload it again")


@dataclass
class XlsxSheet:
    """The lead sheet opened for reading: the header row (the first non-empty row) and the rows below it,
    read while iterating `blocks` (empty rows included, so row i overall is data row i + 1)."""

    name: str
    title: str
    header: list[str | None]
    _rows: Iterator[tuple]

    def blocks(self, rows: int | None = None) -> Iterator[list[list[str | None]]]:
        """Lists of up to `rows` (BLOCK_ROWS) rows, each exactly as wide as the header. A value right of the
        header's last column is an unnamed column: LeadFileError naming the column and the row."""
        rows = rows or BLOCK_ROWS
        width, block, number = len(self.header), [], 0
        try:
            for values in self._rows:
                number += 1
                row = [cell_text(v) for v in values]
                extra = next((i for i in range(width, len(row)) if row[i] is not None and row[i].strip()), None)
                if extra is not None:
                    raise LeadFileError(f"{self.name}: column {extra + 1} has values (first in data row {number}) "
                                        "but no name in the header row; name the column or delete it")
                block.append(row[:width] + [None] * (width - len(row)))
                if len(block) >= rows:
                    yield block
                    block = []
        except LeadFileError:
            raise
        except Exception as exc:  # noqa: BLE001 - damaged XML surfaces as many exception types
            raise _unreadable(self.name, exc) from None
        if block:
            yield block


@contextmanager
def open_xlsx(name: str, file: BinaryIO) -> Iterator[XlsxSheet]:
    """The workbook's lead sheet (one named 'Leads', any case, else the first), read-only."""
    from openpyxl import load_workbook  # at the first XLSX file: a quarter second every process would pay

    try:
        book = load_workbook(file, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged zip or XML surfaces as many exception types
        raise _unreadable(name, exc) from None
    try:
        try:
            by_name = {title.lower(): title for title in book.sheetnames}
            sheet = book[by_name[LEADS_SHEET]] if LEADS_SHEET in by_name else book.worksheets[0]
            # Read-only mode trusts the size the writing program recorded, and some record it wrongly
            # ("A1"), which would silently cut columns and rows off; read what is really there instead.
            sheet.reset_dimensions()
            rows = sheet.iter_rows(values_only=True)
            header = None
            for values in rows:
                cells = [cell_text(v) for v in values]
                if any(v is not None and v.strip() for v in cells):
                    header = cells
                    break
        except Exception as exc:  # noqa: BLE001
            raise _unreadable(name, exc) from None
        if header is None:
            raise LeadFileError(f"{name}: the file has no data rows (sheet {sheet.title!r} is empty); put the "
                                "header row and the leads on the first sheet or on a sheet named 'Leads'")
        while header and header[-1] is None:
            header.pop()
        yield XlsxSheet(name, sheet.title, header, rows)
    finally:
        book.close()

"""Read an XLSX lead file (openpyxl, read-only) into a header and rows of strings.

Cells become the text a user sees in Excel, so XLSX and CSV drops of the same leads give the same values:
dates as ISO 8601, whole numbers without ".0".
"""

from __future__ import annotations

import io
from datetime import date, datetime, time
from typing import BinaryIO

from openpyxl import load_workbook

from connectors.sftp.errors import LeadFileError

LEADS_SHEET = "leads"  # a sheet with this name (any case) wins over the first sheet


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


def read_xlsx(name: str, data: bytes | BinaryIO) -> tuple[list[str | None], list[list[str | None]], str]:
    """The header row (the first non-empty row), the rows below it (empty ones included, so rows[i] is
    data row i + 1) and the sheet's name. `data` is the file's bytes or the file opened for reading."""
    try:
        book = load_workbook(io.BytesIO(data) if isinstance(data, bytes) else data, read_only=True, data_only=True)
        try:
            by_name = {title.lower(): title for title in book.sheetnames}
            sheet = book[by_name[LEADS_SHEET]] if LEADS_SHEET in by_name else book.worksheets[0]
            # Read-only mode trusts the size the writing program recorded, and some record it wrongly
            # ("A1"), which would silently cut columns and rows off; read what is really there instead.
            sheet.reset_dimensions()
            rows = [[cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
            title = sheet.title
        finally:
            book.close()
    except Exception as exc:  # noqa: BLE001 - a damaged zip or XML surfaces as many exception types
        raise LeadFileError(f"{name}: not a valid XLSX workbook (the file is truncated or corrupt: "
                            f"{type(exc).__name__}: {exc}); re-export it from Excel and upload it "
                            "again") from None

    start = next((i for i, row in enumerate(rows) if any(v is not None and v.strip() for v in row)), None)
    if start is None:
        raise LeadFileError(f"{name}: the file has no data rows (sheet {title!r} is empty); put the header "
                            "row and the leads on the first sheet or on a sheet named 'Leads'")
    return rows[start], rows[start + 1:], title

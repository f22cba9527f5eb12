"""Reports as CSV or XLSX files: `leadsync report NAME [--from D --to D --filter f=v --group-by a,b] --out F`
calls `export_report`; the supplier console's download links call `report_bytes`.

Every text cell goes through leadsync/csv_safe.py (`neutralise_table`): a lead's company typed as
`=HYPERLINK(…)` is written as inert text, never as a formula. Numbers stay numbers."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa

from leadsync.config import ConfigError, load_partners, load_source, project_paths, source_files
from leadsync.csv_safe import neutralise_table
from leadsync.reports.options import ReportError
from leadsync.reports.registry import REPORTS, Report, get_report, report_options
from leadsync.store import LeadStore

__all__ = ["FORMATS", "REPORTS", "export_report", "mapped_fields", "partner_names", "report_bytes"]

FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def partner_names(mappings_dir: str | Path | None = None) -> dict[str, str]:
    """Partner id → name from partners.yaml (ConfigError naming the problem when it does not load)."""
    partners = load_partners(project_paths(mappings_dir).partners_file)
    return {p.id: p.name for p in partners.partners}


def mapped_fields(mappings_dir: str | Path | None = None) -> frozenset[str]:
    """Every lead field the sources map (internal-only ones included): what filters and groupings may name.
    A source whose mapping does not load adds none (`leadsync check` names its problem)."""
    names: set[str] = set()
    for file in source_files(project_paths(mappings_dir)):
        try:
            names.update(f.field for f in load_source(file).fields)
        except ConfigError:
            continue
    return frozenset(names)


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell made inert for a spreadsheet (numbers, dates and booleans as they are)."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            values = pa.array(out[col].map(lambda v: None if pd.isna(v) else str(v)), pa.string())
            out[col] = neutralise_table(pa.table({"v": values})).column("v").to_pylist()
    return out


def to_csv(frame: pd.DataFrame) -> bytes:
    return neutralised(frame).to_csv(index=False, lineterminator="\n").encode("utf-8")


def to_xlsx(frame: pd.DataFrame, title: str) -> bytes:
    """One sheet named after the report, the header row bold, every text cell neutralised and stored as a
    string (openpyxl would otherwise read a leading '=' as a formula)."""
    from openpyxl import Workbook  # at the first XLSX export, not with the code location

    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append([str(c) for c in frame.columns])
    for cell in sheet[1]:
        cell.font = cell.font.copy(bold=True)
    safe = neutralised(frame)
    for row in safe.itertuples(index=False):
        sheet.append([_cell(v) for v in row])
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text, whatever it starts with
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: object) -> object:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.tz_localize(None).to_pydatetime() if value.tzinfo else value.to_pydatetime()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def report_bytes(report: Report, frame: pd.DataFrame, fmt: str) -> bytes:
    if fmt == "csv":
        return to_csv(frame)
    if fmt == "xlsx":
        return to_xlsx(frame, report.title)
    raise ReportError(f"no export format '{fmt}'; formats: {', '.join(FORMATS)}")


def export_report(store: LeadStore, name: str, out_path: str | Path | None = None, **options: object) -> Path | str:
    """Write report `name` to `out_path` — XLSX when it ends in .xlsx, else CSV (header row, comma-separated,
    UTF-8) — and return that Path; with no path (or '-') write CSV to stdout and return the text. Options as
    for the report (group_by, partner_names, date_from, date_to, filters, fields). A bad name or option raises
    ReportError (a ValueError) listing what is allowed, before anything is written."""
    report = get_report(name)
    opts = report_options(report, options)
    frame = report.function(store, opts)
    if out_path is None or str(out_path) == "-":
        text = to_csv(frame).decode("utf-8")
        sys.stdout.write(text)
        sys.stdout.flush()
        return text
    path = Path(out_path)
    fmt = "xlsx" if path.suffix.lower() == ".xlsx" else "csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(report_bytes(report, frame, fmt))
    return path

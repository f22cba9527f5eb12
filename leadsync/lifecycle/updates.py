"""Partner updates to leads they hold, one row at a time, whatever the channel (status page, CSV upload,
JSON API): sales status, rep, opportunity, marketing event. A row is applied whole or not at all; a row
that repeats what is already recorded changes nothing, so a corrected file can simply be uploaded again.

Columns (any case; spaces or dashes for underscores):
  lead_id (required), sales_status, rep_name, rep_email, opportunity_name, opportunity_stage,
  opportunity_amount, opportunity_close_date, marketing_event_type, marketing_event_name,
  marketing_event_date, marketing_event_on
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.events import LifecycleError
from leadsync.lifecycle.lead_view import lead_view
from leadsync.lifecycle.marketing import parse_event, record_marketing_event
from leadsync.lifecycle.opportunities import parse_fields, update_opportunity
from leadsync.lifecycle.reps import assign_rep
from leadsync.lifecycle.status import CONVERTED, set_sales_status
from leadsync.portal.i18n import Message

COLUMNS = ("lead_id", "sales_status", "rep_name", "rep_email", "opportunity_name", "opportunity_stage",
           "opportunity_amount", "opportunity_close_date", "marketing_event_type", "marketing_event_name",
           "marketing_event_date", "marketing_event_on")
MAX_ROWS = 20_000


@dataclass(frozen=True)
class RowError:
    line: int | None  # line of the CSV file (the header is line 1); item number (from 1) for JSON
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [f"line {self.line}" if self.line is not None else None,
                 f"column {self.column}" if self.column else None]
        prefix = ", ".join(w for w in where if w)
        return f"{prefix}: {self.message}" if prefix else self.message


@dataclass
class UpdateResult:
    lead_id: str
    changes: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)  # delivery ids queued (rep notifications)


@dataclass
class ImportReport:
    rows: int = 0
    changed: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    results: list[UpdateResult] = field(default_factory=list)

    @property
    def emails(self) -> list[str]:
        return [e for r in self.results for e in r.emails]

    def as_dict(self) -> dict:
        return {"rows": self.rows, "changed": self.changed, "unchanged": self.unchanged,
                "errors": [{"line": e.line, "column": e.column, "message": e.message, "text": str(e)}
                           for e in self.errors],
                "results": [{"lead_id": r.lead_id, "changes": r.changes} for r in self.results]}


def _value(row: Mapping[str, object], key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def apply_update(ctx: Lifecycle, partner_id: str, row: Mapping[str, object], now: datetime, actor: str) -> UpdateResult:
    """Apply one update row of the partner's, in one transaction. LifecycleError (with the column at fault)
    when any part of it cannot be applied; then nothing of the row is."""
    unknown = [k for k in row if k not in COLUMNS]
    if unknown:
        raise LifecycleError(f"unknown field(s) {unknown}; allowed: {', '.join(COLUMNS)}", unknown[0])
    lead_id = _value(row, "lead_id")
    if not lead_id:
        raise LifecycleError("give the lead id (the lead reference shown in the email)", "lead_id")
    opp = parse_fields(ctx, {name: row.get(f"opportunity_{name}") for name in ("name", "stage", "amount",
                                                                                "close_date")})
    wants_event = any(_value(row, f"marketing_event_{k}") for k in ("type", "name", "date"))
    event = parse_event(ctx, {k: row.get(f"marketing_event_{k}") for k in ("type", "name", "date", "on")},
                        now.date()) if wants_event else None
    result = UpdateResult(lead_id)
    with ctx.store.begin() as conn:
        rep_name, rep_email = _value(row, "rep_name"), _value(row, "rep_email")
        if rep_name or rep_email:
            changed, email = assign_rep(ctx, conn, lead_id, partner_id, rep_name, rep_email, now, actor)
            if changed:
                result.changes.append(Message("rep set to %(name)s <%(email)s>", name=rep_name,
                                              email=(rep_email or "").lower()))
            if email:
                result.emails.append(email)
        converted = False
        status = _value(row, "sales_status")
        if status:
            view = lead_view(ctx, conn, lead_id)
            new = set_sales_status(ctx, conn, lead_id, partner_id, status, now, actor, opportunity=opp,
                                   default_opportunity_name=view.title if view else None)
            if new:
                result.changes.append(Message("sales status set to %(status)s", status=new))
                converted = new == CONVERTED
                if converted:
                    result.changes.append("opportunity created")
        if opp and not converted:
            changed = update_opportunity(ctx, conn, lead_id, partner_id, opp, now, actor)
            if changed:
                result.changes.append("opportunity updated: " + ", ".join(changed))
        if event and record_marketing_event(ctx, conn, lead_id, partner_id, event, now, actor):
            result.changes.append(f"marketing event recorded: {event['type']} '{event['name']}'")
    return result


def import_rows(ctx: Lifecycle, partner_id: str, rows: Iterable[Mapping[str, object]], now: datetime, actor: str,
                first_line: int = 1) -> ImportReport:
    """Apply rows one by one; every bad row is reported (line, column, what is allowed), good rows apply."""
    report = ImportReport()
    for line, row in enumerate(rows, start=first_line):
        report.rows += 1
        if report.rows > MAX_ROWS:
            report.errors.append(RowError(line, None, f"more than {MAX_ROWS} rows: split the file"))
            break
        try:
            result = apply_update(ctx, partner_id, row, now, actor)
        except LifecycleError as exc:
            report.errors.append(RowError(line, exc.field, str(exc)))
            continue
        report.results.append(result)
        if result.changes:
            report.changed += 1
        else:
            report.unchanged += 1
    return report


def normalise_column(name: str) -> str:
    return "_".join(str(name).strip().lower().replace("-", " ").split())


def read_csv(data: bytes | str) -> list[dict]:
    """Rows of an update CSV, keyed by normalised column name. LifecycleError (line 1, the column) for a
    header that does not fit."""
    text = data.decode("utf-8-sig", errors="strict") if isinstance(data, bytes) else data
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise LifecycleError("the file is empty; the first line must name the columns, e.g. "
                             "lead_id,sales_status") from None
    columns = [normalise_column(c) for c in header]
    for raw, col in zip(header, columns, strict=True):
        if col not in COLUMNS:
            raise LifecycleError(f"unknown column '{raw}'; allowed: {', '.join(COLUMNS)}", raw)
    if "lead_id" not in columns:
        raise LifecycleError("the file has no lead_id column; it names the lead of each row", "lead_id")
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise LifecycleError(f"columns named twice: {dupes}", dupes[0])
    rows = []
    for values in reader:
        if not any(v.strip() for v in values):
            rows.append({})  # blank line: kept so line numbers stay true, skipped by import_csv
            continue
        rows.append(dict(zip(columns, values, strict=False)))
    return rows


def import_csv(ctx: Lifecycle, partner_id: str, data: bytes | str, now: datetime, actor: str = "import") -> ImportReport:
    """Apply an update CSV of the partner's. A header problem is reported as one error on line 1."""
    try:
        rows = read_csv(data)
    except UnicodeDecodeError:
        return ImportReport(errors=[RowError(None, None, "the file is not UTF-8 text; save it as CSV UTF-8")])
    except LifecycleError as exc:
        return ImportReport(errors=[RowError(1, exc.field, str(exc))])
    numbered = [(line, row) for line, row in enumerate(rows, start=2) if row]
    report = ImportReport()
    for line, row in numbered:
        single = import_rows(ctx, partner_id, [row], now, actor, first_line=line)
        report.rows += single.rows
        report.changed += single.changed
        report.unchanged += single.unchanged
        report.errors += single.errors
        report.results += single.results
    return report


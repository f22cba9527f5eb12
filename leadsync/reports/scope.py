"""A report's scope: the store's tables in DuckDB (reports/data.py) cut down to the date range and filters
of its options, with every mapped lead field the options name as a column of `leads`.

Lead reports keep the leads received within the range; opportunity reports the opportunities created within
it. Filters keep the leads that match every filtered field (any of its values); an opportunity report keeps
the opportunities of those leads, its partner filter naming the opportunity's partner. Rows quarantined at
intake are not leads: a filter on anything but the source leaves none of them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from typing import Literal

import duckdb
import pandas as pd
import sqlalchemy as sa

from leadsync.lifecycle import tables as lt
from leadsync.partner_crm.tables import partner_crm_only_opportunities as crm_only
from leadsync.reports.data import report_db
from leadsync.reports.options import ReportOptions
from leadsync.store import LeadStore, tables
from leadsync.store.tables import STANDARD_LEAD_FIELDS

NO_PARTNER = "(no partner)"
NO_CAMPAIGN = "(no campaign)"
# The built-in filters, as SQL over `leads l LEFT JOIN assignments a` (constant text, no user values).
_BUILTIN = {
    "source": "l.source",
    "campaign": f"coalesce(nullif(trim(l.campaign), ''), '{NO_CAMPAIGN}')",
    "partner": f"coalesce(a.partner_id, '{NO_PARTNER}')",
    "status": "coalesce(a.status, 'new')",
}


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _add(reads: dict[sa.Table, list[str]], table: sa.Table, columns: Sequence[str]) -> None:
    reads[table] = list(dict.fromkeys([*reads.get(table, []), *columns]))


def field_sql(alias: str, name: str) -> str:
    """A mapped lead field as text (a dimension or a filter's operand)."""
    return f"CAST({alias}.{quote(name)} AS VARCHAR)"


@contextmanager
def scoped_db(store: LeadStore, reads: Mapping[sa.Table, Sequence[str]], frames: Mapping[str, pd.DataFrame],
              options: ReportOptions, dated: Literal["leads", "opportunities"]) -> Iterator[duckdb.DuckDBPyConnection]:
    reads = {t: list(c) for t, c in reads.items()}
    extra = options.lead_fields()
    standard = [f for f in extra if f in STANDARD_LEAD_FIELDS]
    custom = [f for f in extra if f not in STANDARD_LEAD_FIELDS]
    _add(reads, tables.leads, ["lead_id", "source", "campaign", "received_at", *standard,
                               *(["attributes"] if custom else [])])
    _add(reads, tables.assignments, ["lead_id", "partner_id", "status"])
    with_crm_only = lt.opportunities in reads and _stored(store, crm_only.name)
    if with_crm_only:
        reads[crm_only] = list(_CRM_ONLY_COLUMNS)
    with report_db(store, reads, frames) as db:
        if with_crm_only:
            _add_crm_only(db, reads[lt.opportunities])
        for name in custom:  # custom fields live in the lead's attributes JSON
            db.execute(f"ALTER TABLE leads ADD COLUMN {quote(name)} VARCHAR")
            db.execute(f"UPDATE leads SET {quote(name)} = json_extract_string(attributes, $path)",
                       {"path": "$." + quote(name)})
        _apply_filters(db, options, dated)
        _apply_dates(db, options, dated, tables.quarantine in reads, lt.opportunities in reads)
        yield db


# A CRM-only opportunity (leadsync/partner_crm/crm_only.py) as a row of `opportunities`: its lead id names no
# lead, which is what makes its origin crm_only.
_CRM_ONLY_COLUMNS = ("partner_id", "record_id", "name", "stage", "amount", "currency", "close_date", "created_at",
                     "modified_at")
_OPPORTUNITY_FROM_CRM = {"opportunity_id": "'crm:' || partner_id || ':' || record_id",
                         "lead_id": "'crm:' || partner_id || ':' || record_id", "source": "'crm:' || partner_id",
                         "partner_id": "partner_id", "name": "name", "stage": "stage", "amount": "amount",
                         "currency": "currency", "close_date": "close_date", "created_at": "created_at",
                         "updated_at": "modified_at", "version": "1"}


def _stored(store: LeadStore, table: str) -> bool:
    with store.begin() as conn:
        return sa.inspect(conn).has_table(table)


def _add_crm_only(db: duckdb.DuckDBPyConnection, columns: Sequence[str]) -> None:
    cols = [c for c in columns if c in _OPPORTUNITY_FROM_CRM]
    db.execute(f"INSERT INTO opportunities ({', '.join(map(quote, cols))}) "
               f"SELECT {', '.join(_OPPORTUNITY_FROM_CRM[c] for c in cols)} FROM {crm_only.name}")


def _apply_filters(db: duckdb.DuckDBPyConnection, options: ReportOptions, dated: str) -> None:
    lead_filters = [(k, v) for k, v in options.filters if not (dated == "opportunities" and k == "partner")]
    params: dict[str, object] = {}
    conditions = []
    for i, (key, values) in enumerate(lead_filters):
        expr = _BUILTIN.get(key) or field_sql("l", key)
        conditions.append(f"list_contains($v{i}, lower(trim({expr})))")
        params[f"v{i}"] = [v.lower() for v in values]
    if conditions:
        db.execute("DELETE FROM leads WHERE lead_id NOT IN (SELECT l.lead_id FROM leads l LEFT JOIN assignments a "
                   f"ON a.lead_id = l.lead_id WHERE {' AND '.join(conditions)})", params)
    if dated == "opportunities":
        partner = dict(options.filters).get("partner")
        if partner:
            db.execute("DELETE FROM opportunities WHERE NOT list_contains($v, lower(trim(partner_id)))",
                       {"v": [v.lower() for v in partner]})
        if conditions:  # an opportunity with no lead behind it matches no lead filter
            db.execute("DELETE FROM opportunities WHERE lead_id NOT IN (SELECT lead_id FROM leads)")
    if options.filters and _has(db, "quarantine"):
        if any(k != "source" for k, _ in options.filters):
            db.execute("DELETE FROM quarantine")
        else:
            db.execute("DELETE FROM quarantine WHERE NOT list_contains($v, lower(trim(source)))",
                       {"v": [v.lower() for v in dict(options.filters)["source"]]})


def _has(db: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(db.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = $t",
                           {"t": table}).fetchone()[0])


def _bounds(options: ReportOptions) -> tuple[datetime | None, datetime | None]:
    start = datetime.combine(options.date_from, time.min) if options.date_from else None
    end = datetime.combine(options.date_to + timedelta(days=1), time.min) if options.date_to else None
    return start, end


def _apply_dates(db: duckdb.DuckDBPyConnection, options: ReportOptions, dated: str, quarantine: bool,
                 opportunities: bool) -> None:
    start, end = _bounds(options)
    if start is None and end is None:
        return
    targets = [("leads", "received_at")] if dated == "leads" else []
    if dated == "opportunities" and opportunities:
        targets.append(("opportunities", "created_at"))
    if quarantine:
        targets.append(("quarantine", "quarantined_at"))
    for table, column in targets:  # constant names; the bounds are parameters
        if start is not None:
            db.execute(f"DELETE FROM {table} WHERE {column} < $start", {"start": start})
        if end is not None:
            db.execute(f"DELETE FROM {table} WHERE {column} >= $end", {"end": end})

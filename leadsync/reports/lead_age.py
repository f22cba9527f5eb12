"""Lead Age: how long leads have been waiting, bucketed, per distribution status and partner.

A lead's age is the time since leadsync received it; `days_in_status_max` is the longest any of the row's
leads has held its current status (since its current decision). Buckets: under 1 day, 1–3, 3–7, 7–14,
14–30 and 30 days or more (lower bound included). Leads not routed yet have status `new`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from leadsync.reports.charts import BarChart
from leadsync.reports.data import query, report_db
from leadsync.reports.options import ReportOptions
from leadsync.store import LeadStore, tables

NO_PARTNER = "(no partner)"
BUCKETS = (("under_1d", 0, 1), ("d1_3", 1, 3), ("d3_7", 3, 7), ("d7_14", 7, 14), ("d14_30", 14, 30),
           ("d30_plus", 30, None))

_READS = {
    tables.leads: ["lead_id", "received_at"],
    tables.assignments: ["lead_id", "partner_id", "status", "decided_at"],
}

_BUCKET_SQL = ",\n".join(
    f"count(*) FILTER (WHERE age_days >= {low}{f' AND age_days < {high}' if high else ''}) AS {name}"
    for name, low, high in BUCKETS)  # constant bounds, no user values

_SQL = f"""
WITH facts AS (
    SELECT coalesce(a.status, 'new') AS status,
           a.partner_id,
           epoch($now::TIMESTAMP - l.received_at) / 86400.0 AS age_days,
           epoch($now::TIMESTAMP - coalesce(a.decided_at, l.received_at)) / 86400.0 AS status_days
    FROM leads l LEFT JOIN assignments a ON a.lead_id = l.lead_id)
SELECT f.status, coalesce(f.partner_id, $no_partner) AS partner_id,
       coalesce(n.partner_name, f.partner_id, $no_partner) AS partner_name,
       count(*) AS leads,
       {_BUCKET_SQL},
       round(max(f.age_days), 1) AS oldest_days,
       round(max(f.status_days), 1) AS days_in_status_max
FROM facts f LEFT JOIN partner_names n ON n.partner_id = f.partner_id
GROUP BY ALL
ORDER BY max(f.age_days) DESC, f.status, partner_id
"""


def lead_age(store: LeadStore, options: ReportOptions | None = None, now: datetime | None = None) -> pd.DataFrame:
    """One row per (status, partner), oldest first: leads, one count per age bucket (BUCKETS), oldest_days
    and days_in_status_max."""
    options = options or ReportOptions()
    at = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    with report_db(store, _READS, {"partner_names": options.names_frame()}) as db:
        frame = query(db, _SQL, {"now": at, "no_partner": NO_PARTNER})
    for col in ("leads", *(name for name, _, _ in BUCKETS)):
        frame[col] = frame[col].astype("int64")
    return frame


def lead_age_chart(frame: pd.DataFrame) -> BarChart | None:
    if frame.empty:
        return None
    labels = [f"{r.status} · {r.partner_name}" for r in frame.itertuples()]
    return BarChart("Lead age per status and partner (days since received)", labels,
                    {name.replace("_", " "): frame[name].tolist() for name, _, _ in BUCKETS}, unit="leads")

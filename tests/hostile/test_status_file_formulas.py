"""Formula injection through the SFTP status file: an inbox file's name and a partner's reject comment or
event name that start like a formula reach the supplier's spreadsheet inert; a marketing event does not
pose as an opportunity (issue 20); machine consumers can ask for raw values, never for partner-typed text."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
import yaml
from hostile_inputs import HEADER, lead_line, outbox_rows

from leadsync.connectors.sftp import inbox_readiness
from leadsync import pipeline
from leadsync.lifecycle.acceptance import accept_lead, reject_lead
from leadsync.lifecycle.context import load_lifecycle
from leadsync.lifecycle.updates import apply_update
from leadsync.store import tables
from leadsync.writeback.sftp_status_file import KIND_OF_COLUMN


@pytest.fixture(autouse=True)
def settled(monkeypatch):
    monkeypatch.setattr(inbox_readiness, "wait", lambda seconds: None)

EVIL_FILE = "=HYPERLINK(0).csv"
EVIL_COMMENT = '=HYPERLINK("http://evil.example","Click")'
EVIL_EVENT = "@SUM(1+1)*cmd"


def _leads_routed_and_updated(paths, store, uploader):
    uploader.put(EVIL_FILE, HEADER + lead_line(1) + lead_line(2))
    pipeline.pull(paths, store, "sftp_demo")
    pipeline.map_and_validate(paths, store, "sftp_demo")
    pipeline.route_leads(paths, store, "sftp_demo")
    with store.begin() as conn:
        leads = store.read_frame(conn, tables.leads.select().order_by(tables.leads.c.row_number))
    first, second = leads["lead_id"].tolist()
    ctx, now = load_lifecycle(paths, store), datetime.now(UTC)
    reject_lead(ctx, first, "bluepeak", "other", EVIL_COMMENT, now, actor="partner")
    accept_lead(ctx, second, "bluepeak", now, actor="partner")
    apply_update(ctx, "bluepeak", {"lead_id": second, "marketing_event_type": "Webinar",
                                   "marketing_event_name": EVIL_EVENT, "marketing_event_date": "2026-11-20"},
                 now, actor="partner")
    apply_update(ctx, "bluepeak", {"lead_id": second, "sales_status": "Contacted", "rep_name": "Dana Reyes",
                                   "rep_email": "dana@bluepeak.example"}, now, actor="partner")
    apply_update(ctx, "bluepeak", {"lead_id": second, "sales_status": "Converted Opportunity",
                                   "opportunity_name": "Firewall refresh", "opportunity_stage": "Proposal",
                                   "opportunity_amount": "12000", "opportunity_close_date": "2027-01-31"},
                 now, actor="partner")
    return first, second


@pytest.mark.parametrize("neutralise", [True, False])
def test_formula_cells_reach_the_status_file_inert_and_partner_text_always(project, paths, any_store, sandbox,
                                                                        uploader, neutralise):
    if not neutralise:  # the source's YAML asks for raw values (a machine consumer)
        source_yaml = project / "mappings/sources/sftp_demo.yaml"
        doc = yaml.safe_load(source_yaml.read_text())
        doc.setdefault("writeback", {})["neutralise_formulas"] = False
        source_yaml.write_text(yaml.safe_dump(doc, sort_keys=False))
    _leads_routed_and_updated(paths, any_store, uploader)
    assert pipeline.write_back(paths, any_store, "sftp_demo").files
    rows = outbox_rows(sandbox)
    files = set(rows["source_file"]) - {""}
    assert files == ({"'" + EVIL_FILE} if neutralise else {EVIL_FILE})  # the sink's choice
    comments = set(rows.loc[rows["event"] == "rejection", "rejection_comment"])
    assert comments == {"'" + EVIL_COMMENT}  # partner-typed: always inert
    events = set(rows.loc[rows["event"] == "marketing_event", "marketing_event"])
    assert events == {"'" + EVIL_EVENT}
    risky = rows.drop(columns="file").map(lambda v: v[:1] in ("=", "+", "@", "\t", "\r") or
                                          (v[:1] == "-" and not v[1:].replace(".", "").isdigit()))
    if neutralise:
        assert not risky.any().any(), rows[risky.any(axis=1)]


def test_each_status_column_holds_only_its_own_kind_of_event(project, paths, any_store, sandbox, uploader):
    _leads_routed_and_updated(paths, any_store, uploader)
    pipeline.write_back(paths, any_store, "sftp_demo")
    rows = outbox_rows(sandbox)
    assert {"rejection", "marketing_event", "distribution_status", "sales_status", "rep", "opportunity"} <= set(
        rows["event"])
    for column, kind in KIND_OF_COLUMN.items():
        others = rows.loc[rows["event"] != kind, column]
        assert (others == "").all(), (column, rows.loc[others != "", ["event", column]])
    event_row = rows.loc[rows["event"] == "marketing_event"].iloc[0]
    assert event_row["opportunity_name"] == "" and event_row["marketing_event"] == "'" + EVIL_EVENT
    assert pd.notna(event_row["marketing_event_type"]) and event_row["marketing_event_type"] == "Webinar"
    opportunity = rows.loc[rows["event"] == "opportunity"].iloc[0]
    assert (opportunity["opportunity_name"], opportunity["marketing_event"]) == ("Firewall refresh", "")

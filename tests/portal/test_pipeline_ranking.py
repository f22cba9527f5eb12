"""The partner's pipeline (opportunities, totals by stage, a CSV export safe to open in a spreadsheet) and
its ranking (its points, its reps' points, the rep stack ranking with other partners' reps anonymised or
shown as the supplier chooses)."""

import csv
import io

import pandas as pd

from leadsync.lifecycle.acceptance import accept_lead
from leadsync.lifecycle.updates import apply_update


def now():
    return pd.Timestamp.now(tz="UTC").to_pydatetime()


def worked(served):
    """Two Northwind leads (one converted with an opportunity), one Blue Peak lead updated by its rep."""
    north_a, north_b, blue = served.add_leads([
        {"first_name": "Ada", "company": "Engines", "country": "US"},
        {"first_name": "Bob", "company": "Builders", "country": "US"},
        {"first_name": "Cy", "company": "Cyber", "country": "GB"}])
    for lead, pid in ((north_a, "north"), (north_b, "north"), (blue, "blue")):
        accept_lead(served.ctx, lead, pid, now())
    apply_update(served.ctx, "north", {"lead_id": north_a, "rep_name": "Nora West",
                                       "rep_email": "nora@northwind.example"}, now(), "test")
    apply_update(served.ctx, "north", {"lead_id": north_a, "sales_status": "Converted Opportunity",
                                       "opportunity_name": "=HYPERLINK(\"http://evil\")",
                                       "opportunity_stage": "Proposal", "opportunity_amount": "12500"}, now(), "test")
    apply_update(served.ctx, "north", {"lead_id": north_b, "sales_status": "Contacted"}, now(), "test")
    apply_update(served.ctx, "blue", {"lead_id": blue, "rep_name": "Bea Secret", "rep_email": "bea@bluepeak.example"},
                 now(), "test")
    apply_update(served.ctx, "blue", {"lead_id": blue, "sales_status": "Contacted"}, now(), "test")
    return north_a, north_b, blue


def test_the_pipeline_shows_the_partners_opportunities_and_totals_by_stage(served, browser_session):
    worked(served)
    north = browser_session().sign_in("leads@northwind.example")
    page = north.http.get("/portal/pipeline").text
    assert "<td>Proposal</td><td>1</td><td>12500.00</td>" in page and "Engines" in page

    export = north.http.get("/portal/pipeline.csv")
    assert export.headers["content-type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(export.text)))
    assert row["opportunity"] == "'=HYPERLINK(\"http://evil\")"  # neutralised: a spreadsheet shows it as text
    assert (row["stage"], row["amount"]) == ("Proposal", "12500.00")

    blue = browser_session().sign_in("dana@bluepeak.example")
    assert "No opportunities yet." in blue.http.get("/portal/pipeline").text
    assert blue.http.get("/portal/pipeline.csv").text.count("\n") == 1  # the header alone


def test_the_ranking_shows_own_points_and_anonymises_other_partners_reps(served, browser_session):
    worked(served)
    north = browser_session().sign_in("ops@northwind.example")
    page = north.http.get("/portal/ranking").text
    # a timely update each (10), the conversion (25; mappings/lifecycle.yaml rewards)
    assert "Northwind Networks has 45 points: rank 1 of 2 partners." in page
    assert "<td>Nora West</td><td>35</td>" in page
    assert "Nora West" in page and "Bea Secret" not in page and "Rep of another partner" in page


def test_the_supplier_may_show_other_partners_rep_names(make_served, browser_session):
    served = make_served(portal={"other_partners_reps": "shown"})
    worked(served)
    page = browser_session(served).sign_in("ops@northwind.example").http.get("/portal/ranking").text
    assert "Bea Secret" in page and "Blue Peak Security" in page

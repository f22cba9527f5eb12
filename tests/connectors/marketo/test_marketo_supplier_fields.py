"""The supplier's own custom lead fields that routing reads, leadType and productInterest (`;`-joined in a
string field, as Marketo has no multi-select type): described by describe.json and describe2.json like any
admin's custom field, seeded on every lead, returned by Get Leads and written by Bulk Extract."""

import csv
import io
import time
from datetime import timedelta

from leadsync.connectors.marketo.sandbox.clock import iso

PRODUCTS = {"Firewall", "Endpoint", "Cloud Backup", "SD-WAN", "Email Security"}
BANDS = {"SMB": (10, 199), "Mid-Market": (200, 999), "Enterprise": (1000, 50000)}


def test_describe_and_describe2_list_the_custom_fields(wire):
    described = {f["rest"]["name"]: f for f in wire.get("/rest/v1/leads/describe.json")["result"]}
    for name, label in (("leadType", "Lead Type"), ("productInterest", "Product Interest")):
        field = described[name]
        assert (field["displayName"], field["dataType"], field["length"]) == (label, "string", 255)
        assert field["id"] > 1000 and field["rest"]["readOnly"] is False  # a custom field's id
    (api_lead,) = wire.get("/rest/v1/leads/describe2.json")["result"]
    assert {"leadType", "productInterest"} <= {f["name"] for f in api_lead["fields"]}
    assert ["leadType"] in api_lead["searchableFields"]  # custom string fields are searchable


def test_seeded_leads_carry_a_lead_type_matching_their_size_and_products(client, sandbox):
    leads = client.execute("get_multiple_leads_by_filter_type", filterType="id",
                           filterValues=[str(i) for i in range(1, 301)],
                           fields=["id", "numberOfEmployees", "leadType", "productInterest"])
    assert len(leads) == 300
    for lead in leads:
        low, high = BANDS[lead["leadType"]]
        assert low <= lead["numberOfEmployees"] <= high, lead
        assert set(lead["productInterest"].split(";")) <= PRODUCTS, lead
    assert {lead["leadType"] for lead in leads} == set(BANDS)
    assert any(";" in lead["productInterest"] for lead in leads)
    enterprise = client.execute("get_multiple_leads_by_filter_type", filterType="leadType",
                                filterValues=["Enterprise"], fields=["id", "leadType"])
    assert enterprise and {lead["leadType"] for lead in enterprise} == {"Enterprise"}


def test_bulk_extract_exports_the_custom_fields(client, sandbox):
    end = sandbox.clock.now()
    span = {"startAt": iso(end - timedelta(days=31)), "endAt": iso(end)}
    (job,) = client.execute("create_leads_export_job", fields=["id", "leadType", "productInterest"],
                            filters={"createdAt": span})
    client.execute("enqueue_leads_export_job", job_id=job["exportId"])
    deadline = time.monotonic() + 20
    while (status := client.execute("get_leads_export_job_status", job_id=job["exportId"])[0])["status"] != "Completed":
        assert status["status"] != "Failed" and time.monotonic() < deadline, status
        time.sleep(0.05)
    rows = list(csv.DictReader(io.StringIO(client.execute("get_leads_export_job_file",
                                                          job_id=job["exportId"]).decode())))
    assert rows and all(r["leadType"] in BANDS and set(r["productInterest"].split(";")) <= PRODUCTS for r in rows)

"""Bulk Program Member Extract (issue 18), driven by marketorestpython's own calls: create, enqueue,
status, file; member and lead fields in one file, `programIds` adding a first `programId` column,
`statusNames`, and Marketo's 1003 for a job without a program."""

import csv
import io
import time

from leadsync.connectors.marketo.sandbox import MarketoSandbox
from leadsync.connectors.marketo.sandbox.fields import FieldDef


def _run(client, **job) -> list[dict]:
    (created,) = client.execute("create_program_members_export_job", **job)
    assert created["status"] == "Created"
    (queued,) = client.execute("enqueue_program_members_export_job", job_id=created["exportId"])
    assert queued["status"] == "Queued"
    deadline = time.monotonic() + 20
    while (status := client.execute("get_program_members_export_job_status",
                                    job_id=created["exportId"])[0])["status"] not in ("Completed", "Failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status["status"] == "Completed", status
    data = client.execute("get_program_members_export_job_file", job_id=created["exportId"])
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert status["numberOfRecords"] == len(rows)
    return rows


def test_program_member_export_writes_member_and_lead_fields():
    code = FieldDef("leadsyncPartnerCode", "Partner Code")
    with MarketoSandbox(seed_leads=20, program_member_fields=[code]) as sandbox:
        webinar = sandbox.programs.create("Partner Webinar", channel="Webinar")
        other = sandbox.programs.create("Trade Show", channel="Tradeshow")
        sandbox.programs.add_members(webinar, [1, 2], status="Attended", custom={"leadsyncPartnerCode": "NW-01"})
        sandbox.programs.add_members(webinar, [3], status="Registered")
        sandbox.programs.add_members(other, [4], status="Visited Booth")
        client = sandbox.client(max_retry_time=2)
        email = {row["id"]: row["email"] for row in sandbox.db.rows("SELECT id, email FROM leads WHERE id <= 4")}

        one = _run(client, fields=["leadId", "email", "program", "statusName", "reachedSuccess",
                                   "leadsyncPartnerCode"], filters={"programId": webinar},
                   columnHeaderNames={"email": "Email Address"})
        both = _run(client, fields=["leadId", "statusName"], filters={"programIds": [webinar, other],
                                                                        "statusNames": ["Attended", "Visited Booth"]})

    assert one == [
        {"leadId": "1", "Email Address": email[1], "program": "Partner Webinar", "statusName": "Attended",
         "reachedSuccess": "true", "leadsyncPartnerCode": "NW-01"},
        {"leadId": "2", "Email Address": email[2], "program": "Partner Webinar", "statusName": "Attended",
         "reachedSuccess": "true", "leadsyncPartnerCode": "NW-01"},
        {"leadId": "3", "Email Address": email[3], "program": "Partner Webinar", "statusName": "Registered",
         "reachedSuccess": "false", "leadsyncPartnerCode": "null"}]
    assert list(both[0]) == ["programId", "leadId", "statusName"]  # programIds: programId comes first
    assert [(r["programId"], r["leadId"]) for r in both] == [(str(webinar), "1"), (str(webinar), "2"),
                                                               (str(other), "4")]


def test_a_program_member_job_needs_a_program(make_wire):
    with MarketoSandbox(seed_leads=5) as sandbox:
        answer = make_wire(sandbox).post("/bulk/v1/program/members/export/create.json",
                                         {"fields": ["leadId"], "filter": {"statusNames": ["Attended"]}})

    assert answer["success"] is False and answer["errors"][0]["code"] == "1003"

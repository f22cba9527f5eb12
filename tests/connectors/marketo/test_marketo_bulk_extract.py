"""Bulk Extract of leads and activities: the job life cycle through marketorestpython, the CSV Marketo
writes (literal `null`, renamed headers, JSON attributes), Range requests, and the queue, window and
daily-volume limits."""

import csv
import hashlib
import io
import json
import time
from datetime import datetime, timedelta

import pytest

from leadsync.connectors.marketo.sandbox.clock import CENTRAL, iso, naive_utc


def window(sandbox, days=31):
    end = sandbox.clock.now()
    return {"startAt": iso(end - timedelta(days=days)), "endAt": iso(end)}


def wait_for(client, kind, job_id, status="Completed"):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        (job,) = client.execute(f"get_{kind}_export_job_status", job_id=job_id)
        if job["status"] in (status, "Failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} stuck in {job['status']}")


def test_lead_export_runs_create_enqueue_status_file_and_writes_marketo_csv(client, sandbox):
    span = window(sandbox)
    expected = sandbox.db.scalar("SELECT count(*) FROM leads WHERE createdAt BETWEEN ? AND ?",
                                 [naive_utc(datetime.fromisoformat(span["startAt"])),
                                  naive_utc(datetime.fromisoformat(span["endAt"]))])
    (job,) = client.execute("create_leads_export_job", fields=["id", "email", "leadsyncPartner", "createdAt"],
                            filters={"createdAt": span}, columnHeaderNames={"email": "Email Address"})
    assert job["status"] == "Created" and job["format"] == "CSV"
    (queued,) = client.execute("enqueue_leads_export_job", job_id=job["exportId"])
    assert queued["status"] == "Queued" and "queuedAt" in queued
    done = wait_for(client, "leads", job["exportId"])
    assert done["status"] == "Completed" and done["numberOfRecords"] == expected > 0

    data = client.execute("get_leads_export_job_file", job_id=job["exportId"])
    assert done["fileSize"] == len(data) and done["fileChecksum"] == "sha256:" + hashlib.sha256(data).hexdigest()
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[0] == ["id", "Email Address", "leadsyncPartner", "createdAt"]
    assert len(rows) == expected + 1 and {row[2] for row in rows[1:]} == {"null"}
    assert all(span["startAt"] <= row[3] <= span["endAt"] for row in rows[1:])
    assert [j["exportId"] for j in client.execute("get_leads_export_jobs_list")] == [job["exportId"]]


def test_activity_export_has_the_default_columns_and_json_attributes(client, sandbox):
    (job,) = client.execute("create_activities_export_job",
                            filters={"createdAt": window(sandbox, 30), "activityTypeIds": [12]})
    client.execute("enqueue_activities_export_job", job_id=job["exportId"])
    assert wait_for(client, "activities", job["exportId"])["status"] == "Completed"
    rows = list(csv.DictReader(io.StringIO(client.execute("get_activities_export_job_file",
                                                          job_id=job["exportId"]).decode())))
    assert list(rows[0]) == ["marketoGUID", "leadId", "activityDate", "activityTypeId", "campaignId",
                             "primaryAttributeValueId", "primaryAttributeValue", "attributes"]
    assert {r["activityTypeId"] for r in rows} == {"12"} and rows[0]["campaignId"] == "null"
    assert json.loads(rows[0]["attributes"])["Source Type"] == "Web form fillout"


def test_file_is_404_until_done_then_served_with_ranges(wire, sandbox):
    sandbox.faults.exports_paused = True
    job = wire.post("/bulk/v1/leads/export/create.json", {"fields": ["id", "email"], "format": "TSV",
                                                          "filter": {"createdAt": window(sandbox)}})["result"][0]
    wire.post(f"/bulk/v1/leads/export/{job['exportId']}/enqueue.json")
    early = wire.raw("GET", f"/bulk/v1/leads/export/{job['exportId']}/file.json")
    assert early.status_code == 404 and early.headers["content-type"].startswith("text/plain")
    sandbox.faults.exports_paused = False
    sandbox.exports.poke()
    sandbox.exports.wait_idle()
    size = wire.get(f"/bulk/v1/leads/export/{job['exportId']}/status.json")["result"][0]["fileSize"]
    part = wire.raw("GET", f"/bulk/v1/leads/export/{job['exportId']}/file.json", headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content.startswith(b"id\temail\n")  # TSV
    assert part.headers["content-range"] == f"bytes 0-9/{size}" and part.headers["accept-ranges"] == "bytes"
    whole = wire.raw("GET", f"/bulk/v1/leads/export/{job['exportId']}/file.json")
    rest = wire.raw("GET", f"/bulk/v1/leads/export/{job['exportId']}/file.json",
                    headers={"Range": f"bytes=10-{size - 1}"})
    assert whole.status_code == 200 and part.content + rest.content == whole.content and len(whole.content) == size


@pytest.mark.parametrize(("filter_", "code"), [
    ({"createdAt": {"startAt": "2026-09-01T00:00:00Z", "endAt": "2026-10-03T00:00:00Z"}}, "1003"),  # 32 days
    ({"createdAt": {"startAt": "2026-09-01T00:00:00Z"}}, "1003"),
    ({"smartListId": 1001}, "1035"),  # the sandbox has no smart lists
    ({"staticListId": 424242}, "1003"),  # no such static list
    ({"createdAt": {"startAt": "2026-09-01T00:00:00Z", "endAt": "2026-09-02T00:00:00Z"}, "updatedAt": {}}, "1003"),
])
def test_export_filters_are_checked_like_marketo(wire, filter_, code):
    answer = wire.post("/bulk/v1/leads/export/create.json", {"fields": ["id"], "filter": filter_})
    assert answer["success"] is False and answer["errors"][0]["code"] == code


def test_updated_at_filter_can_be_switched_off_like_on_some_subscriptions(wire, sandbox):
    body = {"fields": ["id"], "filter": {"updatedAt": window(sandbox, 7)}}
    assert wire.post("/bulk/v1/leads/export/create.json", body)["success"]
    sandbox.limits.updated_at_export_filter = False
    refused = wire.post("/bulk/v1/leads/export/create.json", body)
    assert refused["errors"] == [{"code": "1035", "message": "Unsupported filter type for target subscription: "
                                                             "updatedAt"}]
    unknown_field = wire.post("/bulk/v1/leads/export/create.json", {"fields": ["id", "shoeSize"],
                                                                    "filter": {"createdAt": window(sandbox, 7)}})
    assert unknown_field["errors"][0]["code"] == "1006"


def test_queue_holds_ten_jobs_two_process_at_once_and_cancel_frees_a_place(wire, sandbox):
    sandbox.faults.exports_paused = True
    body = {"fields": ["id"], "filter": {"createdAt": window(sandbox, 5)}}
    ids = [wire.post("/bulk/v1/activities/export/create.json" if i % 2 else "/bulk/v1/leads/export/create.json",
                     {**body, "fields": None} if i % 2 else body)["result"][0]["exportId"] for i in range(11)]
    kinds = ["activities" if i % 2 else "leads" for i in range(11)]
    for kind, export_id in list(zip(kinds, ids, strict=True))[:10]:
        assert wire.post(f"/bulk/v1/{kind}/export/{export_id}/enqueue.json")["result"][0]["status"] == "Queued"
    full = wire.post(f"/bulk/v1/{kinds[10]}/export/{ids[10]}/enqueue.json")
    assert full["errors"] == [{"code": "1029", "message": "Too many jobs (10) in queue"}]
    twice = wire.post(f"/bulk/v1/{kinds[0]}/export/{ids[0]}/enqueue.json")
    assert twice["errors"][0]["code"] == "1029" and "already queued" in twice["errors"][0]["message"]

    cancelled = wire.post(f"/bulk/v1/{kinds[2]}/export/{ids[2]}/cancel.json")["result"][0]
    assert cancelled["status"] == "Cancelled"
    assert wire.get(f"/bulk/v1/{kinds[2]}/export/{ids[2]}/status.json")["result"][0]["status"] == "Canceled"
    assert wire.post(f"/bulk/v1/{kinds[10]}/export/{ids[10]}/enqueue.json")["success"]

    sandbox.faults.exports_paused = False
    sandbox.exports.poke()
    sandbox.exports.wait_idle()
    assert sandbox.exports.peak_processing == 2
    statuses = [wire.get(f"/bulk/v1/{k}/export/{i}/status.json")["result"][0]["status"]
                for k, i in zip(kinds, ids, strict=True)]
    assert statuses.count("Completed") == 10 and statuses[2] == "Canceled"
    listed = wire.get("/bulk/v1/leads/export.json", status="Canceled")["result"]
    assert [j["exportId"] for j in listed] == [ids[2]]


def test_export_daily_quota_stops_create_and_enqueue_until_midnight_central(client, sandbox):
    sandbox.faults.set_remaining_export_quota_mb(0.001)  # about 1 KB left today
    (job,) = client.execute("create_leads_export_job", fields=["id", "email"], filters={"createdAt": window(sandbox)})
    client.execute("enqueue_leads_export_job", job_id=job["exportId"])
    assert wait_for(client, "leads", job["exportId"])["fileSize"] > 1024  # a job that starts, finishes
    started = time.monotonic()
    with pytest.raises(Exception) as refused:
        client.execute("create_leads_export_job", fields=["id"], filters={"createdAt": window(sandbox)})
    assert refused.value.args[0] == {"message": "Export daily quota 500MB exceeded", "code": "1029"}
    assert time.monotonic() - started < 1.5  # the client does not retry this 1029

    now = sandbox.clock.now().astimezone(CENTRAL)
    midnight = datetime(now.year, now.month, now.day, tzinfo=CENTRAL) + timedelta(days=1)
    sandbox.clock.set(midnight + timedelta(minutes=1))
    fresh = sandbox.client(max_retry_time=2)  # hours passed on the sandbox clock: the old token is dead
    assert fresh.execute("create_leads_export_job", fields=["id"], filters={"createdAt": window(sandbox)})


def test_failed_jobs_report_their_error(wire, sandbox):
    sandbox.faults.fail_next_export("Export failed: database timeout")
    job = wire.post("/bulk/v1/leads/export/create.json", {"fields": ["id"], "filter": {
        "createdAt": window(sandbox)}})["result"][0]
    wire.post(f"/bulk/v1/leads/export/{job['exportId']}/enqueue.json")
    sandbox.exports.wait_idle()
    status = wire.get(f"/bulk/v1/leads/export/{job['exportId']}/status.json")["result"][0]
    assert status["status"] == "Failed" and status["errorMsg"] == "Export failed: database timeout"

"""The sandbox itself: envelope and request errors, fault switches, the clock, extra fields, seeded data
that is varied and deterministic, state kept across restarts, the CLI, and TLS."""

import re
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import requests
from leadsync.connectors.loopback_ports import free_port
from leadsync.connectors.marketo.sandbox import MarketoSandbox
from leadsync.connectors.marketo.sandbox.clock import SandboxClock, iso
from leadsync.connectors.marketo.sandbox.fields import FieldDef
from signal_defaults import reset_stop_signals

REPO = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


def test_every_answer_is_the_envelope_with_http_200_even_for_bad_requests(wire):
    ok = wire.get("/rest/v1/lead/1.json")
    assert list(ok) == ["requestId", "result", "success"] and re.fullmatch(r"[0-9a-f]+#[0-9a-f]+", ok["requestId"])
    cases = {
        "609": wire.raw("POST", "/rest/v1/leads.json", data="{not json", headers={"Content-Type": "application/json"}),
        "612": wire.raw("POST", "/rest/v1/leads.json", data="input=x", headers={"Content-Type": "text/plain"}),
        "610": wire.raw("GET", "/rest/v1/nothing/here.json"),
        "605": wire.raw("GET", "/rest/v1/activities/external.json"),
        "701": wire.raw("POST", "/rest/v1/leads.json", json={"input": []}),
    }
    for code, response in cases.items():
        assert response.status_code == 200 and response.json()["success"] is False
        assert response.json()["errors"][0]["code"] == code, (code, response.text)
    assert wire.raw("GET", "/rest/v1/lead/1.json?fields=" + "x" * 9000).status_code == 414


def test_form_encoded_queries_take_method_get_from_the_body_or_the_url(wire):
    in_body = wire.post("/rest/v1/leads.json", form={"_method": "GET", "filterType": "id", "filterValues": "1,2"})
    in_url = wire.post("/rest/v1/leads.json", params={"_method": "GET"}, form={"filterType": "id",
                                                                              "filterValues": "1,2"})
    assert [x["id"] for x in in_body["result"]] == [x["id"] for x in in_url["result"]] == [1, 2]


def test_a_bad_record_is_skipped_once_with_its_reason(client, sandbox):
    sandbox.faults.bad_record(3, "1003", "Value for field 'leadsyncPartner' is not allowed")
    first = client.execute("create_update_leads", leads=[{"id": 3, "leadsyncPartner": "Nope"},
                                                         {"id": 4, "leadsyncPartner": "Maple"}],
                           action="updateOnly", lookupField="id")
    assert first == [{"status": "skipped", "reasons": [{"code": "1003", "message":
                                                        "Value for field 'leadsyncPartner' is not allowed"}]},
                     {"id": 4, "status": "updated"}]
    again = client.execute("create_update_leads", leads=[{"email": sandbox.leads.row(3)["email"],
                                                          "leadsyncPartner": "Nope"}])
    assert again == [{"id": 3, "status": "updated"}]


def test_generic_http_faults_come_from_the_base_sandbox(wire, sandbox):
    sandbox.http_faults.fail_next(1, status=503, path_prefix="/rest/")
    assert wire.raw("GET", "/rest/v1/lead/1.json").status_code == 503
    assert wire.get("/rest/v1/lead/1.json")["success"]


def test_the_clock_stamps_created_and_updated_at(client, sandbox):
    sandbox.clock.freeze(T0)
    (created,) = client.execute("create_update_leads", leads=[{"email": "clock@example.com"}])
    sandbox.clock.advance(minutes=5)
    client.execute("create_update_leads", leads=[{"email": "clock@example.com", "title": "CTO"}])
    lead = sandbox.leads.row(created["id"])
    assert lead["createdAt"] == iso(T0) and lead["updatedAt"] == "2026-10-01T08:05:00Z"


def test_callers_add_lead_fields_that_describe_and_sync_honour(make_wire):
    tier = FieldDef("partnerTier", "Partner Tier", "integer")
    with MarketoSandbox(seed_leads=5, extra_lead_fields=[tier]) as sandbox:
        wire = make_wire(sandbox)
        described = {f["rest"]["name"]: f for f in wire.get("/rest/v1/leads/describe.json")["result"]}
        assert described["partnerTier"]["dataType"] == "integer"
        result = wire.post("/rest/v1/leads.json", {"action": "updateOnly", "lookupField": "id", "input": [
            {"id": 1, "partnerTier": 2}, {"id": 2, "partnerTier": "gold"}]})["result"]
        assert result[0]["status"] == "updated" and result[1]["reasons"][0]["code"] == "1003"
        assert wire.get("/rest/v1/leads.json", filterType="partnerTier", filterValues="2")["result"][0]["id"] == 1


def test_seeded_leads_are_deterministic_and_varied():
    def leads(seed):
        with MarketoSandbox(seed_leads=3000, seed=seed, clock=SandboxClock(start=T0)) as sandbox:
            frame = pd.DataFrame(sandbox.db.rows("SELECT * FROM leads ORDER BY id"))
            history = sandbox.db.scalar("SELECT count(*) FROM activities")
            return frame, history
    first, first_history = leads(5)
    again, again_history = leads(5)
    other, _ = leads(6)
    pd.testing.assert_frame_equal(first, again)
    assert first_history == again_history and not first.equals(other)

    assert first["email"].is_unique and set(first["country"]) == {"US", "CA", "GB", "DE", "FR"}
    us = first[first["country"] == "US"]
    assert us["postalCode"].str.fullmatch(r"\d{5}").all() and us["state"].str.fullmatch(r"[A-Z]{2}").all()
    assert first[first["country"] == "CA"]["postalCode"].str.fullmatch(r"[A-Z]\d[A-Z] \d[A-Z]\d").all()
    assert first["city"].notna().all() and first["industry"].nunique() == 10
    assert first["numberOfEmployees"].between(10, 50000).all() and first["numberOfEmployees"].nunique() > 500
    assert (first["updatedAt"] >= first["createdAt"]).all() and (first["createdAt"] < T0.replace(tzinfo=None)).all()


def test_state_survives_a_restart_with_a_data_dir(tmp_path, make_wire):
    with MarketoSandbox(data_dir=tmp_path, seed_leads=50) as first:
        wire = make_wire(first)
        wire.post("/rest/v1/leads.json", {"input": [{"email": "kept@example.com", "leadsyncPartner": "Maple"}]})
        wire.post("/rest/v1/opportunities.json", {"input": [{"externalOpportunityId": "K-1", "name": "Kept"}]})
        job = wire.post("/bulk/v1/leads/export/create.json", {"fields": ["id", "email"], "filter": {
            "createdAt": {"startAt": iso(first.clock.now().replace(day=1)), "endAt": iso(first.clock.now())}}})
        export_id = job["result"][0]["exportId"]
        wire.post(f"/bulk/v1/leads/export/{export_id}/enqueue.json")
        first.exports.wait_idle()
        activities = first.db.scalar("SELECT count(*) FROM activities")
    with MarketoSandbox(data_dir=tmp_path, seed_leads=50) as second:  # holds leads already: no re-seed
        wire = make_wire(second)
        assert second.seeded is None and second.leads.count() == 51
        (kept,) = wire.get("/rest/v1/leads.json", filterType="email", filterValues="kept@example.com",
                           fields="leadsyncPartner")["result"]
        assert kept == {"id": 51, "leadsyncPartner": "Maple"}
        assert wire.get("/rest/v1/opportunities.json", filterType="externalOpportunityId",
                        filterValues="K-1")["result"][0]["name"] == "Kept"
        assert wire.raw("GET", f"/bulk/v1/leads/export/{export_id}/file.json").status_code == 200
        wire.post("/rest/v1/leads.json", {"input": [{"email": "next@example.com"}]})
        assert second.db.scalar("SELECT max(id) FROM activities") == activities + 1




def test_the_cli_serves_seeded_data_and_prints_how_to_connect(tmp_path):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "leadsync.connectors.marketo.sandbox", "--data-dir", str(tmp_path),
                                "--port", str(port), "--seed-leads", "100"], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
        preexec_fn=reset_stop_signals)
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        text = "".join(lines)
        assert f"http://127.0.0.1:{port}" in text and "client secret: sandbox-secret" in text
        assert "seeded 100 leads" in text
        token = requests.get(f"http://127.0.0.1:{port}/identity/oauth/token", params={
            "grant_type": "client_credentials", "client_id": "leadsync-sandbox",
            "client_secret": "sandbox-secret"}).json()["access_token"]
        lead = requests.get(f"http://127.0.0.1:{port}/rest/v1/lead/100.json",
                            headers={"Authorization": f"Bearer {token}"}).json()
        assert lead["result"][0]["id"] == 100
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
    assert (tmp_path / "marketo.duckdb").exists()


def test_tls_serves_a_certificate_clients_can_trust(monkeypatch):
    with MarketoSandbox(seed_leads=3, tls=True) as sandbox:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.ca_pem_path))  # API_FACTS §0
        assert sandbox.url.startswith("https://")
        assert sandbox.client().execute("get_lead_by_id", id=2)[0]["id"] == 2

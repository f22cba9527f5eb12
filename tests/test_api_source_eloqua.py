"""An Eloqua source end to end on the sandbox: the Dagster job pulls contacts through Bulk exports, routes
them, and writes the distribution status back onto the contacts; later runs pull only what changed, and a
refused row is retried."""

from pathlib import Path

import pytest
import yaml
from jobs import failure_message, materialization, outbox_states, read_table, retried, run_job

from leadsync.connectors.eloqua.sandbox import EloquaSandbox
from leadsync.store import tables

SEEDED = 120


@pytest.fixture
def eloqua():
    with EloquaSandbox(seed_contacts=SEEDED, sync_delay_s=0.005) as sandbox:
        yield sandbox


@pytest.fixture
def project(project: Path, eloqua: EloquaSandbox, monkeypatch) -> Path:
    (project / "mappings/sources/sftp_demo.yaml").unlink()  # this test is about the Eloqua source alone
    source = {
        "name": "eloqua_demo", "type": "eloqua", "contacts": ["ops@supplier.example"],
        "connection": {"login_url": eloqua.url, "site": eloqua.site, "username": eloqua.username,
                       "password_env": "LEADSYNC_ELOQUA_DEMO_PASSWORD", "sync_poll_s": 0.01, "timeout_s": 10},
        "writeback": {"fields": {"distribution_status": "C_LeadSync_Distribution_Status1",
                                 "partner_name": "C_LeadSync_Partner1"}},
        "fields": [
            {"column": "C_EmailAddress", "field": "email", "format": "email", "required": True},
            {"column": "C_FirstName", "field": "first_name"},
            {"column": "C_LastName", "field": "last_name"},
            {"column": "C_Company", "field": "company"},
            {"column": "C_Country", "field": "country"},
            {"column": "C_State_Prov", "field": "state"},
            {"column": "C_Zip_Postal", "field": "postal_code"},
            {"column": "C_Title", "field": "title"},
        ],
    }
    (project / "mappings/sources/eloqua_demo.yaml").write_text(yaml.safe_dump(source, sort_keys=False))
    monkeypatch.setenv("LEADSYNC_ELOQUA_DEMO_PASSWORD", eloqua.password)
    return project






def test_contacts_are_pulled_routed_and_their_status_written_back(project, eloqua, duckdb_url):
    refused = eloqua.state.contacts.table.to_pylist()[0]["C_EmailAddress"]
    eloqua.reject_next_import_of(refused, "Value too long for field C_LeadSync_Partner1")
    result = run_job(project, duckdb_url)
    assert result.success

    leads = read_table(duckdb_url, tables.leads)
    assert len(leads) == SEEDED and leads["source_record_id"].notna().all()
    decisions = read_table(duckdb_url, tables.assignments).merge(leads, on="lead_id")
    routed = decisions[decisions["status"] == "routed"]
    assert len(routed) > 0
    names = {"northwind": "Northwind Networks", "cascade": "Cascade Secure", "bluepeak": "Blue Peak Security",
             "maple": "Maple Systems", "albion": "Albion IT", "rhein": "Rhein Digital",
             "summit": "Summit Enterprise Partners"}
    for _, lead in routed.head(10).iterrows():
        if lead["email"] == refused:
            continue
        contact = eloqua.contact(lead["email"])
        assert contact["C_LeadSync_Distribution_Status1"] == "Routed"
        assert contact["C_LeadSync_Partner1"] == names[lead["partner_id"]]

    outbox = outbox_states(duckdb_url)  # each event carries its lead's email
    assert set(outbox["email"]) <= set(leads["email"])
    pending = outbox[outbox["state"] == "pending"]
    tried = pending[pending["attempts"].fillna(0) > 0]
    assert tried["email"].tolist() == [refused]
    assert "Value too long" in tried["last_error"].iloc[0] and tried["attempts"].iloc[0] == 1
    # the rest are the acceptances of an auto-accept partner's leads (Maple takes the Canadian ones), queued by
    # partners/deliveries after this run's writeback (writebacks do not wait for deliveries): sent next run
    routed_to = decisions[["lead_id", "partner_id"]].rename(columns={"partner_id": "routed_to"})
    waiting = pending[pending["attempts"].fillna(0) == 0].merge(routed_to, on="lead_id")
    assert set(waiting["routed_to"]) <= {"maple"} and set(waiting["kind"]) <= {"distribution_status"}

    # Next run: one contact changed in Eloqua; only it is pulled again, it updates its lead (no new lead,
    # no second routing), and the refused row is written this time.
    changed = leads.iloc[5]
    eloqua.clock.advance(3600)
    updated = eloqua.session().session.put(  # the REST API, as a marketer editing the contact would
        f"{eloqua.session().base_url}/api/REST/1.0/data/contact/{changed['source_record_id']}",
        json={"id": changed["source_record_id"], "emailAddress": changed["email"], "title": "Chief Buyer"})
    assert updated.status_code == 200, updated.text
    again = run_job(project, duckdb_url)
    assert again.success
    assert materialization(again, "eloqua_demo/raw_rows")["dagster/row_count"] == 1
    leads_now = read_table(duckdb_url, tables.leads).set_index("lead_id")
    assert len(leads_now) == SEEDED and leads_now.loc[changed["lead_id"], "title"] == "Chief Buyer"
    assert len(read_table(duckdb_url, tables.assignments)) == SEEDED
    outbox_now = outbox_states(duckdb_url)
    assert (outbox_now["state"] == "sent").all()
    assert eloqua.contact(refused)["C_LeadSync_Distribution_Status1"] in ("Routed", "Not Routed", "Needs Review")


def test_a_mapped_field_eloqua_does_not_have_fails_the_pull_with_file_and_fix(project, eloqua, duckdb_url):
    path = project / "mappings/sources/eloqua_demo.yaml"
    path.write_text(path.read_text().replace("C_Title", "C_Job_Title"))
    result = run_job(project, duckdb_url)
    assert not result.success
    message = failure_message(result)
    assert "eloqua_demo.yaml" in message and "Eloqua contact has no field 'C_Job_Title'" in message


def test_wrong_password_fails_without_retry_and_names_the_login_url(project, eloqua, duckdb_url, monkeypatch):
    monkeypatch.setenv("LEADSYNC_ELOQUA_DEMO_PASSWORD", "wrong")
    result = run_job(project, duckdb_url)
    assert not result.success
    assert eloqua.url in failure_message(result) and not retried(result)


def test_statuses_can_go_to_a_custom_object_instead_of_contact_fields(project, eloqua, duckdb_url):
    status = eloqua.add_custom_object("LeadSync Status", [("Contact Key", "text", True),
                                                          ("Distribution Status", "text"), ("Partner", "text")])
    path = project / "mappings/sources/eloqua_demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["writeback"] = {"status_object": "LeadSync Status",
                         "fields": {"distribution_status": "Distribution Status", "partner_name": "Partner"}}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert run_job(project, duckdb_url).success
    records = eloqua.custom_object_records(status.id)
    assert len(records) == SEEDED
    assert {r["Distribution Status"] for r in records} <= {"Routed", "Not Routed", "Needs Review", "Accepted"}

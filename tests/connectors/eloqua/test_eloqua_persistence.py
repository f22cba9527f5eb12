"""State kept in a data folder survives restarts; the CLI serves a demo instance."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests
from leadsync.connectors.eloqua.sandbox import EloquaSandbox
from leadsync.connectors.loopback_ports import free_port
from signal_defaults import reset_stop_signals

REPO = Path(__file__).resolve().parents[3]


def test_state_survives_a_restart(tmp_path, field, bulk_client):
    with EloquaSandbox(seed_contacts=200, data_dir=tmp_path, sync_delay_s=0) as first:
        bulk = bulk_client(first.session())
        uri = bulk.export({"Email": field("C_EmailAddress"), "Id": "{{Contact.Id}}"})
        page = bulk.data(uri, limit=20, offset=40).json()
        bulk.import_rows({"Id": "{{Contact.Id}}", "S": field("C_LeadSync_Sales_Status1")}, "Id",
                         [{"Id": "7", "S": "Qualified"}])
        bulk.import_rows({"Ext": "{{CustomObject[1].Field[101]}}", "Stage": "{{CustomObject[1].Field[104]}}"},
                         "Ext", [{"Ext": "OPP-9", "Stage": "Open"}], entity="customObjects/1")
        first.add_contact_field("Partner Tier")
    assert (tmp_path / "state.json").exists() and (tmp_path / "contacts.parquet").exists()
    with EloquaSandbox(seed_contacts=999, data_dir=tmp_path) as second:
        assert second.restored and len(second.state.contacts) == 200  # restored, not re-seeded
        bulk = bulk_client(second.session())
        assert bulk.data(uri, limit=20, offset=40).json() == page  # a pull interrupted by the restart resumes
        assert second.contact_by_id(7)["C_LeadSync_Sales_Status1"] == "Qualified"
        assert second.custom_object_records(1)[0]["Stage"] == "Open"
        assert second.state.contacts.field("C_Partner_Tier1") is not None
        new_export = bulk.export({"Email": field("C_EmailAddress")})
        assert int(new_export.split("/")[-1]) > int(uri.split("/")[-1])  # ids keep counting


def test_cli_prints_urls_and_credentials_and_serves(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "leadsync.connectors.eloqua.sandbox", "--port", str(port), "--seed-contacts", "50",
         "--data-dir", str(tmp_path / "eloqua")], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=reset_stop_signals)
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        text = "".join(lines)
        assert f"http://127.0.0.1:{port}/id" in text and "LeadSyncDemo / Demo.User" in text
        authorization = next(ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Authorization:"))
        body = requests.get(f"http://127.0.0.1:{port}/id", headers={"Authorization": authorization}).json()
        assert body["urls"]["base"] == f"http://127.0.0.1:{port}"
        contacts = requests.get(f"http://127.0.0.1:{port}/API/REST/1.0/data/contacts",
                                headers={"Authorization": authorization}).json()
        assert contacts["total"] == 50
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
    assert (tmp_path / "eloqua" / "state.json").exists()



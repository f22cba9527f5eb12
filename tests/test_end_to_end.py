"""End to end on real servers: files on the sandbox SFTP -> one run of the job -> leads, quarantine,
assignments and a status file in the SFTP outbox; a second run adds and duplicates nothing."""

from __future__ import annotations

import io
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml
from jobs import raw_row_count, read_table, run_job
from leadsync.connectors.sftp.sandbox import SftpSandbox

from leadsync import pipeline
from leadsync.config.loader import project_paths
from leadsync.defs.build import build_definitions
from leadsync.store import LeadStore, tables

PASSWORD = "s3cret-for-tests"
HEADER = "Email,First Name,Last Name,Company,Country,State,Postal Code,Products of Interest,Lead Type,Campaign,Created Date,Partner\n"


@pytest.fixture
def sandbox(tmp_path):
    with SftpSandbox(tmp_path / "sftp", users={"demo": PASSWORD}) as server:
        yield server


@pytest.fixture
def project(project, sandbox, monkeypatch):
    """The repo's mappings pointed at the test's sandbox."""
    known_hosts = sandbox.write_known_hosts(project / "known_hosts")
    path = project / "mappings/sources/sftp_demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["connection"].update(port=sandbox.port, known_hosts=str(known_hosts))
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("LEADSYNC_SFTP_DEMO_PASSWORD", PASSWORD)
    return project


def inbox(sandbox: SftpSandbox) -> Path:
    return sandbox.root / "inbox"


def drop(sandbox: SftpSandbox, name: str, content: str | bytes) -> None:
    """A file in the inbox as a finished upload of a minute ago: settled, so the pull reads it at once instead of
    watching it for `settle_seconds` (2 s per run; files still being written: tests/hostile/test_inbox_stability.py)."""
    path = inbox(sandbox) / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    then = time.time() - 60
    os.utime(path, (then, then))


def outbox_rows(sandbox: SftpSandbox) -> pd.DataFrame:
    files = sorted((sandbox.root / "outbox").glob("*.csv"))
    if not files:
        return pd.DataFrame()
    return pd.concat([pd.read_csv(f, dtype=str).assign(file=f.name) for f in files], ignore_index=True)


def drop_mixed_files(sandbox: SftpSandbox) -> None:
    drop(sandbox, "good.csv",
         HEADER
         + "ann@acme.com,Ann,Lee,Acme,US,CA,94105,Firewall;SD-WAN,SMB,Expo,2026-11-01T10:00:00Z,\n"
         + "bob@beta.com,Bob,Ray,Beta,US,NY,10001,Endpoint,Mid-Market,Expo,2026-11-01,\n"
         + "not-an-email,Cid,Fox,Gamma,US,CA,94105,Firewall,SMB,Expo,2026-11-01,\n"
         + "dee@delta.com,Dee,Oak,Delta,US,TX,73301,Firewall,SMB,Expo,yesterday,\n"
         + "eve@eps.com,Eve,Ash,Eps,CA,ON,M5V,Cloud Backup,SMB,Expo,2026-11-02,\n"
         + "fay@phi.com,Fay,Elm,Phi,US,TX,73301,Firewall,SMB,Expo,2026-11-02,Blue Peak Security\n"
         + "gus@chi.com,Gus,Yew,Chi,US,TX,73301,Firewall,SMB,Expo,2026-11-02,Nobody Inc\n"
         + "hal@psi.com,Hal,Fir,Psi,US,TX,73301,Firewall,Huge,Expo,2026-11-02,\n")
    drop(sandbox, "bom_semicolon.csv",
         ("\ufeff" + HEADER.replace(",", ";").replace("Firewall;SD-WAN", "x")
          + "ivy@omega.de;Ivy;Müller;Omega GmbH;DE;;10115;Firewall;SMB;Messe;2026-11-03;\n").encode("utf-8"))
    drop(sandbox, "latin1.csv",
         (HEADER + "zoe@kappa.fr,Zoë,Lefèvre,Kappa,FR,,75001,Endpoint,SMB,Salon,2026-11-03,\n").encode("cp1252"))
    drop(sandbox, "empty.csv", b"")
    drop(sandbox, "no_email.csv", HEADER.replace("Email,", "E-mail,") + "x,Jo,Ko,K,US,CA,1,Firewall,SMB,E,2026-11-01,\n")
    buf = io.BytesIO()
    pd.DataFrame({"Email": ["kim@xl.com"], "Last Name": ["Kim"]}).to_excel(buf, index=False)
    drop(sandbox, "truncated.xlsx", buf.getvalue()[: len(buf.getvalue()) // 2])


def test_one_run_pulls_validates_routes_and_writes_back(project, sandbox, store_url, mail_sandbox):
    drop_mixed_files(sandbox)
    result = run_job(project, store_url, reports=True)  # the whole job: the reports on real data, both engines
    assert result.success

    leads = read_table(store_url, tables.leads).set_index("email")
    assert set(leads.index) == {"ann@acme.com", "bob@beta.com", "eve@eps.com", "fay@phi.com", "gus@chi.com",
                                "ivy@omega.de", "zoe@kappa.fr"}
    assert leads.loc["zoe@kappa.fr", "first_name"] == "Zoë"  # cp1252 decoded
    assert leads.loc["ivy@omega.de", "last_name"] == "Müller"  # BOM stripped, ';' delimiter sniffed

    quarantine = read_table(store_url, tables.quarantine).set_index("row_number")
    reasons = dict(zip(quarantine["file_name"] + ":" + quarantine.index.astype(str), quarantine["reason"]))
    assert "not a valid email address" in reasons["good.csv:3"]
    assert "'yesterday' is not a date/time" in reasons["good.csv:4"]
    assert "'Huge' is not one of" in reasons["good.csv:8"]
    assert len(reasons) == 3

    processed = {p.name for p in (sandbox.root / "processed").iterdir()}
    assert processed == {"good.csv", "bom_semicolon.csv", "latin1.csv"}
    errors = sorted(p.name for p in (sandbox.root / "error").iterdir())
    assert errors == sorted(["empty.csv", "empty.csv.error.txt", "no_email.csv", "no_email.csv.error.txt",
                             "truncated.xlsx", "truncated.xlsx.error.txt"])
    assert "Email" in (sandbox.root / "error/no_email.csv.error.txt").read_text()
    assert not list(inbox(sandbox).iterdir())

    decisions = read_table(store_url, tables.assignments).merge(read_table(store_url, tables.leads), on="lead_id")
    by_email = decisions.set_index("email")
    assert by_email.loc["ann@acme.com", "partner_id"] == "northwind"
    assert by_email.loc["bob@beta.com", "partner_id"] == "bluepeak"
    assert by_email.loc["eve@eps.com", "partner_id"] == "maple"
    assert by_email.loc["fay@phi.com", ["partner_id", "step"]].tolist() == ["bluepeak", "named_partner"]
    assert by_email.loc["gus@chi.com", "status"] == "needs_review"
    assert by_email.loc["ivy@omega.de", "partner_id"] == "rhein"
    assert all(by_email["reason"].str.len() > 10)

    all_rows = outbox_rows(sandbox)
    # Maple auto-accepts: eve's lead is Routed, then Accepted on delivery (one more status row)
    assert sorted(all_rows.loc[all_rows["email"] == "eve@eps.com", "distribution_status"]) == ["Accepted", "Routed"]
    status = all_rows[all_rows["distribution_status"] != "Accepted"].set_index("email")
    assert len(status) == 7 and all_rows["file"].nunique() == 1
    assert status.loc["ann@acme.com", "distribution_status"] == "Routed"
    assert status.loc["ann@acme.com", "partner_name"] == "Northwind Networks"
    assert status.loc["gus@chi.com", "distribution_status"] == "Needs Review"
    assert status.loc["ann@acme.com", ["source_file", "source_row"]].tolist() == ["good.csv", "1"]

    check_results = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert check_results["schema_valid"] is True
    assert check_results["quarantine_rate"] is False  # 3 of 10 rows is above the 5% warning line

    mails = len(mail_sandbox.messages())
    assert mails >= 3  # Northwind (ann), Blue Peak (bob, fay), Rhein (ivy, zoe)…
    # Second run: nothing new arrives, so nothing new is stored, routed, emailed or written back.
    def counts_now():
        return {**{t.name: len(read_table(store_url, t)) for t in (tables.leads, tables.quarantine, tables.assignments,
                                                                  tables.writeback_outbox)},
                "raw": raw_row_count(store_url, "sftp_demo")}
    counts = counts_now()
    again = run_job(project, store_url)
    assert again.success
    assert counts == counts_now()
    assert len(outbox_rows(sandbox)) == 8
    # the partners without auto-accept got their notification emails, once
    assert {m.name for m in mail_sandbox.messages()} and len(mail_sandbox.messages()) == mails


def test_new_files_on_a_later_run_are_added_alongside(project, sandbox, duckdb_url):
    drop(sandbox, "a.csv", HEADER + "ann@acme.com,Ann,Lee,Acme,US,CA,94105,Firewall,SMB,E,2026-11-01,\n")
    assert run_job(project, duckdb_url).success
    # the same person again in a new file (new content: a file of content already received is skipped)
    drop(sandbox, "b.csv", HEADER + "ann@acme.com,Ann,Lee,Acme,US,CA,94105,Firewall,SMB,F,2026-11-02,\n")
    assert run_job(project, duckdb_url).success
    # SFTP: every record received is its own lead, even with the same email.
    assert len(read_table(duckdb_url, tables.leads)) == 2
    status = outbox_rows(sandbox)
    assert len(status) == 2 and status["file"].nunique() == 2


def test_a_file_left_in_the_inbox_after_a_crash_is_not_stored_twice(project, sandbox, duckdb_url):
    """A run died after storing a file's rows but before moving it: the next run only moves it."""
    drop(sandbox, "a.csv", HEADER + "ann@acme.com,Ann,Lee,Acme,US,CA,94105,Firewall,SMB,E,2026-11-01,\n")
    assert run_job(project, duckdb_url).success
    (sandbox.root / "processed/a.csv").rename(inbox(sandbox) / "a.csv")  # as if the move never happened
    assert run_job(project, duckdb_url).success
    assert raw_row_count(duckdb_url, "sftp_demo") == 1 and len(read_table(duckdb_url, tables.leads)) == 1
    assert (sandbox.root / "processed/a.csv").exists()


def test_a_crash_between_upload_and_record_resends_the_same_file_only(project, sandbox, duckdb_url):
    paths, store = project_paths(project / "mappings"), LeadStore(duckdb_url)
    drop(sandbox, "a.csv", HEADER + "ann@acme.com,Ann,Lee,Acme,US,CA,94105,Firewall,SMB,E,2026-11-01,\n")
    pipeline.pull(paths, store, "sftp_demo")
    pipeline.map_and_validate(paths, store, "sftp_demo")
    pipeline.route_leads(paths, store, "sftp_demo")
    from leadsync.writeback import outbox, sftp_status_file

    # Simulate: batch prepared and uploaded, then the process died before recording it as sent.
    batch = outbox.prepare_batch(store, "sftp_demo", pipeline.now_utc(), sftp_status_file.status_file_name("sftp_demo"))
    with pipeline.sftp_client(pipeline.source_config(paths, "sftp_demo"),
                              pipeline.source_file(paths, "sftp_demo"), paths) as client:
        client.upload_outbox(batch.target_name, sftp_status_file.render_status_csv(store, batch))
    report = pipeline.write_back(paths, store, "sftp_demo")
    assert report.resumed == 1 and report.events_sent == 1
    assert [p.name for p in (sandbox.root / "outbox").glob("*.csv")] == [batch.target_name]
    assert pipeline.write_back(paths, store, "sftp_demo").events_sent == 0


def test_a_typo_in_the_source_yaml_fails_that_run_with_file_key_and_fix(project, sandbox, duckdb_url):
    path = project / "mappings/sources/sftp_demo.yaml"
    path.write_text(path.read_text().replace("uniqueness:", "uniquness:"))
    drop(sandbox, "a.csv", HEADER + "ann@acme.com,Ann,Lee,Acme,US,CA,94105,Firewall,SMB,E,2026-11-01,\n")
    defs = build_definitions(project / "mappings", duckdb_url)  # the code location still loads
    result = defs.resolve_job_def("leadsync").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.user_failure_data.description
    assert "Source 'sftp_demo' is misconfigured" in message
    assert str(path) in message and "uniquness: unknown key" in message and "did you mean 'uniqueness'" in message
    assert (inbox(sandbox) / "a.csv").exists()  # nothing was taken from the inbox


def test_missing_secret_and_wrong_password_fail_without_retry(project, sandbox, duckdb_url, monkeypatch):
    monkeypatch.delenv("LEADSYNC_SFTP_DEMO_PASSWORD")
    result = run_job(project, duckdb_url)
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "LEADSYNC_SFTP_DEMO_PASSWORD is not set" in failure.step_failure_data.user_failure_data.description

    monkeypatch.setenv("LEADSYNC_SFTP_DEMO_PASSWORD", "wrong")
    result = run_job(project, duckdb_url)
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1  # a config error is not retried
    assert "cannot connect" in failures[0].step_failure_data.user_failure_data.description
    assert not any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)


def test_a_partner_registered_lead_reaches_the_suppliers_status_file(project, sandbox, duckdb_url):
    from leadsync import pipeline
    from leadsync.config.loader import project_paths
    from leadsync.lifecycle.context import load_lifecycle
    from leadsync.lifecycle.registration import register_partner_leads
    from leadsync.store import LeadStore

    lifecycle = project / "mappings/lifecycle.yaml"
    lifecycle.write_text(lifecycle.read_text().replace("target_source: null", "target_source: sftp_demo"))
    paths, store = project_paths(project / "mappings"), LeadStore(duckdb_url)
    report = register_partner_leads(load_lifecycle(paths, store), "northwind", [
        {"reference": "NW-1", "email": "new@prospect.example", "company": "Prospect", "country": "US",
         "products": "Firewall"}], datetime.now(UTC))
    assert report.registered == 1
    sent = pipeline.write_back(paths, store, "sftp_demo")
    assert sent.events_sent == 1
    rows = outbox_rows(sandbox)
    assert rows[["event", "email", "partner_name", "distribution_status"]].values.tolist() == [
        ["registration", "new@prospect.example", "Northwind Networks", "Registered"]]

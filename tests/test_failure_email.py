"""A source whose pull fails emails exactly its supplier contacts, through a real SMTP server on loopback:
subject names the source, body has the cause and fix, the run id and a link to the run in the UI."""

import email
from email import policy

import dagster as dg
import pytest
import yaml

from leadsync.connectors.sftp.sandbox import SftpSandbox
from leadsync.defs.build import build_definitions
from leadsync.defs.failure_email import supplier_failure_email
from leadsync.defs.resources import LeadsyncResource


@pytest.fixture
def sftp(tmp_path):
    with SftpSandbox(tmp_path / "sftp", users={"demo": "right"}) as server:
        yield server


@pytest.fixture
def project(project, sftp, monkeypatch):
    path = project / "mappings/sources/sftp_demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["connection"].update(port=sftp.port, known_hosts=str(sftp.write_known_hosts(project / "known_hosts")))
    data["contacts"] = ["ops@supplier.example", "dana@supplier.example"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("LEADSYNC_DAGSTER_URL", "http://dagster.internal:3000")
    return project


def fail_and_sense(project, duckdb_url) -> dg.ExecuteInProcessResult:
    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions(project / "mappings", duckdb_url)
    result = defs.resolve_job_def("leadsync").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    resource = LeadsyncResource(mappings_dir=str(project / "mappings"), store_url=duckdb_url)
    with dg.build_run_status_sensor_context(
            sensor_name="supplier_failure_email", dagster_instance=instance, dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(), resources={"leadsync": resource}) as context:
        supplier_failure_email(context.for_run_failure())
    return result


def test_a_wrong_password_emails_the_sources_contacts(project, duckdb_url, mail_sandbox, monkeypatch):
    monkeypatch.setenv("LEADSYNC_SFTP_DEMO_PASSWORD", "wrong")
    result = fail_and_sense(project, duckdb_url)
    (mail,) = mail_sandbox.messages()
    message = email.message_from_bytes(mail.read_bytes(), policy=policy.default)
    assert message["X-Envelope-To"] == "ops@supplier.example, dana@supplier.example"
    assert message["Subject"].startswith("leadsync: source 'sftp_demo' failed: Source 'sftp_demo' cannot connect")
    body = message.get_content()
    assert "authentication" in body.lower() or "password" in body.lower()
    assert result.run_id in body and f"http://dagster.internal:3000/runs/{result.run_id}" in body


def test_a_broken_yaml_still_reaches_its_contacts(project, duckdb_url, mail_sandbox, monkeypatch):
    monkeypatch.setenv("LEADSYNC_SFTP_DEMO_PASSWORD", "right")
    path = project / "mappings/sources/sftp_demo.yaml"
    path.write_text(path.read_text().replace("uniqueness:", "uniquness:"))
    fail_and_sense(project, duckdb_url)
    (mail,) = mail_sandbox.messages()
    message = email.message_from_bytes(mail.read_bytes(), policy=policy.default)
    assert "ops@supplier.example" in message["X-Envelope-To"]
    assert "uniquness: unknown key" in message.get_content() and "did you mean 'uniqueness'" in message.get_content()

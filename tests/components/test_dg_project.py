"""leadsync's components in a user's own Dagster project: `dg scaffold defs` writes a LeadSource for an SFTP
source, `dg check defs` passes, a broken field fails it with the message `leadsync check` gives, and the
source's job runs against the SFTP sandbox.

Each `dg` command starts Python processes of its own (seconds each), so the test runs three of them; the
partners and lifecycle components are scaffolded in this process by the function `dg scaffold defs` calls.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from dagster.components.component_scaffolding import scaffold_object
from dagster.components.core.package_entry import discover_entry_point_package_objects
from dg_project_files import forget_module, write_project

from leadsync.checks.lint import lint_project
from leadsync.config.loader import project_paths
from leadsync.connectors.sftp.sandbox import SftpSandbox

BIN = Path(sys.executable).parent
PASSWORD = "dg-project-sftp-password"
HEADER = "Email,First Name,Last Name,Company,Country\n"


def dg_command(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(BIN.parent),
           "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([str(BIN / "dg"), *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def sandbox(tmp_path):
    with SftpSandbox(tmp_path / "sftp", users={"leads": PASSWORD}) as server:
        yield server


@pytest.fixture
def lead_desk(tmp_path, sandbox, mail_sandbox, monkeypatch) -> Path:
    """A dg project with the partners and lifecycle components; partner emails go to the test's SMTP server."""
    root = tmp_path / "lead_desk"
    defs = write_project(root, "lead_desk")
    sandbox.write_known_hosts(root / "known_hosts")  # the scaffold's known_hosts: relative to the project root
    for name, component in (("partners", "Routing"), ("lifecycle", "PartnerLifecycle")):
        scaffold_object(defs / name, f"leadsync.components.{component}", None, "yaml", root)
    lifecycle = defs / "lifecycle/defs.yaml"
    lifecycle.write_text(lifecycle.read_text().replace("host: smtp.example.com", "host: 127.0.0.1")
                         .replace("port: 587", f"port: {mail_sandbox.port}")
                         .replace("security: starttls", "security: plain"))
    for variable, value in (("INBOX_LEADS_SFTP_PASSWORD", PASSWORD), ("LEADSYNC_LIFECYCLE_SECRET", "link-secret"),
                            ("LEADSYNC_STORE_URL", f"duckdb:///{tmp_path / 'leads.duckdb'}")):
        monkeypatch.setenv(variable, value)
    monkeypatch.syspath_prepend(str(root))
    forget_module("lead_desk")
    yield root
    forget_module("lead_desk")


def scaffold_source(root: Path, port: int) -> Path:
    done = dg_command(root, "scaffold", "defs", "leadsync.components.LeadSource", "inbox_leads",
                      "--type", "sftp", "--host", "127.0.0.1", "--port", str(port))
    assert done.returncode == 0, done.stdout + done.stderr
    return root / "lead_desk/defs/inbox_leads/defs.yaml"


def test_dg_finds_leadsyncs_components_through_the_entry_point():
    found = {f"{key.namespace}.{key.name}" for key in discover_entry_point_package_objects()}
    assert {"leadsync.components.LeadSource", "leadsync.components.Routing",
            "leadsync.components.PartnerLifecycle"} <= found


def test_scaffolded_sftp_source_checks_and_runs_against_the_sandbox(lead_desk: Path, sandbox: SftpSandbox,
                                                                     tmp_path: Path):
    written = yaml.safe_load(scaffold_source(lead_desk, sandbox.port).read_text())
    assert written["type"] == "leadsync.components.LeadSource"
    assert written["attributes"]["name"] == "inbox_leads"
    assert written["attributes"]["connection"]["port"] == sandbox.port
    assert written["requirements"]["env"] == ["INBOX_LEADS_SFTP_PASSWORD"]

    checked = dg_command(lead_desk, "check", "defs", "--use-active-venv")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (lead_desk / ".leadsync/sources/inbox_leads.yaml").exists()  # the mappings folder the runs read

    (sandbox.root / "inbox/fair.csv").write_text(
        HEADER + "ann@acme.com,Ann,Lee,Acme,US\nbob@beta.com,Bob,Ray,Beta,US\nnot-an-email,Cid,Fox,Gamma,US\n")
    defs = dg.load_from_defs_folder(project_root=lead_desk)
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("inbox_leads_sync").execute_in_process(instance=instance, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    with duckdb.connect(str(tmp_path / "leads.duckdb"), read_only=True) as store:
        leads = {row[0] for row in store.execute("select email from leads").fetchall()}
        routed = dict(store.execute("select l.email, a.partner_id from leads l join assignments a "
                                    "on a.lead_id = l.lead_id").fetchall())
    assert leads == {"ann@acme.com", "bob@beta.com"}  # not-an-email is quarantined
    assert routed == {"ann@acme.com": "first_partner", "bob@beta.com": "first_partner"}
    assert [f.name for f in (sandbox.root / "processed").iterdir()] == ["fair.csv"]
    assert list((sandbox.root / "outbox").glob("*.csv"))  # the status rows written back to the source


def test_a_broken_field_fails_dg_check_defs_with_leadsyncs_own_message(lead_desk: Path, sandbox: SftpSandbox):
    source_yaml = scaffold_source(lead_desk, sandbox.port)
    source_yaml.write_text(source_yaml.read_text().replace("    - {column: Country, field: country}",
                                                           "    - {column: Country, field: country, type: picklist}"))
    checked = dg_command(lead_desk, "check", "defs", "--use-active-venv")
    assert checked.returncode != 0

    # the same attributes as a file under mappings/: what `leadsync check` says about it
    mappings = lead_desk.parent / "plain/mappings"
    (mappings / "sources").mkdir(parents=True)
    attributes = yaml.safe_load(source_yaml.read_text())["attributes"]
    (mappings / "sources/inbox_leads.yaml").write_text(yaml.safe_dump(attributes, sort_keys=False))
    said = [p for p in lint_project(project_paths(mappings)) if p.file.endswith("inbox_leads.yaml") and p.is_error]
    assert [p.key for p in said] == ["fields[4] (country)"]
    output = checked.stdout + checked.stderr
    assert f"lead_desk/defs/inbox_leads/defs.yaml (attributes): {said[0].key}: {said[0].message}" in output


def test_a_secret_templated_into_an_env_key_is_refused_without_showing_it(lead_desk: Path, monkeypatch):
    monkeypatch.setenv("THE_SECRET", "hunter2-do-not-print")
    defs = lead_desk / "lead_desk/defs"
    scaffold_object(defs / "crm_leads", "leadsync.components.LeadSource", '{"type": "salesforce"}', "yaml", lead_desk)
    source_yaml = defs / "crm_leads/defs.yaml"
    source_yaml.write_text(source_yaml.read_text().replace("consumer_secret_env: CRM_LEADS_SALESFORCE_SECRET",
                                                           'consumer_secret_env: "{{ env.THE_SECRET }}"'))
    with pytest.raises(Exception) as caught:
        dg.load_from_defs_folder(project_root=lead_desk)
    text = "".join(str(e) for e in (caught.value, caught.value.__cause__) if e)
    assert "connection.consumer_secret_env: give the name of the environment variable" in text
    assert "hunter2" not in text

"""leadsync's components in a user's own Dagster project: `dg scaffold defs` writes a LeadSource for an SFTP
source (and the partners and lifecycle), `dg check defs` passes, a broken field fails it with the message
`leadsync check` gives, and the source's assets run against the SFTP sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from leadsync.checks.lint import lint_project
from leadsync.config.loader import project_paths
from leadsync.connectors.sftp.sandbox import SftpSandbox

BIN = Path(sys.executable).parent
PASSWORD = "dg-project-sftp-password"
HEADER = "Email,First Name,Last Name,Company,Country\n"


def write_project(root: Path) -> None:
    """What `dg scaffold project lead_desk` writes, less what needs the network (uv, a venv of its own):
    the active environment, which has leadsync installed, runs it."""
    (root / "lead_desk/defs").mkdir(parents=True)
    (root / "pyproject.toml").write_text(textwrap.dedent("""\
        [project]
        name = "lead_desk"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["leadsync"]

        [tool.dg]
        directory_type = "project"

        [tool.dg.project]
        root_module = "lead_desk"
        """))
    (root / "lead_desk/__init__.py").write_text("")
    (root / "lead_desk/defs/__init__.py").write_text("")
    (root / "lead_desk/definitions.py").write_text(textwrap.dedent("""\
        from pathlib import Path

        import dagster as dg


        @dg.definitions
        def defs() -> dg.Definitions:
            return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
        """))


def dg_command(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(BIN.parent),
           "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([str(BIN / "dg"), *args], cwd=root, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def sandbox(tmp_path):
    with SftpSandbox(tmp_path / "sftp", users={"leads": PASSWORD}) as server:
        yield server


@pytest.fixture
def lead_desk(tmp_path, sandbox, mail_sandbox, monkeypatch) -> Path:
    root = tmp_path / "lead_desk"
    write_project(root)
    sandbox.write_known_hosts(root / "known_hosts")  # the scaffold's known_hosts: relative to the project root
    monkeypatch.setenv("INBOX_LEADS_SFTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("LEADSYNC_LIFECYCLE_SECRET", "dg-project-link-secret")
    monkeypatch.setenv("LEADSYNC_STORE_URL", f"duckdb:///{tmp_path / 'leads.duckdb'}")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    defs = "lead_desk/defs"
    for args in (["leadsync.components.LeadSource", f"{defs}/inbox_leads", "--type", "sftp",
                  "--host", "127.0.0.1", "--port", str(sandbox.port)],
                 ["leadsync.components.Routing", f"{defs}/partners"],
                 ["leadsync.components.PartnerLifecycle", f"{defs}/lifecycle"]):
        done = dg_command(root, "scaffold", "defs", *args)
        assert done.returncode == 0, done.stdout + done.stderr
    lifecycle = root / defs / "lifecycle/defs.yaml"  # partner emails go to the test's SMTP server
    lifecycle.write_text(lifecycle.read_text().replace("host: smtp.example.com", "host: 127.0.0.1")
                         .replace("port: 587", f"port: {mail_sandbox.port}").replace("security: starttls",
                                                                                      "security: plain"))
    return root


def test_scaffolded_sftp_source_checks_and_runs_against_the_sandbox(lead_desk: Path, sandbox: SftpSandbox,
                                                                     tmp_path: Path, monkeypatch):
    source_yaml = lead_desk / "lead_desk/defs/inbox_leads/defs.yaml"
    written = yaml.safe_load(source_yaml.read_text())
    assert written["type"] == "leadsync.components.LeadSource"
    assert written["attributes"]["name"] == "inbox_leads"
    assert written["attributes"]["connection"]["port"] == sandbox.port
    assert written["requirements"]["env"] == ["INBOX_LEADS_SFTP_PASSWORD"]

    listed = dg_command(lead_desk, "list", "components")
    assert "leadsync.components.LeadSource" in listed.stdout, listed.stdout + listed.stderr

    checked = dg_command(lead_desk, "check", "defs", "--use-active-venv")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # the component's config went into the project's mappings folder, which runs read
    assert (lead_desk / ".leadsync/sources/inbox_leads.yaml").exists()

    # a drop of files in the sandbox's inbox, then the source's five assets, as the source's job runs them
    (sandbox.root / "inbox/fair.csv").write_text(
        HEADER + "ann@acme.com,Ann,Lee,Acme,US\nbob@beta.com,Bob,Ray,Beta,US\nnot-an-email,Cid,Fox,Gamma,US\n")
    monkeypatch.syspath_prepend(str(lead_desk))
    defs = dg.load_from_defs_folder(project_root=lead_desk)
    job = defs.resolve_job_def("inbox_leads_sync")
    with dg.instance_for_test(temp_dir=str(tmp_path / "instance")) as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    with duckdb.connect(str(tmp_path / "leads.duckdb"), read_only=True) as store:
        leads = {row[0] for row in store.execute("select email from leads").fetchall()}
        routed = dict(store.execute("select l.email, a.partner_id from leads l join assignments a "
                                    "on a.lead_id = l.lead_id").fetchall())
    assert leads == {"ann@acme.com", "bob@beta.com"}  # not-an-email is quarantined
    assert routed == {"ann@acme.com": "first_partner", "bob@beta.com": "first_partner"}
    assert list((sandbox.root / "processed").iterdir()) and list((sandbox.root / "outbox").iterdir())


def test_a_broken_field_fails_dg_check_defs_with_leadsyncs_own_message(lead_desk: Path):
    source_yaml = lead_desk / "lead_desk/defs/inbox_leads/defs.yaml"
    text = source_yaml.read_text()
    source_yaml.write_text(text.replace("        - {column: Country, field: country}",
                                        "        - {column: Country, field: country, type: picklist}"))
    checked = dg_command(lead_desk, "check", "defs", "--use-active-venv")
    assert checked.returncode != 0

    # the same attributes as a file under mappings/: what `leadsync check` says about it
    mappings = lead_desk.parent / "plain/mappings"
    (mappings / "sources").mkdir(parents=True)
    attributes = yaml.safe_load(source_yaml.read_text())["attributes"]
    (mappings / "sources/inbox_leads.yaml").write_text(yaml.safe_dump(attributes, sort_keys=False))
    said = [p for p in lint_project(project_paths(mappings)) if p.file.endswith("inbox_leads.yaml")]
    assert said, "leadsync check finds nothing wrong with the file"
    message = f"{said[0].key}: {said[0].message}"
    assert "picklist" in message
    assert message in checked.stdout + checked.stderr
    assert "lead_desk/defs/inbox_leads/defs.yaml" in checked.stdout + checked.stderr


def test_a_secret_templated_into_an_env_key_is_refused_without_showing_it(lead_desk: Path, monkeypatch):
    monkeypatch.setenv("THE_SECRET", "hunter2-do-not-print")
    source_yaml = lead_desk / "lead_desk/defs/inbox_leads/defs.yaml"
    source_yaml.write_text(source_yaml.read_text().replace("password_env: INBOX_LEADS_SFTP_PASSWORD",
                                                           'password_env: "{{ env.THE_SECRET }}"'))
    monkeypatch.syspath_prepend(str(lead_desk))
    with pytest.raises(Exception) as caught:
        dg.load_from_defs_folder(project_root=lead_desk)
    assert "connection.password_env: give the name of the environment variable" in str(caught.value)
    assert "hunter2" not in str(caught.value)

"""`dg check defs` over leadsync's components answers in leadsync's words: a broken field gives the message
`leadsync check` gives for the same key under mappings/, and a secret templated into a `*_env` key is refused
without being shown."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster.components.component_scaffolding import scaffold_object
from dg_project_files import dg_command
from leadsync.connectors.sftp.sandbox import SftpSandbox

from leadsync.checks.lint import lint_project
from leadsync.config.loader import project_paths


def test_a_broken_field_fails_dg_check_defs_with_leadsyncs_own_message(lead_desk: Path, sandbox: SftpSandbox):
    # scaffolded in this process by what `dg scaffold defs` runs (tests/components/test_dg_project.py runs dg)
    folder = lead_desk / "lead_desk/defs/inbox_leads"
    scaffold_object(folder, "leadsync.components.LeadSource", f'{{"port": {sandbox.port}}}', "yaml", lead_desk)
    source_yaml = folder / "defs.yaml"
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
        dg.load_from_defs_folder(path_within_project=lead_desk)
    text = "".join(str(e) for e in (caught.value, caught.value.__cause__) if e)
    assert "connection.consumer_secret_env: give the name of the environment variable" in text
    assert "hunter2" not in text

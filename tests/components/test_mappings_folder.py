"""The `.leadsync/` mappings folder a dg project's components keep for the runs holds what the defs folder
declares and no more: a source whose defs.yaml is gone or renamed leaves it, and one name declared twice
fails the load naming both files."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
from dagster.components.component_scaffolding import scaffold_object
from dg_project_files import forget_module, write_project

from leadsync.components.project_folder import declared_by
from leadsync.config.loader import load_partners, load_source

MODULE = "folder_desk"


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "folder_desk"
    defs = write_project(root, MODULE)
    for name in ("north_leads", "south_leads"):
        scaffold_object(defs / name, "leadsync.components.LeadSource", None, "yaml", root)
    monkeypatch.syspath_prepend(str(root))
    forget_module(MODULE)
    yield root
    forget_module(MODULE)


def load(root: Path) -> dg.Definitions:
    forget_module(MODULE)
    return dg.load_from_defs_folder(path_within_project=root)


def sources(root: Path) -> list[str]:
    return sorted(f.stem for f in (root / ".leadsync/sources").glob("*.yaml"))


def test_each_file_names_its_defs_yaml_and_leaves_with_it(project: Path):
    defs = project / MODULE / "defs"
    load(project)
    assert sources(project) == ["north_leads", "south_leads"]
    assert declared_by(project / ".leadsync/sources/north_leads.yaml") == (defs / "north_leads/defs.yaml").resolve()
    assert load_source(project / ".leadsync/sources/north_leads.yaml").connection.host == "sftp.example.com"

    shutil.rmtree(defs / "south_leads")
    assert {k.to_user_string() for k in load(project).resolve_all_asset_keys()} >= {"north_leads/raw_rows"}
    assert sources(project) == ["north_leads"]

    renamed = defs / "north_leads/defs.yaml"
    renamed.write_text(renamed.read_text().replace("name: north_leads", "name: east_leads"))
    load(project)
    assert sources(project) == ["east_leads"]


def test_one_source_name_declared_twice_fails_naming_both_files(project: Path):
    defs = project / MODULE / "defs"
    load(project)
    second = defs / "south_leads/defs.yaml"
    second.write_text(second.read_text().replace("name: south_leads", "name: north_leads"))
    with pytest.raises(Exception) as caught:
        load(project)
    text = "".join(str(e) for e in (caught.value, caught.value.__cause__) if e)
    assert "name: 'north_leads' is also the name of the source declared in" in text
    assert str((defs / "north_leads/defs.yaml").resolve()) in text or str((defs / "south_leads/defs.yaml").resolve()) in text


def test_templates_are_rendered_and_relative_paths_start_at_the_project_root(project: Path, monkeypatch):
    monkeypatch.setenv("NORTH_SFTP_HOST", "sftp.north.example")
    defs = project / MODULE / "defs"
    source = defs / "north_leads/defs.yaml"
    source.write_text(source.read_text().replace("host: sftp.example.com", 'host: "{{ env.NORTH_SFTP_HOST }}"')
                      .replace("known_hosts: known_hosts", 'known_hosts: "{{ context.project_root }}/keys/hosts"')
                      .replace("{column: Country, field: country}",
                               '{column: Country, field: country, type: picklist, values: ["1", "true"]}'))
    scaffold_object(defs / "partners", "leadsync.components.Routing", None, "yaml", project)
    routing = defs / "partners/defs.yaml"
    routing.write_text(routing.read_text().replace("  routing:\n", "  routing:\n    protected_accounts_file: accounts.csv\n"))
    (project / "accounts.csv").write_text("company,partner\nWayne Enterprises,first_partner\n")
    load(project)
    cfg = load_source(project / ".leadsync/sources/north_leads.yaml")
    assert cfg.connection.host == "sftp.north.example"
    assert cfg.connection.known_hosts == f"{project.resolve()}/keys/hosts"
    assert cfg.field("country").values == ["1", "true"]  # quoted values stay strings
    partners = load_partners(project / ".leadsync/partners.yaml")
    assert [a.company for a in partners.routing.protected_accounts] == ["Wayne Enterprises"]

    (project / "accounts.csv").unlink()
    with pytest.raises(Exception) as caught:
        load(project)
    text = "".join(str(e) for e in (caught.value, caught.value.__cause__) if e)
    assert (f"{MODULE}/defs/partners/defs.yaml (attributes): protected accounts file not found; "
            "fix routing.protected_accounts_file") in text

"""leadsync's own code location is built from its components, and the same YAML moved into a dg project's
defs.yaml files builds the same source, routing and partner definitions (one schema, two homes)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml
from dg_project_files import forget_module, write_project

from leadsync.components import LeadSource, PartnerLifecycle, Routing
from leadsync.config.loader import load_partners, load_source, project_paths, source_files
from leadsync.defs.build import build_definitions, components
from leadsync.defs.report_assets import report_assets
from leadsync.defs.resources import LeadsyncResource
from leadsync.lifecycle.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
LOCATION_ONLY_JOBS = {"leadsync"}  # the all-sources job of leadsync's own code location
LOCATION_ONLY_SENSORS = {"leadsync_automation", "leadsync_dead_run_slots"}


@pytest.fixture
def mirror(tmp_path, monkeypatch) -> Path:
    """A dg project whose defs.yaml files hold the repo's mappings/ files as they are."""
    root = tmp_path / "mirror"
    defs = write_project(root, "mirror_desk")

    def declare(folder: str, component: type, file: Path) -> None:
        (defs / folder).mkdir()
        document = {"type": f"leadsync.components.{component.__name__}", "attributes": yaml.safe_load(file.read_text())}
        (defs / folder / "defs.yaml").write_text(yaml.safe_dump(document, sort_keys=False))

    paths = project_paths(REPO / "mappings")
    for file in source_files(paths):
        declare(file.stem, LeadSource, file)
    declare("partners", Routing, paths.partners_file)
    declare("lifecycle", PartnerLifecycle, paths.mappings / "lifecycle.yaml")
    monkeypatch.syspath_prepend(str(root))
    forget_module("mirror_desk")
    yield root
    forget_module("mirror_desk")


def test_the_location_is_built_from_a_component_per_source_and_the_two_project_wide_ones():
    paths = project_paths(REPO / "mappings")
    built = components(paths)
    assert [type(c).__name__ for c in built] == ["LeadSource"] * 4 + ["Routing", "PartnerLifecycle"]
    assert sorted(c.name for c in built if isinstance(c, LeadSource)) == sorted(f.stem for f in source_files(paths))
    defs = build_definitions(REPO / "mappings")
    from_components = dg.Definitions.merge(*(c.definitions() for c in built),
                                           dg.Definitions(resources={"leadsync": LeadsyncResource()}))
    assert {k.to_user_string() for k in defs.resolve_all_asset_keys()} == (
        {k.to_user_string() for k in from_components.resolve_all_asset_keys()}
        | {k.to_user_string() for a in report_assets() for k in a.keys})


def test_the_same_yaml_in_a_dg_project_builds_the_same_definitions(mirror: Path):
    own = build_definitions(REPO / "mappings")
    mine = dg.load_from_defs_folder(path_within_project=mirror)

    reports = {k for a in report_assets() for k in a.keys}
    assert set(mine.resolve_all_asset_keys()) == set(own.resolve_all_asset_keys()) - reports
    own_graph, my_graph = own.resolve_asset_graph(), mine.resolve_asset_graph()
    assert my_graph.asset_check_keys == {c for c in own_graph.asset_check_keys if c.asset_key not in reports}
    for key in my_graph.get_all_asset_keys():
        mine_spec, own_spec = my_graph.get(key), own_graph.get(key)
        assert (mine_spec.group_name, mine_spec.kinds, mine_spec.pools, set(mine_spec.parent_keys)) == (
            own_spec.group_name, own_spec.kinds, own_spec.pools, set(own_spec.parent_keys)), key

    def names(items) -> set:
        return {i.name for i in items}

    own_repo, my_repo = own.get_repository_def(), mine.get_repository_def()
    assert names(my_repo.get_all_jobs()) == names(own_repo.get_all_jobs()) - LOCATION_ONLY_JOBS
    assert {(s.name, s.cron_schedule, s.job_name) for s in my_repo.schedule_defs} == {
        (s.name, s.cron_schedule, s.job_name) for s in own_repo.schedule_defs}
    # a dg project has no leadsync_automation sensor: Dagster's default one follows the assets' conditions
    assert names(my_repo.sensor_defs) - {"default_automation_condition_sensor"} == (
        names(own_repo.sensor_defs) - LOCATION_ONLY_SENSORS)

    # the files the components keep for the runs are the repo's files, key for key
    generated = project_paths(mirror / ".leadsync")
    for file in source_files(project_paths(REPO / "mappings")):
        assert load_source(generated.sources_dir / file.name) == load_source(file)
    assert load_partners(generated.partners_file) == load_partners(REPO / "mappings/partners.yaml")
    assert load_settings(generated.mappings / "lifecycle.yaml") == load_settings(REPO / "mappings/lifecycle.yaml")
    assert mine.resources["leadsync"].paths == generated

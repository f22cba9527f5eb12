"""The code location loads from the YAML, and a broken source file never takes it down."""

from pathlib import Path

import dagster as dg

from leadsync.definitions import defs as location_defs
from leadsync.defs.build import build_definitions


def keys(defs: dg.Definitions) -> set[str]:
    return {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}


def test_the_code_location_builds_every_source_asset_and_the_job():
    defs = location_defs()
    assert {"sftp_demo/raw_rows", "sftp_demo/leads", "sftp_demo/assignments", "sftp_demo/writeback"} <= keys(defs)
    assert defs.resolve_job_def("leadsync") is not None
    check_keys = {c.name for c in defs.resolve_asset_graph().asset_check_keys}
    assert {"schema_valid", "quarantine_rate"} <= check_keys


def test_a_source_file_that_is_not_even_yaml_still_gets_its_assets(project: Path):
    (project / "mappings/sources/broken.yaml").write_text("name: broken\nfields: [unclosed\n")
    defs = build_definitions(project / "mappings")
    assert "broken/raw_rows" in keys(defs) and "sftp_demo/raw_rows" in keys(defs)

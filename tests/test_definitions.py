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


def test_the_code_location_is_built_again_only_when_what_it_is_built_from_changed(project: Path, monkeypatch):
    """Dagster loads the code location for every step a worker takes of another job than its last, and twice
    in a run's process: the same Definitions come back until a file under mappings/ or the environment
    changes, and then the new ones."""
    import os

    monkeypatch.setenv("LEADSYNC_MAPPINGS_DIR", str(project / "mappings"))
    first = location_defs()
    assert location_defs() is first
    assert "copy/raw_rows" not in keys(first)

    source = project / "mappings/sources/sftp_demo.yaml"
    (project / "mappings/sources/copy.yaml").write_text(source.read_text().replace("sftp_demo", "copy"))
    added = location_defs()
    assert added is not first and "copy/raw_rows" in keys(added)
    assert location_defs() is added

    # an edit that keeps the size: the modification time alone tells
    partners = project / "mappings/partners.yaml"
    stat = partners.stat()
    os.utime(partners, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert location_defs() is not added

    edited = location_defs()
    monkeypatch.setenv("LEADSYNC_CELERY_QUEUE", "another-queue")  # the environment is part of what it reads
    assert location_defs() is not edited

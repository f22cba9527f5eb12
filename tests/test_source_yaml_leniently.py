"""A source file read leniently (building the code location reads each one about five times) is parsed once per
text: a rewritten file is read afresh, even one of the same size written within one timestamp tick, and what a
caller changes in the result is not handed to the next caller."""

from __future__ import annotations

from leadsync.config.loader import project_paths, source_yaml_leniently


def test_a_rewritten_source_file_is_read_afresh_and_callers_get_their_own_copy(tmp_path):
    sources = tmp_path / "mappings/sources"
    sources.mkdir(parents=True)
    file = sources / "drop.yaml"
    file.write_text("type: sftp\nconnection: {port: 2222}\n")
    paths = project_paths(tmp_path / "mappings")

    first = source_yaml_leniently(paths, "drop")
    assert first == {"type": "sftp", "connection": {"port": 2222}}
    first["connection"]["port"] = 1  # a caller changing its copy
    assert source_yaml_leniently(paths, "drop")["connection"]["port"] == 2222

    file.write_text("type: sftp\nconnection: {port: 2223}\n")  # same size, at once
    assert source_yaml_leniently(paths, "drop")["connection"]["port"] == 2223


def test_a_broken_or_missing_source_file_reads_as_empty(tmp_path):
    sources = tmp_path / "mappings/sources"
    sources.mkdir(parents=True)
    (sources / "broken.yaml").write_text("type: [sftp\n")
    paths = project_paths(tmp_path / "mappings")
    assert source_yaml_leniently(paths, "broken") == {}
    assert source_yaml_leniently(paths, "missing") == {}

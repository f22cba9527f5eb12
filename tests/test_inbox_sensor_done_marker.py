"""With `files.done_marker`, the inbox sensor starts a run when a file's marker arrives (the run that reads
the file), not when the file alone does (a run that would leave it waiting, with nothing to start another)."""

import dagster as dg
import pytest
from sftp_drop import HEADER, PASSWORD, inbox, point_at

from leadsync.connectors.sftp.sandbox import SftpSandbox
from leadsync.defs.build import build_definitions
from leadsync.defs.resources import LeadsyncResource


@pytest.fixture
def sftp(tmp_path):
    with SftpSandbox(tmp_path / "sftp", users={"demo": PASSWORD}) as server:
        yield server


def test_the_markers_arrival_starts_the_run_and_the_file_alone_does_not(project, sftp, monkeypatch, duckdb_url):
    point_at(project, sftp, monkeypatch, files={"done_marker": ".done"})
    sensor = build_definitions(project / "mappings", duckdb_url).resolve_sensor_def("sftp_demo_inbox_sensor")
    resources = {"leadsync": LeadsyncResource(mappings_dir=str(project / "mappings"), store_url=duckdb_url)}
    instance = dg.DagsterInstance.ephemeral()

    def tick(cursor):
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
            return sensor(context), context.cursor

    (inbox(sftp) / "leads.csv").write_text(HEADER + "ann@acme.com,Ann,Lee,Acme,US,CA,94105,Firewall,SMB,E,,\n")
    result, cursor = tick(None)
    assert isinstance(result, dg.SkipReason) and "1 waiting for their done-marker" in result.skip_message
    (inbox(sftp) / "leads.csv.done").write_text("")
    result, cursor = tick(cursor)
    assert isinstance(result, dg.RunRequest) and result.tags["leadsync/new_files"] == "1"
    again, cursor = tick(cursor)
    assert isinstance(again, dg.SkipReason)


def test_without_a_marker_setting_a_file_starts_the_run_at_once(project, sftp, monkeypatch, duckdb_url):
    point_at(project, sftp, monkeypatch)
    sensor = build_definitions(project / "mappings", duckdb_url).resolve_sensor_def("sftp_demo_inbox_sensor")
    resources = {"leadsync": LeadsyncResource(mappings_dir=str(project / "mappings"), store_url=duckdb_url)}
    (inbox(sftp) / "leads.csv").write_text(HEADER)
    with dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), resources=resources) as context:
        assert isinstance(sensor(context), dg.RunRequest)

"""Automation, all on by default: a schedule per source from its YAML cron, a drop sensor that starts a run
when new files reach an SFTP inbox (and not again for the same files), an automation-condition sensor."""

import dagster as dg
import pytest
import yaml

from leadsync.connectors.sftp.sandbox import SftpSandbox
from leadsync.defs.build import build_definitions
from leadsync.defs.resources import LeadsyncResource

PASSWORD = "pw"


@pytest.fixture
def sftp(tmp_path):
    with SftpSandbox(tmp_path / "sftp", users={"demo": PASSWORD}) as server:
        yield server


@pytest.fixture
def project(project, sftp, monkeypatch):
    path = project / "mappings/sources/sftp_demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["connection"].update(port=sftp.port, known_hosts=str(sftp.write_known_hosts(project / "known_hosts")))
    data["schedule"] = "15 */2 * * *"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("LEADSYNC_SFTP_DEMO_PASSWORD", PASSWORD)
    return project


def test_every_source_has_a_running_schedule_from_its_yaml_and_the_jobs_exist(project, duckdb_url):
    defs = build_definitions(project / "mappings", duckdb_url)
    schedule = defs.resolve_schedule_def("sftp_demo_schedule")
    assert schedule.cron_schedule == "15 */2 * * *" and schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "sftp_demo_sync"
    statuses = {s.name: s.default_status for s in defs.schedules}
    assert set(statuses) >= {"sftp_demo_schedule", "reroute_schedule", "closed_loop_schedule",
                             "partner_mail_retry_schedule"}
    assert set(statuses.values()) == {dg.DefaultScheduleStatus.RUNNING}
    sensors = {s.name: s.default_status for s in defs.sensors}
    assert set(sensors) >= {"sftp_demo_inbox_sensor", "supplier_failure_email", "leadsync_automation"}
    assert set(sensors.values()) == {dg.DefaultSensorStatus.RUNNING}


def test_a_schedule_of_null_turns_it_off_and_a_bad_cron_is_a_config_error(project, duckdb_url):
    from leadsync.config import ConfigError, load_source

    path = project / "mappings/sources/sftp_demo.yaml"
    path.write_text(path.read_text().replace("schedule: 15 */2 * * *", "schedule: null"))
    assert "sftp_demo_schedule" not in {s.name for s in build_definitions(project / "mappings", duckdb_url).schedules}
    path.write_text(path.read_text().replace("schedule: null", "schedule: every hour"))
    with pytest.raises(ConfigError, match="'every hour' is not a cron expression"):
        load_source(path)


def test_new_inbox_files_start_one_run_and_the_same_files_never_another(project, sftp, duckdb_url):
    defs = build_definitions(project / "mappings", duckdb_url)
    sensor = defs.resolve_sensor_def("sftp_demo_inbox_sensor")
    resources = {"leadsync": LeadsyncResource(mappings_dir=str(project / "mappings"), store_url=duckdb_url)}
    instance = dg.DagsterInstance.ephemeral()

    def tick(cursor):
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
            result = sensor(context)
            return result, context.cursor

    result, cursor = tick(None)
    assert isinstance(result, dg.SkipReason)
    (sftp.root / "inbox" / "a.csv").write_text("Email\nann@acme.com\n")
    result, cursor = tick(cursor)
    assert isinstance(result, dg.RunRequest) and result.run_key.startswith("sftp_demo:")
    again, cursor = tick(cursor)
    assert isinstance(again, dg.SkipReason)
    (sftp.root / "inbox" / "b.csv").write_text("Email\nbob@beta.com\n")
    (sftp.root / "inbox" / "c.csv.part").write_text("Email\n")  # an upload in flight is not announced
    later, cursor = tick(cursor)
    assert isinstance(later, dg.RunRequest) and later.run_key != result.run_key
    assert later.tags["leadsync/new_files"] == "1"

"""Automation, all on by default: a job and a schedule per source (cron from its YAML), a drop sensor per
SFTP source (new inbox files start a run; the cursor remembers what was seen), and an automation-condition
sensor so downstream assets follow when upstream ones change outside a job (e.g. one asset materialised by
hand in the UI)."""

import hashlib
import json

import dagster as dg
from dagster._utils.schedules import is_valid_cron_string

from leadsync.config import ConfigError
from leadsync.config.loader import ProjectPaths, source_yaml_leniently
from leadsync.defs.resources import LeadsyncResource
from leadsync.pipeline import source_config, source_file
from leadsync.pull.sftp_files import file_settings
from leadsync.sources import sftp_client

DEFAULT_CRON = "*/30 * * * *"
# The time-window history partitions (leadsync/defs/backfill.py) are launched as backfills of their own job,
# never as part of a sync.
HISTORY_TAG = ("leadsync/history", "window")
HISTORY = dg.AssetSelection.tag(*HISTORY_TAG)
RUNNING = dg.DefaultScheduleStatus.RUNNING


def source_job_name(source: str) -> str:
    return f"{source}_sync"


def source_job(source: str):
    return dg.define_asset_job(
        source_job_name(source), selection=dg.AssetSelection.groups(source) - HISTORY,
        description=f"Pull, map, route and write back {source}.", tags={"leadsync/source": source})


def declared_cron(paths: ProjectPaths, source: str) -> str | None:
    """The source's `schedule`, read leniently (a file that does not validate keeps the default, so its
    scheduled run fails with the real error and its contacts are emailed)."""
    data = source_yaml_leniently(paths, source)
    if "schedule" not in data:
        return DEFAULT_CRON
    value = data["schedule"]
    return value if value is None or (isinstance(value, str) and is_valid_cron_string(value)) else DEFAULT_CRON


def source_schedule(paths: ProjectPaths, source: str, job) -> dg.ScheduleDefinition | None:
    cron = declared_cron(paths, source)
    if cron is None:
        return None
    return dg.ScheduleDefinition(name=f"{source}_schedule", job=job, cron_schedule=cron, default_status=RUNNING,
                                 execution_timezone="UTC", description=f"Runs {source} end to end on `{cron}`.")


def inbox_sensor(source: str, job) -> dg.SensorDefinition:
    """New files in an SFTP source's inbox start a run. The cursor holds the files already announced (name,
    size, mtime); a run key per set of new files makes a repeated tick harmless. With `files.done_marker`, a
    file is announced once its marker is there too: the marker's arrival starts the run that reads the file
    (a run started by the file alone would leave it waiting, and nothing would start another)."""

    @dg.sensor(name=f"{source}_inbox_sensor", job=job, minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Starts {source}'s job when new lead files arrive in its SFTP inbox.")
    def _sensor(context: dg.SensorEvaluationContext, leadsync: LeadsyncResource):
        paths = leadsync.paths
        try:
            cfg = source_config(paths, source)
            with sftp_client(cfg, source_file(paths, source), paths) as client:
                files, unmarked = ready_to_announce(client, file_settings(cfg).done_marker)
        except ConfigError as exc:
            return dg.SkipReason(f"{source}: {exc}")
        except Exception as exc:  # noqa: BLE001 - an unreachable server is a skipped tick; the schedule still runs
            return dg.SkipReason(f"{source}: cannot list the inbox: {exc}")
        seen = set(json.loads(context.cursor)) if context.cursor else set()
        current = {f"{f.name}|{f.size}|{f.mtime.isoformat()}" for f in files}
        new = sorted(current - seen)
        # keep only what is still there: a file re-dropped later under the same name is new again
        context.update_cursor(json.dumps(sorted(current)))
        if not new:
            waiting = f" ({unmarked} waiting for their done-marker)" if unmarked else ""
            return dg.SkipReason(f"no new files in {source}'s inbox{waiting}")
        key = hashlib.sha1("\n".join(new).encode()).hexdigest()[:16]
        return dg.RunRequest(run_key=f"{source}:{key}", tags={"leadsync/new_files": str(len(new))})

    return _sensor


def ready_to_announce(client, done_marker: str | None) -> tuple[list, int]:
    """(the inbox's lead files a run would read: all, or with `done_marker` those whose marker is there; how
    many wait for their marker)."""
    files = client.list_inbox()
    if not done_marker:
        return files, 0
    present = client.inbox_names()
    marked = [f for f in files if f.name + done_marker in present]
    return marked, len(files) - len(marked)


def automation_sensor() -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        "leadsync_automation", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
        description="Materialises downstream assets when their upstream ones change.")


def source_automation(paths: ProjectPaths, sources: list[tuple[str, str]]):
    """(jobs, schedules, sensors) for the declared sources."""
    jobs, schedules, sensors = [], [], []
    for name, kind in sources:
        job = source_job(name)
        jobs.append(job)
        schedule = source_schedule(paths, name, job)
        if schedule is not None:
            schedules.append(schedule)
        if kind == "sftp":
            sensors.append(inbox_sensor(name, job))
    return jobs, schedules, sensors

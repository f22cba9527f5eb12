"""Build the code location's Definitions from the YAML under mappings/."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from leadsync.config.loader import ProjectPaths, project_paths, source_files, source_yaml_leniently
from leadsync.defs.automation import HISTORY, automation_sensor, source_automation
from leadsync.defs.backfill import backfills
from leadsync.defs.config_checks import source_config_checks
from leadsync.defs.failure_email import supplier_failure_email
from leadsync.defs.lifecycle_defs import (
    closed_loop,
    lifecycle_assets,
    lifecycle_schedules,
    partner_mail_retry,
)
from leadsync.defs.partner_crm_defs import partner_crm_definitions
from leadsync.defs.pool_recovery import dead_run_slots, freeing_dead_slots
from leadsync.defs.report_assets import report_assets
from leadsync.defs.resources import LeadsyncResource
from leadsync.defs.routing_jobs import manual_assignment, reroute_job_and_schedule
from leadsync.defs.source_assets import build_source_assets
from leadsync.runs.executors import executor_for
from leadsync.scale.profile import current_profile


def declared_sources(paths: ProjectPaths) -> list[tuple[str, str]]:
    """(name, kind) per source file, read leniently: a file that does not parse still gets its assets
    (named after the file) so that its run fails with the real error message."""
    found = []
    for file in source_files(paths):
        kind = source_yaml_leniently(paths, file.stem).get("type")
        found.append((file.stem, kind if isinstance(kind, str) else "sftp"))
    return found


def build_definitions(mappings_dir: str | Path | None = None, store_url: str | None = None) -> dg.Definitions:
    paths = project_paths(mappings_dir)
    sources = declared_sources(paths)
    assets = [a for name, kind in sources for a in build_source_assets(name, kind)]
    assets += lifecycle_assets([name for name, _ in sources])
    assets += report_assets()
    history_assets, history_jobs = backfills(paths, sources)
    assets += history_assets
    checks = [c for name, _ in sources for c in source_config_checks(name)]
    reroute_job, reroute_schedule = reroute_job_and_schedule([name for name, _ in sources])
    source_jobs, source_schedules, inbox_sensors = source_automation(paths, sources)
    profile = current_profile()
    executor, recovery = executor_for(profile, store_url), []
    if profile != "scale":  # a run killed with kill -9 must not hold the lead_store slot for ever (pool_slots.py)
        executor, recovery = freeing_dead_slots(executor), [dead_run_slots]
    definitions = dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[dg.define_asset_job("leadsync", selection=dg.AssetSelection.all() - HISTORY,
                                  description="Pull, map, route and write back every source."),
              *source_jobs, *history_jobs, reroute_job, manual_assignment, partner_mail_retry, closed_loop],
        schedules=[*source_schedules, reroute_schedule, *lifecycle_schedules()],
        sensors=[supplier_failure_email, *inbox_sensors, automation_sensor(), *recovery],
        resources={"leadsync": LeadsyncResource(
            mappings_dir=str(mappings_dir) if mappings_dir else None, store_url=store_url)},
        # embedded: every step in one process; scale: steps on Celery workers (leadsync/scale/profile.py)
        executor=executor,
    )
    # partner CRMs: deliveries into partners' own CRMs and their updates (leadsync/defs/partner_crm_defs.py)
    return dg.Definitions.merge(definitions, partner_crm_definitions([name for name, _ in sources]))

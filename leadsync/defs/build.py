"""Build the code location's Definitions from the YAML under mappings/, through leadsync's components: a
LeadSource per file of mappings/sources/, Routing (partners.yaml) and PartnerLifecycle (lifecycle.yaml), the
same components a user's own Dagster project declares in defs.yaml (leadsync/components/). What is left here
belongs to this code location alone: the all-sources job, the automation sensor, the reports, the executor
and the shared resource."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from leadsync.components import LeadSource, PartnerLifecycle, Routing
from leadsync.config.loader import ProjectPaths, project_paths, source_files, source_yaml_leniently
from leadsync.defs.automation import HISTORY, automation_sensor
from leadsync.defs.pool_recovery import dead_run_slots, freeing_dead_slots
from leadsync.defs.report_assets import report_assets
from leadsync.defs.resources import LeadsyncResource
from leadsync.runs.executors import executor_for
from leadsync.scale.profile import celery_config_path, current_profile


def declared_sources(paths: ProjectPaths) -> list[tuple[str, str]]:
    """(name, kind) per source file, read leniently: a file that does not parse still gets its assets
    (named after the file) so that its run fails with the real error message."""
    found = []
    for file in source_files(paths):
        kind = source_yaml_leniently(paths, file.stem).get("type")
        found.append((file.stem, kind if isinstance(kind, str) else "sftp"))
    return found


def components(paths: ProjectPaths) -> list[LeadSource | Routing | PartnerLifecycle]:
    """The components of this code location, from the files under `paths.mappings`."""
    sources = [LeadSource.from_mappings(paths, name, kind) for name, kind in declared_sources(paths)]
    names = [source.name for source in sources]
    return [*sources, Routing.from_mappings(paths, names), PartnerLifecycle.from_mappings(paths, names)]


def definition_inputs(mappings_dir: str | Path | None = None) -> tuple:
    """What build_definitions is built from, as a value that changes when any of it does: the process, its
    environment (profile, mappings folder, store, Celery queue and config, secrets), and every file under the
    mappings folder and the Celery config (path, modification time, size). Cheap: a stat per file."""
    paths = project_paths(mappings_dir)
    files = [p for p in sorted(paths.mappings.rglob("*")) if p.is_file()] if paths.mappings.is_dir() else []
    celery = celery_config_path()
    if celery.is_file():
        files.append(celery)
    stats = tuple((str(f), st.st_mtime_ns, st.st_size) for f in files for st in (f.stat(),))
    return os.getpid(), tuple(sorted(os.environ.items())), str(paths.mappings), stats


def build_definitions(mappings_dir: str | Path | None = None, store_url: str | None = None) -> dg.Definitions:
    paths = project_paths(mappings_dir)
    profile = current_profile()
    executor, recovery = executor_for(profile, store_url), []
    if profile != "scale":  # a run killed with kill -9 must not hold the lead_store slot for ever (pool_slots.py)
        executor, recovery = freeing_dead_slots(executor), [dead_run_slots]
    location = dg.Definitions(
        assets=report_assets(),
        jobs=[dg.define_asset_job("leadsync", selection=dg.AssetSelection.all() - HISTORY,
                                  description="Pull, map, route and write back every source.")],
        sensors=[automation_sensor(), *recovery],
        resources={"leadsync": LeadsyncResource(
            mappings_dir=str(mappings_dir) if mappings_dir else None, store_url=store_url)},
        # embedded: every step in one process; scale: steps on Celery workers (leadsync/scale/profile.py)
        executor=executor,
    )
    return dg.Definitions.merge(*(component.definitions() for component in components(paths)),
                                location)

"""`LeadSource`: one source of leads as a Dagster component."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from leadsync.components import context as load_context
from leadsync.components.attributes import SourceAttributes, rendered
from leadsync.components.project_folder import remove_stale_sources, write_checked
from leadsync.components.scaffold import LeadSourceScaffolder
from leadsync.config.loader import ProjectPaths, load_source
from leadsync.defs.automation import source_automation
from leadsync.defs.backfill import backfills
from leadsync.defs.config_checks import source_config_checks
from leadsync.defs.source_assets import build_source_assets


@dg.scaffold_with(LeadSourceScaffolder)
class LeadSource(dg.Component):
    """A source of leads (CSV/XLSX files on SFTP, Salesforce, Marketo or Eloqua) and its pipeline.

    Builds the asset group named after the source: raw_rows → leads → assignments → reroutes → writeback,
    with their checks (schema_valid, quarantine_rate, configuration_valid, connection_ok); the source's sync
    job `<name>_sync` and its schedule (the `schedule` cron); for SFTP the inbox sensor; for an API source
    with `pull.backfill`, the partitioned `<name>/backfill` asset and its job.

    Attributes: the source's YAML exactly as in mappings/sources/<name>.yaml (`name`, `type`, `connection`,
    `fields`, …), checked by leadsync's own loader: a mistake reads as `leadsync check` reports it.
    Secrets stay in the environment: the `*_env` keys name the variables (list them under requirements.env).
    Scaffold one with `dg scaffold defs leadsync.components.LeadSource <name> --type sftp` (or salesforce,
    marketo, eloqua).
    """

    def __init__(self, paths: ProjectPaths, name: str, kind: str,
                 resources: Mapping[str, Any] | None = None):
        self.paths = paths
        self.name = name
        self.kind = kind
        self.resources = dict(resources or {})

    @classmethod
    def get_model_cls(cls) -> type[SourceAttributes]:
        return SourceAttributes

    @classmethod
    def load(cls, attributes: SourceAttributes | None, context: dg.ComponentLoadContext) -> LeadSource:
        """In a dg project: validated now (dg check defs fails with leadsync's message), kept in the project's
        mappings folder for the runs to read."""
        paths = load_context.mappings(context)
        data = rendered(attributes, context, load_context.shown(context))
        config = write_checked(paths, data, load_source, lambda cfg: paths.sources_dir / f"{cfg.name}.yaml",
                               load_context.defs_yaml(context), load_context.shown(context), "LeadSource")
        remove_stale_sources(paths)
        return cls(paths, config.name, config.type, load_context.shared_resources(paths))

    @classmethod
    def from_mappings(cls, paths: ProjectPaths, name: str, kind: str) -> LeadSource:
        """leadsync's own code location: a file of mappings/sources/, not validated here. A broken file still
        gets its assets, so its runs fail with the real message and email its contacts."""
        return cls(paths, name, kind)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return self.definitions()

    def definitions(self) -> dg.Definitions:
        declared = [(self.name, self.kind)]
        history_assets, history_jobs = backfills(self.paths, declared)
        jobs, schedules, sensors = source_automation(self.paths, declared)
        return dg.Definitions(
            assets=[*build_source_assets(self.name, self.kind, self.paths), *history_assets],
            asset_checks=source_config_checks(self.name),
            jobs=[*jobs, *history_jobs], schedules=schedules, sensors=sensors, resources=self.resources)

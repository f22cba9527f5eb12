"""The components that serve every source: `Routing` (partners.yaml) and `PartnerLifecycle` (lifecycle.yaml).

Their jobs and assets span the sources (the reroute job runs every source's reroutes, deliveries wait for
every source's assignments), so they need the source names: leadsync's own code location passes them from
mappings/sources/; in a dg project they are the LeadSource components of the same project.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import dagster as dg

from leadsync.components import context as load_context
from leadsync.components.attributes import LifecycleAttributes, PartnersAttributes, rendered
from leadsync.components.lead_source import LeadSource
from leadsync.components.project_folder import write_checked
from leadsync.components.scaffold import LifecycleScaffolder, RoutingScaffolder
from leadsync.config.loader import ProjectPaths, load_partners
from leadsync.defs.failure_email import supplier_failure_email
from leadsync.defs.lifecycle_defs import (
    closed_loop,
    lifecycle_assets,
    lifecycle_schedules,
    partner_mail_retry,
)
from leadsync.defs.partner_crm_defs import partner_crm_definitions
from leadsync.defs.routing_jobs import manual_assignment, reroute_job_and_schedule
from leadsync.lifecycle.context import lifecycle_file
from leadsync.lifecycle.settings import load_settings


class _ProjectWide(dg.Component):
    """Shared by Routing and PartnerLifecycle: one file of the mappings folder, and the sources."""

    attributes_model: ClassVar[type]
    loader: ClassVar[Callable[[Path], Any]]  # leadsync's loader of the file (a staticmethod)

    def __init__(self, paths: ProjectPaths, sources: list[str] | None = None,
                 resources: Mapping[str, Any] | None = None):
        self.paths = paths
        self.sources = sources  # None: the LeadSource components of the same dg project
        self.resources = dict(resources or {})

    @classmethod
    def get_model_cls(cls) -> type:
        return cls.attributes_model

    @classmethod
    @abstractmethod
    def target(cls, paths: ProjectPaths) -> Path:
        """The file of the mappings folder the attributes are."""

    @classmethod
    def load(cls, attributes, context: dg.ComponentLoadContext):
        paths = load_context.mappings(context)
        data = cls.prepared(rendered(attributes, context, load_context.shown(context)), paths)
        write_checked(paths, data, cls.loader, lambda _: cls.target(paths), load_context.defs_yaml(context),
                      load_context.shown(context), cls.__name__)
        return cls(paths, None, load_context.shared_resources(paths))

    @classmethod
    def prepared(cls, data: dict, paths: ProjectPaths) -> dict:
        return data

    @classmethod
    def from_mappings(cls, paths: ProjectPaths, sources: list[str]):
        """leadsync's own code location: its file is read when a run needs it, as before."""
        return cls(paths, sources)

    def source_names(self, context: dg.ComponentLoadContext) -> list[str]:
        if self.sources is not None:
            return self.sources
        return sorted(s.name for s in context.component_tree.get_all_components(of_type=LeadSource))

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return self.for_sources(self.source_names(context))

    def definitions(self) -> dg.Definitions:
        """leadsync's own code location: for the sources it was given."""
        return self.for_sources(self.sources or [])

    @abstractmethod
    def for_sources(self, sources: list[str]) -> dg.Definitions:
        """The definitions, given every source's name."""


@dg.scaffold_with(RoutingScaffolder)
class Routing(_ProjectWide):
    """The partners and the rules that route each lead to one of them, and routing's own jobs.

    Builds the `reroute` job and its hourly `reroute_schedule` (leads not accepted in time are withdrawn and
    routed again, then written back) and the `manual_assignment` job (assign, reassign or withdraw one lead
    by hand, with run config).

    Attributes: mappings/partners.yaml exactly (`partners`, `routing`: default partner, acceptance window,
    protected accounts, rule groups, conflict policy), checked by leadsync's own loader. A relative
    `routing.protected_accounts_file` starts at the project root.
    """

    attributes_model = PartnersAttributes
    loader = staticmethod(load_partners)

    @classmethod
    def target(cls, paths: ProjectPaths) -> Path:
        return paths.partners_file

    @classmethod
    def prepared(cls, data: dict, paths: ProjectPaths) -> dict:
        routing = data.get("routing")
        accounts = routing.get("protected_accounts_file") if isinstance(routing, dict) else None
        if isinstance(accounts, str) and accounts and not Path(accounts).is_absolute():
            # in mappings/ it is relative to partners.yaml's folder; here every relative path starts at the root
            data = {**data, "routing": {**routing, "protected_accounts_file": str(paths.resolve(accounts))}}
        return data

    def for_sources(self, sources: list[str]) -> dg.Definitions:
        reroute_job, reroute_schedule = reroute_job_and_schedule(sources)
        return dg.Definitions(jobs=[reroute_job, manual_assignment], schedules=[reroute_schedule],
                              resources=self.resources)


@dg.scaffold_with(LifecycleScaffolder)
class PartnerLifecycle(_ProjectWide):
    """What happens to a lead once routed: delivery, partner emails and answers, partner CRMs, closed loop.

    Builds the `partners` asset group: partners/deliveries (auto-accept, or a notification email with
    accept/reject links) with the project's configuration_valid check, partners/leaderboard,
    partners/crm_deliveries and partners/crm_updates (partners' own CRMs) with their job `partner_crm` and its
    schedule; the partner_mail_retry and closed_loop jobs and schedules; and the sensor that emails a
    source's contacts when its run fails.

    Attributes: mappings/lifecycle.yaml exactly (`smtp`, `web`, `reject_reasons`, `closed_loop`, …),
    checked by leadsync's own loader; the SMTP password and the link-signing secret are named by
    `password_env` and `secret_env`.
    """

    attributes_model = LifecycleAttributes
    loader = staticmethod(load_settings)

    @classmethod
    def target(cls, paths: ProjectPaths) -> Path:
        return lifecycle_file(paths)

    def for_sources(self, sources: list[str]) -> dg.Definitions:
        lifecycle = dg.Definitions(
            assets=lifecycle_assets(sources, self.paths), jobs=[partner_mail_retry, closed_loop],
            schedules=lifecycle_schedules(), sensors=[supplier_failure_email], resources=self.resources)
        return dg.Definitions.merge(lifecycle, partner_crm_definitions(sources, self.paths))

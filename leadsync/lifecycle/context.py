"""What every lifecycle step needs: the store, the partners, the lifecycle settings and the source mappings
(for partner-visible fields). Built once per run or per web app.

`partners` is partners.yaml with the settings partners changed in the portal laid over it
(leadsync/portal/overrides.py: precedence there); `refresh_partner_settings()` lays them again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from leadsync.config import ConfigError, load_partners, load_source, source_files
from leadsync.config.loader import ProjectPaths
from leadsync.config.partners import Partner, PartnersConfig
from leadsync.config.schema import SourceConfig
from leadsync.lifecycle import tables as _tables
from leadsync.lifecycle.settings import LifecycleSettings, load_settings
from leadsync.portal.overrides import PartnerSettings, latest_changes, layered, yaml_of
from leadsync.store import LeadStore


@dataclass(frozen=True)
class Lifecycle:
    store: LeadStore
    partners: PartnersConfig
    settings: LifecycleSettings
    sources: Mapping[str, SourceConfig] = field(default_factory=dict)

    def __post_init__(self) -> None:
        with self.store.begin() as conn:  # a store opened before the lifecycle tables were registered
            _tables.ensure_tables(conn)
        object.__setattr__(self, "yaml_partners", yaml_of(self.partners))
        self.refresh_partner_settings()

    def refresh_partner_settings(self) -> None:
        """Lay the partner settings changed in the portal (as stored now) over partners.yaml."""
        with self.store.begin() as conn:
            changes = latest_changes(conn)
        if changes and changes == getattr(self, "_portal_changes", None):
            return  # nothing changed since: keep the layered partners (and their index by id)
        object.__setattr__(self, "_portal_changes", changes)
        partners, in_force = layered(self.yaml_partners, changes, self.settings.portal)
        object.__setattr__(self, "partners", partners)
        object.__setattr__(self, "partner_settings", in_force)

    def settings_of(self, partner_id: str) -> PartnerSettings | None:
        """The partner's portal settings in force, when it changed any (else partners.yaml is all)."""
        return self.partner_settings.get(partner_id)

    def partner(self, partner_id: str | None) -> Partner | None:
        return self.partners.by_id(partner_id) if partner_id else None

    def partner_name(self, partner_id: str | None) -> str | None:
        p = self.partner(partner_id)
        return p.name if p else partner_id


def lifecycle_file(paths: ProjectPaths) -> Path:
    return paths.mappings / "lifecycle.yaml"


def check_references(settings: LifecycleSettings, partners: PartnersConfig, source_names: list[str],
                     file: Path | str = "mappings/lifecycle.yaml") -> None:
    """Names in lifecycle.yaml that must exist elsewhere (partner ids, source names)."""
    problems = []
    known = [p.id for p in partners.partners]
    for pid in settings.auto_registration.partner_rules:
        if pid not in known:
            problems.append(f"auto_registration.partner_rules.{pid}: not a partner id; known: {known[:20]}")
    for pid in settings.auto_registration.modes:
        if pid != "*" and pid not in known:
            problems.append(f"auto_registration.modes.{pid}: not a partner id (or '*' for every partner); "
                            f"known: {known[:20]}")
    target = settings.auto_registration.target_source
    if target and target not in source_names:
        problems.append(f"auto_registration.target_source: '{target}' is not a source; known: {source_names}")
    if problems:
        raise ConfigError(file, problems)


def load_lifecycle(paths: ProjectPaths, store: LeadStore) -> Lifecycle:
    """Load lifecycle.yaml, partners.yaml and every source mapping; ConfigError names any problem."""
    settings = load_settings(lifecycle_file(paths))
    partners = load_partners(paths.partners_file)
    sources = {cfg.name: cfg for cfg in (load_source(f) for f in source_files(paths))}
    check_references(settings, partners, list(sources), lifecycle_file(paths))
    return Lifecycle(store=store, partners=partners, settings=settings, sources=sources)

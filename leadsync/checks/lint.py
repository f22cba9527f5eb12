"""`leadsync check` without connecting: every YAML file against its schema, then the references between
files. Nothing here opens a connection; see connect.py for that."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from leadsync.checks.environment import lifecycle_environment, source_environment
from leadsync.checks.partners import partner_problems
from leadsync.checks.problems import Problem, error, from_config_error, merge
from leadsync.checks.references import reference_problems
from leadsync.config import ConfigError, load_partners, load_source, source_files
from leadsync.config.loader import ProjectPaths
from leadsync.config.partners import PartnersConfig
from leadsync.config.schema import SourceConfig
from leadsync.lifecycle.settings import LifecycleSettings, load_settings


@dataclass
class LoadedProject:
    """What loaded cleanly, and the problems of what did not. Source names are file stems (as the assets)."""

    paths: ProjectPaths
    source_files: dict[str, Path] = field(default_factory=dict)  # every source file, loaded or not
    sources: dict[str, SourceConfig] = field(default_factory=dict)  # the ones that loaded
    partners: PartnersConfig | None = None
    lifecycle: LifecycleSettings | None = None
    files: list[Path] = field(default_factory=list)  # every file checked
    problems: list[Problem] = field(default_factory=list)

    @property
    def lifecycle_file(self) -> Path:
        return self.paths.mappings / "lifecycle.yaml"


def load_project(paths: ProjectPaths) -> LoadedProject:
    """Load every file, collecting each file's schema problems instead of stopping at the first."""
    project = LoadedProject(paths)
    files = source_files(paths)
    stems = [f.stem for f in files]
    for file in files:
        project.files.append(file)
        name = file.stem
        if stems.count(name) > 1:  # x.yaml and x.yml: both would build the assets of source x
            project.problems.append(error(paths, file, "name", (
                f"source '{name}' has two files ({', '.join(f.name for f in files if f.stem == name)}); "
                "keep one of them"), sources=[name]))
            continue
        project.source_files[name] = file
        try:
            cfg = load_source(file)
        except ConfigError as exc:
            project.problems += from_config_error(paths, exc, sources=[name])
            continue
        if cfg.name != name:
            project.problems.append(error(paths, file, "name", (
                f"'{cfg.name}' must match the file name '{name}'; set name: {name} or rename the file"),
                sources=[name]))
        project.sources[name] = cfg
        project.problems += source_environment(paths, file, cfg)
    _load_partners(project)
    if project.lifecycle_file.exists():
        project.files.append(project.lifecycle_file)
        try:
            project.lifecycle = load_settings(project.lifecycle_file)
        except ConfigError as exc:
            project.problems += from_config_error(paths, exc, file=project.lifecycle_file)
        else:
            project.problems += lifecycle_environment(paths, project.lifecycle_file, project.lifecycle)
    return project


def _load_partners(project: LoadedProject) -> None:
    paths = project.paths
    project.files.append(paths.partners_file)
    try:
        project.partners = load_partners(paths.partners_file)
    except ConfigError as exc:
        project.problems += from_config_error(paths, exc)
    else:
        project.problems += partner_problems(paths, project.partners)
    accounts_file = _protected_accounts_file(paths)
    if accounts_file is not None:
        project.files.append(accounts_file)


def _protected_accounts_file(paths: ProjectPaths) -> Path | None:
    """The CSV named by routing.protected_accounts_file, read leniently (partners.yaml may be broken)."""
    import yaml

    from leadsync.config.yaml_text import lenient_yaml

    try:
        data = lenient_yaml(paths.partners_file.read_text(encoding="utf-8"))
        name = data["routing"]["protected_accounts_file"]
    except (OSError, yaml.YAMLError, TypeError, KeyError, ValueError):  # ValueError: not UTF-8 (the loader says so)
        return None
    return paths.partners_file.parent / name if isinstance(name, str) and name else None


def lint_project(paths: ProjectPaths) -> list[Problem]:
    """Every problem of every file under mappings/ and of the references between them, sorted by file."""
    project = load_project(paths)
    return merge(project.problems, reference_problems(project))


def source_check_results(paths: ProjectPaths, source: str) -> list[Problem]:
    """The problems of one source: its file, and the references from and to it (its upload partner, rule
    fields it does not map). For a Dagster asset check on that source's assets."""
    return [p for p in lint_project(paths) if source in p.sources]


def project_check_results(paths: ProjectPaths) -> list[Problem]:
    """The problems that belong to no one source: partners.yaml (and its accounts CSV), lifecycle.yaml,
    rules on fields no source maps."""
    return [p for p in lint_project(paths) if not p.sources]

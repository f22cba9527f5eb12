"""What every leadsync component reads from Dagster's load context in a dg project: which defs.yaml it came
from, the project's mappings folder, and the one `leadsync` resource they all share."""

from __future__ import annotations

import functools
from pathlib import Path

import dagster as dg

from leadsync.components.project_folder import project_mappings
from leadsync.config.loader import ProjectPaths
from leadsync.defs.resources import LeadsyncResource


def defs_yaml(context: dg.ComponentLoadContext) -> Path:
    """The defs.yaml (or defs.yml) the component was declared in."""
    path = context.path
    if path.is_file():
        return path.resolve()
    found = [path / name for name in ("defs.yaml", "defs.yml") if (path / name).exists()]
    return (found[0] if found else path / "defs.yaml").resolve()


def shown(context: dg.ComponentLoadContext) -> str:
    """The defs.yaml as the user knows it (relative to the project root), for messages."""
    file = defs_yaml(context)
    try:
        return f"{file.relative_to(context.project_root.resolve()).as_posix()} (attributes)"
    except ValueError:
        return f"{file} (attributes)"


def mappings(context: dg.ComponentLoadContext) -> ProjectPaths:
    return project_mappings(context.project_root)


@functools.cache
def _resource(mappings_dir: str) -> LeadsyncResource:
    return LeadsyncResource(mappings_dir=mappings_dir)


def shared_resources(paths: ProjectPaths) -> dict[str, LeadsyncResource]:
    """The same resource object for every component of a project: Dagster merges the components' Definitions
    and refuses two different objects under one resource key. The store is LEADSYNC_STORE_URL's, else the
    DuckDB file under DAGSTER_HOME (leadsync/defs/resources.py)."""
    return {"leadsync": _resource(str(paths.mappings))}

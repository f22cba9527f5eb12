"""The mappings folder behind leadsync's components in a user's own Dagster (dg) project.

leadsync's pipeline reads its configuration from a mappings folder (`sources/<name>.yaml`, `partners.yaml`,
`lifecycle.yaml`) each time an asset runs. In a dg project that configuration is written in the components'
`defs.yaml` files instead, so each component, once leadsync's own loader has accepted its attributes,
writes them into `<project root>/.leadsync/`: a mappings folder like any other (so `leadsync --mappings
.leadsync check` works on it too). Its parent is the project root, so a relative path in the attributes
(known_hosts, private_key_path, token_file) starts at the project root, as in leadsync it starts at the
folder holding mappings/.

Every file written names the defs.yaml it came from on its first line; a source file whose defs.yaml is gone,
or now declares another source, is removed, so the folder holds what the defs folder declares and no more.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml

from leadsync.config.loader import ConfigError, ProjectPaths, source_files

FOLDER = ".leadsync"
_HEADER = "# Written by leadsync from "
_EDIT = "; edit that file, not this one.\n"

T = TypeVar("T")


def project_mappings(project_root: Path) -> ProjectPaths:
    return ProjectPaths(root=project_root.resolve(), mappings=project_root.resolve() / FOLDER)


def write_checked(paths: ProjectPaths, data: dict, load: Callable[[Path], T], target: Callable[[T], Path],
                  declared_in: Path, shown: str, component: str) -> T:
    """Validate `data` with leadsync's own file loader (`load`), then keep it as the file `target(config)`.

    The loader reads a file, so `data` goes to a temporary file beside the target first: its messages, and
    relative paths it resolves next to the file (routing.protected_accounts_file), are exactly those of a file
    in mappings/. A problem raises ConfigError naming `shown` (the defs.yaml) instead of the temporary file.
    """
    paths.sources_dir.mkdir(parents=True, exist_ok=True)
    text = f"{_HEADER}{declared_in}{_EDIT}" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    pending = paths.mappings / f".pending-{os.getpid()}-{id(data)}.yaml.tmp"  # not *.yaml: no loader lists it
    pending.write_text(text, encoding="utf-8")
    try:
        config = load(pending)
    except ConfigError as exc:
        raise ConfigError(shown, exc.problems) from None
    finally:
        pending.unlink(missing_ok=True)
    file = target(config)
    owner = declared_by(file)
    if owner is not None and owner != declared_in and owner.exists() and _still_declares(owner, file, component):
        if component == "LeadSource":
            problem = f"name: '{file.stem}' is also the name of the source declared in {owner}; rename one of them"
        else:
            problem = f"{owner} declares a {component} too; a project has one: remove one of them"
        raise ConfigError(shown, [problem])
    if not file.exists() or file.read_text(encoding="utf-8") != text:
        file.parent.mkdir(parents=True, exist_ok=True)
        partial = file.with_name(f"{file.name}.{os.getpid()}.tmp")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, file)  # readers (a run in another process) see the old file or the new one
    return config


def declared_by(file: Path) -> Path | None:
    """The defs.yaml a file of the folder was written from (None: not written by a component)."""
    try:
        with open(file, encoding="utf-8") as fh:
            first = fh.readline()
    except OSError:
        return None
    if not first.startswith(_HEADER) or not first.endswith(_EDIT):
        return None
    return Path(first[len(_HEADER):-len(_EDIT)])


def remove_stale_sources(paths: ProjectPaths) -> list[Path]:
    """Source files whose defs.yaml no longer declares them (deleted, or renamed to another source)."""
    removed = []
    for file in source_files(paths) if paths.sources_dir.is_dir() else []:
        owner = declared_by(file)
        if owner is not None and not (owner.exists() and _still_declares(owner, file, "LeadSource")):
            file.unlink(missing_ok=True)
            removed.append(file)
    return removed


def _still_declares(defs_yaml: Path, file: Path, component: str) -> bool:
    """Whether a defs.yaml still holds the component that wrote `file` (a LeadSource: the one named after it).
    Read leniently: a broken defs.yaml keeps its file until it loads again, so its own error shows."""
    try:
        documents = list(yaml.safe_load_all(defs_yaml.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return True
    for doc in documents:
        if not isinstance(doc, dict) or not str(doc.get("type", "")).endswith(component):
            continue
        attributes = doc.get("attributes")
        if component != "LeadSource" or isinstance(attributes, dict) and attributes.get("name") == file.stem:
            return True
    return False

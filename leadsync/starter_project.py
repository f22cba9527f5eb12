"""The starter project: the files a leadsync project folder holds before its first run, which `leadsync init`
writes and `leadsync demo` runs on when it finds no project.

They are the repository's own: mappings/ (the four demo sources, partners, lifecycle, console), `.env` (the
bundled sandboxes' credentials, nothing real) and dagster_home/'s instance files. The wheel carries a copy
under leadsync/starter/ (setup.py copies them at build, reading STARTER_FILES from this file, which therefore
imports nothing but the standard library); a source checkout serves them from the repository itself.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

# Globs relative to the project folder (the repository's root in a checkout).
STARTER_FILES = ("mappings/*.yaml", "mappings/sources/*.yaml", ".env", "dagster_home/dagster.yaml",
                 "dagster_home/scale/dagster.yaml", "dagster_home/scale/celery.yaml")
PACKAGED = "starter"  # the folder inside the installed package


class StarterError(Exception):
    """The starter files cannot be found or written; the text says which and what to do."""


def starter_root() -> Path:
    """Where the starter files are: the wheel's copy, else the source checkout this module runs from."""
    here = Path(__file__).resolve().parent
    if (here / PACKAGED / "mappings").is_dir():
        return here / PACKAGED
    checkout = here.parent
    if (checkout / "mappings").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout
    raise StarterError(f"the starter project is missing: neither {here / PACKAGED} (an installed wheel) nor "
                       f"{checkout / 'mappings'} (a source checkout) exists; reinstall leadsync")


def starter_files(root: Path | None = None) -> list[Path]:
    """The starter files, relative to their root, in a stable order."""
    root = root or starter_root()
    return sorted({p.relative_to(root) for pattern in STARTER_FILES for p in root.glob(pattern) if p.is_file()})


@dataclass
class Written:
    target: Path
    written: list[Path] = field(default_factory=list)  # relative to target


def write_starter(target: Path, force: bool = False) -> Written:
    """Copy the starter files into `target` (created if missing). A file that exists already is an error naming
    every such file unless `force`, and then nothing is written: a half-written project helps nobody."""
    target = target.resolve()
    if target.exists() and not target.is_dir():
        raise StarterError(f"{target} is a file, not a folder: name a folder to write the project into")
    root = starter_root()
    files = starter_files(root)
    if root == target:
        raise StarterError(f"{target} holds the starter project itself (the leadsync checkout): choose another folder")
    existing = [f for f in files if (target / f).exists()]
    if existing and not force:
        raise StarterError(f"{len(existing)} of the starter files exist in {target} already: "
                           + ", ".join(str(f) for f in existing)
                           + "; nothing was written. Use --force to overwrite them, or choose an empty folder")
    result = Written(target)
    for f in files:
        (target / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / f, target / f)
        result.written.append(f)
    return result

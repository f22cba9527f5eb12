"""One configuration problem, as `leadsync check` prints it and the Dagster asset checks show it.

A ConfigError (leadsync/config/loader.py) holds lines of the form "<key path>: <message>"; each becomes one
Problem with the key path split off, so every problem can be sorted, filtered by source and counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from leadsync.config import ConfigError
from leadsync.config.loader import ProjectPaths

Severity = Literal["error", "warning"]
WHOLE_FILE = "(file)"  # the key of a problem with the file as a whole (missing, not YAML, not a mapping)

# A key path as the loader renders it: `fields[3] (email).format`, `auto_registration.partner_rules.acme`,
# or a place in a file that is not valid YAML / CSV: `line 4, column 2`.
_SEGMENT = r"[A-Za-z_][\w-]*(?:\[\d+\](?: \([^()]*\))?)*"
_KEYED = re.compile(rf"^(?P<key>{_SEGMENT}(?:\.{_SEGMENT})*|line \d+(?:, column \d+)?): (?P<message>.+)$", re.DOTALL)
# Problems raised by a model's own validator carry no location; their first words say where they are.
_UNLOCATED = [
    (re.compile(r"^(lead fields mapped twice|source columns mapped twice|every source must map|lead field ')"),
     "fields"),
    (re.compile(r"^uniqueness key "), "uniqueness.key"),
    (re.compile(r"^partner_field "), "partner_field"),
    (re.compile(r"^partner ids used twice"), "partners"),
    (re.compile(r"^routing\.default_partner "), "routing.default_partner"),
    (re.compile(r"^rule group "), "routing.rule_groups"),
    (re.compile(r"^protected account "), "routing.protected_accounts"),
    (re.compile(r"^reject reason codes "), "reject_reasons"),
    (re.compile(r"^unknown columns "), "(header)"),
]


@dataclass(frozen=True)
class Problem:
    """`file` is shown relative to the project root; `key` is the YAML key path (or CSV line);
    `sources` names the sources the problem belongs to (empty: the project as a whole)."""

    severity: Severity
    file: str
    key: str
    message: str
    sources: tuple[str, ...] = ()

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        text = self.message if self.is_error else f"warning: {self.message}"
        return f"{self.file}: {self.key}: {text}"


def shown_path(paths: ProjectPaths, file: Path | str) -> str:
    """A file as the user knows it: relative to the project root when inside it."""
    path = Path(file)
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.resolve().relative_to(paths.root.resolve()).as_posix()
    except ValueError:
        return str(path)


def error(paths: ProjectPaths, file: Path | str, key: str, message: str,
          sources: Iterable[str] = ()) -> Problem:
    return Problem("error", shown_path(paths, file), key, message, tuple(sources))


def warning(paths: ProjectPaths, file: Path | str, key: str, message: str,
            sources: Iterable[str] = ()) -> Problem:
    return Problem("warning", shown_path(paths, file), key, message, tuple(sources))


def from_config_error(paths: ProjectPaths, exc: ConfigError, sources: Iterable[str] = (),
                      file: Path | str | None = None) -> list[Problem]:
    """One error per line of the ConfigError; `file` overrides the file it names."""
    where = file if file is not None else exc.file
    return [error(paths, where, *split_key(line), sources=sources) for line in exc.problems]


def split_key(line: str) -> tuple[str, str]:
    """("key.path", "message") from one ConfigError line."""
    match = _KEYED.match(line)
    if match:
        return match["key"], match["message"]
    for pattern, key in _UNLOCATED:
        if pattern.match(line):
            return key, line
    return WHOLE_FILE, line


def merge(*groups: Iterable[Problem]) -> list[Problem]:
    """Problems of several checks as one list sorted by file: the same problem found twice (the lint and
    the connection check both load a broken file) is shown once, and an error hides a warning about the
    same key of the same file (an unset secret is a warning in the lint, an error when connecting)."""
    seen: dict[Problem, None] = {}
    for group in groups:
        for p in group:
            seen.setdefault(p, None)
    errors_at = {(p.file, p.key) for p in seen if p.is_error}
    kept = [p for p in seen if p.is_error or (p.file, p.key) not in errors_at]
    return sorted(kept, key=lambda p: p.file)


def summary(problems: list[Problem], files_checked: int) -> str:
    """'3 problems in 2 files (1 warning)', or 'all 4 files valid'."""
    if not problems:
        return f"all {files_checked} files valid" if files_checked != 1 else "the 1 file checked is valid"
    files = len({p.file for p in problems})
    warnings = sum(not p.is_error for p in problems)
    text = f"{_count(len(problems), 'problem')} in {_count(files, 'file')}"
    if warnings:
        text += f" ({_count(len(problems) - warnings, 'error')}, {_count(warnings, 'warning')})"
    return text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"

"""What `leadsync check` prints: every problem on one line, sorted by file (errors and warnings, a warning
marked `warning:`), then with --connect one line per connection that worked saying what was tried, and a
summary. Errors fail the check (exit 1); warnings are printed and fail it only with --strict."""

from __future__ import annotations

from dataclasses import dataclass, field

from leadsync.checks.connect import Connection, connections
from leadsync.checks.lint import load_project
from leadsync.checks.problems import Problem, merge, summary
from leadsync.checks.references import reference_problems
from leadsync.config.loader import ProjectPaths


@dataclass(frozen=True)
class CheckReport:
    problems: list[Problem]
    files_checked: int
    connections: list[Connection] = field(default_factory=list)  # with --connect: every connection tried

    @property
    def has_errors(self) -> bool:
        return any(p.is_error for p in self.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    def exit_code(self, strict: bool = False) -> int:
        """1 on any error; with `strict`, on any warning too; else 0."""
        return 1 if self.has_errors or (strict and self.warnings) else 0

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]

    def connected(self) -> list[str]:
        """'<target> (<file>): <what was tried>' for each connection that worked."""
        return [f"{c.target} ({c.file}): {c.done}" for c in self.connections if c.ok and c.done]

    def summary(self, strict: bool = False) -> str:
        text = summary(self.problems, self.files_checked)
        if self.connections:
            worked = sum(1 for c in self.connections if c.ok)
            text += f"; {worked} of {len(self.connections)} connections work"
        if strict and self.warnings and not self.has_errors:
            text += " (--strict: warnings fail the check)"
        return text


def run_checks(paths: ProjectPaths, connect: bool = False, source: str | None = None) -> CheckReport:
    """Lint every file (or one source's problems), then with `connect` try the connections too."""
    project = load_project(paths)
    problems = merge(project.problems, reference_problems(project))
    files = len(project.files)
    if source is not None:
        problems = [p for p in problems if source in p.sources]
        files = 1
    tried: list[Connection] = []
    if connect:
        tried = connections(paths, only=source)
        problems = merge(problems, [p for c in tried for p in c.problems])
    return CheckReport(problems, files, tried)

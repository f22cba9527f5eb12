"""What `leadsync check` prints: every problem on one line, sorted by file, and a summary."""

from __future__ import annotations

from dataclasses import dataclass

from leadsync.checks.connect import check_connections
from leadsync.checks.lint import load_project
from leadsync.checks.problems import Problem, merge, summary
from leadsync.checks.references import reference_problems
from leadsync.config.loader import ProjectPaths


@dataclass(frozen=True)
class CheckReport:
    problems: list[Problem]
    files_checked: int

    @property
    def has_errors(self) -> bool:
        """Warnings alone do not fail the check."""
        return any(p.is_error for p in self.problems)

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]

    def summary(self) -> str:
        return summary(self.problems, self.files_checked)


def run_checks(paths: ProjectPaths, connect: bool = False, source: str | None = None) -> CheckReport:
    """Lint every file (or one source's problems), then with `connect` try the connections too."""
    project = load_project(paths)
    problems = merge(project.problems, reference_problems(project))
    files = len(project.files)
    if source is not None:
        problems = [p for p in problems if source in p.sources]
        files = 1
    if connect:
        problems = merge(problems, check_connections(paths, only=source))
    return CheckReport(problems, files)

"""`leadsync check`: every YAML file against its schema and the references between files (lint.py), and
with `--connect` each source's credentials and mapped fields (connect.py). The same functions back the
Dagster asset checks: `source_check_results` and `connection_problems` per source, `project_check_results`
for partners.yaml and lifecycle.yaml; the Dagster layer turns problems into a check result
(leadsync/defs/check_results.py)."""

from leadsync.checks.connect import check_connections, connection_problems, smtp_problems
from leadsync.checks.lint import lint_project, project_check_results, source_check_results
from leadsync.checks.problems import Problem
from leadsync.checks.report import CheckReport, run_checks

__all__ = [
    "CheckReport",
    "Problem",
    "check_connections",
    "connection_problems",
    "lint_project",
    "project_check_results",
    "run_checks",
    "smtp_problems",
    "source_check_results",
]

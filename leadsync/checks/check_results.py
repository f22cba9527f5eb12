"""Problems as a Dagster asset check result: failed with ERROR severity on any error, WARN on warnings
alone; every problem listed in the metadata."""

from __future__ import annotations

import dagster as dg

from leadsync.checks.problems import Problem


def asset_check_result(problems: list[Problem], check_name: str | None = None) -> dg.AssetCheckResult:
    errors = [p for p in problems if p.is_error]
    listing = "\n".join(f"- {'**error**' if p.is_error else 'warning'}: `{p.file}` `{p.key}`: {p.message}"
                        for p in problems)
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
        description=str(problems[0]) if problems else "configuration valid",
        metadata={"errors": len(errors), "warnings": len(problems) - len(errors),
                  "problems": dg.MetadataValue.md(listing or "none")},
    )

"""Problems as a Dagster asset check result: failed with ERROR severity on any error, WARN on warnings
alone; every problem listed in the metadata, errors and warnings counted apart."""

from __future__ import annotations

import dagster as dg

from leadsync.checks.problems import Problem


def asset_check_result(problems: list[Problem], check_name: str | None = None,
                       passed_description: str = "configuration valid",
                       metadata: dict | None = None) -> dg.AssetCheckResult:
    """`passed_description` says what a pass means (e.g. what the connection check tried)."""
    errors = [p for p in problems if p.is_error]
    warnings = [p for p in problems if not p.is_error]
    listing = "\n".join(f"- {'**error**' if p.is_error else 'warning'}: `{p.file}` `{p.key}`: {p.message}"
                        for p in [*errors, *warnings])
    if errors:
        description = str(errors[0]) + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
    elif warnings:
        description = (f"{len(warnings)} warning{'s' if len(warnings) > 1 else ''}, no errors: {warnings[0]}"
                       + (" …" if len(warnings) > 1 else ""))
    else:
        description = passed_description
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={"errors": len(errors), "warnings": len(warnings),
                  "problems": dg.MetadataValue.md(listing or "none"), **(metadata or {})},
    )

"""`leadsync check` as Dagster asset checks, visible in the UI: each source's configuration (its YAML and the
references to and from it) and its connection (credentials, folders, mapped fields), on `<source>/raw_rows`;
and the project's own files (partners.yaml and lifecycle.yaml: nobody left out, auto-accept only with a CRM,
lifecycle references), on `partners/deliveries`. Errors fail a check with ERROR severity; warnings alone
fail it with WARN severity, each problem listed in the metadata."""

import dagster as dg

from leadsync.defs.check_results import asset_check_result
from leadsync.checks.connect import source_connection
from leadsync.checks.lint import project_check_results, source_check_results
from leadsync.defs.resources import LeadsyncResource


def source_config_checks(source: str) -> list[dg.AssetChecksDefinition]:
    asset = dg.AssetKey([source, "raw_rows"])

    @dg.asset_check(asset=asset, name="configuration_valid",
                    description=f"{source}'s YAML and its references (partners, rules, lifecycle) are valid.")
    def configuration_valid(leadsync: LeadsyncResource) -> dg.AssetCheckResult:
        return asset_check_result(source_check_results(leadsync.paths, source),
                                  passed_description=f"{source}'s YAML and its references are valid")

    @dg.asset_check(asset=asset, name="connection_ok",
                    description=f"leadsync can log in to {source} with its YAML and secrets, and every folder and "
                                "mapped field it names exists there (nothing is pulled).")
    def connection_ok(leadsync: LeadsyncResource) -> dg.AssetCheckResult:
        found = source_connection(leadsync.paths, source)
        return asset_check_result(found.problems, passed_description=found.done or f"{source} is reachable",
                                  metadata={"tried": found.done or "-"})

    return [configuration_valid, connection_ok]


def project_config_check(asset: dg.AssetKey) -> dg.AssetChecksDefinition:
    """partners.yaml and lifecycle.yaml: what belongs to no one source, checked where partners get leads."""

    @dg.asset_check(asset=asset, name="configuration_valid",
                    description="partners.yaml and lifecycle.yaml are valid: every partner that can receive leads "
                                "has someone to notify, auto-accept only with a CRM (or a written reason), and the "
                                "partners and sources they name exist.")
    def configuration_valid(leadsync: LeadsyncResource) -> dg.AssetCheckResult:
        return asset_check_result(project_check_results(leadsync.paths),
                                  passed_description="partners.yaml and lifecycle.yaml are valid")

    return configuration_valid

"""`leadsync check` as Dagster asset checks, visible in the UI: each source's configuration (its YAML and the
references to and from it) and its connection (credentials, folders, mapped fields), on `<source>/raw_rows`."""

import dagster as dg

from leadsync.checks.check_results import asset_check_result
from leadsync.checks.connect import connection_problems
from leadsync.checks.lint import source_check_results
from leadsync.defs.resources import LeadsyncResource


def source_config_checks(source: str) -> list[dg.AssetChecksDefinition]:
    asset = dg.AssetKey([source, "raw_rows"])

    @dg.asset_check(asset=asset, name="configuration_valid",
                    description=f"{source}'s YAML and its references (partners, rules, lifecycle) are valid.")
    def configuration_valid(leadsync: LeadsyncResource) -> dg.AssetCheckResult:
        return asset_check_result(source_check_results(leadsync.paths, source))

    @dg.asset_check(asset=asset, name="connection_ok",
                    description=f"{source}'s credentials work and every mapped field exists in the source.")
    def connection_ok(leadsync: LeadsyncResource) -> dg.AssetCheckResult:
        return asset_check_result(connection_problems(leadsync.paths, source))

    return [configuration_valid, connection_ok]

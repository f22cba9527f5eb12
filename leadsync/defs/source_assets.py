"""The assets of one source: raw_rows -> leads -> assignments -> reroutes -> writeback.

Built per source from mappings/sources/*.yaml. At load time the file is only read leniently (its name and
type; its contacts, schedule and fields for the assets' owners, freshness and column schemas, whatever of
them parses); each asset loads and validates the full YAML when it runs, so a broken mapping fails its own
run (and emails its supplier) instead of taking the whole code location down.
"""


import json

import dagster as dg
import pandas as pd

from leadsync import pipeline
from leadsync.config.loader import ProjectPaths, source_yaml_leniently
from leadsync.defs.automation import declared_cron
from leadsync.defs.column_schemas import DECISIONS, column_schema, leads_schema, raw_schema, writeback_schema
from leadsync.defs.errors import source_errors
from leadsync.defs.freshness import schedule_freshness
from leadsync.defs.metadata import md_counts, md_table
from leadsync.defs.owners import owners_from
from leadsync.defs.partner_crm_defs import CRM_UPDATES
from leadsync.defs.pools import source_pool, store_kind
from leadsync.defs.resources import LeadsyncResource
from leadsync.pull.api_records import ApiPullReport
from leadsync.pull.sftp_files import FileOutcome, PullReport
from leadsync.writeback.api_sink import ApiWritebackReport

RETRY = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
# Downstream assets follow their upstream ones (e.g. after raw_rows is materialised by hand in the UI); the
# leadsync_automation sensor evaluates this.
FOLLOW = dg.AutomationCondition.eager()  # one writer of the DuckDB store at a time (dagster_home/dagster.yaml)


def build_source_assets(source: str, kind: str, paths: ProjectPaths | None = None) -> list[dg.AssetsDefinition]:
    """The source's five assets. With `paths`, its YAML (read leniently) gives their owners (`contacts`), their
    freshness (`schedule`) and the column schemas (its mapping); without, they carry the store's columns."""
    declared = source_yaml_leniently(paths, source) if paths is not None else {}
    tags = {"leadsync/source": source}
    raw_key, leads_key = dg.AssetKey([source, "raw_rows"]), dg.AssetKey([source, "leads"])
    assign_key, wb_key = dg.AssetKey([source, "assignments"]), dg.AssetKey([source, "writeback"])
    reroute_key = dg.AssetKey([source, "reroutes"])
    common = {"group_name": source, "kinds": {kind, store_kind()}, "owners": owners_from(declared.get("contacts")),
              "tags": tags, "pool": source_pool(source),
              "freshness_policy": schedule_freshness(declared_cron(paths, source)) if paths is not None else None}

    @dg.asset(key=raw_key, description=f"Rows received from {source}, as received, with a ledger of files.",
              retry_policy=RETRY, metadata=column_schema(raw_schema(declared, kind)), **common)
    def raw_rows(context: dg.AssetExecutionContext, leadsync: LeadsyncResource) -> dg.MaterializeResult:
        with source_errors(source):
            report = pipeline.pull(leadsync.paths, leadsync.store(), source)
        if isinstance(report, ApiPullReport):
            return api_pull_result(context, report)
        return sftp_pull_result(context, report)

    @dg.asset(
        key=leads_key, deps=[raw_key], retry_policy=RETRY, **common, automation_condition=FOLLOW,
        metadata=column_schema(leads_schema(declared)),
        description=f"Leads of {source}: mapped, validated (pandera) and de-duplicated by its uniqueness rule; "
                    "rows that fail go to the quarantine table with their reason.",
        check_specs=[
            dg.AssetCheckSpec("schema_valid", asset=leads_key, blocking=True,
                              description="Stored leads of this run conform to the pandera schema built from the YAML."),
            dg.AssetCheckSpec("quarantine_rate", asset=leads_key,
                              description="Share of received rows quarantined stays under quarantine_warn_ratio."),
        ],
    )
    def leads(context: dg.AssetExecutionContext, leadsync: LeadsyncResource) -> dg.MaterializeResult:
        store = leadsync.store()
        with source_errors(source):
            cfg = pipeline.source_config(leadsync.paths, source)
            report = pipeline.map_and_validate(leadsync.paths, store, source, cfg)
            checked, failures = (report.schema.checked, report.schema.failures) if report.schema else (0, None)
            ratio_limit = cfg.quarantine_warn_ratio
            preview = pipeline.stored_preview(cfg, store, report.batch_ids[-1:])
        ratio = report.quarantined / report.received if report.received else 0.0
        checks = [
            dg.AssetCheckResult(
                check_name="schema_valid", passed=failures is None,
                metadata={"rows_checked": checked,
                          "failures": md_table(failures if failures is not None else pd.DataFrame(), 20)},
            ),
            dg.AssetCheckResult(
                check_name="quarantine_rate", passed=ratio <= ratio_limit, severity=dg.AssetCheckSeverity.WARN,
                metadata={"quarantined": report.quarantined, "received": report.received,
                          "ratio": round(ratio, 4), "limit": ratio_limit,
                          "reasons": md_counts(report.reasons, "reason")},
            ),
        ]
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": report.stored,
                "received": report.received,
                "quarantined": report.quarantined,
                "merged_duplicates": report.merged_duplicates,
                "segregated": report.segregated,
                "quarantine_reasons": md_counts(report.reasons, "reason"),
                "preview": md_table(preview.drop(columns=["attributes", "lead_key"], errors="ignore")),
            },
            check_results=checks,
        )

    @dg.asset(key=assign_key, deps=[leads_key], retry_policy=RETRY, **common, automation_condition=FOLLOW,
              metadata=column_schema(DECISIONS),
              description=f"Routing decisions for new leads of {source}: partner or unassigned, and why.")
    def assignments(context: dg.AssetExecutionContext, leadsync: LeadsyncResource) -> dg.MaterializeResult:
        with source_errors(source):
            report = pipeline.route_leads(leadsync.paths, leadsync.store(), source)
        return dg.MaterializeResult(metadata=_routing_metadata(report))

    @dg.asset(key=reroute_key, deps=[assign_key], retry_policy=RETRY, **common, metadata=column_schema(DECISIONS),
              description=f"Leads of {source} not accepted in time: withdrawn and routed again, never back to a "
                          "partner that already had them.")
    def reroutes(context: dg.AssetExecutionContext, leadsync: LeadsyncResource) -> dg.MaterializeResult:
        with source_errors(source):
            report = pipeline.reroute(leadsync.paths, leadsync.store(), source)
        return dg.MaterializeResult(metadata={"withdrawn": report.withdrawn, **_routing_metadata(report)})

    # After partners/crm_updates too: it queues the partners' CRM changes in the outbox this drains, so a job
    # holding both (partner_crm, leadsync) writes them back in the same run. Automation ignores that dependency:
    # a partner_crm run writes back itself, and a project without CRM partners never materialises it.
    @dg.asset(key=wb_key, deps=[assign_key, reroute_key, CRM_UPDATES], retry_policy=RETRY, **common,
              automation_condition=FOLLOW.ignore(dg.AssetSelection.assets(CRM_UPDATES)),
              metadata=column_schema(writeback_schema(declared)),
              description=f"Drains the writeback outbox of {source} into the source system.")
    def writeback(context: dg.AssetExecutionContext, leadsync: LeadsyncResource) -> dg.MaterializeResult:
        with source_errors(source):
            report = pipeline.write_back(leadsync.paths, leadsync.store(), source)
        if isinstance(report, ApiWritebackReport):
            if report.events_failed:
                context.log.warning(f"{report.events_failed} writeback events refused by {source}; they are "
                                    "retried next run (reasons in the metadata and writeback_refusals)")
            return dg.MaterializeResult(metadata={
                "dagster/row_count": report.events_sent,
                "records_updated": report.records_updated,
                "records_created": report.records_created,
                "nurtured": report.nurtured,
                "refused": report.events_failed,
                "per_kind": md_counts(report.per_kind, "kind", "events"),
                "refusals": md_table(pd.DataFrame(report.failures), limit=20),
                "resumed_batches": report.resumed,
            })
        return dg.MaterializeResult(metadata={
            "dagster/row_count": report.events_sent,
            "files_uploaded": dg.MetadataValue.json(report.files),
            "resumed_batches": report.resumed,
        })

    return [raw_rows, leads, assignments, reroutes, writeback]


FILE_COLUMNS = ["name", "status", "rows", "encoding", "quarantined_rows", "reason", "moved_to"]


def sftp_pull_result(context: dg.AssetExecutionContext, report: PullReport) -> dg.MaterializeResult:
    """The files of an SFTP pull: each with its outcome, encoding and rows quarantined for their bytes in the
    metadata; files in error/, waiting and stored with a warning also as the run's log lines."""
    for f in report.errors:
        context.log.warning(f"{f.name} moved to {f.moved_to}: {f.reason}")
    for f in report.waiting:  # each reason says what the file waits for and that the next run reads it
        context.log.info(_about(f))
    for f in report.warnings:
        context.log.warning(_about(f))
    files = pd.DataFrame([vars(f) for f in report.files], columns=FILE_COLUMNS)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": report.rows_stored,
        "files_received": len(report.files),
        "files_in_error": len(report.errors),
        "files_waiting": len(report.waiting),
        "quarantined_rows": sum(f.quarantined_rows for f in report.files),
        "files": md_table(files, limit=50),
    })


def _about(outcome: FileOutcome) -> str:
    """The file's note, starting with its name (most reasons name the file already)."""
    reason = outcome.reason or ""
    return reason if reason.startswith(outcome.name) else f"{outcome.name}: {reason}"


def api_pull_result(context: dg.AssetExecutionContext, report: ApiPullReport) -> dg.MaterializeResult:
    if report.stopped:
        context.log.warning(report.stopped)
    for line in report.warnings:
        context.log.warning(f"the source warned (its records are kept): {line}")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": report.stored,
        "received": report.received,
        "already_had": report.already_had,
        "batches": report.batches,
        "by_path": md_counts(report.paths, "path", "records"),
        "watermark": str(report.watermark) if report.watermark else "none yet",
        "stopped_early": report.stopped or "no",
        "source_warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in report.warnings) or "none"),
        "campaigns": report.campaigns,
        "memberships": report.memberships,
        "activities": report.activities,
        **(_json_safe(report.followed.as_metadata()) if report.followed is not None else {}),
    })


def _json_safe(values: dict) -> dict:
    """Lists and dicts as JSON metadata, any value JSON lacks (a numpy id, a timestamp) as its text; Dagster
    takes plain numbers and text as they are."""
    return {k: dg.MetadataValue.json(json.loads(json.dumps(v, default=str))) if isinstance(v, list | dict) else v
            for k, v in values.items()}


def _routing_metadata(report) -> dict:
    return {
        "dagster/row_count": report.decided,
        "unassigned": report.unassigned,
        "needs_review": report.needs_review,
        "routed_per_partner": md_counts(report.per_partner, "partner", "leads"),
        "routed_per_partner_counts": dg.MetadataValue.json(dict(report.per_partner)),
        "decided_by_step": md_counts(report.per_step, "step", "leads"),
        "preview": md_table(report.preview if report.preview is not None else pd.DataFrame()),
    }

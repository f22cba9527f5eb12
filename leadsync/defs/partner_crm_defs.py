"""Partner CRMs in Dagster: `partners/crm_deliveries` (after `partners/deliveries`, which accepts auto-accept
partners' leads) creates accepted leads in each CRM-connected partner's CRM and marks withdrawals;
`partners/crm_updates` pulls the partners' changes into lifecycle events. The job `partner_crm` runs both
and every source's writeback (schedule `partner_crm_schedule`, every 15 minutes). Each writeback depends on
`partners/crm_updates` (leadsync/defs/source_assets.py), so in any job holding both the writebacks run after
it and a partner's change reaches the supplier's source in the same run. `partners/crm_updates` reads an
outside system and depends on nothing, so nothing that fails before it (an SMTP outage failing
`partners/deliveries`, say) holds the writebacks back; a source mapping that does not load is left out of it
(that source's own run fails and says why) rather than failing it.

One partner's CRM failing never fails the step: the other partners are served, the failing partner's
technical contact and the supplier's contacts are emailed, and the asset check `every_partner_crm_ok`
fails (severity ERROR) naming each failing partner and why. Only a problem with leadsync itself
(lifecycle.yaml, partners.yaml, the store) fails the step.
"""

import os
from pathlib import Path

import dagster as dg
import pandas as pd

from leadsync.config import ConfigError, load_partners, load_source, source_files
from leadsync.config.loader import ProjectPaths
from leadsync.defs.column_schemas import column_schema, table_schema
from leadsync.defs.freshness import schedule_freshness
from leadsync.defs.lifecycle_defs import DELIVERIES, lifecycle_errors, partner_asset
from leadsync.defs.metadata import md_table
from leadsync.defs.owners import lifecycle_owners
from leadsync.defs.resources import LeadsyncResource
from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.context import Lifecycle, check_references, lifecycle_file, load_lifecycle
from leadsync.lifecycle.settings import load_settings
from leadsync.partner_crm.sync import CrmRunReport, run_deliveries, run_updates
from leadsync.partner_crm.tables import partner_crm_leads
from leadsync.pipeline import now_utc
from leadsync.store import LeadStore

CRM_DELIVERIES = dg.AssetKey(["partners", "crm_deliveries"])
CRM_UPDATES = dg.AssetKey(["partners", "crm_updates"])
CHECK = "every_partner_crm_ok"
CRM_CRON = "*/15 * * * *"
CRM_KINDS = ("salesforce",)  # the CRMs partners connect (leadsync/partner_crm/kinds.py)
# What each asset records in the store: the leads created in a partner's CRM, and the lifecycle events read back.
CRM_LEADS = table_schema(partner_crm_leads)
CRM_EVENTS = table_schema(lt.lifecycle_events)
UI_URL_ENV = "LEADSYNC_DAGSTER_URL"


def _run_url(context: dg.AssetExecutionContext) -> str:
    base = os.environ.get(UI_URL_ENV, "http://127.0.0.1:3000").rstrip("/")
    return f"{base}/runs/{context.run_id}"


def _updates_lifecycle(context: dg.AssetExecutionContext, paths: ProjectPaths, store: LeadStore) -> Lifecycle:
    """What reading the partners' CRMs needs: lifecycle.yaml and partners.yaml must load (else the step fails),
    but a source mapping that does not is left out with a warning. That source's own run fails and emails its
    contacts; the partners' changes for the other sources must not wait for it, as every writeback depends on
    this asset (the sources only say whom to alert when a partner's CRM fails)."""
    try:
        return load_lifecycle(paths, store)
    except ConfigError as exc:
        if Path(exc.file).parent.resolve() != paths.sources_dir.resolve():
            raise
    settings = load_settings(lifecycle_file(paths))
    partners = load_partners(paths.partners_file)
    sources = {}
    for file in source_files(paths):
        try:
            cfg = load_source(file)
        except ConfigError as exc:
            context.log.warning(f"{file.name} is left out of this read of the partners' CRMs (its own run says "
                                f"why and emails its contacts): {exc}")
            continue
        sources[cfg.name] = cfg
    check_references(settings, partners, [file.stem for file in source_files(paths)], lifecycle_file(paths))
    return Lifecycle(store=store, partners=partners, settings=settings, sources=sources)


def _result(context: dg.AssetExecutionContext, key: dg.AssetKey, report: CrmRunReport) -> dg.MaterializeResult:
    rows = [{"partner": o.partner_id, "delivered": o.delivered, "withdrawn": o.withdrawn,
             "changes_read": o.changes_read, "events": o.events, "failed": len(o.failures),
             "first_problem": o.reasons[0][:160] if o.reasons else ""} for o in report.outcomes]
    for partner_id, reasons in report.failed.items():
        context.log.error(f"partner '{partner_id}' CRM {report.stage} failed: " + " | ".join(reasons[:10]))
    for problem in report.problems:
        context.log.warning(problem)
    notes = [n for o in report.outcomes for n in o.notes]
    for note in notes[:20]:
        context.log.info(note)
    failed = report.failed
    check = dg.AssetCheckResult(
        check_name=CHECK, asset_key=key, passed=not failed, severity=dg.AssetCheckSeverity.ERROR,
        description=("every CRM-connected partner served" if not failed else
                     "failing: " + "; ".join(f"{p}: {r[0][:200]}" for p, r in failed.items())),
        metadata={"failed_partners": dg.MetadataValue.json(failed)})
    # rows: leads created or withdrawn in the partners' CRMs (deliveries), lifecycle events recorded (updates)
    count = report.total("events") if report.stage == "updates" else report.total("delivered") + report.total("withdrawn")
    return dg.MaterializeResult(asset_key=key, metadata={
        "dagster/row_count": count,
        "partners": md_table(pd.DataFrame(rows), limit=50),
        "delivered": report.total("delivered"), "withdrawn": report.total("withdrawn"),
        "changes_read": report.total("changes_read"), "lifecycle_events": report.total("events"),
        "failed_partners": len(failed), "alert_emails_sent": report.alerts_sent,
        "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in notes[:50]) or "none"),
    }, check_results=[check])


def partner_crm_definitions(sources: list[str], paths: ProjectPaths | None = None) -> dg.Definitions:
    """The partner-CRM assets, their job (with every source's writeback) and schedule. With `paths`, owned by
    lifecycle.yaml's support contact. partners/crm_updates reads the partners' CRMs on the schedule whatever
    happened upstream, so it carries the schedule's freshness policy (crm_deliveries waits for deliveries)."""
    owners = lifecycle_owners(lifecycle_file(paths)) if paths is not None else []
    crm_asset = partner_asset(CRM_KINDS, owners)
    freshness = schedule_freshness(CRM_CRON)

    @dg.asset(key=CRM_DELIVERIES, deps=[DELIVERIES], **crm_asset, metadata=column_schema(CRM_LEADS),
              check_specs=[dg.AssetCheckSpec(CHECK, asset=CRM_DELIVERIES, description=(
                  "Every CRM-connected partner got its accepted leads and withdrawals (fails naming the partner "
                  "and the reason otherwise)."))],
              description="Accepted leads created in CRM-connected partners' own CRMs (partner-visible fields, "
                          "campaign, owner; upserted by external id), withdrawals marked there.")
    def crm_deliveries(context: dg.AssetExecutionContext, leadsync: LeadsyncResource) -> dg.MaterializeResult:
        with lifecycle_errors(leadsync):
            ctx = load_lifecycle(leadsync.paths, leadsync.store())
            report = run_deliveries(ctx, leadsync.paths, now_utc(), _run_url(context))
        return _result(context, CRM_DELIVERIES, report)

    # A root asset, like a source's raw_rows: it reads the partners' CRMs. The writebacks depend on it (see the
    # module's docstring), so it must not wait for deliveries: a failed delivery step would skip every writeback.
    @dg.asset(key=CRM_UPDATES, **crm_asset, metadata=column_schema(CRM_EVENTS), freshness_policy=freshness,
              check_specs=[dg.AssetCheckSpec(CHECK, asset=CRM_UPDATES, description=(
                  "Every CRM-connected partner's changes were read and applied."))],
              description="CRM-connected partners' changes (status, owner, conversion, opportunity) as lifecycle "
                          "events; the sources' writebacks carry them to the supplier.")
    def crm_updates(context: dg.AssetExecutionContext, leadsync: LeadsyncResource) -> dg.MaterializeResult:
        with lifecycle_errors(leadsync):
            ctx = _updates_lifecycle(context, leadsync.paths, leadsync.store())
            report = run_updates(ctx, leadsync.paths, now_utc(), _run_url(context))
        return _result(context, CRM_UPDATES, report)

    writebacks = [dg.AssetKey([s, "writeback"]) for s in sources]
    job = dg.define_asset_job(
        "partner_crm", selection=dg.AssetSelection.assets(CRM_DELIVERIES, CRM_UPDATES, *writebacks),
        description="Partner CRMs: create accepted leads, mark withdrawals, pull partners' changes, then write "
                    "back to every source (the writebacks depend on partners/crm_updates).")
    schedule = dg.ScheduleDefinition(name="partner_crm_schedule", job=job, cron_schedule=CRM_CRON,
                                     default_status=dg.DefaultScheduleStatus.RUNNING,
                                     description="Partner CRMs in and out every 15 minutes.")
    return dg.Definitions(assets=[crm_deliveries, crm_updates], jobs=[job], schedules=[schedule])

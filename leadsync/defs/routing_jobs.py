"""Routing work outside the main job: the reroute schedule and manual assignment with run config."""


from typing import Literal

import dagster as dg
from pydantic import Field

from leadsync.config import load_partners
from leadsync.defs.errors import store_failure
from leadsync.defs.resources import LeadsyncResource
from leadsync.pipeline import now_utc
from leadsync.routing.manual import ManualAssignmentError, assign_by_hand, withdraw_by_hand
from leadsync.store.faults import StoreFault


def reroute_job_and_schedule(sources: list[str], cron: str = "0 * * * *"):
    """Hourly: withdraw leads not accepted in time, route them again, and write the statuses back."""
    selection = dg.AssetSelection.assets(*[dg.AssetKey([s, "reroutes"]) for s in sources])
    job = dg.define_asset_job(
        "reroute", selection=selection | selection.downstream(depth=1),
        description="Withdraw leads not accepted within the acceptance window, reroute them, write back.",
    )
    schedule = dg.ScheduleDefinition(name="reroute_schedule", job=job, cron_schedule=cron,
                                      default_status=dg.DefaultScheduleStatus.RUNNING,
                                      description="Withdraw and reroute leads partners did not accept in time.")
    return job, schedule


class ManualAssignment(dg.Config):
    """Run config of the manual_assignment job."""

    lead_id: str = Field(description="The lead's id (see `leadsync explain`).")
    action: Literal["assign", "withdraw"] = Field(description="assign (or reassign) to a partner, or withdraw.")
    partner_id: str | None = Field(None, description="Partner id from partners.yaml (for assign).")
    rep_email: str | None = Field(None, description="One of the partner's reps (optional).")
    reason: str | None = Field(None, description="Why: kept in the audit trail and written back.")
    actor: str = Field("operator", description="Who made the change.")


@dg.op(description="Assign, reassign or withdraw one lead by hand; audited and written back like any decision.")
def manual_assignment_op(context: dg.OpExecutionContext, config: ManualAssignment,
                         leadsync: LeadsyncResource) -> None:
    partners = load_partners(leadsync.paths.partners_file)
    try:
        if config.action == "assign":
            if not config.partner_id:
                raise ManualAssignmentError("action 'assign' needs partner_id")
            result = assign_by_hand(leadsync.store(), partners, config.lead_id, config.partner_id, now_utc(),
                                    rep_email=config.rep_email, reason=config.reason, actor=config.actor)
        else:
            result = withdraw_by_hand(leadsync.store(), partners, config.lead_id, now_utc(), reason=config.reason,
                                      actor=config.actor)
    except ManualAssignmentError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    except StoreFault as exc:
        raise store_failure(exc) from exc
    context.log.info(f"lead {result.lead_id}: {result.action}; partner {result.previous_partner_id or '-'} → "
                     f"{result.partner_id or '-'} (version {result.version}); the writeback sends it next run")


@dg.job(description="Assign, reassign or withdraw one lead by hand (run config: lead_id, action, partner_id…).")
def manual_assignment():
    manual_assignment_op()

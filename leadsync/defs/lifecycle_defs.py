"""The partner lifecycle in Dagster: deliver routed leads (auto-accept or notification email), retry mail that
could not be sent, closed-loop update requests, and the rewards leaderboard.

Deliveries read every source's new assignments, so they are one asset after all the routing assets. The
writebacks do not wait for them (an SMTP outage must not hold back every source's writeback): what
partners do reaches the sources on the next writeback run (the hourly reroute job runs every writeback).
"""

import contextlib
from collections.abc import Iterable, Iterator

import dagster as dg

from leadsync.config import ConfigError
from leadsync.config.loader import ProjectPaths
from leadsync.defs.column_schemas import column_schema, schema_of, table_schema
from leadsync.defs.config_checks import project_config_check
from leadsync.defs.errors import store_failure
from leadsync.defs.mail_outage import smtp_down
from leadsync.defs.metadata import md_counts, md_table
from leadsync.defs.owners import lifecycle_owners
from leadsync.defs.pools import STORE_POOL, store_kind
from leadsync.defs.resources import LeadsyncResource
from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.aging import queue_aging_emails
from leadsync.lifecycle.closed_loop import send_closed_loop
from leadsync.lifecycle.context import lifecycle_file, load_lifecycle
from leadsync.lifecycle.delivery import deliver
from leadsync.lifecycle.mail_queue import send_pending
from leadsync.lifecycle.offers import queue_offer_emails
from leadsync.lifecycle.rewards import leaderboard
from leadsync.lifecycle.smtp import SmtpConfigError, SmtpUnavailable
from leadsync.lifecycle.waiting import waiting_frame, waiting_per_partner
from leadsync.pipeline import now_utc
from leadsync.store.faults import StoreFault

DELIVERIES = dg.AssetKey(["partners", "deliveries"])
LEADERBOARD = dg.AssetKey(["partners", "leaderboard"])
# Transient mail trouble (a server that answers again) and a busy store are retried; a server that is down is
# not (leadsync/defs/mail_outage.py).
MAIL_RETRY = dg.RetryPolicy(max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL)
DELIVERY_COLUMNS = {
    "delivery_id": "new_lead:<lead>:<version>, closed_loop:…, rep:… (unique)",
    "kind": "new_lead | reminder | withdrawal | escalation | closed_loop | offer | …",
    "state": "pending (queued, sent by the next run) | sent | failed | superseded",
    "attempts": "sending attempts so far", "last_error": "the server's last answer when not sent"}
LEADERBOARD_COLUMNS = {"rank": "integer", "partner_id": "string", "partner_name": "string", "points": "integer",
                       "updates": "integer"}


@contextlib.contextmanager
def lifecycle_errors(leadsync: LeadsyncResource | None = None) -> Iterator[None]:
    """Lifecycle problems as the step's outcome. An SMTP server that does not accept connections (after the
    mailer's own `smtp.retries`) fails the step at once, saying where the emails are: step retries minutes
    apart would only wait on a server that is down, and the queue keeps every email for the next run. One
    that answers again by now (it dropped a connection, answered 4xx) is left to the step's retry policy."""
    try:
        yield
    except StoreFault as exc:
        raise store_failure(exc) from exc
    except ConfigError as exc:
        raise dg.Failure(description=f"The partner lifecycle is misconfigured: {exc}", allow_retries=False) from exc
    except SmtpConfigError as exc:
        raise dg.Failure(description=f"Partner emails cannot be sent: {exc}", allow_retries=False) from exc
    except SmtpUnavailable as exc:
        down = smtp_down(exc, leadsync) if leadsync is not None else None
        if down is None:
            raise  # transient: the asset's retry policy tries again, the mail stays queued
        raise down from exc


def partner_asset(kinds: Iterable[str], owners: list[str]) -> dict:
    """What every asset of the partners group shares: its group, kinds (and the store's), owners and pool."""
    return {"group_name": "partners", "kinds": {*kinds, store_kind()}, "owners": owners, "pool": STORE_POOL}


def lifecycle_assets(sources: list[str], paths: ProjectPaths | None = None) -> list[dg.AssetsDefinition]:
    """partners/deliveries and partners/leaderboard; with `paths`, owned by lifecycle.yaml's support contact."""
    owners = lifecycle_owners(lifecycle_file(paths)) if paths is not None else []
    upstream = [dg.AssetKey([s, name]) for s in sources for name in ("assignments", "reroutes")]

    @dg.asset(key=DELIVERIES, deps=upstream, retry_policy=MAIL_RETRY, **partner_asset(["email"], owners),
              metadata=column_schema(table_schema(lt.deliveries, DELIVERY_COLUMNS)),
              description="Routed leads delivered: accepted at once for auto-accept partners, else a notification "
                          "email with accept/reject links to the partner's default users and reps. The metadata "
                          "names the leads waiting per partner: not told yet (and why), or awaiting acceptance.")
    def deliveries(context: dg.AssetExecutionContext, leadsync: LeadsyncResource) -> dg.MaterializeResult:
        with lifecycle_errors(leadsync):
            ctx = load_lifecycle(leadsync.paths, leadsync.store())
            aging = queue_aging_emails(ctx, now_utc())  # sent with the deliveries' emails
            offers = queue_offer_emails(ctx, now_utc())
            report = deliver(ctx, now_utc())
            waiting = waiting_per_partner(ctx.store, ctx.partners)
        for problem in report.problems + aging.problems:
            context.log.warning(problem)
        return dg.MaterializeResult(metadata={
            # leads delivered in this run: accepted at once, or announced in an email queued now
            "dagster/row_count": report.auto_accepted + report.queued,
            "reminders_queued": aging.reminders, "withdrawal_notices_queued": aging.withdrawal_notices,
            "escalation_emails_queued": aging.escalations, "offer_emails_queued": offers,
            "auto_accepted": report.auto_accepted, "emails_sent": report.sent, "emails_failed": report.failed,
            "retry_later": report.retry_later, "per_partner": md_counts(report.per_partner, "partner", "leads"),
            "leads_waiting": sum(w.waiting for w in waiting),
            "leads_not_told": sum(w.not_told for w in waiting),
            "waiting_per_partner": md_table(waiting_frame(waiting), limit=50),
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in report.problems) or "none"),
        })

    @dg.asset(key=LEADERBOARD, deps=[DELIVERIES], **partner_asset(["report"], owners),
              metadata=column_schema(schema_of(LEADERBOARD_COLUMNS)),
              description="Rewards: points per timely status update and conversion, per partner and per rep.")
    def rewards_leaderboard(context: dg.AssetExecutionContext, leadsync: LeadsyncResource) -> dg.MaterializeResult:
        with lifecycle_errors(leadsync):
            ctx = load_lifecycle(leadsync.paths, leadsync.store())
            board = leaderboard(ctx.store, ctx.partners)
        return dg.MaterializeResult(metadata={
            "partners": md_table(board.partners, limit=25), "reps": md_table(board.reps, limit=25),
            "dagster/row_count": len(board.partners),
        })

    # partners.yaml and lifecycle.yaml checked where partners get their leads (a check is an AssetsDefinition)
    return [deliveries, rewards_leaderboard, project_config_check(DELIVERIES)]


@dg.op(description="Queue the reminders, withdrawal notices and escalations now due (lifecycle.yaml aging), and "
                   "send partner emails that could not be sent before (SMTP down, refused).")
def send_queued_mail(context: dg.OpExecutionContext, leadsync: LeadsyncResource) -> None:
    with lifecycle_errors(leadsync):
        ctx = load_lifecycle(leadsync.paths, leadsync.store())
        aging = queue_aging_emails(ctx, now_utc())  # reminders fall due between deliveries runs
        queue_offer_emails(ctx, now_utc())
        report = send_pending(ctx, now_utc())
    for problem in aging.problems:
        context.log.warning(problem)
    context.log.info(f"queued partner mail: {report}; aging: {aging}")


@dg.op(description="Ask owners of accepted, still-open leads for an update (closed loop).")
def request_updates(context: dg.OpExecutionContext, leadsync: LeadsyncResource) -> None:
    with lifecycle_errors(leadsync):
        report = send_closed_loop(load_lifecycle(leadsync.paths, leadsync.store()), now_utc())
    context.log.info(f"closed loop: {report.emails_queued} emails to owners of {report.leads_asked} leads; "
                     f"skipped: {report.skipped_partners}")
    if report.problems:
        context.log.warning("; ".join(report.problems))


@dg.job(description="Retry partner emails that could not be sent.")
def partner_mail_retry():
    send_queued_mail()


@dg.job(description="Closed-loop requests: ask partners for status on accepted, open leads.")
def closed_loop():
    request_updates()


def lifecycle_schedules() -> list[dg.ScheduleDefinition]:
    running = dg.DefaultScheduleStatus.RUNNING
    return [
        dg.ScheduleDefinition(name="partner_mail_retry_schedule", job=partner_mail_retry, cron_schedule="*/15 * * * *",
                              default_status=running),
        dg.ScheduleDefinition(name="closed_loop_schedule", job=closed_loop, cron_schedule="0 8 * * *",
                              default_status=running),
    ]

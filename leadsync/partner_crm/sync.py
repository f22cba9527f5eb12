"""Every CRM-connected partner, each failing alone.

`run_deliveries` marks withdrawals and creates newly accepted leads; `run_updates` pulls each partner's
changes into lifecycle events. A partner whose CRM fails (bad credentials, a missing field, a record
refused by a validation rule, the CRM unreachable after retries) gets its failure recorded
(`partner_crm_sync`, and per lead in `partner_crm_leads`), its technical contact and the supplier's contacts
emailed (configuration and record problems at once; transient ones after TRANSIENT_ALERT_AFTER failing
runs in a row), and the other partners carry on. Everything failed is tried again next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from leadsync.connectors.api_client import ApiConfigError, ApiError, ApiQuotaExhausted, ApiTransientError
from leadsync.connectors.crm.contract import PartnerCrm
from leadsync.config.loader import ProjectPaths
from leadsync.config.partners import Partner
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.mail_queue import send_pending
from leadsync.lifecycle.smtp import SmtpError
from leadsync.partner_crm.alerts import queue_alert
from leadsync.partner_crm.changes import pull_changes
from leadsync.partner_crm.crm_only import enabled as crm_only_enabled
from leadsync.partner_crm.crm_only import pull_crm_only
from leadsync.partner_crm.delivery import deliver_to_crm, withdraw_from_crm
from leadsync.partner_crm.kinds import kind_of, open_crm
from leadsync.partner_crm.outcome import PartnerOutcome
from leadsync.partner_crm.tables import ensure_tables
from leadsync.partner_crm.tables import partner_crm_sync as sync

log = logging.getLogger(__name__)
TRANSIENT_ALERT_AFTER = 3  # failing runs in a row before a transient problem is emailed


@dataclass
class CrmRunReport:
    stage: str  # deliveries | updates
    outcomes: list[PartnerOutcome] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)  # alert emails queued (delivery ids)
    alerts_sent: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> dict[str, list[str]]:
        return {o.partner_id: o.reasons for o in self.outcomes if not o.ok}

    def total(self, name: str) -> int:
        return sum(getattr(o, name) for o in self.outcomes)


def crm_partners(ctx: Lifecycle) -> list[Partner]:
    return [p for p in ctx.partners.partners if p.crm is not None]


def run_deliveries(ctx: Lifecycle, paths: ProjectPaths, now: datetime, run_url: str | None = None) -> CrmRunReport:
    def work(partner: Partner, crm: PartnerCrm, outcome: PartnerOutcome) -> None:
        withdraw_from_crm(ctx, partner, crm, now, outcome)
        deliver_to_crm(ctx, partner, crm, now, outcome)
    return _run(ctx, paths, now, "deliveries", work, run_url)


def run_updates(ctx: Lifecycle, paths: ProjectPaths, now: datetime, run_url: str | None = None) -> CrmRunReport:
    def work(partner: Partner, crm: PartnerCrm, outcome: PartnerOutcome) -> None:
        pull_changes(ctx, partner, crm, now, outcome)
        if crm_only_enabled(partner):  # the opportunities it made without a leadsync lead
            pull_crm_only(ctx, partner, crm, now, outcome)
    return _run(ctx, paths, now, "updates", work, run_url)


def _run(ctx: Lifecycle, paths: ProjectPaths, now: datetime, stage: str,
         work: Callable[[Partner, PartnerCrm, PartnerOutcome], None], run_url: str | None) -> CrmRunReport:
    with ctx.store.begin() as conn:
        ensure_tables(conn)
    report = CrmRunReport(stage)
    for partner in crm_partners(ctx):
        outcome = _isolated(ctx, paths, partner, work)
        report.outcomes.append(outcome)
        failures = _record(ctx, partner, outcome, now)
        if outcome.ok or not (outcome.urgent or failures >= TRANSIENT_ALERT_AFTER):
            continue
        delivery_id, problem = queue_alert(ctx, partner, stage, outcome, now, run_url)
        if delivery_id:
            report.alerts.append(delivery_id)
        if problem:
            report.problems.append(problem)
    if report.alerts:
        try:
            report.alerts_sent = send_pending(ctx, now, delivery_ids=report.alerts).sent
        except SmtpError as exc:  # the alerts stay queued for partner_mail_retry_schedule
            report.problems.append(f"alert emails not sent yet: {exc}")
    return report


def _isolated(ctx: Lifecycle, paths: ProjectPaths, partner: Partner,
              work: Callable[[Partner, PartnerCrm, PartnerOutcome], None]) -> PartnerOutcome:
    outcome = PartnerOutcome(partner.id)
    label = f"{partner.name}'s {kind_of(partner).label} CRM"
    try:
        # one worker at a time per partner (deliveries and updates run side by side on Celery workers, and
        # two runs may overlap): the ledger rows and the CRM calls of a partner are never interleaved
        with ctx.store.exclusive(f"partner_crm:{partner.id}"):
            crm = open_crm(partner, paths)
            try:
                work(partner, crm, outcome)
            finally:
                crm.close()
    except ApiConfigError as exc:
        outcome.fail("config", f"{label}: {exc}")
    except ApiQuotaExhausted as exc:
        outcome.fail("quota", f"{label}: {exc}")
    except ApiTransientError as exc:
        outcome.fail("transient", f"{label} did not answer after retries: {exc}")
    except ApiError as exc:
        outcome.fail("config", f"{label} refused the call: {exc}")
    except Exception as exc:  # one partner's surprise must not stop the others; logged in full
        log.exception("partner %s: CRM work failed", partner.id)
        outcome.fail("unexpected", f"{label}: unexpected {type(exc).__name__}: {exc}")
    return outcome


def _record(ctx: Lifecycle, partner: Partner, outcome: PartnerOutcome, now: datetime) -> int:
    """Update the partner's sync row; the number of failing runs in a row."""
    key = sync.c.partner_id == partner.id
    with ctx.store.begin() as conn:
        found = conn.execute(sa.select(sync.c.failures).where(key)).scalars().all()
        failures = 0 if outcome.ok else (found[0] if found else 0) + 1
        values = {"failures": failures}
        if outcome.ok:
            values["last_ok_at"] = now
        else:
            values |= {"last_error": "; ".join(outcome.reasons)[:4000], "last_error_at": now}
        if found:
            conn.execute(sa.update(sync).where(key).values(**values))
        else:
            conn.execute(sa.insert(sync).values(partner_id=partner.id, **values))
    return failures

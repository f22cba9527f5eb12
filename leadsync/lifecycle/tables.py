"""Lifecycle tables, registered on the store's metadata: importing this module is enough for
LeadStore to create them. Keys are deterministic, so a retried step or a double click adds nothing."""

from __future__ import annotations

import sqlalchemy as sa

from leadsync.portal.tables import PORTAL_TABLES
from leadsync.store.tables import TS, metadata

# Every partner action on a lead (accept, reject, sales status, rep, opportunity, marketing event), one row
# each: the audit trail, and what the writeback outbox events are made from (same event_id).
lifecycle_events = sa.Table(
    "lifecycle_events",
    metadata,
    sa.Column("event_id", sa.String, primary_key=True),
    sa.Column("lead_id", sa.String, nullable=False),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("partner_id", sa.String),
    # accepted | rejection | sales_status | rep | opportunity | marketing_event
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),  # JSON object
    sa.Column("actor", sa.String, nullable=False),  # auto_accept | web | import | api | <operator>
    sa.Column("occurred_at", TS, nullable=False),
)

# Single-use links (accept, reject) once used: a replayed link is refused.
used_tokens = sa.Table(
    "used_tokens",
    metadata,
    sa.Column("token_id", sa.String, primary_key=True),
    sa.Column("action", sa.String, nullable=False),
    sa.Column("lead_id", sa.String),
    sa.Column("partner_id", sa.String, nullable=False),
    sa.Column("used_at", TS, nullable=False),
)

# The sales side of a lead a partner holds: current sales status, rep, and when it was last touched.
lead_progress = sa.Table(
    "lead_progress",
    metadata,
    sa.Column("lead_id", sa.String, primary_key=True),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("partner_id", sa.String, nullable=False),
    sa.Column("sales_status", sa.String, nullable=False),
    sa.Column("rep_name", sa.String),
    sa.Column("rep_email", sa.String),
    sa.Column("accepted_at", TS, nullable=False),
    sa.Column("touched_at", TS, nullable=False),  # acceptance or the latest status update (rewards, closed loop)
    sa.Column("closed", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),  # +1 per change: part of the change's event id
)

opportunities = sa.Table(
    "opportunities",
    metadata,
    sa.Column("opportunity_id", sa.String, primary_key=True),
    sa.Column("lead_id", sa.String, nullable=False),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("partner_id", sa.String, nullable=False),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("stage", sa.String, nullable=False),
    sa.Column("amount", sa.Float),
    sa.Column("currency", sa.String),
    sa.Column("close_date", sa.Date),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

marketing_events = sa.Table(
    "marketing_events",
    metadata,
    sa.Column("event_id", sa.String, primary_key=True),
    sa.Column("lead_id", sa.String, nullable=False),
    sa.Column("opportunity_id", sa.String),
    sa.Column("partner_id", sa.String, nullable=False),
    sa.Column("event_type", sa.String, nullable=False),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("occurred_on", sa.Date, nullable=False),
    sa.Column("detail", sa.Text),
    sa.Column("recorded_at", TS, nullable=False),
)

# Points earned; one entry per rewarded lifecycle event (entry_id derives from it).
rewards_ledger = sa.Table(
    "rewards_ledger",
    metadata,
    sa.Column("entry_id", sa.String, primary_key=True),
    sa.Column("event_id", sa.String, nullable=False),
    sa.Column("lead_id", sa.String, nullable=False),
    sa.Column("partner_id", sa.String, nullable=False),
    sa.Column("rep_email", sa.String),
    sa.Column("rep_name", sa.String),
    sa.Column("points", sa.Integer, nullable=False),
    sa.Column("reason", sa.String, nullable=False),
    sa.Column("earned_at", TS, nullable=False),
)

# Every email leadsync sends to partners, rendered once and kept: a rerun finds the row and never emails
# twice. pending → sent | failed (a permanent refusal, e.g. an unknown recipient) | superseded (a new-lead
# email held back until its lead had moved on).
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("delivery_id", sa.String, primary_key=True),  # new_lead:<lead>:<version> | closed_loop:… | rep:…
    sa.Column("kind", sa.String, nullable=False),  # new_lead | closed_loop | rep_assigned
    sa.Column("lead_id", sa.String),
    sa.Column("version", sa.Integer),  # the assignment version a new_lead email announced
    sa.Column("partner_id", sa.String, nullable=False),
    sa.Column("recipients", sa.Text, nullable=False),  # comma-separated
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=False),
    sa.Column("state", sa.String, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("sent_at", TS),
)

# Leads partners created themselves, and whether auto-registration registered them with the supplier.
partner_registrations = sa.Table(
    "partner_registrations",
    metadata,
    sa.Column("registration_id", sa.String, primary_key=True),  # <partner>:<partner's reference>
    sa.Column("partner_id", sa.String, nullable=False),
    sa.Column("reference", sa.String, nullable=False),
    sa.Column("email", sa.String),
    sa.Column("company", sa.String),
    sa.Column("fields", sa.Text, nullable=False),  # JSON object as received
    sa.Column("decision", sa.String, nullable=False),  # registered | not_matched | ignored
    sa.Column("matched_by", sa.String),  # partner:<group> | supplier:<group>
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("decided_at", TS, nullable=False),
)

# Who claimed an offered lead (rule groups in `mode: offer`): one row per (lead, assignment version); the key
# makes the first claim the only one (routing/offers.py).
offer_claims = sa.Table(
    "offer_claims",
    metadata,
    sa.Column("lead_id", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("partner_id", sa.String, nullable=False),
    sa.Column("claimed_at", TS, nullable=False),
)

sa.Index("ix_lifecycle_events_lead", lifecycle_events.c.lead_id, lifecycle_events.c.occurred_at)
sa.Index("ix_deliveries_state", deliveries.c.state)
sa.Index("ix_deliveries_lead", deliveries.c.lead_id, deliveries.c.kind)
sa.Index("ix_lead_progress_partner", lead_progress.c.partner_id, lead_progress.c.closed)
sa.Index("ix_opportunities_lead", opportunities.c.lead_id)
sa.Index("ix_rewards_partner", rewards_ledger.c.partner_id)

LIFECYCLE_TABLES = [lifecycle_events, used_tokens, lead_progress, opportunities, marketing_events, rewards_ledger,
                    deliveries, partner_registrations, offer_claims,
                    *PORTAL_TABLES]  # the partner portal's (sign-ins, settings)


def ensure_tables(conn: sa.Connection) -> None:
    """Create the lifecycle tables in a store opened before this module was imported (a no-op otherwise)."""
    metadata.create_all(conn, tables=LIFECYCLE_TABLES)

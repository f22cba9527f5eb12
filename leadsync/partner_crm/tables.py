"""Partner CRM tables, registered on the store's metadata (as leadsync/lifecycle/tables.py does): importing
this module is enough for LeadStore to create them; `ensure_tables` covers a store opened before."""

from __future__ import annotations

import sqlalchemy as sa

from leadsync.store.tables import TS, metadata

# One row per lead a partner's CRM should have (or had): the ledger of deliveries, withdrawals, and the
# latest state read back from the CRM with whether it was applied as lifecycle events.
partner_crm_leads = sa.Table(
    "partner_crm_leads",
    metadata,
    sa.Column("lead_id", sa.String, primary_key=True),
    sa.Column("partner_id", sa.String, primary_key=True),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("crm", sa.String, nullable=False),  # the connector: salesforce, …
    sa.Column("external_id", sa.String, nullable=False),  # the value of the CRM's external id field
    sa.Column("record_id", sa.String),  # the CRM's id of the record
    sa.Column("state", sa.String, nullable=False),  # failed | delivered | withdrawn
    sa.Column("assignment_version", sa.Integer, nullable=False),  # the accepted assignment delivered
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text),  # why the CRM refused it (failed), or why a withdrawal mark failed
    sa.Column("owner_email", sa.String),  # the owner the CRM gave it when leadsync created it
    sa.Column("delivered_at", TS),
    sa.Column("withdrawn_at", TS),
    sa.Column("updated_at", TS, nullable=False),
    # the latest state read from the CRM
    sa.Column("crm_status", sa.String),
    sa.Column("crm_owner_name", sa.String),
    sa.Column("crm_owner_email", sa.String),
    sa.Column("crm_converted", sa.Boolean),
    sa.Column("crm_opportunity", sa.Text),  # JSON: record_id, name, stage, amount, close_date
    sa.Column("crm_modified_at", TS),
    sa.Column("apply_error", sa.Text),  # why that state could not become lifecycle events (tried again)
    sa.Column("apply_note", sa.Text),  # a change not taken over (e.g. a status going backwards)
)

# One row per CRM-connected partner: where the next change pull starts, and how the last runs went.
partner_crm_sync = sa.Table(
    "partner_crm_sync",
    metadata,
    sa.Column("partner_id", sa.String, primary_key=True),
    sa.Column("watermark", TS),  # the latest change read (lead or opportunity modstamp)
    sa.Column("last_pull_at", TS),
    sa.Column("last_ok_at", TS),
    sa.Column("failures", sa.Integer, nullable=False),  # consecutive runs that failed for this partner
    sa.Column("last_error", sa.Text),
    sa.Column("last_error_at", TS),
)

# Opportunities a partner created in its CRM with no leadsync lead behind them (read when the partner's
# `crm.crm_only_opportunities` is on): the Opportunity Summary's CRM-only class. One row per CRM record, its
# latest state; the latest `modified_at` of a partner is where its next read starts.
partner_crm_only_opportunities = sa.Table(
    "partner_crm_only_opportunities",
    metadata,
    sa.Column("partner_id", sa.String, primary_key=True),
    sa.Column("record_id", sa.String, primary_key=True),
    sa.Column("crm", sa.String, nullable=False),
    sa.Column("name", sa.String),
    sa.Column("stage", sa.String),  # a lifecycle.yaml stage through crm.stage_map, else the CRM's own name
    sa.Column("amount", sa.Float),
    sa.Column("currency", sa.String),
    sa.Column("close_date", sa.Date),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("modified_at", TS, nullable=False),
    sa.Column("read_at", TS, nullable=False),
)

sa.Index("ix_partner_crm_leads_state", partner_crm_leads.c.partner_id, partner_crm_leads.c.state)

PARTNER_CRM_TABLES = [partner_crm_leads, partner_crm_sync, partner_crm_only_opportunities]


def ensure_tables(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=PARTNER_CRM_TABLES)

"""Portal tables, registered on the store's metadata (created with the lifecycle tables)."""

from __future__ import annotations

import sqlalchemy as sa

from leadsync.store.tables import TS, metadata

# Every sign-in link sent, and when it was used: single use, and the rate limit's count.
portal_sign_ins = sa.Table(
    "portal_sign_ins",
    metadata,
    sa.Column("link_id", sa.String, primary_key=True),
    sa.Column("partner_id", sa.String),  # None: the address is no partner's user or rep (counted, not sent)
    sa.Column("email", sa.String, nullable=False),
    sa.Column("client", sa.String),  # the requester's address (rate limit per client)
    sa.Column("requested_at", TS, nullable=False),
    sa.Column("used_at", TS),
)

# A session from sign-in to sign-out: the cookie alone cannot be revoked, this row can.
portal_sessions = sa.Table(
    "portal_sessions",
    metadata,
    sa.Column("session_id", sa.String, primary_key=True),
    sa.Column("partner_id", sa.String, nullable=False),
    sa.Column("email", sa.String, nullable=False),
    sa.Column("started_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False),
    sa.Column("ended_at", TS),
)

# Partner settings changed in the portal, one row per change (who, when): the latest row per partner and
# key is in force over partners.yaml (leadsync/portal/overrides.py).
partner_settings = sa.Table(
    "partner_settings",
    metadata,
    sa.Column("change_id", sa.String, primary_key=True),
    sa.Column("partner_id", sa.String, nullable=False),
    sa.Column("setting", sa.String, nullable=False),
    sa.Column("value", sa.Text, nullable=False),  # JSON
    sa.Column("changed_by", sa.String, nullable=False),
    sa.Column("changed_at", TS, nullable=False),
)

sa.Index("ix_portal_sign_ins_email", portal_sign_ins.c.email, portal_sign_ins.c.requested_at)
sa.Index("ix_partner_settings_partner", partner_settings.c.partner_id, partner_settings.c.setting)

PORTAL_TABLES = [portal_sign_ins, portal_sessions, partner_settings]

"""Console tables, registered on the store's metadata: sign-in links sent to supplier users and their
sessions (the partner portal's own tables name a partner on every row; supplier users have none)."""

from __future__ import annotations

import sqlalchemy as sa

from leadsync.store.tables import TS, metadata

console_sign_ins = sa.Table(
    "console_sign_ins",
    metadata,
    sa.Column("link_id", sa.String, primary_key=True),
    sa.Column("email", sa.String, nullable=False),
    sa.Column("known", sa.Boolean, nullable=False),  # false: not a console user (counted, nothing sent)
    sa.Column("client", sa.String),
    sa.Column("requested_at", TS, nullable=False),
    sa.Column("used_at", TS),
)

console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("session_id", sa.String, primary_key=True),
    sa.Column("email", sa.String, nullable=False),
    sa.Column("via", sa.String, nullable=False),  # link | sso
    sa.Column("started_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False),
    sa.Column("ended_at", TS),
)

sa.Index("ix_console_sign_ins_email", console_sign_ins.c.email, console_sign_ins.c.requested_at)
CONSOLE_TABLES = [console_sign_ins, console_sessions]


def ensure_tables(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=CONSOLE_TABLES)

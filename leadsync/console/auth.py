"""Supplier users signing in to the console: by an emailed one-time link, or behind the supplier's SSO proxy.

The link works like the partner portal's (leadsync/portal/auth.py): signed with itsdangerous under the
lifecycle secret and a salt of its own, naming a row of `console_sign_ins`, expiring after
`sign_in_link_ttl_minutes`, used once; the same rate limits per address and per client. The session cookie
names a row of `console_sessions`, ended at sign-out. Only the emails in console.yaml `users` get a link.

SSO: a request from one of `sso.trusted_proxies` whose `sso.header` names a console user is that user; the
header from any other client is ignored."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from itsdangerous import BadSignature, URLSafeSerializer

from leadsync.console.config import ConsoleConfig, ConsoleUser
from leadsync.console.tables import console_sessions, console_sign_ins
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.email_render import RenderedEmail
from leadsync.lifecycle.mail_queue import queue_email
from leadsync.lifecycle.tokens import TokenError, TokenExpired, TokenForged, TokenUsed
from leadsync.portal.auth import RateLimited

SALT = "leadsync supplier console sign-in v1"
SUPPLIER = "supplier"  # the deliveries row's partner_id for emails to supplier users


def _serializer(ctx: Lifecycle) -> URLSafeSerializer:
    return URLSafeSerializer(ctx.settings.web.secret(), salt=SALT)


def _email(user: ConsoleUser, url: str, minutes: float) -> RenderedEmail:
    text = (f"Hello {user.name},\n\nsign in to the leadsync supplier console with this link "
            f"(it works once, for {minutes:g} minutes):\n\n{url}\n\nIf you did not ask for it, ignore this email.\n")
    html = (f"<p>Hello {_esc(user.name)},</p><p>sign in to the leadsync supplier console with this link (it works "
            f"once, for {minutes:g} minutes):</p><p><a href=\"{_esc(url)}\">Sign in</a></p>"
            "<p>If you did not ask for it, ignore this email.</p>")
    return RenderedEmail("Your leadsync console sign-in link", text, html)


def _esc(text: str) -> str:
    from html import escape

    return escape(text, quote=True)


def request_link(ctx: Lifecycle, cfg: ConsoleConfig, email: str, client: str | None, now: datetime) -> list[str]:
    """Queue a sign-in email when `email` is a console user; the delivery ids (none otherwise: the page says
    the same either way). RateLimited past the limits of the last hour."""
    email = email.strip().lower()
    s = console_sign_ins
    hour_ago = now - timedelta(hours=1)
    user = cfg.user(email)
    with ctx.store.begin() as conn:
        by_email = conn.execute(sa.select(sa.func.count()).select_from(s)
                                .where(s.c.email == email, s.c.requested_at > hour_ago)).scalar_one()
        by_client = conn.execute(sa.select(sa.func.count()).select_from(s)
                                 .where(s.c.client == client, s.c.requested_at > hour_ago)).scalar_one() if client else 0
        if by_email >= cfg.sign_in_requests_per_hour:
            raise RateLimited(f"Sign-in links for this address were requested {by_email} times in the last hour; "
                              "use the latest email, or try again in an hour.")
        if by_client >= cfg.sign_in_requests_per_hour_per_client:
            raise RateLimited("Too many sign-in requests from your network in the last hour; try again later.")
        link_id = secrets.token_urlsafe(16)
        conn.execute(sa.insert(s).values(link_id=link_id, email=email, known=user is not None, client=client,
                                         requested_at=now, used_at=None))
        if user is None:
            return []
        expires = now + timedelta(minutes=cfg.sign_in_link_ttl_minutes)
        token = _serializer(ctx).dumps({"l": link_id, "e": email, "x": int(expires.timestamp())})
        url = f"{ctx.settings.web.base_url}/console/sign-in/link?t={token}"
        delivery_id = f"console_sign_in:{link_id}"
        queue_email(conn, delivery_id=delivery_id, kind="console_sign_in", partner_id=SUPPLIER, recipients=[email],
                    now=now, email=_email(user, url, cfg.sign_in_link_ttl_minutes))
    return [delivery_id]


def check_link(ctx: Lifecycle, token: str | None, now: datetime) -> tuple[str, str]:
    """(link id, email) of a well-signed, unexpired link; TokenError otherwise."""
    try:
        claims = _serializer(ctx).loads(token or "")
        link_id, email, expires = claims["l"], claims["e"], int(claims["x"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise TokenForged("This sign-in link was changed or was not issued by us. Ask for a new one.") from None
    if now.timestamp() >= expires:
        raise TokenExpired("This sign-in link has expired; ask for a new one.")
    return link_id, email


def sign_in(ctx: Lifecycle, cfg: ConsoleConfig, token: str | None, now: datetime) -> tuple[ConsoleUser, str]:
    """Use a sign-in link, once: the user and a new session id."""
    link_id, email = check_link(ctx, token, now)
    user = cfg.user(email)
    if user is None:
        raise TokenError(f"{email} is no longer a console user (mappings/console.yaml users); ask your admin.")
    s = console_sign_ins
    with ctx.store.begin() as conn:
        done = conn.execute(sa.update(s).where(s.c.link_id == link_id, s.c.known, s.c.used_at.is_(None))
                            .values(used_at=now))
        if done.rowcount != 1:
            raise TokenUsed("This sign-in link was used already; each link works once. Ask for a new one.")
        session_id = _open(conn, cfg, email, "link", now)
    return user, session_id


def _open(conn: sa.Connection, cfg: ConsoleConfig, email: str, via: str, now: datetime) -> str:
    session_id = secrets.token_urlsafe(24)
    conn.execute(sa.insert(console_sessions).values(
        session_id=session_id, email=email, via=via, started_at=now,
        expires_at=now + timedelta(hours=cfg.session_hours), ended_at=None))
    return session_id


def sso_user(cfg: ConsoleConfig, headers, client: str | None) -> ConsoleUser | None:
    """The console user the SSO proxy names, when the request comes from a trusted proxy; else None."""
    if cfg.sso is None or not cfg.sso.trusts(client):
        return None
    return cfg.user(headers.get(cfg.sso.header))


def sso_session(ctx: Lifecycle, cfg: ConsoleConfig, user: ConsoleUser, now: datetime) -> str:
    with ctx.store.begin() as conn:
        return _open(conn, cfg, user.email, "sso", now)


def session_user(ctx: Lifecycle, cfg: ConsoleConfig, session_id: str | None, now: datetime) -> ConsoleUser | None:
    """The user of a live session (not ended, not expired, still in console.yaml), else None."""
    if not session_id:
        return None
    t = console_sessions
    with ctx.store.begin() as conn:
        rows = conn.execute(sa.select(t.c.email, t.c.expires_at, t.c.ended_at).where(t.c.session_id == session_id)).all()
    if not rows or rows[0].ended_at is not None:
        return None
    expires = rows[0].expires_at if rows[0].expires_at.tzinfo else rows[0].expires_at.replace(tzinfo=UTC)
    return cfg.user(rows[0].email) if now < expires else None


def sign_out(ctx: Lifecycle, session_id: str | None, now: datetime) -> None:
    if session_id:
        t = console_sessions
        with ctx.store.begin() as conn:
            conn.execute(sa.update(t).where(t.c.session_id == session_id, t.c.ended_at.is_(None)).values(ended_at=now))

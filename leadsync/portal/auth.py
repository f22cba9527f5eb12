"""Who may sign in to the portal, the one-time sign-in links they are emailed, and sessions.

A sign-in link is signed with itsdangerous (the lifecycle secret, a salt of its own) and names a row of
`portal_sign_ins`: it expires after `portal.sign_in_link_ttl_minutes` and works once (its row records the
use in the same transaction that opens the session). The session cookie (Starlette's SessionMiddleware,
signed, HttpOnly) names a row of `portal_sessions`; signing out ends that row, so a copy of the cookie
is worthless afterwards.

The email must be one of the partner's users or reps in partners.yaml. Role: `admin` (may change the
partner's settings) for the emails in `portal.admins.<partner>` — else the partner's first user, the one
added first — and `user` for everyone else (users and reps)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from itsdangerous import BadSignature, URLSafeSerializer

from leadsync.config.partners import Partner
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.email_render import render
from leadsync.lifecycle.mail_queue import queue_email
from leadsync.lifecycle.tokens import TokenError, TokenExpired, TokenForged, TokenUsed
from leadsync.portal.i18n import Message
from leadsync.portal.overrides import user_language
from leadsync.portal.tables import portal_sessions, portal_sign_ins

Role = Literal["admin", "user"]
SALT = "leadsync partner portal sign-in v1"


@dataclass(frozen=True)
class Member:
    """A partner user or rep who may sign in."""

    partner_id: str
    email: str
    name: str
    role: Role


class RateLimited(Exception):
    """Too many sign-in requests; str() is written for the person asking."""


def _role(ctx: Lifecycle, partner: Partner, email: str) -> Role:
    admins = ctx.settings.portal.admins.get(partner.id)
    if admins is not None:
        return "admin" if email in {a.lower() for a in admins} else "user"
    return "admin" if partner.users and partner.users[0].email == email else "user"


def member(ctx: Lifecycle, partner_id: str, email: str) -> Member | None:
    """The member, as partners.yaml has it now (a user removed from the YAML loses access at once)."""
    partner = ctx.partner(partner_id)
    email = email.strip().lower()
    if partner is None or not partner.active:
        return None
    person = next((u for u in partner.users if u.email == email), None) or partner.rep(email)
    return Member(partner.id, email, person.name, _role(ctx, partner, email)) if person else None


def members(ctx: Lifecycle, email: str) -> list[Member]:
    """Every partner the address belongs to (an address is usually one partner's)."""
    email = email.strip().lower()
    found = (member(ctx, p.id, email) for p in ctx.partners.partners
             if any(u.email == email for u in p.users) or p.rep(email))
    return [m for m in found if m is not None]


def _serializer(ctx: Lifecycle) -> URLSafeSerializer:
    return URLSafeSerializer(ctx.settings.web.secret(), salt=SALT)


def request_link(ctx: Lifecycle, email: str, client: str | None, now: datetime, language: str = "en") -> list[str]:
    """Queue a sign-in email for every partner `email` belongs to; the delivery ids (none for an unknown
    address — the caller says the same either way, so the page tells nobody who is a member). RateLimited
    when this address or client asked too often in the last hour."""
    email = email.strip().lower()
    portal = ctx.settings.portal
    s = portal_sign_ins
    hour_ago = now - timedelta(hours=1)
    found = members(ctx, email)
    ids: list[str] = []
    with ctx.store.begin() as conn:
        by_email = conn.execute(sa.select(sa.func.count()).select_from(s)
                                .where(s.c.email == email, s.c.requested_at > hour_ago)).scalar_one()
        by_client = conn.execute(sa.select(sa.func.count()).select_from(s)
                                 .where(s.c.client == client, s.c.requested_at > hour_ago)).scalar_one() \
            if client else 0
        if by_email >= portal.sign_in_requests_per_hour:
            raise RateLimited(Message("Sign-in links for this address were requested %(n)s times in the last hour; "
                                      "use the latest email, or try again in an hour.", n=by_email))
        if by_client >= portal.sign_in_requests_per_hour_per_client:
            raise RateLimited(Message("Too many sign-in requests from your network in the last hour; try again later."))
        if not found:  # recorded all the same: guessing addresses counts against the limits
            conn.execute(sa.insert(s).values(link_id=secrets.token_urlsafe(16), partner_id=None, email=email,
                                             client=client, requested_at=now, used_at=None))
            return []
        expires = now + timedelta(minutes=portal.sign_in_link_ttl_minutes)
        for m in found:
            link_id = secrets.token_urlsafe(16)
            conn.execute(sa.insert(s).values(link_id=link_id, partner_id=m.partner_id, email=email, client=client,
                                             requested_at=now, used_at=None))
            token = _serializer(ctx).dumps({"l": link_id, "p": m.partner_id, "e": email,
                                            "x": int(expires.timestamp())})
            url = f"{ctx.settings.web.base_url}/portal/sign-in/link?t={token}"
            partner = ctx.partner(m.partner_id)
            chosen = user_language(conn, m.partner_id, email) or language  # the user's own, else the browser's
            delivery_id = f"portal_sign_in:{link_id}"
            queue_email(conn, delivery_id=delivery_id, kind="portal_sign_in", partner_id=m.partner_id,
                        recipients=[email], now=now, email=render(
                            "portal_sign_in", "Your sign-in link", language=chosen, limits=ctx.settings.emails,
                            name=m.name, partner=partner, url=url, minutes=f"{portal.sign_in_link_ttl_minutes:g}",
                            expires_at=f"{expires.astimezone(ZoneInfo(partner.timezone)):%d %b %Y %H:%M}",
                            zone=partner.timezone))
            ids.append(delivery_id)
    return ids


def check_link(ctx: Lifecycle, token: str | None, now: datetime) -> tuple[str, str, str]:
    """(link id, partner id, email) of a valid, unexpired sign-in link; TokenError otherwise (use is
    checked when it is consumed)."""
    try:
        claims = _serializer(ctx).loads(token or "")
        link_id, partner_id, email, expires = claims["l"], claims["p"], claims["e"], int(claims["x"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise TokenForged(Message("This sign-in link was changed or was not issued by us. Ask for a new one.")) from None
    if now.timestamp() >= expires:
        raise TokenExpired(Message("This sign-in link has expired; ask for a new one."))
    return link_id, partner_id, email


def sign_in(ctx: Lifecycle, token: str | None, now: datetime) -> tuple[Member, str, datetime]:
    """Use a sign-in link (once): the member, a new session id and when it expires."""
    link_id, partner_id, email = check_link(ctx, token, now)
    who = member(ctx, partner_id, email)
    if who is None:
        raise TokenError(Message("%(email)s is no longer a user or rep of this partner; ask your partner admin.",
                                 email=email))
    s = portal_sign_ins
    session_id = secrets.token_urlsafe(24)
    expires = now + timedelta(hours=ctx.settings.portal.session_hours)
    with ctx.store.begin() as conn:
        rows = conn.execute(sa.select(s.c.used_at).where(s.c.link_id == link_id, s.c.partner_id == partner_id)).all()
        if not rows:
            raise TokenForged(Message("This sign-in link is not known here; ask for a new one."))
        if rows[0][0] is not None:
            raise TokenUsed(Message("This sign-in link was used on %(when)s UTC; each link works once. Ask for a new "
                                    "one.", when=f"{rows[0][0]:%d %b %Y %H:%M}"))
        done = conn.execute(sa.update(s).where(s.c.link_id == link_id, s.c.used_at.is_(None)).values(used_at=now))
        if done.rowcount != 1:  # a second click raced the first one
            raise TokenUsed(Message("This sign-in link has just been used; each link works once. Ask for a new one."))
        conn.execute(sa.insert(portal_sessions).values(session_id=session_id, partner_id=partner_id, email=email,
                                                       started_at=now, expires_at=expires, ended_at=None))
    return who, session_id, expires


def session_member(ctx: Lifecycle, session_id: str | None, now: datetime) -> Member | None:
    """The member of a live session (not ended, not expired, still in partners.yaml), else None."""
    if not session_id:
        return None
    t = portal_sessions
    with ctx.store.begin() as conn:
        rows = conn.execute(sa.select(t.c.partner_id, t.c.email, t.c.expires_at, t.c.ended_at)
                            .where(t.c.session_id == session_id)).all()
    if not rows or rows[0].ended_at is not None or now >= _utc(rows[0].expires_at):
        return None
    return member(ctx, rows[0].partner_id, rows[0].email)


def sign_out(ctx: Lifecycle, session_id: str | None, now: datetime) -> None:
    if session_id:
        t = portal_sessions
        with ctx.store.begin() as conn:
            conn.execute(sa.update(t).where(t.c.session_id == session_id, t.c.ended_at.is_(None))
                         .values(ended_at=now))


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)

"""Signed, expiring links for partners: HMAC-SHA256 over a small JSON claim set.

A token is bound to an action, a partner and (except import links and API keys) a lead; its signature
covers all of it, so changing any byte makes it forged. Accept and reject tokens are single-use: the web
app records their id in `used_tokens` in the same transaction as the action.

    v1.<base64url(json claims)>.<base64url(hmac)>
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from leadsync.portal.i18n import Message

Action = Literal["accept", "reject", "status", "import", "api"]
SINGLE_USE: tuple[str, ...] = ("accept", "reject")
_PREFIX = "v1"


class TokenError(ValueError):
    """A link that cannot be honoured. `title` and str() are written for the partner who clicked it (Messages:
    the web app shows them in the partner's language). `claims`: the link's own, when its signature held."""

    title = Message("This link is not valid")
    status_code = 403
    claims: Claims | None = None


class TokenForged(TokenError):
    title = Message("This link is not valid")


class TokenExpired(TokenError):
    title = Message("This link has expired")
    status_code = 410


class TokenUsed(TokenError):
    title = Message("This link has already been used")
    status_code = 410


@dataclass(frozen=True)
class Claims:
    action: str
    partner_id: str
    lead_id: str | None
    version: int | None  # assignment version the link was issued for
    expires_at: datetime
    nonce: str
    token_id: str  # stable id of this very token (for the single-use ledger)


def _key(secret: bytes) -> bytes:
    # A key derived for this purpose only, so the configured secret is never used raw.
    return hmac.new(secret, b"leadsync lifecycle links v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(secret: bytes, action: Action, partner_id: str, lead_id: str | None, now: datetime,
          ttl: timedelta, version: int | None = None) -> str:
    claims = {"a": action, "p": partner_id, "l": lead_id, "v": version,
              "x": int((now + ttl).timestamp()), "n": secrets.token_urlsafe(9)}
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    sig = _b64(hmac.new(_key(secret), f"{_PREFIX}.{body}".encode(), hashlib.sha256).digest())
    return f"{_PREFIX}.{body}.{sig}"


def verify(secret: bytes, token: str | None, action: Action | tuple[str, ...], now: datetime) -> Claims:
    """The token's claims, or TokenForged / TokenExpired (use is checked against the store by the caller)."""
    forged = TokenForged(Message("The link was changed or was not issued by us. Open it again from the email, "
                                 "exactly as it was sent."))
    if not token or token.count(".") != 2:
        raise forged
    prefix, body, sig = token.split(".")
    expected = _b64(hmac.new(_key(secret), f"{prefix}.{body}".encode(), hashlib.sha256).digest())
    if prefix != _PREFIX or not hmac.compare_digest(sig, expected):
        raise forged
    try:
        raw = json.loads(_unb64(body))
        claims = Claims(action=str(raw["a"]), partner_id=str(raw["p"]), lead_id=raw["l"], version=raw["v"],
                        expires_at=datetime.fromtimestamp(int(raw["x"]), UTC), nonce=str(raw["n"]),
                        token_id=hashlib.sha256(token.encode()).hexdigest()[:32])
    except (ValueError, KeyError, TypeError):
        raise forged from None
    allowed = (action,) if isinstance(action, str) else action
    if claims.action not in allowed:
        raise TokenForged(Message("This is a '%(kind)s' link; it cannot be used to %(actions)s.", kind=claims.action,
                                  actions=" or ".join(allowed)))
    if now >= claims.expires_at:
        expired = TokenExpired(Message("The link expired on %(when)s.", when=f"{claims.expires_at:%d %b %Y %H:%M} UTC"))
        expired.claims = claims  # signed by us: whose link it was (its partner's language and time zone)
        raise expired
    return claims

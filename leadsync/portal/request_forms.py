"""The pieces of a request the portal's and the console's pages share: the security headers of every page,
the session's CSRF token (synchronizer token: every form carries it back), and a POSTed form read with a cap."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qsl

from starlette.requests import Request

from leadsync.lifecycle.events import LifecycleError

HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
           "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                      "script-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"}
MAX_FORM = 1024 * 1024


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use): every form carries it back (synchronizer token)."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(request: Request, form: dict[str, list[str]]) -> bool:
    expected = request.session.get("csrf")
    given = (form.get("csrf") or [""])[0]
    return bool(expected) and hmac.compare_digest(str(expected), given)


async def read_form(request: Request) -> dict[str, list[str]]:
    """URL-encoded form fields, each a list (checkboxes repeat a name); LifecycleError past MAX_FORM."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise LifecycleError("The form is too large; select fewer leads.", None, 413)
    out: dict[str, list[str]] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        out.setdefault(key, []).append(value)
    return out


def first(form: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[0] for k, v in form.items()}

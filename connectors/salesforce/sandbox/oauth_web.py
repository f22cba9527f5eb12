"""OAuth 2.0 web-server (authorization-code) flow and refresh tokens, as Salesforce serves them.

    GET  /services/oauth2/authorize?response_type=code&client_id&redirect_uri[&state][&scope][&code_challenge]
         -> 302 redirect_uri?code=…&state=…   (the sandbox approves at once as its integration user: no
            login page, no consent screen)
    POST /services/oauth2/token  grant_type=authorization_code&code&redirect_uri&client_id&client_secret
         [&code_verifier]  -> access_token, refresh_token (when the granted scopes include refresh_token
            or offline_access), instance_url, id, issued_at, signature, scope, token_type
    POST /services/oauth2/token  grant_type=refresh_token&refresh_token&client_id&client_secret
         -> a new access_token; the refresh token stays valid (no rotation)
    POST /services/oauth2/revoke token=<refresh or access token> -> 200

Redirect URIs must match the connected app's callback URLs exactly, or be on loopback (localhost,
127.0.0.1: any port and path), as a desktop tool's is. Codes are single-use and live 15 minutes. The
credentials' `refresh_token` is a standing refresh token, valid across restarts, for tools that are
configured with one (Singer's tap-salesforce and others).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from html import escape
from urllib.parse import urlencode, urlsplit

CODE_TTL_S = 15 * 60
GRANTABLE = ("api", "refresh_token", "offline_access", "web", "full", "id", "openid", "profile", "email",
             "address", "phone", "chatter_api", "visualforce", "custom_permissions")
DEFAULT_SCOPE = "refresh_token api"


class OAuthFlowError(Exception):
    """A token-endpoint failure: 400 {"error", "error_description"}."""

    def __init__(self, error: str, description: str):
        super().__init__(f"{error}: {description}")
        self.body = {"error": error, "error_description": description}


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scope: str
    challenge: str | None
    expires_at: float


@dataclass(frozen=True)
class Grant:
    """What a code or refresh token stands for: the scopes granted, and a refresh token to hand out."""

    scope: str
    refresh_token: str | None = None


class WebServerFlow:
    def __init__(self, client_id: str, client_secret: str, callback_urls: tuple[str, ...],
                 standing_refresh_token: str):
        self.client_id, self.client_secret = client_id, client_secret
        self.callback_urls = callback_urls
        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._refresh: dict[str, str] = {standing_refresh_token: "refresh_token api"}  # token -> scope

    # -------------------------------------------------------------------------- /authorize

    def authorize(self, params: dict[str, str]) -> tuple[int, dict[str, str], str]:
        """(status, headers, HTML body) for GET /services/oauth2/authorize."""
        if params.get("client_id") != self.client_id:
            return 400, {}, _error_page("invalid_client_id", "client identifier invalid")
        redirect_uri = params.get("redirect_uri", "")
        if not self.redirect_allowed(redirect_uri):
            return 400, {}, _error_page("redirect_uri_mismatch", "redirect_uri must match configuration")
        state = {"state": params["state"]} if "state" in params else {}
        if params.get("response_type") != "code":
            return _redirect(redirect_uri, {"error": "unsupported_response_type",
                                            "error_description": "response type not supported", **state})
        requested = params.get("scope", "").replace(",", " ").split()
        unknown = [s for s in requested if s not in GRANTABLE]
        if unknown:
            return _redirect(redirect_uri, {"error": "invalid_scope",
                                            "error_description": "the requested scope is not allowed", **state})
        code = secrets.token_urlsafe(48)
        with self._lock:
            now = time.time()
            self._codes = {c: v for c, v in self._codes.items() if v.expires_at > now}
            self._codes[code] = _Code(self.client_id, redirect_uri, " ".join(requested) or DEFAULT_SCOPE,
                                      params.get("code_challenge"), now + CODE_TTL_S)
        return _redirect(redirect_uri, {"code": code, **state})

    def redirect_allowed(self, uri: str) -> bool:
        if uri in self.callback_urls:
            return True
        parts = urlsplit(uri)
        return parts.scheme in ("http", "https") and (parts.hostname or "") in ("localhost", "127.0.0.1")

    # -------------------------------------------------------------------------- /token grants

    def exchange_code(self, form: dict[str, str]) -> Grant:
        """grant_type=authorization_code (the client is already authenticated)."""
        with self._lock:
            code = self._codes.pop(form.get("code", ""), None)  # single use, even when it fails
        if code is None or code.expires_at <= time.time():
            raise OAuthFlowError("invalid_grant", "invalid authorization code")
        if form.get("redirect_uri") != code.redirect_uri:
            raise OAuthFlowError("redirect_uri_mismatch", "redirect_uri must match configuration")
        if code.challenge is not None:
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
            if not verifier or not hmac.compare_digest(digest, code.challenge):
                raise OAuthFlowError("invalid_grant", "invalid code verifier")
        scopes = code.scope.split()
        refresh = None
        if "refresh_token" in scopes or "offline_access" in scopes or "full" in scopes:
            refresh = "5Aep861" + secrets.token_urlsafe(60)
            with self._lock:
                self._refresh[refresh] = code.scope
        return Grant(code.scope, refresh)

    def use_refresh_token(self, form: dict[str, str]) -> Grant:
        """grant_type=refresh_token (the client is already authenticated)."""
        with self._lock:
            scope = self._refresh.get(form.get("refresh_token", ""))
        if scope is None:
            raise OAuthFlowError("invalid_grant", "expired access/refresh token")
        return Grant(scope)

    def revoke(self, token: str) -> bool:
        with self._lock:
            return self._refresh.pop(token, None) is not None


def _redirect(uri: str, params: dict[str, str]) -> tuple[int, dict[str, str], str]:
    location = uri + ("&" if urlsplit(uri).query else "?") + urlencode(params)
    return 302, {"Location": location}, ""


def _error_page(error: str, description: str) -> str:
    return (f"<html><head><title>Error</title></head><body><h1>error={escape(error)}</h1>"
            f"<p>error_description={escape(description)}</p></body></html>")

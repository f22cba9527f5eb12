"""Who may call the sandbox: Basic auth as `Site\\User:password`, OAuth 2.0 bearer tokens, and `/id`.

Basic credentials join the company (site) name and the user name with a backslash. OAuth clients
authenticate to the token endpoint with HTTP Basic (client id and secret); the resource-owner password grant,
the authorization-code grant and refresh tokens are supported. Access tokens live 8 hours and refresh tokens
rotate on use, as Eloqua's do; both expire on the sandbox clock, and `expire_access_tokens()` ends them early.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from leadsync.connectors.eloqua.sandbox.clock import SandboxClock

ACCESS_TOKEN_TTL = timedelta(hours=8)
REFRESH_TOKEN_TTL = timedelta(days=365)
NOT_AUTHENTICATED = "Not authenticated."


@dataclass
class EloquaUser:
    id: int
    username: str
    password: str
    first_name: str = "API"
    last_name: str = "User"
    email: str = "api.user@leadsync.example"

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass
class _Token:
    username: str
    client_id: str
    expires_at: datetime


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str, code: int | None = None):
        super().__init__(description)
        self.status = status
        self.body = {"error": error, "error_description": description}
        if code is not None:  # since 21C a 401 also carries a numeric error_code
            self.body["error_code"] = code


class Auth:
    def __init__(self, clock: SandboxClock, site_id: int, site_name: str, users: list[EloquaUser],
                 clients: dict[str, str]):
        self.clock = clock
        self.site_id = site_id
        self.site_name = site_name
        self.users = {u.username.lower(): u for u in users}
        self.clients = dict(clients)
        self.access_ttl = ACCESS_TOKEN_TTL
        self._lock = threading.Lock()
        self._access: dict[str, _Token] = {}
        self._refresh: dict[str, _Token] = {}
        self._codes: dict[str, _Token] = {}

    # ------------------------------------------------------------------ request authentication

    def authenticate(self, authorization: str | None) -> EloquaUser | None:
        """The user an Authorization header (Basic or Bearer) stands for, or None."""
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() == "basic":
            return self.check_basic(value.strip())
        if scheme.lower() == "bearer":
            with self._lock:
                token = self._access.get(value.strip())
            if token and token.expires_at > self.clock.now():
                return self.users.get(token.username.lower())
        return None

    def check_basic(self, encoded: str) -> EloquaUser | None:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        login, _, password = decoded.partition(":")
        site, sep, username = login.partition("\\")
        if not sep or site.lower() != self.site_name.lower():
            return None
        return self.check_password(username, password)

    def check_password(self, username: str, password: str) -> EloquaUser | None:
        user = self.users.get(username.lower())
        return user if user is not None and secrets.compare_digest(user.password, password) else None

    # ------------------------------------------------------------------ OAuth

    def client(self, authorization: str | None) -> str:
        """The client id of a token request's Basic client credentials; raises OAuthError."""
        scheme, _, value = (authorization or "").partition(" ")
        try:
            client_id, _, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            client_id = secret = ""
        if scheme.lower() != "basic" or self.clients.get(client_id) is None or \
                not secrets.compare_digest(self.clients[client_id], secret):
            raise OAuthError(401, "invalid_client", "The client credentials are invalid.", 1001)
        return client_id

    def grant(self, client_id: str, params: dict[str, str]) -> dict:
        """Answer a token request (already client-authenticated); raises OAuthError."""
        grant_type = params.get("grant_type", "")
        if grant_type == "password":
            login = params.get("username", "")
            site, sep, username = login.partition("\\")
            user = self.check_password(username, params.get("password", "")) \
                if sep and site.lower() == self.site_name.lower() else None
            if user is None:
                raise OAuthError(401, "invalid_grant", "The user credentials are invalid.", 3001)
            return self._issue(user.username, client_id)
        if grant_type == "refresh_token":
            with self._lock:
                token = self._refresh.pop(params.get("refresh_token", ""), None)
            if token is None or token.client_id != client_id or token.expires_at <= self.clock.now():
                raise OAuthError(401, "invalid_grant", "The refresh token is invalid or expired.", 4001)
            return self._issue(token.username, client_id)
        if grant_type == "authorization_code":
            with self._lock:
                token = self._codes.pop(params.get("code", ""), None)
            if token is None or token.client_id != client_id or token.expires_at <= self.clock.now():
                raise OAuthError(401, "invalid_grant", "The authorization code is invalid or expired.", 2001)
            return self._issue(token.username, client_id)
        if not grant_type:
            raise OAuthError(400, "invalid_request", "The grant_type parameter is required.")
        raise OAuthError(400, "unsupported_grant_type", f"The grant type '{grant_type}' is not supported.")

    def issue_authorization_code(self, username: str, client_id: str) -> str:
        """What the authorize endpoint would redirect with after the user accepts (for code-grant tests)."""
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Token(username, client_id, self.clock.now() + timedelta(minutes=1))
        return code

    def _issue(self, username: str, client_id: str) -> dict:
        access, refresh = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
        now = self.clock.now()
        with self._lock:
            self._access[access] = _Token(username, client_id, now + self.access_ttl)
            self._refresh[refresh] = _Token(username, client_id, now + REFRESH_TOKEN_TTL)
        return {"access_token": access, "token_type": "bearer", "expires_in": int(self.access_ttl.total_seconds()),
                "refresh_token": refresh}

    def expire_access_tokens(self) -> int:
        """End every access token now (refresh tokens keep working). Returns how many were live."""
        now = self.clock.now()
        with self._lock:
            live = [t for t in self._access.values() if t.expires_at > now]
            for t in live:
                t.expires_at = now
        return len(live)

    def expire_refresh_tokens(self) -> None:
        now = self.clock.now()
        with self._lock:
            for t in self._refresh.values():
                t.expires_at = now

    # ------------------------------------------------------------------ discovery

    def id_body(self, user: EloquaUser, base_url: str) -> dict:
        """The `/id` answer: site, user, and the pod's base URL with the API URL templates."""
        base = base_url.rstrip("/")
        return {
            "site": {"id": self.site_id, "name": self.site_name},
            "user": {"id": user.id, "username": user.username, "displayName": user.display_name,
                     "firstName": user.first_name, "lastName": user.last_name, "emailAddress": user.email},
            "urls": {"base": base, "apis": {
                "soap": {"standard": f"{base}/API/{{version}}/Service.svc",
                         "dataTransfer": f"{base}/API/{{version}}/DataTransferService.svc",
                         "email": f"{base}/API/{{version}}/EmailService.svc",
                         "externalAction": f"{base}/API/{{version}}/ExternalActionService.svc"},
                "rest": {"standard": f"{base}/API/REST/{{version}}/", "bulk": f"{base}/API/Bulk/{{version}}/"}}},
        }

    # ------------------------------------------------------------------ persistence

    def tokens_state(self) -> dict:
        def dump(tokens: dict[str, _Token]) -> dict:
            return {k: [t.username, t.client_id, t.expires_at.isoformat()] for k, t in tokens.items()}
        with self._lock:
            return {"access": dump(self._access), "refresh": dump(self._refresh)}

    def load_tokens(self, state: dict) -> None:
        def load(tokens: dict) -> dict[str, _Token]:
            return {k: _Token(u, c, datetime.fromisoformat(e)) for k, (u, c, e) in tokens.items()}
        with self._lock:
            self._access = load(state.get("access", {}))
            self._refresh = load(state.get("refresh", {}))

"""Marketo's identity service: client-credentials tokens that live `limits.token_ttl_s` on the sandbox clock.

Asking again before expiry returns the same token with its remaining lifetime, as Marketo does; an
unknown token is 601, an expired one 602.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from leadsync.connectors.marketo.sandbox.clock import SandboxClock
from leadsync.connectors.marketo.sandbox.envelope import MarketoError
from leadsync.connectors.marketo.sandbox.limits import MarketoLimits


@dataclass
class Token:
    value: str
    client_id: str
    expires_at: datetime


class TokenIssuer:
    def __init__(self, clock: SandboxClock, credentials: dict[str, str], scope: str, limits: MarketoLimits):
        self.clock = clock
        self.credentials = dict(credentials)  # client_id -> client_secret
        self.scope = scope
        self.limits = limits  # token_ttl_s is read at each issue, so tests may change it
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}
        self._current: dict[str, Token] = {}  # client_id -> its live token
        self.issued = 0

    def issue(self, client_id: str | None, client_secret: str | None) -> dict | None:
        """The token response, or None for bad credentials (the caller answers 401)."""
        if not client_id or self.credentials.get(client_id) != client_secret:
            return None
        now = self.clock.now()
        with self._lock:
            token = self._current.get(client_id)
            if token is None or token.expires_at <= now:
                # Marketo tokens look like "cdf01657-110d-4155-99a7-f986b2ff13a0:int".
                token = Token(f"{uuid.uuid4()}:sb", client_id, now + timedelta(seconds=self.limits.token_ttl_s))
                self._tokens[token.value] = token
                self._current[client_id] = token
                self.issued += 1
        remaining = max(0, int((token.expires_at - now).total_seconds()))
        return {"access_token": token.value, "token_type": "bearer", "expires_in": remaining,
                "scope": self.scope}

    def check(self, value: str | None) -> Token:
        """The token's record, or MarketoError 601 (unknown/missing) / 602 (expired)."""
        token = self._tokens.get(value or "")
        if token is None:
            raise MarketoError("601")
        if token.expires_at <= self.clock.now():
            raise MarketoError("602")
        return token

    def expire_all(self) -> None:
        """Every issued token expires now; the next identity call issues a new one."""
        now = self.clock.now()
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = min(token.expires_at, now)

"""mappings/console.yaml: who may use the supplier console and how they sign in.

```yaml
users:                                   # supplier users: an emailed sign-in link goes only to these
  - {email: ops@supplier.example, name: Pat Ops}
sso:                                     # optional: the supplier's SSO proxy signs users in
  header: X-Forwarded-Email              # the proxy puts the signed-in user's email here
  trusted_proxies: [10.0.0.5/32]         # the header is believed only from these addresses
```

A request carrying the SSO header from any other address is treated as carrying none (anyone can set a
header); the email in it must still be one of `users`."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from leadsync.config.loader import ProjectPaths, _load

CONSOLE_FILE = "console.yaml"


class ConsoleUser(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    name: str = Field(min_length=1, max_length=200)

    @field_validator("email")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.strip().lower()


class SsoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    header: str = Field(pattern=r"^[A-Za-z0-9-]{1,100}$",
                        description="Request header in which the SSO proxy names the signed-in user's email.")
    trusted_proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = Field(
        min_length=1, max_length=100, description="Addresses (CIDR) of the proxy; the header from any other "
                                                  "client is ignored.")

    def trusts(self, client: str | None) -> bool:
        if not client:
            return False
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        return any(address in net for net in self.trusted_proxies)


class ConsoleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="false: /console answers 404.")
    users: list[ConsoleUser] = Field(default_factory=list, max_length=10_000)
    sso: SsoSettings | None = None
    sign_in_link_ttl_minutes: float = Field(15, gt=0, le=24 * 60)
    session_hours: float = Field(12, gt=0, le=24 * 30)
    sign_in_requests_per_hour: int = Field(5, ge=1, le=1000,
                                           description="Sign-in links one address may request per hour.")
    sign_in_requests_per_hour_per_client: int = Field(30, ge=1, le=100_000)
    page_rows: int = Field(200, ge=10, le=5000, description="Rows a queue, search or report page shows.")

    @field_validator("users")
    @classmethod
    def _unique(cls, v: list[ConsoleUser]) -> list[ConsoleUser]:
        emails = [u.email for u in v]
        dupes = sorted({e for e in emails if emails.count(e) > 1})
        if dupes:
            raise ValueError(f"users listed twice: {dupes}")
        return v

    def user(self, email: str | None) -> ConsoleUser | None:
        email = (email or "").strip().lower()
        return next((u for u in self.users if u.email == email), None)


@dataclass(frozen=True)
class ConsoleSetup:
    """What the console needs beyond the lifecycle context: its configuration and the project's paths (the
    source mappings for manual entry, partners.yaml for report names)."""

    config: ConsoleConfig
    paths: ProjectPaths


def console_file(paths: ProjectPaths) -> Path:
    return paths.mappings / CONSOLE_FILE


def load_console_config(file: Path) -> ConsoleConfig:
    """console.yaml as a ConsoleConfig; a missing file is a console with no users (nobody can sign in)."""
    if not file.exists():
        return ConsoleConfig(users=[])
    return _load(file, ConsoleConfig)  # ConfigError naming the key, the problem and what is allowed


def load_console(paths: ProjectPaths) -> ConsoleSetup:
    return ConsoleSetup(load_console_config(console_file(paths)), paths)

"""EloquaSettings for a bundled EloquaSandbox (tests, demos): its URL, user, CA, and quick polling."""

from __future__ import annotations

from dataclasses import replace

from leadsync.connectors.api_client import HttpSettings, RetryPolicy
from leadsync.connectors.eloqua.source.settings import EloquaSettings


def sandbox_settings(sandbox, **overrides) -> EloquaSettings:
    """Basic auth as the sandbox's user; `overrides` replace any field (e.g. client_id for OAuth)."""
    settings = EloquaSettings(
        site=sandbox.site, username=sandbox.username, password=sandbox.password, login_url=sandbox.url,
        http=HttpSettings(timeout_s=10, ca_bundle=sandbox.ca_pem_path,
                          retry=RetryPolicy(attempts=5, initial_s=0.01, max_s=0.1)),
        sync_poll_interval_s=0.01, sync_timeout_s=20)
    return replace(settings, **overrides) if overrides else settings

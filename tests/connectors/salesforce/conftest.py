"""Shared fixtures: a Salesforce sandbox on loopback (TLS with a test CA) and simple-salesforce clients
logged in to it. Test folders here have no __init__ files, so helpers are fixtures."""

from __future__ import annotations

import pytest

from leadsync.connectors.salesforce.sandbox import SalesforceSandbox

SEEDED_LEADS = 2500


@pytest.fixture
def org():
    """A fresh, empty sandbox org (the integration user and four reps exist)."""
    with SalesforceSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sf(org):
    """simple-salesforce, logged in with the client-credentials flow."""
    client = org.connect()
    yield client
    client.session.close()


@pytest.fixture(scope="module")
def seeded():
    """A sandbox with 2,500 generated leads, shared by a module's read-only tests."""
    with SalesforceSandbox() as sandbox:
        sandbox.seed(leads=SEEDED_LEADS, seed=11)
        yield sandbox


@pytest.fixture(scope="module")
def seeded_sf(seeded):
    client = seeded.connect()
    yield client
    client.session.close()


@pytest.fixture
def make_leads(org):
    """make_leads(n, **fields) -> ids: n valid leads created straight in the store."""
    def create(n: int, **fields) -> list[str]:
        return org.insert("Lead", [{"LastName": f"Lead{i}", "Company": "Acme", "Email": f"lead{i}@acme.example",
                                    **fields} for i in range(n)])
    return create


@pytest.fixture
def source_for():
    """source_for(org, on_retry=None, **settings) -> a SalesforceSource reaching `org` (closed afterwards)."""
    from leadsync.connectors.salesforce.source import SalesforceSource
    from leadsync.connectors.salesforce.source.settings import sandbox_settings

    opened = []

    def build(org, on_retry=None, **overrides):
        source = SalesforceSource(sandbox_settings(org, **overrides), on_retry=on_retry)
        opened.append(source)
        return source
    yield build
    for source in opened:
        source.close()

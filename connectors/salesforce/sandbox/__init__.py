"""A Salesforce org on loopback that speaks the real wire format, for the demo and the tests.

    from leadsync.connectors.salesforce.sandbox import SalesforceSandbox, FieldSpec

    with SalesforceSandbox(extra_fields={"Lead": [FieldSpec("Tier__c", "picklist",
                                                            picklist_values=("Gold", "Silver"))]}) as org:
        org.seed(leads=20_000)
        sf = org.connect()                       # simple_salesforce.Salesforce (client credentials)
        sf.query_all("SELECT Id, Email FROM Lead WHERE SystemModstamp >= 2026-09-01T00:00:00Z")

Covers OAuth (client credentials, JWT bearer, username-password, web-server with refresh tokens, SOAP
login), SOQL query/queryAll with paging, describe, getUpdated/getDeleted, sObject CRUD and upsert, sObject
Collections, Bulk API 1.0 and 2.0 query and ingest jobs, the API budget (`Sforce-Limit-Info`), and fault
switches (`org.faults`); README.md beside this file lists what is served and what is not. Run it for demos:

    python -m leadsync.connectors.salesforce.sandbox --data-dir DIR --port 8443 --seed-leads 20000

Module map: schema/standard_objects (object model), store (records), writes (validation), soql_parser and
soql_engine (queries), auth and oauth_web, limits, faults, rest_* and bulk_* (the API; bulk_v1* is Bulk
1.0), app (routes), seed, persistence, client (requests session for simple-salesforce), sandbox (the
context manager).
"""

from leadsync.connectors.salesforce.sandbox.auth import SandboxCredentials
from leadsync.connectors.salesforce.sandbox.client import (
           SandboxRedirectAdapter,
           connect_simple_salesforce,
           sandbox_session,
)
from leadsync.connectors.salesforce.sandbox.clock import SandboxClock, format_datetime
from leadsync.connectors.salesforce.sandbox.faults import SalesforceFaults
from leadsync.connectors.salesforce.sandbox.sandbox import SalesforceSandbox
from leadsync.connectors.salesforce.sandbox.schema import FieldSpec, ObjectSpec, Schema
from leadsync.connectors.salesforce.sandbox.seed import SeedSummary

__all__ = ["FieldSpec", "ObjectSpec", "SalesforceFaults", "SalesforceSandbox", "SandboxClock",
           "SandboxCredentials", "SandboxRedirectAdapter", "Schema", "SeedSummary", "connect_simple_salesforce",
           "format_datetime", "sandbox_session"]

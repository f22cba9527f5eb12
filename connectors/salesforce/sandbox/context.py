"""What every API handler gets: the org's state (`Org`) and the request (`ApiCall`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leadsync.connectors.salesforce.sandbox.errors import ApiError

if TYPE_CHECKING:
    from leadsync.connectors.salesforce.sandbox.auth import Authenticator, SandboxCredentials, SessionRegistry
    from leadsync.connectors.salesforce.sandbox.bulk_jobs import BulkJobs
    from leadsync.connectors.salesforce.sandbox.bulk_v1_jobs import BulkV1Jobs
    from leadsync.connectors.salesforce.sandbox.clock import SandboxClock
    from leadsync.connectors.salesforce.sandbox.faults import SalesforceFaults
    from leadsync.connectors.salesforce.sandbox.limits import ApiBudget
    from leadsync.connectors.salesforce.sandbox.rest_query import QueryCursors
    from leadsync.connectors.salesforce.sandbox.schema import Schema
    from leadsync.connectors.salesforce.sandbox.store import RecordStore
    from leadsync.connectors.salesforce.sandbox.writes import RecordWriter


@dataclass
class Org:
    """The sandbox org: schema, records, clock, sessions, limits, faults, open query cursors and bulk jobs (2.0 and 1.0)."""

    schema: Schema
    store: RecordStore
    clock: SandboxClock
    writer: RecordWriter
    credentials: SandboxCredentials
    sessions: SessionRegistry
    auth: Authenticator
    budget: ApiBudget
    cursors: QueryCursors
    bulk: BulkJobs
    instance_url: Callable[[], str]
    faults: SalesforceFaults = None  # type: ignore[assignment]  # set once the HTTP server exists
    bulk_v1: BulkV1Jobs = None  # type: ignore[assignment]  # Bulk API 1.0 jobs (bulk_v1.py)


@dataclass
class ApiCall:
    """One authenticated /services/data request, read off the wire."""

    method: str
    version: str  # "59.0"
    params: Mapping[str, str]  # path parameters
    query: Mapping[str, str]  # query string
    headers: Mapping[str, str]
    body: bytes
    user_id: str

    def json(self) -> Any:
        if not self.body:
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body is empty.")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None

    @property
    def api_version(self) -> float:
        return float(self.version)

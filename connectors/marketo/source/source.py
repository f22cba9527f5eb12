"""MarketoSource: leadsync's LeadSource (connectors/source_api.py) for one Marketo instance."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from types import TracebackType
from typing import Self

import pandas as pd

from leadsync.connectors.api_budget import ApiBudget
from leadsync.connectors.api_client import ApiConfigError, ApiUnreachable
from leadsync.connectors.marketo.source import campaigns as programs
from leadsync.connectors.marketo.source import creates, history, writes
from leadsync.connectors.marketo.source.client import MarketoClient
from leadsync.connectors.marketo.source.events import EventWriter
from leadsync.connectors.marketo.source.nurture import change_membership
from leadsync.connectors.marketo.source.pull import LeadPull
from leadsync.connectors.marketo.source.settings import MarketoSettings
from leadsync.connectors.source_api import CampaignSelection, NurtureTarget, PulledBatch


class MarketoSource:
    """Leads, programs, members and activities from Marketo; lead fields, opportunities and partner events
    written back. `clock` is the time the pull reads up to and quota messages count from (default: now in
    UTC); tests pass the sandbox's clock. `budget`: the instance's shared API budget (default: built from
    the settings, connectors/api_budget.py). Thread-safe for concurrent calls; close() when done."""

    record_id_field = "id"
    modified_field = "updatedAt"

    def __init__(self, settings: MarketoSettings, clock: Callable[[], datetime] | None = None,
                 budget: ApiBudget | None = None):
        self.settings = settings
        self.client = MarketoClient(settings, clock, budget)
        self._pull = LeadPull(self.client, self.available_fields)
        self._events = EventWriter(self.client)

    @property
    def calls(self) -> int:
        """API calls made so far (the daily quota counts these)."""
        return self.client.calls

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def check(self) -> None:
        """Credentials, reachability and lead read access; ApiConfigError with the fix otherwise."""
        try:
            self.available_fields()
        except ApiUnreachable as exc:  # nothing answered: a wrong URL or the host is down (a slow host is not)
            raise ApiConfigError(f"Marketo at {self.settings.base_url} is unreachable ({exc}); check base_url "
                                 f"(https://<munchkin-id>.mktorest.com, Admin > Web Services > REST API)") from exc

    def available_fields(self) -> dict[str, str]:
        """Lead field REST name → Marketo data type (leads/describe)."""
        result = self.client.get("/rest/v1/leads/describe.json").get("result") or []
        return {item["rest"]["name"]: item["dataType"] for item in result if item.get("rest")}

    def pull(self, fields: list[str], since: datetime | None, resume: dict | None = None,
             until: datetime | None = None) -> Iterator[PulledBatch]:
        """Leads updated since `since` (all, within `first_pull_days`, when None) and before `until` (a time
        window of history, read by Bulk Extract); see pull.py for the batches' keys, watermarks and resume."""
        return self._pull.batches(fields, since, resume, until)

    def campaigns(self, selection: CampaignSelection) -> pd.DataFrame:
        return programs.campaigns(self.client, selection)

    def memberships(self, campaign_ids: list[str], since: datetime | None) -> pd.DataFrame:
        return programs.memberships(self.client, campaign_ids, since)

    def activities(self, since: datetime | None, types: list[str] | None = None) -> pd.DataFrame:
        return history.activities(self.client, since, types)

    def write_records(self, updates: pd.DataFrame) -> pd.DataFrame:
        return writes.write_records(self.client, updates)

    def write_opportunities(self, opportunities: pd.DataFrame) -> pd.DataFrame:
        return writes.write_opportunities(self.client, opportunities)

    def write_events(self, events: pd.DataFrame) -> pd.DataFrame:
        return self._events.write(events)

    def nurture(self, target: NurtureTarget, changes: pd.DataFrame) -> pd.DataFrame:
        """Program membership (with a status) or static list membership (nurture.py). RESULT_COLUMNS."""
        return change_membership(self.client, target, changes)

    def create_records(self, records: pd.DataFrame) -> pd.DataFrame:
        """New leads keyed by `key` (createOnly on `lead_key_field`; see creates.py). CREATE_RESULT_COLUMNS."""
        return creates.create_records(self.client, records)

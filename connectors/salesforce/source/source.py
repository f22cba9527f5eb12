"""`SalesforceSource`: the LeadSource (connectors/source_api.py) of a Salesforce org, by simple-salesforce."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Self

import pandas as pd

from leadsync.connectors.salesforce.source.campaigns import CampaignReader
from leadsync.connectors.salesforce.source.client import RetryHook, SalesforceClient
from leadsync.connectors.salesforce.source.creates import create_records
from leadsync.connectors.salesforce.source.nurture import change_campaign
from leadsync.connectors.salesforce.source.pull import LeadPull, plan_pull
from leadsync.connectors.salesforce.source.settings import SalesforceSettings
from leadsync.connectors.salesforce.source.writes import Writes
from leadsync.connectors.source_api import CampaignSelection, NurtureTarget, PulledBatch


class SalesforceSource:
    """Leads (or Contacts) of one Salesforce org. Every call retries transient errors with back-off
    (`settings.http.retry`; `on_retry(error, attempt)` hears about each retry) and raises ApiConfigError,
    ApiQuotaExhausted or ApiTransientError (connectors/api_client.py) otherwise."""

    record_id_field = "Id"
    modified_field = "SystemModstamp"

    def __init__(self, settings: SalesforceSettings, on_retry: RetryHook | None = None):
        self.settings = settings
        self.client = SalesforceClient(settings, on_retry)
        self._campaigns = CampaignReader(self.client, settings)
        self._writes = Writes(self.client, settings)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check(self) -> None:
        """Log in and describe the object: bad credentials or no access to it raise ApiConfigError."""
        self.client.forget_session()
        self.client.describe(self.settings.object, fresh=True)

    def available_fields(self) -> dict[str, str]:
        """Field name → Salesforce type, from describe of the object."""
        return self.client.describe(self.settings.object).types()

    def pull(self, fields: list[str], since: datetime | None,
             resume: dict | None = None, until: datetime | None = None) -> Iterator[PulledBatch]:
        """Records changed since `since` (minus `look_back_s`) and before `until`, page by page: see pull.py for keys,
        watermarks and resume. Columns: Id, SystemModstamp, `fields` as named, and `__segregated__`
        ("true"/"false") when a segregation filter is configured. `fields` are checked against describe
        when called: ApiConfigError "<Object> has no field '<X>'" before any record is read."""
        described = self.client.describe(self.settings.object)
        plan = plan_pull(self.settings, described, list(fields), since, until)
        return LeadPull(self.client, self.settings, described, plan).run(resume)

    def campaigns(self, selection: CampaignSelection, extra_fields: Sequence[str] = ()) -> pd.DataFrame:
        """campaign_id, name, description, type, status, start_date, end_date, is_active, + `extra_fields`."""
        return self._campaigns.campaigns(selection, extra_fields)

    def memberships(self, campaign_ids: list[str], since: datetime | None) -> pd.DataFrame:
        """record_id, campaign_id, status, joined_at (CreatedDate), member_id."""
        return self._campaigns.memberships(campaign_ids, since)

    def activities(self, since: datetime | None, types: list[str] | None = None) -> pd.DataFrame:
        """record_id, activity_id, activity_type, occurred_at, detail (+ object, subject, description)."""
        return self._campaigns.activities(since, types)

    def write_records(self, updates: pd.DataFrame) -> pd.DataFrame:
        return self._writes.records(updates)

    def write_opportunities(self, opportunities: pd.DataFrame) -> pd.DataFrame:
        return self._writes.opportunities(opportunities)

    def write_events(self, events: pd.DataFrame) -> pd.DataFrame:
        return self._writes.events(events)

    def nurture(self, target: NurtureTarget, changes: pd.DataFrame) -> pd.DataFrame:
        """CampaignMembers of the nurture campaign added or deleted (nurture.py). RESULT_COLUMNS."""
        return change_campaign(self.client, self.settings, target, changes)

    def create_records(self, records: pd.DataFrame) -> pd.DataFrame:
        """New records keyed by `key` (stored in `lead_key_field`; see creates.py). CREATE_RESULT_COLUMNS."""
        return create_records(self.client, self.settings, records)

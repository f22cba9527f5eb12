"""EloquaSource: leadsync's LeadSource for Oracle Eloqua (see connectors/source_api.py for the contract).

    source = EloquaSource(EloquaSettings(site="Acme", username="api.user", password=...))
    source.check()
    for batch in source.pull(["C_EmailAddress", "C_FirstName"], since=watermark, resume=stored_resume):
        store(batch)  # batch.key, batch.records, batch.watermark, batch.resume

Pulls are Bulk API 2.0 contact exports (pull.py), campaigns come from the Application API, memberships and
activities from Bulk exports, writes are Bulk imports (writes.py). Every call is retried on transient errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pandas as pd

from leadsync.connectors.eloqua.source.activities import read_activities
from leadsync.connectors.eloqua.source.bulk import Bulk
from leadsync.connectors.eloqua.source.campaigns import Campaigns
from leadsync.connectors.eloqua.source.client import EloquaClient, Endpoints
from leadsync.connectors.eloqua.source.contact_fields import MODIFIED, RECORD_ID, ContactFields
from leadsync.connectors.eloqua.source.creates import create_contacts
from leadsync.connectors.eloqua.source.custom_objects import CustomObjects
from leadsync.connectors.eloqua.source.nurture import change_list
from leadsync.connectors.eloqua.source.pull import ContactPull
from leadsync.connectors.eloqua.source.settings import EloquaSettings
from leadsync.connectors.eloqua.source.writes import Writes
from leadsync.connectors.source_api import CampaignSelection, NurtureTarget, PulledBatch


class EloquaSource:
    record_id_field = RECORD_ID
    modified_field = MODIFIED

    def __init__(self, settings: EloquaSettings):
        self.settings = settings
        self.client = EloquaClient(settings)
        self.bulk = Bulk(self.client, settings)
        self._campaigns = Campaigns(self.client, self.bulk, settings)
        self._writes = Writes(self.bulk, settings, CustomObjects(self.client), self.contact_fields)

    def check(self) -> Endpoints:
        """Log in, discover the pod through /id and read the contact field list (the Bulk API permission).
        Raises ApiConfigError naming the login URL and what to fix."""
        endpoints = self.client.discover()
        self.contact_fields()
        return endpoints

    def contact_fields(self) -> ContactFields:
        return ContactFields.load(self.client)

    def available_fields(self) -> dict[str, str]:
        """Internal name (and statement) → Bulk data type; `ContactID` is the contact id."""
        return self.contact_fields().types()

    def pull(self, fields: list[str], since: datetime | None, resume: dict | None = None,
             until: datetime | None = None) -> Iterator[PulledBatch]:
        """PulledBatch after PulledBatch (see pull.py for keys, watermark and resume). The field list is checked
        here, before the first batch: a field the instance lacks raises ApiConfigError at once."""
        export_fields = self.contact_fields().export_fields(fields)
        return ContactPull(self.bulk, self.settings).run(export_fields, since, resume, until)

    def campaigns(self, selection: CampaignSelection) -> pd.DataFrame:
        return self._campaigns.select(selection)

    def memberships(self, campaign_ids: list[str], since: datetime | None) -> pd.DataFrame:
        return self._campaigns.memberships(campaign_ids, since)

    def activities(self, since: datetime | None, types: list[str] | None = None) -> pd.DataFrame:
        return read_activities(self.bulk, self.settings, since, types)

    def write_records(self, updates: pd.DataFrame) -> pd.DataFrame:
        return self._writes.records(updates)

    def write_opportunities(self, opportunities: pd.DataFrame) -> pd.DataFrame:
        return self._writes.opportunities(opportunities)

    def write_events(self, events: pd.DataFrame) -> pd.DataFrame:
        return self._writes.events(events)

    def nurture(self, target: NurtureTarget, changes: pd.DataFrame) -> pd.DataFrame:
        """Contacts added to / removed from a shared contact list (nurture.py). RESULT_COLUMNS."""
        return change_list(self.client, target, changes)

    def create_records(self, records: pd.DataFrame) -> pd.DataFrame:
        """New contacts keyed by `key` (imported by email address; see creates.py). CREATE_RESULT_COLUMNS."""
        return create_contacts(self._writes, records)

    def close(self) -> None:
        self.client.close()

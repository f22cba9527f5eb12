"""Everything one sandboxed Eloqua instance holds: its site and users, contacts, custom objects, campaigns,
activities, Bulk definitions and syncs, plus its clock and fault switches."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from leadsync.connectors.eloqua.sandbox import seed as generated
from leadsync.connectors.eloqua.sandbox.accounts import AccountStore
from leadsync.connectors.eloqua.sandbox.auth import Auth, EloquaUser
from leadsync.connectors.eloqua.sandbox.clock import SandboxClock
from leadsync.connectors.eloqua.sandbox.contact_lists import ContactLists
from leadsync.connectors.eloqua.sandbox.contacts import TIMESTAMP, ContactStore
from leadsync.connectors.eloqua.sandbox.custom_objects import CustomObjectStore
from leadsync.connectors.eloqua.sandbox.faults import EloquaFaults
from leadsync.connectors.eloqua.sandbox.schema import DEFAULT_CONTACT_FIELDS, default_custom_objects
from leadsync.connectors.eloqua.sandbox.syncs import Sync, SyncQueue
from leadsync.connectors.sandbox_writes import WriteCounts

EMPTY_ACTIVITIES = pa.schema([("id", pa.int64()), ("type", pa.dictionary(pa.int32(), pa.string())),
                              ("created_at", TIMESTAMP), ("contact_id", pa.int64()), ("visitor_id", pa.int64()),
                              ("campaign_id", pa.int64()), ("asset_id", pa.int64()), ("ip", pa.int64()),
                              ("number_of_pages", pa.int64()), ("duration", pa.int64())]).empty_table()
EMPTY_RESPONSES = pa.schema([("id", pa.int64()), ("created_at", TIMESTAMP), ("member_status", pa.string()),
                             ("campaign_id", pa.int64()), ("contact_id", pa.int64()),
                             ("integration_return_value", pa.string())]).empty_table()


@dataclass
class Definition:
    id: int
    entity: str  # contacts | accounts | activities | campaignResponses | customObjects/<id>
    kind: str  # exports | imports
    body: dict  # what GET returns: the request body with defaults, uri and audit fields
    staged: list[dict] = field(default_factory=list)  # uploaded import rows waiting for a sync

    @property
    def uri(self) -> str:
        return f"/{self.entity}/{self.kind}/{self.id}"


class EloquaState:
    def __init__(self, clock: SandboxClock, site_name: str, users: list[EloquaUser], clients: dict[str, str],
                 site_id: int = 42):
        self.lock = threading.RLock()
        self.clock = clock
        self.auth = Auth(clock, site_id, site_name, users, clients)
        self.faults = EloquaFaults()
        self.contacts = ContactStore(DEFAULT_CONTACT_FIELDS)
        self.accounts = AccountStore()
        self.custom_objects = CustomObjectStore(default_custom_objects())
        self.campaigns: list[dict] = []
        self.contact_lists = ContactLists()
        self.campaign_fields: list[dict] = list(generated.CAMPAIGN_FIELDS)
        self.activities: pa.Table = EMPTY_ACTIVITIES
        self.campaign_responses: pa.Table = EMPTY_RESPONSES
        self.definitions: dict[str, Definition] = {}
        self.syncs: dict[int, Sync] = {}
        self.next_definition_id = 1
        self.next_sync_id = 1
        self.queue = SyncQueue(clock)
        self.writes = WriteCounts()  # writes served over the API, per (object, record id, field)

    def seed(self, contacts: int, seed: int = 7, activities_per_contact: float = 2.0,
             campaigns: int = 12, now: datetime | None = None) -> None:
        """Replace the data with generated contacts (and the accounts of their companies), campaigns, activities
        and campaign responses."""
        now = now or self.clock.now()
        table = generated.contacts_table(self.contacts, contacts, seed, now)
        campaign_rows = generated.campaigns(now, seed, campaigns)
        activities = generated.activities_table(table, [c["id"] for c in campaign_rows], seed, now,
                                                activities_per_contact) if contacts else EMPTY_ACTIVITIES
        with self.lock, self.contacts.lock:
            self.contacts.table = table
            self.contacts.apply({})  # resets the lookup caches
            self.accounts.seed_from(table)
            self.campaigns = campaign_rows
            self.activities = activities
            self.campaign_responses = generated.campaign_responses_table(activities) if contacts \
                else EMPTY_RESPONSES

    def new_sync(self, synced_instance_uri: str, kind: str, user: str, callback_url: str | None) -> Sync:
        with self.lock:
            sync = Sync(self.next_sync_id, synced_instance_uri, self.clock.now(), user, kind, callback_url)
            self.syncs[sync.id] = sync
            self.next_sync_id += 1
        return sync

"""Everything a Marketo instance holds: the lead database and its neighbours (activities, programs, static lists,
custom objects, bulk exports), tokens, limits, faults, the clock and the served-write counts.

The first room of the sandbox's forward walk, state → api (HTTP plumbing) → routes (the endpoint table) →
sandbox (the context manager): the HTTP layers read this state, and nothing here knows of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from leadsync.connectors.marketo.sandbox.activities import PARTNER_EVENT, ActivityLog, CustomActivityType
from leadsync.connectors.marketo.sandbox.auth import TokenIssuer
from leadsync.connectors.marketo.sandbox.bulk_extract import ExportJobs
from leadsync.connectors.marketo.sandbox.clock import SandboxClock
from leadsync.connectors.marketo.sandbox.database import Database
from leadsync.connectors.marketo.sandbox.faults import MarketoFaults
from leadsync.connectors.marketo.sandbox.fields import FieldDef, LeadSchema
from leadsync.connectors.marketo.sandbox.leads import LeadStore
from leadsync.connectors.marketo.sandbox.limits import MarketoLimits, Meter
from leadsync.connectors.marketo.sandbox.objects import (
    LEADSYNC_ASSIGNMENT,
    OPPORTUNITY,
    OPPORTUNITY_ROLE,
    ObjectStore,
    ObjectType,
)
from leadsync.connectors.marketo.sandbox.programs import Programs
from leadsync.connectors.marketo.sandbox.static_lists import StaticLists
from leadsync.connectors.sandbox_writes import WriteCounts


@dataclass
class MarketoState:
    clock: SandboxClock
    limits: MarketoLimits
    schema: LeadSchema
    db: Database
    tokens: TokenIssuer
    meter: Meter
    faults: MarketoFaults
    activities: ActivityLog
    leads: LeadStore
    programs: Programs
    lists: StaticLists
    objects: ObjectStore
    exports: ExportJobs
    writes: WriteCounts  # writes served over the API, per (object, record id, field)

    @classmethod
    def create(cls, files: Path, persistent: bool, credentials: dict[str, str], api_user: str,
               extra_lead_fields: list[FieldDef] | tuple, custom_objects: list[ObjectType] | tuple,
               custom_activity_types: list[CustomActivityType] | tuple,
               program_member_fields: list[FieldDef] | tuple, limits: MarketoLimits | None,
               clock: SandboxClock | None) -> MarketoState:
        """A fresh instance whose files (the DuckDB file when `persistent`, export files) live under `files`."""
        clock = clock or SandboxClock()
        limits = limits or MarketoLimits()
        schema = LeadSchema(list(extra_lead_fields))
        db = Database(files / "marketo.duckdb" if persistent else None, schema)
        tokens = TokenIssuer(clock, credentials, api_user, limits)
        meter = Meter(limits, clock)
        faults = MarketoFaults(tokens, meter)
        activities = ActivityLog(db, clock, [PARTNER_EVENT, *custom_activity_types], schema)
        leads = LeadStore(db, schema, activities, clock, faults, limits)
        activities.lead_exists = leads.existing_ids
        programs = Programs(db, clock, leads, list(program_member_fields))
        lists = StaticLists(db, clock, leads)
        objects = ObjectStore(db, clock, limits, [OPPORTUNITY, OPPORTUNITY_ROLE, LEADSYNC_ASSIGNMENT, *custom_objects])
        objects.lead_exists = leads.existing_ids
        exports = ExportJobs(db, clock, limits, faults, schema, files / "exports", programs.member_fields)
        faults._set_export_quota = exports.set_remaining_quota_mb
        return cls(clock, limits, schema, db, tokens, meter, faults, activities, leads, programs, lists, objects,
                   exports, WriteCounts())

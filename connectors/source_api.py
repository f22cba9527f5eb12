"""The contract between leadsync and a vendor API source (Salesforce, Marketo, Eloqua).

leadsync drives every API source the same way (leadsync/pull/api_records.py, leadsync/writeback/api_sink.py):

- `check()` before anything: credentials and reachability, raising ApiConfigError with a fix.
- `available_fields()` to check the YAML mapping against the source's real fields at run time.
- `pull(fields, since, resume, until)` yields PulledBatch after PulledBatch (`until`, exclusive, bounds a
  time window: a backfill partition); leadsync stores each batch (or a few consecutive ones together) and
  moves the watermark (and resume state) in the same transaction, so an interrupted pull repeats at most
  what that transaction held, which the record versions make harmless. leadsync reads the next batch while
  it stores the previous one (the generator runs in a thread of its own, one batch ahead). Records are text
  columns named as the vendor names its fields, best handed over as an Arrow table of strings.
- `campaigns(selection)`, `memberships(...)`, `activities(...)` for the campaign and history data.
- `write_records`, `write_opportunities`, `write_events` take one row per change and return one result per
  row (`ok`, `error`): per-record failures are results, not exceptions, so the others still land and the
  failed ones are retried next run. Every write is an upsert keyed by an id or an external id, so a retry
  never duplicates.
- `create_records` makes new records (partner registrations, hand-entered leads), keyed by leadsync's key
  in the vendor's lead key field, and answers each record's id.

Errors are those of connectors/api_client.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import pandas as pd
import pyarrow as pa

# Columns of the frames exchanged with write_* (besides the vendor field columns of write_records).
RESULT_COLUMNS = ["key", "ok", "error"]
OPPORTUNITY_COLUMNS = ["key", "external_id", "record_id", "name", "stage", "amount", "close_date", "partner"]
EVENT_COLUMNS = ["key", "record_id", "event_type", "occurred_at", "description", "partner"]
# create_records answers one row per input row: the result, and the id of the record made (or found) for it.
CREATE_RESULT_COLUMNS = ["key", "ok", "error", "record_id"]


class PulledBatch:
    """One batch of source records, stored as a unit.

    The records are text columns named as the vendor's fields (+ the id field), one row per record, a
    missing value null. A connector hands them over as an Arrow table of strings (`table`: what leadsync
    stores, no Python object per value) or as a DataFrame; each view is made from the other on first use
    (`records`: object columns, None for null)."""

    __slots__ = ("_frame", "_table", "key", "kind", "resume", "warnings", "watermark")

    def __init__(self, key: str, records: pd.DataFrame | pa.Table, watermark: datetime | None,
                 resume: dict | None = None, kind: str = "rest", warnings: tuple[str, ...] = ()):
        self.key = key  # deterministic within the source: the same records fetched again get the same key
        self.watermark = watermark  # the source is read up to here once this batch is stored (None: unchanged)
        self.resume = resume  # where an interrupted export continues (e.g. Eloqua sync uri + offset)
        self.kind = kind  # rest | bulk: which path fetched it (for the run's metadata)
        # what the vendor warned of while producing these records (e.g. an Eloqua sync that ended `warning`,
        # with its log lines): the records are good, the run's log and metadata show the warnings
        self.warnings = tuple(warnings)
        self._table = records if isinstance(records, pa.Table) else None
        self._frame = records if isinstance(records, pd.DataFrame) else None
        if self._table is None and self._frame is None:
            raise TypeError(f"PulledBatch records must be a DataFrame or an Arrow table, not {type(records)}")

    @property
    def table(self) -> pa.Table:
        """The records as an Arrow table of strings."""
        if self._table is None:
            self._table = text_table(self._frame)
        return self._table

    @property
    def records(self) -> pd.DataFrame:
        """The records as a DataFrame of object columns (str, None for null)."""
        if self._frame is None:
            self._frame = self._table.to_pandas()
        return self._frame

    @property
    def rows(self) -> int:
        return self._table.num_rows if self._table is not None else len(self._frame)

    def __repr__(self) -> str:
        return f"PulledBatch(key={self.key!r}, rows={self.rows}, watermark={self.watermark!r}, kind={self.kind!r})"


def text_table(records: pd.DataFrame) -> pa.Table:
    """A DataFrame of records as an Arrow table of strings: each value as text (booleans as the vendors' JSON
    prints them, true/false), a missing value null."""
    columns = {}
    for name in records.columns:
        values = records[name]
        if pd.api.types.is_bool_dtype(values):
            values = values.map({True: "true", False: "false"})
        columns[str(name)] = pa.array(values.astype("string"), pa.string())
    return pa.table(columns) if columns else pa.table({})


def string_table(columns: dict[str, pa.Array | pa.ChunkedArray | list]) -> pa.Table:
    """An Arrow table of string columns, in the order given (a list is converted, None as null)."""
    return pa.table({name: values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values, pa.string())
                     for name, values in columns.items()}) if columns else pa.table({})


@dataclass
class CampaignSelection:
    """Which campaigns (Salesforce Campaigns, Marketo programs, Eloqua campaigns) the YAML selects."""

    ids: list[str] = field(default_factory=list)
    name_pattern: str | None = None  # a regular expression matched against the name
    types: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)  # campaign fields wanted beyond the standard ones


# nurture takes one row per record whose enrolment changes: action "enrol" or "remove".
NURTURE_COLUMNS = ["key", "record_id", "action"]


@dataclass(frozen=True)
class NurtureTarget:
    """Where leads are enrolled for nurturing: a Salesforce campaign (kind `campaign`, CampaignMember with
    `member_status`), a Marketo program (`program`, with `member_status` as the program status) or static list
    (`static_list`), an Eloqua shared contact list (`contact_list`)."""

    kind: str
    id: str
    member_status: str | None = None


class LeadSource(Protocol):
    """What a vendor connector gives leadsync. See the module docstring for the guarantees."""

    record_id_field: str  # e.g. "Id", "id", "ContactID"
    modified_field: str  # e.g. "SystemModstamp", "updatedAt", "C_DateModified"

    def check(self) -> None: ...

    def available_fields(self) -> dict[str, str]:
        """Field name → vendor type, from describe (or the field list)."""
        ...

    def pull(self, fields: list[str], since: datetime | None, resume: dict | None = None,
             until: datetime | None = None) -> Iterator[PulledBatch]:
        ...

    def campaigns(self, selection: CampaignSelection) -> pd.DataFrame:
        """campaign_id, name, description, type, start_date, end_date, plus the vendor's other fields."""
        ...

    def memberships(self, campaign_ids: list[str], since: datetime | None) -> pd.DataFrame:
        """record_id, campaign_id, status, joined_at."""
        ...

    def activities(self, since: datetime | None, types: list[str] | None = None) -> pd.DataFrame:
        """record_id, activity_id, activity_type, occurred_at, detail (text)."""
        ...

    def write_records(self, updates: pd.DataFrame) -> pd.DataFrame:
        """`updates`: key, record_id and one column per vendor field to set. Returns RESULT_COLUMNS."""
        ...

    def write_opportunities(self, opportunities: pd.DataFrame) -> pd.DataFrame:
        """OPPORTUNITY_COLUMNS, upserted by external_id. Returns RESULT_COLUMNS."""
        ...

    def write_events(self, events: pd.DataFrame) -> pd.DataFrame:
        """EVENT_COLUMNS (partner marketing events as the vendor's activity/task/custom object), upserted by
        key. Returns RESULT_COLUMNS."""
        ...

    def nurture(self, target: NurtureTarget, changes: pd.DataFrame) -> pd.DataFrame:
        """NURTURE_COLUMNS: enrol records in the target or remove them from it. Idempotent: enrolling a
        member or removing a non-member succeeds and changes nothing. Returns RESULT_COLUMNS."""
        ...

    def create_records(self, records: pd.DataFrame) -> pd.DataFrame:
        """New source records: `key` (leadsync's id for what the record stands for, e.g. a registration id,
        stored in the vendor's lead key field) and one column per vendor field. A key sent again finds the
        record its first send made (an upsert, or a create-only call plus a lookup by key): never a second
        record. Returns CREATE_RESULT_COLUMNS (record_id: the vendor's id of the record)."""
        ...

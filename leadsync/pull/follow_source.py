"""`follow_source:` changes the supplier's own team makes at an API source, on leads a partner holds, become
the lifecycle events a partner's update makes, and are never written back (echoed) to the source.

During a pull, the records of followed leads (leads a partner accepted: `lead_progress`, by their source
record id, or for a lead entered by hand by the record the writeback created for it, `source_records_created`)
are kept with the followed fields only. After it, each record's latest version is compared with
the lead's state: a sales status (through the value map, `converted: true` → Converted Opportunity), an
owner (→ rep name and email), opportunity values that differ become one `apply_update` with the actor
`source:<source name>` (lifecycle/updates.py, as a partner's import would). The writeback events those
make are then bound to a batch marked sent with "changed at the source" (outbox.mark_from_source): the
source already holds the value.

Conflict rule: the source wins only when its record was modified after the partner's latest update of the
lead (its newest lifecycle event by anyone but the source, else its acceptance). A source change older than
that is not applied; it is reported (`FollowReport.conflicts`: lead, field values, both times) so the run's
metadata says which partner update was kept. A value the map does not know, or a change the lifecycle refuses (e.g. a status that cannot follow
the current one), is reported in `problems` and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from leadsync.config.api_sources import SALES_STATUSES
from leadsync.config.schema import ApiSource
from leadsync.store import LeadStore, tables

log = logging.getLogger(__name__)
TRUE = {"true", "1", "yes", "y"}
OPPORTUNITY_COLUMNS = {"name": "opportunity_name", "stage": "opportunity_stage", "amount": "opportunity_amount",
                       "close_date": "opportunity_close_date"}


@dataclass
class FollowReport:
    records_seen: int = 0  # versions of followed records read by the pull
    applied: int = 0  # leads changed from the source
    conflicts: list[dict] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)

    def as_metadata(self) -> dict:
        """Plain values for a run's metadata: counts, and the conflicts and problems (at most 20 each)."""
        return {"followed_records": self.records_seen, "followed_applied": self.applied,
                "followed_conflicts": self.conflicts[:20], "followed_problems": self.problems[:20]}


class SourceFollower:
    """Collects followed records during a pull (`collect`), turns their changes into lifecycle events after it
    (`apply`)."""

    def __init__(self, cfg: ApiSource, store: LeadStore, id_field: str, modified_field: str):
        self.cfg, self.store = cfg, store
        self.follow = cfg.follow_source
        self.id_field, self.modified_field = id_field, modified_field
        self.followed = _followed_leads(store, cfg.name)
        self._ids = pa.array(sorted(self.followed["record_id"].unique()), pa.string())
        self._parts: list[pa.Table] = []
        self.report = FollowReport()

    def collect(self, records: pa.Table) -> None:
        """Keep the followed records of a stored unit (their id, stamp and followed fields only)."""
        if not len(self._ids):
            return
        names = {n.lower(): n for n in records.column_names}
        wanted = [self.id_field, self.modified_field, *self.follow.source_fields]
        keep = [names[w.lower()] for w in dict.fromkeys(wanted) if w.lower() in names]
        ids = pc.cast(records.column(names[self.id_field.lower()]), pa.string())
        mask = pc.is_in(ids, value_set=self._ids)
        if pc.any(mask).as_py():
            part = records.select(keep).filter(mask)
            self._parts.append(part.rename_columns([c.lower() for c in part.column_names]))

    def apply(self, lifecycle, now: datetime) -> FollowReport:
        """The collected changes as lifecycle events (never echoed); see the module docstring for the rule."""
        if not self._parts:
            return self.report
        records = pa.concat_tables(self._parts, promote_options="default").to_pandas()
        self._parts.clear()
        self.report.records_seen = len(records)
        id_col, stamp_col = self.id_field.lower(), self.modified_field.lower()
        records["_stamp"] = pd.to_datetime(records[stamp_col], utc=True, errors="coerce", format="mixed")
        latest = records.sort_values("_stamp", na_position="first").groupby(id_col, sort=False).tail(1)
        followed = self.followed.merge(latest, left_on="record_id", right_on=id_col)
        actor = f"source:{self.cfg.name}"
        for row in followed.to_dict("records"):
            self._apply_one(lifecycle, row, actor, now)
        if self.report.applied:
            from leadsync.writeback.outbox import mark_from_source

            mark_from_source(self.store, self.cfg.name, actor, now)
        return self.report

    def _apply_one(self, lifecycle, row: dict, actor: str, now: datetime) -> None:
        from leadsync.lifecycle.events import LifecycleError
        from leadsync.lifecycle.updates import apply_update

        update, problems = self._update(row)
        for problem in problems:
            self.report.problems.append({"lead_id": row["lead_id"], "record_id": row["record_id"], "problem": problem})
        if not update:
            return
        stamp, touched = row["_stamp"], _utc(row["touched_at"])
        if pd.isna(stamp) or stamp <= touched:
            self.report.conflicts.append({
                "lead_id": row["lead_id"], "record_id": row["record_id"], "source_values": update,
                "source_modified_at": None if pd.isna(stamp) else stamp.isoformat(),
                "partner_updated_at": touched.isoformat(),
                "kept": "the partner's update: it is newer than the source's change"})
            return
        try:
            result = apply_update(lifecycle, row["partner_id"], {"lead_id": row["lead_id"], **update}, now, actor)
        except LifecycleError as exc:
            self.report.problems.append({"lead_id": row["lead_id"], "record_id": row["record_id"],
                                         "problem": f"{exc} (source values {update})"})
            return
        if result.changes:
            self.report.applied += 1

    def _update(self, row: dict) -> tuple[dict, list[str]]:
        """The fields of an update row that differ from the lead's state, and what could not be read."""
        follow, update, problems = self.follow, {}, []

        def value(name: str | None):
            raw = row.get(name.lower()) if name else None
            return None if raw is None or (isinstance(raw, float) and pd.isna(raw)) or str(raw).strip() == "" \
                else str(raw).strip()

        status = None
        if follow.sales_status is not None and value(follow.sales_status.field) is not None:
            raw = value(follow.sales_status.field)
            status = self._status_map().get(raw)
            if status is None:
                problems.append(f"{follow.sales_status.field} = {raw!r} maps to no sales status; add it to "
                                "follow_source.sales_status.values")
        if follow.converted and (value(follow.converted) or "").lower() in TRUE:
            status = "Converted Opportunity"
        if status is not None and status != row["sales_status"]:
            update["sales_status"] = status
        name, email = value(follow.owner_name), value(follow.owner_email)
        if (name and name != row["rep_name"]) or (email and email.lower() != (row["rep_email"] or "").lower()):
            update.update({k: v for k, v in (("rep_name", name), ("rep_email", email)) if v})
        if update.get("sales_status") == "Converted Opportunity" or row["sales_status"] == "Converted Opportunity":
            update.update({OPPORTUNITY_COLUMNS[k]: value(f) for k, f in follow.opportunity.items()
                           if value(f) is not None})
        return update, problems

    def _status_map(self) -> dict[str, str]:
        known = {s: s for s in SALES_STATUSES}
        known.update({v: k for k, v in self.cfg.writeback.sales_status_values.items()})
        known.update(self.follow.sales_status.values)
        return known


def _utc(value) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)


def _followed_leads(store: LeadStore, source: str) -> pd.DataFrame:
    """record_id, lead_id, partner_id, sales_status, rep_name, rep_email, touched_at (the partner's latest
    update) of the leads of `source` a partner holds (accepted, not closed). A lead pulled from the source is
    followed by its source record id; a lead entered by hand has none, and is followed by the record the
    writeback created for it (once created)."""
    from leadsync.lifecycle import tables as lt
    from leadsync.writeback.records_created import source_records_created as made

    p, leads, e = lt.lead_progress, tables.leads, lt.lifecycle_events
    # the partner's latest update: its newest lifecycle event (acceptance, status, rep, ...), not the source's
    partner_last = (sa.select(e.c.lead_id, sa.func.max(e.c.occurred_at).label("at"))
                    .where(e.c.source == source, e.c.actor != f"source:{source}").group_by(e.c.lead_id).subquery())
    created = (sa.select(made.c.lead_id, made.c.record_id)
               .where(made.c.source == source, made.c.kind == "new_record").subquery())
    record_id = sa.func.coalesce(leads.c.source_record_id, created.c.record_id)
    query = (sa.select(record_id.label("record_id"), p.c.lead_id, p.c.partner_id, p.c.sales_status,
                       p.c.rep_name, p.c.rep_email,
                       sa.func.coalesce(partner_last.c.at, p.c.accepted_at).label("touched_at"))
             .join(leads, leads.c.lead_id == p.c.lead_id)
             .outerjoin(created, created.c.lead_id == p.c.lead_id)
             .outerjoin(partner_last, partner_last.c.lead_id == p.c.lead_id)
             .where(p.c.source == source, record_id.is_not(None), ~p.c.closed))
    with store.begin() as conn:
        frame = store.read_frame(conn, query)
    frame["record_id"] = frame["record_id"].astype(str)
    return frame


def lifecycle_for(file: Path, store: LeadStore):
    """The lifecycle of the project whose source file this is (mappings/sources/<name>.yaml)."""
    from leadsync.config.loader import project_paths
    from leadsync.lifecycle.context import load_lifecycle

    return load_lifecycle(project_paths(file.resolve().parent.parent), store)

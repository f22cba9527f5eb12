"""What a partner may see of a lead: the mapped fields marked shared, by their label (internal-only fields
never leave), the source campaign with its shared campaign fields (`pull.campaigns.fields`, by their
partner-facing label; `shared: false` ones never leave either) and the lead's activity history."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa

from leadsync.config.schema import SourceConfig
from leadsync.intake import leads_frame
from leadsync.lifecycle.context import Lifecycle
from leadsync.pull.campaign_fields import campaign_field_values, campaign_fields
from leadsync.store import tables

CAMPAIGN_FIELD = "campaign"
CHUNK = 5000


@dataclass(frozen=True)
class LeadView:
    lead_id: str
    source: str
    title: str  # a partner-visible name for the lead (name / company / email), else its id
    fields: list[tuple[str, str]]  # (label, value) of the shared fields with a value, in mapping order
    # name, description, start_date, end_date (what the campaigns pull stored) and fields: [(label, value)] of
    # the campaign's shared chosen fields in the YAML's order
    campaign: dict | None
    activities: list[dict] = field(default_factory=list)  # occurred_at, activity_type, description, newest first


def _text(value: object) -> str | None:
    if value is None or (not isinstance(value, (list, dict, str)) and pd.isna(value)):
        return None
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.strftime("%Y-%m-%d %H:%M") if (value.hour or value.minute) else value.strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def visible_fields(cfg: SourceConfig, lead: dict) -> list[tuple[str, str]]:
    """(label, value) of every shared mapped field with a value. A field marked `shared: false` is never
    returned, whatever it holds."""
    out = []
    for f in cfg.fields:
        if not f.shared or f.field == CAMPAIGN_FIELD:
            continue
        value = _text(lead.get(f.field))
        if value is not None:
            out.append((f.display_label, value))
    return out


def _title(cfg: SourceConfig, lead: dict) -> str:
    shared = {f.field for f in cfg.fields if f.shared}

    def get(name: str) -> str | None:
        return _text(lead.get(name)) if name in shared else None

    person = " ".join(p for p in (get("first_name"), get("last_name")) if p)
    company = get("company")
    if person and company:
        return f"{person}, {company}"
    return person or company or get("email") or lead["lead_id"]


def lead_views(ctx: Lifecycle, conn: sa.Connection, lead_ids: Iterable[str]) -> dict[str, LeadView]:
    """Partner views of the given leads (those whose source mapping is loaded)."""
    ids = list(dict.fromkeys(lead_ids))
    if not ids:
        return {}
    t = tables.leads
    by_source: dict[str, list[str]] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        for lead_id, source in conn.execute(sa.select(t.c.lead_id, t.c.source).where(t.c.lead_id.in_(chunk))).all():
            by_source.setdefault(source, []).append(lead_id)
    views: dict[str, LeadView] = {}
    for source, source_ids in by_source.items():
        cfg = ctx.sources.get(source)
        if cfg is None:
            continue
        campaign_field = cfg.field(CAMPAIGN_FIELD)
        for start in range(0, len(source_ids), CHUNK):
            frame = leads_frame(ctx.store, conn, cfg, t.c.lead_id.in_(source_ids[start:start + CHUNK]))
            leads = frame.to_dict("records")
            activities = _activities(conn, source, [lead.get("source_record_id") for lead in leads])
            campaigns = _campaigns(conn, source, [lead.get(CAMPAIGN_FIELD) for lead in leads]) \
                if campaign_field is not None and campaign_field.shared else {}
            for lead in leads:
                name = _text(lead.get(CAMPAIGN_FIELD)) if campaign_field is not None and campaign_field.shared else None
                views[lead["lead_id"]] = LeadView(
                    lead_id=lead["lead_id"], source=source, title=_title(cfg, lead),
                    fields=visible_fields(cfg, lead),
                    campaign=campaigns.get(name, _bare_campaign(name)) if name else None,
                    activities=activities.get(_text(lead.get("source_record_id")) or "", []))
    return views


def lead_view(ctx: Lifecycle, conn: sa.Connection, lead_id: str) -> LeadView | None:
    return lead_views(ctx, conn, [lead_id]).get(lead_id)


def _activities(conn: sa.Connection, source: str, record_ids: list, limit: int = 20) -> dict[str, list[dict]]:
    """The latest `limit` source activities per source record (the sources' activity pulls store them)."""
    ids = sorted({t for r in record_ids if (t := _text(r))})
    a = tables.lead_activities
    out: dict[str, list[dict]] = {}
    if not ids:
        return out
    rows = conn.execute(sa.select(a.c.record_id, a.c.occurred_at, a.c.activity_type, a.c.detail)
                        .where(a.c.source == source, a.c.record_id.in_(ids))
                        .order_by(a.c.record_id, a.c.occurred_at.desc())).all()
    for record_id, occurred_at, activity_type, detail in rows:
        items = out.setdefault(record_id, [])
        if len(items) < limit:
            items.append({"occurred_at": _text(occurred_at), "activity_type": activity_type or "activity",
                          "description": _text(detail)})
    return out


def _bare_campaign(name: str) -> dict:
    return {"name": name, "description": None, "start_date": None, "end_date": None, "fields": []}


def _campaigns(conn: sa.Connection, source: str, values: list) -> dict[str, dict]:
    """Stored campaign details by the value the lead holds (campaign id or name). Only campaigns selected
    in the source's YAML are pulled, so only those are ever shown."""
    names = sorted({t for v in values if (t := _text(v))})
    c = tables.campaigns
    if not names:
        return {}
    rows = conn.execute(sa.select(c.c.campaign_id, c.c.name, c.c.description, c.c.start_date, c.c.end_date)
                        .where(c.c.source == source, sa.or_(c.c.campaign_id.in_(names), c.c.name.in_(names)))).all()
    shared = _shared_fields(conn, source, [r[0] for r in rows])
    out: dict[str, dict] = {}
    for campaign_id, name, description, start, end in rows:
        info = {"name": name or campaign_id, "description": _text(description), "start_date": _text(start),
                "end_date": _text(end), "fields": shared.get(campaign_id, [])}
        out[campaign_id] = out.get(campaign_id) or info
        if name:
            out[name] = out.get(name) or info
    return out


def _shared_fields(conn: sa.Connection, source: str, campaign_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    """campaign id → (label, value) of its shared chosen fields with a value, in the YAML's order. Read in the
    caller's transaction (the table is on the store's metadata, so every store has it)."""
    if not campaign_ids:
        return {}
    out: dict[str, list[tuple[str, str]]] = {}
    query = campaign_fields(source, shared_only=True).where(campaign_field_values.c.campaign_id.in_(campaign_ids))
    for row in conn.execute(query).mappings():
        value = _text(row["value"])
        if value is not None:
            out.setdefault(row["campaign_id"], []).append((row["label"], value))
    return out

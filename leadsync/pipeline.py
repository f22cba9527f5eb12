"""The four stages of one source, each a plain function: pull, map+validate, route, write back.

Each stage loads its own source's YAML when it runs, so one broken file fails that source's run only.
The Dagster assets and the CLI both call these.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from leadsync.assign import RoutingReport, reroute_overdue, route_new_leads
from leadsync.config import ConfigError, load_partners, load_source
from leadsync.config.loader import ProjectPaths
from leadsync.config.schema import SourceConfig
from leadsync.intake import IntakeReport, leads_frame, map_new_rows
from leadsync.pull.api_records import ApiPullReport, PullWindow, pull_records
from leadsync.pull.sftp_files import PullReport, pull_inbox
from leadsync.sources import lead_source, sftp_client
from leadsync.store import LeadStore, tables
from leadsync.writeback.api_sink import ApiWritebackReport, drain_to_api
from leadsync.writeback.outbox import pending_events, sent_events
from leadsync.writeback.sftp_status_file import WritebackReport, drain_outbox


def now_utc() -> datetime:
    return datetime.now(UTC)


def source_file(paths: ProjectPaths, source: str) -> Path:
    for suffix in (".yaml", ".yml"):
        candidate = paths.sources_dir / f"{source}{suffix}"
        if candidate.exists():
            return candidate
    raise ConfigError(paths.sources_dir / f"{source}.yaml", ["source file not found"])


def source_config(paths: ProjectPaths, source: str) -> SourceConfig:
    file = source_file(paths, source)
    cfg = load_source(file)
    if cfg.name != source:
        raise ConfigError(file, [f"name: '{cfg.name}' must match the file name '{source}'"])
    return cfg


def pull(paths: ProjectPaths, store: LeadStore, source: str,
         window: PullWindow | None = None) -> PullReport | ApiPullReport:
    """The source's incremental pull, or one window of its history (API sources)."""
    cfg = source_config(paths, source)
    file = source_file(paths, source)
    if cfg.is_api:
        with lead_source(cfg, file, paths) as api:
            return pull_records(cfg, api, store, now_utc(), file, window)
    if window is not None:
        raise ConfigError(file, [("pull.backfill: history windows are read from API sources only; an SFTP "
                                  "source receives its files as they are dropped")])
    with sftp_client(cfg, file, paths) as client:
        return pull_inbox(cfg, client, store, now_utc())


def map_and_validate(paths: ProjectPaths, store: LeadStore, source: str,
                     cfg: SourceConfig | None = None) -> IntakeReport:
    return map_new_rows(cfg or source_config(paths, source), store, now_utc())


def _routing_config(paths: ProjectPaths, source: str):
    cfg = source_config(paths, source)
    partners = load_partners(paths.partners_file)
    if cfg.upload_partner and partners.by_id(cfg.upload_partner) is None:
        known = ", ".join(p.id for p in partners.partners)
        raise ConfigError(source_file(paths, source),
                          [f"upload_partner: '{cfg.upload_partner}' is not a partner id; known: {known}"])
    return cfg, partners


def route_leads(paths: ProjectPaths, store: LeadStore, source: str, now: datetime | None = None) -> RoutingReport:
    cfg, partners = _routing_config(paths, source)
    return route_new_leads(cfg, partners, store, now or now_utc())


def reroute(paths: ProjectPaths, store: LeadStore, source: str, now: datetime | None = None) -> RoutingReport:
    """Withdraw this source's leads not accepted in time and route them again."""
    cfg, partners = _routing_config(paths, source)
    return reroute_overdue(cfg, partners, store, now or now_utc())


def write_back(paths: ProjectPaths, store: LeadStore, source: str) -> WritebackReport | ApiWritebackReport:
    cfg = source_config(paths, source)
    file = source_file(paths, source)
    if cfg.is_api:
        with lead_source(cfg, file, paths) as api:
            return drain_to_api(cfg, api, store, now_utc())
    with sftp_client(cfg, file, paths) as client:
        return drain_outbox(cfg.name, client, store, now_utc(), cfg.writeback.neutralise_formulas)


def stored_preview(cfg: SourceConfig, store: LeadStore, batch_ids: list[str], n: int = 10) -> pd.DataFrame:
    """The first `n` leads stored from these batches (the asset's preview): only those rows are read."""
    with store.begin() as conn:
        t = tables.leads
        ids = store.read_frame(conn, sa.select(t.c.lead_id).where(t.c.source == cfg.name, t.c.batch_id.in_(batch_ids))
                               .order_by(t.c.batch_id, t.c.row_number).limit(n))["lead_id"].tolist()
        return leads_frame(store, conn, cfg, t.c.lead_id.in_(ids)).sort_values(["batch_id", "row_number"])


def summary(store: LeadStore) -> dict:
    """Totals across the store, for the demo and the CLI."""
    with store.begin() as conn:
        def count(table, *where) -> int:
            return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()

        a = tables.assignments
        per_partner = conn.execute(
            sa.select(a.c.partner_id, sa.func.count()).where(a.c.status.in_(("routed", "accepted"))).group_by(a.c.partner_id)
            .order_by(sa.func.count().desc())
        ).fetchall()
        return {
            "rows_pulled": conn.execute(sa.select(sa.func.coalesce(sa.func.sum(tables.source_files.c.row_count), 0))
                                        .where(tables.source_files.c.status == "stored")).scalar_one(),
            "leads": count(tables.leads),
            "quarantined": count(tables.quarantine),
            "files_in_error": count(tables.source_files, tables.source_files.c.status == "error"),
            "routed_per_partner": {p: n for p, n in per_partner},
            "unassigned": count(a, a.c.status == "unassigned"),
            "needs_review": count(a, a.c.status == "needs_review"),
            "withdrawn": count(a, a.c.status == "withdrawn"),
            "written_back": conn.execute(
                sa.select(sa.func.count()).select_from(sent_events().subquery())).scalar_one(),
            "pending_writeback": conn.execute(
                sa.select(sa.func.count()).select_from(pending_events().subquery())).scalar_one(),
        }

"""A vendor outage that outlasted the retries, worded for the operator: which source, vendor and endpoint
failed and how, that nothing was lost, and where the next run starts (SourceOutage, connectors/api_client.py:
a message and the same facts as metadata for the run's failure)."""

from __future__ import annotations

from datetime import datetime

from leadsync.connectors.api_client import ApiTransientError, SourceOutage
from leadsync.config.schema import ApiSource

VENDORS = {"salesforce": "Salesforce", "marketo": "Marketo", "eloqua": "Eloqua"}


def endpoint_of(cfg: ApiSource) -> str:
    c = cfg.connection
    return getattr(c, "base_url", None) or getattr(c, "login_url", None) or cfg.type


def pull_outage(cfg: ApiSource, exc: ApiTransientError, watermark: datetime | None, stored: int,
                attempts: int) -> SourceOutage:
    """The pull stopped: what it stored stays, the watermark stays where the last stored batch left it."""
    vendor = VENDORS.get(cfg.type, cfg.type)
    resumes = watermark.isoformat() if watermark is not None else "the start of the pull (pull.since)"
    message = (f"{vendor} ({endpoint_of(cfg)}) kept failing for source '{cfg.name}' after {attempts} tries: {exc}. "
               f"Nothing was lost: the {stored} records stored before it failed are kept and the watermark was not "
               f"moved past them; the next run resumes from the watermark ({resumes}).")
    return SourceOutage(message, {
        "source": cfg.name, "vendor": vendor, "endpoint": endpoint_of(cfg), "error": str(exc),
        "http_status": exc.status, "tries": attempts, "nothing_lost": True, "records_stored_this_run": stored,
        "resumes_from_watermark": resumes}, exc)


def writeback_outage(cfg: ApiSource, exc: ApiTransientError, pending: int, attempts: int) -> SourceOutage:
    """The writeback stopped: the batch being sent stays prepared and is sent again first next run."""
    vendor = VENDORS.get(cfg.type, cfg.type)
    message = (f"{vendor} ({endpoint_of(cfg)}) kept failing for source '{cfg.name}' after {attempts} tries while "
               f"writing back: {exc}. Nothing was lost: the {pending} events of the batch being sent stay queued "
               f"and the next run sends them again first (every write is an upsert, so none lands twice).")
    return SourceOutage(message, {
        "source": cfg.name, "vendor": vendor, "endpoint": endpoint_of(cfg), "error": str(exc),
        "http_status": exc.status, "tries": attempts, "nothing_lost": True, "events_queued": pending}, exc)

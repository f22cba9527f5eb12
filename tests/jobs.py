"""Helpers for the tests that run the Dagster job on a project (imported by name: pytest puts tests/ on
sys.path for the test modules in it)."""

from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from leadsync.defs.build import build_definitions
from leadsync.defs.report_assets import GROUP as REPORTS
from leadsync.store import LeadStore


def run_job(project: Path, store_url: str, job: str = "leadsync",
            reports: bool = False) -> dg.ExecuteInProcessResult:
    """Run a job of the project's code location in process; failures are results, not exceptions.

    Without `reports`, the job runs without its report assets (group `reports`: leaves that nothing else
    reads, about 40% of a small run's time, each reading the whole store and drawing a chart). The tests that
    read no report leave them out; test_end_to_end.py and test_demo.py run them on real data, test_reports.py
    checks their figures."""
    job_def = build_definitions(project / "mappings", store_url).resolve_job_def(job)
    selected = job_def.asset_layer.selected_asset_keys
    without_reports = frozenset(k for k in selected if k.path[0] != REPORTS)
    if reports or without_reports == selected:
        return job_def.execute_in_process(raise_on_error=False)
    return job_def.execute_in_process(raise_on_error=False, asset_selection=list(without_reports))


@contextmanager
def connection(store_url: str):
    """A transaction on the store at `store_url`, the store disposed afterwards: (store, connection)."""
    store = LeadStore(store_url)
    try:
        with store.begin() as conn:
            yield store, conn
    finally:
        store.dispose()


def read_table(store_url: str, table: sa.Table) -> pd.DataFrame:
    return read_query(store_url, sa.select(table))


def materialization(result: dg.ExecuteInProcessResult, key: str) -> dict:
    """The metadata of asset `key` (e.g. "mkto/raw_rows") in this run, as plain values."""
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key)
    return {k: v.value for k, v in event.materialization.metadata.items()}


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    return next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").step_failure_data.error.message


def retried(result: dg.ExecuteInProcessResult) -> bool:
    return any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)


def read_query(store_url: str, query: sa.Select) -> pd.DataFrame:
    with connection(store_url) as (store, conn):
        return store.read_frame(conn, query)


def outbox_states(store_url: str) -> pd.DataFrame:
    """The writeback outbox with each event's state (pending | prepared | sent), attempts and last_error."""
    from leadsync.writeback.outbox import event_states

    return read_query(store_url, event_states())


def raw_row_count(store_url: str, source: str) -> int:
    """Rows a source has sent, as stored in its raw table."""
    from leadsync.store import raw

    with connection(store_url) as (_store, conn):
        return raw.row_count(conn, source)


def raw_rows(store_url: str, source: str) -> pd.DataFrame:
    """Every raw row a source has sent, columns named as received (plus batch_id and row_number)."""
    from leadsync.store import raw

    with connection(store_url) as (store, conn):
        return raw.source_rows(store, conn, source).to_pandas()

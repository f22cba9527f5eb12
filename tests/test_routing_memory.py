"""Routing records every slice's decisions in one transaction. On DuckDB an Arrow table read inside an open
transaction stays alive until the commit (its strings are not copied): recorded as tables, every slice's
decisions and events stayed in memory, and a routing step of 5,000,000 leads grew to 2.9 GB. Recorded as
streams, the Arrow memory in use stays that of one slice (counted by Arrow's allocator, not by a clock)."""

import pyarrow as pa
from test_routing_store import PARTNERS, REPO, T0, put_leads

from leadsync import assign
from leadsync.config import load_source
from leadsync.config.schema import PartnersConfig
from leadsync.routing import state
from leadsync.store import LeadStore

SLICE = 2_000


def test_arrow_memory_stays_that_of_one_slice_while_a_big_queue_is_routed(duckdb_url, monkeypatch):
    monkeypatch.setattr(assign, "ROUTE_SLICE", SLICE)
    monkeypatch.setattr(assign, "ROW_GROUP", SLICE)  # each slice recorded as it is decided
    store = LeadStore(duckdb_url)
    put_leads(store, "b0", [{"country": "US", "state": "CA"}] * (8 * SLICE), T0)
    in_use = []
    record_slice = state._record_slice

    def measured(*args, **kwargs):
        record_slice(*args, **kwargs)
        in_use.append(pa.total_allocated_bytes())

    monkeypatch.setattr(state, "_record_slice", measured)
    report = assign.route_new_leads(load_source(REPO / "mappings/sources/sftp_demo.yaml"),
                                    PartnersConfig.model_validate(PARTNERS), store, T0)
    store.dispose()
    assert report.decided == 8 * SLICE and len(in_use) == 8
    one_slice = SLICE * 200  # bytes: a slice's decisions and events hold several hundred bytes a lead
    assert in_use[-1] - in_use[1] < one_slice, in_use  # flat, where it grew by a slice's tables each time

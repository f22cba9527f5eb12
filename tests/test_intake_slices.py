"""A batch larger than one slice maps in slices on Postgres (COPY out a slice, map it, write it, next slice on
the same connection) and whole in DuckDB: every row is a lead or quarantined once, whatever the slice size.
A regression here used to hang: the COPY of the raw rows was still open when the first slice's leads were
written on the same connection (it took a batch over 32 MB, i.e. ~150,000 rows, to show)."""

import threading
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa

from connectors.sftp.seed import demo_leads_table
from leadsync.config import load_source
from leadsync.intake import map_new_rows, walk
from leadsync.pull.raw_batches import BatchInfo, store_batch
from leadsync.store import LeadStore, engine, tables

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ROWS = 1_000


def test_a_batch_of_many_slices_maps_every_row_once(store_url, monkeypatch):
    monkeypatch.setattr(walk, "SLICE_ROWS", 128)  # 8 slices on Postgres
    monkeypatch.setattr(engine, "COPY_PARSE_BYTES", 4_096)  # COPY output parsed in many pieces
    cfg = load_source(REPO / "mappings/sources/sftp_demo.yaml")
    store = LeadStore(store_url)
    rows = demo_leads_table(ROWS, 3, ["Blue Peak Security"], 0.1)
    rows = pa.table({name: rows[name].cast(pa.string()) for name in rows.column_names})
    info = BatchInfo("b-slices", cfg.name, "slices.csv", "0" * 64, 1)
    assert store_batch(store, info, rows, pa.array(range(1, ROWS + 1), pa.int64()), NOW) == ROWS

    done: dict = {}
    worker = threading.Thread(target=lambda: done.setdefault("report", map_new_rows(cfg, store, NOW)), daemon=True)
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "the intake hung (a statement on a connection in the middle of a COPY?)"
    report = done["report"]
    assert report.received == ROWS and report.stored + report.quarantined == ROWS
    with store.begin() as conn:
        leads = conn.execute(sa.select(tables.leads.c.row_number).where(tables.leads.c.batch_id == "b-slices")).scalars().all()
        held = conn.execute(sa.select(tables.quarantine.c.row_number)).scalars().all()
    assert len(leads) == len(set(leads)) == report.stored and len(held) == report.quarantined
    assert sorted([*leads, *held]) == list(range(1, ROWS + 1))
    store.dispose()

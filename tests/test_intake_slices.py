"""A batch larger than one slice maps in slices on Postgres (COPY out a slice, map it, write it, next slice on
the same connection) and in slices of row numbers inside DuckDB: every row is a lead or quarantined once,
whatever the slice size, and in key mode a key repeated in two slices is one lead holding the later record.
A regression here used to hang: the COPY of the raw rows was still open when the first slice's leads were
written on the same connection (it took a batch over 32 MB, i.e. ~150,000 rows, to show)."""

import threading
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa
import yaml

from leadsync.connectors.sftp.seed import demo_leads_table
from leadsync.config import load_source
from leadsync.intake import map_new_rows, walk
from leadsync.pull.raw_batches import BatchInfo, store_batch
from leadsync.store import LeadStore, engine, tables

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
# Five slices of 128 rows, the last one short: a crash in the fourth leaves more than one slice for the next run,
# and a key of the first half comes back in a later slice. Each slice costs the intake its fixed work (~0.5 s
# here); 1,000 rows (eight slices) tested nothing more and took 60% longer.
ROWS = 600


def test_a_batch_of_many_slices_maps_every_row_once(store_url, monkeypatch):
    monkeypatch.setattr(walk, "SLICE_ROWS", 128)  # 5 slices on Postgres
    monkeypatch.setattr(walk, "STORE_SLICE_ROWS", 128)  # 5 slices in DuckDB
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
    # the schema_valid check saw every lead stored, slice by slice, and they conform
    assert report.schema.checked == report.stored and report.schema.failures is None
    store.dispose()


@pytest.mark.parametrize("mode", ["every_row", "key"])
def test_the_intake_maps_under_its_own_duckdb_memory_cap(duckdb_url, monkeypatch, tmp_path, mode):
    """DuckDB caches what a transaction wrote or read up to its memory cap, so under the store's cap (1 GB) the
    intake's memory grew with the store; each slice maps under INTAKE_DUCKDB_MEMORY (new leads) or
    INTAKE_UPDATE_DUCKDB_MEMORY (key mode, whose updates need more), and the store's own cap is back after."""
    data = yaml.safe_load((REPO / "mappings/sources/sftp_demo.yaml").read_text())
    if mode == "key":
        data["uniqueness"] = {"mode": "key", "key": ["email", "campaign"]}
    (tmp_path / "sftp_demo.yaml").write_text(yaml.safe_dump(data))
    cfg = load_source(tmp_path / "sftp_demo.yaml")
    store = LeadStore(duckdb_url)
    rows = demo_leads_table(50, 3, ["Blue Peak Security"], 0.0)
    rows = pa.table({name: rows[name].cast(pa.string()) for name in rows.column_names})
    store_batch(store, BatchInfo("b-cap", cfg.name, "cap.csv", "0" * 64, 1), rows, pa.array(range(1, 51), pa.int64()),
                NOW)
    seen, real = [], walk.check_counts

    def noting(con, plan, mapped):
        seen.append(con.execute("SELECT current_setting('memory_limit')").fetchone()[0])
        return real(con, plan, mapped)

    monkeypatch.setattr(walk, "check_counts", noting)
    assert map_new_rows(cfg, store, NOW).stored > 0
    with store.begin() as conn:
        after = conn.exec_driver_sql("SELECT current_setting('memory_limit')").scalar_one()
    # 256 MB and 512 MB as DuckDB shows them
    assert seen == (["488.2 MiB"] if mode == "key" else ["244.1 MiB"]), seen
    assert after != seen[0]
    store.dispose()


def test_the_schema_check_names_each_lead_that_does_not_conform():
    """The pandera schema is a second opinion on what the plan stored: where the two disagree (a picklist
    value, an email, a duplicate id), the check fails and names the column, the check and the value."""
    from leadsync.intake.schema import SchemaCheck, stored_columns

    cfg = load_source(REPO / "mappings/sources/sftp_demo.yaml")
    check = SchemaCheck(cfg)
    good = {c.name: ["x"] * 3 for c in stored_columns(cfg)}
    good.update(lead_id=["l1", "l2", "l3"], email=["a@example.com"] * 3, country=["US", "CA", "GB"],
                products=["Firewall", "Endpoint;Cloud Backup", None], lead_type=["SMB"] * 3,
                created_at=pa.array([NOW] * 3, pa.timestamp("us", "UTC")))
    check.validate(pa.table(good))
    assert check.checked == 3 and check.failures is None
    bad = {**good, "lead_id": ["l4", "l5", "l5"], "email": ["a@example.com", "not an email", "b@example.com"],
           "country": ["US", "XX", "CA"]}
    check.validate(pa.table(bad))
    assert check.checked == 6
    found = {(r.column, r.check, r.failure_case) for r in check.failures.itertuples()}
    assert any(col == "country" and case == "XX" for col, _, case in found), found
    assert any(col == "email" and case == "not an email" for col, _, case in found), found
    assert any(col == "lead_id" and case == "l5" for col, _, case in found), found


def test_in_key_mode_a_key_in_two_slices_is_one_lead_with_the_later_record(store_url, monkeypatch, tmp_path):
    monkeypatch.setattr(walk, "SLICE_ROWS", 128)
    monkeypatch.setattr(walk, "STORE_SLICE_ROWS", 128)
    data = yaml.safe_load((REPO / "mappings/sources/sftp_demo.yaml").read_text())
    data["uniqueness"] = {"mode": "key", "key": ["email", "campaign"]}
    (tmp_path / "keyed.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    cfg = load_source(tmp_path / "keyed.yaml")
    store = LeadStore(store_url)
    rows = demo_leads_table(ROWS, 3, ["Blue Peak Security"], 0.0)
    rows = pa.table({name: rows[name].cast(pa.string()) for name in rows.column_names})
    half = ROWS // 2  # the second half repeats the first half's keys (email, campaign), 300 rows later
    repeat = lambda name: pa.concat_arrays([rows[name].combine_chunks()[:half]] * 2)
    rows = rows.set_column(rows.schema.get_field_index("Email"), "Email", repeat("Email"))
    rows = rows.set_column(rows.schema.get_field_index("Campaign"), "Campaign", repeat("Campaign"))
    later = pc.binary_join_element_wise(rows["First Name"], pa.array(["", "-later"]).take(
        pa.array([0] * half + [1] * half)), "")
    rows = rows.set_column(rows.schema.get_field_index("First Name"), "First Name", later)
    info = BatchInfo("b-keyed", cfg.name, "keyed.csv", "1" * 64, 1)
    assert store_batch(store, info, rows, pa.array(range(1, ROWS + 1), pa.int64()), NOW) == ROWS

    report = map_new_rows(cfg, store, NOW)
    with store.begin() as conn:
        names = conn.execute(sa.select(tables.leads.c.first_name)).scalars().all()
        held = conn.execute(sa.select(sa.func.count()).select_from(tables.quarantine)).scalar_one()
    assert report.received == ROWS and report.quarantined == held
    assert report.stored == len(names) and report.merged_duplicates == ROWS - held - len(names)
    assert len(names) <= half and all(n.endswith("-later") for n in names)  # the later record of each key
    store.dispose()


def test_a_crash_between_slices_goes_on_after_the_last_slice_mapped(store_url, monkeypatch):
    """Each slice commits with its ledger row: a run that fails in the fourth slice keeps three, and the next
    run maps the rest, every row once, writes the batch's ledger row with the sums of all slices, and its
    schema check covers the leads of the slices the failed run stored."""
    monkeypatch.setattr(walk, "SLICE_ROWS", 128)
    monkeypatch.setattr(walk, "STORE_SLICE_ROWS", 128)
    cfg = load_source(REPO / "mappings/sources/sftp_demo.yaml")
    store = LeadStore(store_url)
    rows = demo_leads_table(ROWS, 3, ["Blue Peak Security"], 0.1)
    rows = pa.table({name: rows[name].cast(pa.string()) for name in rows.column_names})
    assert store_batch(store, BatchInfo("b-crash", cfg.name, "crash.csv", "2" * 64, 1), rows,
                       pa.array(range(1, ROWS + 1), pa.int64()), NOW) == ROWS
    work = walk._slice_in_store if store.dialect == "duckdb" else walk._slice_outside
    calls = []

    def failing(*args, **kwargs):
        calls.append(args)
        if len(calls) == 4:
            raise RuntimeError("the worker died")
        return work(*args, **kwargs)

    monkeypatch.setattr(walk, "_slice_in_store" if store.dialect == "duckdb" else "_slice_outside", failing)
    try:
        map_new_rows(cfg, store, NOW)
    except RuntimeError:
        pass
    else:
        raise AssertionError("the fourth slice should have failed")
    with store.begin() as conn:
        slices = conn.execute(sa.select(tables.intake_slices.c.last_row).order_by("last_row")).scalars().all()
        assert slices == [128, 256, 384]
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.intake_batches)).scalar_one() == 0

    report = map_new_rows(cfg, store, NOW)
    assert report.received == ROWS - 384 and report.batch_ids == ["b-crash"]
    with store.begin() as conn:
        leads = conn.execute(sa.select(tables.leads.c.row_number)).scalars().all()
        held = conn.execute(sa.select(tables.quarantine.c.row_number)).scalars().all()
        ledger = conn.execute(sa.select(tables.intake_batches.c.received, tables.intake_batches.c.stored,
                                        tables.intake_batches.c.quarantined)).one()
    assert sorted([*leads, *held]) == list(range(1, ROWS + 1))
    assert tuple(ledger) == (ROWS, len(leads), len(held))
    # the schema check covers the whole batch: the slices the failed run stored too
    assert report.schema.checked == len(leads) and report.schema.failures is None
    assert map_new_rows(cfg, store, NOW).received == 0  # the batch is done
    store.dispose()

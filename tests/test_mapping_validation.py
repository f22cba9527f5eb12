"""The intake plan: good rows typed, bad rows quarantined with a reason, none lost; identity by the source's
uniqueness rule. The plan is pure SQL over an Arrow table here: no store, no network."""

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from leadsync.config import load_source
from leadsync.intake.apply import map_table
from leadsync.intake.plan import MissingColumnsError, compile_plan

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def cfg():
    return load_source(REPO / "mappings/sources/sftp_demo.yaml")


def rows(**columns) -> pa.Table:
    n = max(len(v) for v in columns.values())
    base = {"Email": ["a@x.com"] * n, "Last Name": ["Doe"] * n}
    base.update({k.replace("_", " "): v for k, v in columns.items()})
    return pa.table({k: pa.array(v, pa.string()) for k, v in base.items()})


def mapped(cfg, table, batch_id="batch1"):
    return map_table(cfg, table, batch_id)


def test_headers_match_case_and_space_insensitively(cfg):
    out = mapped(cfg, pa.table({" email ": ["a@x.com"], "LAST NAME": ["Doe"]}))
    assert out.leads.loc[1, "email"] == "a@x.com" and out.leads.loc[1, "last_name"] == "Doe"


def test_missing_required_column_names_it_and_what_the_file_has(cfg):
    with pytest.raises(MissingColumnsError) as err:
        compile_plan(cfg, {"First Name": "c0", "Last Name": "c1"})
    assert "'Email' (lead field email)" in str(err.value)
    assert "'First Name'" in str(err.value)


def test_every_row_is_either_a_lead_or_quarantined_with_a_reason(cfg):
    frame = rows(
        Email=["good@x.com", "bad-email", "c@x.com", "d@x.com", "e@x.com", None],
        Created_Date=["2026-11-01", "2026-11-01", "yesterday", "2026-11-02T10:00:00Z", "2026-11-03", "2026-11-03"],
        Lead_Type=["SMB", "SMB", "SMB", "Huge", "enterprise", "SMB"],
        Products_of_Interest=["Firewall", "Firewall", "Firewall", "Firewall", "firewall; sd-wan", "Firewall"],
    )
    out = mapped(cfg, frame)
    assert sorted(out.leads.index) == [1, 5]
    assert out.reasons["column 'Email' is empty but required"] == 1
    assert out.reasons["column 'Email' is empty but required"] == 1
    assert sorted(out.quarantined.index) == [2, 3, 4, 6]
    assert "column 'Email' value 'bad-email' is not a valid email address" in out.quarantined[2]
    assert "column 'Created Date' value 'yesterday' is not a date/time" in out.quarantined[3]
    assert "column 'Lead Type' value 'Huge' is not one of: SMB, Mid-Market, Enterprise" in out.quarantined[4]
    assert "column 'Email' is empty but required" in out.quarantined[6]


def test_values_are_cast_and_canonicalised(cfg):
    out = mapped(cfg, rows(Email=["  Mixed@Example.COM "], Lead_Type=["mid-market"], Country=["gb"],
                           Products_of_Interest=["sd-wan;Firewall; firewall"], Created_Date=["2026-11-02 10:30"]))
    lead = out.leads.loc[1]
    assert lead["email"] == "mixed@example.com"
    assert lead["lead_type"] == "Mid-Market" and lead["country"] == "GB"
    assert lead["products"] == "Firewall;SD-WAN"  # allowed-list order, no duplicates
    assert lead["created_at"] == pd.Timestamp("2026-11-02T10:30:00Z")


def test_multi_picklist_with_an_unknown_value_is_quarantined(cfg):
    out = mapped(cfg, rows(Products_of_Interest=["Firewall;Toaster"]))
    assert "has values outside" in out.quarantined[1] and "Toaster" in out.quarantined[1]


def test_every_record_is_its_own_lead_by_default(cfg):
    out = mapped(cfg, rows(Email=["same@x.com", "same@x.com"]))
    assert list(out.leads["lead_id"]) == ["sftp_demo-batch1-0000001", "sftp_demo-batch1-0000002"]


def test_key_uniqueness_collapses_duplicates_to_the_newest_record(cfg):
    keyed = cfg.model_copy(update={"uniqueness": cfg.uniqueness.model_copy(update={"mode": "key", "key": ["email"]})})
    table = rows(Email=["Same@x.com", "same@x.com", "other@x.com"], Last_Name=["Old", "New", "X"])
    leads = mapped(keyed, table, "b").leads
    assert len(leads) == 2
    assert leads.loc[leads["email"] == "same@x.com", "last_name"].item() == "New"
    again = mapped(keyed, table, "another-batch").leads
    assert set(again["lead_id"]) == set(leads["lead_id"])  # the key, not the batch, names the lead
    # the same ids as ever: <source>-<first 20 hex digits of sha1(normalised key)>
    assert f"sftp_demo-{hashlib.sha1(b'other@x.com').hexdigest()[:20]}" in set(leads["lead_id"])


def test_values_that_look_like_sql_stay_values(cfg):
    """Header names, cell values and allowed values reach the plan's SQL only as quoted literals."""
    table = rows(Email=["x@y.com"], Last_Name=["O'Brien'); DROP TABLE leads; --"])
    table = table.append_column("Weird \"col'); --", pa.array(["v"], pa.string()))
    out = mapped(cfg, table)
    assert out.leads.loc[1, "last_name"] == "O'Brien'); DROP TABLE leads; --"


def test_a_million_rows_map_without_python_per_row(cfg):
    """The plan is set-based: a large batch maps in one pass (a guard against per-row Python creeping in,
    measured properly in bench/pipeline_1m.py)."""
    n = 200_000
    table = rows(Email=[f"u{i}@x.com" for i in range(n)], Lead_Type=["SMB", "Huge"] * (n // 2))
    out = mapped(cfg, table)
    assert len(out.leads) == n // 2 and len(out.quarantined) == n // 2


def test_each_cell_is_cleaned_once_in_the_plans_sql(cfg):
    """The control-character strip of a cell is one column (`s_<field>`) that trimming refers to by name, not
    an expression written out at each of its sixteen uses: DuckDB plans the SQL for every slice, and 65 KB of it
    took 160 ms however few rows the slice had. Cleaning still strips, trims and empties as before."""
    plan = compile_plan(cfg, {name: f'"c{i}"' for i, name in enumerate(["Email", "Last Name", "Company"])})
    sql = plan.mapped_sql("batch_rows")
    assert sql.count("regexp_replace(") == 3  # one per mapped field
    out = mapped(cfg, rows(Email=["  a@x.com\x07 "], Last_Name=["\x00Doe\t"], Company=[" \x01 "]))
    assert out.leads.loc[1, ["email", "last_name", "company"]].tolist() == ["a@x.com", "Doe", None]

"""Mapping and pandera validation: good rows typed, bad rows quarantined with a reason, none lost."""

from pathlib import Path

import pandas as pd
import pytest

from leadsync.config import load_source
from leadsync.mapping import MissingColumnsError, map_records, resolve_columns
from leadsync.uniqueness import lead_identity

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def cfg():
    return load_source(REPO / "mappings/sources/sftp_demo.yaml")


def rows(**columns) -> pd.DataFrame:
    n = max(len(v) for v in columns.values())
    base = {"Email": ["a@x.com"] * n, "Last Name": ["Doe"] * n}
    base.update({k.replace("_", " "): v for k, v in columns.items()})
    return pd.DataFrame(base, index=range(1, n + 1))


def mapped(cfg, frame):
    return map_records(cfg, frame, resolve_columns(cfg, list(frame.columns)))


def test_headers_match_case_and_space_insensitively(cfg):
    frame = pd.DataFrame({" email ": ["a@x.com"], "LAST NAME": ["Doe"]}, index=[1])
    out = mapped(cfg, frame)
    assert out.leads.loc[1, "email"] == "a@x.com" and out.leads.loc[1, "last_name"] == "Doe"


def test_missing_required_column_names_it_and_what_the_file_has(cfg):
    with pytest.raises(MissingColumnsError) as err:
        resolve_columns(cfg, ["First Name", "Last Name"])
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
    ids = lead_identity(cfg, "batch1", out.leads)["lead_id"]
    assert list(ids) == ["sftp_demo-batch1-0000001", "sftp_demo-batch1-0000002"]


def test_key_uniqueness_collapses_duplicates_to_the_newest_record(cfg):
    keyed = cfg.model_copy(update={"uniqueness": cfg.uniqueness.model_copy(update={"mode": "key", "key": ["email"]})})
    out = mapped(keyed, rows(Email=["Same@x.com", "same@x.com", "other@x.com"], Last_Name=["Old", "New", "X"]))
    leads = lead_identity(keyed, "b", out.leads)
    assert len(leads) == 2
    assert leads.loc[leads["email"] == "same@x.com", "last_name"].item() == "New"
    again = lead_identity(keyed, "another-batch", out.leads)
    assert set(again["lead_id"]) == set(leads["lead_id"])  # the key, not the batch, names the lead

"""Generated demo leads: deterministic, realistic, and fast enough for the million-row benchmark."""

import re

import pandas as pd
import pytest

from leadsync.connectors.sftp import seed
from leadsync.connectors.sftp.lead_files import read_lead_file
from leadsync.connectors.sftp.seed import COLUMNS, PRODUCTS, US_ZIP3, demo_leads, write_demo_leads

EXPECTED_COLUMNS = ["Email", "First Name", "Last Name", "Company", "Job Title", "Phone", "Country", "State",
                    "Postal Code", "Products of Interest", "Lead Type", "Campaign", "Created Date", "Partner"]
PARTNERS = ["Northwind Networks", "Blue Peak Security", "Maple Systems"]


@pytest.fixture(scope="module")
def leads() -> pd.DataFrame:
    return demo_leads(20_000, seed=11, partner_names=PARTNERS, partner_column_share=0.1)


def test_same_seed_same_leads_other_seed_other_leads():
    pd.testing.assert_frame_equal(demo_leads(500, seed=3), demo_leads(500, seed=3))
    assert not demo_leads(500, seed=3).equals(demo_leads(500, seed=4))


def test_columns_are_exactly_the_demo_mapping_columns(leads):
    assert COLUMNS == EXPECTED_COLUMNS and list(leads.columns) == EXPECTED_COLUMNS
    assert leads["Email"].is_unique
    assert leads["Email"].str.fullmatch(r"[a-z]+\.[a-z]+\d+@[a-z]+\.example").all()


def test_countries_states_and_postal_codes_agree(leads):
    share = leads["Country"].value_counts(normalize=True)
    assert set(share.index) == {"US", "CA", "GB", "DE", "FR"} and share["US"] > 0.45

    us = leads[leads["Country"] == "US"]
    assert us["State"].str.fullmatch(r"[A-Z]{2}").all() and us["Postal Code"].str.fullmatch(r"\d{5}").all()
    zip3 = us["Postal Code"].str[:3].astype(int)
    low = us["State"].map(lambda s: US_ZIP3[s][0])
    high = us["State"].map(lambda s: US_ZIP3[s][1])
    assert ((zip3 >= low) & (zip3 <= high)).all()

    ca = leads[leads["Country"] == "CA"]
    assert set(ca["State"]) <= {"ON", "QC", "BC", "AB", "MB", "NS"}
    assert ca["Postal Code"].str.fullmatch(r"[A-Z]\d[A-Z] \d[A-Z]\d").all()
    assert (ca.loc[ca["State"] == "BC", "Postal Code"].str[0] == "V").all()

    assert (leads.loc[leads["Country"].isin(["GB", "DE", "FR"]), "State"] == "").all()


def test_products_lead_types_dates_and_partners(leads):
    products = leads["Products of Interest"].str.split(";")
    assert products.map(lambda p: 1 <= len(p) == len(set(p)) and set(p) <= set(PRODUCTS)).all()
    assert set(leads["Lead Type"]) == {"SMB", "Mid-Market", "Enterprise"}
    iso = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
    assert leads["Created Date"].map(lambda v: bool(iso.fullmatch(v))).all()
    pd.to_datetime(leads["Created Date"], format="ISO8601")  # parses
    named = leads["Partner"] != ""
    assert 0.08 < named.mean() < 0.12 and set(leads.loc[named, "Partner"]) == set(PARTNERS)
    assert (demo_leads(1000)["Partner"] == "").all()  # no partner names given: the column stays empty


def test_written_file_decodes_to_the_same_leads(tmp_path):
    partners = ["Acme, Inc.", 'The "Best" Co']  # names that need quoting
    path = write_demo_leads(tmp_path / "inbox/leads.csv", 300, seed=5, partner_names=partners)
    assert [p.name for p in path.parent.iterdir()] == ["leads.csv"]  # no temporary file left
    assert path.read_bytes().startswith(b"Email,First Name,Last Name,")
    t = read_lead_file(path.name, path.read_bytes())
    expected = demo_leads(300, seed=5, partner_names=partners)
    assert t.columns == EXPECTED_COLUMNS and list(t.frame["__row__"]) == list(range(1, 301))
    got = t.frame[EXPECTED_COLUMNS].fillna("")
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_a_large_file_decodes_to_every_row_across_blocks(tmp_path):
    """Big enough (~25 MB) that the reader parses it in many blocks; how fast is bench/pipeline_1m.py's business."""
    n = 150_000
    path = write_demo_leads(tmp_path / "big.csv", n, partner_names=["Northwind Networks"])
    t = read_lead_file("big.csv", path.read_bytes())
    assert list(t.frame["__row__"]) == list(range(1, n + 1))
    expected = demo_leads(n, partner_names=["Northwind Networks"])
    pd.testing.assert_frame_equal(t.frame[EXPECTED_COLUMNS].fillna("").iloc[::997].reset_index(drop=True),
                                  expected.iloc[::997].reset_index(drop=True), check_dtype=False)


@pytest.mark.parametrize("n", [0, 800, 1000])
def test_a_file_written_in_pieces_starts_as_the_one_piece_file_and_numbers_every_lead_once(tmp_path, monkeypatch, n):
    """Generated GENERATE_ROWS at a time (memory of one piece, however many leads): the first piece is the file a
    smaller n gives, each later one the leads of its own offset, every email numbered once, the same for the seed."""
    monkeypatch.setattr(seed, "GENERATE_ROWS", 400)
    path = write_demo_leads(tmp_path / "pieces.csv", n, seed=5, partner_names=PARTNERS)
    if n == 0:
        assert path.read_bytes() == (",".join(EXPECTED_COLUMNS) + "\n").encode()
        return
    frame = read_lead_file(path.name, path.read_bytes()).frame[EXPECTED_COLUMNS].fillna("")
    assert len(frame) == n and frame["Email"].is_unique
    assert list(frame["Email"].str.extract(r"(\d+)@")[0].astype(int)) == list(range(1, n + 1))
    pd.testing.assert_frame_equal(frame.iloc[:400], demo_leads(400, seed=5, partner_names=PARTNERS),
                                  check_dtype=False)
    for offset in range(400, n, 400):
        piece = seed.demo_leads_table(min(400, n - offset), 5, PARTNERS, 0.1, offset).to_pandas()
        pd.testing.assert_frame_equal(frame.iloc[offset:offset + 400].reset_index(drop=True), piece,
                                      check_dtype=False)
    assert not frame.iloc[400:800].drop(columns="Email").reset_index(drop=True).equals(
        frame.iloc[:400].drop(columns="Email"))
    again = write_demo_leads(tmp_path / "again.csv", n, seed=5, partner_names=PARTNERS)
    assert again.read_bytes() == path.read_bytes()

"""What one value may hold: an over-long cell quarantines its row with the reason (or is cut where the mapping
says truncate); NUL and other control characters are stripped, or quarantine the row when the source says so.
On the embedded store and on Postgres (which refuses NUL in text)."""

from __future__ import annotations

import io

import openpyxl
import pytest
import yaml
from hostile_inputs import HEADER, edit_source, lead_line
from jobs import read_table

from leadsync.connectors.sftp import inbox_readiness
from leadsync import pipeline
from leadsync.store import tables


@pytest.fixture(autouse=True)
def settled(monkeypatch):
    monkeypatch.setattr(inbox_readiness, "wait", lambda seconds: None)


def field_option(project, field: str, **options) -> None:
    fields = yaml.safe_load((project / "mappings/sources/sftp_demo.yaml").read_text())["fields"]
    edit_source(project, fields=[{**f, **options} if f["field"] == field else f for f in fields])


def intake(paths, store, uploader, text: str) -> None:
    uploader.put("cells.csv", text)
    assert pipeline.pull(paths, store, "sftp_demo").files[0].status == "stored"
    pipeline.map_and_validate(paths, store, "sftp_demo")


def test_an_over_long_company_is_quarantined_with_the_reason(project, paths, any_store, store_url, uploader):
    # (a row over 1 MiB is refused whole by the reader: "a row is longer than 1,048,576 bytes")
    intake(paths, any_store, uploader, HEADER + lead_line(1, company="C" * 50_000) + lead_line(2))
    leads, quarantine = read_table(store_url, tables.leads), read_table(store_url, tables.quarantine)
    assert leads["email"].tolist() == ["p2@acme2.com"]
    (reason,) = quarantine["reason"].tolist()
    assert "column 'Company' value is longer than 10000 characters (50000)" in reason
    assert "cells.max_length" in reason


def test_a_field_marked_truncate_is_cut_to_its_max_length(project, paths, store, duckdb_url, uploader):
    field_option(project, "company", max_length=12, truncate=True)
    intake(paths, store, uploader, HEADER + lead_line(1, company="Acme Corporation International"))
    assert read_table(duckdb_url, tables.leads)["company"].tolist() == ["Acme Corporat"[:12]]
    assert read_table(duckdb_url, tables.quarantine).empty


def test_nul_and_control_characters_are_stripped_by_default(project, paths, any_store, store_url, uploader):
    intake(paths, any_store, uploader, HEADER + lead_line(1, company="Ac\x00me\x07 Inc"))
    assert read_table(store_url, tables.leads)["company"].tolist() == ["Acme Inc"]


def test_control_characters_quarantine_the_row_when_the_source_says_so(project, paths, store, duckdb_url,
                                                                       uploader):
    edit_source(project, cells={"control_characters": "quarantine"})
    intake(paths, store, uploader, HEADER + lead_line(1, company="Ac\x00me") + lead_line(2, company="Tab\tOK"))
    assert read_table(duckdb_url, tables.leads)["company"].tolist() == ["Tab\tOK"]
    (reason,) = read_table(duckdb_url, tables.quarantine)["reason"].tolist()
    assert "column 'Company' value has a control character (code 0) at position 3" in reason


def test_a_five_million_character_cell_in_a_workbook_is_quarantined(project, paths, store, duckdb_url, uploader):
    book = openpyxl.Workbook()
    book.active.append([c.strip() for c in HEADER.split(",")])
    for n, company in ((1, "C" * 5_000_000), (2, "Acme")):
        book.active.append(lead_line(n, company=company).strip().split(","))
    data = io.BytesIO()
    book.save(data)
    uploader.put("huge_cell.xlsx", data.getvalue())
    assert pipeline.pull(paths, store, "sftp_demo").files[0].status == "stored"
    pipeline.map_and_validate(paths, store, "sftp_demo")
    assert read_table(duckdb_url, tables.leads)["company"].tolist() == ["Acme"]
    (reason,) = read_table(duckdb_url, tables.quarantine)["reason"].tolist()
    assert "column 'Company' value is longer than 10000 characters (" in reason  # (Excel keeps 32,767)

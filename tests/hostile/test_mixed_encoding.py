"""A file mixing encodings line by line is decoded in the encoding of most of its lines; each line in the
other one is quarantined with its line number and the bytes that give it away, never stored as mojibake."""

from __future__ import annotations

import json

import pytest
from hostile_inputs import HEADER
from jobs import read_table

from leadsync.connectors.sftp import inbox_readiness
from leadsync import pipeline
from leadsync.store import tables


@pytest.fixture(autouse=True)
def settled(monkeypatch):
    monkeypatch.setattr(inbox_readiness, "wait", lambda seconds: None)


def row(email: str, first: str, company: str = "Acme") -> str:
    return f"{email},{first},Lee,{company},US,TX,73301,Firewall,SMB,Expo,2026-11-01,Blue Peak Security\n"


@pytest.mark.parametrize(("majority", "minority"), [("cp1252", "utf-8"), ("utf-8", "cp1252")])
def test_the_odd_line_out_is_quarantined_with_its_line_and_bytes(project, paths, store, duckdb_url, uploader,
                                                                 majority, minority):
    data = (HEADER + row("ann@a.example", "Renée") + row("bob@b.example", "Björn", '"Multi\nline Ltd"')).encode(majority)
    data += row("zoe@z.example", "Zoé").encode(minority) + row("lea@l.example", "Léa").encode(majority)
    uploader.put("mixed.csv", data)
    (outcome,) = pipeline.pull(paths, store, "sftp_demo").files
    assert (outcome.status, outcome.rows, outcome.encoding, outcome.quarantined_rows) == ("stored", 3, majority, 1)
    assert "1 row(s) not in the file's encoding" in outcome.reason
    pipeline.map_and_validate(paths, store, "sftp_demo")
    leads = read_table(duckdb_url, tables.leads).sort_values("row_number")
    assert leads["first_name"].tolist() == ["Renée", "Björn", "Léa"]  # no "RenÃ©e", no "Zo�"
    assert leads["row_number"].tolist() == [1, 2, 4]
    (q,) = read_table(duckdb_url, tables.quarantine).to_dict("records")
    assert q["row_number"] == 3 and q["file_name"] == "mixed.csv"
    offending = "c3 a9" if minority == "utf-8" else "e9"
    assert q["reason"].startswith(f"line 5: the bytes {offending} are not {majority} like the rest of the file")
    assert "Zoé" in q["reason"] and "one encoding (UTF-8)" in q["reason"]
    assert json.loads(q["payload"])["text"].startswith("zoe@z.example,Zoé,Lee")
    with store.begin() as conn:
        assert conn.execute(tables.source_files.select()).one().encoding == majority

"""Decoding lead files as suppliers really send them."""

import io

import pandas as pd
import pytest

from connectors.sftp.errors import LeadFileError
from connectors.sftp.lead_files import read_lead_file
from connectors.sftp.seed import COLUMNS, demo_leads


def test_utf8_with_bom_has_a_clean_first_header():
    t = read_lead_file("a.csv", "\ufeffEmail,Name\na@x.com,Ann\n".encode("utf-8"))
    assert t.columns == ["Email", "Name"] and t.encoding == "utf-8-sig"
    assert t.frame.loc[0, "Email"] == "a@x.com"


def test_cp1252_is_detected_and_decoded():
    t = read_lead_file("a.csv", "Email;Name\nz@x.fr;Zoë Müller\n".encode("cp1252"))
    assert t.encoding == "cp1252" and t.frame.loc[0, "Name"] == "Zoë Müller"


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed_from_the_header(sep):
    t = read_lead_file("a.txt", f"Email{sep}Name\r\na@x.com{sep}Ann\r\n".encode())
    assert t.frame.loc[0, "Name"] == "Ann"


def test_quoted_newlines_crlf_empty_rows_and_true_row_numbers():
    data = b'Email,Note\r\na@x.com,"line one\r\nline two"\r\n,\r\nb@x.com,plain\r\n,\r\n'
    t = read_lead_file("a.csv", data)
    assert list(t.frame["Email"]) == ["a@x.com", "b@x.com"]
    assert t.frame.loc[0, "Note"] == "line one\r\nline two"
    assert list(t.frame["__row__"]) == [1, 3]  # the empty row 2 was dropped, numbering kept


def test_values_stay_text_and_empty_cells_are_missing():
    t = read_lead_file("a.csv", b"Email,Zip,Phone\na@x.com,01234,\n")
    assert t.frame.loc[0, "Zip"] == "01234" and t.frame.loc[0, "Phone"] is None


@pytest.mark.parametrize("data, message", [
    (b"", "the file is empty"),
    (b"Email,Name\n", "no data rows"),
    (b"Email,email\na,b\n", "duplicate column names"),
])
def test_unusable_csv_files(data, message):
    with pytest.raises(LeadFileError, match=message):
        read_lead_file("bad.csv", data)


def test_xlsx_dates_and_integers_become_clean_text():
    buf = io.BytesIO()
    pd.DataFrame({"Email": ["a@x.com"], "Created": [pd.Timestamp("2026-11-02")], "Employees": [250]}).to_excel(
        buf, index=False, sheet_name="Leads")
    t = read_lead_file("a.xlsx", buf.getvalue())
    assert t.frame.loc[0, ["Email", "Created", "Employees"]].tolist() == ["a@x.com", "2026-11-02", "250"]
    assert t.encoding == "xlsx"


def test_truncated_xlsx_names_the_file_and_the_fix():
    buf = io.BytesIO()
    pd.DataFrame({"Email": ["a@x.com"]}).to_excel(buf, index=False)
    with pytest.raises(LeadFileError, match=r"broken\.xlsx: not a valid XLSX workbook .* re-export"):
        read_lead_file("broken.xlsx", buf.getvalue()[:300])


def test_unknown_extension():
    with pytest.raises(LeadFileError, match="upload .csv, .txt, .tsv or .xlsx"):
        read_lead_file("leads.pdf", b"%PDF")


def test_seeded_leads_are_deterministic_and_decode_cleanly(tmp_path):
    a, b = demo_leads(500, seed=3), demo_leads(500, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == COLUMNS and a["Email"].is_unique
    t = read_lead_file("seed.csv", a.to_csv(index=False).encode())
    assert len(t.frame) == 500 and t.columns == COLUMNS

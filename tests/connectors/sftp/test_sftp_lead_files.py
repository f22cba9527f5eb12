"""Decoding lead files as suppliers really send them."""

import io
import zipfile
from datetime import date, datetime, time

import openpyxl
import pytest

from leadsync.connectors.sftp.errors import LeadFileError
from leadsync.connectors.sftp.lead_files import read_lead_file


def rows(table, *columns):
    return table.frame[list(columns)].values.tolist()


# ------------------------------------------------------------------------------------------ encodings


def test_utf8():
    t = read_lead_file("a.csv", "Email,Name\na@x.com,Zoë Müller\n".encode())
    assert t.encoding == "utf-8" and t.columns == ["Email", "Name"]
    assert rows(t, "Email", "Name", "__row__") == [["a@x.com", "Zoë Müller", 1]]


def test_utf8_with_bom_has_a_clean_first_header():
    t = read_lead_file("a.csv", "\ufeffEmail,Name\na@x.com,Zoë\n".encode())
    assert t.encoding == "utf-8-sig"
    assert t.columns == ["Email", "Name"] and list(t.frame.columns) == ["Email", "Name", "__row__"]
    assert t.frame.loc[0, "Email"] == "a@x.com"


def test_cp1252_round_trips_accents():
    t = read_lead_file("a.csv", "Email;Last Name;First Name\nz@x.fr;Müller;Zoë\n€@x.fr;Dvořák?;Ünal\n"
                       .replace("ř", "r").encode("cp1252"))
    assert t.encoding == "cp1252"
    assert rows(t, "Last Name", "First Name") == [["Müller", "Zoë"], ["Dvorák?", "Ünal"]]
    assert t.frame.loc[1, "Email"] == "€@x.fr"


def test_bytes_cp1252_leaves_undefined_fall_back_to_latin1():
    t = read_lead_file("a.csv", b"Email,Name\na@x.com,caf\xe9 \x81\n")
    assert t.encoding == "latin-1" and t.frame.loc[0, "Name"] == "café \x81"


# ------------------------------------------------------------------------------------------ layout


@pytest.mark.parametrize("name, sep", [("a.csv", ","), ("a.csv", ";"), ("a.tsv", "\t"), ("a.txt", "\t"),
                                       ("a.txt", "|")])
def test_delimiter_is_sniffed_from_the_header(name, sep):
    data = f"Email{sep}Name{sep}Note\r\na@x.com{sep}Ann{sep}x, y; z\r\n".encode()
    if sep in ",;":
        data = data.replace(b"x, y; z", b'"x, y; z"')
    t = read_lead_file(name, data)
    assert rows(t, "Email", "Name", "Note") == [["a@x.com", "Ann", "x, y; z"]]


def test_a_tsv_whose_header_has_as_many_commas_as_tabs():
    t = read_lead_file("a.tsv", b"Name, full\tEmail\nLee, Ann\ta@x.com\n")
    assert t.columns == ["Name, full", "Email"]


def test_a_single_column_file():
    t = read_lead_file("a.csv", b"Email\na@x.com\n\nb@x.com\n")
    assert rows(t, "Email", "__row__") == [["a@x.com", 1], ["b@x.com", 3]]


def test_a_delimiter_inside_quoted_header_names_does_not_fool_the_sniffer():
    t = read_lead_file("a.csv", b'"Name; full";"Email, work";Phone\nAnn;a@x.com;1\n')
    assert t.columns == ["Name; full", "Email, work", "Phone"]


def test_excel_sep_line_names_the_delimiter():
    t = read_lead_file("a.csv", b"sep=;\r\nEmail;Name,Full\r\na@x.com;Lee, Ann\r\n")
    assert t.columns == ["Email", "Name,Full"] and t.frame.loc[0, "Name,Full"] == "Lee, Ann"
    assert t.frame.loc[0, "__row__"] == 1


def test_crlf_quoted_newlines_and_mixed_case_headers_kept():
    data = b'EMail,first NAME,Note\r\na@x.com,Ann,"line one\r\nline two"\r\nb@x.com,Bob,"say ""hi"""\r\n'
    t = read_lead_file("a.csv", data)
    assert t.columns == ["EMail", "first NAME", "Note"]
    assert rows(t, "Note", "__row__") == [["line one\r\nline two", 1], ['say "hi"', 2]]


def test_a_quoted_newline_in_the_header():
    t = read_lead_file("a.csv", b'"Email\nAddress",Name\na@x.com,Ann\n')
    assert t.columns == ["Email\nAddress", "Name"] and t.frame.loc[0, "Name"] == "Ann"


def test_empty_rows_are_dropped_and_row_numbers_stay_true():
    data = (b"Email,Name\r\n"
            b"a@x.com,Ann\r\n"      # row 1
            b",\r\n"                # row 2: empty cells only
            b"\r\n"                 # row 3: a blank line
            b"   \r\n"              # row 4: spaces only
            b'b@x.com,"x\n\ny"\r\n'  # row 5, with a blank line inside quotes
            b" , \t\r\n"            # row 6: whitespace cells
            b"c@x.com,Cy\r\n"       # row 7
            b",\r\n,\r\n\r\n")      # trailing empty rows
    t = read_lead_file("a.csv", data)
    assert rows(t, "Email", "__row__") == [["a@x.com", 1], ["b@x.com", 5], ["c@x.com", 7]]
    assert t.frame.loc[1, "Name"] == "x\n\ny"
    assert list(t.frame.index) == [0, 1, 2]


def test_leading_blank_lines_before_the_header_are_skipped():
    t = read_lead_file("a.csv", b"\r\n\r\nEmail\r\na@x.com\r\n")
    assert rows(t, "Email", "__row__") == [["a@x.com", 1]]


def test_values_stay_text_and_only_empty_cells_are_missing():
    data = b"Email,Zip,Phone,Country,Note\na@x.com,01234,,NA,NULL\nb@x.com,  , ,N/A, x \n"
    t = read_lead_file("a.csv", data)
    first, second = t.frame.to_dict("records")
    assert first == {"Email": "a@x.com", "Zip": "01234", "Phone": None, "Country": "NA", "Note": "NULL",
                     "__row__": 1}
    assert second["Zip"] is None and second["Phone"] is None and second["Country"] == "N/A"
    assert second["Note"] == " x "  # values are not trimmed: that is the mapping's decision
    assert t.frame["Email"].dtype == object


def test_a_trailing_delimiter_adds_no_column():
    t = read_lead_file("a.csv", b"Email,Name,\na@x.com,Ann,\n")
    assert t.columns == ["Email", "Name"]


def test_header_names_are_trimmed():
    t = read_lead_file("a.csv", b" Email ,\tName \na@x.com,Ann\n")
    assert t.columns == ["Email", "Name"]


# ------------------------------------------------------------------------------------------ bad files


@pytest.mark.parametrize("data", [b"", b"\r\n \r\n", b"\xef\xbb\xbf"])
def test_an_empty_file_has_no_data_rows(data):
    with pytest.raises(LeadFileError, match=r"^empty\.csv: the file has no data rows \(it is empty"):
        read_lead_file("empty.csv", data)


@pytest.mark.parametrize("data", [b"Email,Name\n", b"Email,Name", b"Email,Name\r\n,\r\n\r\n  \r\n"])
def test_a_header_only_file_has_no_data_rows(data):
    with pytest.raises(LeadFileError, match=r"^h\.csv: the file has no data rows \(only a header row\)"):
        read_lead_file("h.csv", data)


def test_duplicate_headers_are_named():
    with pytest.raises(LeadFileError, match=r"d\.csv: duplicate column names in the header row: 'Email' "
                                            r"\(column 1\) and 'email' \(column 3\); .*rename or remove"):
        read_lead_file("d.csv", b"Email,Name,email\na,b,c\n")


def test_values_under_a_nameless_column_are_refused():
    nameless = r"n\.csv: column 2 has values \(first in data row 2\) but no name"
    with pytest.raises(LeadFileError, match=nameless):
        read_lead_file("n.csv", b"Email,,Name\na,,b\nc,oops,d\n")


def test_a_row_with_too_many_columns_is_refused_with_the_fix():
    with pytest.raises(LeadFileError, match=r"r\.csv: cannot read the file as comma-separated values \(a row "
                                            r".*has 3 columns where the header has 2.*must be quoted"):
        read_lead_file("r.csv", b"Email,Name\na@x.com,Lee, Ann\n")


def test_unknown_extension():
    unsupported = r"leads\.pdf: unsupported file type; .*\.csv, \.txt, \.tsv or \.xlsx"
    with pytest.raises(LeadFileError, match=unsupported):
        read_lead_file("leads.pdf", b"%PDF")


# ------------------------------------------------------------------------------------------ xlsx


def xlsx(sheets: dict[str, list[list]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, sheet_rows in sheets.items():
        sheet = book.create_sheet(title)
        for r in sheet_rows:
            sheet.append(r)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def test_xlsx_values_become_the_text_excel_shows():
    data = xlsx({"Leads": [
        ["Email", "Created", "Seen At", "Employees", "Revenue", "Zip", "Active", "Start"],
        ["a@x.com", date(2026, 11, 2), datetime(2026, 11, 2, 14, 30, 5), 250, 1.5, "01234", True,
         time(9, 30)],
        ["b@x.com", datetime(2026, 1, 31), None, 12.0, None, None, False, None],
    ]})
    t = read_lead_file("a.xlsx", data)
    assert t.encoding == "xlsx"
    assert t.frame.to_dict("records") == [
        {"Email": "a@x.com", "Created": "2026-11-02", "Seen At": "2026-11-02T14:30:05", "Employees": "250",
         "Revenue": "1.5", "Zip": "01234", "Active": "TRUE", "Start": "09:30:00", "__row__": 1},
        {"Email": "b@x.com", "Created": "2026-01-31", "Seen At": None, "Employees": "12", "Revenue": None,
         "Zip": None, "Active": "FALSE", "Start": None, "__row__": 2},
    ]


def test_xlsx_header_is_the_first_non_empty_row_and_empty_rows_keep_numbering():
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["B3"], sheet["C3"] = "Email", "Name"
    sheet["B4"], sheet["C4"] = "a@x.com", "Ann"
    sheet["B7"] = "b@x.com"  # rows 5 and 6 (data rows 2 and 3) are empty
    sheet["C8"] = "   "
    buf = io.BytesIO()
    book.save(buf)
    t = read_lead_file("a.xlsx", buf.getvalue())
    assert t.columns == ["Email", "Name"]
    assert rows(t, "Email", "Name", "__row__") == [["a@x.com", "Ann", 1], ["b@x.com", None, 4]]


def test_xlsx_with_a_wrong_recorded_size_is_read_in_full():
    data = xlsx({"Leads": [["Email", "Name"], ["a@x.com", "Ann"], ["b@x.com", "Bob"]]})
    lied = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(lied, "w") as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                assert b'<dimension ref="A1:B3"/>' in body
                body = body.replace(b'<dimension ref="A1:B3"/>', b'<dimension ref="A1"/>')
            dst.writestr(item, body)
    t = read_lead_file("a.xlsx", lied.getvalue())
    assert rows(t, "Email", "Name", "__row__") == [["a@x.com", "Ann", 1], ["b@x.com", "Bob", 2]]


def test_xlsx_prefers_a_sheet_named_leads():
    data = xlsx({"Notes": [["Read me"], ["first"]], "leads": [["Email"], ["a@x.com"]]})
    assert read_lead_file("a.xlsx", data).columns == ["Email"]
    data = xlsx({"Export": [["Email"], ["a@x.com"]], "Other": [["Nope"], ["x"]]})
    assert read_lead_file("a.xlsx", data).columns == ["Email"]


@pytest.mark.parametrize("sheet_rows, message", [
    ([], r"e\.xlsx: the file has no data rows \(sheet 'Leads' is empty\)"),
    ([["Email", "Name"]], r"e\.xlsx: the file has no data rows \(only a header row\)"),
    ([["Email", "email"], ["a", "b"]], r"e\.xlsx: duplicate column names"),
])
def test_unusable_xlsx_files(sheet_rows, message):
    with pytest.raises(LeadFileError, match=message):
        read_lead_file("e.xlsx", xlsx({"Leads": sheet_rows}))


def test_truncated_xlsx_names_the_file_and_the_fix():
    data = xlsx({"Leads": [["Email"], ["a@x.com"]]})
    corrupt = (r"^broken\.xlsx: not a valid XLSX workbook \(the file is truncated or corrupt: "
               r"BadZipFile.*\); re-export it from Excel and upload")
    with pytest.raises(LeadFileError, match=corrupt):
        read_lead_file("broken.xlsx", data[: len(data) // 2])


def test_xlsx_with_a_damaged_sheet_is_refused():
    data = xlsx({"Leads": [["Email"], ["a@x.com"]]})
    damaged = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                body = body[: len(body) // 2]  # XML cut off mid-element
            dst.writestr(item, body)
    with pytest.raises(LeadFileError, match=r"bad\.xlsx: not a valid XLSX workbook"):
        read_lead_file("bad.xlsx", damaged.getvalue())


def test_a_csv_renamed_to_xlsx_is_refused():
    with pytest.raises(LeadFileError, match="not a valid XLSX workbook"):
        read_lead_file("leads.xlsx", b"Email\na@x.com\n")


def test_xlsx_rows_are_read_a_block_at_a_time(monkeypatch):
    from leadsync.connectors.sftp import lead_xlsx
    from leadsync.connectors.sftp.lead_files import open_lead_file

    monkeypatch.setattr(lead_xlsx, "BLOCK_ROWS", 10)
    data = xlsx({"Leads": [["Email", "Name"], *[[f"p{i}@x.com", f"N{i}"] for i in range(35)]]})
    with open_lead_file("a.xlsx", data) as reader:
        sizes = [block.rows.num_rows for block in reader]
    assert sizes == [10, 10, 10, 5]


def test_xlsx_value_right_of_the_header_names_the_column_and_row():
    data = xlsx({"Leads": [["Email", "Name"], ["a@x.com", "Ann"], ["b@x.com", "Bob", "stray"]]})
    with pytest.raises(LeadFileError, match=r"e\.xlsx: column 3 has values \(first in data row 2\) but no name"):
        read_lead_file("e.xlsx", data)


def test_xlsx_inflating_past_the_limit_is_refused_before_reading():
    from leadsync.connectors.sftp.errors import LeadFileLimitError
    from leadsync.connectors.sftp.lead_files import open_lead_file

    data = xlsx({"Leads": [["Email"], *[[f"p{i}@x.com"] for i in range(200)]]})
    refused = r"inflates to [0-9,]+ bytes, over the file limit of 1,000 \(files\.max_file_bytes"
    with pytest.raises(LeadFileLimitError, match=refused), open_lead_file("big.xlsx", data, max_bytes=1000):
        pass

"""Parse delimited lead files (CSV/TXT/TSV) as suppliers send them into an Arrow table of strings.

Handles UTF-8 with or without BOM, cp1252 (older Excel "CSV" on Windows), `,` `;` TAB `|` delimiters,
CRLF, quoted values with line breaks and Excel's "sep=;" first line. pyarrow does the parsing: a million
rows take about a second, where Python's csv module would take many.
"""

from __future__ import annotations

import csv
import io
import re

import pyarrow as pa
import pyarrow.csv as pacsv

from connectors.sftp.errors import LeadFileError

DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
UTF8_BOM = b"\xef\xbb\xbf"
_BLANK = b" \t\r\n" + UTF8_BOM

_LEADING_BLANK_LINES = re.compile(rb"\A(?:[ \t]*(?:\r\n|\n|\r))+")
# A line holding only spaces or tabs: pyarrow would see a row with one column. Emptying it makes it an
# all-empty row, which is dropped later without shifting the row numbers of the rows after it.
_WHITESPACE_LINE = re.compile(rb"\n[ \t]+(?=\r?\n)")
_QUOTED = re.compile(r'"[^"]*"')
_SEP_HINT = re.compile(r"^sep=(.)$", re.IGNORECASE)


def to_utf8(data: bytes) -> tuple[bytes, str]:
    """The file's bytes as UTF-8 without BOM, and the encoding they came in."""
    if data.startswith(UTF8_BOM):
        try:
            data[3:].decode("utf-8")
            return data[3:], "utf-8-sig"
        except UnicodeDecodeError:
            data = data[3:]  # a BOM in front of non-UTF-8 text: the BOM lies, trust the bytes
    try:
        data.decode("utf-8")
        return data, "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252").encode("utf-8"), "cp1252"
    except UnicodeDecodeError:  # cp1252 leaves five byte values undefined; latin-1 maps every byte
        return data.decode("latin-1").encode("utf-8"), "latin-1"


def split_header(utf8: bytes) -> tuple[str, int]:
    """The first record (quoted line breaks allowed) and the offset where the next one starts.

    Scanning bytes is safe: quote and line-break bytes never occur inside UTF-8 multi-byte characters."""
    in_quotes = False
    for i, byte in enumerate(utf8):
        if byte == 0x22:
            in_quotes = not in_quotes  # a doubled "" toggles twice, which is right
        elif byte in (0x0A, 0x0D) and not in_quotes:
            end = i + 2 if utf8[i:i + 2] == b"\r\n" else i + 1
            return utf8[:i].decode("utf-8"), end
    return utf8.decode("utf-8"), len(utf8)


def sniff_delimiter(header: str, name: str) -> str:
    """The candidate delimiter that occurs most often in the header outside quotes; on a tie the one the
    extension suggests (TAB for .tsv), then the order of DELIMITERS."""
    bare = _QUOTED.sub("", header)
    candidates = DELIMITERS
    if name.lower().endswith(".tsv"):
        candidates = ("\t", *(d for d in DELIMITERS if d != "\t"))
    return max(candidates, key=bare.count)  # max keeps the first of equals; no delimiter at all: one column


def read_delimited(name: str, data: bytes) -> tuple[list[str], pa.Table, str]:
    """Header names as written, the data rows as an all-string Arrow table (empty cells null; empty rows
    kept, so row i of the table is data row i + 1 of the file), and the detected encoding."""
    if not data[:4096].strip(_BLANK) and not data.strip(_BLANK):  # the slice spares copying big files
        raise LeadFileError(f"{name}: the file has no data rows (it is empty, {len(data)} bytes); upload "
                            "a file with a header row and at least one lead")
    utf8, encoding = to_utf8(data)
    leading = _LEADING_BLANK_LINES.match(utf8)
    if leading:
        utf8 = utf8[leading.end():]
    if _WHITESPACE_LINE.search(utf8):
        utf8 = _WHITESPACE_LINE.sub(b"\n", utf8)

    header_text, start = split_header(utf8)
    hint = _SEP_HINT.match(header_text.strip())
    if hint:  # Excel's "sep=;" line names the delimiter; the header follows it
        delimiter = hint.group(1)
        utf8 = utf8[start:]
        header_text, start = split_header(utf8)
    else:
        delimiter = sniff_delimiter(header_text, name)
    header = next(csv.reader(io.StringIO(header_text, newline=""), delimiter=delimiter), [])
    if not any(h.strip() for h in header):
        raise LeadFileError(f"{name}: the header row is empty; the first line must name the columns")

    if not utf8[start:start + 4096].strip(_BLANK) and not utf8[start:].strip(_BLANK):
        raise LeadFileError(f"{name}: the file has no data rows (only a header row); upload a file with at "
                            "least one lead below the header")

    names = [f"c{i}" for i in range(len(header))]
    invalid: list[pacsv.InvalidRow] = []

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        if not row.text.strip():
            return "skip"  # a whitespace-only last line without a line break
        invalid.append(row)
        return "error"

    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(utf8)[start:]),
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 22),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                             ignore_empty_lines=False, invalid_row_handler=on_invalid_row),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in names},
                # Only an empty cell is missing: "NA" is Namibia and "NULL" may be someone's name.
                null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True),
        )
    except pa.ArrowInvalid as exc:
        what = DELIMITER_NAMES[delimiter] if delimiter in DELIMITER_NAMES else repr(delimiter)
        if invalid:
            row = invalid[0]
            where = f" at line {row.number}" if row.number else ""
            detail = (f"a row{where} has {row.actual_columns} columns where the header has "
                      f"{row.expected_columns}: {row.text[:120]!r}")
        else:
            detail = str(exc)
        raise LeadFileError(f"{name}: cannot read the file as {what}-separated values ({detail}); every row "
                            "needs as many columns as the header and values containing the delimiter must "
                            "be quoted. Fix the file and upload it again") from None
    return header, table, encoding

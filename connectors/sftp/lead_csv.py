"""Parse delimited lead files (CSV/TXT/TSV) as suppliers send them into Arrow tables of strings, a block at a
time.

Handles UTF-8 with or without BOM, cp1252 (older Excel "CSV" on Windows), `,` `;` TAB `|` delimiters,
CRLF, quoted values with line breaks and Excel's "sep=;" first line. pyarrow does the parsing: a million
rows take about a second, where Python's csv module would take many.

The file is read as a stream, so memory stays flat whatever its size: one pass over the file decides the
encoding (the whole file must be valid UTF-8 to be read as UTF-8), a second transcodes it in chunks, empties
whitespace-only lines, splits off the header and hands the rest to pyarrow's streaming reader, which
parses one block at a time.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv

from leadsync.connectors.sftp.errors import LeadFileError
from leadsync.connectors.sftp.mixed_encoding import (
    MAX_STRAY_LINES,
    StrayLine,
    count_lines,
    line_chunks,
    replace_lines,
    stray_lines,
)

DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# Separators some exports use that leadsync does not read: a one-column header split by one of them is
# named as such, rather than reported later as "missing required columns".
UNSUPPORTED_DELIMITERS = (":", "~", "^", "#", "!", "*", "/", "\\")
UTF8_BOM = b"\xef\xbb\xbf"
_BLANK = b" \t\r\n" + UTF8_BOM
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")  # latin-1 maps every byte

CHUNK = 1 << 22  # bytes read from the file at a time
# pyarrow's streaming reader parses a block of this many bytes into one record batch, and reads up to 32
# blocks ahead: 1 MiB blocks keep that read-ahead small without parsing any slower.
BLOCK = 1 << 20
BATCH = 1 << 23  # record batches are handed on in tables of about this many bytes (fewer, larger inserts)
HEADER_LIMIT = 1 << 24  # a "header" longer than this is an unclosed quote, not column names

_LEADING_BLANK_LINES = re.compile(rb"\A(?:[ \t]*(?:\r\n|\n|\r))+")
# A line holding only spaces or tabs: pyarrow would see a row with one column. Emptying it makes it an
# all-empty row, which is dropped later without shifting the row numbers of the rows after it.
_WHITESPACE_LINE = re.compile(rb"\n[ \t]+(?=\r?\n)")
_NOT_WHITESPACE = re.compile(rb"[^ \t\r\n]")
_NOT_BLANK = re.compile(rb"[^ \t\r\n\xef\xbb\xbf]")  # _BLANK's complement
_QUOTED = re.compile(r'"[^"]*"')
_SEP_HINT = re.compile(r"^sep=(.)$", re.IGNORECASE)


def detect_encoding(name: str, source: BinaryIO) -> tuple[str, int]:
    """The encoding of the whole file and the offset where its text starts (after a BOM), in one pass.

    UTF-8 with a BOM is "utf-8-sig", without one "utf-8"; anything else is cp1252, or latin-1 where it has
    one of the five bytes cp1252 leaves undefined. A BOM in front of non-UTF-8 text lies and is skipped."""
    source.seek(0)
    bom = source.read(len(UTF8_BOM)) == UTF8_BOM
    start = len(UTF8_BOM) if bom else 0
    source.seek(start)
    size, blank, utf8, cp1252 = start, True, True, True
    carry = b""  # a UTF-8 sequence the last chunk cut off, checked with the next
    while chunk := source.read(CHUNK):
        size += len(chunk)
        if blank and _NOT_BLANK.search(chunk):
            blank = False
        if utf8:
            text = carry + chunk if carry else chunk
            whole = _whole_sequences(text)
            utf8, carry = _valid_utf8(memoryview(text)[:whole]), text[whole:]
        if cp1252 and any(byte in chunk for byte in _CP1252_UNDEFINED):
            cp1252 = False
    if carry:
        utf8 = False  # a multi-byte character cut off at the end
    if blank:
        raise LeadFileError(f"{name}: the file has no data rows (it is empty, {size} bytes); upload a file "
                            "with a header row and at least one lead")
    if utf8:
        return ("utf-8-sig" if bom else "utf-8"), start
    return ("cp1252" if cp1252 else "latin-1"), start


def _whole_sequences(data: bytes) -> int:
    """The length of `data` without its last UTF-8 sequence if a chunk boundary cut that one short."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # not a continuation byte: the last sequence starts here
            needs = 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4 if byte >> 3 == 0b11110 else 1
            return len(data) - back if needs > back else len(data)
    return len(data)  # continuation bytes only: invalid, which the check says


def _valid_utf8(data: memoryview) -> bool:
    """Whether `data` is valid UTF-8 (what Python's strict codec accepts: no surrogates, no overlong forms),
    checked by Arrow's vectorised validator without decoding: a tenth of the CPU of bytes.decode."""
    offsets = pa.py_buffer(struct.pack("<ii", 0, len(data)))
    try:
        pa.StringArray.from_buffers(1, offsets, pa.py_buffer(data)).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


# The first cell of a row standing in for a line set aside (not in the file's encoding): the reader takes
# these rows out, keeping their true row numbers, before anything else sees them.
STRAY_ROW = "\x1eleadsync:line-not-in-file-encoding:"


@dataclass
class EncodingChoice:
    encoding: str
    start: int  # where the text starts (after a BOM)
    stray: dict[int, StrayLine] = field(default_factory=dict)  # lines in `stray_encoding` instead
    stray_encoding: str | None = None


def choose_encoding(name: str, source: BinaryIO) -> EncodingChoice:
    """detect_encoding, and for a file that is not UTF-8 as a whole, the lines it holds in the other
    encoding: the file's encoding is the one most of its non-ASCII lines are in; the others are set aside."""
    encoding, start = detect_encoding(name, source)
    if encoding.startswith("utf-8"):
        return EncodingChoice(encoding, start)
    counts = count_lines(source, start)
    if counts.utf8 == 0:
        return EncodingChoice(encoding, start)
    majority, minority = ("utf-8", encoding) if counts.utf8 >= counts.other else (encoding, "utf-8")
    stray = stray_lines(source, start, majority, minority)
    if len(stray) > MAX_STRAY_LINES:
        raise LeadFileError(f"{name}: the file mixes encodings ({counts.utf8:,} lines in UTF-8, {counts.other:,} "
                            f"in {encoding}); save it in one encoding (UTF-8) and upload it again")
    return EncodingChoice(majority, start, stray, minority)


def _utf8_pieces(raw_chunks: Iterable[bytes], encoding: str, errors: str = "strict") -> Iterator[bytes]:
    """The text as UTF-8, in pieces that end just after a line feed (only the last may not), so that a
    whitespace-only line is never split between two pieces."""
    carry = b""
    transcode = encoding not in ("utf-8", "utf-8-sig")
    for raw in raw_chunks:
        if not transcode and errors != "strict":
            raw = raw.decode("utf-8", errors).encode("utf-8")  # a header peek past lines set aside
        text = raw.decode(encoding, errors).encode("utf-8") if transcode else raw  # single-byte codecs: no state
        buf = carry + text if carry else text
        cut = buf.rfind(b"\n") + 1
        if cut == 0 and not buf.translate(None, b" \t\r"):
            carry = buf  # spaces only so far: they may yet turn out to be a whitespace-only line
            continue
        if cut == 0:
            cut = len(buf)  # a long line, or a file with CR line ends: no whitespace-only line to find
        yield buf[:cut]
        carry = buf[cut:]
    if carry:
        yield carry


def _cleaned(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """Leading blank lines dropped, whitespace-only lines emptied: what one regex over the whole text does."""
    head = b""
    for piece in pieces:
        head += piece
        if _NOT_WHITESPACE.search(head):
            break
    leading = _LEADING_BLANK_LINES.match(head)
    if leading:
        head = head[leading.end():]
    after_line_feed = False  # the first line has no line feed before it
    for piece in itertools.chain((head,), pieces):
        if not piece:
            continue
        if piece[:1] in (b" ", b"\t") and after_line_feed:  # a whitespace-only line may start the piece
            yield _WHITESPACE_LINE.sub(b"\n", b"\n" + piece)[1:]
        elif _WHITESPACE_LINE.search(piece):
            yield _WHITESPACE_LINE.sub(b"\n", piece)
        else:
            yield piece
        after_line_feed = piece.endswith(b"\n")


class _TextStream(io.RawIOBase):
    """The remaining pieces as a readable file for pyarrow."""

    def __init__(self, first: bytes, pieces: Iterator[bytes]):
        self._pending, self._offset = first, 0
        self._pieces = pieces

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        parts, have = [], 0
        while size < 0 or have < size:
            if self._offset >= len(self._pending):
                self._pending, self._offset = next(self._pieces, b""), 0
                if not self._pending:
                    break
            end = len(self._pending) if size < 0 else min(len(self._pending), self._offset + size - have)
            if self._offset == 0 and end == len(self._pending):
                parts.append(self._pending)  # the whole piece: no copy
            else:
                parts.append(self._pending[self._offset:end])
            have += end - self._offset
            self._offset = end
        return parts[0] if len(parts) == 1 else b"".join(parts)


def _record_end(buf: bytes) -> tuple[int, int] | None:
    """(start of the line break ending the first record, start of the next record), or None while the
    record is not complete. Quote and line-break bytes never occur inside UTF-8 multi-byte characters."""
    i, in_quotes = 0, False
    while True:
        if in_quotes:
            j = buf.find(b'"', i)
            if j < 0:
                return None
            in_quotes, i = False, j + 1  # a doubled "" toggles twice, which is right
            continue
        hits = [p for p in (buf.find(b'"', i), buf.find(b"\n", i), buf.find(b"\r", i)) if p >= 0]
        if not hits:
            return None
        j = min(hits)
        if buf[j] == 0x22:
            in_quotes, i = True, j + 1
        else:
            return j, (j + 2 if buf[j:j + 2] == b"\r\n" else j + 1)


def _take_record(name: str, buf: bytes, pieces: Iterator[bytes]) -> tuple[str, bytes]:
    """The first record of the text (quoted line breaks allowed) and what follows it."""
    while True:
        end = _record_end(buf)
        if end is not None and end[1] < len(buf):  # (a CR at the very end may be half of a CRLF)
            return buf[:end[0]].decode("utf-8"), buf[end[1]:]
        more = next(pieces, None)
        if more is None:
            if end is not None:
                return buf[:end[0]].decode("utf-8"), buf[end[1]:]
            return buf.decode("utf-8"), b""
        if len(buf) > HEADER_LIMIT:
            raise LeadFileError(f"{name}: the header row does not end within {HEADER_LIMIT >> 20} MiB (a quote "
                                "opened in it is never closed?); check the quotes in the first line")
        buf += more


def sniff_delimiter(header: str, name: str) -> str:
    """The candidate delimiter that occurs most often in the header outside quotes; on a tie the one the
    extension suggests (TAB for .tsv), then the order of DELIMITERS."""
    bare = _QUOTED.sub("", header)
    candidates = DELIMITERS
    if name.lower().endswith(".tsv"):
        candidates = ("\t", *(d for d in DELIMITERS if d != "\t"))
    return max(candidates, key=bare.count)  # max keeps the first of equals; no delimiter at all: one column


def unsupported_delimiter(header: list[str], names: int = 2) -> str | None:
    """The unsupported separator that splits a one-column header into at least `names` names, or None."""
    if len(header) != 1:
        return None
    bare = _QUOTED.sub("", header[0])
    counts = {d: bare.count(d) for d in UNSUPPORTED_DELIMITERS}
    found = max(counts, key=counts.get)
    if counts[found] and sum(1 for part in bare.split(found) if part.strip()) >= names:
        return found
    return None


def unsupported_delimiter_error(name: str, header: list[str], delimiter: str) -> LeadFileError:
    return LeadFileError(f"{name}: the delimiter {delimiter!r} is not supported; use , ; TAB or | (the header row "
                         f"{header[0][:80]!r} reads as one column). Export the file again with one of those "
                         "and upload it again")


def _refuse_unsupported_delimiter(name: str, header: list[str]) -> None:
    """A header read as one column that an unsupported separator splits into three names or more (two could
    be one name with a colon, "Email: work"; the pull names the delimiter then if the mapping's columns are
    missing)."""
    found = unsupported_delimiter(header, names=3)
    if found is not None:
        raise unsupported_delimiter_error(name, header, found)


class DelimitedReader:
    """A delimited lead file opened for reading: the header names as written, the detected encoding, and
    the data rows as all-string tables (c0, c1, …; empty cells null; empty rows kept, so row i overall is
    data row i + 1 of the file), read while iterating. Iterate once."""

    def __init__(self, name: str, source: BinaryIO):
        self.name = name
        choice = choose_encoding(name, source)
        self.encoding, start = choice.encoding, choice.start
        self.stray, self.stray_encoding = choice.stray, choice.stray_encoding
        if self.stray:  # a peek at the header first: the rows standing in for stray lines need its shape
            source.seek(start)
            peek = _cleaned(_utf8_pieces(iter(lambda: source.read(CHUNK), b""), self.encoding, errors="replace"))
            _, header_text, delimiter, header = self._read_header(peek)
            first_line = self._header_line(source, start)
            last_line = first_line + header_text.count("\n")
            if min(self.stray) <= last_line:
                raise LeadFileError(f"{name}: the header row is in {self.stray_encoding} while the rows are in "
                                    f"{self.encoding}; save the file in one encoding (UTF-8) and upload it again")
            stand_ins = {n: (STRAY_ROW + str(n) + delimiter * (len(header) - 1)).encode("ascii") for n in self.stray}
            raw = replace_lines(line_chunks(source, start), stand_ins)
        else:
            source.seek(start)
            raw = iter(lambda: source.read(CHUNK), b"")
        pieces = _cleaned(_utf8_pieces(raw, self.encoding))
        rest, _, self.delimiter, self.header = self._read_header(pieces)
        if not any(h.strip() for h in self.header):
            raise LeadFileError(f"{name}: the header row is empty; the first line must name the columns")
        _refuse_unsupported_delimiter(name, self.header)

        while not _NOT_BLANK.search(rest):  # peek past blank lines, keeping them: they count as rows
            more = next(pieces, None)
            if more is None:
                raise LeadFileError(f"{name}: the file has no data rows (only a header row); upload a file "
                                    "with at least one lead below the header")
            rest += more
        self._stream = _TextStream(rest, pieces)

    def _read_header(self, pieces: Iterator[bytes]) -> tuple[bytes, str, str, list[str]]:
        """(text after the header, the header's text, the delimiter, the header's names)."""
        header_text, rest = _take_record(self.name, b"", pieces)
        hint = _SEP_HINT.match(header_text.strip())
        if hint:  # Excel's "sep=;" line names the delimiter; the header follows it
            delimiter = hint.group(1)
            header_text, rest = _take_record(self.name, rest, pieces)
        else:
            delimiter = sniff_delimiter(header_text, self.name)
        header = next(csv.reader(io.StringIO(header_text, newline=""), delimiter=delimiter), [])
        self._sep_line = bool(hint)
        return rest, header_text, delimiter, header

    def _header_line(self, source: BinaryIO, start: int) -> int:
        """The 1-based line where the header starts (after blank lines and a "sep=" line)."""
        source.seek(start)
        head = source.read(1 << 16)
        leading = _LEADING_BLANK_LINES.match(head)
        blank = head[:leading.end()].count(b"\n") if leading else 0
        return blank + 1 + (1 if self._sep_line else 0)

    def __iter__(self) -> Iterator[pa.Table]:
        """The data rows in tables of about BATCH bytes (the last one may be smaller)."""
        names = [f"c{i}" for i in range(len(self.header))]
        invalid: list[pacsv.InvalidRow] = []

        def on_invalid_row(row: pacsv.InvalidRow) -> str:
            if not row.text.strip():
                return "skip"  # a whitespace-only last line without a line break
            invalid.append(row)
            return "error"

        batches: list[pa.RecordBatch] = []
        size = 0
        try:
            reader = pacsv.open_csv(
                self._stream,
                read_options=pacsv.ReadOptions(column_names=names, block_size=BLOCK),
                parse_options=pacsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True,
                                                 ignore_empty_lines=False, invalid_row_handler=on_invalid_row),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.string() for c in names},
                    # Only an empty cell is missing: "NA" is Namibia and "NULL" may be someone's name.
                    null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True),
            )
            for batch in reader:
                batches.append(batch)
                size += batch.nbytes
                if size >= BATCH:
                    yield pa.Table.from_batches(batches, reader.schema)
                    batches, size = [], 0
        except pa.ArrowInvalid as exc:
            raise self._unreadable(exc, invalid) from None
        if batches:
            yield pa.Table.from_batches(batches, reader.schema)

    def _unreadable(self, exc: pa.ArrowInvalid, invalid: list[pacsv.InvalidRow]) -> LeadFileError:
        delimiter = self.delimiter
        what = DELIMITER_NAMES[delimiter] if delimiter in DELIMITER_NAMES else repr(delimiter)
        if invalid:
            row = invalid[0]
            where = f" at line {row.number}" if row.number else ""
            detail = (f"a row{where} has {row.actual_columns} columns where the header has "
                      f"{row.expected_columns}: {row.text[:120]!r}")
        elif "straddl" in str(exc):  # pyarrow: one row spans more than a whole block
            detail = (f"a row is longer than {BLOCK:,} bytes; most likely a quote opened in it is never "
                      "closed, else a value far over any field's max_length")
        else:
            detail = str(exc)
        return LeadFileError(f"{self.name}: cannot read the file as {what}-separated values ({detail}); every "
                             "row needs as many columns as the header and values containing the delimiter "
                             "must be quoted. Fix the file and upload it again")

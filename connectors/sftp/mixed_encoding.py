"""Files that mix two encodings line by line: most lines cp1252 and one pasted in as UTF-8, or the reverse.

Decoding such a file whole in either encoding turns the other lines into mojibake ("ZoÃ©") that then reaches
the lead, the partner's email and the write-back. Instead the file is decoded in the encoding most of its
non-ASCII lines are in, and each line in the other one is set aside with its line number, the bytes that
give it away and its text as it was typed (decoded in its own encoding), to be quarantined.

The scan runs only on files that are not valid UTF-8 as a whole, and reads them in chunks that end at a line
feed: chunks that decode as UTF-8, or hold no UTF-8 sequence at all, are counted with one regex each; only
chunks holding both kinds are looked at line by line, and lines are recorded only when both kinds occur.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

HIGH_LINE = re.compile(rb"[^\n]*[\x80-\xff][^\n]*")
_HIGH = re.compile(rb"[\x80-\xff]")
_HIGH_RUN = re.compile(rb"[\x80-\xff]+")
# A well-formed UTF-8 multi-byte character; cp1252 text almost never holds one ("Ã©" is mojibake).
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
MAX_STRAY_LINES = 10_000
CHUNK = 1 << 22


@dataclass(frozen=True)
class StrayLine:
    """A line not in the file's encoding."""

    line: int  # 1-based line of the file
    offending: bytes  # its first run of non-ASCII bytes
    text: str  # the line decoded in its own encoding


@dataclass
class LineCounts:
    utf8: int = 0  # non-ASCII lines that are valid UTF-8
    other: int = 0  # lines with bytes that are not UTF-8
    stray: dict[int, StrayLine] = field(default_factory=dict)


def line_chunks(source: BinaryIO, start: int) -> Iterator[tuple[int, bytes]]:
    """(lines before the chunk, chunk) over the file from `start`, each chunk ending at a line feed (but
    the last)."""
    source.seek(start)
    carry, lines = b"", 0
    while raw := source.read(CHUNK):
        buf = carry + raw
        cut = buf.rfind(b"\n") + 1
        if cut == 0:
            carry = buf
            continue
        yield lines, buf[:cut]
        lines += buf.count(b"\n", 0, cut)
        carry = buf[cut:]
    if carry:
        yield lines, carry


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _lines(lines_before: int, chunk: bytes) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) of the chunk's non-ASCII lines."""
    number, at = lines_before + 1, 0
    for match in HIGH_LINE.finditer(chunk):
        number += chunk.count(b"\n", at, match.start())
        at = match.start()
        yield number, match.group()


def count_lines(source: BinaryIO, start: int) -> LineCounts:
    """How many non-ASCII lines are UTF-8 and how many are not."""
    counts = LineCounts()
    for before, chunk in line_chunks(source, start):
        if not _HIGH.search(chunk):
            continue
        if _is_utf8(chunk):
            counts.utf8 += len(HIGH_LINE.findall(chunk))
        elif not _UTF8_SEQUENCE.search(chunk):
            counts.other += len(HIGH_LINE.findall(chunk))
        else:
            for _, line in _lines(before, chunk):
                if _is_utf8(line):
                    counts.utf8 += 1
                else:
                    counts.other += 1
    return counts


def stray_lines(source: BinaryIO, start: int, majority: str, minority: str) -> dict[int, StrayLine]:
    """The lines in `minority` ("utf-8" or the single-byte encoding) of a file mostly in `majority`."""
    want_utf8 = minority == "utf-8"
    found: dict[int, StrayLine] = {}
    for before, chunk in line_chunks(source, start):
        if not _HIGH.search(chunk):
            continue
        for number, line in _lines(before, chunk):
            if _is_utf8(line) == want_utf8:
                text = line.rstrip(b"\r").decode(minority, errors="replace")
                found[number] = StrayLine(number, _HIGH_RUN.search(line).group()[:8], text)
                if len(found) > MAX_STRAY_LINES:
                    return found
    return found


def replace_lines(chunks: Iterator[tuple[int, bytes]], replacements: dict[int, bytes]) -> Iterator[bytes]:
    """The chunks with the given lines' content (not their line break) replaced."""
    for before, chunk in chunks:
        last = before + chunk.count(b"\n") + 1
        if not any(before < n <= last for n in replacements):  # (checked per chunk: at most MAX_STRAY_LINES)
            yield chunk
            continue
        lines = chunk.split(b"\n")
        for i in range(len(lines)):
            new = replacements.get(before + 1 + i)
            if new is not None:
                lines[i] = new + (b"\r" if lines[i].endswith(b"\r") else b"")
        yield b"\n".join(lines)

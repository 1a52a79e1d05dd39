"""CSV in and out: files organisers upload (a list to import) and files they download
(subscribers, signatures, a partner's supporters), safe to open in a spreadsheet.

    csv_stream(header, rows)        -> the lines of a CSV, one at a time, for a StreamingHttpResponse
    csv_safe(value)                 -> one cell that a spreadsheet will not run as a formula
    csv_lines(data, encoding)       -> an uploaded file's rows with the line each starts on
    has_undecodable(cells)          -> whether a row read by csv_lines held bytes not in the encoding
"""

import csv
import io
import re
from collections.abc import Iterable, Iterator

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of undecodable bytes


def csv_safe(value) -> str:
    text = "" if value is None else str(value)
    # A leading apostrophe makes Excel, LibreOffice and Google Sheets treat the cell as text.
    return "'" + text if text.startswith(_FORMULA_START) else text


class _Echo:
    """csv.writer's file: hands each written row back, for streaming."""

    def write(self, value):
        return value


def csv_stream(header: list[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """The header, then each row, as CSV lines; every cell of a row goes through csv_safe
    (cells starting = + - @ are neutralised against spreadsheet formula injection)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([csv_safe(value) for value in row])


def _text(data: bytes, encoding: str) -> str:
    # utf-8-sig drops the byte-order mark Excel writes; undecodable bytes become lone surrogates,
    # so the row holding them can be reported while the rest of the file imports.
    codec = "utf-8-sig" if encoding.replace("_", "-").lower() in ("utf-8", "utf8") else encoding
    return data.decode(codec, errors="surrogateescape")


def has_undecodable(cells: list[str]) -> bool:
    return bool(_UNDECODABLE.search("".join(cells)))


def csv_lines(data: bytes, encoding: str) -> Iterator[tuple[int, list[str] | None]]:
    """(line number where the row starts, its cells), or (line, None) for a row the CSV reader
    cannot parse. Blank lines are left out."""
    reader = csv.reader(io.StringIO(_text(data, encoding), newline=""))
    previous = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield previous + 1, None
            if reader.line_num == previous:
                return
            previous = reader.line_num
            continue
        start, previous = previous + 1, reader.line_num
        if row and any(cell.strip() for cell in row):
            yield start, row

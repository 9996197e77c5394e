"""Reading an exported CSV file: encoding, delimiter, quoted fields, line numbers.

- Encoding: UTF-8 (a byte-order mark is dropped); a file that is not valid UTF-8 is read as
  Latin-1 (Windows exports), and `Table.notes` says so.
- Delimiter: sniffed from the header among comma, semicolon, tab and pipe.
- Quoted fields may hold delimiters and line breaks; `Row.line` is the file line on which the
  row starts (line 1 is the header), the number a rejection names.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

DELIMITERS = ",;\t|"
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


class ReadError(ValueError):
    """The file cannot be read as a CSV table; the message says why."""


@dataclass(slots=True)
class Row:
    line: int
    cells: list[str]


@dataclass
class Table:
    header: list[str]
    rows: list[Row]
    encoding: str
    delimiter: str
    notes: list[str] = field(default_factory=list)


def decode(content: bytes) -> tuple[str, str, list[str]]:
    """The file's text, the encoding it was read with, and notes for the merchant."""
    if content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]
    try:
        return content.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError as exc:
        return content.decode("latin-1"), "latin-1", [
            f"The file is not UTF-8 (byte {exc.start + 1} is not valid UTF-8): it was read "
            "as Latin-1 (Windows Western). If names look wrong, export it again as UTF-8."]


def sniff_delimiter(text: str) -> str:
    """The delimiter of the header line: the candidate that splits it into most cells."""
    first = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(first, delimiters=DELIMITERS).delimiter
    except csv.Error:
        counts = {d: first.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def read_table(content: bytes) -> Table:
    """Parse the file; raises ReadError for an empty file or one without a header."""
    text, encoding, notes = decode(content)
    if not text.strip():
        raise ReadError("the file is empty")
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise ReadError(f"the header line cannot be read: {exc}") from exc
    header = [name.strip() for name in header]
    if not any(header):
        raise ReadError("the first line (the header naming the columns) is empty")
    rows: list[Row] = []
    start = reader.line_num + 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append(Row(start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ReadError(f"line {start}: {exc} (a quote left open?)") from exc
    return Table(header, rows, encoding, delimiter, notes)

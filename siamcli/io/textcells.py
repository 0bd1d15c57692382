"""Strict reading of delimited text: line ends (CR, LF and CRLF), CSV records that may span
lines, cells that are ASCII decimal numbers, and short escaped excerpts of user text for messages.

A number cell is an optional sign, digits with an optional point and an optional exponent, or
nan/inf/infinity in any case (refused later as not finite). Python's float() also takes `1_000`,
surrounding spaces and non-ASCII digits such as `١٢`: those are refused here, naming the cell.
"""

from __future__ import annotations

import re
from itertools import chain
from typing import Sequence

import numpy as np

#: Longest piece of a cell, line or id an error message shows.
EXCERPT_CHARS = 80
_NUMBER = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)", re.I)
_NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.I)
_NUMBER_BYTES = b"0123456789.eE+-nNaAiIfFtTyY"  # every byte a number cell may hold
_LINE_END = re.compile(r"\r\n|\r|\n")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """`text` quoted for a message: at most `limit` characters, control characters escaped."""
    text = str(text)
    shown = repr(text[:limit])
    return shown if len(text) <= limit else shown[:-1] + "..." + shown[-1]


def printable(name: str) -> str:
    """A file name as a message shows it: control characters escaped, never sent raw."""
    return name if name.isprintable() else repr(name)[1:-1]


def is_number(cell: str) -> bool:
    return _NUMBER.fullmatch(cell) is not None


def lines(text: str) -> list[str]:
    """Lines without their ends, split at CR, LF and CRLF (as Python's csv with newline='')."""
    found = text.split("\n") if "\r" not in text else _LINE_END.split(text)
    if found and found[-1] == "":
        found.pop()
    return found


def whitespace_records(text: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every line that is neither blank nor a comment, split at whitespace."""
    return [(lineno, line.split()) for lineno, line in enumerate(lines(text), 1)
            if line.strip() and not line.lstrip().startswith("#")]


def csv_records(text: str, delimiter: str, source: str) -> list[tuple[int, list[str]]]:
    """(line where it starts, stripped cells) of every record that is neither blank nor a comment.

    A quoted field may span lines and keeps its line ends; a comment line is skipped only where
    a record starts, so a quote in a comment never swallows rows and a '#' inside a quoted
    field is data. Fields of any length are read (csv's 131,072-character limit is lifted).
    """
    import csv

    from ..errors import InputError

    returned = [0]  # records the csv reader has handed back: a change means the next line starts one
    where = [0, 0]  # (line of the record being read, line last given to the reader)

    def feed():
        last = None
        for lineno, line in enumerate(_LINE.findall(text), 1):
            if last != returned[0]:
                if line.lstrip().startswith("#"):
                    continue
                where[0] = lineno
            last = returned[0]
            where[1] = lineno
            yield line

    records = []
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))
    try:
        for cells in csv.reader(feed(), delimiter=delimiter):
            returned[0] += 1
            if cells and any(c.strip() for c in cells):
                records.append((where[0], [c.strip() for c in cells]))
    except csv.Error as exc:
        raise InputError(f"{source}: line {where[1]}: not valid {'CSV' if delimiter == ',' else 'TSV'} ({exc})") from None
    finally:
        csv.field_size_limit(limit)
    return records


def sniff_delimiter(first_line: str) -> str | None:
    """The delimiter of delimited text from its first line: a tab, else a comma, else None (whitespace)."""
    return "\t" if "\t" in first_line else "," if "," in first_line else None


def first_line(text: str) -> str:
    """The first non-blank line of a text ('' when there is none)."""
    found = lines(text.lstrip())
    return found[0] if found else ""


def listed(names, most: int = 12) -> str:
    """Names for a message: each quoted when it needs to be, at most `most` of them."""
    names = list(names)
    shown = [name if name.isprintable() and len(name) <= 40 else excerpt(name, 40) for name in names[:most]]
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return (", ".join(shown) or "none") + more


def first_bad_cell(rows: Sequence[Sequence[str]]) -> tuple[int, int] | None:
    """(row, column) of the first cell that is not a strict number, or None."""
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if _NUMBER.fullmatch(cell) is None:
                return r, c
    return None


def cell_problem(cell: str) -> str:
    return f"{excerpt(cell)} is not a number" if cell else "an empty cell is not a number"


def numbers_only(text: str, delimiter: str | None) -> bool:
    """Whether a whole text is number characters, delimiters and line ends (no header, ids,
    comments, quotes or spaces): then every cell's characters are known good in one fast pass."""
    if not text.isascii():
        return False
    separators = b" \t\r\n\x0b\x0c" if delimiter is None else delimiter.encode() + b"\r\n"
    return not text.encode("ascii").translate(None, _NUMBER_BYTES + separators)


def parse_numbers(rows: list[list[str]], known_clean: bool = False) -> tuple[np.ndarray | None, tuple[int, int] | None]:
    """(float64 array, None) of cells that are all strict numbers, else (None, (row, column) of
    the first that is not). The characters of all cells are checked in one pass (skipped when
    `known_clean`, see numbers_only); each cell is looked at only to name a bad one."""
    clean = known_clean
    if not clean:
        flat = "".join(chain.from_iterable(rows))
        try:
            clean = not flat.encode("ascii").translate(None, _NUMBER_BYTES)
        except UnicodeEncodeError:
            clean = False
    if clean:
        try:
            return np.array(rows, dtype=np.float64), None
        except ValueError:  # allowed characters in a wrong order ('1e', '--', '') or ragged rows
            pass
    bad = first_bad_cell(rows)
    if bad is None:
        return np.array(rows, dtype=np.float64), None
    return None, bad


def first_non_finite(array: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the first NaN or infinity of a 2-D array in row-major order, or None."""
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(array.sum()):  # one fast pass on the common path
            return None
    found = np.argwhere(~np.isfinite(array))
    return (int(found[0][0]), int(found[0][1])) if len(found) else None


def list_elements(cell: str) -> list[str] | None:
    """The elements of a list cell, as pandas writes a list column ('[0.1, 0.2]') or numpy prints
    an array ('[0.1 0.2]', possibly over several lines); None when the cell is not a list."""
    cell = cell.strip()
    if len(cell) < 2 or cell[0] != "[" or cell[-1] != "]":
        return None
    inner = cell[1:-1].strip()
    if not inner:
        return []
    return [e.strip() for e in inner.split(",")] if "," in inner else inner.split()


def first_overflow(array: np.ndarray, rows: Sequence[Sequence[str]]) -> tuple[int, int] | None:
    """(row, column) of the first non-finite value when its cell does not say nan or inf: a
    number too large for float64 ('1e400', a long integer). None otherwise (the finite check
    then names what the file says)."""
    first = first_non_finite(array)
    if first is None or _NON_FINITE.fullmatch(rows[first[0]][first[1]]):
        return None
    return first

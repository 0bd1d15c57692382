"""The strict text cells of siamcli.textcells against independent oracles: Python's float() less
the forms it takes that we refuse (underscores, surrounding space, non-ASCII digits), and csv's own
reader with newline='' for records and line ends."""

from __future__ import annotations

import csv
import io
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siamcli.io import textcells

CELL_CHARS = st.sampled_from(list("0123456789+-.eEnaifNAIFtyTY_ x,\"'\t\r\n\x00") + ["\u0661", "\uff11", "\u2028"])


def oracle_is_number(cell: str) -> bool:
    """Python's float() grammar restricted to ASCII without underscores or whitespace."""
    if not cell.isascii() or "_" in cell or any(c.isspace() for c in cell) or not cell:
        return False
    try:
        float(cell)
    except ValueError:
        return False
    return True


@settings(max_examples=150, derandomize=True, deadline=None)
@given(st.text(CELL_CHARS, max_size=12))
def test_is_number_is_floats_grammar_in_ascii(cell):
    assert textcells.is_number(cell) is oracle_is_number(cell)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.floats(allow_nan=False), st.sampled_from(["{!r}", "{:e}", "{:.17g}", "{:E}", "{:+.3f}"]))
def test_is_number_takes_what_python_prints_and_parse_numbers_reads_it_exactly(x, form):
    cell = form.format(x)
    assert textcells.is_number(cell)
    array, bad = textcells.parse_numbers([[cell, "1"]])
    assert bad is None and array[0, 0] == float(cell)


@pytest.mark.parametrize("cell", ["1_000", "\u0661\u0662", "\uff11", " 1", "1 ", "0x1F", "1e", "", "\x00", "1.2.3", "++1"])
def test_parse_numbers_names_the_cell_python_might_take(cell):
    rows = [["1", "2"], ["3", cell]]
    array, bad = textcells.parse_numbers(rows)
    assert array is None and bad == (1, 1)


def test_parse_numbers_fast_path_still_names_misordered_characters():
    rows = [["1", "2"], ["3", "1e5e5"]]
    assert textcells.parse_numbers(rows, known_clean=True) == (None, (1, 1))


@pytest.mark.parametrize("cell, too_large", [("1e400", True), ("-" + "9" * 400, True), ("inf", False),
                                             ("-Infinity", False), ("nan", False), ("1e308", False)])
def test_first_overflow_tells_numbers_past_float64_from_what_the_file_says(cell, too_large):
    rows = [["1", cell]]
    array, bad = textcells.parse_numbers(rows)
    assert bad is None
    assert (textcells.first_overflow(array, rows) == (0, 1)) is too_large
    assert math.isfinite(array[0, 1]) is (not too_large and cell == "1e308")


RECORD_CELLS = st.lists(st.lists(st.text(st.sampled_from(list("ab1,\"\r\n #")), max_size=6), min_size=1, max_size=4),
                        min_size=1, max_size=6)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(RECORD_CELLS, st.sampled_from(["\n", "\r\n", "\r"]))
def test_csv_records_read_what_csv_writes(records, end):
    """Whatever Python's csv writes (quoting line ends, quotes and commas), csv_records reads back:
    the same cells (stripped), rows that are blank or start a comment aside."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator=end, quoting=csv.QUOTE_MINIMAL).writerows(records)
    read = list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    if any(row and row[0].lstrip().startswith("#") for row in read):
        return  # a record starting with an unquoted '#' is a comment by design (csv.writer does not quote it)
    expected = [[c.strip() for c in row] for row in read if any(c.strip() for c in row)]
    got = [cells for _, cells in textcells.csv_records(buffer.getvalue(), ",", "x.csv")]
    assert got == expected


def test_csv_records_give_the_line_a_record_starts_on():
    text = 'a,1\n"b\r\nc",2\r\n\r\n# note, "quote\rd,3\n'
    assert textcells.csv_records(text, ",", "x") == [(1, ["a", "1"]), (2, ["b\r\nc", "2"]), (6, ["d", "3"])]


def test_lines_split_at_cr_lf_and_crlf_only():
    assert textcells.lines("a\rb\r\nc\u2028d\x0be\n\n") == ["a", "b", "c\u2028d\x0be", ""]


def test_excerpt_is_short_and_escaped():
    shown = textcells.excerpt("\x1b[2J" + "y" * 500)
    assert shown.startswith("'\\x1b[2J") and shown.endswith("...'") and len(shown) < 100
    assert textcells.excerpt("\u0661\u0662") == "'\u0661\u0662'"
    assert textcells.printable("a\x1bb.csv") == "a\\x1bb.csv"

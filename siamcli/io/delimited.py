"""Delimited text (CSV, TSV, whitespace): rows of numbers, or a column of list cells, with an
optional header, id column, text columns (fields) and labels column; and tables of cells (labels
files, pairs files).

The careful reader here defines what a file means and names the line and column of a bad cell.
Large files are read at C speed (fastcsv.py) with the same decisions, made here on their first
records and checked over every row; anything the fast path cannot vouch for is read again here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase

import numpy as np

from ..errors import counted, InputError, UsageError, mention
from . import fastcsv
from .embeddings import Parsed, ReadOptions
from .textcells import (cell_problem, csv_records, excerpt, first_line, first_overflow, is_number, list_elements,
                        listed, numbers_only, parse_numbers, sniff_delimiter, whitespace_records)
from .textcells import lines as text_lines

#: Names of a leading column (in a header) that holds row ids even when its values look numeric.
ID_COLUMN_NAMES = {"", "id", "ids", "name", "key", "filename", "file", "path", "index"}
#: Header names recognised as the label column of a labels file or a pairs file.
LABEL_COLUMN_NAMES = ("label", "labels", "class", "classes", "y", "target", "is_same")


def delimited_rows(text: str, delimiter: str | None, source: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) for every non-blank, non-comment record."""
    return whitespace_records(text) if delimiter is None else csv_records(text, delimiter, source)


def _is_header(first: list[str]) -> bool:
    """A header only when no cell of the first row is a number, or pandas' positional column
    names: `,0,1,2,...` (its index column first) or, written with index=False, `0,1,2,...` (at
    least three: a data row of exactly 0, 1, 2, ... written as integers is not an embedding)."""
    if not any(is_number(c) for c in first):
        return True
    if len(first) >= 3 and first == [str(j) for j in range(len(first))]:
        return True
    return (len(first) > 1 and first[0].lower() in ID_COLUMN_NAMES
            and first[1:] == [str(j) for j in range(len(first) - 1)])


def _id_like(cell: str) -> bool:
    """Whether a first cell makes a leading id column: text that is not a number, nor a number
    written in a way we refuse ('1_000', '١٢', which float() takes), nor empty or invisible."""
    if is_number(cell) or not any(c.isprintable() and not c.isspace() for c in cell):
        return False
    try:
        float(cell)
    except ValueError:
        return True
    return False


@dataclass
class Layout:
    """What each column of a table is (0-based file columns), decided from its records."""

    header: list[str] | None
    width: int
    first_line: int  # the line of the first data row
    ids: int | None = None
    labels: int | None = None
    lists: int | None = None  # the column of list cells holding the vectors
    vectors: list[int] = field(default_factory=list)  # the columns of numbers making the vectors
    text: list[int] = field(default_factory=list)  # columns that are text (most cells not numbers)
    fields: dict[str, int] = field(default_factory=dict)
    numbers: np.ndarray | None = None  # the vectors, when deciding the text columns parsed them all

    def strings(self) -> list[int]:
        """The columns read as text: ids, labels, list cells, text columns and fields."""
        found = {self.ids, self.labels, self.lists, *self.text, *self.fields.values()} - {None}
        return sorted(found - set(self.vectors))

    def column_of(self, col: int) -> str:
        """Where a value of the vectors is: its 1-based file column (and element of a list cell)."""
        if self.lists is not None:
            return f"column {self.lists + 1}, element {col + 1}"
        return f"column {self.vectors[col] + 1}"


def _named(header: list[str] | None, name: str, source: str) -> int:
    if header is None or name not in header:
        columns = f"columns: {listed(header, 12)}" if header is not None else "the first line is not a header"
        raise InputError(f"{source}: has no column named {excerpt(name)} in its header line ({columns})")
    return header.index(name)


def plan(rows: list[tuple[int, list[str]]], source: str, options: ReadOptions) -> Layout:
    """The layout of a table from its records (all of them, or the first ones of a large file):
    raises what is wrong with it, naming the line."""
    first = rows[0][1]
    naming = options.labels is not None or options.id_column or options.column or options.columns
    header = first if naming or _is_header(first) else None
    data = rows[1:] if header is not None else rows
    if not data:
        raise InputError(f"{source}: has a header but no data rows")
    layout = Layout(header, len(data[0][1]), data[0][0])
    if options.labels is not None:
        layout.labels = _named(header, options.labels, source)
        for lineno, cells in data:
            if len(cells) <= layout.labels:
                raise InputError(f"{source}: line {lineno} has no {excerpt(options.labels)} column "
                                 f"(column {layout.labels + 1})")
    if header is not None and len(header) != layout.width:
        raise InputError(f"{source}: line {layout.first_line} has {counted(layout.width, 'column')} but the header has {len(header)}")
    for lineno, cells in data:
        if len(cells) != layout.width:
            raise InputError(f"{source}: line {lineno} has {counted(len(cells), 'column')}, expected {layout.width} "
                             f"(as on line {layout.first_line})")
    _plan_ids(layout, data, source, options)
    _plan_vectors(layout, data, source, options)
    layout.fields = {name: _named(header, name, source) for name in options.fields}
    return layout


def _plan_ids(layout: Layout, data, source: str, options: ReadOptions) -> None:
    """The id column: named, else a leading one named like ids in the header or holding text."""
    if options.id_column:
        layout.ids = _named(layout.header, options.id_column, source)
        return
    lead = 1 if layout.labels == 0 else 0
    if layout.width - (layout.labels is not None) <= 1:
        return
    if layout.header is not None and layout.header[lead].lower() in ID_COLUMN_NAMES:
        layout.ids = lead
    elif _id_like(data[0][1][lead]):
        layout.ids = lead
        if len(data) > 1 and all(is_number(cells[lead]) for _, cells in data[1:]):
            raise guessed_ids_error(layout, data[0][1][lead], source)


def guessed_ids_error(layout: Layout, cell: str, source: str) -> InputError:
    """One text cell over a column of numbers is a typo or a stray value, not a column of ids."""
    col = layout.ids + 1
    return InputError(f"{source}: line {layout.first_line}, column {col}: {excerpt(cell)} is not a number, and "
                      f"column {col} holds numbers on every other line (to read column {col} as ids, name it "
                      "in a header line: id,...)")


def _plan_vectors(layout: Layout, data, source: str, options: ReadOptions) -> None:
    """The vectors: a column of list cells, else the numeric columns (named, or all but the
    ids, labels and, in a file with a header, the columns that are mostly text)."""
    if options.column and options.columns:
        raise UsageError(f"{mention('column')} (a column of lists) and {mention('columns')} (columns of numbers) "
                         "cannot both be given")
    taken = {layout.ids, layout.labels}
    if options.column:
        layout.lists = _named(layout.header, options.column, source)
    elif not options.columns:
        found = [c for c, cell in enumerate(data[0][1]) if c not in taken and cell.startswith("[")]
        if len(found) > 1:
            names = listed([layout.header[c] for c in found]) if layout.header else ", ".join(str(c + 1) for c in found)
            raise InputError(f"{source}: columns {names} all hold lists; say which holds the vectors "
                             f"({mention('column')} NAME)")
        layout.lists = found[0] if found else None
    if layout.lists is not None:
        return
    if options.columns:
        layout.vectors = _selected(layout.header, options.columns, source)
        return
    rest = [c for c in range(layout.width) if c not in taken]
    if layout.header is not None and rest:
        layout.text, layout.numbers = text_columns(data, rest)
    layout.vectors = [c for c in rest if c not in layout.text]
    if not layout.vectors:
        raise InputError(f"{source}: has no column of numbers (columns: {listed(layout.header or [], 12)})")


def _selected(header: list[str] | None, columns: str, source: str) -> list[int]:
    """The columns a comma list names (in its order) or a pattern such as 'e*' matches (in file order)."""
    if any(c in columns for c in "*?["):
        found = [c for c, name in enumerate(header or []) if fnmatchcase(name, columns)]
        if not found:
            raise InputError(f"{source}: no column matches {excerpt(columns)} "
                             f"({f'columns: {listed(header, 12)}' if header else 'the first line is not a header'})")
        return found
    return [_named(header, name.strip(), source) for name in columns.split(",") if name.strip()]


def text_columns(data, columns: list[int]) -> tuple[list[int], np.ndarray | None]:
    """(the columns most of whose cells are not numbers: text, kept as fields; the float64 array
    of all `columns` when every cell is a number). A column of numbers with a few bad cells stays
    a column of numbers, whose bad cells are errors."""
    contiguous = columns == list(range(columns[0], columns[-1] + 1))
    cells = [row[columns[0] : columns[-1] + 1] if contiguous else [row[c] for c in columns] for _, row in data]
    array, bad = parse_numbers(cells)
    if bad is None:
        return [], array
    return [c for c in columns if mostly_text([row[c] for _, row in data])], None


def mostly_text(cells: list[str]) -> bool:
    """Whether most cells are not numbers."""
    if numbers_only("".join(cells), None):
        try:
            np.array(cells, dtype=np.float64)
            return False
        except ValueError:
            pass
    return 2 * sum(not is_number(c) for c in cells) > len(cells)


def read_rows(rows: list[tuple[int, list[str]]], source: str, options: ReadOptions, known_clean: bool = False) -> Parsed:
    """The careful reader: every record checked, a bad cell named by line and column."""
    if not rows:
        raise InputError(f"{source}: no data rows")
    layout = plan(rows, source, options)
    data = rows[1:] if layout.header is not None else rows
    lines = [lineno for lineno, _ in data]
    if layout.lists is not None:
        array = _list_vectors(data, layout.lists, source)
    else:
        cols = layout.vectors
        contiguous = cols == list(range(cols[0], layout.width))
        cells = [row[cols[0]:] if contiguous else [row[c] for c in cols] for _, row in data]
        array = _numbers(cells, lines, source, lambda col: f"column {cols[col] + 1}",
                         known_clean and layout.header is None and layout.ids is None, layout.numbers)
    return Parsed(array, _column(data, layout.ids), lambda row, col: f"line {lines[row]}, {layout.column_of(col)}",
                  _column(data, layout.labels), {name: _column(data, c) for name, c in layout.fields.items()} or None)


def _column(data, col: int | None) -> list[str] | None:
    return None if col is None else [cells[col] for _, cells in data]


def _numbers(cells: list[list[str]], lines: list[int], source: str, where, known_clean: bool = False,
             parsed: np.ndarray | None = None):
    """Float64 rows of number cells (`parsed` already); the first bad or too large cell named by
    its line and where(column)."""
    array, bad = (parsed, None) if parsed is not None else parse_numbers(cells, known_clean)
    too_large = False
    if bad is None:  # every cell a number: one may still be past float64's range ('1e400')
        bad = first_overflow(array, cells)
        too_large = bad is not None
    if bad is not None:
        cell = cells[bad[0]][bad[1]]
        problem = f"{excerpt(cell)} is too large for float64" if too_large else cell_problem(cell)
        raise InputError(f"{source}: line {lines[bad[0]]}, {where(bad[1])}: {problem}")
    return array


def _list_vectors(data, col: int, source: str):
    """Float64 rows from a column of list cells ('[0.1, 0.2]' or '[0.1 0.2]'), all of one length."""
    rows, width, lines = [], None, [lineno for lineno, _ in data]
    for lineno, cells in data:
        elements = list_elements(cells[col])
        if elements is None:
            raise InputError(f"{source}: line {lineno}, column {col + 1}: {excerpt(cells[col])} is not a list "
                             "of numbers such as [0.1, 0.2]")
        if width is None:
            width = len(elements)
            if not width:
                raise InputError(f"{source}: line {lineno}, column {col + 1}: the list is empty")
        elif len(elements) != width:
            raise InputError(f"{source}: line {lineno}, column {col + 1}: the list has {counted(len(elements), 'value')}, "
                             f"expected {width} (as on line {lines[0]})")
        rows.append(elements)
    return _numbers(rows, lines, source, lambda e: f"column {col + 1}, element {e + 1}")


def read_delimited(data, source: str, delimiter: str | None, exclude: str | None = None,
                   options: ReadOptions | None = None) -> Parsed:
    """Vectors from delimited text: `data` is its text, or its bytes or a DiskFile (then a large
    input is parsed at C speed). `exclude` (or options.labels) names a labels column."""
    options = options or ReadOptions(labels=exclude)
    if type(data) is not str:  # bytes, or a DiskFile (a str subclass)
        fastcsv.check_size(data, source, options.limit)
        parsed = read_fast(data, source, delimiter, options)
        if parsed is not None:
            return parsed
        data = fastcsv.whole_text(data, source)
    rows = delimited_rows(data, delimiter, source)
    return read_rows(rows, source, options, known_clean=numbers_only(data, delimiter))


def read_fast(data, source: str, delimiter: str | None, options: ReadOptions) -> Parsed | None:
    """What read_rows would return, parsed at C speed: the layout decided on the first records,
    then checked over all of them. None when only the careful reader can tell (or name what is wrong)."""
    raw = fastcsv.RawText(data)
    found = fastcsv.head(raw, lambda text: delimited_rows(text, delimiter, source))
    if found is None:
        return None
    try:
        layout = plan(found[0], source, options)
    except InputError:
        return None
    floats = layout.vectors
    if set(layout.fields.values()) & set(floats):
        return None  # a field that is also a column of numbers: its text is the careful reader's to give
    strings = sorted(set(layout.strings()) | ({0} - set(floats)))  # column 0 shows a comment line
    offset = raw.start + fastcsv.line_offset(found[1], layout.first_line)
    table = fastcsv.parse_table(raw, offset, delimiter, layout.width, floats, strings, options.dtype)
    if table is None:
        return None
    array, texts = table
    texts = {c: [cell.strip() for cell in cells] for c, cells in texts.items()}
    if any(cell.startswith("#") for cell in texts.get(0, ())) or not all(mostly_text(texts[c]) for c in layout.text):
        return None  # a comment line among the records, or a column that is not text after all
    if layout.lists is not None:
        array = fastcsv.list_array(texts[layout.lists], options.dtype)
        if array is None:
            return None
    return Parsed(array, texts.get(layout.ids), _lazy_locate(data, source, delimiter, layout),
                  texts.get(layout.labels), {name: texts[c] for name, c in layout.fields.items()} or None)


def _lazy_locate(data, source: str, delimiter: str | None, layout: Layout):
    """locate() of a table read at C speed: its rows' lines are found when a message needs one."""
    lines: list[int] = []

    def locate(row: int, col: int) -> str:
        if not lines:
            rows = delimited_rows(fastcsv.whole_text(data, source), delimiter, source)
            lines.extend(lineno for lineno, _ in rows[1 if layout.header is not None else 0 :])
        return f"line {lines[row]}, {layout.column_of(col)}"

    return locate


def read_csv(data, source: str, options: ReadOptions) -> Parsed:
    return read_delimited(data, source, ",", options=options)


def read_tsv(data, source: str, options: ReadOptions) -> Parsed:
    return read_delimited(data, source, "\t", options=options)


def read_txt(data, source: str, options: ReadOptions) -> Parsed:
    return read_delimited(data, source, None, options=options)


def text_labels(text: str, source: str, column: str | None, limit: int = 0) -> list[str]:
    """Labels from text: one per line (a first line naming the column is a header), or the
    `column` of a table (default: the one named label/class/...); the delimiter is sniffed."""
    delimiter = sniff_delimiter(first_line(text))
    if delimiter is None and column is None:  # one label per line; a first line naming the column is a header
        labels = [line.strip() for line in text_lines(text) if line.strip() and not line.lstrip().startswith("#")]
        if labels and labels[0].lower() in LABEL_COLUMN_NAMES:
            labels = labels[1:]
        return labels
    rows = delimited_rows(text, delimiter, source)
    if not rows:
        raise InputError(f"{source}: holds no labels")
    header = rows[0][1]
    if column is None:
        named = [i for i, name in enumerate(header) if name.lower() in LABEL_COLUMN_NAMES]
        if len(header) == 1:
            named = [0]
        if len(named) != 1:
            raise InputError(f"{source}: has columns {listed(header, 8)}; say which holds the labels "
                             f"({mention('labels_column')} NAME)")
        index = named[0]
    elif column in header:
        index = header.index(column)
    else:
        raise InputError(f"{source}: has no column named {excerpt(column)} (columns: {listed(header, 8)})")
    labels = []
    for lineno, cells in rows[1:]:
        if len(cells) <= index:
            raise InputError(f"{source}: line {lineno} has no column {index + 1} ({excerpt(header[index])})")
        labels.append(cells[index])
    return labels


def sniffed_rows(text: str, source: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of a table whose delimiter its first line shows (tab, comma, else whitespace)."""
    return delimited_rows(text, sniff_delimiter(first_line(text)), source)

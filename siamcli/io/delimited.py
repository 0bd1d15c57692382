"""Delimited text (CSV, TSV, whitespace): rows of numbers with an optional header and id column,
a labels column read aside, and tables of cells (labels files, pairs files)."""

from __future__ import annotations

from ..errors import InputError, mention
from .embeddings import Parsed, ReadOptions
from .textcells import (cell_problem, csv_records, excerpt, first_line, first_overflow, is_number, listed,
                        numbers_only, parse_numbers, sniff_delimiter, whitespace_records)
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


def _drop_column(rows, exclude: str, source: str):
    """(rows without the `exclude` column, its values after the header, its 0-based file column)."""
    if exclude not in rows[0][1]:
        raise InputError(f"{source}: has no column named {excerpt(exclude)} in its header line "
                         f"(columns: {listed(rows[0][1], 8)})")
    dropped = rows[0][1].index(exclude)
    for lineno, cells in rows[1:]:
        if len(cells) <= dropped:
            raise InputError(f"{source}: line {lineno} has no {excerpt(exclude)} column (column {dropped + 1})")
    labels = [cells[dropped] for _, cells in rows[1:]]
    return [(lineno, cells[:dropped] + cells[dropped + 1 :]) for lineno, cells in rows], labels, dropped


def read_delimited(text: str, source: str, delimiter: str | None, exclude: str | None = None) -> Parsed:
    rows = delimited_rows(text, delimiter, source)
    if not rows:
        raise InputError(f"{source}: no data rows")
    dropped = labels = None  # file column (0-based) of `exclude`, read as labels rather than as a dimension
    if exclude is not None:
        rows, labels, dropped = _drop_column(rows, exclude, source)
    extra = dropped is not None

    def file_column(col: int) -> int:  # 1-based column after the drop -> 1-based column in the file
        return col + 1 if extra and col > dropped else col

    header = rows[0][1] if exclude is not None or _is_header(rows[0][1]) else None
    if header is not None:
        rows = rows[1:]
        if not rows:
            raise InputError(f"{source}: has a header but no data rows")
    data_first = rows[0][1]
    if header is not None and len(header) > 1 and header[0].lower() in ID_COLUMN_NAMES:
        has_ids = True
    else:
        has_ids = len(data_first) > 1 and _id_like(data_first[0])
        if has_ids and len(rows) > 1 and not any(not is_number(cells[0]) for _, cells in rows[1:]):
            # one text cell over a column of numbers is a typo or a stray value, not a column of ids
            raise InputError(f"{source}: line {rows[0][0]}, column 1: {excerpt(data_first[0])} is not a number, "
                             "and column 1 holds numbers on every other line (to read column 1 as ids, "
                             "name it in a header line: id,...)")
    width = len(data_first)
    if header is not None and len(header) != width:
        raise InputError(f"{source}: line {rows[0][0]} has {width + extra} columns but the header has "
                         f"{len(header) + extra}")
    for lineno, cells in rows:
        if len(cells) != width:
            raise InputError(f"{source}: line {lineno} has {len(cells) + extra} columns, "
                             f"expected {width + extra} (as on line {rows[0][0]})")
    start = 1 if has_ids else 0
    cells = [r[1][start:] for r in rows] if start else [r[1] for r in rows]
    array, bad = parse_numbers(cells, known_clean=header is None and not has_ids and numbers_only(text, delimiter))
    too_large = False
    if bad is None:  # every cell a number: one may still be past float64's range ('1e400')
        bad = first_overflow(array, cells)
        too_large = bad is not None
    if bad is not None:
        cell = cells[bad[0]][bad[1]]
        problem = f"{excerpt(cell)} is too large for float64" if too_large else cell_problem(cell)
        raise InputError(f"{source}: line {rows[bad[0]][0]}, column {file_column(bad[1] + start + 1)}: {problem}")
    ids = [r[1][0] for r in rows] if has_ids else None
    lines = [r[0] for r in rows]
    return Parsed(array, ids, lambda row, col: f"line {lines[row]}, column {file_column(col + start + 1)}", labels)


def read_csv(text: str, source: str, options: ReadOptions) -> Parsed:
    return read_delimited(text, source, ",", options.labels)


def read_tsv(text: str, source: str, options: ReadOptions) -> Parsed:
    return read_delimited(text, source, "\t", options.labels)


def read_txt(text: str, source: str, options: ReadOptions) -> Parsed:
    return read_delimited(text, source, None, options.labels)


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

"""What comes beside embeddings: row ids, labels and lists of pairs, each read through the table
of formats (a labels file is any format that can give labels; a pairs file, a table of cells)."""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from ..errors import counted, InputError
from .bounded import DEFAULT_MAX_INPUT_BYTES, decode, max_bytes, read_text
from .embeddings import EmbeddingSet
from .delimited import sniffed_rows
from .formats import format_for
from .loading import guard, read_input
from .textcells import excerpt, is_number, printable
from .textcells import lines as text_lines


def read_ids(path: str | os.PathLike, expected: int, *, max_input_size: int | str = DEFAULT_MAX_INPUT_BYTES) -> list[str]:
    """Row ids from a text file, one per line (CR, LF or CRLF); the count must match the rows."""
    source = printable(os.fspath(path))
    with guard(source, "a list of ids"):
        text, source = read_text(path, max_bytes(max_input_size))
        ids = text_lines(text)
        while ids and not ids[-1].strip():
            ids.pop()
    if len(ids) != expected:
        raise InputError(f"{source}: has {counted(len(ids), 'id')} but the embeddings have {expected} rows")
    return ids


def read_labels(path: str | os.PathLike, expected: int, column: str | None = None, *,
                max_input_size: int | str = DEFAULT_MAX_INPUT_BYTES) -> list[str]:
    """A label per row from a file: one per line; a column of a CSV/TSV (by header name, or
    the one named label/class/...); a JSON field; a 1-D .npy; an .npz array. As text."""
    path = os.fspath(path)
    source = printable(path)
    limit = max_bytes(max_input_size)
    fmt, gz = format_for(path, None)
    if fmt.labels is None:
        raise InputError(f"{source}: a .{fmt.name} file cannot give labels")
    with guard(source, "labels"):
        data = read_input(path, source, fmt, gz, limit)
        labels = fmt.labels(data if fmt.binary else decode(data, source), source, column, limit)
    if len(labels) != expected:
        raise InputError(f"{source}: has {counted(len(labels), 'label')} but the embeddings have {expected} rows")
    return labels


def read_table(path, limit: int) -> tuple[list[tuple[int, list[str]]], str]:
    """((line, cells) rows, source name) of a table such as a pairs list: read by its format's
    table reader when it has one, else as text split at the delimiter its first line shows."""
    path = os.fspath(path)
    source = printable(path)
    try:
        fmt, gz = format_for(path, None)
    except InputError:  # any name will do for a table of text
        fmt = gz = None
    with guard(source, "a list of pairs"):
        if fmt is not None and fmt.table is not None:
            return fmt.table(decode(read_input(path, source, fmt, gz, limit), source), source), source
        text, source = read_text(path, limit)
        return sniffed_rows(text, source), source


def read_labelled_pairs(path: str | os.PathLike, a: EmbeddingSet, b: EmbeddingSet | None = None, *,
                        max_input_size: int | str = DEFAULT_MAX_INPUT_BYTES) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(left rows, right rows, labels) from a pairs file with columns left, right, label (as
    LFW's pair lists): ids or row numbers; a first line that names neither is a header."""
    left, right, rest = _pairs_table(path, a, b if b is not None else a, 3, max_bytes(max_input_size))
    return left, right, [cells[0] for cells in rest]


def read_pairs(path: str | os.PathLike, a: EmbeddingSet, b: EmbeddingSet, *,
               max_input_size: int | str = DEFAULT_MAX_INPUT_BYTES) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the (a, b) pairs listed in a file: two columns (more are ignored), each
    an id of that set or a row number; a first line that names neither is a header."""
    left, right, _ = _pairs_table(path, a, b, 2, max_bytes(max_input_size))
    return left, right


def _pairs_table(path, a: EmbeddingSet, b: EmbeddingSet, min_columns: int, limit: int):
    """(a rows, b rows, the cells after the first two of each line) of a pairs file."""
    rows, source = read_table(path, limit)
    if not rows:
        raise InputError(f"{source}: lists no pairs")
    lookups = [_row_lookup(a), _row_lookup(b)]
    pairs, rest = [], []
    needed = "two (a, b)" if min_columns == 2 else "three (left, right, label)"
    for position, (lineno, cells) in enumerate(rows):
        if len(cells) < min_columns:
            raise InputError(f"{source}: line {lineno} has {len(cells)} column{'s' if len(cells) != 1 else ''}; "
                             f"a pair needs {needed}")
        resolved = [lookup(cell) for lookup, cell in zip(lookups, cells[:2])]
        if None in resolved:
            if position == 0 and resolved == [None, None] and not any(is_number(c) for c in cells[:2]):
                continue  # a header
            side = "A" if resolved[0] is None else "B"
            column = 1 if resolved[0] is None else 2
            raise InputError(f"{source}: line {lineno}, column {column}: {excerpt(cells[column - 1])} is neither "
                             f"an id nor a row number of {side}")
        pairs.append(resolved)
        rest.append(cells[2:])
    if not pairs:
        raise InputError(f"{source}: lists no pairs")
    index = np.array(pairs, dtype=np.intp)
    return index[:, 0], index[:, 1], rest


def _row_lookup(s: EmbeddingSet) -> Callable[[str], int | None]:
    by_id = {} if s.ids is None else {str(x): i for i, x in reversed(list(enumerate(s.ids)))}

    def lookup(cell: str) -> int | None:
        if cell in by_id:
            return by_id[cell]
        if not (cell.isascii() and cell.isdigit() and len(cell) <= 18):  # row numbers: ASCII digits only
            return None
        row = int(cell)
        return row if row < len(s) else None

    return lookup

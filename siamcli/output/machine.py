"""The machine formats: JSON, JSON lines, CSV and TSV, from a result's records.

Full float precision; NaN and inf become JSON null or an empty CSV cell. A result kind that is not
a list of records (a matrix, a one-object report) brings its own JSON or CSV writer through
RENDERERS; these are those writers and the record-list defaults.
"""

from __future__ import annotations

from typing import Iterable, TextIO

import numpy as np

from ..results import plain
from .text import cell, dumps, field, line


def records(parts: Iterable) -> Iterable[dict]:
    for part in parts:
        yield from part.records()


def jsonl(parts: Iterable, out: TextIO) -> None:
    """One JSON object per record, one per line."""
    for record in records(parts):
        out.write(dumps(plain(record)) + "\n")


def json_list(parts: Iterable, out: TextIO) -> None:
    """The records as one JSON list, a record per line, written as they come."""
    out.write("[")
    sep = "\n"
    for record in records(parts):
        out.write(sep + dumps(plain(record)))
        sep = ",\n"
    out.write("\n]\n" if sep != "\n" else "]\n")


def json_document(parts: Iterable, out: TextIO) -> None:
    """A report that is one object, as that object."""
    out.write(dumps(plain(next(iter(parts)).record())) + "\n")


def json_matrix(parts: Iterable, out: TextIO) -> None:
    """The matrix as one JSON object, the text json.dumps gives, written a row at a time."""
    result = next(iter(parts))
    head = dumps({"metric": result.metric.name, "higher_is_better": result.metric.higher_is_better,
                  "row_ids": result.row_ids(), "col_ids": result.col_ids(), "values": []})
    out.write(head[: -len("]}")])
    sep = ""
    for row in result.values:
        out.write(sep + dumps(plain(row)))
        sep = ", "
    out.write("]}\n")


def write_matrix_rows(out: TextIO, col_ids: list[str], rows: Iterable[tuple[str, list]], delimiter: str = ",") -> None:
    """A matrix as CSV/TSV: a header `id,<col ids>`, then one line per row, full precision.
    Rows come as (row id, values) and are written as they arrive (a matrix larger than memory)."""
    out.write(line(["id", *col_ids], delimiter))
    for row_id, values in rows:  # numbers never need quotes: only the id is checked
        out.write(field(str(row_id), delimiter) + delimiter + delimiter.join(map(cell, values)) + "\n")


def delimited_matrix(parts: Iterable, out: TextIO, delimiter: str) -> None:
    for part in parts:
        rows = ((part.a.id_of(i), row.tolist()) for i, row in enumerate(np.asarray(part.values, dtype=np.float64)))
        write_matrix_rows(out, part.col_ids(), rows, delimiter)


def flat(record: dict, prefix: str = "") -> dict:
    """Nested objects as dotted columns: {"tar_at_far": {"0.01": x}} -> {"tar_at_far.0.01": x}."""
    out = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def delimited_records(parts: Iterable, out: TextIO, delimiter: str) -> None:
    """A header (the first record's keys, nested objects as dotted columns), then a line per record.
    With no record, the header from the result's `fields`."""
    header = None
    for part in parts:
        for record in part.records():
            record = flat(record)
            if header is None:
                header = list(record)
                out.write(line(header, delimiter))
            out.write(line([record.get(f) for f in header], delimiter))
        if header is None and getattr(part, "fields", None):
            header = list(part.fields)
            out.write(line(header, delimiter))

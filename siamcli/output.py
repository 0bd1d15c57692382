"""Turning results into text: one table of formatters (table, json, jsonl, csv, tsv).

A formatter takes an iterable of result parts (a stream of Ranking chunks, or one result) and a
text stream. Machine formats keep full float precision and write NaN/inf as JSON null or an
empty CSV cell; only tables round. rich is imported only when a table is drawn.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from typing import Callable, Iterable, TextIO

import numpy as np

from .results import MatrixResult, MetricList, Ranking, Score, Verdicts

DEFAULT_PRECISION = 4


@dataclass
class OutputOptions:
    precision: int = DEFAULT_PRECISION
    notify: Callable[[str], None] | None = None  # messages for the user (stderr), e.g. what a table hides


def _finite_or_none(x):
    return x if not isinstance(x, float) or math.isfinite(x) else None


def _clean(record: dict) -> dict:
    """Record values ready for strict JSON: non-finite floats become None."""
    out = {}
    for key, value in record.items():
        if isinstance(value, list):
            value = [_finite_or_none(v) for v in value]
        out[key] = _finite_or_none(value)
    return out


def _dumps(obj) -> str:
    return json.dumps(obj, allow_nan=False, ensure_ascii=False)


def _records(parts: Iterable) -> Iterable[dict]:
    for part in parts:
        yield from part.records()


def write_jsonl(parts: Iterable, out: TextIO, options: OutputOptions) -> None:
    for record in _records(parts):
        out.write(_dumps(_clean(record)) + "\n")


def write_json(parts: Iterable, out: TextIO, options: OutputOptions) -> None:
    parts = iter(parts)
    first = next(parts, None)
    if isinstance(first, MatrixResult):
        values = [[_finite_or_none(v) for v in row] for row in first.values.tolist()]
        doc = {
            "metric": first.metric.name,
            "higher_is_better": first.metric.higher_is_better,
            "row_ids": first.row_ids(),
            "col_ids": first.col_ids(),
            "values": values,
        }
        out.write(_dumps(doc) + "\n")
        return
    out.write("[")
    sep = "\n"
    for record in _records([first] if first is not None else []):
        out.write(sep + _dumps(_clean(record)))
        sep = ",\n"
    for record in _records(parts):
        out.write(sep + _dumps(_clean(record)))
        sep = ",\n"
    out.write("\n]\n" if sep != "\n" else "]\n")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, list):
        return ";".join(_cell(v) for v in value)
    return str(value)


def write_matrix_rows(out: TextIO, col_ids: list[str], rows: Iterable[tuple[str, list]], delimiter: str = ",") -> None:
    """A matrix as CSV/TSV: a header `id,<col ids>`, then one line per row, full precision.
    Rows come as (row id, values) and are written as they arrive (a matrix larger than memory)."""
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["id", *col_ids])
    for row_id, values in rows:
        writer.writerow([row_id, *map(_cell, values)])


def _write_delimited(parts: Iterable, out: TextIO, options: OutputOptions, delimiter: str) -> None:
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    header_written = False
    for part in parts:
        if isinstance(part, MatrixResult):
            rows = ((part.a.id_of(i), row.tolist()) for i, row in enumerate(np.asarray(part.values, dtype=np.float64)))
            write_matrix_rows(out, part.col_ids(), rows, delimiter)
            continue
        if not header_written:
            writer.writerow(part.fields)
            header_written = True
        for record in part.records():
            writer.writerow([_cell(record[f]) for f in part.fields])


def write_csv(parts, out, options):
    _write_delimited(parts, out, options, ",")


def write_tsv(parts, out, options):
    _write_delimited(parts, out, options, "\t")


# ---------------------------------------------------------------- tables


def format_number(value: float, precision: int) -> str:
    """Fixed decimals; scientific when a nonzero value would round to zero; '-' for NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value != 0 and abs(value) < 0.5 * 10.0**-precision:
        return f"{value:.{max(precision - 1, 1)}e}"
    return f"{value:.{precision}f}"


def _console(out: TextIO):
    from rich.console import Console

    return Console(file=out, markup=False, highlight=False, emoji=False, soft_wrap=False)


def _direction(metric) -> str:
    return f"{metric.name}: {'higher' if metric.higher_is_better else 'lower'} is closer"


#: Table columns for each kind of ranking (rank-per-row lists show each row of A once).
_RANKING_COLUMNS = {"row": ("a", "rank", "b", "score"), "overall": ("rank", "a", "b", "score"), "paired": ("a", "b", "score")}


def _ranking_table(parts: list, options: OutputOptions):
    from rich.table import Table

    grouping = parts[0].grouping
    columns = _RANKING_COLUMNS[grouping] + (("match",) if isinstance(parts[0], Verdicts) else ())
    table = Table(show_edge=False, pad_edge=False)
    for name in columns:
        table.add_column(name, justify="right" if name in ("rank", "score") else "left")
    previous = None
    for record in _records(parts):
        cells = {"a": record["a_id"], "b": record["b_id"], "rank": str(record["rank"]),
                 "score": format_number(record["score"], options.precision),
                 "match": "same" if record.get("match") else "different"}
        if grouping == "row":
            if previous is not None and record["a_index"] != previous:
                table.rows[-1].end_section = True
            if record["a_index"] == previous:
                cells["a"] = ""
            previous = record["a_index"]
        table.add_row(*(cells[c] for c in columns))
    return table


def _matrix_table(result: MatrixResult, console, options: OutputOptions):
    from rich.table import Table

    n, m = result.values.shape
    shown_rows = min(n, max(5, console.height - 6))
    row_ids = [result.a.id_of(i) for i in range(shown_rows)]
    id_width = min(24, max(len(r) for r in row_ids))
    used, shown_cols, cells = id_width, 0, []
    for j in range(min(m, console.width // 4 + 1)):
        column = [format_number(float(v), options.precision) for v in result.values[:shown_rows, j]]
        width = max(min(len(result.b.id_of(j)), 16), *(len(c) for c in column)) + 3
        if used + width > console.width and shown_cols > 0:
            break
        used += width
        shown_cols += 1
        cells.append(column)
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("", justify="left", max_width=24, no_wrap=True, min_width=id_width)
    for j, column in enumerate(cells):
        table.add_column(result.b.id_of(j), justify="right", max_width=16, no_wrap=True,
                         min_width=max(len(c) for c in column))
    for i in range(shown_rows):
        table.add_row(row_ids[i], *(column[i] for column in cells))
    if (shown_rows < n or shown_cols < m) and options.notify is not None:
        options.notify(
            f"showing {shown_rows} of {n} rows and {shown_cols} of {m} columns (the terminal's size); "
            "-f csv, -f json or -o FILE gives the whole matrix"
        )
    return table


def _metrics_table(result: MetricList):
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for name in ("name", "aliases", "kind", "summary"):
        table.add_column(name, overflow="fold")
    for m in result.metrics:
        table.add_row(m.name, ", ".join(m.aliases), m.kind, m.summary)
    return table


def write_table(parts: Iterable, out: TextIO, options: OutputOptions) -> None:
    parts = list(parts)
    if not parts:
        return
    first = parts[0]
    if isinstance(first, Score):
        out.write(format_number(float(first.value), options.precision) + "\n")
        return
    console = _console(out)
    if isinstance(first, MatrixResult):
        console.print(_matrix_table(first, console, options))
        console.print(_direction(first.metric))
    elif isinstance(first, MetricList):
        console.print(_metrics_table(first))
    elif isinstance(first, Ranking):
        if sum(len(p) for p in parts) == 0:
            if options.notify is not None:
                options.notify("no pairs to show (all were filtered out)")
            return
        console.print(_ranking_table(parts, options))
        if isinstance(first, Verdicts):
            sign = ">=" if first.metric.higher_is_better else "<="
            console.print(f"{_direction(first.metric)}; same when {first.metric.name} {sign} {first.threshold:g}")
        else:
            console.print(_direction(first.metric))


#: The one table of output formats. Add a format here and every command offers it.
FORMATTERS: dict[str, Callable[[Iterable, TextIO, OutputOptions], None]] = {
    "table": write_table,
    "json": write_json,
    "jsonl": write_jsonl,
    "csv": write_csv,
    "tsv": write_tsv,
}


def default_format(out: TextIO) -> str:
    """table for a person at a terminal, jsonl for a pipe or a file."""
    isatty = getattr(out, "isatty", None)
    return "table" if isatty is not None and isatty() else "jsonl"


def write(parts, fmt: str, out: TextIO, options: OutputOptions | None = None) -> None:
    """Write a result (or a stream of result parts) to `out` in format `fmt`."""
    if isinstance(parts, (Ranking, Score, MatrixResult, MetricList)):
        parts = [parts]
    FORMATTERS[fmt](parts, out, options or OutputOptions())

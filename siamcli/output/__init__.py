"""Turning results into text: one table of formats (FORMATTERS) and one of result kinds (RENDERERS).

A formatter takes an iterable of result parts (a stream of Ranking chunks, or one result) and a
text stream. Machine formats write every result's records (`records()`); a result kind that
looks different (a matrix as one JSON object) says so in RENDERERS, which also says how each kind
is drawn as a table. Reports describe their tables as data (`table_layout`), so this package knows
the result types of siamcli.results and no domain module.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import Callable, Iterable, TextIO

from ..results import Document, MatrixResult, Ranking, Report, Score, Verdicts
from . import machine, ranking, tables
from .machine import write_matrix_rows
from .text import format_number, safe_text

__all__ = ["FORMATTERS", "RENDERERS", "OutputOptions", "Renderer", "default_format", "format_number",
           "register_format", "safe_text", "write", "write_matrix_rows"]

DEFAULT_PRECISION = 4

#: parts (an iterable of result parts), out, options.
Writer = Callable[[Iterable, TextIO, "OutputOptions"], None]


@dataclass
class OutputOptions:
    precision: int = DEFAULT_PRECISION
    notify: Callable[[str], None] | None = None  # messages for the user (stderr), e.g. what a table hides
    width: int | None = None  # columns a table must fit (None: rich's own choice, $COLUMNS or 80)


@dataclass(frozen=True)
class Renderer:
    """How one kind of result is written: `table` draws it; `json` and `delimited` (CSV/TSV, given
    the delimiter) replace the record-list defaults when the kind is not a list of records."""

    table: Callable[[Iterable, TextIO, OutputOptions], None]
    json: Callable[[Iterable, TextIO], None] = machine.json_list
    delimited: Callable[[Iterable, TextIO, str], None] = machine.delimited_records


#: The one table of result kinds; a subclass is rendered as its nearest listed base.
RENDERERS: dict[type, Renderer] = {
    Ranking: Renderer(table=ranking.ranking_table),
    Verdicts: Renderer(table=ranking.verdicts_table),
    Score: Renderer(table=tables.score_line),
    MatrixResult: Renderer(table=tables.matrix_table, json=machine.json_matrix, delimited=machine.delimited_matrix),
    Report: Renderer(table=tables.layout_tables),
    Document: Renderer(table=tables.layout_tables, json=machine.json_document),
}


def renderer_for(result) -> Renderer:
    for kind in type(result).__mro__:
        if kind in RENDERERS:
            return RENDERERS[kind]
    raise TypeError(f"no renderer for {type(result).__name__}: add it to siamcli.output.RENDERERS")


def _dispatch(parts: Iterable, render: Callable[[Renderer, Iterable], None]) -> None:
    """Hand the whole stream to the renderer of its first part's kind (a stream is of one kind)."""
    parts = iter(parts)
    first = next(parts, None)
    if first is not None:
        render(renderer_for(first), itertools.chain([first], parts))


def write_table(parts: Iterable, out: TextIO, options: OutputOptions) -> None:
    _dispatch(parts, lambda r, stream: r.table(stream, out, options))


def write_json(parts: Iterable, out: TextIO, options: OutputOptions) -> None:
    parts = iter(parts)
    first = next(parts, None)
    if first is None:
        out.write("[]\n")
        return
    renderer_for(first).json(itertools.chain([first], parts), out)


def write_jsonl(parts: Iterable, out: TextIO, options: OutputOptions) -> None:
    machine.jsonl(parts, out)


def _write_delimited(parts: Iterable, out: TextIO, options: OutputOptions, delimiter: str) -> None:
    _dispatch(parts, lambda r, stream: r.delimited(stream, out, delimiter))


#: The one table of output formats. Add a format here (or with register_format) and every command offers it.
FORMATTERS: dict[str, Writer] = {
    "table": write_table,
    "json": write_json,
    "jsonl": write_jsonl,
    "csv": functools.partial(_write_delimited, delimiter=","),
    "tsv": functools.partial(_write_delimited, delimiter="\t"),
}


def register_format(name: str, writer: Writer) -> None:
    """Add an output format: `writer(parts, out, options)`; every command's -f offers it."""
    FORMATTERS[name] = writer


def default_format(out: TextIO) -> str:
    """table for a person at a terminal, jsonl for a pipe or a file."""
    isatty = getattr(out, "isatty", None)
    return "table" if isatty is not None and isatty() else "jsonl"


def write(parts, fmt: str, out: TextIO, options: OutputOptions | None = None) -> None:
    """Write a result (or a stream of result parts) to `out` in format `fmt`."""
    if hasattr(parts, "records"):  # one result rather than a stream of parts
        parts = [parts]
    FORMATTERS[fmt](parts, out, options or OutputOptions())

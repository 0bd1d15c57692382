"""Tables for a person: a matrix cut to the terminal, one score, and a report's layout (lines of
text and grids, see siamcli.results) drawn with rich. rich is imported only when a table is drawn."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, TextIO

from ..errors import counted
from .text import format_number, safe_text

if TYPE_CHECKING:
    from ..results import Grid, MatrixResult
    from . import OutputOptions


def console_on(out: TextIO, width: int | None = None):
    """A rich console on `out`, `width` columns wide (None: rich's choice), that shows control characters escaped (rich would pass ESC through),
    and lets a closed pipe raise BrokenPipeError (rich's own handling exits with status 1)."""
    from rich.console import Console

    class SafeConsole(Console):
        def render_str(self, text: str, **kwargs):
            return super().render_str(safe_text(text), **kwargs)

        def on_broken_pipe(self) -> None:
            self.quiet = True  # nothing more to write to a reader that has gone
            raise BrokenPipeError

    return SafeConsole(file=out, markup=False, highlight=False, emoji=False, soft_wrap=False, width=width)


def direction(metric) -> str:
    return f"{metric.name}: {'higher' if metric.higher_is_better else 'lower'} is closer"


def _matrix_grid(result: MatrixResult, console, options: OutputOptions):
    from rich.table import Table

    n, m = result.values.shape
    shown_rows = min(n, max(5, console.height - 6))
    row_ids = [safe_text(result.a.id_of(i)) for i in range(shown_rows)]  # escaped: widths as shown
    id_width = min(24, max(len(r) for r in row_ids))
    used, shown_cols, cells = id_width, 0, []
    for j in range(min(m, console.width // 4 + 1)):
        column = [format_number(float(v), options.precision) for v in result.values[:shown_rows, j]]
        width = max(min(len(safe_text(result.b.id_of(j))), 16), *(len(c) for c in column)) + 3
        if used + width > console.width and shown_cols > 0:
            break
        used += width
        shown_cols += 1
        cells.append(column)
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("", justify="left", max_width=24, no_wrap=True, min_width=id_width)
    for j, column in enumerate(cells):
        table.add_column(safe_text(result.b.id_of(j)), justify="right", max_width=16, no_wrap=True,
                         min_width=max(len(c) for c in column))
    for i in range(shown_rows):
        table.add_row(row_ids[i], *(column[i] for column in cells))
    if (shown_rows < n or shown_cols < m) and options.notify is not None:
        options.notify(
            f"showing {shown_rows} of {counted(n, 'row')} and {shown_cols} of {counted(m, 'column')} (the terminal's "
            "size); "
            "-f csv, -f json or -o FILE gives the whole matrix"
        )
    return table


def matrix_table(parts: Iterable, out: TextIO, options: OutputOptions) -> None:
    """As much of the matrix as the terminal shows (a note says what is left out), and its direction."""
    result = next(iter(parts))
    console = console_on(out, options.width)
    console.print(_matrix_grid(result, console, options))
    console.print(direction(result.metric))


def score_line(parts: Iterable, out: TextIO, options: OutputOptions) -> None:
    """One score: the number alone."""
    out.write(format_number(float(next(iter(parts)).value), options.precision) + "\n")


def _rich_table(grid: Grid):
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False, show_header=grid.show_header,
                  **({} if grid.box else {"box": None}))
    for c in grid.columns:
        table.add_column(c.name, justify=c.justify, no_wrap=c.no_wrap, min_width=c.min_width, overflow=c.overflow)
    for row in grid.rows:
        table.add_row(*row)
    return table


def _hanging(line: str, width: int) -> list[str]:
    """A line of text wrapped at `width` with its continuations indented two more spaces than it,
    so that an indented finding reads as one item (rich alone would start them at column 0)."""
    indent = line[: len(line) - len(line.lstrip(" "))]
    if len(line) <= width or width <= len(indent) + 12:
        return [line]  # (a line still too long, with wide characters, is wrapped by rich)
    import textwrap

    return textwrap.wrap(line, width, subsequent_indent=indent + "  ", break_on_hyphens=False)


def layout_tables(parts: Iterable, out: TextIO, options: OutputOptions) -> None:
    """A report as its `table_layout` describes it: lines of text, grids and fitted lines, in order."""
    from ..results import Grid

    console = console_on(out, options.width)
    for block in next(iter(parts)).table_layout(options.precision):
        if isinstance(block, str):
            for line in _hanging(block, console.width):
                console.print(line)
        elif isinstance(block, Grid):
            console.print(_rich_table(block))
        else:  # Fitted: drawn for the console's width, each line as it is (a histogram must not wrap)
            for line in block.lines(console.width):
                console.print(line, soft_wrap=True)

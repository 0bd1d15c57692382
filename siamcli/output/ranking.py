"""A ranking as a table, streamed: rich's look (box characters, header, rules), written a group of
rows at a time so that memory stays flat however many pairs come, and a closed pipe is found early."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, TextIO

import numpy as np

from .tables import console_on, direction
from .text import format_number, safe_text

if TYPE_CHECKING:
    from ..results import Ranking
    from . import OutputOptions


#: Table columns for each kind of ranking (rank-per-row lists show each row of A once).
_RANKING_COLUMNS = {"row": ("a", "rank", "b", "score"), "overall": ("rank", "a", "b", "score"), "paired": ("a", "b", "score")}
#: Rows of a ranking table written (and flushed) together: memory stays flat however long it is.
TABLE_ROW_GROUP = 1024
#: The widest an id is shown in a ranking table; a longer one ends in an ellipsis (in the table only).
MAX_ID_WIDTH = 40
_MIN_ID_WIDTH = 8  # ids give way to the terminal's width down to this
#: The widest a shown text column (--show) is drawn; longer text ends in an ellipsis (in the table only).
MAX_TEXT_WIDTH = 60


def _with_shown(columns: tuple[str, ...], first: Ranking) -> tuple[str, ...]:
    """The table's columns with each shown text column (a_text, b_text) after its side's id."""
    out = []
    for c in columns:
        out.append(c)
        if c in ("a", "b"):
            out.extend(f"{c}_{name}" for name in ((first.a if c == "a" else first.b).fields or {}))
    return tuple(out)


def _text_width(values, rows: int) -> int:
    """Display width of the widest of the first `rows` texts, at most MAX_TEXT_WIDTH."""
    from rich.cells import cell_len

    return min(MAX_TEXT_WIDTH, max((cell_len(safe_text(str(v))) for v in values[:rows]), default=1))


def _id_width(ids) -> int:
    """Display width of the widest id of a set (an EmbeddingSet), escaped as tables show them, at most MAX_ID_WIDTH."""
    if ids.ids is None:
        return len(str(max(len(ids) - 1, 0)))
    from rich.cells import cell_len

    widest = 0
    for text in map(str, ids.ids):
        width = len(text) if text.isascii() and text.isprintable() else cell_len(safe_text(text))
        if width > widest:
            widest = width
            if widest >= MAX_ID_WIDTH:
                return MAX_ID_WIDTH
    return widest


def _fit(text: str, width: int, right: bool = False) -> str:
    """`text` in exactly `width` terminal cells: padded, or cut with an ellipsis."""
    if text.isascii():
        if len(text) > width:
            return text[: width - 1] + "…"
        return text.rjust(width) if right else text.ljust(width)
    from rich.cells import cell_len, set_cell_size

    cells = cell_len(text)
    if cells > width:
        return set_cell_size(text, width - 1) + "…"
    pad = " " * (width - cells)
    return pad + text if right else text + pad


class _RankingTable:
    """A ranking drawn as rich draws a table (its box characters, header, a rule between the rows
    of each row of A), written a group of rows at a time. Column widths are fixed up front: ids
    from the widest id of their set (capped, and narrowed to fit the terminal), rank and score
    from the first part; a later, wider number widens its column from there on."""

    def __init__(self, first: Ranking, console, options: OutputOptions, verdicts: bool = False):
        from rich.box import HEAVY_HEAD

        self.console, self.precision, self.verdicts = console, options.precision, verdicts
        self.grouping = first.grouping
        self.columns = _with_shown(_RANKING_COLUMNS[self.grouping], first) + (("match",) if verdicts else ())
        self.box = HEAVY_HEAD.substitute(console.options, safe=console.safe_box)
        sample = first.score[:TABLE_ROW_GROUP].tolist()
        finite = first.score[np.isfinite(first.score)]
        tiny = finite[(finite != 0) & (np.abs(finite) < 0.5 * 10.0**-self.precision)]  # shown as 1.2e-05
        for values in (finite, tiny):  # the widest numbers of the whole part: signs, exponents
            if len(values):
                sample += [float(values.min()), float(values.max()), float(values[np.abs(values).argmin()])]
        widths = {"a": _id_width(first.a), "b": _id_width(first.b), "rank": len(str(int(first.rank.max()))),
                  "score": max(len(format_number(float(v), self.precision)) for v in sample),
                  "match": len("same") if "match" not in self.columns or first.match.all() else len("different")}
        for c in self.columns:
            if c[:2] in ("a_", "b_"):
                widths[c] = _text_width(self._shown(first, c), 1000)
        self.widths = {c: max(len(c), widths[c]) for c in self.columns}
        self._fit_terminal(console.width)
        self.previous = None  # the row of A of the last row written

    def _fit_terminal(self, width: int) -> None:
        """Narrow the id and text columns, widest first, until the table fits `width`: all of them
        down to _MIN_ID_WIDTH, then the shown texts (--show) down to 3 cells, then the ids down to 4."""
        ids = [c for c in self.columns if c in ("a", "b")]
        texts = [c for c in self.columns if c[:2] in ("a_", "b_")]
        excess = sum(self.widths.values()) + 3 * (len(self.columns) - 1) - width
        for narrowed, floor in ((ids + texts, _MIN_ID_WIDTH), (texts, 3), (ids, 4)):
            while excess > 0 and narrowed:
                widest = max(narrowed, key=self.widths.get)
                if self.widths[widest] <= floor:
                    break
                self.widths[widest] -= 1
                excess -= 1

    @staticmethod
    def _shown(part: Ranking, column: str):
        """The texts of a shown column ('a_text': the 'text' field of A)."""
        return (part.a if column[0] == "a" else part.b).fields[column[2:]]

    def _rule(self, level: str) -> str:
        last = len(self.columns) - 1
        return self.box.get_row([self.widths[c] + (i > 0) + (i < last) for i, c in enumerate(self.columns)],
                                level, edge=False)

    def header(self) -> None:
        from rich.text import Text

        line = Text()
        for i, c in enumerate(self.columns):
            if i:
                line.append(f" {self.box.head_vertical} ")
            line.append(_fit(c, self.widths[c], right=c in ("rank", "score")), style="bold")
        self.console.print(line, soft_wrap=True)
        self.console.file.write(self._rule("head") + "\n")

    def lines(self, part: Ranking, start: int, stop: int) -> list[str]:
        """The table lines of rows start:stop of a part."""
        a_index, b_index = part.a_index[start:stop].tolist(), part.b_index[start:stop].tolist()
        cells = {
            "a": [_fit(safe_text(part.a.id_of(i)), self.widths["a"]) for i in a_index],
            "b": [_fit(safe_text(part.b.id_of(j)), self.widths["b"]) for j in b_index],
            "rank": [str(r) for r in part.rank[start:stop].tolist()],
            "score": [format_number(s, self.precision) for s in part.score[start:stop].tolist()],
        }
        for c in self.columns:
            if c[:2] in ("a_", "b_"):
                values = self._shown(part, c)
                cells[c] = [_fit(safe_text(str(values[i])), self.widths[c])
                            for i in (a_index if c[0] == "a" else b_index)]
        if "match" in self.columns:
            cells["match"] = ["same" if m else "different" for m in part.match[start:stop].tolist()]
        for c in ("rank", "score", "match"):
            if c in self.columns:
                self.widths[c] = max(self.widths[c], *map(len, cells[c]))
                right = c != "match"
                cells[c] = [v.rjust(self.widths[c]) if right else v.ljust(self.widths[c]) for v in cells[c]]
        if self.grouping == "row":
            previous = [self.previous, *a_index]
            for c in self.columns:
                if c == "a" or c[:2] == "a_":
                    blank = " " * self.widths[c]
                    cells[c] = [blank if i == prev else cell for i, prev, cell in zip(a_index, previous, cells[c])]
        separator = f" {self.box.mid_vertical} "
        rule = self._rule("row") if self.grouping == "row" else None
        lines = []
        for i, row in zip(a_index, zip(*(cells[c] for c in self.columns))):
            if rule is not None and self.previous is not None and i != self.previous:
                lines.append(rule)
            self.previous = i
            lines.append(separator.join(row))
        return lines

    def footer(self, first: Ranking) -> None:
        if self.verdicts:
            sign = ">=" if first.metric.higher_is_better else "<="
            self.console.print(f"{direction(first.metric)}; same when {first.metric.name} {sign} {first.threshold:g}")
        else:
            self.console.print(direction(first.metric))


def ranking_table(parts: Iterable[Ranking], out: TextIO, options: OutputOptions, verdicts: bool = False) -> None:
    """A stream of Ranking chunks as one table, written and flushed a group of rows at a time."""
    console = console_on(out, options.width)
    table = first = None
    for part in parts:
        for start in range(0, len(part), TABLE_ROW_GROUP):
            if table is None:
                first, table = part, _RankingTable(part, console, options, verdicts)
                table.header()
            out.write("\n".join(table.lines(part, start, start + TABLE_ROW_GROUP)) + "\n")
            out.flush()  # what is drawn is seen, and a closed pipe is found, as the rows come
    if table is None:
        if options.notify is not None:
            options.notify("no pairs to show (all were filtered out)")
        return
    table.footer(first)


def verdicts_table(parts: Iterable, out: TextIO, options: OutputOptions) -> None:
    """Verdicts: a ranking table with a `match` column, and the threshold said below it."""
    ranking_table(parts, out, options, verdicts=True)

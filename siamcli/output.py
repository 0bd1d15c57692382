"""Turning results into text: one table of formatters (table, json, jsonl, csv, tsv).

A formatter takes an iterable of result parts (a stream of Ranking chunks, or one result) and a
text stream. Machine formats keep full float precision and write NaN/inf as JSON null or an
empty CSV cell; only tables round. rich is imported only when a table is drawn.

Text is made safe for what reads it: tables show control characters escaped (`\\x1b`,
`\\u202e`), JSON escapes the characters that split lines or act on a terminal, and CSV/TSV quote
every field that a reader could split or take for a comment.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from typing import Callable, Iterable, TextIO

import numpy as np

from .io import EmbeddingSet
from .results import MatrixResult, MetricList, Ranking, Score, Verdicts, plain

DEFAULT_PRECISION = 4


@dataclass
class OutputOptions:
    precision: int = DEFAULT_PRECISION
    notify: Callable[[str], None] | None = None  # messages for the user (stderr), e.g. what a table hides


def _is_document(part) -> bool:
    """A report that is one object (`record()`), not a list of records."""
    return hasattr(part, "record") and not hasattr(part, "records")


#: Characters a terminal acts on instead of showing them: C0 and C1 controls, DEL, the line and
#: paragraph separators (they split lines for many readers) and the bidirectional overrides and
#: isolates (they reorder what follows: an id can make a score read backwards).
_UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
#: Of those, what json.dumps leaves raw with ensure_ascii=False (it escapes C0 itself).
_UNSAFE_JSON = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape_char(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: str) -> str:
    """Text fit for a terminal: control characters shown as escapes.

    >>> safe_text("id\\x1b[2J\\u202e")
    'id\\\\x1b[2J\\\\u202e'
    """
    if text.isascii() and text.isprintable():  # the common case, 10x faster than the regex
        return text
    return _UNSAFE_TEXT.sub(_escape_char, text)


def _json_escape(match: re.Match) -> str:
    return f"\\u{ord(match.group()):04x}"


def _dumps(obj) -> str:
    """Strict JSON on one line: non-ASCII text stays readable, but nothing that splits lines
    (U+2028, U+2029, NEL) or acts on a terminal is left raw."""
    text = json.dumps(obj, allow_nan=False, ensure_ascii=False)
    if text.isascii() and "\x7f" not in text:  # the common case, 10x faster than the regex
        return text
    return _UNSAFE_JSON.sub(_json_escape, text)


def _records(parts: Iterable) -> Iterable[dict]:
    for part in parts:
        if _is_document(part):
            yield part.record()
        else:
            yield from part.records()


def write_jsonl(parts: Iterable, out: TextIO, options: OutputOptions) -> None:
    for record in _records(parts):
        out.write(_dumps(plain(record)) + "\n")


def _write_matrix_json(result: MatrixResult, out: TextIO) -> None:
    """The matrix as one JSON object, the text json.dumps gives, written a row at a time."""
    head = _dumps({"metric": result.metric.name, "higher_is_better": result.metric.higher_is_better,
                   "row_ids": result.row_ids(), "col_ids": result.col_ids(), "values": []})
    out.write(head[: -len("]}")])
    sep = ""
    for row in result.values:
        out.write(sep + _dumps(plain(row)))
        sep = ", "
    out.write("]}\n")


def write_json(parts: Iterable, out: TextIO, options: OutputOptions) -> None:
    parts = iter(parts)
    first = next(parts, None)
    if isinstance(first, MatrixResult):
        _write_matrix_json(first, out)
        return
    if _is_document(first):
        out.write(_dumps(plain(first.record())) + "\n")
        return
    out.write("[")
    sep = "\n"
    for record in _records([first] if first is not None else []):
        out.write(sep + _dumps(plain(record)))
        sep = ",\n"
    for record in _records(parts):
        out.write(sep + _dumps(plain(record)))
        sep = ",\n"
    out.write("\n]\n" if sep != "\n" else "]\n")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return _dumps(plain(value))  # a list of objects (per-class rows) as compact JSON
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, list):
        return ";".join(_cell(v) for v in value)
    return str(value)


#: A CSV/TSV field needs quotes when it holds the separator, a quote, CR or LF (Python's csv
#: writer leaves a bare CR unquoted), starts or ends with white space (readers that trim would
#: lose it) or starts with '#' (readers that skip comment lines, siamcli's own among them).
_NEEDS_QUOTES = {sep: re.compile(f'[{sep}"\\r\\n]|^[\\s#]|\\s$') for sep in (",", "\t")}


def _field(text: str, sep: str) -> str:
    """One CSV/TSV field, quoted (quotes doubled) when a reader could misread it bare."""
    if _NEEDS_QUOTES[sep].search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def _line(cells: Iterable, sep: str) -> str:
    return sep.join(_field(_cell(value), sep) for value in cells) + "\n"


def write_matrix_rows(out: TextIO, col_ids: list[str], rows: Iterable[tuple[str, list]], delimiter: str = ",") -> None:
    """A matrix as CSV/TSV: a header `id,<col ids>`, then one line per row, full precision.
    Rows come as (row id, values) and are written as they arrive (a matrix larger than memory)."""
    out.write(_line(["id", *col_ids], delimiter))
    for row_id, values in rows:  # numbers never need quotes: only the id is checked
        out.write(_field(str(row_id), delimiter) + delimiter + delimiter.join(map(_cell, values)) + "\n")


def _flat(record: dict, prefix: str = "") -> dict:
    """Nested objects as dotted columns: {"tar_at_far": {"0.01": x}} -> {"tar_at_far.0.01": x}."""
    out = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _write_delimited(parts: Iterable, out: TextIO, options: OutputOptions, delimiter: str) -> None:
    header = None
    for part in parts:
        if isinstance(part, MatrixResult):
            rows = ((part.a.id_of(i), row.tolist()) for i, row in enumerate(np.asarray(part.values, dtype=np.float64)))
            write_matrix_rows(out, part.col_ids(), rows, delimiter)
            continue
        for record in _records([part]):
            record = _flat(record)
            if header is None:  # the first record's keys, nested objects as dotted columns
                header = list(record)
                out.write(_line(header, delimiter))
            out.write(_line([record.get(f) for f in header], delimiter))
        if header is None and getattr(part, "fields", None):
            header = list(part.fields)
            out.write(_line(header, delimiter))


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
    """A rich console on `out` that shows control characters escaped (rich would pass ESC through),
    and lets a closed pipe raise BrokenPipeError (rich's own handling exits with status 1)."""
    from rich.console import Console

    class SafeConsole(Console):
        def render_str(self, text: str, **kwargs):
            return super().render_str(safe_text(text), **kwargs)

        def on_broken_pipe(self) -> None:
            self.quiet = True  # nothing more to write to a reader that has gone
            raise BrokenPipeError

    return SafeConsole(file=out, markup=False, highlight=False, emoji=False, soft_wrap=False)


def _direction(metric) -> str:
    return f"{metric.name}: {'higher' if metric.higher_is_better else 'lower'} is closer"


#: Table columns for each kind of ranking (rank-per-row lists show each row of A once).
_RANKING_COLUMNS = {"row": ("a", "rank", "b", "score"), "overall": ("rank", "a", "b", "score"), "paired": ("a", "b", "score")}
#: Rows of a ranking table written (and flushed) together: memory stays flat however long it is.
TABLE_ROW_GROUP = 1024
#: The widest an id is shown in a ranking table; a longer one ends in an ellipsis (in the table only).
MAX_ID_WIDTH = 40
_MIN_ID_WIDTH = 8  # ids give way to the terminal's width down to this


def _id_width(ids: EmbeddingSet) -> int:
    """Display width of the widest id of a set, escaped as tables show them, at most MAX_ID_WIDTH."""
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

    def __init__(self, first: Ranking, console, options: OutputOptions):
        from rich.box import HEAVY_HEAD

        self.console, self.precision = console, options.precision
        self.grouping = first.grouping
        self.columns = _RANKING_COLUMNS[self.grouping] + (("match",) if isinstance(first, Verdicts) else ())
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
        self.widths = {c: max(len(c), widths[c]) for c in self.columns}
        self._fit_terminal(console.width)
        self.previous = None  # the row of A of the last row written

    def _fit_terminal(self, width: int) -> None:
        """Narrow the id columns, widest first, until the table fits `width` (or they are narrow)."""
        ids = [c for c in ("a", "b") if c in self.widths]
        excess = sum(self.widths.values()) + 3 * (len(self.columns) - 1) - width
        while excess > 0:
            widest = max(ids, key=self.widths.get)
            if self.widths[widest] <= _MIN_ID_WIDTH:
                return
            self.widths[widest] -= 1
            excess -= 1

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
        if "match" in self.columns:
            cells["match"] = ["same" if m else "different" for m in part.match[start:stop].tolist()]
        for c in ("rank", "score", "match"):
            if c in self.columns:
                self.widths[c] = max(self.widths[c], *map(len, cells[c]))
                right = c != "match"
                cells[c] = [v.rjust(self.widths[c]) if right else v.ljust(self.widths[c]) for v in cells[c]]
        if self.grouping == "row":
            blank = " " * self.widths["a"]
            previous = [self.previous, *a_index]
            cells["a"] = [blank if i == prev else cell for i, prev, cell in zip(a_index, previous, cells["a"])]
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
        if isinstance(first, Verdicts):
            sign = ">=" if first.metric.higher_is_better else "<="
            self.console.print(f"{_direction(first.metric)}; same when {first.metric.name} {sign} {first.threshold:g}")
        else:
            self.console.print(_direction(first.metric))


def _write_ranking_table(parts: Iterable[Ranking], console, out: TextIO, options: OutputOptions) -> None:
    """A stream of Ranking chunks as one table, written and flushed a group of rows at a time."""
    table = first = None
    for part in parts:
        for start in range(0, len(part), TABLE_ROW_GROUP):
            if table is None:
                first, table = part, _RankingTable(part, console, options)
                table.header()
            out.write("\n".join(table.lines(part, start, start + TABLE_ROW_GROUP)) + "\n")
            out.flush()  # what is drawn is seen, and a closed pipe is found, as the rows come
    if table is None:
        if options.notify is not None:
            options.notify("no pairs to show (all were filtered out)")
        return
    table.footer(first)


def _matrix_table(result: MatrixResult, console, options: OutputOptions):
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


def _evaluation_tables(result, console, options: OutputOptions) -> None:
    """The metrics ranked by AUC (when several), the best one in detail, its score distributions."""
    from rich.table import Table

    from .evaluation import text_histogram

    num = lambda x: "-" if x is None else format_number(float(x), options.precision)  # noqa: E731
    records = list(result.records())
    best, record = result.best, records[0]
    retrieval = best.retrieval is not None
    fars = list(record["tar_at_far"])
    console.print(f"{result.pairs}: {record['n_positive']:,} same, {record['n_negative']:,} different")
    if len(records) > 1:
        table = Table(show_edge=False, pad_edge=False, title=None)
        strictest = fars[-1] if fars else None  # the other FARs are in the details and the JSON
        columns = ["metric", "AUC", "EER", "acc", *([f"TAR@{strictest}"] if fars else []), "cv acc"]
        columns += ["P@1", "mAP@R"] if retrieval else []
        width = options.precision + 2  # "0.": numbers are never cut
        for c in columns:
            if c == "metric":
                table.add_column(c, overflow="fold")
            else:
                table.add_column(c, justify="right", no_wrap=True, min_width=max(len(c), width))
        for r, evaluated in zip(records, result.results):
            row = [evaluated.name, num(r["auc"]), num(r["eer"]), num(r["best_accuracy"]),
                   *([num(r["tar_at_far"][strictest])] if fars else []), num(r["cv_accuracy"])]
            row += [num(r.get("precision_at_1")), num(r.get("map_at_r"))] if retrieval else []
            table.add_row(*row)
        console.print(table)
        console.print("acc: best accuracy; cv acc: cross-validated accuracy; ranked by AUC")
        console.print()
    direction = "higher" if record["higher_is_better"] else "lower"
    sign = ">=" if record["higher_is_better"] else "<="
    details = Table(show_edge=False, pad_edge=False, show_header=False, box=None)
    details.add_column("figure")
    details.add_column("value", justify="right")
    details.add_column("at threshold")
    lo_hi = record["best_accuracy_threshold_range"]
    details.add_row("ROC AUC", num(record["auc"]), "")
    details.add_row("EER", num(record["eer"]), f"{best.verification.metric} {sign} {num(record['eer_threshold'])}")
    details.add_row("best accuracy", num(record["best_accuracy"]),
                    "-" if lo_hi is None else f"{best.verification.metric} {sign} {num(record['best_accuracy_threshold'])}"
                    f" (any of {num(lo_hi[0])} .. {num(lo_hi[1])})")
    for f in fars:
        tar, at = record["tar_at_far"][f], record["tar_at_far_threshold"][f]
        details.add_row(f"TAR at FAR {f}", "not reachable" if tar is None else num(tar),
                        "" if at is None else f"{best.verification.metric} {sign} {num(at)}")
    details.add_row("average precision", num(record["average_precision"]), "")
    details.add_row("F1", num(record["f1"]), "at the best-accuracy threshold")
    cv = "-" if record["cv_accuracy"] is None else f"{num(record['cv_accuracy'])} ± {num(record['cv_accuracy_std'])}"
    details.add_row(f"cv accuracy ({record['cv_folds']} folds)", cv, "threshold from the other folds")
    if retrieval:
        details.add_row("precision@1", num(record["precision_at_1"]), "")
        for k, value in record["recall_at_k"].items():
            details.add_row(f"recall@{k}", num(value), "")
        details.add_row("mAP@R", num(record["map_at_r"]), "")
    console.print(f"{best.name} ({direction} is closer):")
    console.print(details)
    console.print()
    dist = Table(show_edge=False, pad_edge=False)
    dist.add_column("scores")
    dist.add_column("same", justify="right")
    dist.add_column("different", justify="right")
    pos, neg = record["positive_scores"], record["negative_scores"]
    for key, label in (("count", "count"), ("mean", "mean"), ("std", "std"), ("min", "min"), ("q05", "5%"),
                       ("q50", "median"), ("q95", "95%"), ("max", "max")):
        show = (lambda x: f"{x:,}") if key == "count" else num
        dist.add_row(label, show(pos[key]), show(neg[key]))
    console.print(dist)
    console.print(f"overlap of the two histograms: {num(record['overlap'])} (0 = separated, 1 = identical)")
    console.print()
    for line in text_histogram(best.distribution):
        console.print(line)


def _key_value_table(rows):
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False, show_header=False, box=None)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for label, value in rows:
        table.add_row(label, value)
    return table


def _inspection_tables(report, console, options: OutputOptions) -> None:
    """Plain language first (summary, findings), then the figures, then the classes."""
    from rich.table import Table

    r = report.record()
    num = lambda x: "-" if x is None else format_number(float(x), options.precision)  # noqa: E731
    console.print(f"{r['source']}:")
    for line in r["summary"]:
        console.print(f"  {line}")
    if r["warnings"]:
        console.print("findings:")
        for line in r["warnings"]:
            console.print(f"  ! {line}")
    console.print()
    cos = r["cosine_quantiles"] or {}
    norms = r["norm_quantiles"] or {}
    console.print(_key_value_table([
        ("vectors x dimensions", f"{r['n']:,} x {r['dim']:,} ({r['dtype']})"),
        ("non-finite / zero rows", f"{r['nonfinite_rows']:,} / {r['zero_rows']:,}"),
        ("norm min / median / max", f"{num(r['norm_min'])} / {num(norms.get('50%'))} / {num(r['norm_max'])}"),
        ("L2-normalised", "yes" if r["normalized"] else "no"),
        ("dead / low-variance dimensions", f"{r['dead_dimensions']} / {r['low_variance_dimensions']}"),
        ("effective rank", num(r["effective_rank"])),
        ("participation ratio", num(r["participation_ratio"])),
        ("components for 90% of variance", str(r["explained_variance_90"])),
        ("mean cosine (std)", f"{num(r['mean_cosine'])} ({num(r['std_cosine'])})"),
        ("cosine 5% / 50% / 95%", f"{num(cos.get('5%'))} / {num(cos.get('50%'))} / {num(cos.get('95%'))}"),
        ("pairs with cosine > 0.95", num(r["high_cosine_fraction"])),
        ("spread (RMS distance / RMS norm)", num(r["spread_ratio"])),
        ("exact duplicate rows", f"{r['exact_duplicate_rows']:,}"),
        ("near-duplicate pairs (sampled)", f"{r['near_duplicate_pairs']:,}"),
        ("sampled rows / pairs", f"{r['sampled_rows']:,} / {r['sampled_pairs']:,}"),
        ("collapsed", "YES" if r["collapsed"] else "no"),
    ]))
    classes = r["classes"]
    if classes is None:
        return
    console.print()
    console.print(f"classes ({classes['metric']}; {'higher' if classes['higher_is_better'] else 'lower'} is closer): "
                  f"same-class mean {num(classes['intra_mean'])}, other-class mean {num(classes['inter_mean'])}, "
                  f"separation d' {num(classes['separation'])}")
    table = Table(show_edge=False, pad_edge=False)
    for name, justify in (("class", "left"), ("count", "right"), ("same-class", "right"), ("other-class", "right"),
                          ("nearest class", "left"), ("to nearest", "right"), ("separated", "left")):
        table.add_column(name, justify=justify)
    for row in classes["per_class"]:
        table.add_row(str(row["class"]), f"{row['count']:,}", num(row["intra_mean"]), num(row["inter_mean"]),
                      str(row["nearest_class"]), num(row["nearest_mean"]), "yes" if row["separated"] else "NO")
    console.print(table)


def _loss_table(result, console, options: OutputOptions) -> None:
    """One loss as figures, or a margin sweep as one row per margin."""
    from rich.table import Table

    num = lambda x: "-" if x is None else format_number(float(x), options.precision)  # noqa: E731
    records = list(result.records())
    skip = {"kind", "metric", "n", "squared"}
    first = records[0]
    what = f"{first['kind']} loss over {first['n']:,} {'pairs' if first['kind'] == 'contrastive' else 'triplets'}"
    console.print(what + (f" ({first['metric']} distances)" if first.get("metric") else ""))
    if len(records) == 1 and not hasattr(result, "rows"):
        console.print(_key_value_table([(k.replace("_", " "), num(v) if not isinstance(v, int) else f"{v:,}")
                                        for k, v in first.items() if k not in skip]))
        return
    table = Table(show_edge=False, pad_edge=False)
    constant = {k for k in first if k != "margin" and len({r[k] for r in records}) == 1}  # said once, above
    for k in sorted(constant - skip, key=list(first).index):
        console.print(f"{k.replace('_', ' ')}: {num(first[k]) if not isinstance(first[k], int) else f'{first[k]:,}'}")
    columns = [k for k in first if k not in skip | constant]
    for c in columns:
        table.add_column(c.replace("_fraction", "").replace("_", " "), justify="right")
    for r in records:
        table.add_row(*(num(r[c]) if not isinstance(r[c], int) else f"{r[c]:,}" for c in columns))
    console.print(table)
    if getattr(result, "suggestion", None):
        console.print(result.suggestion)


def _report_tables(report, console, options: OutputOptions) -> None:
    # the report modules are imported only when one of their reports is drawn
    from .evaluation import Evaluation
    from .inspection import InspectionReport
    from .losses import LossReport, MarginSweep

    for kind, draw in ((Evaluation, _evaluation_tables), (InspectionReport, _inspection_tables),
                       ((LossReport, MarginSweep), _loss_table)):
        if isinstance(report, kind):
            draw(report, console, options)
            return
    raise TypeError(f"no table layout for {type(report).__name__}")


def write_table(parts: Iterable, out: TextIO, options: OutputOptions) -> None:
    parts = iter(parts)
    first = next(parts, None)
    if first is None:
        return
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
        _write_ranking_table(itertools.chain([first], parts), console, out, options)
    else:
        _report_tables(first, console, options)


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
    if hasattr(parts, "records") or hasattr(parts, "record"):  # one result rather than a stream of parts
        parts = [parts]
    FORMATTERS[fmt](parts, out, options or OutputOptions())

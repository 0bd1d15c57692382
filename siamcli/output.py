"""Turning results into text: one table of formatters (table, json, jsonl, csv, tsv).

A formatter takes an iterable of result parts (a stream of Ranking chunks, or one result) and a
text stream. Machine formats keep full float precision and write NaN/inf as JSON null or an
empty CSV cell; only tables round. rich is imported only when a table is drawn.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Callable, Iterable, TextIO

import numpy as np

from .results import MatrixResult, MetricList, Ranking, Score, Verdicts, plain

DEFAULT_PRECISION = 4


@dataclass
class OutputOptions:
    precision: int = DEFAULT_PRECISION
    notify: Callable[[str], None] | None = None  # messages for the user (stderr), e.g. what a table hides


def _is_document(part) -> bool:
    """A report that is one object (`record()`), not a list of records."""
    return hasattr(part, "record") and not hasattr(part, "records")


def _dumps(obj) -> str:
    return json.dumps(obj, allow_nan=False, ensure_ascii=False)


def _records(parts: Iterable) -> Iterable[dict]:
    for part in parts:
        if _is_document(part):
            yield part.record()
        else:
            yield from part.records()


def write_jsonl(parts: Iterable, out: TextIO, options: OutputOptions) -> None:
    for record in _records(parts):
        out.write(_dumps(plain(record)) + "\n")


def write_json(parts: Iterable, out: TextIO, options: OutputOptions) -> None:
    parts = iter(parts)
    first = next(parts, None)
    if isinstance(first, MatrixResult):
        values = plain(first.values)
        doc = {
            "metric": first.metric.name,
            "higher_is_better": first.metric.higher_is_better,
            "row_ids": first.row_ids(),
            "col_ids": first.col_ids(),
            "values": values,
        }
        out.write(_dumps(doc) + "\n")
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


def write_matrix_rows(out: TextIO, col_ids: list[str], rows: Iterable[tuple[str, list]], delimiter: str = ",") -> None:
    """A matrix as CSV/TSV: a header `id,<col ids>`, then one line per row, full precision.
    Rows come as (row id, values) and are written as they arrive (a matrix larger than memory)."""
    import csv  # loaded for CSV/TSV output only

    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["id", *col_ids])
    for row_id, values in rows:
        writer.writerow([row_id, *map(_cell, values)])


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
    import csv

    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
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
                writer.writerow(header)
            writer.writerow([_cell(record.get(f)) for f in header])
        if header is None and getattr(part, "fields", None):
            header = list(part.fields)
            writer.writerow(header)


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

"""The evaluation's table: siamcli.output draws these blocks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import counted
from ...results import Column, Grid
from .distribution import fitted_histogram
from .verification import baseline_words, small_gain

if TYPE_CHECKING:  # the evaluator imports this module
    from .evaluator import Evaluation, MetricEvaluation


def _interval(ci, precision: int, sep: str = " .. ") -> str:
    from ...output.text import figure

    return "-" if ci is None else f"{figure(ci[0], precision)}{sep}{figure(ci[1], precision)}"


def _p(value, precision: int) -> str:
    """A p-value as the table shows it: '<0.0001' below the shown precision."""
    from ...output.text import figure

    return f"<{10.0 ** -precision:.{precision}f}" if value is not None and value < 10.0 ** -precision else figure(
        value, precision)


def short_names(names: list[str]) -> dict[str, str]:
    """Each model's name as tables show it: its file name (each side's, for LEFT:RIGHT) when
    that tells the models apart, else the name as given."""
    import os

    short = {name: ":".join(os.path.basename(side) or side for side in name.split(":")) for name in names}
    return short if len(set(short.values())) == len(short) else {name: name for name in names}


def _number_columns(names: list[str], precision: int) -> list[Column]:
    width = precision + 2  # "0.": numbers are never cut
    return [Column(c, overflow="fold", min_width=6) if c in ("model", "metric") else
            Column(c, justify="right", no_wrap=True, min_width=max(len(c), width)) for c in names]


def _metrics_grid(result: Evaluation, records: list[dict], fars: list, precision: int) -> Grid:
    """One model: a row per metric, best AUC first, at the strictest FAR (the others are in the details)."""
    from ...output.text import figure

    num = lambda x: figure(x, precision)  # noqa: E731
    retrieval = result.best.retrieval is not None
    strictest = fars[-1] if fars else None
    names = ["metric", "AUC", "EER", "acc", *([f"TAR@{strictest}"] if fars else []), "cv acc"]
    names += ["P@1", "mAP@R"] if retrieval else []
    grid = Grid(_number_columns(names, precision))
    alike = _alike(result)
    for r, evaluated in zip(records, result.results):
        if evaluated.same_order_as is not None:
            continue  # on its leader's row
        row = [", ".join([evaluated.name, *alike.get(evaluated.name, [])]), num(r["auc"]), num(r["eer"]), num(r["best_accuracy"]),
               *([num(r["tar_at_far"][strictest])] if fars else []), num(r["cv_accuracy"])]
        row += [num(r.get("precision_at_1")), num(r.get("map_at_r"))] if retrieval else []
        grid.rows.append(row)
    return grid


def _alike(result: Evaluation) -> dict[str, list[str]]:
    """The metrics that order the pairs as another (above them) does, by that other's name."""
    alike: dict[str, list[str]] = {}
    for r in result.results:
        if r.same_order_as is not None and r.reference is None:
            alike.setdefault(r.same_order_as, []).append(r.name)
    return alike


def _alike_words(result: Evaluation) -> list[str]:
    """A line per group of metrics that order the pairs alike (none when there is none)."""
    return [f"{', '.join([lead, *others])}: the same order of every pair, so the same figures"
            for lead, others in _alike(result).items()]


def _named(evaluated: MetricEvaluation) -> str:
    """A metric's name in a table, with the metric above it that orders the pairs alike."""
    return evaluated.name + ("" if evaluated.same_order_as is None else f" (as {evaluated.same_order_as})")


def _models_grid(result: Evaluation, records: list[dict], fars: list, precision: int) -> Grid:
    """Several models: a row per (model, metric), best AUC first, with the AUC's interval and p
    against the best model with the same metric; then EER and TAR at the strictest FAR, or with
    classes precision@1 and mAP@R (the rest is in the details and the records). The metric
    column only when there are several metrics."""
    from ...output.text import figure

    num = lambda x: figure(x, precision)  # noqa: E731
    retrieval = result.best.retrieval is not None
    strictest = fars[-1] if fars else None
    short = short_names(result.models)
    metrics = len({r.name for r in result.results}) > 1
    tail = ["P@1", "mAP@R"] if retrieval else ["EER", *([f"TAR@{strictest}"] if fars else [])]
    grid = Grid(_number_columns(["model", *(["metric"] if metrics else []), "AUC", "95% CI", "p", *tail], precision))
    for r, evaluated in zip(records, result.results):
        row = [short[evaluated.model_label], *([_named(evaluated)] if metrics else []), num(r["auc"]),
               _interval(r["auc_ci"], precision, ".."), _p(r["auc_p_value"], precision)]
        row += ([num(r["precision_at_1"]), num(r["map_at_r"])] if retrieval else
                [num(r["eer"]), *([num(r["tar_at_far"][strictest])] if fars else [])])
        grid.rows.append(row)
    return grid


def verdicts(result: Evaluation, precision: int, limit: int = 12) -> list[str]:
    """In words, per metric: the best model, and whether each other model is really worse
    (DeLong's paired test at the 5% level)."""
    from ...output.text import figure

    num = lambda x: figure(x, precision)  # noqa: E731
    short = short_names(result.models)
    leaders: dict[str, MetricEvaluation] = {}
    lines = []
    for r in (r for r in result.results if r.reference is None):  # the models, not their smaller copies
        leader = leaders.setdefault(r.name, r)
        if leader is r:
            continue
        gap = f"AUC {num(leader.verification.auc)} against {num(r.verification.auc)}"
        first, other, p = short[leader.model_label], short[r.model_label], _p(r.auc_p_value, precision)
        if r.auc_p_value is None:
            lines.append(f"{r.name}: {first} ranks above {other} ({gap}; too few pairs to test)")
        elif r.auc_p_value < 0.05:
            lines.append(f"{r.name}: {first} beats {other} ({gap}, p {'< ' + p[1:] if p[0] == '<' else '= ' + p})")
        else:
            lines.append(f"{r.name}: {first} and {other} are not told apart by these pairs ({gap}, p = {p})")
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more comparisons in the table (column p)"]
    best = result.best
    head = (f"Best: {short[best.model_label]} with {best.name}, AUC {num(best.verification.auc)} "
            f"(95% CI {_interval(best.intervals.auc if best.intervals else None, precision)}).")
    return [head, *lines, ""]


def _variants_grid(result: Evaluation, records: list[dict], fars: list, precision: int) -> Grid:
    """Models and their smaller copies: each model's row (ranked by AUC, as _models_grid's) with
    its copies under the same metric below it, largest first, each with its bytes per vector, the
    AUC's interval and p against the row it follows; then, unless a metric column is needed (80
    columns), TAR at the strictest FAR, or with classes precision@1."""
    from ...output.text import count, figure

    num = lambda x: figure(x, precision)  # noqa: E731
    retrieval = result.best.retrieval is not None
    strictest = fars[-1] if fars else None
    short = short_names(result.models)
    metrics = len({r.name for r in result.results if r.reference is None}) > 1
    tail = [] if metrics else ["P@1"] if retrieval else [f"TAR@{strictest}"] if fars else []
    grid = Grid(_number_columns(["model", *(["metric"] if metrics else []), "bytes", "AUC", "95% CI", "p", *tail],
                                precision))
    for r, evaluated in zip(records, result.results):
        if evaluated.reference is None:
            label = short[evaluated.model_label]
        else:
            other = not metrics and evaluated.name != evaluated.reference.name
            label = f"  {evaluated.variant.label}" + (f" ({evaluated.name})" if other else "")
        row = [label, *([_named(evaluated)] if metrics else []), count(r["bytes_per_vector"]), num(r["auc"]),
               _interval(r["auc_ci"], precision, ".."), _p(r["auc_p_value"], precision)]
        row += [] if metrics else [num(r["precision_at_1"])] if retrieval else [
            num(r["tar_at_far"][strictest])] if fars else []
        grid.rows.append(row)
    return grid


def kept_lines(result: Evaluation, precision: int, limit: int = 12) -> list[str]:
    """In words, per model under its top-ranked metric: the share of the AUC each smaller copy
    keeps at its share of the size, and whether the loss is real (DeLong's paired test)."""
    from ...output.text import figure
    from .variants import kept_words

    short = short_names(result.models)
    tops = {}
    for r in result.results:
        if r.reference is None:
            tops.setdefault(r.model, r)
    lines = []
    for top in tops.values():
        copies = [r for r in result.results if r.reference is top]
        if not copies:
            continue
        full = top.variant
        lines.append(f"{short[top.model_label]}, {full.bytes_per_vector:,} bytes a vector ({top.name} AUC "
                     f"{figure(top.verification.auc, precision)}), stored smaller:")
        for r in copies:
            verdict = ("too few pairs to test" if r.auc_p_value is None else "not told apart"
                       if r.auc_p_value >= 0.05 else
                       f"a real {'loss' if r.verification.auc < top.verification.auc else 'gain'}")
            lines.append(f"  {kept_words(r.variant, r.verification.auc, full, top.verification.auc)}: {verdict}")
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more in the table"]
    return [*lines, ""]


def _details_grid(best: MetricEvaluation, record: dict, precision: int) -> Grid:
    """The best metric's figures, each with the threshold it holds at."""
    from ...output.text import figure

    num = lambda x: figure(x, precision)  # noqa: E731
    sign = ">=" if record["higher_is_better"] else "<="
    at = lambda x: f"{best.verification.metric} {sign} {num(x)}"  # noqa: E731
    ci = lambda key: _interval(record[key], precision)  # noqa: E731
    lo_hi = record["best_accuracy_threshold_range"]
    rows = [["ROC AUC", num(record["auc"]), ci("auc_ci"), ""],
            ["EER", num(record["eer"]), ci("eer_ci"), at(record["eer_threshold"])],
            ["best accuracy", num(record["best_accuracy"]), ci("best_accuracy_ci"),
             "-" if lo_hi is None else at(record["best_accuracy_threshold"]) + (
                 "" if num(lo_hi[0]) == num(lo_hi[1]) else f" (any of {num(lo_hi[0])} .. {num(lo_hi[1])})")],
            ["majority baseline", num(record["majority_baseline"]), "",
             "always " + ("'same'" if record["n_positive"] > record["n_negative"] else "'different'")]]
    for f in record["tar_at_far"]:
        tar, threshold = record["tar_at_far"][f], record["tar_at_far_threshold"][f]
        rows.append([f"TAR at FAR {f}", "not reachable" if tar is None else num(tar),
                     _interval(record["tar_at_far_ci"][f], precision), "" if threshold is None else at(threshold)])
    rows.append(["average precision", num(record["average_precision"]), "", ""])
    rows.append(["F1", num(record["f1"]), "", "at the best-accuracy threshold"])
    cv = "-" if record["cv_accuracy"] is None else f"{num(record['cv_accuracy'])} ± {num(record['cv_accuracy_std'])}"
    rows.append([f"cv accuracy ({record['cv_folds']} folds)", cv, "", "threshold from the other folds"])
    if best.retrieval is not None:
        rows.append(["precision@1", num(record["precision_at_1"]), ci("precision_at_1_ci"), ""])
        rows += [[f"recall@{k}", num(value), "", ""] for k, value in record["recall_at_k"].items()]
        rows.append(["mAP@R", num(record["map_at_r"]), ci("map_at_r_ci"), ""])
    columns = [Column("figure"), Column("value", justify="right"), Column("95% CI", justify="right"),
               Column("at threshold")]
    return Grid(columns, rows, show_header=False, box=False)


def _distribution_grid(record: dict, precision: int) -> Grid:
    """Same- and different-pair score statistics side by side."""
    from ...output.text import count, figure

    grid = Grid([Column("scores"), Column("same", justify="right"), Column("different", justify="right")])
    pos, neg = record["positive_scores"], record["negative_scores"]
    for key, label in (("count", "count"), ("mean", "mean"), ("std", "std"), ("min", "min"), ("q05", "5%"),
                       ("q50", "median"), ("q95", "95%"), ("max", "max")):
        show = count if key == "count" else lambda x: figure(x, precision)
        grid.rows.append([label, show(pos[key]), show(neg[key])])
    return grid


def evaluation_layout(result: Evaluation, precision: int) -> list:
    from ...output.text import figure

    records = list(result.records())
    best, record = result.best, records[0]
    fars = list(record["tar_at_far"])
    blocks = [f"{result.pairs}: {record['n_positive']:,} same, {record['n_negative']:,} different"]
    if record["best_accuracy_threshold"] is not None and small_gain(record["best_accuracy"], record["n_positive"],
                                                                    record["n_negative"]):
        blocks.append("warning: " + baseline_words(record["best_accuracy"], record["n_positive"], record["n_negative"]))
    if len(result.models) > 1:
        blocks += verdicts(result, precision)
    if result.has_variants:
        against = ", and of each model against the best model with the same metric" if len(result.models) > 1 else ""
        blocks += kept_lines(result, precision)
        blocks += [_variants_grid(result, records, fars, precision),
                   f"bytes: one stored vector; 95% CI: DeLong; p: DeLong's paired test (two-sided) of the AUC "
                   f"of each smaller copy against its model above it{against} (real: p < 0.05); binary: sign "
                   "bits compared by hamming", ""]
    elif len(result.models) > 1:
        blocks += [_models_grid(result, records, fars, precision),
                   "ranked by AUC; 95% CI: DeLong; p: DeLong's paired test of the AUC against the best model "
                   "with the same metric (two-sided)", *_alike_words(result), ""]
    elif len(records) > 1:
        blocks += [_metrics_grid(result, records, fars, precision),
                   f"acc: best accuracy (majority baseline {figure(record['majority_baseline'], precision)}); "
                   "cv acc: cross-validated accuracy; ranked by AUC", *_alike_words(result), ""]
    direction = "higher" if record["higher_is_better"] else "lower"
    intervals = (f"95% CI: AUC by DeLong, the others by {counted(result.bootstrap, 'bootstrap resample')} "
                 f"(seed {result.seed})"
                 if result.bootstrap else "95% CI: AUC by DeLong (no bootstrap resamples asked for)")
    shown = f"{short_names(result.models)[best.model_label]} {best.name}" if len(result.models) > 1 else best.name
    blocks += [f"{shown} ({direction} is closer):", _details_grid(best, record, precision), intervals, "",
               _distribution_grid(record, precision),
               f"overlap of the two histograms: {figure(record['overlap'], precision)} (0 = separated, 1 = identical)",
               "", fitted_histogram(best.distribution)]
    return blocks

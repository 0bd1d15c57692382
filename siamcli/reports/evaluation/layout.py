"""The evaluation's table: siamcli.output draws these blocks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...results import Column, Grid
from .distribution import text_histogram

if TYPE_CHECKING:  # the evaluator imports this module
    from .evaluator import Evaluation, MetricEvaluation


def _interval(ci, precision: int) -> str:
    from ...output.text import figure

    return "-" if ci is None else f"{figure(ci[0], precision)} .. {figure(ci[1], precision)}"


def _ranked_grid(result: Evaluation, records: list[dict], fars: list, precision: int) -> Grid:
    """One row per (model, metric), best AUC first, at the strictest FAR (the others are in the details)."""
    from ...output.text import figure

    num = lambda x: figure(x, precision)  # noqa: E731
    retrieval = result.best.retrieval is not None
    several = len(result.models) > 1
    strictest = fars[-1] if fars else None
    names = [*(["model"] if several else []), "metric", "AUC", "95% CI", *(["p"] if several else []), "EER", "acc",
             *([f"TAR@{strictest}"] if fars else []), "cv acc"]
    names += ["P@1", "mAP@R"] if retrieval else []
    width = precision + 2  # "0.": numbers are never cut
    columns = [Column(c, overflow="fold") if c in ("model", "metric") else
               Column(c, justify="right", no_wrap=True, min_width=max(len(c), width)) for c in names]
    grid = Grid(columns)
    for r, evaluated in zip(records, result.results):
        row = [*([evaluated.model] if several else []), evaluated.name, num(r["auc"]), _interval(r["auc_ci"], precision),
               *([num(r["auc_p_value"])] if several else []), num(r["eer"]), num(r["best_accuracy"]),
               *([num(r["tar_at_far"][strictest])] if fars else []), num(r["cv_accuracy"])]
        row += [num(r.get("precision_at_1")), num(r.get("map_at_r"))] if retrieval else []
        grid.rows.append(row)
    return grid


def _verdicts(result: Evaluation, precision: int, limit: int = 12) -> list[str]:
    """In words, per metric: the best model, and whether each other model is really worse
    (DeLong's paired test at the 5% level)."""
    from ...output.text import figure

    num = lambda x: figure(x, precision)  # noqa: E731
    leaders: dict[str, MetricEvaluation] = {}
    lines = []
    for r in result.results:
        leader = leaders.setdefault(r.name, r)
        if leader is r:
            continue
        gap = f"AUC {num(leader.verification.auc)} against {num(r.verification.auc)}"
        if r.auc_p_value is None:
            lines.append(f"{r.name}: {leader.model} ranks above {r.model} ({gap}; no test: too few pairs)")
        elif r.auc_p_value < 0.05:
            lines.append(f"{r.name}: {leader.model} beats {r.model} ({gap}, p = {num(r.auc_p_value)}: "
                         "not chance)")
        else:
            lines.append(f"{r.name}: {leader.model} and {r.model} are not told apart by these pairs "
                         f"({gap}, p = {num(r.auc_p_value)}: could be chance)")
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more comparisons in the table (column p)"]
    best = result.best
    head = (f"Best: {best.model} with {best.name}, AUC {num(best.verification.auc)} "
            f"(95% CI {_interval(best.intervals.auc if best.intervals else None, precision)}).")
    return [head, *lines, ""]


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
             "-" if lo_hi is None else f"{at(record['best_accuracy_threshold'])} (any of {num(lo_hi[0])} .. {num(lo_hi[1])})"]]
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
    if len(result.models) > 1:
        blocks += _verdicts(result, precision)
    if len(records) > 1:
        blocks += [_ranked_grid(result, records, fars, precision),
                   "acc: best accuracy; cv acc: cross-validated accuracy; 95% CI of the AUC: DeLong; ranked by AUC",
                   *(["p: DeLong's paired test of the AUC against the best model with the same metric "
                      "(two-sided; below 0.05: the gap is unlikely to be chance)"] if len(result.models) > 1 else []),
                   ""]
    direction = "higher" if record["higher_is_better"] else "lower"
    intervals = (f"95% CI: AUC by DeLong, the others by {result.bootstrap:,} bootstrap resamples (seed {result.seed})"
                 if result.bootstrap else "95% CI: AUC by DeLong (no bootstrap resamples asked for)")
    blocks += [f"{best.label if len(result.models) > 1 else best.name} ({direction} is closer):", _details_grid(best, record, precision), intervals, "",
               _distribution_grid(record, precision),
               f"overlap of the two histograms: {figure(record['overlap'], precision)} (0 = separated, 1 = identical)",
               "", *text_histogram(best.distribution)]
    return blocks

"""The evaluation's table: siamcli.output draws these blocks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...results import Column, Grid
from .distribution import text_histogram

if TYPE_CHECKING:  # the evaluator imports this module
    from .evaluator import Evaluation, MetricEvaluation


def _ranked_grid(result: Evaluation, records: list[dict], fars: list, precision: int) -> Grid:
    """One row per metric, best AUC first, at the strictest FAR (the others are in the details)."""
    from ...output.text import figure

    num = lambda x: figure(x, precision)  # noqa: E731
    retrieval = result.best.retrieval is not None
    strictest = fars[-1] if fars else None
    names = ["metric", "AUC", "EER", "acc", *([f"TAR@{strictest}"] if fars else []), "cv acc"]
    names += ["P@1", "mAP@R"] if retrieval else []
    width = precision + 2  # "0.": numbers are never cut
    columns = [Column(c, overflow="fold") if c == "metric" else
               Column(c, justify="right", no_wrap=True, min_width=max(len(c), width)) for c in names]
    grid = Grid(columns)
    for r, evaluated in zip(records, result.results):
        row = [evaluated.name, num(r["auc"]), num(r["eer"]), num(r["best_accuracy"]),
               *([num(r["tar_at_far"][strictest])] if fars else []), num(r["cv_accuracy"])]
        row += [num(r.get("precision_at_1")), num(r.get("map_at_r"))] if retrieval else []
        grid.rows.append(row)
    return grid


def _details_grid(best: MetricEvaluation, record: dict, precision: int) -> Grid:
    """The best metric's figures, each with the threshold it holds at."""
    from ...output.text import figure

    num = lambda x: figure(x, precision)  # noqa: E731
    sign = ">=" if record["higher_is_better"] else "<="
    at = lambda x: f"{best.verification.metric} {sign} {num(x)}"  # noqa: E731
    lo_hi = record["best_accuracy_threshold_range"]
    rows = [["ROC AUC", num(record["auc"]), ""],
            ["EER", num(record["eer"]), at(record["eer_threshold"])],
            ["best accuracy", num(record["best_accuracy"]),
             "-" if lo_hi is None else f"{at(record['best_accuracy_threshold'])} (any of {num(lo_hi[0])} .. {num(lo_hi[1])})"]]
    for f in record["tar_at_far"]:
        tar, threshold = record["tar_at_far"][f], record["tar_at_far_threshold"][f]
        rows.append([f"TAR at FAR {f}", "not reachable" if tar is None else num(tar),
                     "" if threshold is None else at(threshold)])
    rows.append(["average precision", num(record["average_precision"]), ""])
    rows.append(["F1", num(record["f1"]), "at the best-accuracy threshold"])
    cv = "-" if record["cv_accuracy"] is None else f"{num(record['cv_accuracy'])} ± {num(record['cv_accuracy_std'])}"
    rows.append([f"cv accuracy ({record['cv_folds']} folds)", cv, "threshold from the other folds"])
    if best.retrieval is not None:
        rows.append(["precision@1", num(record["precision_at_1"]), ""])
        rows += [[f"recall@{k}", num(value), ""] for k, value in record["recall_at_k"].items()]
        rows.append(["mAP@R", num(record["map_at_r"]), ""])
    columns = [Column("figure"), Column("value", justify="right"), Column("at threshold")]
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
    if len(records) > 1:
        blocks += [_ranked_grid(result, records, fars, precision),
                   "acc: best accuracy; cv acc: cross-validated accuracy; ranked by AUC", ""]
    direction = "higher" if record["higher_is_better"] else "lower"
    blocks += [f"{best.name} ({direction} is closer):", _details_grid(best, record, precision), "",
               _distribution_grid(record, precision),
               f"overlap of the two histograms: {figure(record['overlap'], precision)} (0 = separated, 1 = identical)",
               "", *text_histogram(best.distribution)]
    return blocks

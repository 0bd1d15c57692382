"""Evaluate: how well metrics separate same from different pairs (ROC AUC, EER, TAR@FAR, retrieval)."""

from __future__ import annotations

import click

from ...errors import UsageError
from ..app import EXIT_NOT_MET
from ..common import backend_for, check_plot, emit
from ..options import (command, data_params, engine_options, input_options, metric_param_options, NumberList,
                       output_options, scheduler_option)
from ..terminal import Terminal


@command()
@click.argument("emb")
@click.argument("right", required=False)
@click.option("--labels", "labels_path", type=click.Path(), default=None,
              help="With LEFT RIGHT: the label of each pair (row i with row i), one per line or a CSV column.")
@click.option("--pairs", "pairs_path", type=click.Path(), default=None,
              help="Labelled pairs: a CSV/TSV with columns left, right, label (ids or row numbers), as LFW's lists.")
@click.option("--classes", "classes_path", type=click.Path(), default=None,
              help="A class per row of EMB (one per line or a CSV column): pairs of the same class are positive.")
@click.option("--labels-column", default=None,
              help="Column (CSV header), field (JSON) or array (.npz) holding the labels: of the --labels file, "
                   "or of LEFT itself when no --labels file is given.")
@click.option("--classes-column", default=None,
              help="As --labels-column, for the classes: of the --classes file, or of EMB itself.")
@click.option("--sample", type=click.IntRange(2, None), default=None,
              help="With --classes: a balanced random sample of N pairs (half same, half different) instead of all.")
@click.option("--seed", type=click.IntRange(0, None), default=0, show_default=True, help="Seed of --sample and of the folds.")
@click.option("--positive-label", default="1", show_default=True,
              help="The label value meaning 'same' (1 also accepts 1/0, 1/-1, true/false, same/different).")
@click.option("-m", "--metric", default="cosine", show_default=True,
              help="A metric, a comma list, or 'all': each is evaluated and ranked by AUC.")
@click.option("--normalize", is_flag=True, help="Also evaluate every metric after L2 normalisation, side by side.")
@click.option("--folds", type=click.IntRange(2, None), default=10, show_default=True,
              help="Folds of the cross-validated accuracy.")
@click.option("--far", "fars", type=NumberList(float), default="0.1,0.01,0.001", show_default=True,
              help="False accept rates at which to report the true accept rate.")
@click.option("--recall-k", "ks", type=NumberList(int), default="1,5,10", show_default=True,
              help="k of recall@k (with --classes).")
@click.option("--fail-under", default=None,
              help="Exit 1 unless the best metric meets these, e.g. auc=0.95,eer=0.05,tar@0.001=0.8.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Save the ROC curves and score histograms as an image (.png .svg .pdf; needs siamcli[plot]).")
@metric_param_options
@click.option("--zero-vector", type=click.Choice(["error", "nan", "zero"]), default="error", show_default=True,
              help="Vectors where a metric is undefined: an error, NaN scores, or the metric's neutral value.")
@input_options
@engine_options
@scheduler_option
@output_options
def evaluate(emb, right, labels_path, pairs_path, classes_path, labels_column, classes_column, sample, seed,
             positive_label, metric, normalize, folds, fars, ks, fail_under, plot, zero_vector,
             input_format, key, b_key, ids_a, ids_b, reading, max_input_size, memory, threads, quiet, scheduler, fmt,
             precision, debug, **metric_params):
    """How well a metric separates same from different pairs: ROC AUC, EER, accuracy, TAR@FAR.

    \b
    Pairs and their labels come from one of:
      EMB RIGHT --labels FILE    row i of EMB with row i of RIGHT, a label per pair
      EMB --pairs PAIRS.csv      listed pairs: left, right, label (ids or row numbers)
      EMB --classes FILE         every pair of rows (or --sample N), same class = positive;
                                 adds retrieval scores: precision@1, recall@k, mAP@R

    Labels must be two-valued; --positive-label names "same". Thresholds come from the observed
    scores and are in the metric's units: same when distance <= T, or similarity >= T.
    AUC counts ties half; EER is where FPR = 1 - TPR, FPR interpolated linearly between the two
    bracketing ROC points; TAR at FAR x is the largest TPR among ROC points with FPR <= x (no
    interpolation; a FAR below 1/negatives is reported as not reachable); best accuracy comes
    with every threshold that reaches it; cv_accuracy picks the threshold on k-1 folds and
    measures it on the held-out fold (the LFW protocol). mAP@R follows Musgrave et al. 2020.

    \b
    Examples:
      siamcli evaluate examples/siamese/test_embeddings.npy --pairs examples/siamese/test_pairs.csv -m euclidean
      siamcli evaluate emb.npy --classes labels.txt --metric all
      siamcli evaluate left.npy right.npy --labels same.txt --fail-under auc=0.95 -q
      siamcli evaluate emb.csv --classes-column person --sample 100000 --plot roc.png
    """
    from ... import engine
    from ...reports.evaluation import check_fail_under, evaluate as evaluate_embeddings, fail_under as failed_conditions

    terminal = Terminal(quiet)
    if fail_under is not None:  # a bad spec fails before any work
        check_fail_under(fail_under, fars, ks, retrieval=classes_path is not None or classes_column is not None)
    check_plot(plot, emb, right, labels=labels_path, pairs=pairs_path, classes=classes_path, ids=ids_a,
               b_ids=ids_b, **data_params(metric_params))
    a_set, b_set, labelled = _read_inputs(emb, right, labels_path, pairs_path, classes_path, labels_column,
                                          classes_column, input_format, key, b_key, ids_a, ids_b, max_input_size,
                                          reading)
    engine.set_threads(threads)
    options = dict(**labelled, sample=sample, seed=seed,
                   positive_label=positive_label, metric=metric, normalize=normalize, folds=folds, fars=fars,
                   ks=ks, **metric_params, zero_vector=zero_vector, memory=memory,
                   notify=terminal.note)
    # a cluster starts at the first scores asked for, after evaluate's own checks
    with backend_for(scheduler, terminal, "evaluating", debug) as backend:
        result = evaluate_embeddings(a_set, b_set, **backend.scorers(), **options)
    _tell(result, plot, terminal)
    emit(result, fmt, precision, terminal)
    if fail_under is not None:
        failed = failed_conditions([next(result.records())], fail_under)
        if failed:
            terminal.note(f"--fail-under not met by {result.best.name}: " + "; ".join(failed))
            return EXIT_NOT_MET
    return 0


def _read_inputs(emb, right, labels_path, pairs_path, classes_path, labels_column, classes_column,
                 input_format, key, b_key, ids_a, ids_b, max_input_size, reading):
    """EMB, RIGHT (or None) and the labels, pairs and classes (each None unless given), as evaluate takes them."""
    from ...io import load_embeddings, read_labelled_pairs, read_labels
    from ..common import check_read_options

    reading = dict(reading, unused_options="ignore")

    label_from_emb = labels_column if labels_path is None and pairs_path is None else None
    class_from_emb = classes_column if classes_path is None else None
    if label_from_emb is not None and class_from_emb is not None:
        raise UsageError("choose either --labels-column or --classes-column from EMB, not both")
    a_set = load_embeddings(emb, input_format=input_format, key=key, ids_path=ids_a,
                            labels=label_from_emb or class_from_emb, max_input_size=max_input_size, **reading)
    b_set = None
    if right is not None:
        b_set = load_embeddings(right, input_format=input_format, key=b_key or key, ids_path=ids_b,
                                max_input_size=max_input_size, **reading)
    check_read_options([s for s in (a_set, b_set) if s is not None], reading, key=key, b_key=b_key)
    labels = pairs = classes = None
    if labels_path is not None:
        labels = read_labels(labels_path, len(a_set), labels_column, max_input_size=max_input_size)
    elif label_from_emb is not None:
        labels = a_set.labels
    if pairs_path is not None:
        pairs = read_labelled_pairs(pairs_path, a_set, b_set, max_input_size=max_input_size)
    if classes_path is not None:
        classes = read_labels(classes_path, len(a_set), classes_column, max_input_size=max_input_size)
    elif class_from_emb is not None:
        classes = a_set.labels
    return a_set, b_set, dict(labels=labels, pairs=pairs, classes=classes)


def _tell(result, plot: str | None, terminal: Terminal) -> None:
    """Metrics skipped and warnings on stderr; the plot, when asked for."""
    for note in result.skipped:
        terminal.note(f"skipped {note}")
    for warning in dict.fromkeys(w for r in result.records() for w in r["warnings"]):
        terminal.note(f"warning: {warning}")
    if plot is not None:
        _plot_evaluation(result, plot)
        terminal.note(f"wrote {plot}")


def _plot_evaluation(result, path: str) -> None:
    from ...reports.plots import RocCurve, plot_evaluation

    curves = [RocCurve(r.name, r.verification.roc.fpr, r.verification.roc.tpr, r.verification.eer,
                       r.verification.auc) for r in result.results]
    best = result.best
    plot_evaluation(path, curves, best.scores[best.same], best.scores[~best.same],
                    best.verification.best_accuracy_threshold, best.verification.higher_is_better,
                    title=result.pairs, score_label=best.name)

"""Evaluate: how well metrics separate same from different pairs (ROC AUC, EER, TAR@FAR, retrieval)."""

from __future__ import annotations

import click

from ...errors import InputError, UsageError
from ..app import EXIT_NOT_MET
from ..common import backend_for, check_plot, check_report, emit, given_options, save_report
from ..completion import complete_metric
from ..options import (command, data_params, engine_options, input_options, metric_param_options, NumberList,
                       output_options, report_option, scheduler_option)
from ..terminal import Terminal

DEFAULT_BOOTSTRAP = 1000  # evaluation.uncertainty.DEFAULT_BOOTSTRAP, without importing numpy at start-up


@command()
@click.argument("inputs", nargs=-1, required=True, metavar="EMB [EMB...]")
@click.option("--labels", "labels_path", type=click.Path(), default=None,
              help="With LEFT RIGHT (or models LEFT:RIGHT): the label of each pair (row i with row i), "
                   "one per line or a CSV column.")
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
@click.option("--seed", type=click.IntRange(0, None), default=0, show_default=True,
              help="Seed of --sample, of the folds and of the bootstrap.")
@click.option("--positive-label", default="1", show_default=True,
              help="The label value meaning 'same' (1 also accepts 1/0, 1/-1, true/false, same/different).")
@click.option("-m", "--metric", default="cosine", show_default=True,
              shell_complete=complete_metric(extra=(("all", "every metric that orders pairs differently"),),
                                             listed=True),
              help="A metric, a comma list, or 'all': each is evaluated (for every model) and ranked by AUC.")
@click.option("--normalize", is_flag=True, help="Also evaluate every metric after L2 normalisation, side by side.")
@click.option("--folds", type=click.IntRange(2, None), default=10, show_default=True,
              help="Folds of the cross-validated accuracy.")
@click.option("--far", "fars", type=NumberList(float), default="0.1,0.01,0.001", show_default=True,
              help="False accept rates at which to report the true accept rate.")
@click.option("--recall-k", "ks", type=NumberList(int), default="1,5,10", show_default=True,
              help="k of recall@k (with --classes).")
@click.option("--bootstrap", type=click.IntRange(0, None), default=DEFAULT_BOOTSTRAP, show_default=True,
              help="Resamples behind the 95% intervals of EER, TAR@FAR and best accuracy (over pairs) and of "
                   "precision@1 and mAP@R (over queries); 0: none. The AUC's interval is DeLong's.")
@click.option("--dims", default=None, metavar="LIST",
              help="How small can it be stored? Also evaluate each model's first d dimensions, for each d of a "
                   "comma list such as 32,64,128 (Matryoshka truncation; rows re-normalised when the model's "
                   "are unit), each below its model with its bytes per vector and the share of the AUC it keeps.")
@click.option("--quantize", default=None, metavar="LIST",
              help="Also evaluate quantised copies of each model, as --dims: a comma list of float16, int8, uint8 "
                   "(255 steps over each dimension's range in the data, as sentence-transformers' "
                   "quantize_embeddings), binary (sign bits, compared by hamming).")
@click.option("--fail-under", default=None,
              help="Exit 1 unless these hold, e.g. auc=0.95,eer=0.05,acc=0.9,tar@0.001=0.8 (keys as the table names "
                   "them: auc, eer, acc, cv_acc, ap, f1, tar@FAR, p@1, map@r, recall@K): on the top-ranked model and "
                   "metric, or on the one named as MODEL:METRIC:auc=0.95 (or MODEL:auc=.., METRIC:auc=..); "
                   "a copy as MODEL@int8:METRIC:auc=.., MODEL@64:auc=.. or @binary:auc=...")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Save the ROC and DET curves and score histograms as an image (.png .svg .pdf; needs "
                   "siamcli[plot]).")
@report_option
@metric_param_options
@click.option("--zero-vector", type=click.Choice(["error", "nan", "zero"]), default="error", show_default=True,
              help="Vectors where a metric is undefined: an error, NaN scores, or the metric's neutral value.")
@input_options
@engine_options
@scheduler_option
@output_options
def evaluate(inputs, labels_path, pairs_path, classes_path, labels_column, classes_column, sample, seed,
             positive_label, metric, normalize, folds, fars, ks, bootstrap, dims, quantize, fail_under, plot, report, zero_vector,
             input_format, key, b_key, ids_a, ids_b, reading, max_input_size, memory, threads, quiet, scheduler, fmt,
             precision, debug, **metric_params):
    """How well a metric separates same from different pairs: ROC AUC, EER, accuracy, TAR@FAR,
    with 95% intervals; for one model or several, ranked, each tested against the best.

    \b
    Pairs and their labels come from one of:
      EMB RIGHT --labels FILE    row i of EMB with row i of RIGHT, a label per pair
      EMB --pairs PAIRS.csv      listed pairs: left, right, label (ids or row numbers)
      EMB --classes FILE         every pair of rows (or --sample N), same class = positive;
                                 adds retrieval scores: precision@1, recall@k, mAP@R

    \b
    Several models of the same items (matched by id, else by row; any dimensions) are ranked
    together on the same pairs: A.npy B.npy ... --pairs FILE (or --classes FILE), and models of
    two sets as A_LEFT:A_RIGHT B_LEFT:B_RIGHT ... --labels FILE (or --pairs FILE).

    Labels must be two-valued; --positive-label names "same". Thresholds come from the observed
    scores and are in the metric's units: same when distance <= T, or similarity >= T.
    AUC counts ties half; EER is where FPR = 1 - TPR, FPR interpolated linearly between the two
    bracketing ROC points; TAR at FAR x is the largest TPR among ROC points with FPR <= x (no
    interpolation; a FAR below 1/negatives is reported as not reachable); best accuracy comes
    with every threshold that reaches it; cv_accuracy picks the threshold on k-1 folds and
    measures it on the held-out fold (the LFW protocol). mAP@R follows Musgrave et al. 2020.
    95% intervals: DeLong's for the AUC; the others from a bootstrap over pairs (same and
    different resampled apart) or queries. p: DeLong's paired test of the AUC against the best model
    with the same metric; of a copy (--dims, --quantize), against its model (binary: hamming, against
    its top metric). Pairs count as independent; with --classes they share items: intervals too narrow.

    \b
    Examples:
      siamcli evaluate examples/siamese/test_embeddings.npy --pairs examples/siamese/test_pairs.csv -m euclidean
      siamcli evaluate trained.npy pixels.npy --pairs pairs.csv --fail-under trained.npy:cosine:auc=0.99
      siamcli evaluate emb.npy --classes labels.txt --metric all
      siamcli evaluate emb.npy --pairs pairs.csv --dims 64,128 --quantize int8,binary
      siamcli evaluate left.npy right.npy --labels same.txt --fail-under auc=0.95 -q
      siamcli evaluate emb.csv --classes-column person --sample 100000 --plot roc.png
    """
    from ... import engine
    from ...reports.evaluation import evaluate as evaluate_embeddings, judge
    terminal = Terminal(quiet)
    sources = dict(labels_path=labels_path, pairs_path=pairs_path, classes_path=classes_path,
                   labels_column=labels_column, classes_column=classes_column)
    specs, copies = _checked_models(inputs, fail_under, metric, normalize, fars, ks, dims, quantize, b_key, **sources)
    _check_outputs(plot, report, inputs, labels=labels_path, pairs=pairs_path, classes=classes_path, ids=ids_a,
                   b_ids=ids_b, **data_params(metric_params))
    models, labelled = _read_inputs(specs, *sources.values(), input_format, key, b_key, ids_a, ids_b,
                                    max_input_size, reading)
    engine.set_threads(threads)
    options = dict(**labelled, sample=sample, seed=seed, positive_label=positive_label, metric=metric,
                   normalize=normalize, folds=folds, fars=fars, ks=ks, **metric_params, zero_vector=zero_vector,
                   memory=memory, notify=terminal.note, bootstrap=bootstrap, **copies)
    with backend_for(scheduler, terminal, "evaluating", debug, threads) as backend:
        result = evaluate_embeddings(models, **backend.scorers(), **options)
    judged = judge(list(result.records()), fail_under) if fail_under is not None else []
    _tell(result, plot, report, precision, terminal)
    emit(result, fmt, precision, terminal)
    return _gate(judged, len(result.models) > 1, terminal)


def _paired(labels_path, pairs_path, classes_path, labels_column, classes_column) -> bool:
    """Whether the pairs are row i of LEFT with row i of RIGHT, labelled by a file or a column of LEFT."""
    return labels_path is not None or not (labels_column is None or pairs_path or classes_path or classes_column)


def _check_options(inputs, b_key, **sources) -> None:
    """Options that would be ignored: --recall-k without classes, --positive-label with them,
    --labels-column with --pairs (the pairs file has its label column), --b-key and --b-ids
    without a right-hand set."""
    classes = sources["classes_path"] is not None or sources["classes_column"] is not None
    sources_given, paired = given_options("ks", "positive_label", "ids_b"), _paired(**sources)
    if "ks" in sources_given and not classes:
        raise UsageError("--recall-k sets the k of recall@k, a retrieval score: it needs --classes or --classes-column")
    if "positive_label" in sources_given and classes:
        raise UsageError("--positive-label and --classes do not go together: with classes, pairs of the same class "
                         "are the positive ones")
    if sources["pairs_path"] is not None and sources["labels_column"] is not None:
        raise UsageError("--labels-column and --pairs do not go together: --pairs FILE labels its pairs in its own "
                         "label column")
    if (b_key or "ids_b" in sources_given) and not (paired or any(":" in text for text in inputs)):
        raise UsageError(f"{'--b-key' if b_key else '--b-ids'} reads RIGHT: give LEFT RIGHT --labels FILE, or models "
                         "as LEFT:RIGHT")


def model_specs(inputs, paired: bool) -> list[tuple[str, str, str | None]]:
    """(name, left file, right file or None) of each model on the command line. With paired
    labels, two plain files are today's LEFT RIGHT (one model); else each argument is a model,
    LEFT:RIGHT being a model of two sets."""
    split = [_split_pair(text) for text in inputs]
    two = [right is not None for _, right in split]
    if paired and len(inputs) == 2 and not any(two):
        return [(f"{inputs[0]}:{inputs[1]}", inputs[0], inputs[1])]
    if paired and len(inputs) > 1 and not all(two):
        raise UsageError("with --labels give LEFT RIGHT (one model), or every model as LEFT:RIGHT")
    if any(two) and not all(two):
        raise UsageError("give every model as one file, or every model as LEFT:RIGHT, not a mix")
    return [(text, left, right) for text, (left, right) in zip(inputs, split)]


def _split_pair(text: str) -> tuple[str, str | None]:
    """A model argument as (left, right): LEFT:RIGHT cut at the first colon whose left part is a
    file (else the first colon), unless the whole argument is a file."""
    import os

    from ...io import STDIN
    from ...io.textcells import excerpt

    if ":" not in text or text == STDIN or os.path.exists(text):
        return text, None
    cuts = [i for i, c in enumerate(text) if c == ":"]
    cut = next((i for i in cuts if os.path.exists(text[:i])), cuts[0])
    left, right = text[:cut], text[cut + 1:]
    if not left or not right:
        raise UsageError(f"{excerpt(text)}: a model of two sets is LEFT:RIGHT, two files")
    return left, right


def _copies(dims, quantize) -> dict:
    """--dims and --quantize checked (before any work): dims as given ('full' or whole numbers
    from 1; each model's dimension bounds them once it is read), the precisions once each."""
    from ...reports.evaluation.variants import check_dims, parse_quantize

    copies = dict(dims=(), quantize=())
    if dims is not None:
        items = [d.strip() for d in dims.split(",")]
        copies["dims"] = tuple(d if d.lower() == "full" else check_dims(d, 2**62) for d in items)
    if quantize is not None:
        copies["quantize"] = tuple(parse_quantize(quantize))
    return copies


def _checked_models(inputs, fail_under, metric, normalize, fars, ks, dims, quantize, b_key, *, labels_path,
                    pairs_path, classes_path, labels_column,
                    classes_column) -> tuple[list[tuple[str, str, str | None]], dict]:
    """The models' specs (model_specs) and their smaller copies (_copies), once the options
    (_check_options) and --fail-under are checked against them (before any work)."""
    _check_options(inputs, b_key, labels_path=labels_path, pairs_path=pairs_path, classes_path=classes_path,
                   labels_column=labels_column, classes_column=classes_column)
    paired = _paired(labels_path, pairs_path, classes_path, labels_column, classes_column)
    specs, copies = model_specs(inputs, paired), _copies(dims, quantize)
    if fail_under is not None:
        _check_gate(fail_under, specs, metric, normalize, fars, ks, copies,
                    retrieval=classes_path is not None or classes_column is not None)
    return specs, copies


def _check_gate(spec, specs, metric, normalize, fars, ks, copies, retrieval: bool) -> None:
    """--fail-under's conditions, models and metrics checked before any work."""
    from ...metrics import available_metrics, get_metric
    from ...reports.evaluation import check_fail_under

    names = [n.strip() for n in str(metric).split(",") if n.strip()]
    if [n.lower() for n in names] == ["all"]:
        metrics = [m.name for m in available_metrics()]
    else:
        metrics = list(dict.fromkeys(get_metric(n).name for n in names)) or None
    check_fail_under(spec, fars, ks, retrieval=retrieval, models=[name for name, _, _ in specs], metrics=metrics,
                     normalize=normalize, dims=[d for d in copies["dims"] if d != "full"],
                     quantize=copies["quantize"])


def _gate(judged, several_models: bool, terminal: Terminal) -> int:
    """Exit status of --fail-under: which (model, metric) each condition judged, on stderr
    when the spec did not name it, and the conditions not met."""
    status = 0
    for judgement in judged:
        record = judgement.record
        label = record["metric"] + (" (L2)" if record["normalized"] else "")
        model = record["model"] + ("" if judgement.copy is None else f"@{judgement.copy}")
        label = f"{model} {label}" if several_models or judgement.copy is not None else label
        if judgement.chosen is not None:
            copy = ", MODEL@COPY:auc=..." if "quantize" in record else ""
            terminal.note(f"--fail-under judged {label}, {judgement.chosen} "
                          f"(name another as MODEL:METRIC:auc=..., MODEL:auc=...{copy} or METRIC:auc=...)")
        if judgement.failed:
            terminal.reason(f"--fail-under not met by {label}: " + "; ".join(judgement.failed))
            status = EXIT_NOT_MET
    return status


def _read_inputs(specs, labels_path, pairs_path, classes_path, labels_column, classes_column,
                 input_format, key, b_key, ids_a, ids_b, max_input_size, reading):
    """The models (Model: name, left set, right set or None) and the labels, pairs and classes
    (each None unless given), as evaluate takes them; pairs, labels and classes refer to the
    first model's rows."""
    from ...io import load_embeddings, read_labelled_pairs, read_labels
    from ...io.textcells import excerpt
    from ...reports.evaluation import Model, align_models
    from ..common import check_read_options

    reading = dict(reading, unused_options="ignore")

    label_from_emb = labels_column if labels_path is None and pairs_path is None else None
    class_from_emb = classes_column if classes_path is None else None
    if label_from_emb is not None and class_from_emb is not None:
        raise UsageError("choose either --labels-column or --classes-column from EMB, not both")
    models = []
    for name, left, right in specs:  # a column of labels in EMB is in every model's file, and agrees
        a_set = load_embeddings(left, input_format=input_format, key=key, ids_path=ids_a, max_input_size=max_input_size,
                                labels=label_from_emb or class_from_emb, **reading)
        b_set = None if right is None else load_embeddings(right, input_format=input_format, key=b_key or key,
                                                           ids_path=ids_b, max_input_size=max_input_size, **reading)
        models.append(Model(name, a_set, b_set))
    check_read_options([s for m in models for s in (m.a, m.b) if s is not None], reading, key=key, b_key=b_key)
    models = align_models(models)  # before the pairs are read: a mismatch is said as one
    first = models[0]
    for model in models[1:]:
        if model.a.labels is not None and list(map(str, model.a.labels)) != list(map(str, first.a.labels)):
            row = next(i for i, (x, y) in enumerate(zip(model.a.labels, first.a.labels)) if str(x) != str(y))
            raise InputError(f"{model.name}: its column {excerpt(label_from_emb or class_from_emb)} differs from "
                             f"{first.name}'s at item {excerpt(first.a.id_of(row))}: the models must label the same "
                             "items alike")
    labels = pairs = classes = None
    if labels_path is not None:
        labels = read_labels(labels_path, len(first.a), labels_column, max_input_size=max_input_size)
    elif label_from_emb is not None:
        labels = first.a.labels
    if pairs_path is not None:
        pairs = read_labelled_pairs(pairs_path, first.a, first.b, max_input_size=max_input_size)
    if classes_path is not None:
        classes = read_labels(classes_path, len(first.a), classes_column, max_input_size=max_input_size)
    elif class_from_emb is not None:
        classes = first.a.labels
    return models, dict(labels=labels, pairs=pairs, classes=classes)


def _check_outputs(plot: str | None, report: str | None, inputs, **named) -> None:
    """--plot and --report checked before any work: writable, not over an input nor each other."""
    check_plot(plot, *inputs, **named)
    check_report(report, *inputs, **named, plot=plot)


def _tell(result, plot: str | None, report: str | None, precision: int, terminal: Terminal) -> None:
    """Metrics skipped and warnings on stderr; the plot and the HTML report, when asked for."""
    for note in result.skipped:
        terminal.note(f"skipped {note}")
    for warning in dict.fromkeys(w for r in result.records() for w in r["warnings"]):
        terminal.note(f"warning: {warning}")
    from ...reports.pages import have_matplotlib

    if plot is not None or (report is not None and have_matplotlib()):  # figures will be drawn
        _note_curves_left_out(result, "--plot" if plot is not None else "--report", terminal)
    if plot is not None:
        from ...reports.pages import evaluation_plot
        from ...reports.plots import plot_evaluation

        plot_evaluation(plot, **evaluation_plot(result))
        terminal.note(f"wrote {plot}")
    save_report(result, report, precision, terminal)


def _note_curves_left_out(result, flag: str, terminal: Terminal) -> None:
    """Which (model, metric) curves the figures leave out (they draw the best few by AUC), on stderr."""
    from ...reports.pages import evaluation_plot
    from ...reports.plots import shown_curves

    curves = evaluation_plot(result)["curves"]
    shown, left_out = shown_curves(curves)
    if left_out:
        terminal.note(f"{flag} draws the {len(shown)} best of {len(curves)} ROC and DET curves by AUC; "
                      f"left out: {', '.join(c.name for c in left_out)}")

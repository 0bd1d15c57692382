"""Inspect: a health report of one embedding set."""

from __future__ import annotations

import click

from ...errors import UsageError
from ..common import check_plot, check_report, emit, given_options, save_report
from ..completion import complete_metric
from ..options import (command, InputFormatChoice, max_input_option, output_options, quiet_option, read_options,
                       report_option)
from ..terminal import Terminal


@command()
@click.argument("emb")
@click.option("--classes", "classes_path", type=click.Path(), default=None,
              help="A class per row (one per line or a CSV column): adds same- vs other-class distances per class.")
@click.option("--classes-column", default=None,
              help="Column (CSV header), field (JSON) or array (.npz) holding the classes: of the --classes "
                   "file, or of EMB itself.")
@click.option("-m", "--metric", default="euclidean", show_default=True, shell_complete=complete_metric(),
              help="Metric of the class distances (with --classes).")
@click.option("--sample", type=click.IntRange(2, 5000), default=2000, show_default=True,
              help="Rows sampled for the pairwise figures (cosines, near duplicates, class distances).")
@click.option("--seed", type=click.IntRange(0, None), default=0, show_default=True, help="Seed of the sample.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Save a norm histogram and a 2-D PCA scatter (coloured by class) as an image (needs siamcli[plot]).")
@report_option
@click.option("--input-format", type=InputFormatChoice(), default=None,
              help="Format of EMB when the suffix does not say (needed rarely for '-', stdin).")
@click.option("--key", default=None,
              help="Array, tensor or dataset to use (.npz, .safetensors, .h5, .pt; default: the only 2-D one).")
@click.option("--ids", "ids_a", type=click.Path(), default=None, help="Row ids, one per line.")
@read_options
@max_input_option
@click.option("--threads", type=click.IntRange(1, None), default=None,
              help="Threads for BLAS and the kernels (default: every core).")
@quiet_option
@output_options
def inspect(emb, classes_path, classes_column, metric, sample, seed, plot, report, input_format, key, ids_a, reading,
            max_input_size, threads, quiet, fmt, precision, debug):
    """A health report of an embedding set: plain-language findings first, then the figures.

    Shape and dtype; NaN, infinite and zero rows; the norm distribution and whether the set is
    L2-normalised; dead and near-constant dimensions; the effective rank (exp of the entropy of
    the covariance spectrum) and participation ratio, i.e. how many dimensions are really used;
    the mean and spread of cosine between sampled pairs (anisotropy); exact duplicate rows and
    near-duplicate pairs; and a verdict on collapse: collapsed when more than 90% of sampled
    pairs have cosine > 0.95, or all rows lie near one point (RMS distance below 5% of the RMS
    norm). With --classes: same-class against other-class distances, overall (d') and per class.
    JSON gives one object (n, dim, dtype, effective_rank, mean_cosine, collapsed, warnings, ...).

    \b
    Examples:
      siamcli inspect examples/siamese/test_embeddings.npy
      siamcli inspect emb.npy --classes labels.txt --plot health.png
      siamcli inspect emb.npy -f json | jq '.collapsed, .warnings'
    """
    from ... import engine
    from ...reports.inspection import inspect_embeddings
    from ...io import load_embeddings, read_labels

    terminal = Terminal(quiet)
    if classes_path is None and classes_column is None and given_options("metric"):
        raise UsageError("--metric is the metric of the class distances: give --classes or --classes-column too")
    check_plot(plot, emb, classes=classes_path, ids=ids_a)
    check_report(report, emb, classes=classes_path, ids=ids_a, plot=plot)
    emb_set = load_embeddings(emb, input_format=input_format, key=key, ids_path=ids_a,
                              labels=classes_column if classes_path is None else None, max_input_size=max_input_size,
                              **reading)
    classes = None
    if classes_path is not None:
        classes = read_labels(classes_path, len(emb_set), classes_column, max_input_size=max_input_size)
    elif classes_column is not None:
        classes = emb_set.labels
    engine.set_threads(threads)
    result = inspect_embeddings(emb_set, classes=classes, sample=sample, seed=seed, metric=metric)
    if plot is not None:
        from ...reports.plots import plot_inspection

        plot_inspection(plot, result.norms_sample, result.projection, result.projection_labels,
                        title=f"{emb_set.source}: {result.verdict}", variance_shares=result.projection_shares)
        terminal.note(f"wrote {plot}")
    save_report(result, report, precision, terminal)
    emit(result, fmt, precision, terminal)

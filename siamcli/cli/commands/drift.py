"""Drift: has a current set of embeddings drifted from a reference set? Three two-sample tests and a verdict."""

from __future__ import annotations

import click

from ..app import EXIT_NOT_MET
from ..common import check_plot, check_report, emit, load_inputs, save_report
from ..options import command, Number, engine_options, input_options, metric_options, output_options, report_option
from ..terminal import Terminal


@command()
@click.argument("reference")
@click.argument("current")
@click.option("--test", type=click.Choice(["mmd", "knn", "classifier"]), default="mmd", show_default=True,
              help="The test whose p-value decides drift (all three are reported).")
@click.option("--alpha", type=Number(), default=0.01, show_default=True,
              help="Significance level: drift when the test's p-value is below it.")
@click.option("--fail-on-drift", is_flag=True, help="Exit 1 when drift is detected (0 when not, 2 on error).")
@click.option("--permutations", type=click.IntRange(1, None), default=1000, show_default=True,
              help="Permutations of the MMD² and nearest-neighbour tests.")
@click.option("--sample", type=click.IntRange(2, None), default=5000, show_default=True,
              help="Rows of each set the tests use (drawn with --seed when a set has more).")
@click.option("--bandwidth", type=Number(), default=None,
              help="RBF kernel width s (default: the median distance between pooled sampled rows).")
@click.option("-k", "--neighbors", type=click.IntRange(1, None), default=10, show_default=True,
              help="Nearest neighbours per row in the nearest-neighbour test.")
@click.option("--seed", type=click.IntRange(0, None), default=0, show_default=True,
              help="Seed of the samples, permutations and folds.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Save both sets in a shared 2-D PCA projection and the permutation null with the observed "
                   "statistic as an image (.png, .svg, .pdf; needs siamcli[plot]).")
@report_option
@metric_options
@input_options
@engine_options
@output_options
def drift(reference, current, test, alpha, fail_on_drift, permutations, sample, bandwidth, neighbors, seed, plot,
          report, metric, normalize, zero_vector, input_format, key, b_key, ids_a, ids_b, reading, max_input_size, memory,
          threads, quiet, fmt, precision, debug, **metric_params):
    """Has CURRENT drifted from REFERENCE? A verdict in plain language first, then the figures.

    Both sets have one dimension; their row counts may differ (--key and --ids read REFERENCE,
    --b-key and --b-ids CURRENT). Up to --sample rows of each are tested (a seeded sample when a
    set is larger):

    \b
    - MMD² (unbiased) with the RBF kernel exp(-|x - y|² / (2 s²)), s the median distance between
      pooled rows (or --bandwidth), kernel blocks within --memory; permutation p-value;
    - the nearest-neighbour test (Schilling 1986, Henze 1988): the share of each row's k nearest
      pooled rows (exact, under --metric) from its own set; permutation p-value;
    - a domain classifier: 5-fold cross-validated ROC AUC of an L2 logistic regression telling
      the sets apart (0.5 = indistinguishable), its p-value from the held-out ranks (Mann-Whitney,
      Bonferroni over folds), and the dimensions that separate them most.

    Permutation p-values are (1 + null >= observed) / (1 + permutations). Also: the centroid
    distance (and as a share of the reference's RMS spread), a KS test of the norms, per-dimension
    KS tests with Benjamini-Hochberg correction (the share of drifted dimensions), and the change
    in `inspect`'s effective rank, mean cosine and duplicates. Drift is declared when the p-value
    of --test is below --alpha. JSON is one object (n_reference, n_current, dim, mmd2,
    mmd_p_value, knn_p_value, classifier_auc, centroid_distance, drifted_dimensions_share, test,
    alpha, drift, ...).

    \b
    Examples:
      siamcli drift examples/siamese/digits_0-4.npy examples/siamese/digits_5-9.npy
      siamcli drift ref.npy today.npy --fail-on-drift -q -f json > drift.json || alert
      siamcli drift ref.parquet new.parquet --test classifier --plot drift.png
    """
    from ... import engine
    from ...backends import LocalBackend
    from ...reports.drift import detect_drift

    terminal = Terminal(quiet)
    check_plot(plot, reference, current, ids=ids_a, b_ids=ids_b)
    check_report(report, reference, current, ids=ids_a, b_ids=ids_b)
    with LocalBackend() as backend:
        ref_set, cur_set = load_inputs(backend, reference, [current], input_format, key, b_key, ids_a, ids_b,
                                       max_input_size, reading)
    engine.set_threads(threads)
    result = detect_drift(ref_set, cur_set, test=test, alpha=alpha, permutations=permutations, sample=sample,
                          bandwidth=bandwidth, neighbors=neighbors, metric=metric, seed=seed, normalize=normalize,
                          zero_vector=zero_vector, memory=memory, notify=terminal.note, **metric_params)
    if plot is not None:
        from ...reports.drift.plot import drift_plot_args, plot_drift

        plot_drift(plot, **drift_plot_args(result))
        terminal.note(f"wrote {plot}")
    save_report(result, report, precision, terminal)
    emit(result, fmt, precision, terminal)
    if fail_on_drift and result.drift:
        terminal.reason(f"--fail-on-drift: {result.figures['findings'][0]}")
        return EXIT_NOT_MET
    return 0

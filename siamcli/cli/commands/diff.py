"""Diff: the same items in two spaces (two models, two versions): how their neighbourhoods and geometry differ."""

from __future__ import annotations

import sys

import click

from ..completion import complete_metric
from ..common import check_report, emit, load_inputs, save_report
from ..options import command, CountOrAll, engine_options, input_options, metric_options, output_options, report_option
from ..terminal import Terminal

#: Items listed in a table when --top is not given (machine formats list every item).
TABLE_ITEMS = 10


@command()
@click.argument("a")
@click.argument("b")
@click.option("-k", "--top-k", type=click.IntRange(1, None), default=10, show_default=True,
              help="Nearest neighbours compared per item.")
@click.option("--metric-b", default=None, shell_complete=complete_metric(), help="Metric of B (default: as --metric).")
@click.option("--by-row", is_flag=True, help="Match row i of A with row i of B instead of by id.")
@click.option("--debiased", is_flag=True, help="Debiased linear CKA (unbiased HSIC estimates; at least 4 items).")
@click.option("--pairs-sample", type=click.IntRange(1, None), default=100_000, show_default=True,
              help="Pairs drawn for Spearman's rho of pair closeness (every pair when there are no more).")
@click.option("--seed", type=click.IntRange(0, None), default=0, show_default=True, help="Seed of the pair sample.")
@click.option("--top", type=CountOrAll(), default=None,
              help=f"Items listed, those that changed most first (default: {TABLE_ITEMS} in a table, all in the "
                   "machine formats; 'all' for every one).")
@click.option("--show", multiple=True, metavar="FIELD",
              help="A text column of the inputs to show with each listed item and its neighbours (FIELD, "
                   "a_neighbors_FIELD, b_neighbors_FIELD), e.g. --show text; repeatable.")
@report_option
@metric_options
@input_options
@engine_options
@output_options
def diff(a, b, top_k, metric_b, by_row, debiased, pairs_sample, seed, top, report, metric, normalize, zero_vector,
         input_format, key, b_key, ids_a, ids_b, reading, max_input_size, memory, threads, quiet, fmt, precision,
         debug, **metric_params):
    """How the same items sit in two spaces A and B: per-item neighbourhoods, then global agreement.

    Items are matched by id (every id of A must be in B and every id of B in A, each once; files
    without ids are matched by row number), or row by row with --by-row. The dimensions may differ.
    Plain-language findings come first, then the figures:

    \b
    - per item, the Jaccard overlap of its k nearest neighbours in A (under --metric) and in B
      (under --metric-b): exact, itself left out, ties broken by the item's row in A; their mean,
      median, quantiles and histogram (k + 1 possible values), and the items that changed most
      (lowest Jaccard first, ties by row) with their neighbours before and after (--show FIELD: text);
    - linear CKA (Kornblith et al. 2019) of the centred spaces, from d x d products (or n x n ones
      when smaller; --debiased: from unbiased HSIC estimates, Nguyen et al. 2021);
    - Spearman's rho between the closeness of the same pairs in A and in B (representational
      similarity analysis) over --pairs-sample pairs drawn with --seed, or every pair;
    - when the dimensions match, ||A R - B|| / ||B|| of the centred spaces, R the best orthogonal
      matrix (orthogonal Procrustes): near 0 when B is a rotation of A.

    In words: neighbourhoods "barely changed" when 90% or more of the neighbours are shared on
    average, "changed a lot" under 50%; spaces "agree closely" with CKA >= 0.9, "differ" under
    0.5; B is "nearly a rotation of A" with a residual under 5%. JSON is one object (n, k, metric,
    metric_b, jaccard_mean, jaccard_median, cka, rsa_spearman, procrustes_residual, ..., items:
    index, id, jaccard, shared, a_neighbors, b_neighbors); jsonl, csv and tsv give one record per
    listed item with those global figures repeated after its own keys.

    \b
    Examples:
      siamcli diff examples/siamese/test_embeddings.npy examples/siamese/test_pixels.npy
      siamcli diff old.parquet new.parquet --show text --top 20
      siamcli diff a.npy b.npy --by-row -m euclidean --metric-b cosine -f json | jq '.cka, .jaccard_mean'
    """
    from ... import engine
    from ...backends import LocalBackend
    from ...output import default_format
    from ...reports.diff import diff_spaces

    terminal = Terminal(quiet)
    check_report(report, a, b, ids=ids_a, b_ids=ids_b)
    fmt = fmt or default_format(sys.stdout)
    bar = terminal.progress(0, "neighbours")
    try:
        with LocalBackend(progress=bar) as backend:
            a_set, b_set = load_inputs(backend, a, [b], input_format, key, b_key, ids_a, ids_b, max_input_size,
                                       reading)
        engine.set_threads(threads)
        result = diff_spaces(a_set, b_set, top_k=top_k, metric=metric, metric_b=metric_b, by_row=by_row,
                             debiased=debiased, pairs_sample=pairs_sample, seed=seed, normalize=normalize,
                             zero_vector=zero_vector, memory=memory, notify=terminal.note,
                             progress=bar if bar.stream is not None else None, **metric_params)
    finally:
        bar.close()
    result.listed = TABLE_ITEMS if top is None else (None if top == "all" else top)
    save_report(result, report, precision, terminal)
    result.listed = (TABLE_ITEMS if fmt == "table" else None) if top is None else (None if top == "all" else top)
    emit(result, fmt, precision, terminal)

"""Compare: the best rows of B for each row of A, the best pairs overall, paired or listed pairs."""

from __future__ import annotations

from typing import Iterable

import click

from ...errors import UsageError
from ..common import backend_for, emit, load_inputs, refuse_conflicts
from ..options import (command, CountOrAll, engine_options, input_options, metric_options, Number, output_options,
                       scheduler_option, show_option)
from ..terminal import Terminal


@command()
@click.argument("a")
@click.argument("b", nargs=-1)
@click.option("-k", "--top-k", type=CountOrAll(), default=None,
              help="Best rows of B kept for each row of A (default 5; 'all' for every row).")
@click.option("--limit", type=CountOrAll(), default=None,
              help="Instead of per-row lists, the N best pairs overall ('all' for every pair).")
@click.option("-t", "--threshold", type=Number(), default=None,
              help="Keep only pairs at least this close: similarity >= T, distance <= T.")
@click.option("--paired", is_flag=True, help="Score row i of A against row i of B (same row counts).")
@click.option("--pairs", "pairs_path", type=click.Path(), default=None,
              help="Score only the (a, b) pairs listed in this CSV/TSV: ids or row numbers, one pair per line.")
@click.option("--query-id", "query_ids", multiple=True, metavar="ID",
              help="Take this row of A (by id) as a query, against B, or against the rest of A without B "
                   "(its own row left out); repeatable.")
@show_option
@metric_options
@input_options
@engine_options
@scheduler_option
@output_options
def compare(a, b, top_k, limit, threshold, paired, pairs_path, query_ids, metric, normalize, zero_vector,
            input_format, key, b_key, ids_a, ids_b, reading, max_input_size, memory, threads, quiet, scheduler, fmt,
            precision, debug, **metric_params):
    """Compare the vectors of A with those of B (or of A with itself), best first.

    Two single vectors give one score. Otherwise each row of A gets its --top-k best rows of B
    (ties broken by row index), or --limit gives the best pairs overall. Without B, A is compared
    with itself: self-pairs are left out, and with --limit each unordered pair appears once
    (near-duplicate search). A and B are files of any input format (npy, npz, Parquet, Arrow,
    safetensors, HDF5, PyTorch, CSV, JSON lines: see docs/inputs.md), folders, or '-' for
    stdin; B may be several files, stacked, with ids that name the file.

    \b
    Examples:
      siamcli compare examples/queries.csv examples/gallery.npz -k 3
      siamcli compare a.npy b.npy --metric euclidean
      siamcli compare left.npy right.npy --paired -f csv
      siamcli compare ref.npy faces/*.npy -k 3                 # one run for a whole folder
      siamcli compare a.npy b.npy --pairs pairs.csv             # only the listed pairs
      siamcli compare emb.npy --limit all --threshold 0.98      # near-duplicates
      siamcli compare docs.parquet --query-id doc42 --show text # like `llm similar doc42`
      siamcli compare q.npy g.npy -f jsonl | jq -r 'select(.rank == 1) | .b_id'
    """
    from ... import engine

    terminal = Terminal(quiet)
    if top_k is not None and limit is not None:
        raise UsageError("choose either --top-k (per row of A) or --limit (overall), not both")
    refuse_conflicts([
        (("paired", "top_k"), "--paired scores row i of A with row i of B, one pair per row; --limit N keeps the "
                              "N best pairs"),
        (("pairs_path", "top_k"), "--pairs scores each listed pair once; --limit N keeps the N best pairs")])
    top_k = 5 if top_k is None else (None if top_k == "all" else top_k)
    engine.set_threads(threads)
    with backend_for(scheduler, terminal, "comparing", debug, threads) as backend:
        a_set, b_set = load_inputs(backend, a, b, input_format, key, b_key, ids_a, ids_b, max_input_size, reading)
        if paired and b_set is None:
            raise UsageError("--paired needs two inputs, A and B")
        if paired and pairs_path is not None:
            raise UsageError("choose either --paired (row i with row i) or --pairs FILE (the listed pairs)")
        if query_ids:
            _query_results(backend, a_set, b_set, query_ids, paired or pairs_path is not None, top_k, limit,
                           threshold, dict(metric=metric, **metric_params, normalize=normalize,
                                           zero_vector=zero_vector, memory=memory, notify=terminal.note),
                           (fmt, precision, terminal))
            return
        comp = backend.prepare(a_set, b_set, metric=metric, **metric_params, normalize=normalize,
                               zero_vector=zero_vector, memory=memory, notify=terminal.note)
        pairs = None
        if pairs_path is not None:
            from ...io import read_pairs

            pairs = read_pairs(pairs_path, comp.a, comp.b, max_input_size=max_input_size)
        emit(backend.results(comp, top_k=top_k, limit=limit, threshold=threshold, paired=paired, pairs=pairs),
             fmt, precision, terminal)


def _query_results(backend, a_set, b_set, query_ids, paired, top_k, limit, threshold, options, output) -> None:
    """--query-id: the rows of A with those ids against B, or against A with each query's own row left out."""
    from ...engine.queries import as_rows_of, query_rows, without_self

    if paired:
        raise UsageError("--query-id takes queries by id; it does not combine with --paired or --pairs")
    queries, rows = query_rows(a_set, list(dict.fromkeys(query_ids)))
    gallery = a_set if b_set is None else b_set
    comp = backend.prepare(queries, gallery, **options)
    limit = None if limit == "all" else limit
    if b_set is not None:  # queries against another set: nothing of their own to leave out
        results = backend.results(comp, top_k=top_k, limit=limit, threshold=threshold)
        results = as_rows_of(results, rows, a_set)
    else:
        more = backend.results(comp, top_k=None if top_k is None else top_k + 1,
                               limit=None if limit is None else limit + len(rows), threshold=threshold)
        # a gallery of one row: its only pair is the query with itself (a Score), left out
        results = without_self(more if isinstance(more, Iterable) else [], rows, gallery, top_k, limit)
    emit(results, *output)

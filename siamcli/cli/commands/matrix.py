"""Matrix: the full matrix of scores, printed or saved."""

from __future__ import annotations

import click

from ..common import backend_for, check_outputs, emit, load_inputs, refuse_conflicts
from ..options import (command, data_params, engine_options, input_options, metric_options, output_options,
                       scheduler_option)
from ..terminal import Terminal


@command()
@click.argument("a")
@click.argument("b", nargs=-1)
@click.option("-o", "--output", type=click.Path(), default=None,
              help="Save the whole matrix to FILE (.npy or .csv) instead of printing it; with --scheduler "
                   "also DIR/ (.npy shards of rows, each written by its worker) or X.zarr (a zarr array "
                   "whose chunks are the blocks, each written by its worker; needs siamcli[zarr]).")
@metric_options
@input_options
@engine_options
@scheduler_option
@output_options
def matrix(a, b, output, metric, normalize, zero_vector,
           input_format, key, b_key, ids_a, ids_b, reading, max_input_size, memory, threads, quiet, scheduler, fmt,
           precision, debug, **metric_params):
    """The full matrix of scores: every row of A against every row of B (or of A).

    A table shows what fits the terminal and says on stderr how much is hidden; -f csv/json/jsonl
    print all of it, and -o FILE saves it (.npy written block by block, or .csv with ids).

    \b
    Examples:
      siamcli matrix examples/queries.csv
      siamcli matrix a.npy b.npy --metric euclidean -o distances.npy
      siamcli matrix a.npy -f json | jq '.values[0]'
      siamcli matrix gallery.zarr q.npy -o scores.zarr --scheduler local:2
    """
    from ... import engine
    from ...backends.save import check_matrix_target, matrix_format
    from ...results import MatrixResult

    terminal = Terminal(quiet)
    refuse_conflicts([
        (("output", "fmt"), "-o saves the matrix as its suffix says (.npy, .csv, ...) and prints nothing"),
        (("output", "precision"), "-o saves every digit")])
    engine.set_threads(threads)
    with backend_for(scheduler, terminal, "matrix", debug, threads) as backend:
        dtype = reading["dtype"]  # the type inputs are read in, and the saved matrix's (a cluster's lazy inputs)
        if output is not None:  # before any work: an output that cannot be written, or would be an input
            kind = matrix_format(output, folders=backend.writes_folders)
            check_outputs(("-o", output), a, *b, ids=ids_a, b_ids=ids_b, **data_params(metric_params))
            check_matrix_target(output, kind)
        a_set, b_set = load_inputs(backend, a, b, input_format, key, b_key, ids_a, ids_b, max_input_size, reading)
        comp = backend.prepare(a_set, b_set, metric=metric, **metric_params, normalize=normalize,
                               zero_vector=zero_vector, memory=memory, notify=terminal.note)
        if output is None:
            values = backend.matrix(comp)
        else:
            written = backend.save_matrix(comp, output, dtype)
    if output is None:
        emit(MatrixResult(comp.metric, comp.a, comp.b, values), fmt, precision, terminal)
    elif written is not None:
        terminal.note(f"wrote the matrix as {len(written)} shard{'s' if len(written) != 1 else ''} of rows in {output}")
    else:
        terminal.note(f"wrote the {len(comp.a)} x {len(comp.b)} {comp.metric.name} matrix to {output}")

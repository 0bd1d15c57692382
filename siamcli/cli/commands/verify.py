"""Verify: judge pairs same or different against a threshold; exit 1 when any differs."""

from __future__ import annotations

import click

from ...errors import counted as counted_words, UsageError
from ..app import EXIT_NOT_MET
from ..common import emit, load_inputs, refuse_conflicts
from ..options import command, Number, engine_options, input_options, metric_options, output_options, show_option
from ..terminal import Terminal


@command()
@click.argument("a")
@click.argument("b")
@click.option("-t", "--threshold", type=Number(), required=True,
              help="Same when at least this close: similarity >= T, distance <= T.")
@click.option("--paired", is_flag=True, help="Judge row i of A with row i of B (same row counts).")
@click.option("--pairs", "pairs_path", type=click.Path(), default=None,
              help="Judge only the (a, b) pairs listed in this CSV/TSV: ids or row numbers, one pair per line.")
@click.option("-s", "--silent", is_flag=True,
              help="Print nothing: the exit status alone says it (0 all match, 1 not; errors still show), as grep -q.")
@show_option
@metric_options
@input_options
@engine_options
@output_options
def verify(a, b, threshold, paired, pairs_path, silent, metric, normalize, zero_vector,
           input_format, key, b_key, ids_a, ids_b, reading, max_input_size, memory, threads, quiet, fmt, precision,
           debug, **metric_params):
    """Judge pairs same or different: exit 0 when every pair matches, 1 when any does not.

    A pair matches when its score is at least as close as --threshold in the metric's own
    direction (cosine >= T, euclidean <= T); an undefined score (NaN) never matches. Pairs are
    the two vectors of single-vector files, row i with row i (--paired), the pairs a file lists
    (--pairs), or every row of one file with the single vector of the other. Each verdict is
    printed with its score; JSON records carry "match": true|false beside compare's keys.
    Bad input exits 2, so shell scripts can tell "different" from "broken". -s prints
    nothing, for `if`; -q hides notes but still prints the verdicts and how many pairs differ.

    \b
    Examples:
      siamcli verify probe.npy enrolled.npy --metric cosine --threshold 0.6
      siamcli verify a.npy b.npy -t 0.6 -s && echo same
      siamcli verify left.npy right.npy --paired -t 1.1 --metric euclidean -f csv
    """
    from ... import engine

    terminal = Terminal(quiet, silent=silent)
    refuse_conflicts([
        (("silent", name), "-s prints nothing") for name in ("fmt", "show", "precision")])
    if paired and pairs_path is not None:
        raise UsageError("choose either --paired (row i with row i) or --pairs FILE (the listed pairs)")
    from ...backends import LocalBackend

    engine.set_threads(threads)
    bar = terminal.progress(0, "verifying")
    backend = LocalBackend(bar if bar.stream is not None else None)
    a_set, b_set = load_inputs(backend, a, [b], input_format, key, b_key, ids_a, ids_b, max_input_size, reading)
    comp = backend.prepare(a_set, b_set, metric=metric, **metric_params, normalize=normalize,
                           zero_vector=zero_vector, memory=memory, notify=terminal.note)
    listed = None
    if pairs_path is not None:
        from ...io import read_pairs

        listed = read_pairs(pairs_path, comp.a, comp.b, max_input_size=max_input_size)
    pairs = engine.verdict_pairs(comp, paired, listed)
    bar(0, len(comp.a) if pairs is None else len(pairs[0]))
    try:
        total, differ = _judge(engine.verify(comp, threshold, paired=paired, pairs=pairs), silent, fmt, precision,
                               terminal)
    finally:
        bar.close()
    if differ:
        terminal.reason(f"{differ:,} of {counted_words(total, 'pair')} {'does' if differ == 1 else 'do'} not match")
        return EXIT_NOT_MET
    return 0


def _judge(parts, silent: bool, fmt, precision, terminal: Terminal) -> tuple[int, int]:
    """The verdicts written (none with -s), and how many pairs there were and how many differ."""
    counts = [0, 0]

    def counted():
        for part in parts:
            counts[0] += len(part)
            counts[1] += int((~part.match).sum())
            yield part

    if silent:
        for _ in counted():
            pass
    else:
        emit(counted(), fmt, precision, terminal)
    return counts[0], counts[1]

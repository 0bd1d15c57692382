"""Loss: contrastive and triplet losses, and their sweep over margins."""

from __future__ import annotations

import click

from ...errors import counted, ShapeError, UsageError
from ..common import emit, given_options, refuse_conflicts
from ..completion import complete_metric
from ..metric_params import SiamCommandGroup
from ..options import (CONTEXT, InputFormatChoice, max_input_option, metric_param_options, Number, NumberList,
                       option_group, output_options, quiet_option, read_options)
from ..terminal import Terminal


@click.group(cls=SiamCommandGroup, context_settings=CONTEXT)
def loss():
    """Contrastive and triplet losses of embeddings, and how they change with the margin.

    \b
    Examples:
      siamcli loss contrastive left.npy right.npy --labels same.txt --margin 1
      siamcli loss contrastive emb.npy --pairs pairs.csv --sweep
      siamcli loss triplet anchor.npy positive.npy negative.npy --margin 0.2 --sweep
    """


#: Options shared by both losses: the distance, the margin and the sweep.
loss_options = option_group(
    click.option("-m", "--metric", default="euclidean", show_default=True, shell_complete=complete_metric("distance"),
                 help="A distance metric (cosine_distance, angular, euclidean, ...); similarities are refused."),
    metric_param_options,
    click.option("--sweep", is_flag=True,
                 help="A table of the loss and the active share at several margins (see --margins)."),
    click.option("--margins", type=NumberList(float), default=None,
                 help="Margins of --sweep (default: 0 and the 0%, 10%, ..., 100% quantiles of the data)."),
    click.option("--input-format", type=InputFormatChoice(), default=None,
                 help="Format of the inputs when the suffix does not say."),
    click.option("--key", default=None,
                 help="Array, tensor or dataset to use from each input (.npz, .safetensors, .h5, .pt)."),
    read_options,
    max_input_option,
    click.option("--threads", type=click.IntRange(1, None), default=None,
                 help="Threads for BLAS and the kernels (default: every core)."),
    quiet_option,
)


def _check_margins(sweep: bool) -> None:
    """--margins belongs to --sweep, and --margin to a single loss."""
    refuse_conflicts([
        (("sweep", "margin"), "--sweep shows the loss at several margins (--margins), not at one")])
    if not sweep and given_options("margins"):
        raise UsageError("--margins are the margins of --sweep: add --sweep, or give one --margin")


def _load(path, input_format, key, max_input_size, reading):
    from ...io import load_embeddings

    return load_embeddings(path, input_format=input_format, key=key, max_input_size=max_input_size, **reading)


@loss.command(context_settings=CONTEXT)
@click.argument("left")
@click.argument("right", required=False)
@click.option("--labels", "labels_path", type=click.Path(), default=None,
              help="With LEFT RIGHT: a label per pair (row i with row i); --positive-label means similar.")
@click.option("--pairs", "pairs_path", type=click.Path(), default=None,
              help="Labelled pairs of LEFT: a CSV/TSV with columns left, right, label (ids or row numbers).")
@click.option("--positive-label", default="1", show_default=True,
              help="The label value meaning similar (1 also accepts 1/0, true/false, same/different).")
@click.option("--margin", type=Number(), default=1.0, show_default=True, help="The margin m.")
@click.option("--squared/--not-squared", default=True, show_default=True,
              help="Squared terms (Hadsell et al.) or plain d and max(0, m - d).")
@loss_options
@output_options
def contrastive(left, right, labels_path, pairs_path, positive_label, margin, squared, metric, sweep, margins,
                input_format, key, reading, max_input_size, threads, quiet, fmt, precision, debug, **metric_params):
    """Contrastive loss of labelled pairs: mean of y d^2 + (1 - y) max(0, m - d)^2.

    y = 1 for a similar pair (the label given by --positive-label), 0 for a dissimilar one; d
    is the pair's distance under --metric. This is Hadsell, Chopra and LeCun (2006) without
    their factor 1/2 (halve the loss to compare). Active pairs are those with non-zero loss:
    similar pairs with d > 0, dissimilar pairs with d < m; both shares are reported. --sweep
    shows the loss and the active shares at several margins, to choose one.

    \b
    Examples:
      siamcli loss contrastive left.npy right.npy --labels same.txt --margin 1
      siamcli loss contrastive examples/siamese/test_embeddings.npy --pairs examples/siamese/test_pairs.csv --sweep
    """
    from ... import engine
    from ...reports import losses
    from ...reports.evaluation import parse_labels
    from ...io import read_labelled_pairs, read_labels

    terminal = Terminal(quiet)
    _check_margins(sweep)
    if (labels_path is None) == (pairs_path is None):
        raise UsageError("label the pairs with --labels FILE (with LEFT RIGHT) or --pairs FILE, one of them")
    engine.set_threads(threads)
    a = _load(left, input_format, key, max_input_size, reading)
    if labels_path is not None:
        if right is None:
            raise UsageError("--labels labels row i of LEFT with row i of RIGHT: give RIGHT too")
        b = _load(right, input_format, key, max_input_size, reading)
        if a.dim != b.dim:
            raise ShapeError(f"{a.source} has {counted(a.dim, 'dimension')} but {b.source} has {b.dim}")
        if len(a) != len(b):
            raise UsageError(f"{a.source} has {counted(len(a), 'row')} but {b.source} has {len(b)}: pairs need equal counts")
        similar = parse_labels(read_labels(labels_path, len(a), max_input_size=max_input_size), positive_label)
        first, second = a.vectors, b.vectors
    else:
        b = a if right is None else _load(right, input_format, key, max_input_size, reading)
        rows_a, rows_b, labels = read_labelled_pairs(pairs_path, a, b, max_input_size=max_input_size)
        similar = parse_labels(labels, positive_label)
        first, second = a.vectors[rows_a], b.vectors[rows_b]
    if b.dim != a.dim:
        raise ShapeError(f"{a.source} has {counted(a.dim, 'dimension')} but {b.source} has {b.dim}")
    distances = losses.pair_distances(first, second, metric, **metric_params)
    if sweep:
        result = losses.margin_sweep("contrastive", distances, similar, margins, squared=squared, metric=metric)
    else:
        result = losses.contrastive_loss(distances, similar, margin, squared=squared, metric=metric)
    emit(result, fmt, precision, terminal)


@loss.command(context_settings=CONTEXT)
@click.argument("anchor")
@click.argument("positive")
@click.argument("negative")
@click.option("--margin", type=Number(), default=0.2, show_default=True, help="The margin m (FaceNet's alpha).")
@loss_options
@output_options
def triplet(anchor, positive, negative, margin, metric, sweep, margins, input_format, key, reading, max_input_size,
            threads, quiet, fmt, precision, debug, **metric_params):
    """Triplet loss: mean of max(0, d(a, p) - d(a, n) + m) over rows i of ANCHOR, POSITIVE, NEGATIVE.

    Row i of the three files is one triplet: the anchor, a sample of the same identity and one
    of another. Active triplets have non-zero loss. With g = d(a, n) - d(a, p), triplets are
    easy when g > m, semi-hard when 0 < g <= m and hard when g <= 0 (Schroff et al., FaceNet).
    --sweep shows the loss and the shares at several margins, to choose one.

    \b
    Examples:
      siamcli loss triplet anchor.npy positive.npy negative.npy --margin 0.2
      siamcli loss triplet a.npy p.npy n.npy -m cosine_distance --sweep -f csv
    """
    from ... import engine
    from ...reports import losses
    terminal = Terminal(quiet)
    _check_margins(sweep)
    engine.set_threads(threads)
    sets = [_load(path, input_format, key, max_input_size, reading)
            for path in (anchor, positive, negative)]
    if len({len(s) for s in sets}) > 1:
        counts = ", ".join(f"{s.source} {len(s)}" for s in sets)
        raise UsageError(f"triplets need the same number of rows in the three files: {counts}")
    for s in sets[1:]:
        if s.dim != sets[0].dim:
            raise ShapeError(f"{sets[0].source} has {counted(sets[0].dim, 'dimension')} but {s.source} has {s.dim}")
    d_ap, d_an = losses.triplet_distances(*(s.vectors for s in sets), metric, **metric_params)
    if sweep:
        result = losses.margin_sweep("triplet", d_ap, d_an, margins, metric=metric)
    else:
        result = losses.triplet_loss(d_ap, d_an, margin, metric=metric)
    emit(result, fmt, precision, terminal)

"""The engine's entry points: compare, verify and matrix over prepared comparisons."""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from ..errors import counted, UsageError, mention
from ..metrics import Metric
from ..results import MatrixResult, Ranking, Score, Verdicts
from .blocks import fill_matrix
from .comparison import DEFAULT_MEMORY_BYTES, Comparison, check_counts, check_threshold, prepare
from .pairs import iter_paired, paired_best
from .overall import best_pairs
from .ranking import iter_topk


def rankings(comp: Comparison, *, top_k: int | None = 5, limit: int | str | None = None,
             threshold: float | None = None, paired: bool = False,
             block_rows: int | None = None, pairs: tuple[np.ndarray, np.ndarray] | None = None) -> Iterator[Ranking]:
    """The rankings `compare` asks for, as a stream of Ranking chunks.

    `limit` set (an int, or "all" for every pair): one overall ranking; otherwise `top_k`
    per row of A (None: every row of B). `paired`: row i against row i; `pairs`: only the
    listed (a_index, b_index) pairs, in list order.
    """
    overall = limit is not None
    limit = None if limit == "all" else limit
    check_counts(top_k, limit)
    check_threshold(threshold)
    if paired or pairs is not None:
        if overall:
            yield paired_best(comp, limit, threshold, block_rows, pairs)
        else:
            yield from iter_paired(comp, threshold, block_rows, pairs)
    elif overall:
        yield best_pairs(comp, limit, threshold, block_rows)
    else:
        yield from iter_topk(comp, top_k, threshold, block_rows)


def results(comp: Comparison, *, top_k: int | None = 5, limit: int | str | None = None,
            threshold: float | None = None, paired: bool = False, pairs=None,
            block_rows: int | None = None) -> Score | Iterator[Ranking]:
    """What `compare` asks for: one Score for two single vectors (none if it fails the
    threshold), else a stream of Ranking chunks. `pairs` is a (a_index, b_index) tuple or a file."""
    check_threshold(threshold)
    if pairs is not None and not isinstance(pairs, tuple):
        from ..io import read_pairs

        pairs = read_pairs(pairs, comp.a, comp.b)
    if is_single_pair(comp) and not paired and pairs is None and limit is None:
        score = single_score(comp)
        if comp.passes([score.value], threshold)[0]:
            return score
        return iter([Ranking.concat([], comp.metric, comp.a, comp.b, "row")])
    return rankings(comp, top_k=top_k, limit=limit, threshold=threshold, paired=paired,
                    block_rows=block_rows, pairs=pairs)


def compare(a, b=None, *, metric: str | Metric = "cosine", top_k: int | None = 5, limit: int | str | None = None,
            threshold: float | None = None, paired: bool = False, pairs=None, p: float | None = None,
            cov_from=None, normalize: bool = False, zero_vector: str = "error", memory: int | str = DEFAULT_MEMORY_BYTES,
            notify: Callable[[str], None] | None = None, block_rows: int | None = None, backend=None,
            **metric_params) -> Ranking | Score:
    """Score the rows of A against the rows of B (or of A itself) and rank them.

    Parameters
    ----------
    a, b : path, array_like, torch.Tensor, DataFrame or EmbeddingSet
        The vectors, as `siamcli.load` takes them; `b` None compares A with itself (no self-pairs).
    top_k : int or None
        The best pairs kept per row of A (None: every row of B).
    limit : int or "all", optional
        One ranking of the best `limit` pairs overall (``"all"``: every pair) instead.
    threshold : float, optional
        Keep only pairs at least this close (a similarity >= it, a distance <= it).
    paired : bool
        Row i of A against row i of B only.
    pairs : path or (a_rows, b_rows), optional
        Only these pairs, in this order: a file of index or id pairs, or two index arrays.
    metric, p, cov_from, normalize, zero_vector, memory, notify, **metric_params
        As `siamcli.prepare` takes them; `memory` is bytes or a size such as ``"512M"``.
    block_rows : int, optional
        Rows of A per block (default: as many as `memory` allows).
    backend : Backend, optional
        Where the work runs (``siamcli.backends.get_backend(scheduler)``: a Dask cluster; None: threads).

    Returns
    -------
    Ranking or Score
        A Score for two single vectors, else a Ranking (``.topk()``, ``.to_pandas()``, ``.records()``).

    Examples
    --------
    >>> import numpy as np, siamcli
    >>> float(siamcli.compare([1.0, 0.0], [1.0, 1.0], metric="cosine"))  # doctest: +ELLIPSIS
    0.7071067811865...
    >>> ranking = siamcli.compare(np.eye(3), [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], top_k=1, memory="64M")
    >>> ranking.topk()[1].ravel().tolist()
    [0, 1, 1]
    """
    options = dict(metric=metric, p=p, cov_from=cov_from, normalize=normalize, zero_vector=zero_vector,
                   memory=memory, notify=notify, **metric_params)
    if backend is not None:
        comp = backend.prepare(a, b, **options)
        found = backend.results(comp, top_k=top_k, limit=limit, threshold=threshold, paired=paired, pairs=pairs)
    else:
        comp = prepare(a, b, **options)
        found = results(comp, top_k=top_k, limit=limit, threshold=threshold, paired=paired, pairs=pairs,
                        block_rows=block_rows)
    if isinstance(found, Score):
        return found
    parts = list(found)
    return Ranking.concat(parts, comp.metric, comp.a, comp.b, parts[0].grouping if parts else "row")


def verdict_pairs(comp: Comparison, paired: bool = False, pairs=None) -> tuple[np.ndarray, np.ndarray] | None:
    """The pairs `verify` judges: the listed ones, row i with row i (`paired`), or every row of
    one side with the single vector of the other; None for row i with row i."""
    if pairs is not None:
        if not isinstance(pairs, tuple):
            from ..io import read_pairs

            pairs = read_pairs(pairs, comp.a, comp.b)
        return pairs
    n, m = len(comp.a), len(comp.b)
    if paired or n == m == 1:
        return None
    if n == 1 or m == 1:
        count = max(n, m)
        rows = np.arange(count)
        zeros = np.zeros(count, dtype=rows.dtype)
        return (zeros, rows) if n == 1 else (rows, zeros)
    raise UsageError(f"{comp.a.source} has {counted(n, 'row')} and {comp.b.source} has {m}: say which pairs to judge "
                     f"with {mention('paired')} (row i with row i) or {mention('pairs')} FILE")


def verify(comp: Comparison, threshold: float, paired: bool = False, pairs=None,
           block_rows: int | None = None) -> Iterator[Verdicts]:
    """Each pair judged same when at least as close as `threshold` (similarity >= T, distance <= T);
    a NaN score (an undefined pair) is never a match."""
    if comp.same:
        raise UsageError("verify needs two inputs, A and B")
    if threshold is None:
        raise UsageError("verify needs a threshold")
    check_threshold(threshold)
    for part in iter_paired(comp, None, block_rows, verdict_pairs(comp, paired, pairs)):
        yield Verdicts(part.metric, part.a, part.b, part.a_index, part.b_index, part.score, part.rank,
                       "paired", float(threshold), comp.passes(part.score, threshold))


def is_single_pair(comp: Comparison) -> bool:
    return not comp.same and comp.a.single and comp.b.single


def single_score(comp: Comparison) -> Score:
    return Score(comp.metric, comp.a, comp.b, float(comp.block(0, 1, 0, 1)[0, 0]))


def _check_out(comp: Comparison, out) -> None:
    """A UsageError unless `out` (if given) is an array of (len(A), len(B)) floats to fill, apart from
    the inputs: any other shape would be filled in part (or come back with rows past A's), integers
    would truncate scores, and scores written over an input would be computed from scores."""
    if out is None:
        return
    shape, dtype = getattr(out, "shape", None), getattr(out, "dtype", None)
    expected = (len(comp.a), len(comp.b))
    if shape is not None and tuple(shape) == expected and dtype is not None and np.dtype(dtype).kind == "f":
        for name, side in (("A", comp.a), ("B", comp.b)):
            vectors = getattr(side, "vectors", None)
            if isinstance(vectors, np.ndarray) and np.may_share_memory(out, vectors):
                raise UsageError(f"out shares memory with the vectors of {name}: the scores would "
                                 "overwrite rows still to be read; give a new array")
        return
    raise UsageError(f"out must be a {expected[0]} x {expected[1]} array of floats to hold the scores, "
                     f"not {'x'.join(map(str, shape)) if shape is not None else type(out).__name__}"
                     f"{f' of {np.dtype(dtype)}' if dtype is not None else ''}")


def matrix(a, b=None, *, metric: str | Metric = "cosine", p: float | None = None, cov_from=None,
           normalize: bool = False, zero_vector: str = "error", memory: int | str = DEFAULT_MEMORY_BYTES,
           notify: Callable[[str], None] | None = None, out: np.ndarray | None = None,
           block_rows: int | None = None, backend=None, **metric_params) -> MatrixResult:
    """The full score matrix of A against B (or A against itself).

    Parameters
    ----------
    a, b : path, array_like, torch.Tensor, DataFrame or EmbeddingSet
        The vectors, as `siamcli.load` takes them; `b` None scores A against itself.
    metric, p, cov_from, normalize, zero_vector, memory, notify, **metric_params
        As `siamcli.prepare` takes them; `memory` is bytes or a size such as ``"512M"``.
    out : numpy.ndarray, optional
        A (len(A), len(B)) array of floats to fill (a memory map of a file, for a matrix larger than
        memory); any other shape or type, or memory shared with an input, is a UsageError.
    block_rows, backend
        As `siamcli.compare` takes them.

    Returns
    -------
    MatrixResult
        ``.values[i, j]`` scores row i of A with row j of B; ``.to_pandas()`` labels them by id.

    Examples
    --------
    >>> import siamcli
    >>> siamcli.matrix([[3.0, 4.0], [0.0, 1.0]], metric="euclidean").values
    array([[0.        , 4.24264069],
           [4.24264069, 0.        ]])
    """
    options = dict(metric=metric, p=p, cov_from=cov_from, normalize=normalize, zero_vector=zero_vector,
                   memory=memory, notify=notify, **metric_params)
    if backend is None:
        comp = prepare(a, b, **options)
        _check_out(comp, out)
        return MatrixResult(comp.metric, comp.a, comp.b, fill_matrix(comp, out, block_rows))
    comp = backend.prepare(a, b, **options)
    if out is None:
        return MatrixResult(comp.metric, comp.a, comp.b, backend.matrix(comp))
    _check_out(comp, out)
    backend.fill(comp, out)
    return MatrixResult(comp.metric, comp.a, comp.b, out)

"""Paired scores: row i with row i, or listed pairs, in blocks within the budget."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from ..errors import ShapeError, mention
from ..results import Ranking
from .comparison import Comparison, check_threshold


def iter_paired(comp: Comparison, threshold: float | None = None, block_rows: int | None = None,
                pairs: tuple[np.ndarray, np.ndarray] | None = None) -> Iterator[Ranking]:
    """Row i of A against row i of B, in row order; or the listed (a, b) pairs, in list order."""
    if pairs is None:
        n = len(comp.a)
        if len(comp.b) != n:
            raise ShapeError(f"{mention('paired')} needs the same number of rows: {comp.a.source} has {n}, {comp.b.source} has {len(comp.b)}")
        a_index = b_index = None
    else:
        a_index, b_index = pairs
        n = len(a_index)
    br = comp.block_sizes(block_rows)[0] if block_rows else max(1, comp.memory // (comp.a.dim * 32))
    for i0 in range(0, n, br):
        i1 = min(n, i0 + br)
        scores = comp.paired_block(i0, i1, a_index, b_index).astype(np.float64)
        ai = np.arange(i0, i1) if a_index is None else a_index[i0:i1]
        bi = ai if b_index is None else b_index[i0:i1]
        keep = comp.passes(scores, threshold)
        yield Ranking(comp.metric, comp.a, comp.b, ai[keep], bi[keep].copy(), scores[keep],
                      np.ones(int(keep.sum()), np.int64), "paired")


def paired_best(comp: Comparison, limit: int | None, threshold: float | None = None,
                block_rows: int | None = None, pairs=None) -> Ranking:
    """Paired (or listed) scores ranked overall, best first."""
    allp = Ranking.concat(list(iter_paired(comp, threshold, block_rows, pairs)), comp.metric, comp.a, comp.b, "overall")
    return scored_pairs(comp, allp.a_index, allp.b_index, allp.score, None, "all" if limit is None else limit)


def scored_pairs(comp: Comparison, a_index: np.ndarray, b_index: np.ndarray, scores: np.ndarray,
                 threshold: float | None = None, limit: int | str | None = None) -> Ranking:
    """Pairs already scored (elsewhere: a cluster), as compare reports them: those passing the
    threshold in the given order, or with `limit` (an int or "all") the best overall first."""
    check_threshold(threshold)
    keep = comp.passes(scores, threshold)
    a_index, b_index, scores = np.asarray(a_index)[keep], np.asarray(b_index)[keep], np.asarray(scores)[keep]
    if limit is None:
        return Ranking(comp.metric, comp.a, comp.b, a_index, b_index, scores, np.ones(len(scores), np.int64), "paired")
    order = np.lexsort((b_index, a_index, comp.keys(scores)))[: None if limit == "all" else limit]
    return Ranking(comp.metric, comp.a, comp.b, a_index[order], b_index[order], scores[order],
                   np.arange(1, len(order) + 1), "overall")


def pair_scores(comp: Comparison, left: np.ndarray | None = None, right: np.ndarray | None = None,
                block_rows: int | None = None) -> np.ndarray:
    """float64 scores of the listed pairs (row left[i] of A with row right[i] of B), or of row i
    with row i when none are listed, block by block."""
    pairs = None if left is None else (np.asarray(left), np.asarray(right))
    parts = [part.score for part in iter_paired(comp, None, block_rows, pairs)]
    return np.concatenate(parts) if parts else np.empty(0)

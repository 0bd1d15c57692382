"""Each item's k nearest neighbours in one space (exact, from the engine) and how much two
spaces' neighbourhoods overlap (Jaccard)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ...engine import Comparison, rankings

#: The record key of an item's neighbourhood overlap, as the issue names it (the overlap, not the metric
#: of the same name: tests/test_metric_params.py allows this one constant).
JACCARD = "jaccard"
#: Quantiles of the per-item Jaccard reported; record keys are "10%", "25%", ...
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def nearest(comp: Comparison, k: int) -> np.ndarray:
    """(n, k) rows of each row's k nearest other rows, nearest first: the engine's exact top-k of a
    set against itself (self left out by index; ties broken by row index), within its budget."""
    n = len(comp.a)
    found = np.full((n, k), -1, dtype=np.int64)
    for part in rankings(comp, top_k=k):
        found[part.a_index, part.rank - 1] = part.b_index
    if (found < 0).any():  # every row has n - 1 >= k others, each scored (NaN scores rank last)
        raise RuntimeError("the engine returned fewer than k neighbours for a row")
    return found


def shared_counts(before: np.ndarray, after: np.ndarray, memory: int) -> np.ndarray:
    """How many of each row's neighbours in `before` are also in `after` (both (n, k) arrays of
    distinct rows), in row chunks within `memory` bytes."""
    n, k = before.shape
    step = max(1, memory // (64 * k))
    counts = np.empty(n, dtype=np.int64)
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        offset = np.arange(i0, i1, dtype=np.int64)[:, None] * n  # a neighbour as (row, neighbour): one number
        inside = np.isin(before[i0:i1] + offset, after[i0:i1] + offset)
        counts[i0:i1] = inside.sum(axis=1)
    return counts


def jaccard(shared: np.ndarray, k: int) -> np.ndarray:
    """|N_A ∩ N_B| / |N_A ∪ N_B| of two k-sets sharing `shared` members."""
    return shared / (2.0 * k - shared)


def changed_order(values: np.ndarray) -> np.ndarray:
    """Rows from the lowest Jaccard (changed most) to the highest, ties by row."""
    return np.lexsort((np.arange(len(values)), values))


def quantiles(values: np.ndarray) -> dict[str, float]:
    return {f"{q * 100:g}%": float(v) for q, v in zip(QUANTILES, np.quantile(values, QUANTILES))}


def histogram(shared: np.ndarray, k: int) -> list[dict]:
    """Items by neighbours shared (0 to k): the Jaccard of two k-sets takes only these k + 1 values."""
    counts = np.bincount(shared, minlength=k + 1)
    return [{"shared": s, JACCARD: s / (2.0 * k - s), "items": int(c)} for s, c in enumerate(counts.tolist())]


def neighbour_step(comps: tuple[Comparison, Comparison], k: int, memory: int,
                   progress: Callable[[int], None] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(neighbours in A, neighbours in B, neighbours shared) of every item."""
    for comp in comps:
        comp.progress = progress
    before, after = nearest(comps[0], k), nearest(comps[1], k)
    return before, after, shared_counts(before, after, memory)

"""The nearest-neighbour two-sample test (Schilling 1986, Henze 1988).

In the pooled sample, each row's k nearest other rows (exact, from the engine, under the chosen
metric); the statistic is the fraction of those neighbours that come from the row's own set. Two
sets from one distribution mix, so the fraction stays near what random labels give; the p-value
permutes the labels over the fixed neighbour graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import UsageError, mention
from ...io import EmbeddingSet

#: Label columns compared per step of the permutation null (bounds the (rows, k, columns) temporary).
_ENTRIES_PER_STEP = 2**24


@dataclass
class KnnResult:
    statistic: float  # fraction of neighbours from the row's own set
    p_value: float
    k: int
    metric: str
    null: np.ndarray


def neighbours(pooled: np.ndarray, k: int, metric, options: dict) -> tuple[np.ndarray, str]:
    """((rows, k) nearest other rows of each pooled row, nearest first; the metric's name)."""
    from ...engine import prepare
    from ..diff.neighbours import nearest

    if not 1 <= k < len(pooled):
        raise UsageError(f"{mention('neighbors')} must be from 1 to {len(pooled) - 1} (the pooled rows less one), got {k}")
    comp = prepare(EmbeddingSet(pooled, None, "the pooled sample"), None, metric=metric, **options)
    return nearest(comp, k), comp.metric.name


def same_set_fraction(graph: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """For each label column, the fraction of (row, neighbour) pairs whose labels agree."""
    rows, k = graph.shape
    step = max(1, _ENTRIES_PER_STEP // (rows * k))
    out = np.empty(labels.shape[1])
    for c0 in range(0, labels.shape[1], step):
        part = labels[:, c0: c0 + step]
        same = part[graph] == part[:, None, :]  # (rows, k, columns)
        out[c0: c0 + step] = same.sum(axis=(0, 1)) / (rows * k)
    return out


def knn_test(pooled: np.ndarray, labels: np.ndarray, k: int, metric, options: dict) -> KnnResult:
    """The test on the pooled rows; `labels` as permutation.permuted_labels gives them."""
    from .permutation import p_value

    graph, name = neighbours(pooled, k, metric, options)
    stats = same_set_fraction(graph, labels)
    return KnnResult(float(stats[0]), p_value(stats[0], stats[1:]), k, name, stats[1:])

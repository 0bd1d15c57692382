"""Metrics that order the pairs alike: cosine, dot and euclidean on L2-normalised vectors rank
every pair the same, so every figure computed from the ranking (AUC, EER, accuracy, TAR@FAR,
retrieval) is the same, and tables say so rather than list them again."""

from __future__ import annotations

import numpy as np

#: Score differences below this share of a metric's largest magnitude count as ties: rounding
#: (cosine, dot and euclidean of unit float32 vectors differ by a few units in the last place,
#: float32's being 1.2e-7) must not tell them apart.
ORDER_TOLERANCE = 1e-5


def _closeness(result) -> np.ndarray:
    scores = np.asarray(result.scores, dtype=np.float64)
    return scores if result.verification.higher_is_better else -scores


def _follows(leader: np.ndarray, other: np.ndarray) -> bool:
    """Whether `other` never goes up (beyond rounding) along `leader`'s closest-first order."""
    order = np.argsort(-leader, kind="stable")
    scale = float(np.abs(other).max()) if len(other) else 0.0
    return bool((np.diff(other[order]) <= ORDER_TOLERANCE * scale).all())


def same_order(a, b) -> bool:
    """Whether two evaluated metrics rank the same pairs identically (ties included, up to
    rounding): each one's closeness never increases along the other's order."""
    if len(a.scores) != len(b.scores) or not np.array_equal(a.same, b.same):
        return False
    if abs(a.verification.auc - b.verification.auc) > ORDER_TOLERANCE:  # cheap: most pairs of metrics part here
        return False
    x, y = _closeness(a), _closeness(b)
    return _follows(x, y) and _follows(y, x)


def mark_same_order(results: list) -> list:
    """Sets `same_order_as` on each model's result (not a smaller copy's) that ranks the pairs
    as a result above it (in the given order, best first) does: the name of that one. Returns
    the results."""
    leaders: dict[str, list] = {}
    for r in results:
        if r.reference is not None:
            continue
        mine = leaders.setdefault(r.model, [])
        r.same_order_as = next((lead.name for lead in mine if same_order(lead, r)), None)
        if r.same_order_as is None:
            mine.append(r)
    return results

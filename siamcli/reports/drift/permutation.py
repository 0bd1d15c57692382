"""Permutation tests shared by the two-sample tests: seeded label permutations and the p-value."""

from __future__ import annotations

import numpy as np

from ...errors import UsageError


def generator(seed: int) -> np.random.Generator:
    """The seeded generator every random step of a drift report draws from, in a fixed order."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"seed must be a whole number >= 0, got {seed!r}")
    return np.random.default_rng(int(seed))


def permuted_labels(labels: np.ndarray, permutations: int, rng: np.random.Generator) -> np.ndarray:
    """(len(labels), 1 + permutations) int8 matrix: column 0 the labels as given, then one seeded
    permutation of them per column (each an independent uniform shuffle)."""
    labels = np.asarray(labels, dtype=np.int8)
    out = np.empty((len(labels), 1 + permutations), dtype=np.int8, order="F")
    out[:, 0] = labels
    for p in range(1, permutations + 1):
        out[:, p] = rng.permutation(labels)
    return out


def p_value(observed: float, null: np.ndarray) -> float:
    """(1 + #{null >= observed}) / (1 + permutations): never 0, exact under exchangeability."""
    null = np.asarray(null, dtype=np.float64)
    return float((1 + np.count_nonzero(null >= observed)) / (1 + null.size))

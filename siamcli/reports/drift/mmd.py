"""Unbiased MMD² with the RBF kernel k(x, y) = exp(-|x - y|² / (2 s²)) and its permutation test.

The pooled sample Z (reference rows, then current rows) is at most a few thousand rows per set, but
its kernel matrix K is (n + m)²: it is computed in row blocks within the memory budget, in float64.
With a the 0/1 indicator of the reference rows, r = K 1 and T = 1ᵀ K 1, the within- and between-set
sums are aᵀKa - n, T - 2 aᵀr + aᵀKa - m and aᵀr - aᵀKa (the diagonal of K is 1): one product K A
with the indicator columns A of every permutation gives every statistic of the null at once.
Float32 inputs are compared in float32 (distances and the product with A; row sums and the observed
statistic in float64), float64 inputs in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...errors import InputError, UsageError, mention

#: Share of the memory budget for the distances whose median is the bandwidth, for the label
#: columns of one batch of permutations, and for one block of kernel rows (and its temporaries).
_MEDIAN_SHARE, _LABELS_SHARE, _BLOCK_SHARE = 0.5, 0.25, 0.25
#: Bytes per kernel entry of a block of rows: the squared distances, the kernel, a temporary.
_BLOCK_BYTES = 24


@dataclass
class MmdResult:
    mmd2: float
    p_value: float
    bandwidth: float
    bandwidth_from: str  # "median" (of the pooled sample's distances) or "given"
    null: np.ndarray  # the statistic under each permutation
    median_rows: int  # rows whose pairwise distances gave the median (all pooled rows unless too many)


def centred(z: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Rows less their mean (taken in float64), in `dtype`: distances are unchanged and products lose
    less to rounding."""
    z = np.asarray(z, dtype=np.float64)
    return (z - z.mean(axis=0)).astype(dtype, copy=False)


def squared_distances(z: np.ndarray, sq: np.ndarray, i0: int, i1: int) -> np.ndarray:
    """|z_i - z_j|² of rows i0..i1 against every row (0 on the diagonal, never negative)."""
    d2 = z[i0:i1] @ z.T
    d2 *= -2.0
    d2 += sq[i0:i1, None]
    d2 += sq[None, :]
    np.maximum(d2, 0.0, out=d2)
    d2[np.arange(i1 - i0), np.arange(i0, i1)] = 0.0
    return d2


def _block_rows(n: int, memory: int) -> int:
    return max(1, min(n, int(memory * _BLOCK_SHARE) // (_BLOCK_BYTES * max(n, 1))))


def median_distance(z: np.ndarray, memory: int, rng: np.random.Generator) -> tuple[float, int]:
    """(median euclidean distance between distinct rows of z, rows used). Every pair when their
    distances fit half the budget (float64, else float32); else the pairs of a seeded subset of rows."""
    n = len(z)
    budget = int(memory * _MEDIAN_SHARE)
    dtype = np.float64 if 8 * n * (n - 1) // 2 <= budget else np.float32
    rows = n
    while rows > 2 and np.dtype(dtype).itemsize * rows * (rows - 1) // 2 > budget:
        rows = int(rows * 0.9)
    if rows < n:
        z = z[np.sort(rng.choice(n, size=rows, replace=False))]
    sq = np.einsum("ij,ij->i", z, z)
    values = np.empty(rows * (rows - 1) // 2, dtype=dtype)
    at, step = 0, _block_rows(rows, memory)
    for i0 in range(0, rows, step):
        i1 = min(rows, i0 + step)
        d2 = squared_distances(z, sq, i0, i1)
        for i in range(i0, i1):
            row = d2[i - i0, i + 1:]
            values[at: at + len(row)] = np.sqrt(row)
            at += len(row)
    return _median_in_place(values), rows


def _median_in_place(values: np.ndarray) -> float:
    """np.median without its copy of the values."""
    half = len(values) // 2
    if len(values) % 2:
        values.partition(half)
        return float(values[half])
    values.partition((half - 1, half))
    return (float(values[half - 1]) + float(values[half])) / 2.0


def kernel_rows(z: np.ndarray, sq: np.ndarray, i0: int, i1: int, bandwidth: float) -> np.ndarray:
    """Rows i0..i1 of the RBF kernel matrix of z."""
    k = squared_distances(z, sq, i0, i1)
    k *= -1.0 / (2.0 * bandwidth * bandwidth)
    return np.exp(k, out=k)


def mmd2_from_sums(quad: np.ndarray, ar: np.ndarray, total: float, n: int, m: int) -> np.ndarray:
    """Unbiased MMD² from aᵀKa, aᵀr and T (see the module's docstring), n reference rows, m current."""
    within_a = (quad - n) / (n * (n - 1))
    within_b = (total - 2.0 * ar + quad - m) / (m * (m - 1))
    between = (ar - quad) / (n * m)
    return within_a + within_b - 2.0 * between


def _statistics(z: np.ndarray, labels: np.ndarray, bandwidth: float, memory: int) -> np.ndarray:
    """MMD² for every label column (1 = reference row), the kernel computed in row blocks in z's
    dtype; the permutations in batches that fit the budget, the whole kernel kept between batches
    when it fits. Column 0 (the observed split) and the row sums are summed in float64."""
    n_rows, columns = labels.shape
    n = int(labels[:, 0].sum())
    sq = np.einsum("ij,ij->i", z, z)
    size = z.dtype.itemsize
    step = _block_rows(n_rows, memory)
    batch = max(1, min(columns, int(memory * _LABELS_SHARE) // (size * n_rows)))
    keep = batch < columns and size * n_rows * n_rows <= memory * _LABELS_SHARE
    cached: dict[int, np.ndarray] = {}
    quad = np.zeros(columns)
    row_sums = np.zeros(n_rows)
    observed = labels[:, 0].astype(np.float64)
    exact = 0.0
    for c0 in range(0, columns, batch):
        a = labels[:, c0: c0 + batch].astype(z.dtype)
        for i0 in range(0, n_rows, step):
            i1 = min(n_rows, i0 + step)
            block = cached.get(i0)
            if block is None:
                block = kernel_rows(z, sq, i0, i1, bandwidth)
                if keep:
                    cached[i0] = block
            if c0 == 0:
                row_sums[i0:i1] = block.sum(axis=1, dtype=np.float64)
                exact += float(observed[i0:i1] @ (block.astype(np.float64, copy=False) @ observed))
            product = block @ a
            quad[c0: c0 + batch] += np.einsum("ip,ip->p", a[i0:i1], product, dtype=np.float64)
    quad[0] = exact  # the observed split summed in float64, whatever the dtype of the blocks
    ar = labels.astype(np.float64).T @ row_sums
    return mmd2_from_sums(quad, ar, float(row_sums.sum()), n, n_rows - n)


def mmd_test(reference: np.ndarray, current: np.ndarray, labels: np.ndarray, *, bandwidth: float | None,
             memory: int, rng: np.random.Generator, dtype=np.float64) -> MmdResult:
    """The unbiased MMD² of the two samples and its permutation p-value. `labels` is the matrix of
    permutation.permuted_labels over the pooled rows (1 = reference), column 0 the true split;
    kernel blocks in `dtype` (float32 or float64)."""
    from .permutation import p_value

    z = centred(np.concatenate([reference, current]), dtype)
    given = bandwidth is not None
    rows = len(z)
    if not given:
        bandwidth, rows = median_distance(z, memory, rng)
        if not bandwidth > 0:
            raise InputError("the median distance between rows is 0 (most rows are duplicates): the RBF kernel has "
                             f"no scale; give {mention('bandwidth')}")
    elif not (math.isfinite(bandwidth) and bandwidth > 0):
        raise UsageError(f"{mention('bandwidth')} must be a positive number, got {bandwidth}")
    stats = _statistics(z, labels, float(bandwidth), memory)
    return MmdResult(float(stats[0]), p_value(stats[0], stats[1:]), float(bandwidth),
                     "given" if given else "median", stats[1:], rows)

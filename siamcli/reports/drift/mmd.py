"""Unbiased MMD² with the RBF kernel k(x, y) = exp(-|x - y|² / (2 s²)) and its permutation test.

The pooled sample Z (reference rows, then current rows) is at most a few thousand rows per set, but
its kernel matrix K is (n + m)²: it is computed in square tiles of its upper triangle (K is
symmetric) within the memory budget.
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
#: Up to this many pairs the median is taken over float64 distances, beyond over float32 ones.
_EXACT_MEDIAN_PAIRS = 2**20
#: Tiles per side of the kernel matrix at least (when they stay this wide): 8 wastes 1/8 of a triangle.
_MIN_TILES, _MIN_TILE_SIDE = 8, 1024


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


def squared_distances(z: np.ndarray, sq: np.ndarray, i0: int, i1: int, j0: int, j1: int) -> np.ndarray:
    """|z_i - z_j|² of rows i0..i1 against rows j0..j1 (0 for a row with itself, never negative)."""
    d2 = z[i0:i1] @ z[j0:j1].T
    d2 *= -2.0
    d2 += sq[i0:i1, None]
    d2 += sq[None, j0:j1]
    np.maximum(d2, 0.0, out=d2)
    if i0 == j0:
        np.fill_diagonal(d2, 0.0)
    return d2


def tiles(n: int, memory: int, itemsize: int) -> list[tuple[int, int, int, int]]:
    """The upper triangle of an n x n matrix as square tiles (i0, i1, j0, j1), j0 >= i0, each of
    whose temporaries (distances, kernel, products) fit the block share of the budget."""
    side = max(1, min(n, int(math.isqrt(int(memory * _BLOCK_SHARE) // (3 * itemsize)))))
    # at least a few tiles a side: the diagonal tiles are computed whole, so few large tiles waste work
    parts = max(-(-n // side), min(_MIN_TILES, -(-n // _MIN_TILE_SIDE)))
    edges = [round(i * n / parts) for i in range(parts + 1)]
    return [(edges[a], edges[a + 1], edges[b], edges[b + 1]) for a in range(len(edges) - 1)
            for b in range(a, len(edges) - 1)]


def median_distance(z: np.ndarray, memory: int, rng: np.random.Generator) -> tuple[float, int]:
    """(median euclidean distance between distinct rows of z, rows used). Every pair when their
    distances fit half the budget (float64 up to a million pairs, else float32); else the pairs of a
    seeded subset of rows."""
    n = len(z)
    budget = int(memory * _MEDIAN_SHARE)
    pairs = n * (n - 1) // 2
    # float32 beyond a million pairs: a bandwidth needs no more digits, and halves the memory and the sort
    dtype = np.float64 if pairs <= _EXACT_MEDIAN_PAIRS and 8 * pairs <= budget else np.float32
    rows = n
    while rows > 2 and np.dtype(dtype).itemsize * rows * (rows - 1) // 2 > budget:
        rows = int(rows * 0.9)
    if rows < n:
        z = z[np.sort(rng.choice(n, size=rows, replace=False))]
    sq = np.einsum("ij,ij->i", z, z)
    values = np.empty(rows * (rows - 1) // 2, dtype=dtype)
    at = 0
    for i0, i1, j0, j1 in tiles(rows, memory, z.dtype.itemsize):
        d2 = squared_distances(z, sq, i0, i1, j0, j1)
        for part in ([row[i + 1:] for i, row in enumerate(d2)] if i0 == j0 else [d2.ravel()]):
            values[at: at + part.size] = np.sqrt(part)
            at += part.size
    return _median_in_place(values), rows


def _median_in_place(values: np.ndarray) -> float:
    """np.median without its copy of the values."""
    half = len(values) // 2
    if len(values) % 2:
        values.partition(half)
        return float(values[half])
    values.partition((half - 1, half))
    return (float(values[half - 1]) + float(values[half])) / 2.0


def kernel_tile(z: np.ndarray, sq: np.ndarray, bandwidth: float, i0: int, i1: int, j0: int, j1: int) -> np.ndarray:
    """Rows i0..i1, columns j0..j1 of the RBF kernel matrix of z."""
    k = squared_distances(z, sq, i0, i1, j0, j1)
    k *= -1.0 / (2.0 * bandwidth * bandwidth)
    return np.exp(k, out=k)


def mmd2_from_sums(quad: np.ndarray, ar: np.ndarray, total: float, n: int, m: int) -> np.ndarray:
    """Unbiased MMD² from aᵀKa, aᵀr and T (see the module's docstring), n reference rows, m current."""
    within_a = (quad - n) / (n * (n - 1))
    within_b = (total - 2.0 * ar + quad - m) / (m * (m - 1))
    between = (ar - quad) / (n * m)
    return within_a + within_b - 2.0 * between


def _observed_quad(k: np.ndarray, reference: np.ndarray, i0: int, i1: int, j0: int, j1: int) -> float:
    """aᵀ K_tile a of the observed split, summed in float64 (twice for a tile off the diagonal)."""
    rows, cols = np.flatnonzero(reference[i0:i1]), np.flatnonzero(reference[j0:j1])
    if not len(rows) or not len(cols):
        return 0.0
    part = k[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]  # the reference rows come first: one rectangle
    total = float(part.sum(dtype=np.float64)) if len(rows) * len(cols) == part.size else float(
        k[np.ix_(rows, cols)].sum(dtype=np.float64))
    return total if i0 == j0 else 2.0 * total


def _statistics(z: np.ndarray, labels: np.ndarray, bandwidth: float, memory: int) -> np.ndarray:
    """MMD² for every label column (1 = reference row), from the kernel's upper triangle in square
    tiles of z's dtype (K is symmetric: half the work); the permutations in batches that fit the
    budget, the tiles kept between batches when they fit. The observed split (column 0) and the
    row sums are summed in float64."""
    n_rows, columns = labels.shape
    size = z.dtype.itemsize
    sq = np.einsum("ij,ij->i", z, z)
    batch = max(1, min(columns, int(memory * _LABELS_SHARE) // (size * n_rows)))
    keep = batch < columns and size * n_rows * n_rows <= memory * _LABELS_SHARE
    cached: dict[tuple, np.ndarray] = {}
    quad, row_sums, exact = np.zeros(columns), np.zeros(n_rows), 0.0
    reference = labels[:, 0] == 1
    for c0 in range(0, columns, batch):
        a = labels[:, c0: c0 + batch].astype(z.dtype)
        for tile in tiles(n_rows, memory, size):
            i0, i1, j0, j1 = tile
            k = cached.get(tile)
            if k is None:
                k = kernel_tile(z, sq, bandwidth, *tile)
                if keep:
                    cached[tile] = k
            if c0 == 0:
                row_sums[i0:i1] += k.sum(axis=1, dtype=np.float64)
                if i0 != j0:
                    row_sums[j0:j1] += k.sum(axis=0, dtype=np.float64)
                exact += _observed_quad(k, reference, *tile)
            twice = 1.0 if i0 == j0 else 2.0
            quad[c0: c0 + batch] += twice * np.einsum("ip,ip->p", a[i0:i1], k @ a[j0:j1], dtype=np.float64)
    quad[0] = exact
    ar = labels.astype(np.float64).T @ row_sums
    return mmd2_from_sums(quad, ar, float(row_sums.sum()), int(reference.sum()), n_rows - int(reference.sum()))


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

"""Descriptive shifts between the two sets: centroids, norms, per-dimension distributions, and the
change in `inspect`'s health figures. Whole-set figures are read in row chunks; the per-dimension
tests use the sampled rows."""

from __future__ import annotations

import math
import warnings

import numpy as np

#: Rows read per chunk for the whole-set figures (8,192 x 384 in float64: 25 MB).
_CHUNK_ROWS = 8192
#: Health figures of `inspect` compared between the sets.
HEALTH_FIGURES = ("effective_rank", "mean_cosine", "exact_duplicate_rows", "near_duplicate_pairs")


def _chunks(x):
    for i0 in range(0, len(x), _CHUNK_ROWS):
        yield np.array(x[i0: i0 + _CHUNK_ROWS], dtype=np.float64)  # a copy: callers may change it


def centroid_and_norms(x) -> tuple[np.ndarray, np.ndarray]:
    """(mean row, norm of every row), in float64, one chunk at a time."""
    total = np.zeros(x.shape[1])
    norms = np.empty(len(x))
    for i0, rows in zip(range(0, len(x), _CHUNK_ROWS), _chunks(x)):
        total += rows.sum(axis=0)
        norms[i0: i0 + len(rows)] = np.linalg.norm(rows, axis=1)
    return total / len(x), norms


def rms_spread(x, centroid: np.ndarray) -> float:
    """sqrt(mean |x_i - centroid|²): the RMS distance of the rows to their centroid."""
    total = 0.0
    for rows in _chunks(x):
        rows -= centroid
        total += float(np.einsum("ij,ij->", rows, rows))
    return math.sqrt(total / len(x))


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values: min over j >= i of p_(j) m / j, at most 1, in the given order."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def dimension_tests(reference: np.ndarray, current: np.ndarray, alpha: float) -> dict:
    """Two-sample KS test per dimension, BH-adjusted: the share of dimensions with adjusted p < alpha."""
    from scipy.stats import ks_2samp

    with warnings.catch_warnings():  # scipy falls back from the exact p-value to the asymptotic one, and says so
        warnings.simplefilter("ignore", RuntimeWarning)
        tests = ks_2samp(reference, current, axis=0)
    adjusted = benjamini_hochberg(tests.pvalue)
    drifted = adjusted < alpha
    worst = np.lexsort((np.arange(len(adjusted)), -tests.statistic))[:5]
    return dict(drifted_dimensions=int(drifted.sum()), drifted_dimensions_share=float(drifted.mean()),
                dimension_ks_top=[{"dimension": int(j), "ks": float(tests.statistic[j]),
                                   "p_value_adjusted": float(adjusted[j])} for j in worst])


def shift_figures(reference, current) -> dict:
    """Centroid distance (absolute, and as a share of the reference's RMS spread) and the KS test of norms."""
    from scipy.stats import ks_2samp

    ref_centroid, ref_norms = centroid_and_norms(reference)
    cur_centroid, cur_norms = centroid_and_norms(current)
    distance = float(np.linalg.norm(cur_centroid - ref_centroid))
    spread = rms_spread(reference, ref_centroid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        norm_test = ks_2samp(ref_norms, cur_norms)
    return dict(centroid_distance=distance, reference_spread=spread,
                centroid_distance_share=distance / spread if spread > 0 else None,
                norm_mean_reference=float(ref_norms.mean()), norm_mean_current=float(cur_norms.mean()),
                norm_ks=float(norm_test.statistic), norm_ks_p_value=float(norm_test.pvalue))


def health_changes(reference, current, seed: int) -> dict:
    """`inspect`'s health figures of each set and their change (current less reference)."""
    from ..inspection import inspect_embeddings

    before = inspect_embeddings(reference, seed=seed)
    after = inspect_embeddings(current, seed=seed)
    out = {}
    for name in HEALTH_FIGURES:
        a, b = getattr(before, name), getattr(after, name)
        out[name] = {"reference": a, "current": b, "change": None if a is None or b is None else b - a}
    return out

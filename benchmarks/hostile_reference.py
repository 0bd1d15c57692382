"""Reference scores for hostile_review.py, independent of siamcli, and the checks that use them.

References: scipy's cdist in float64 on rows scaled by powers of two (exact) for the metrics that
do not change under scaling (cosine and its kin, correlation, braycurtis, canberra, jensenshannon,
hamming, jaccard, mahalanobis), and brute force in longdouble (x87 80-bit: range 1e+-4932, so no
square of a float64 overflows) for dot and the norm distances. Each reference comes with a scale
S per pair: a score is right when |got - ref| <= rtol * S + tiny, with rtol 1e-9 for float64
computations and 1e-5 for float32 (README's precision statement, made relative so it holds at
every magnitude), tiny twice the smallest subnormal of the computation's type (underflow).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.distance import cdist

LD = np.longdouble
RTOL = {"f64": 1e-9, "f32": 1e-5}
TINY = {"f64": 2 * 5e-324, "f32": 2 * 1.4e-45}
F64_MAX = float(np.finfo(np.float64).max)
F32_MAX = float(np.finfo(np.float32).max)
SIMILARITIES = {"cosine", "dot"}
SCALE_FREE = {"cosine", "cosine_distance", "angular", "correlation", "jensenshannon"}  # per row
COMMON_SCALE = {"braycurtis", "canberra"}  # under one scale for both rows


def row_scaled(x: np.ndarray) -> np.ndarray:
    """Each row times a power of two that brings its largest |value| into [0.5, 1): exact."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    top = np.max(np.abs(x), axis=1, keepdims=True)
    exp = np.frexp(top)[1]
    exp[top == 0] = 0
    return np.ldexp(x, -exp)


def _common_scaled(a, b):
    top = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))), 1e-320)
    exp = np.frexp(top)[1]
    return np.ldexp(a, -exp), np.ldexp(b, -exp)


def _norm(x: np.ndarray, p=2.0) -> np.ndarray:
    x = np.abs(x.astype(LD))
    if p == np.inf:
        return x.max(axis=1)
    return (x**p).sum(axis=1) ** (LD(1) / LD(p))


def reference(metric: str, a, b, p: float = 2.0, vi=None) -> tuple[np.ndarray, np.ndarray]:
    """(values, scales) for every pair of rows of a and b, in longdouble."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(b, dtype=np.float64))
    ones = np.ones((a.shape[0], b.shape[0]), dtype=LD)
    if metric in SCALE_FREE:
        return _scale_free(metric, a, b), ones
    if metric in COMMON_SCALE:
        sa, sb = _common_scaled(a, b)
        return cdist(sa, sb, metric).astype(LD), ones * (a.shape[1] if metric == "canberra" else 1)
    if metric in ("hamming", "jaccard"):
        return cdist(a, b, metric).astype(LD), ones
    if metric == "mahalanobis":
        values = cdist(a, b, "mahalanobis", VI=vi).astype(LD)
        return values, values + 1
    return _brute(metric, a, b, p)


def _scale_free(metric, a, b) -> np.ndarray:
    sa, sb = row_scaled(a), row_scaled(b)
    with np.errstate(all="ignore"):
        if metric == "correlation":
            return cdist(sa, sb, "correlation").astype(LD)
        if metric == "jensenshannon":
            return cdist(sa, sb, "jensenshannon").astype(LD)
        distance = cdist(sa, sb, "cosine")
        if metric == "cosine":
            return (1 - distance).astype(LD)
        if metric == "cosine_distance":
            return distance.astype(LD)
        ua = sa / np.linalg.norm(sa, axis=1, keepdims=True)
        ub = sb / np.linalg.norm(sb, axis=1, keepdims=True)
        # the angle from |ua - ub| and |ua + ub|: well conditioned near 0 and pi, unlike arccos
        return (2 * np.arctan2(cdist(ua, ub), cdist(ua, -ub)) / np.pi).astype(LD)


def _brute(metric, a, b, p) -> tuple[np.ndarray, np.ndarray]:
    la, lb = a.astype(LD), b.astype(LD)
    if metric == "dot":
        values = np.einsum("id,jd->ij", la, lb)
        return values, np.outer(_norm(a), _norm(b))
    diff = np.abs(la[:, None, :] - lb[None, :, :])
    if metric in ("euclidean", "sqeuclidean"):
        sq = (diff * diff).sum(axis=2)
        scale = _norm(a)[:, None] + _norm(b)[None, :]
        return (sq, scale * scale) if metric == "sqeuclidean" else (np.sqrt(sq), scale)
    if metric == "manhattan":
        return diff.sum(axis=2), _norm(a, 1)[:, None] + _norm(b, 1)[None, :]
    if metric == "chebyshev":
        return diff.max(axis=2), _norm(a, np.inf)[:, None] + _norm(b, np.inf)[None, :]
    if metric == "minkowski":
        return (diff**LD(p)).sum(axis=2) ** (LD(1) / LD(p)), _norm(a, p)[:, None] + _norm(b, p)[None, :]
    raise ValueError(f"no reference for {metric}")


def paired(metric: str, a, b, **kw) -> tuple[np.ndarray, np.ndarray]:
    """Reference of row i with row i."""
    values, scales = [], []
    for i in range(np.atleast_2d(a).shape[0]):
        v, s = reference(metric, np.atleast_2d(a)[i : i + 1], np.atleast_2d(b)[i : i + 1], **kw)
        values.append(v[0, 0])
        scales.append(s[0, 0])
    return np.array(values, dtype=LD), np.array(scales, dtype=LD)


def representable(ref: np.ndarray, precision: str) -> str:
    """'ok' when every finite reference fits a float64, 'error' when one overflows it,
    'either' when one only overflows float32 and the computation is float32."""
    top = float(np.nanmax(np.abs(ref))) if np.any(np.isfinite(ref)) else 0.0
    if top > F64_MAX:
        return "error"
    if precision == "f32" and top > F32_MAX:
        return "either"
    return "ok"


# ---------------------------------------------------------------- checks (each returns problem texts)

def _fmt(x) -> str:
    return f"{float(x):.10g}" if np.isfinite(float(x)) else ("null" if x is None or math.isnan(float(x)) else str(float(x)))


def check_values(got, ref, scale, precision: str, what="scores") -> list[str]:
    """Nulls where the reference is finite, and values beyond the tolerance."""
    got = np.asarray(got, dtype=LD).ravel()
    ref = np.asarray(ref, dtype=LD).ravel()
    scale = np.asarray(scale, dtype=LD).ravel()
    if got.shape != ref.shape:
        return [f"{what}: {got.size} values, expected {ref.size}"]
    problems = []
    finite = np.isfinite(ref)
    null = finite & ~np.isfinite(got)
    if null.any():
        problems.append(f"{what}: {int(null.sum())} of {ref.size} null or non-finite for a finite input")
    tol = RTOL[precision] * np.where(np.isfinite(scale), scale, 0) + TINY[precision]
    err = np.abs(got - ref)
    wrong = finite & np.isfinite(got) & (err > tol)
    if wrong.any():
        worst = int(np.argmax(np.where(wrong, err / np.maximum(tol, 1e-4930), 0)))
        problems.append(f"{what}: {int(wrong.sum())} of {ref.size} wrong (worst: got {_fmt(got[worst])}, "
                        f"expected {_fmt(ref[worst])}, error {float(err[worst]):.2g} > tolerance {float(tol[worst]):.2g})")
    return problems


def check_ranking(rows: dict, ref, scale, k: int, higher: bool, precision: str, exclude_self=False) -> list[str]:
    """rows: a row of A -> [(b index, score)] in rank order. Each row holds min(k, candidates) pairs,
    its scores are right, and no pair left out is better (beyond the tolerance) than one kept:
    a brute-force argsort, tolerant of ties."""
    n, m = ref.shape
    problems, missing, wrong_set, order = [], 0, 0, 0
    got_scores, ref_scores, scales = [], [], []
    tol_all = RTOL[precision] * np.where(np.isfinite(scale), scale, 0) + TINY[precision]
    sign = 1 if higher else -1
    for i in range(n):
        cand = [j for j in range(m) if not (exclude_self and j == i)]
        want = min(k, len(cand))
        kept = rows.get(i, [])
        missing += max(0, want - len(kept))
        for j, s in kept:
            if 0 <= j < m:
                got_scores.append(s)
                ref_scores.append(ref[i, j])
                scales.append(scale[i, j])
        kept_j = {j for j, _ in kept}
        left = [j for j in cand if j not in kept_j]
        if kept and left:
            worst_kept = min(sign * ref[i, j] for j in kept_j if 0 <= j < m)
            best_left = max(sign * ref[i, j] for j in left)
            slack = max(tol_all[i, j] for j in cand)
            if np.isfinite(best_left) and (not np.isfinite(worst_kept) or best_left > worst_kept + 2 * slack):
                wrong_set += 1
        keys = [sign * ref[i, j] for j, _ in kept if 0 <= j < m]
        if any(keys[t + 1] > keys[t] + 2 * tol_all[i].max() for t in range(len(keys) - 1)):
            order += 1
    if missing:
        problems.append(f"ranking: {missing} records missing")
    if wrong_set:
        problems.append(f"ranking: {wrong_set} rows keep a worse pair than one left out")
    if order:
        problems.append(f"ranking: {order} rows out of order")
    return problems + check_values(got_scores, ref_scores, scales, precision)


def auc_reference(scores: np.ndarray, labels: np.ndarray, tol: float) -> tuple[float, float]:
    """AUC over positive x negative pairs, ties half (Mann-Whitney, by sorting); and the share of
    pairs whose order is within the tolerance (the room a right answer has)."""
    pos, neg = np.sort(scores[labels]), np.sort(scores[~labels])
    below = np.searchsorted(neg, pos, "left")
    ties = np.searchsorted(neg, pos, "right") - below
    auc = float((below.sum() + 0.5 * ties.sum()) / (pos.size * neg.size))
    near = np.searchsorted(neg, pos + 2 * tol, "right") - np.searchsorted(neg, pos - 2 * tol, "left")
    return auc, float(near.sum() / (pos.size * neg.size))

"""Global agreement of two spaces of the same items: linear CKA (Kornblith et al. 2019, and its
debiased form), the relative residual after orthogonal Procrustes alignment, and the Spearman
correlation of pairwise similarities on sampled pairs (representational similarity analysis).

CKA and Procrustes read the rows in chunks into d x d products (the feature-space form); when
n x n products are smaller (few items of many dimensions), the kernel form instead. Neither
forms both. Values are centred and scaled by powers of two, which CKA and the relative
residual do not depend on, so finite inputs of any magnitude give finite figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ...engine import Comparison, pair_scores
from ...errors import InputError, UsageError, mention


@dataclass
class Products:
    """The sums CKA needs, of centred rows x_i (of A) and y_i (of B) scaled by powers of two:
    ||X'Y||_F^2, ||X'X||_F^2, ||Y'Y||_F^2, sum |x_i|^2 |y_i|^2 and the like; and, when the dimensions
    match, the Procrustes residuals (relative: they do not depend on the scales)."""

    n: int
    xy: float
    xx: float
    yy: float
    rx_ry: float
    rx_rx: float
    ry_ry: float
    sx: float  # ||X||_F^2
    sy: float
    residual: float | None = None  # min over orthogonal R of ||AR - B||_F / ||B||_F
    scaled_residual: float | None = None  # min over R and a scale s of ||sAR - B||_F / ||B||_F


def _chunks(x: np.ndarray, rows: int) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, x.shape[0], rows):
        yield start, np.asarray(x[start : start + rows])


def _centring(x: np.ndarray, rows: int, source: str) -> tuple[np.ndarray, int, int]:
    """(column means of x * 2^-e0, e0, e1): x * 2^-e0 - mean has no value above 1 in magnitude
    after a further 2^-e1, and none overflows on the way."""
    lo = np.full(x.shape[1], np.inf)
    hi = np.full(x.shape[1], -np.inf)
    for _, chunk in _chunks(x, rows):
        lo = np.minimum(lo, chunk.min(axis=0))
        hi = np.maximum(hi, chunk.max(axis=0))
    e0 = math.frexp(float(max(np.abs(lo).max(), np.abs(hi).max())))[1]
    total = np.zeros(x.shape[1])
    for _, chunk in _chunks(x, rows):
        total += np.ldexp(chunk.astype(np.float64), -e0).sum(axis=0)
    mean = total / x.shape[0]
    spread = float(max((np.ldexp(hi, -e0) - mean).max(), (mean - np.ldexp(lo, -e0)).max()))
    if not spread > 0:
        raise InputError(f"{source}: every row is the same vector; its space has no shape to compare")
    return mean, e0, math.frexp(spread)[1]


def _centred(chunk: np.ndarray, centring) -> np.ndarray:
    mean, e0, e1 = centring
    return np.ldexp(np.ldexp(chunk.astype(np.float64), -e0) - mean, -e1)


def _budget(n: int, p: int, q: int, memory: int) -> tuple[str, int]:
    """('feature' or 'kernel', its bytes): the form whose products are smaller, if it fits within `memory`."""
    feature, kernel = 8 * (p * p + q * q + p * q), 8 * (2 * n * n + n * (p + q))
    form, need = ("feature", feature) if feature <= kernel else ("kernel", kernel)
    if need > memory:
        raise UsageError(f"CKA of {n:,} items of {p:,} and {q:,} dimensions needs {need / 2**20:,.0f} MiB of "
                         f"products, more than {mention('memory')} ({memory / 2**20:,.0f} MiB) allows")
    return form, need


def products(a: np.ndarray, b: np.ndarray, memory: int, sources: tuple[str, str]) -> Products:
    """The sums of centred A and B (rows matched), read in row chunks within `memory`, and the
    Procrustes residuals when the dimensions match (one more pass, for the rotated rows)."""
    n, p, q = a.shape[0], a.shape[1], b.shape[1]
    form, need = _budget(n, p, q, memory)
    rows = max(1, min(n, (memory - need) // (8 * 4 * (p + q))))  # a chunk, its float64 and centred copies
    ca, cb = _centring(a, rows, sources[0]), _centring(b, rows, sources[1])
    shift = ca[1] + ca[2] - cb[1] - cb[2]  # A's rows in B's units: x * 2^shift
    if form == "kernel":
        x, y = _centred(np.asarray(a), ca), _centred(np.asarray(b), cb)
        sums = Products(n, *_kernel_sums(x, y))
        if p == q:
            rotated, nuclear = _kernel_rotated(x, y)
            sums.residual, sums.scaled_residual = _residuals([(rotated, y)], shift, nuclear / sums.sx)
        return sums
    sums, cross = _feature_sums(a, b, ca, cb, rows)
    if p == q:
        u, singular, vt = np.linalg.svd(cross)
        turn = u @ vt  # the orthogonal R minimising ||XR - Y|| (Schoenemann 1966)
        pairs = ((_centred(chunk, ca) @ turn, _centred(np.asarray(b[i : i + len(chunk)]), cb))
                 for i, chunk in _chunks(a, rows))
        sums.residual, sums.scaled_residual = _residuals(pairs, shift, float(singular.sum()) / sums.sx)
    return sums


def _feature_sums(a, b, ca, cb, rows: int) -> tuple[Products, np.ndarray]:
    """The sums from d x d products accumulated over row chunks, and X'Y."""
    n, p, q = a.shape[0], a.shape[1], b.shape[1]
    gx, gy, c = np.zeros((p, p)), np.zeros((q, q)), np.zeros((p, q))
    rx, ry = np.empty(n), np.empty(n)
    for start, chunk in _chunks(a, rows):
        x = _centred(chunk, ca)
        y = _centred(np.asarray(b[start : start + len(chunk)]), cb)
        gx += x.T @ x
        gy += y.T @ y
        c += x.T @ y
        rx[start : start + len(x)] = np.einsum("ij,ij->i", x, x)
        ry[start : start + len(y)] = np.einsum("ij,ij->i", y, y)
    sums = Products(n, float(np.vdot(c, c)), float(np.vdot(gx, gx)), float(np.vdot(gy, gy)), float(rx @ ry),
                    float(rx @ rx), float(ry @ ry), float(rx.sum()), float(ry.sum()))
    return sums, c


def _kernel_sums(x: np.ndarray, y: np.ndarray) -> tuple:
    """The same sums from the n x n Gram matrices (few items of many dimensions)."""
    k, l = x @ x.T, y @ y.T
    rx, ry = np.diag(k).copy(), np.diag(l).copy()
    return (float(np.vdot(k, l)), float(np.vdot(k, k)), float(np.vdot(l, l)), float(rx @ ry), float(rx @ rx),
            float(ry @ ry), float(rx.sum()), float(ry.sum()))


def _kernel_rotated(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """(X R, ||X'Y||_*) for the best orthogonal R, without a d x d matrix (the kernel form has n < d
    when the dimensions match): with X' = QT (Q's n columns orthonormal) and TY = U S V', X'Y = (QU) S V',
    so R takes QU to V and XR = T'UV'."""
    t = np.linalg.qr(x.T, mode="r")
    u, singular, vt = np.linalg.svd(t @ y, full_matrices=False)
    return t.T @ u @ vt, float(singular.sum())


def _residuals(pairs, shift: int, scale: float) -> tuple[float, float]:
    """(||X R 2^shift - Y|| / ||Y||, ||s X R - Y|| / ||Y|| with the best scale s) from (XR, Y) row chunks."""
    off = fit = norm = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for rotated, y in pairs:
            off += float(np.sum(np.square(np.ldexp(rotated, shift) - y)))
            fit += float(np.sum(np.square(scale * rotated - y)))
            norm += float(np.sum(np.square(y)))
    if not math.isfinite(off):
        raise InputError("A's values are beyond 1e150 times B's: the Procrustes residual overflows")
    return math.sqrt(off / norm), math.sqrt(fit / norm)


def _unbiased(product: float, rows: float, s1: float, s2: float, n: int) -> float:
    """n(n-3) x the unbiased HSIC estimator (Song et al. 2012) of two linear kernels of centred rows:
    tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1, K~ the Gram matrix with its diagonal zeroed."""
    return product - n / (n - 2.0) * rows + s1 * s2 / ((n - 1.0) * (n - 2.0))


def cka(s: Products, debiased: bool = False) -> tuple[float | None, str | None]:
    """(linear CKA, or None and why): ||Y'X||_F^2 / (||X'X||_F ||Y'Y||_F) of centred X and Y; debiased:
    the same ratio of unbiased HSIC estimates (Nguyen et al. 2021)."""
    if not debiased:
        return s.xy / math.sqrt(s.xx) / math.sqrt(s.yy), None
    xx = _unbiased(s.xx, s.rx_rx, s.sx, s.sx, s.n)
    yy = _unbiased(s.yy, s.ry_ry, s.sy, s.sy, s.n)
    if not (xx > 0 and yy > 0):
        return None, ("debiased CKA is undefined here: the unbiased HSIC estimate of a space with itself is not "
                      "positive (too few items)")
    return _unbiased(s.xy, s.rx_ry, s.sx, s.sy, s.n) / math.sqrt(xx) / math.sqrt(yy), None


# ---------------------------------------------------------------- similarity of pairwise similarities


def sample_pairs(n: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """(i, j, sampled): every pair i < j when there are at most `count`, else `count` pairs drawn
    uniformly (with replacement) among the pairs of two different items, from `seed`."""
    if n * (n - 1) // 2 <= count:
        i, j = np.triu_indices(n, 1)
        return i.astype(np.int64), j.astype(np.int64), False
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, size=count)
    j = rng.integers(0, n - 1, size=count)
    j += j >= i  # a different item, uniformly
    return i, j, True


def _ranks(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(values)  # ties get their average rank, as Spearman's rho takes them


def spearman(comps: tuple[Comparison, Comparison], count: int, seed: int) -> tuple[float | None, int, bool, str | None]:
    """(Spearman's rho between the closeness of the same pairs in A and in B, pairs used, sampled,
    why rho is None). Closeness is the metric's ranking key (a distance, or minus a similarity), so
    two metrics of opposite directions still correlate positively when they agree. Pairs with an
    undefined score (NaN, under the zero-vector policy) in either space are left out."""
    i, j, sampled = sample_pairs(len(comps[0].a), count, seed)
    scores = [pair_scores(comp, i, j) for comp in comps]
    keep = np.isfinite(scores[0]) & np.isfinite(scores[1])
    keys = [comp.keys(s[keep]) for comp, s in zip(comps, scores)]
    used = int(keep.sum())
    if used < 2:
        return None, used, sampled, "fewer than 2 pairs have a score in both spaces"
    ranks = [_ranks(k) - (used + 1) / 2.0 for k in keys]
    norms = [math.sqrt(float(r @ r)) for r in ranks]
    for space, norm in zip("AB", norms):
        if norm == 0:
            return None, used, sampled, f"every pair is equally close in {space}: the correlation is undefined"
    return float(ranks[0] @ ranks[1]) / norms[0] / norms[1], used, sampled, None

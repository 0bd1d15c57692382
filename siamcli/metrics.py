"""The metric registry: one `Metric` record per metric, every lookup derived from one list.

A metric supplies a matrix kernel `(n,d),(m,d) -> (n,m)`, a paired kernel `(n,d),(n,d) -> (n,)`,
and a slow, obviously correct per-pair `reference` that the tests hold the kernels to.
Third-party packages add metrics through the entry-point group ``siamcli.metrics``; each entry
point names a `Metric` (or a list of them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Sequence

import numpy as np

from .errors import UnknownMetricError, UsageError, did_you_mean

ENTRY_POINT_GROUP = "siamcli.metrics"

#: Pairs whose matrix-product result lies this close to cancelling are recomputed exactly from
#: differences in float64 (relative to |a|^2 + |b|^2 for euclidean, to 1 for cosine).
#: Derived from the float32 GEMM error ~ sqrt(dim) * 6e-8: keeps float32 errors below 1e-5.
NEAR_TOLERANCE = {np.dtype(np.float32): 0.05, np.dtype(np.float64): 1e-3}
#: Pairs recomputed exactly per chunk, bounding the memory of the exact path.
EXACT_CHUNK_VALUES = 2**21


@dataclass(frozen=True, eq=False)  # arrays and functions: records compare by identity
class Params:
    """Parameters of a metric: user options and what `prepare` derived from the data."""

    p: float | None = None  # minkowski exponent
    whitener: np.ndarray | None = None  # mahalanobis: distances are euclidean after x -> (x - center) @ whitener
    center: np.ndarray | None = None  # subtracting the mean first keeps x @ whitener free of cancellation
    notes: tuple[str, ...] = ()  # what preparation decided, for the user (printed on stderr)


@dataclass(frozen=True, eq=False)
class Screen:
    """A matrix product that orders pairs as a metric does, for rankings: most pairs are dismissed
    by comparing their product value with a bound, and the few candidates left are scored
    exactly by the metric's paired kernel. `slack` bounds the rounding error of the product, so
    no pair that could rank is dismissed.

    left(a_rows), right(b_rows): the product's operands (values = left @ right.T);
    value(scores): the product value a score corresponds to (monotone); higher: larger values
    are closer; slack(left, right): per row of left, an absolute error bound of its values.
    """

    left: Callable[[np.ndarray], np.ndarray]
    right: Callable[[np.ndarray], np.ndarray]
    value: Callable[[np.ndarray], np.ndarray]
    higher: bool
    slack: Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True, eq=False)
class Metric:
    """One metric. `kind` fixes the ranking direction: similarities rank high first."""

    name: str
    kind: str  # "distance" or "similarity"
    matrix: Callable[[np.ndarray, np.ndarray, Params], np.ndarray]
    paired: Callable[[np.ndarray, np.ndarray, Params], np.ndarray]
    reference: Callable[[Sequence[float], Sequence[float], Params], float]
    summary: str
    aliases: tuple[str, ...] = ()
    #: Rows for which the metric is undefined (zero vectors for cosine); None: defined everywhere.
    undefined_rows: Callable[[np.ndarray], np.ndarray] | None = None
    #: The score a pair with an undefined row gets under `--zero-vector zero`.
    neutral_score: float | None = None
    #: "real"; "nonnegative" when inputs must be >= 0 (probability-like vectors); "discrete" when
    #: the metric is meant for binary or categorical vectors (it accepts any, but means little on floats).
    domain: str = "real"
    #: Another metric that orders every set of pairs exactly as this one does (a monotone function
    #: of it: 1 - cosine, |a-b|^2), so `evaluate --metric all` reports that one only.
    same_order_as: str | None = None
    #: A matrix-product screen for rankings (see Screen); None: rankings screen computed scores.
    screen: Screen | None = None
    #: Fits data-dependent parameters (mahalanobis: the covariance) from the compared data.
    prepare: Callable[[Callable[[], Iterable[np.ndarray]], int, Params], Params] | None = None
    #: Computes in float32 for float32 inputs (BLAS kernels); others compute in float64.
    keeps_float32: bool = False
    #: `matrix(a, b, params, out=block)` writes into a given array (saves a copy of every block).
    writes_into: bool = False

    def __post_init__(self):
        if self.kind not in ("distance", "similarity"):
            raise ValueError(f"metric {self.name}: kind must be 'distance' or 'similarity'")

    @property
    def higher_is_better(self) -> bool:
        return self.kind == "similarity"


# ---------------------------------------------------------------- shared helpers


def _row_sqnorms(x: np.ndarray) -> np.ndarray:
    """Squared euclidean norm of each row, accumulated in float64 (without copying x)."""
    return np.einsum("ij,ij->i", x, x, dtype=np.float64)


def _row_norms(x: np.ndarray) -> np.ndarray:
    return np.sqrt(_row_sqnorms(x))


def _exact_pairs(a, b, rows, cols, fn, width: int = 0) -> np.ndarray:
    """fn(a_rows, b_rows) in float64 for the listed pairs, in chunks so memory stays bounded;
    fn gives one value per pair, or `width` values (then the result has that many columns)."""
    out = np.empty((len(rows), width) if width else len(rows), dtype=np.float64)
    step = max(1, EXACT_CHUNK_VALUES // max(1, a.shape[1]))
    for s in range(0, len(rows), step):
        u = a[rows[s : s + step]].astype(np.float64)
        v = b[cols[s : s + step]].astype(np.float64)
        out[s : s + step] = fn(u, v)
    return out


#: Post-processing of a product tile walks row chunks of about this size, which stay in cache.
_CHUNK_BYTES = 2**20


def _product(left: np.ndarray, right: np.ndarray, out, post, scratch: bool = False) -> np.ndarray:
    """left @ right.T (into `out` if given) in fixed tiles over the threads (kernels.tiled_product),
    then post(r0, c0, chunk, dest) on every cache-sized row chunk of each tile, by the same thread
    (dest: the chunk's place in `out`, which post must write when `scratch`; else the chunk itself)."""
    from . import kernels

    def each_chunk(r0, c0, tile, dest):
        step = max(1, _CHUNK_BYTES // max(1, tile.shape[1] * tile.itemsize))
        for s0 in range(0, tile.shape[0], step):
            post(r0 + s0, c0, tile[s0 : s0 + step], dest[s0 : s0 + step])

    return kernels.tiled_product(left, right, out, None if post is None else each_chunk, scratch)


def _unit_parts(u, v):
    """|u/|u| - v/|v||^2 and |u/|u| + v/|v||^2, exact in float64, for paired rows u, v."""
    u = u / np.sqrt(np.einsum("ij,ij->i", u, u))[:, None]
    v = v / np.sqrt(np.einsum("ij,ij->i", v, v))[:, None]
    diff, total = u - v, u + v
    return np.stack([np.einsum("ij,ij->i", diff, diff), np.einsum("ij,ij->i", total, total)], axis=1)


def _exact_cosine_parts(a, b, rows, cols) -> tuple[np.ndarray, np.ndarray]:
    parts = _exact_pairs(a, b, rows, cols, _unit_parts, width=2)
    return parts[:, 0], parts[:, 1]


def _normalised(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return x / _row_norms(x).astype(x.dtype)[:, None]  # division, not a reciprocal: exact for 3/5


#: What a chunk with no near pair gives the finishing step.
_NO_PAIRS = np.empty(0, np.intp)
_NO_VALUES = np.empty(0)


def _near_cosines(chunk: np.ndarray, high: float) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the chunk's values with |cos| > high. Most chunks hold none, which one test of
    the whole chunk's extremes shows (NaN fails it and takes the row-by-row search, which skips NaN)."""
    if chunk.max(initial=-np.inf) <= high and chunk.min(initial=np.inf) >= -high:
        return _NO_PAIRS, _NO_PAIRS
    width = chunk.shape[1]
    with np.errstate(invalid="ignore"):
        flagged = np.flatnonzero((np.fmax.reduce(chunk, axis=1) > high) | (np.fmin.reduce(chunk, axis=1) < -high))
        if len(flagged) == chunk.shape[0]:
            flat = np.flatnonzero(np.abs(chunk) > high)
            return flat // width, flat % width
        flat = np.flatnonzero(np.abs(chunk[flagged]) > high)
    return flagged[flat // width], flat % width


def _cosine_kernel(a, b, paired: bool, out, finish):
    """Cosines, with near-parallel pairs (|cos| within NEAR_TOLERANCE of 1) recomputed exactly.

    `finish(values, rows, cols, diff_sq, sum_sq)` turns cosines into the metric in place, given
    the near pairs and their exact |u-v|^2 and |u+v|^2 of unit vectors. For a matrix it runs on
    each cache-sized row chunk right after that chunk's near pairs are found, so the whole work
    after the matrix product is one pass over memory. Only near pairs can fall outside [-1, 1].
    """
    from . import kernels

    high = 1.0 - NEAR_TOLERANCE[np.dtype(a.dtype)]
    if paired:  # no normalised copies: one dot product and two norms per row
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            cos = np.einsum("ij,ij->i", a, b)
            cos /= np.sqrt(np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", b, b))
            rows = np.flatnonzero(np.abs(cos) > high)
        finish(cos, rows, None, *_exact_cosine_parts(a, b, rows, rows))
        return cos
    an, bn = kernels.operands(_normalised, a, _normalised, b)

    def near_then_finish(r0, c0, chunk, _dest):
        rows, cols = _near_cosines(chunk, high)
        parts = _exact_cosine_parts(a, b, rows + r0, cols + c0) if len(rows) else (_NO_VALUES, _NO_VALUES)
        finish(chunk, rows, cols, *parts)

    return _product(an, bn, out, near_then_finish)


def _at(rows, cols):
    return rows if cols is None else (rows, cols)


def _finish_cosine(values, rows, cols, diff_sq, sum_sq):
    if not len(rows):
        return
    where = _at(rows, cols)
    positive = values[where] > 0
    values[where] = np.clip(np.where(positive, 1.0 - diff_sq / 2.0, sum_sq / 2.0 - 1.0), -1.0, 1.0)


def _finish_cosine_distance(values, rows, cols, diff_sq, sum_sq):
    where = _at(rows, cols)
    positive = values[where] > 0
    np.subtract(1.0, values, out=values)
    if len(rows):
        values[where] = np.clip(np.where(positive, diff_sq / 2.0, 2.0 - sum_sq / 2.0), 0.0, 2.0)


def _finish_angular(values, rows, cols, diff_sq, sum_sq):
    where = _at(rows, cols)
    values[where] = 0.0  # in range for arccos; replaced exactly below
    np.arccos(values, out=values)
    values[where] = 2.0 * np.arctan2(np.sqrt(diff_sq), np.sqrt(sum_sq))
    values /= np.pi


def _cosine(a, b, params, paired=False, out=None):
    return _cosine_kernel(a, b, paired, out, _finish_cosine)


def _cosine_distance(a, b, params, paired=False, out=None):
    return _cosine_kernel(a, b, paired, out, _finish_cosine_distance)


def _angular(a, b, params, paired=False, out=None):
    return _cosine_kernel(a, b, paired, out, _finish_angular)


def _center(x):
    x64 = x.astype(np.float64, copy=False)
    return (x64 - x64.mean(axis=1, keepdims=True)).astype(x.dtype if x.dtype == np.float32 else np.float64)


def _correlation(a, b, params, paired=False, out=None):
    return _cosine_distance(_center(a), _center(b), params, paired, out)


def _dot(a, b, params, paired=False, out=None):
    return np.einsum("ij,ij->i", a, b) if paired else _product(a, b, out, None)


def _squared_difference(u, v):
    return np.einsum("ij,ij->i", u - v, u - v)


def _sqeuclidean(a, b, params, paired=False, out=None, finish=None, exact=None):
    """|a - b|^2 from one matrix product, near pairs recomputed by `exact(a_rows, b_rows)` from
    row indices (default: from the differences of a and b), then `finish(values, out)` chunk by
    chunk, which writes every value into `out`: the product then goes to a buffer in cache, and
    the finished values to the output, once (kernels.tiled_product's scratch)."""
    if paired:  # in the input type: float32 sums of squares are good to ~1e-7 relative
        diff = a - b
        result = np.einsum("ij,ij->i", diff, diff)
        return finish(result, result) if finish is not None else result
    dtype = a.dtype
    from . import kernels

    left, right = kernels.operands(_augmented_left, a, _augmented_right, b)
    na, nb = left[:, -2].astype(np.float64), right[:, -1].astype(np.float64)
    # Where the product cancels (and only there can it go negative), recompute from differences;
    # then `finish` (the square root) on the same chunk while it is in cache.
    tol = NEAR_TOLERANCE[np.dtype(dtype)]

    def near_then_finish(r0, c0, chunk, dest):
        width = chunk.shape[1]
        na_rows, nb_cols = na[r0 : r0 + chunk.shape[0]], nb[c0 : c0 + width]
        with np.errstate(invalid="ignore"):
            # finite inputs give finite scores here (NaN policies apply later): plain minimum is faster.
            # Row by row: with norms that vary, one test of the whole chunk against its largest
            # norms fails in most chunks (71 of 80 in the benchmark's data) and costs a pass.
            flagged = np.flatnonzero(np.minimum.reduce(chunk, axis=1) <= tol * (na_rows + nb_cols.max(initial=0.0)))
        if len(flagged):
            sub = chunk[flagged]
            flat = np.flatnonzero(sub <= tol * (na_rows[flagged][:, None] + nb_cols[None, :]))
            rows, cols = flagged[flat // width], flat % width
            chunk[rows, cols] = (_exact_pairs(a, b, rows + r0, cols + c0, _squared_difference) if exact is None
                                 else exact(rows + r0, cols + c0))
        if finish is not None:
            finish(chunk, dest)

    return _product(left, right, out, near_then_finish, scratch=finish is not None)


def _sqrt_into(x, out):
    return np.sqrt(x, out=out)


def _euclidean(a, b, params, paired=False, out=None):
    return _sqeuclidean(a, b, params, paired, out, finish=_sqrt_into)


def _mahalanobis(a, b, params, paired=False, out=None):
    """|(a - b) W| with W the whitener. The matrix product runs on whitened rows; near pairs (and
    paired rows) are whitened as differences, (a - b) W: whitening each row first would cancel
    digits the whitener's large entries then blow up."""
    from . import kernels

    w, c = params.whitener, params.center
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    whiten = lambda x: kernels.tiled_product(x, w.T)  # noqa: E731  (x @ w, the same for any thread count)

    def whitened_difference(u, v):
        diff = whiten(u - v)
        return np.einsum("ij,ij->i", diff, diff)

    if paired:
        return np.sqrt(whitened_difference(a64, b64))
    exact = lambda rows, cols: _exact_pairs(a64, b64, rows, cols, whitened_difference)  # noqa: E731
    return _sqeuclidean(whiten(a64 - c), whiten(b64 - c), params, paired, out, finish=_sqrt_into, exact=exact)


def _scipy_matrix(name: str, compiled: str | None = None, **fixed):
    """A matrix kernel from scipy's cdist (row chunks in threads, each written into the output),
    or a compiled one when it pays."""

    def matrix(a, b, params, out=None):
        from scipy.spatial.distance import cdist

        from . import kernels

        if compiled is not None:
            fast = kernels.compiled_matrix(compiled, a, b, out)
            if fast is not None:
                return fast
        kwargs = dict(fixed)
        if name == "minkowski":
            kwargs["p"] = params.p
        a64, b64 = a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)
        if out is None:
            out = np.empty((a.shape[0], b.shape[0]))

        def rows(x, y, dest):
            if dest.dtype == np.float64 and dest.flags.c_contiguous:
                cdist(x, y, name, out=dest, **kwargs)
            else:
                dest[...] = cdist(x, y, name, **kwargs)

        with np.errstate(all="ignore"):
            return kernels.rows_into(rows, a64, b64, out)

    matrix.__name__ = f"cdist_{name}"
    return matrix


def _braycurtis_matrix(a, b, params, out=None):
    out = _scipy_matrix("braycurtis")(a, b, params, out)
    out[np.isnan(out)] = 0.0  # 0/0 only for two zero vectors: identical, so distance 0
    return out


def _jensenshannon_matrix(a, b, params, out=None):
    out = _scipy_matrix("jensenshannon")(a, b, params, out)
    rows, cols = np.nonzero(np.isnan(out))  # cdist can round below zero under its square root
    if len(rows):
        a64, b64 = a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)
        out[rows, cols] = _exact_pairs(a64, b64, rows, cols, lambda u, v: _paired64(_p_jensenshannon)(u, v, params))
    return out


def _paired64(fn):
    def paired(a, b, params):
        with np.errstate(all="ignore"):
            return fn(a.astype(np.float64, copy=False), b.astype(np.float64, copy=False), params)

    paired.__name__ = fn.__name__
    return paired


def _p_manhattan(a, b, params):
    return np.abs(a - b).sum(axis=1)


def _p_chebyshev(a, b, params):
    return np.abs(a - b).max(axis=1)


def _p_minkowski(a, b, params):
    p = params.p
    if math.isinf(p):
        return _p_chebyshev(a, b, params)
    return (np.abs(a - b) ** p).sum(axis=1) ** (1.0 / p)


def _p_canberra(a, b, params):
    num, den = np.abs(a - b), np.abs(a) + np.abs(b)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0).sum(axis=1)


def _p_braycurtis(a, b, params):
    num, den = np.abs(a - b).sum(axis=1), np.abs(a + b).sum(axis=1)
    return np.where(num == 0, 0.0, num / den)


def _p_hamming(a, b, params):
    return (a != b).mean(axis=1)


def _p_jaccard(a, b, params):
    a, b = a != 0, b != 0
    nonzero = a | b
    count = nonzero.sum(axis=1)
    differ = (a != b).sum(axis=1)
    return np.where(count > 0, differ / np.maximum(count, 1), 0.0)


def _p_jensenshannon(a, b, params):
    from scipy.special import rel_entr

    p = a / a.sum(axis=1, keepdims=True)
    q = b / b.sum(axis=1, keepdims=True)
    m = (p + q) / 2.0
    js = (rel_entr(p, m).sum(axis=1) + rel_entr(q, m).sum(axis=1)) / 2.0
    return np.sqrt(np.maximum(js, 0.0))


def _zero_rows(x):
    # Rows whose sum of squares is 0 (one fast pass), checked value by value: tiny values square to
    # 0 in float32 and integers can wrap around, but a zero row always sums to 0.
    zero = np.einsum("ij,ij->i", x, x) == 0
    candidates = np.flatnonzero(zero)
    if len(candidates):
        zero[candidates] = ~np.any(x[candidates] != 0, axis=1)
    return zero


def _constant_rows(x):
    return np.all(x == x[:, :1], axis=1)


def _zero_sum_rows(x):
    return x.sum(axis=1, dtype=np.float64) == 0


# ---------------------------------------------------------------- mahalanobis covariance


def _covariance(chunks: Callable[[], Iterable[np.ndarray]], dim: int):
    """Mean, unbiased covariance, Ledoit-Wolf terms and row count, in two passes over chunks."""
    n, total = 0, np.zeros(dim)
    for x in chunks():
        n += x.shape[0]
        total += x.sum(axis=0, dtype=np.float64)
    mean = total / max(n, 1)
    scatter, fourth = np.zeros((dim, dim)), 0.0
    for x in chunks():
        xc = x.astype(np.float64) - mean
        scatter += xc.T @ xc
        x2 = xc**2
        fourth += float((x2.T @ x2).sum())
    return n, mean, scatter, fourth


def _ledoit_wolf(n: int, scatter: np.ndarray, fourth: float) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf shrunk covariance (as scikit-learn's `ledoit_wolf`) and its coefficient."""
    dim = scatter.shape[0]
    emp = scatter / n
    trace = np.trace(emp)
    mu = trace / dim
    delta_ = float((emp**2).sum())
    beta = (fourth / n - delta_) / (dim * n)
    delta = (delta_ - 2.0 * mu * trace + dim * mu**2) / dim
    beta = min(beta, delta)
    shrinkage = 0.0 if beta == 0 else beta / delta
    shrunk = (1.0 - shrinkage) * emp
    shrunk.flat[:: dim + 1] += shrinkage * mu
    return shrunk, shrinkage


def whitener_from_covariance(cov: np.ndarray) -> tuple[np.ndarray, int]:
    """W with W @ W.T = pinv(cov); also how many directions were kept (rank)."""
    values, vectors = np.linalg.eigh(cov)
    cutoff = max(values.max(initial=0.0), 0.0) * cov.shape[0] * np.finfo(np.float64).eps
    keep = values > cutoff
    return vectors[:, keep] / np.sqrt(values[keep]), int(keep.sum())


def _prepare_mahalanobis(chunks, dim: int, params: Params) -> Params:
    n, mean, scatter, fourth = _covariance(chunks, dim)
    if n < 2:
        raise UsageError("mahalanobis needs at least 2 rows to estimate a covariance (or --cov-from FILE)")
    cov = scatter / (n - 1)
    values = np.linalg.eigvalsh(cov)
    well_conditioned = n > dim and values.min() > values.max() * 1e-10
    if well_conditioned:
        whitener, _ = whitener_from_covariance(cov)
        note = f"mahalanobis: inverse covariance of {n} rows in {dim} dimensions"
    else:
        shrunk, coefficient = _ledoit_wolf(n, scatter, fourth)
        whitener, rank = whitener_from_covariance(shrunk)
        reason = f"only {n} rows for {dim} dimensions" if n <= dim else "it is singular"
        if rank == dim:
            note = (f"mahalanobis: covariance cannot be inverted ({reason}); "
                    f"using Ledoit-Wolf shrinkage (coefficient {coefficient:.3g})")
        else:
            note = (f"mahalanobis: covariance cannot be inverted ({reason}) and shrinkage does not help; "
                    f"using the pseudo-inverse (rank {rank} of {dim})")
    return replace(params, whitener=whitener, center=mean, notes=params.notes + (note,))


# ---------------------------------------------------------------- slow references (per pair, pure Python)


def _ref_dot(u, v, params):
    return math.fsum(x * y for x, y in zip(u, v))


def _ref_norm(u):
    return math.sqrt(math.fsum(x * x for x in u))


def _ref_cosine(u, v, params):
    nu, nv = _ref_norm(u), _ref_norm(v)
    if nu == 0 or nv == 0:
        return math.nan
    uu, vv = [x / nu for x in u], [y / nv for y in v]
    return 1.0 - math.fsum((x - y) ** 2 for x, y in zip(uu, vv)) / 2.0


def _ref_cosine_distance(u, v, params):
    return 1.0 - _ref_cosine(u, v, params)


def _ref_angular(u, v, params):
    nu, nv = _ref_norm(u), _ref_norm(v)
    if nu == 0 or nv == 0:
        return math.nan
    uu, vv = [x / nu for x in u], [y / nv for y in v]
    diff = _ref_norm([x - y for x, y in zip(uu, vv)])
    total = _ref_norm([x + y for x, y in zip(uu, vv)])
    return 2.0 * math.atan2(diff, total) / math.pi


def _ref_sqeuclidean(u, v, params):
    return math.fsum((x - y) ** 2 for x, y in zip(u, v))


def _ref_euclidean(u, v, params):
    return math.sqrt(_ref_sqeuclidean(u, v, params))


def _ref_mahalanobis(u, v, params):
    diff = [x - y for x, y in zip(u, v)]
    w = params.whitener
    projected = [math.fsum(diff[i] * w[i][j] for i in range(len(diff))) for j in range(w.shape[1])]
    return _ref_norm(projected)


def _ref_manhattan(u, v, params):
    return math.fsum(abs(x - y) for x, y in zip(u, v))


def _ref_chebyshev(u, v, params):
    return max(abs(x - y) for x, y in zip(u, v))


def _ref_minkowski(u, v, params):
    if math.isinf(params.p):
        return _ref_chebyshev(u, v, params)
    return math.fsum(abs(x - y) ** params.p for x, y in zip(u, v)) ** (1.0 / params.p)


def _ref_correlation(u, v, params):
    mu, mv = math.fsum(u) / len(u), math.fsum(v) / len(v)
    return _ref_cosine_distance([x - mu for x in u], [y - mv for y in v], params)


def _ref_canberra(u, v, params):
    return math.fsum(abs(x - y) / (abs(x) + abs(y)) for x, y in zip(u, v) if abs(x) + abs(y) > 0)


def _ref_braycurtis(u, v, params):
    num = math.fsum(abs(x - y) for x, y in zip(u, v))
    den = math.fsum(abs(x + y) for x, y in zip(u, v))
    return 0.0 if num == 0 else (num / den if den else math.inf)  # a = -b: scipy's inf


def _ref_hamming(u, v, params):
    return sum(x != y for x, y in zip(u, v)) / len(u)


def _ref_jaccard(u, v, params):
    su = {i for i, x in enumerate(u) if x != 0}
    sv = {i for i, y in enumerate(v) if y != 0}
    return len(su ^ sv) / len(su | sv) if su | sv else 0.0


def _ref_jensenshannon(u, v, params):
    su, sv = math.fsum(u), math.fsum(v)
    if su == 0 or sv == 0:
        return math.nan
    p, q = [x / su for x in u], [y / sv for y in v]
    m = [(x + y) / 2 for x, y in zip(p, q)]
    kl = lambda a, b: math.fsum(x * math.log(x / y) for x, y in zip(a, b) if x > 0)  # noqa: E731
    return math.sqrt(max((kl(p, m) + kl(q, m)) / 2.0, 0.0))


# ---------------------------------------------------------------- the registry


def _matrix_and_paired(fn):
    return (lambda a, b, params, out=None: fn(a, b, params, out=out)), (lambda a, b, params: fn(a, b, params, paired=True))


def _rounding_bound(x: np.ndarray) -> float:
    """A generous bound, relative to the operands' magnitudes, on the rounding error of one
    product value: a dot product of d terms errs by at most about d units of roundoff."""
    return (2 * x.shape[1] + 16) * float(np.finfo(x.dtype).eps)


def _unit_slack(left, right):
    return np.full(left.shape[0], _rounding_bound(left))


def _augmented_left(a):
    """[-2a, |a|^2, 1]: with _augmented_right, one product gives |a|^2 + |b|^2 - 2ab."""
    d = a.shape[1]
    left = np.empty((a.shape[0], d + 2), a.dtype)
    np.multiply(a, -2.0, out=left[:, :d])
    left[:, d] = _row_sqnorms(a)
    left[:, d + 1] = 1.0
    return left


def _augmented_right(b):
    d = b.shape[1]
    right = np.empty((b.shape[0], d + 2), b.dtype)
    right[:, :d] = b
    right[:, d] = 1.0
    right[:, d + 1] = _row_sqnorms(b)
    return right


def _squared_slack(left, right):
    # |a|^2 + |b|^2 bounds every term's magnitude (2|a||b| <= |a|^2 + |b|^2)
    return 2.0 * _rounding_bound(left) * (left[:, -2].astype(np.float64) + float(right[:, -1].max(initial=0.0)))


def _dot_slack(left, right):
    return _rounding_bound(left) * _row_norms(left) * float(np.sqrt(_row_sqnorms(right).max(initial=0.0)))


def _cosine_screen(value) -> Screen:
    return Screen(_normalised, _normalised, value, True, _unit_slack)


def _squared_screen(value) -> Screen:
    return Screen(_augmented_left, _augmented_right, value, False, _squared_slack)


def _blas(name, kind, fn, ref, summary, **kw) -> Metric:
    matrix, paired = _matrix_and_paired(fn)
    return Metric(name, kind, matrix, paired, ref, summary, keeps_float32=True, writes_into=True, **kw)


_cosine_like = dict(undefined_rows=_zero_rows)

BUILTIN_METRICS: list[Metric] = [
    _blas("cosine", "similarity", _cosine, _ref_cosine,
          "cosine similarity a.b / (|a| |b|), in [-1, 1]", aliases=("cos", "cosine_similarity"),
          neutral_score=0.0, screen=_cosine_screen(lambda s: s), **_cosine_like),
    _blas("cosine_distance", "distance", _cosine_distance, _ref_cosine_distance,
          "1 - cosine similarity, in [0, 2] (scipy's 'cosine')", neutral_score=1.0, same_order_as="cosine",
          screen=_cosine_screen(lambda s: 1.0 - s), **_cosine_like),
    _blas("angular", "distance", _angular, _ref_angular,
          "angle between the vectors divided by pi, in [0, 1]", aliases=("angle",),
          neutral_score=0.5, same_order_as="cosine", screen=_cosine_screen(lambda s: np.cos(np.pi * s)),
          **_cosine_like),
    _blas("dot", "similarity", _dot, _ref_dot, "inner product a.b", aliases=("inner", "inner_product"),
          screen=Screen(lambda a: a, lambda b: b, lambda s: s, True, _dot_slack)),
    _blas("euclidean", "distance", _euclidean, _ref_euclidean, "straight-line distance |a - b|",
          aliases=("l2",), screen=_squared_screen(np.square)),
    _blas("sqeuclidean", "distance", _sqeuclidean, _ref_sqeuclidean, "squared euclidean distance |a - b|^2",
          aliases=("squared_euclidean",), same_order_as="euclidean", screen=_squared_screen(lambda s: s)),
    Metric("manhattan", "distance", _scipy_matrix("cityblock", compiled="manhattan"), _paired64(_p_manhattan), _ref_manhattan,
           "sum of absolute differences", aliases=("cityblock", "l1", "taxicab"), writes_into=True),
    Metric("chebyshev", "distance", _scipy_matrix("chebyshev", compiled="chebyshev"), _paired64(_p_chebyshev), _ref_chebyshev,
           "largest absolute difference", aliases=("linf", "chessboard"),
           keeps_float32=True, writes_into=True),  # a max needs no float64 sums: the compiled kernel runs twice as wide
    Metric("minkowski", "distance", _scipy_matrix("minkowski"), _paired64(_p_minkowski), _ref_minkowski,
           "(sum |a_i - b_i|^p)^(1/p); --p sets p (default 2, as scipy)", aliases=("lp",), writes_into=True),
    Metric("mahalanobis", "distance", _matrix_and_paired(_mahalanobis)[0], _matrix_and_paired(_mahalanobis)[1],
           _ref_mahalanobis, "sqrt((a-b)' S^-1 (a-b)), S the covariance of the data or of --cov-from",
           prepare=_prepare_mahalanobis, writes_into=True),
    Metric("correlation", "distance", _matrix_and_paired(_correlation)[0], _matrix_and_paired(_correlation)[1],
           _ref_correlation, "1 - Pearson correlation of the two vectors' components, in [0, 2]",
           aliases=("pearson",), undefined_rows=_constant_rows, neutral_score=1.0, keeps_float32=True,
           writes_into=True),
    Metric("canberra", "distance", _scipy_matrix("canberra"), _paired64(_p_canberra), _ref_canberra,
           "sum |a_i - b_i| / (|a_i| + |b_i|), terms with 0/0 count 0", writes_into=True),
    Metric("braycurtis", "distance", _braycurtis_matrix, _paired64(_p_braycurtis), _ref_braycurtis,
           "sum |a_i - b_i| / sum |a_i + b_i|; 0 for two zero vectors", aliases=("bray_curtis",), writes_into=True),
    Metric("hamming", "distance", _scipy_matrix("hamming"), _paired64(_p_hamming), _ref_hamming,
           "fraction of components that differ", domain="discrete", writes_into=True),
    Metric("jaccard", "distance", _scipy_matrix("jaccard"), _paired64(_p_jaccard), _ref_jaccard,
           "1 - |A & B| / |A | B| of the sets of nonzero positions (scipy's jaccard)", domain="discrete", writes_into=True),
    Metric("jensenshannon", "distance", _jensenshannon_matrix, _paired64(_p_jensenshannon),
           _ref_jensenshannon, "Jensen-Shannon distance of the vectors scaled to sum 1 (natural log); inputs >= 0",
           aliases=("js", "jensen_shannon"), undefined_rows=_zero_sum_rows, neutral_score=math.sqrt(math.log(2)),
           domain="nonnegative", writes_into=True),
]

_registry: dict[str, Metric] = {}
_lookup: dict[str, str] = {}
_plugins_loaded = False


def register(metric: Metric) -> Metric:
    """Add a metric; its name and aliases must be new. Built-ins go through here too."""
    if not isinstance(metric, Metric):
        raise TypeError(f"expected a siamcli.metrics.Metric, got {type(metric).__name__}")
    names = (metric.name, *metric.aliases)
    taken = [n for n in names if n.lower() in _lookup]
    if taken:
        raise ValueError(f"metric name already registered: {', '.join(taken)}")
    _registry[metric.name] = metric
    for n in names:
        _lookup[n.lower()] = metric.name
    return metric


for _metric in BUILTIN_METRICS:
    register(_metric)


def _load_plugins(warn: Callable[[str], None] | None = None) -> None:
    """Register the metrics that installed packages declare under ENTRY_POINT_GROUP (once)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            if callable(obj) and not isinstance(obj, Metric):
                obj = obj()
            for metric in [obj] if isinstance(obj, Metric) else list(obj):
                register(metric)
        except Exception as exc:  # a broken plugin must not break the tool
            if warn is not None:
                warn(f"warning: metric plugin '{ep.name}' ({ep.value}) was not loaded: {exc}")


def available_metrics(warn: Callable[[str], None] | None = None) -> list[Metric]:
    """Every metric: built-ins first, then plugins."""
    _load_plugins(warn)
    return list(_registry.values())


def get_metric(name: str | Metric, warn: Callable[[str], None] | None = None) -> Metric:
    """The metric called `name` (or one of its aliases, any case).

    >>> get_metric("l1").name
    'manhattan'
    """
    if isinstance(name, Metric):
        return name
    key = name.strip().lower()
    if key not in _lookup:
        _load_plugins(warn)
    if key not in _lookup:
        hint = did_you_mean(key, _lookup)
        raise UnknownMetricError(f"unknown metric '{name}'{hint} (known: {', '.join(_registry)})")
    return _registry[_lookup[key]]


def check_params(metric: Metric, p: float | None) -> Params:
    """Validate the user's metric options and return the Params to compute with."""
    if metric.name == "minkowski":
        p = 2.0 if p is None else p
        if not p > 0:
            raise UsageError(f"--p must be positive for minkowski, got {p}")
    elif p is not None:
        raise UsageError(f"--p applies to minkowski only, not to {metric.name}")
    return Params(p=p)


__all__ = ["Metric", "Params", "register", "get_metric", "available_metrics", "BUILTIN_METRICS"]

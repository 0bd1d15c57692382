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

from .errors import InputError, UnknownMetricError, UsageError, did_you_mean

ENTRY_POINT_GROUP = "siamcli.metrics"

#: Pairs whose matrix-product result lies this close to cancelling are recomputed exactly from
#: differences in float64 (relative to |a|^2 + |b|^2 for euclidean, to 1 for cosine).
#: Derived from the float32 GEMM error ~ sqrt(dim) * 6e-8: keeps float32 errors below 1e-5.
NEAR_TOLERANCE = {np.dtype(np.float32): 0.05, np.dtype(np.float64): 1e-3}
#: Pairs recomputed exactly per chunk, bounding the memory of the exact path.
EXACT_CHUNK_VALUES = 2**21
#: Squared row norms in these ranges normalise and multiply in each compute type without overflow
#: and without losing digits to underflow; rows outside are first scaled by a power of two (exact).
SAFE_SQNORMS = {np.dtype(np.float32): (2.0**-100, 2.0**100), np.dtype(np.float64): (2.0**-900, 2.0**900)}
#: Product values below (dims + 2) times this may have lost digits to underflow (each term errs by up
#: to half the smallest subnormal): they are recomputed exactly, like near pairs.
_UNDERFLOW_FLOOR = {np.dtype(np.float32): 2.0**-120, np.dtype(np.float64): 2.0**-1000}
_FLOAT64_MAX = float(np.finfo(np.float64).max)


class ScoreOutOfRange(InputError):
    """A score of finite inputs that float64 cannot hold. `row`, `col`: the pair's positions in the
    arrays the kernel was given (the engine names the pair in its inputs)."""

    def __init__(self, what: str, row: int, col: int):
        self.what, self.row, self.col = what, int(row), int(col)
        super().__init__(self.describe(f"A row {self.row}", f"B row {self.col}"))

    def describe(self, a_row: str, b_row: str) -> str:
        if self.what == BRAYCURTIS_INFINITE:  # no overflow: the metric's own division by zero
            return (f"the braycurtis distance of {a_row} and {b_row} is infinite: one is minus the other, so "
                    "sum |a_i + b_i| is 0")
        return f"the {self.what} of {a_row} and {b_row} exceeds the float64 range (about 1.8e308)"


#: What ScoreOutOfRange says for braycurtis of a = -b (scipy's inf, which JSON cannot hold).
BRAYCURTIS_INFINITE = "braycurtis distance, infinite"


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
    #: Scores lie in a fixed range whatever the vectors' magnitudes (cosine: [-1, 1]). Otherwise they
    #: grow with them, and float32 inputs large enough to overflow float32 scores compute in float64.
    bounded: bool = False

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


def _safe_sqnorms(dtype) -> tuple[float, float]:
    return SAFE_SQNORMS.get(np.dtype(dtype), SAFE_SQNORMS[np.dtype(np.float64)])


def _outside(sq: np.ndarray, dtype) -> np.ndarray:
    """Indices of the squared norms outside the safe range of `dtype` (zero and inf included)."""
    lo, hi = _safe_sqnorms(dtype)
    return np.flatnonzero(~((sq >= lo) & (sq <= hi)))


def _peak_exponents(x: np.ndarray) -> np.ndarray:
    """Per row, the e for which the row's largest magnitude times 2**-e lies in [0.5, 1) (0 for a zero row)."""
    return np.frexp(np.max(np.abs(x), axis=1, initial=0.0))[1]


def _rescaled(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """A copy of x whose `rows` are multiplied by powers of two (exact) to a largest magnitude in
    [0.5, 1). Scale-invariant metrics (cosine, correlation) lose nothing by it."""
    x = np.array(x, copy=True)
    sub = x[rows]
    x[rows] = np.ldexp(sub, -_peak_exponents(sub)[:, None])
    return x


def unit_rows(x: np.ndarray, zero: float = 0.0) -> np.ndarray:
    """Rows divided by their euclidean norms, in x's type; rows whose norms are outside the type's
    safe range are scaled by a power of two first, so every finite nonzero row normalises
    correctly. Zero rows become `zero` (0: they stay zero; NaN: a cosine is undefined there)."""
    sq = _row_sqnorms(x)
    bad = _outside(sq, x.dtype)
    if len(bad):
        x = _rescaled(x, bad)
        sq[bad] = _row_sqnorms(x[bad])
    if zero == 0.0:
        sq[sq == 0] = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return x / np.sqrt(sq).astype(x.dtype)[:, None]  # division, not a reciprocal: exact for 3/5


def _scaled_sumsq(diff: np.ndarray) -> np.ndarray:
    """(s, e) per row with |row|^2 = s * 4**e, s in [0.25, dims] (0 for a zero row): the squared
    norm without overflow or underflow, from the row scaled by a power of two."""
    with np.errstate(over="ignore", invalid="ignore"):
        e = _peak_exponents(diff)
        scaled = np.ldexp(diff, -e[:, None])
        return np.stack([np.einsum("ij,ij->i", scaled, scaled), e.astype(np.float64)], axis=1)


def _from_scaled(parts: np.ndarray, root: bool) -> np.ndarray:
    """The norms (root) or squared norms that _scaled_sumsq's (s, e) stand for; inf beyond float64."""
    e = parts[:, 1].astype(np.int64)
    with np.errstate(over="ignore"):
        return np.ldexp(np.sqrt(parts[:, 0]), e) if root else np.ldexp(parts[:, 0], 2 * e)


def _check_finite(values: np.ndarray, what: str, rows, cols) -> np.ndarray:
    """values, or ScoreOutOfRange naming the first pair whose value is not finite."""
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise ScoreOutOfRange(what, rows[bad[0]], cols[bad[0]])
    return values


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
    u, v = unit_rows(u, zero=np.nan), unit_rows(v, zero=np.nan)
    diff, total = u - v, u + v
    return np.stack([np.einsum("ij,ij->i", diff, diff), np.einsum("ij,ij->i", total, total)], axis=1)


def _exact_cosine_parts(a, b, rows, cols) -> tuple[np.ndarray, np.ndarray]:
    parts = _exact_pairs(a, b, rows, cols, _unit_parts, width=2)
    return parts[:, 0], parts[:, 1]


def _normalised(x: np.ndarray) -> np.ndarray:
    return unit_rows(x, zero=np.nan)


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


def _paired_cosines(a, b) -> np.ndarray:
    """float64 cosines of row i of a with row i of b: no normalised copies, one dot product and two
    squared norms per row in the input type. Rows whose squared norms fall outside the type's safe
    range (overflow, or digits lost to underflow) are scaled by powers of two and recomputed."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        dots, aa, bb = np.einsum("ij,ij->i", a, b), np.einsum("ij,ij->i", a, a), np.einsum("ij,ij->i", b, b)
        # square roots first: a product of squared norms would overflow float32 above norms of 4e9
        cos = dots / (np.sqrt(aa, dtype=np.float64) * np.sqrt(bb, dtype=np.float64))
    lo, hi = _safe_sqnorms(np.result_type(a, b))
    bad = np.flatnonzero(~((aa >= lo) & (aa <= hi) & (bb >= lo) & (bb <= hi)))
    if len(bad):
        u = unit_rows(a[bad].astype(np.float64), zero=np.nan)
        v = unit_rows(b[bad].astype(np.float64), zero=np.nan)
        cos[bad] = np.einsum("ij,ij->i", u, v)
    return cos


def _cosine_kernel(a, b, paired: bool, out, finish):
    """Cosines, with near-parallel pairs (|cos| within NEAR_TOLERANCE of 1) recomputed exactly.

    `finish(values, rows, cols, diff_sq, sum_sq)` turns cosines into the metric in place, given
    the near pairs and their exact |u-v|^2 and |u+v|^2 of unit vectors. For a matrix it runs on
    each cache-sized row chunk right after that chunk's near pairs are found, so the whole work
    after the matrix product is one pass over memory. Only near pairs can fall outside [-1, 1].
    """
    from . import kernels

    high = 1.0 - NEAR_TOLERANCE[np.dtype(a.dtype)]
    if paired:
        cos = _paired_cosines(a, b)
        with np.errstate(invalid="ignore"):
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
    """Rows minus their means, computed in float64 and returned in the compute type. Correlation is
    invariant to scaling a row, so a row whose centred values leave the type's safe range (a mean of
    1e308s overflows; float32 cannot hold 1e-45s precisely) is scaled by a power of two before
    centring and again after: exact, and every finite non-constant row is then safe."""
    dtype = np.dtype(np.float32) if x.dtype == np.float32 else np.dtype(np.float64)
    x64 = x.astype(np.float64, copy=False)
    with np.errstate(over="ignore", invalid="ignore"):
        mean = x64.mean(axis=1, keepdims=True)
        if dtype == np.float32:
            # the float64 mean errs far below float32's resolution; the rows are checked where they
            # must fit, in float32 (half the memory traffic)
            centred = np.subtract(x64, mean, out=x64).astype(np.float32)  # x64 is a copy
            sq = np.einsum("ij,ij->i", centred, centred)
        else:
            centred = x64 - mean
            sq = _row_sqnorms(centred)
            # Nearly constant rows: the mean's rounding is as large as what is left after centring,
            # and the mean of the centred row (exact differences) takes it out.
            close = np.flatnonzero(sq < x64.shape[1] * mean[:, 0] ** 2 * 2.0**-20)
            if len(close):
                centred[close] -= centred[close].mean(axis=1, keepdims=True)
                sq[close] = _row_sqnorms(centred[close])
        bad = _outside(sq, dtype)
    if len(bad):
        rows = _rescaled(x[bad].astype(np.float64), np.arange(len(bad)))
        rows -= rows.mean(axis=1, keepdims=True)
        rows -= rows.mean(axis=1, keepdims=True)
        centred[bad] = _rescaled(rows, np.arange(len(bad)))
    return centred


def _correlation(a, b, params, paired=False, out=None):
    return _cosine_distance(_center(a), _center(b), params, paired, out)


def _dot(a, b, params, paired=False, out=None):
    """a.b. Products that could overflow the input type (bound: |a.b| <= |a| |b|) are computed on
    rows scaled by powers of two in float64 (float32 rows exactly fit float64); a product beyond
    float64 is a ScoreOutOfRange, never inf. Products of tiny rows round (to 0) as float64 would."""
    if paired:
        with np.errstate(over="ignore", invalid="ignore"):
            dots = np.einsum("ij,ij->i", a, b)
        # an overflow leaves inf or nan; float32 products far below 1 may have underflowed (to 0):
        # in float64 they are the correctly rounded value, as a matrix of such rows gives
        lo = _safe_sqnorms(np.result_type(a, b))[0]
        with np.errstate(invalid="ignore"):
            bad = np.flatnonzero(~(np.abs(dots) >= lo) | np.isinf(dots))
        if len(bad):
            dots = dots.astype(np.float64)
            dots[bad] = _scaled_dots(a[bad], b[bad], bad, bad)
        return dots
    from . import kernels

    sqa, sqb = kernels.operands(_row_sqnorms, a, _row_sqnorms, b)
    dtype = np.result_type(a, b)
    with np.errstate(invalid="ignore"):  # 0 * inf: a zero row beside one whose norm overflowed
        bound = np.sqrt(sqa.max(initial=0.0)) * np.sqrt(sqb.max(initial=0.0))
    if bound <= np.finfo(dtype).max / 4:
        return _product(a, b, out, None)
    if dtype != np.float64:  # float32 inputs (the engine gives these in float64 already)
        return _into(out, _dot(a.astype(np.float64), b.astype(np.float64), params))
    ea, eb = _peak_exponents(a), _peak_exponents(b)

    def unscale(r0, c0, chunk, _dest):
        with np.errstate(over="ignore"):
            np.ldexp(chunk, ea[r0 : r0 + chunk.shape[0], None] + eb[None, c0 : c0 + chunk.shape[1]], out=chunk)
        _check_chunk(chunk, "dot product", r0, c0)

    return _product(np.ldexp(a, -ea[:, None]), np.ldexp(b, -eb[:, None]), out, unscale)


def _scaled_dots(u, v, rows, cols) -> np.ndarray:
    """float64 u.v of paired rows, each row scaled by a power of two for the product and the scale
    restored after; ScoreOutOfRange names the first pair (rows[i], cols[i]) beyond float64."""
    u, v = u.astype(np.float64), v.astype(np.float64)
    eu, ev = _peak_exponents(u), _peak_exponents(v)
    dots = np.einsum("ij,ij->i", np.ldexp(u, -eu[:, None]), np.ldexp(v, -ev[:, None]))
    with np.errstate(over="ignore"):
        return _check_finite(np.ldexp(dots, eu + ev), "dot product", rows, cols)


def _check_chunk(chunk: np.ndarray, what: str, r0: int, c0: int) -> None:
    """ScoreOutOfRange for the first value of a product chunk (at r0, c0) that is not finite."""
    flat = np.flatnonzero(~np.isfinite(chunk))
    if len(flat):
        raise ScoreOutOfRange(what, r0 + flat[0] // chunk.shape[1], c0 + flat[0] % chunk.shape[1])


def _into(out: np.ndarray | None, values: np.ndarray) -> np.ndarray:
    """values, copied into `out` if given; an InputError if out's type cannot hold them."""
    if out is None:
        return values
    if out.dtype.kind == "f" and np.abs(values).max(initial=0.0) > np.finfo(out.dtype).max:
        raise InputError(f"scores up to {np.abs(values).max():.3g} do not fit the output's type ({out.dtype}); "
                         "compute in float64")
    out[...] = values
    return out


def _squared_difference(u, v):
    """_scaled_sumsq's (s, e) of u - v per paired row: the difference is scaled, never the inputs,
    so rows of 1e200 and of 1e-200 keep their small distances."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _scaled_sumsq(u - v)


#: float32 inputs with a squared row norm above this may have dot products and (squared) distances
#: beyond float32 (|a - b|^2 <= 4 max(|a|^2, |b|^2)): they are computed in float64.
WIDE_SQNORM = 2.0**124


def _sqeuclidean(a, b, params, paired=False, out=None, root=False, exact=None, what=None):
    """|a - b|^2 (|a - b| with `root`) from one matrix product |a|^2 + |b|^2 - 2ab. Pairs where it
    cancels, or is small enough to have lost digits to underflow, are recomputed by
    `exact(a_rows, b_rows)` from row indices, which gives _scaled_sumsq's (s, e) (default: of the
    differences of a and b). The square root runs on each chunk while it is in cache, from a
    scratch buffer into `out` (kernels.tiled_product's scratch). Inputs whose squared norms would
    overflow or underflow the product are scaled by one power of two (a distance is homogeneous:
    d(sa, sb) = s d(a, b)) and the results scaled back; a distance beyond float64 is a ScoreOutOfRange."""
    what = what or ("euclidean distance" if root else "squared euclidean distance")
    if paired:
        return _paired_sqeuclidean(a, b, root, what)
    from . import kernels

    dtype = np.result_type(a, b)
    sqa, sqb = kernels.operands(_row_sqnorms, a, _row_sqnorms, b)
    top = max(float(sqa.max(initial=0.0)), float(sqb.max(initial=0.0)))
    if dtype != np.float64 and top > WIDE_SQNORM:  # float32 scores could overflow (the engine gives float64)
        wide = _sqeuclidean(a.astype(np.float64), b.astype(np.float64), params, root=root, exact=exact, what=what)
        return _into(out, wide)
    lo, hi = _safe_sqnorms(dtype)
    shift, originals = 0, (a, b)
    if not lo <= top <= hi:  # (squared norms of 0 may have underflowed)
        peak = max(float(np.abs(a).max(initial=0.0)), float(np.abs(b).max(initial=0.0)))
        if not math.isfinite(peak):
            raise InputError(f"the {what} cannot be computed: an input value is not finite")
        shift = int(np.frexp(peak)[1])
    if shift:
        a, b = np.ldexp(a, -shift).astype(dtype, copy=False), np.ldexp(b, -shift).astype(dtype, copy=False)
        sqa, sqb = kernels.operands(_row_sqnorms, a, _row_sqnorms, b)
    if exact is None:
        exact = lambda rows, cols: _exact_pairs(*originals, rows, cols, _squared_difference, width=2)  # noqa: E731
    left, right = kernels.operands(lambda x: _augmented_left(x, sqa), a, lambda x: _augmented_right(x, sqb), b)
    tol = NEAR_TOLERANCE.get(np.dtype(dtype), NEAR_TOLERANCE[np.dtype(np.float64)])
    floor = (a.shape[1] + 2) * _UNDERFLOW_FLOOR.get(np.dtype(dtype), _UNDERFLOW_FLOOR[np.dtype(np.float64)])

    def near_then_finish(r0, c0, chunk, dest):
        width = chunk.shape[1]
        bound_rows, nb_cols = tol * sqa[r0 : r0 + chunk.shape[0]] + floor, tol * sqb[c0 : c0 + width]
        with np.errstate(invalid="ignore"):
            # finite inputs give finite scores here (NaN policies apply later): plain minimum is faster.
            # Row by row: with norms that vary, one test of the whole chunk against its largest
            # norms fails in most chunks (71 of 80 in the benchmark's data) and costs a pass.
            flagged = np.flatnonzero(np.minimum.reduce(chunk, axis=1) <= bound_rows + nb_cols.max(initial=0.0))
        rows = cols = _NO_PAIRS
        if len(flagged):
            flat = np.flatnonzero(chunk[flagged] <= bound_rows[flagged][:, None] + nb_cols[None, :])
            rows, cols = flagged[flat // width], flat % width
        parts = exact(rows + r0, cols + c0) if len(rows) else None
        if parts is not None:
            chunk[rows, cols] = 0.0  # replaced below; where the product cancelled it may be below 0
        if root:
            np.sqrt(chunk, out=dest)
        if shift:
            with np.errstate(over="ignore"):
                np.ldexp(dest, shift if root else 2 * shift, out=dest)
            _check_chunk(dest, what, r0, c0)
        if parts is not None:  # the root of the scaled sum: a square of 1e-170 would underflow
            dest[rows, cols] = _check_finite(_from_scaled(parts, root), what, rows + r0, cols + c0)

    return _product(left, right, out, near_then_finish, scratch=root)


def _paired_sqeuclidean(a, b, root: bool, what: str) -> np.ndarray:
    """|a_i - b_i|^2 (or its root) in the input type: float32 sums of squares are good to ~1e-7
    relative. Rows whose sums overflowed or may have lost digits to underflow are recomputed in
    float64 from their scaled differences (identical rows keep their exact 0 without it)."""
    with np.errstate(over="ignore", invalid="ignore"):
        diff = a - b
        sq = np.einsum("ij,ij->i", diff, diff)
    bad = _outside(sq, np.result_type(a, b))
    zero = bad[sq[bad] == 0]
    if len(zero):
        bad = np.union1d(bad[sq[bad] != 0], zero[np.any(diff[zero] != 0, axis=1)])
    result = np.sqrt(sq) if root else sq
    if len(bad):
        result = result.astype(np.float64)
        parts = _squared_difference(a[bad].astype(np.float64), b[bad].astype(np.float64))
        result[bad] = _check_finite(_from_scaled(parts, root), what, bad, bad)
    return result


def _euclidean(a, b, params, paired=False, out=None):
    return _sqeuclidean(a, b, params, paired, out, root=True)


def _mahalanobis(a, b, params, paired=False, out=None):
    """|(a - b) W| with W the whitener. The matrix product runs on whitened rows; near pairs (and
    paired rows) are whitened as differences, (a - b) W: whitening each row first would cancel
    digits the whitener's large entries then blow up."""
    from . import kernels

    w, c = params.whitener, params.center
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    whiten = lambda x: kernels.tiled_product(x, w.T)  # noqa: E731  (x @ w, the same for any thread count)
    what = "mahalanobis distance"

    def whitened_difference(u, v):
        with np.errstate(over="ignore", invalid="ignore"):
            return _scaled_sumsq(whiten(u - v))

    if paired:
        index = np.arange(len(a64))
        return _check_finite(_from_scaled(whitened_difference(a64, b64), root=True), what, index, index)
    exact = lambda rows, cols: _exact_pairs(a64, b64, rows, cols, whitened_difference, width=2)  # noqa: E731
    with np.errstate(over="ignore", invalid="ignore"):
        left, right = whiten(a64 - c), whiten(b64 - c)
    return _sqeuclidean(left, right, params, False, out, root=True, exact=exact, what=what)


def _scipy_matrix(name: str, compiled: str | None = None, guard=None, **fixed):
    """A matrix kernel from scipy's cdist (row chunks in threads, each written into the output),
    or a compiled one when it pays; then `guard(a64, b64, params, out)`, which repairs or refuses
    what overflowed or underflowed (see _guard)."""

    def matrix(a, b, params, out=None):
        from scipy.spatial.distance import cdist

        from . import kernels

        if compiled is not None:
            fast = kernels.compiled_matrix(compiled, a, b, out)
            if fast is not None:
                return guard(a, b, params, fast) if guard else fast
        a64, b64 = a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)
        kwargs = dict(fixed)
        if name == "minkowski":
            kwargs["p"] = params.p
        if out is None:
            out = np.empty((a.shape[0], b.shape[0]))

        def rows(x, y, dest):
            if dest.dtype == np.float64 and dest.flags.c_contiguous:
                cdist(x, y, name, out=dest, **kwargs)
            else:
                dest[...] = cdist(x, y, name, **kwargs)

        with np.errstate(all="ignore"):
            kernels.rows_into(rows, a64, b64, out)
        return guard(a, b, params, out) if guard else out

    matrix.__name__ = f"cdist_{name}"
    return matrix


#: Bytes of the masks the final guard of a cdist kernel makes per row chunk of its output.
_GUARD_CHUNK_VALUES = 2**20


def _guard(paired, what: str | None, suspect=None):
    """A final guard for a cdist-based matrix: values that are not finite (an overflow on the way)
    and those `suspect(a, b, params)` flags (a function of a chunk of values and its first row: a
    silent overflow or underflow) are recomputed by `paired`, which scales where the metric allows;
    a value still not finite is a ScoreOutOfRange (unless `what` is None: braycurtis' inf for
    a = -b is its definition). One pass over the output, in chunks: cheap beside cdist."""

    def guard(a, b, params, out):
        flag = suspect(a, b, params) if suspect is not None else None
        step = max(1, _GUARD_CHUNK_VALUES // max(1, out.shape[1]))
        for r0 in range(0, out.shape[0], step):
            chunk = out[r0 : r0 + step]
            with np.errstate(all="ignore"):
                if flag is None and np.isfinite(chunk.sum()):
                    continue  # a finite sum: every value is finite (one pass, no mask)
                mask = ~np.isfinite(chunk)
                if flag is not None:
                    mask |= flag(chunk, r0)
            if mask.any():
                rows, cols = np.nonzero(mask)
                with np.errstate(all="ignore"):
                    values = _exact_pairs(a, b, rows + r0, cols, lambda u, v: paired(u, v, params))
                chunk[rows, cols] = values if what is None else _check_finite(values, what, rows + r0, cols)
        return out

    return guard


def _big_rows(limit: float, summed: bool):
    """A suspect test: every pair with a row whose largest magnitude exceeds `limit` (divided by the
    dims if `summed`), where one |a_i| + |b_i| (or a sum over the dims) could overflow to inf and
    the ratio that holds it become 0, not inf or NaN."""

    def suspect(a, b, params):
        limit_here = limit / max(1, a.shape[1]) if summed else limit
        big_a = np.abs(a).max(axis=1, initial=0.0) > limit_here
        big_b = np.abs(b).max(axis=1, initial=0.0) > limit_here
        if not (big_a.any() or big_b.any()):
            return None
        return lambda chunk, r0: big_a[r0 : r0 + chunk.shape[0], None] | big_b[None, :]

    return suspect


def _minkowski_underflow(a, b, params):
    """A suspect test: values small enough that |a_i - b_i|^p may have lost digits to underflow."""
    if math.isinf(params.p):
        return None
    with np.errstate(over="ignore", under="ignore"):
        small = (a.shape[1] * 2.0**-1000) ** (1.0 / params.p)
    return lambda chunk, r0: chunk < small


def _braycurtis_matrix(a, b, params, out=None):
    guard = _guard(_p_braycurtis, BRAYCURTIS_INFINITE, _big_rows(_FLOAT64_MAX / 2, summed=True))
    out = _scipy_matrix("braycurtis", guard=guard)(a, b, params, out)
    out[np.isnan(out)] = 0.0  # 0/0 only for two zero vectors: identical, so distance 0
    return out


def _jensenshannon_matrix(a, b, params, out=None):
    a64, b64 = _unit_sums(a.astype(np.float64, copy=False)), _unit_sums(b.astype(np.float64, copy=False))
    out = _scipy_matrix("jensenshannon")(a64, b64, params, out)
    rows, cols = np.nonzero(np.isnan(out))  # cdist can round below zero under its square root
    if len(rows):
        out[rows, cols] = _exact_pairs(a64, b64, rows, cols, lambda u, v: _paired64(_p_jensenshannon)(u, v, params))
    return out  # within [0, sqrt(ln 2)] once the sums are finite; NaN only for zero rows (undefined)


def _unit_sums(x):
    """x with rows whose sums overflow scaled by a power of two (jensenshannon divides each row by
    its sum, so it is invariant to this)."""
    with np.errstate(over="ignore"):
        bad = np.flatnonzero(~np.isfinite(x.sum(axis=1)))
    return _rescaled(x, bad) if len(bad) else x


def _paired64(fn, what: str | None = None):
    """A paired kernel computing fn in float64; a value that is not finite is a ScoreOutOfRange
    (fn scales where its metric allows, so only a value beyond float64 is left)."""

    def paired(a, b, params):
        with np.errstate(all="ignore"):
            values = fn(a.astype(np.float64, copy=False), b.astype(np.float64, copy=False), params)
        if what is not None:
            index = np.arange(len(values))
            _check_finite(values, what, index, index)
        return values

    paired.__name__ = fn.__name__
    return paired


def _p_manhattan(a, b, params):
    return np.abs(a - b).sum(axis=1)


def _p_chebyshev(a, b, params):
    return np.abs(a - b).max(axis=1, initial=0.0)


def _p_minkowski(a, b, params):
    """Scaled by the largest |a_i - b_i|, so that no power overflows or underflows to nothing:
    (sum (|d_i| / M)^p)^(1/p) * M, with the largest term exactly 1."""
    p = params.p
    diff = np.abs(a - b)
    top = diff.max(axis=1, initial=0.0)
    if math.isinf(p):
        return top
    scale = np.where(top > 0, top, 1.0)[:, None]
    return ((diff / scale) ** p).sum(axis=1) ** (1.0 / p) * top


def _p_canberra(a, b, params):
    """Terms |a_i - b_i| / (|a_i| + |b_i|), each invariant to scaling a_i and b_i together: where the
    sum would overflow, both are halved (exact) first."""
    big = np.maximum(np.abs(a), np.abs(b)) > _FLOAT64_MAX / 2
    if big.any():
        a, b = np.where(big, a / 2, a), np.where(big, b / 2, b)
    num, den = np.abs(a - b), np.abs(a) + np.abs(b)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0).sum(axis=1)


def _p_braycurtis(a, b, params):
    """sum |a - b| / sum |a + b|, invariant to scaling a and b together: pairs whose sums overflow
    are scaled by a power of two first."""
    num, den = np.abs(a - b).sum(axis=1), np.abs(a + b).sum(axis=1)
    bad = np.flatnonzero(~(np.isfinite(num) & np.isfinite(den)))
    if len(bad):
        e = np.maximum(_peak_exponents(a[bad]), _peak_exponents(b[bad]))[:, None]
        u, v = np.ldexp(a[bad], -e), np.ldexp(b[bad], -e)
        num[bad], den[bad] = np.abs(u - v).sum(axis=1), np.abs(u + v).sum(axis=1)
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

    a, b = _unit_sums(a), _unit_sums(b)
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


#: Data whose largest magnitude lies outside this range is scaled by a power of two for the
#: covariance: its fourth moments (Ledoit-Wolf) must neither overflow nor underflow float64.
_COVARIANCE_PEAKS = (2.0**-200, 2.0**200)


def _covariance(chunks: Callable[[], Iterable[np.ndarray]], dim: int):
    """Mean, unbiased covariance, Ledoit-Wolf terms and row count, in two passes over chunks, of
    the data times 2**-shift (0 for ordinary magnitudes; a third pass otherwise); also shift."""
    n, total, peak = 0, np.zeros(dim), 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for x in chunks():
            n += x.shape[0]
            total += x.sum(axis=0, dtype=np.float64)
            if x.size:
                peak = max(peak, float(np.max(x)), -float(np.min(x)))
    lo, hi = _COVARIANCE_PEAKS
    shift = 0 if peak == 0 or lo <= peak <= hi else int(np.frexp(peak)[1])
    if shift:
        total = np.zeros(dim)
        for x in chunks():
            total += np.ldexp(x.astype(np.float64), -shift).sum(axis=0)
    mean = total / max(n, 1)
    scatter, fourth = np.zeros((dim, dim)), 0.0
    for x in chunks():
        xc = np.ldexp(x.astype(np.float64), -shift) - mean
        scatter += xc.T @ xc
        x2 = xc**2
        fourth += float((x2.T @ x2).sum())
    return n, mean, scatter, fourth, shift


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
    n, mean, scatter, fourth, shift = _covariance(chunks, dim)
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
    # the covariance is of the data times 2**-shift: W of the data itself is W_scaled * 2**-shift
    return replace(params, whitener=np.ldexp(whitener, -shift), center=np.ldexp(mean, shift),
                   notes=params.notes + (note,))


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


def _underflow_bound(x: np.ndarray) -> float:
    """An absolute bound on what one product value loses to underflow: each term (and each squared
    norm's term) rounds by at most half the smallest subnormal."""
    return (2 * x.shape[1] + 16) * float(np.finfo(x.dtype).smallest_subnormal)


def _unit_slack(left, right):
    return np.full(left.shape[0], _rounding_bound(left) + _underflow_bound(left))


def _augmented_left(a, sq=None):
    """[-2a, |a|^2, 1]: with _augmented_right, one product gives |a|^2 + |b|^2 - 2ab (`sq`: the
    squared norms, if computed already)."""
    d = a.shape[1]
    left = np.empty((a.shape[0], d + 2), a.dtype)
    np.multiply(a, -2.0, out=left[:, :d])
    left[:, d] = _row_sqnorms(a) if sq is None else sq
    left[:, d + 1] = 1.0
    return left


def _augmented_right(b, sq=None):
    d = b.shape[1]
    right = np.empty((b.shape[0], d + 2), b.dtype)
    right[:, :d] = b
    right[:, d] = 1.0
    right[:, d + 1] = _row_sqnorms(b) if sq is None else sq
    return right


def _squared_slack(left, right):
    # |a|^2 + |b|^2 bounds every term's magnitude (2|a||b| <= |a|^2 + |b|^2)
    return (2.0 * _rounding_bound(left) * (left[:, -2].astype(np.float64) + float(right[:, -1].max(initial=0.0)))
            + _underflow_bound(left))


def _dot_slack(left, right):
    return (_rounding_bound(left) * _row_norms(left) * float(np.sqrt(_row_sqnorms(right).max(initial=0.0)))
            + _underflow_bound(left))


def _cosine_screen(value) -> Screen:
    return Screen(_normalised, _normalised, value, True, _unit_slack)


def _squared_screen(value) -> Screen:
    return Screen(_augmented_left, _augmented_right, value, False, _squared_slack)


def _blas(name, kind, fn, ref, summary, **kw) -> Metric:
    matrix, paired = _matrix_and_paired(fn)
    return Metric(name, kind, matrix, paired, ref, summary, keeps_float32=True, writes_into=True, **kw)


_cosine_like = dict(undefined_rows=_zero_rows, bounded=True)

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
    Metric("manhattan", "distance", _scipy_matrix("cityblock", compiled="manhattan", guard=_guard(_p_manhattan, "manhattan distance")),
           _paired64(_p_manhattan, "manhattan distance"), _ref_manhattan,
           "sum of absolute differences", aliases=("cityblock", "l1", "taxicab"), writes_into=True),
    Metric("chebyshev", "distance", _scipy_matrix("chebyshev", compiled="chebyshev", guard=_guard(_p_chebyshev, "chebyshev distance")),
           _paired64(_p_chebyshev, "chebyshev distance"), _ref_chebyshev,
           "largest absolute difference", aliases=("linf", "chessboard"),
           keeps_float32=True, writes_into=True),  # a max needs no float64 sums: the compiled kernel runs twice as wide
    Metric("minkowski", "distance", _scipy_matrix("minkowski", guard=_guard(_p_minkowski, "minkowski distance", _minkowski_underflow)),
           _paired64(_p_minkowski, "minkowski distance"), _ref_minkowski,
           "(sum |a_i - b_i|^p)^(1/p); --p sets p (default 2, as scipy)", aliases=("lp",), writes_into=True),
    Metric("mahalanobis", "distance", _matrix_and_paired(_mahalanobis)[0], _matrix_and_paired(_mahalanobis)[1],
           _ref_mahalanobis, "sqrt((a-b)' S^-1 (a-b)), S the covariance of the data or of --cov-from",
           prepare=_prepare_mahalanobis, writes_into=True),
    Metric("correlation", "distance", _matrix_and_paired(_correlation)[0], _matrix_and_paired(_correlation)[1],
           _ref_correlation, "1 - Pearson correlation of the two vectors' components, in [0, 2]",
           aliases=("pearson",), undefined_rows=_constant_rows, neutral_score=1.0, keeps_float32=True,
           writes_into=True, bounded=True),
    Metric("canberra", "distance", _scipy_matrix("canberra", guard=_guard(_p_canberra, "canberra distance", _big_rows(_FLOAT64_MAX / 2, summed=False))),
           _paired64(_p_canberra, "canberra distance"), _ref_canberra,
           "sum |a_i - b_i| / (|a_i| + |b_i|), terms with 0/0 count 0", writes_into=True),
    Metric("braycurtis", "distance", _braycurtis_matrix, _paired64(_p_braycurtis, BRAYCURTIS_INFINITE),
           _ref_braycurtis, "sum |a_i - b_i| / sum |a_i + b_i|; 0 for two zero vectors; an error for a = -b", aliases=("bray_curtis",), writes_into=True),
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

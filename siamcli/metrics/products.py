"""Metrics with a matrix-product form (cosine family, dot, euclidean, mahalanobis): one BLAS
product, near pairs recomputed exactly; and the screens that rank pairs from products."""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from .numeric import (NEAR_TOLERANCE, _UNDERFLOW_FLOOR, WIDE_SQNORM, _check_chunk, _check_finite, _exact_pairs,
                      _from_scaled, _into, _outside, _peak_exponents, _product, _rescaled, _row_norms, _row_sqnorms,
                      _safe_sqnorms, _scaled_sumsq, unit_rows)
from .record import Half, Screen
from .shift import shift_of, shifted

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


def _squared_difference(u, v):
    """_scaled_sumsq's (s, e) of u - v per paired row: the difference is scaled, never the inputs,
    so rows of 1e200 and of 1e-200 keep their small distances."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _scaled_sumsq(u - v)


def _sqeuclidean(a, b, params, paired=False, out=None, root=False, exact=None, what=None, shift=None):
    """|a - b|^2 (|a - b| with `root`) from one matrix product |a'|^2 + |b'|^2 - 2a'b' of the rows less
    a common `shift` (a' = a - shift; default: params' fitted one, else the rows' own), so the offset
    the rows share does not cancel in it. float32 rows are multiplied in float64 and the scores
    rounded once into float32 `out` (scikit-learn's choice: a float32 product errs by a few units of
    the last place, about twice scikit-learn's error on its own data sets). Pairs where it still
    cancels, or is small enough to have lost digits to underflow, are recomputed by `exact(a_rows, b_rows)` from row indices, which gives
    _scaled_sumsq's (s, e) (default: of the differences of a and b themselves). The square root runs
    on each chunk while it is in cache, from a scratch buffer into `out` (kernels.tiled_product's
    scratch). Inputs whose squared norms would overflow or underflow the product are scaled by one
    power of two (a distance is homogeneous: d(sa, sb) = s d(a, b)) and the results scaled back; a
    distance beyond float64 is a ScoreOutOfRange."""
    what = what or ("euclidean distance" if root else "squared euclidean distance")
    if paired:
        return _paired_sqeuclidean(a, b, root, what)
    from . import kernels

    dtype = np.result_type(a, b)
    if dtype == np.float32:  # multiplied in float64 (as scikit-learn does): only the output's rounding is left
        wide = a.astype(np.float64)
        out = np.empty((len(a), len(b)), np.float32) if out is None else out
        return _sqeuclidean(wide, wide if b is a else b.astype(np.float64), params, False, out, root, exact, what,
                            shift)
    originals = (a, b)
    if shift is None and exact is None:  # mahalanobis gives rows centred already (and its own exact)
        shift = params.get("shift") if params is not None else None
        shift = shift_of(a, b) if shift is None else shift
    if shift is not None:
        centre = lambda x: shifted(x, shift)  # noqa: E731  (one function: a self-comparison centres once)
        a, b = kernels.operands(centre, a, centre, b)
    sqa, sqb = kernels.operands(_row_sqnorms, a, _row_sqnorms, b)
    top = max(float(sqa.max(initial=0.0)), float(sqb.max(initial=0.0)))
    if out is not None and out.dtype == np.float32 and not top <= WIDE_SQNORM:  # scores could overflow float32
        return _into(out, _sqeuclidean(*originals, params, root=root, exact=exact, what=what, shift=shift))
    lo, hi = _safe_sqnorms(dtype)
    scale = 0
    if not lo <= top <= hi:  # (squared norms of 0 may have underflowed)
        peak = max(float(np.abs(a).max(initial=0.0)), float(np.abs(b).max(initial=0.0)))
        if not math.isfinite(peak):
            raise InputError(f"the {what} cannot be computed: an input value is not finite")
        scale = int(np.frexp(peak)[1])
    if scale:
        a, b = np.ldexp(a, -scale).astype(dtype, copy=False), np.ldexp(b, -scale).astype(dtype, copy=False)
        sqa, sqb = kernels.operands(_row_sqnorms, a, _row_sqnorms, b)
    if exact is None:
        exact = lambda rows, cols: _exact_pairs(*originals, rows, cols, _squared_difference, width=2)  # noqa: E731
    left, right = kernels.operands(lambda x: _augmented_left(x, sqa), a, lambda x: _augmented_right(x, sqb), b)
    tol = NEAR_TOLERANCE.get(np.dtype(dtype), NEAR_TOLERANCE[np.dtype(np.float64)])
    floor = (a.shape[1] + 2) * _UNDERFLOW_FLOOR.get(np.dtype(dtype), _UNDERFLOW_FLOOR[np.dtype(np.float64)])
    finish = _near_then_finish(tol * sqa + floor, tol * sqb, exact, root, scale, what)
    return _product(left, right, out, finish, scratch=root or (out is not None and out.dtype != dtype))


def _near_then_finish(near_rows, near_cols, exact, root: bool, scale: int, what: str):
    """The post-processing of each chunk of |a'|^2 + |b'|^2 - 2a'b' (see _sqeuclidean): values at or
    below near_rows[i] + near_cols[j] are recomputed by `exact`; the square root (`root`) and the
    power of two `scale` are applied on the way into the output."""

    def finish(r0, c0, chunk, dest):
        width = chunk.shape[1]
        bound_rows, nb_cols = near_rows[r0 : r0 + chunk.shape[0]], near_cols[c0 : c0 + width]
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
        elif dest is not chunk:  # a float64 product into float32 scores
            dest[...] = chunk
        if scale:
            with np.errstate(over="ignore"):
                np.ldexp(dest, scale if root else 2 * scale, out=dest)
            _check_chunk(dest, what, r0, c0)
        if parts is not None:  # the root of the scaled sum: a square of 1e-170 would underflow
            dest[rows, cols] = _check_finite(_from_scaled(parts, root), what, rows + r0, cols + c0)

    return finish


def _paired_sqeuclidean(a, b, root: bool, what: str) -> np.ndarray:
    """|a_i - b_i|^2 (or its root). float32 rows are subtracted and summed in float64 (which they
    cannot overflow nor underflow), row chunks at a time, and rounded once to float32. float64 sums
    of rows that overflowed or may have lost digits to underflow are recomputed from their scaled
    differences (identical rows keep their exact 0 without it)."""
    if np.result_type(a, b) == np.float32:
        step = max(1, _PAIRED_CHUNK_VALUES // max(1, a.shape[1]))
        sq = np.empty(len(a))
        for s in range(0, len(a), step):
            diff = np.subtract(a[s : s + step], b[s : s + step], dtype=np.float64)
            np.einsum("ij,ij->i", diff, diff, out=sq[s : s + step])
        result = np.sqrt(sq, out=sq) if root else sq
        # float64 where float32 cannot hold a distance (rows near float32's largest values)
        return result.astype(np.float32) if result.max(initial=0.0) <= _FLOAT32_MAX else result
    with np.errstate(over="ignore", invalid="ignore"):
        diff = a - b
        sq = np.einsum("ij,ij->i", diff, diff)
    bad = _outside(sq, np.result_type(a, b))
    zero = bad[sq[bad] == 0]
    if len(zero):
        bad = np.union1d(bad[sq[bad] != 0], zero[np.any(diff[zero] != 0, axis=1)])
    result = np.sqrt(sq) if root else sq
    if len(bad):
        result[bad] = _check_finite(_from_scaled(_squared_difference(a[bad], b[bad]), root), what, bad, bad)
    return result


#: Values of one row chunk of float32 paired rows widened to float64 at a time: half a MiB, which stays
#: in cache (100,000 x 384 pairs: 0.09 s, as fast as float32 sums; chunks of 2**18 values: 0.15 s).
_PAIRED_CHUNK_VALUES = 2**16
_FLOAT32_MAX = float(np.finfo(np.float32).max)


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


def _rounding_bound(x: np.ndarray) -> float:
    """A generous bound, relative to the operands' magnitudes, on the rounding error of one
    product value: a dot product of d terms errs by at most about d units of roundoff."""
    return (2 * x.shape[1] + 16) * float(np.finfo(x.dtype).eps)


def _underflow_bound(x: np.ndarray) -> float:
    """An absolute bound on what one product value loses to underflow: each term (and each squared
    norm's term) rounds by at most half the smallest subnormal."""
    return (2 * x.shape[1] + 16) * float(np.finfo(x.dtype).smallest_subnormal)


def _unit_terms(left, right):
    return np.ones(left.shape[0])  # unit rows: sum |a_i| |b_i| <= |a| |b| = 1


def _slack(terms):
    """Screen.slack from the terms' bound: rounding error relative to it, and what underflow loses."""
    def slack(left, right):
        return _rounding_bound(left) * terms(left, right) + _underflow_bound(left)

    return slack


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


def _squared_terms(left, right):
    # |a|^2 + |b|^2 bounds every term's magnitude (2|a||b| <= |a|^2 + |b|^2)
    return 2.0 * (left[:, -2].astype(np.float64) + float(right[:, -1].max(initial=0.0)))


def _split(values: np.ndarray, high: np.ndarray, low: np.ndarray) -> None:
    """float32 values = high + low exactly: high keeps the leading 8 bits (exact in bfloat16),
    |low| < 2^-7 |values|."""
    high[...] = (values.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
    np.subtract(values, high, out=low)


def _split_norm_left(left):
    """[-2a, |a|^2, 1] laid out as [-2a, hi, lo, 1, 1] (|a|^2 = hi + lo, see _split): with
    _split_norm_right's [b, 1, 1, hi, lo], bfloat16 loses only the cross terms' and lo's rounding."""
    d = left.shape[1] - 2
    out = np.empty((len(left), d + 4), left.dtype)
    out[:, :d] = left[:, :d]
    _split(left[:, d], out[:, d], out[:, d + 1])
    out[:, d + 2 :] = 1.0
    return out


def _split_norm_right(right):
    d = right.shape[1] - 2
    out = np.empty((len(right), d + 4), right.dtype)
    out[:, :d] = right[:, :d]
    out[:, d : d + 2] = 1.0
    _split(right[:, d + 1], out[:, d + 2], out[:, d + 3])
    return out


def _split_norm_tail_error(left, right):
    # the lo parts round by at most 2^-8 of themselves, under 2^-15 of |a|^2 and of |b|^2 (each times 1)
    return 2.0**-14 * (left[:, -2].astype(np.float64) + float(right[:, -1].max(initial=0.0)))


def _dot_terms(left, right):
    return _row_norms(left) * float(np.sqrt(_row_sqnorms(right).max(initial=0.0)))


def _as_is(x):
    return x


SAME_HALF = Half(_as_is, _as_is)  # the operands rounded as they are (cosine, dot)
_SQUARED_HALF = Half(_split_norm_left, _split_norm_right, 4, _split_norm_tail_error)


def _cosine_screen(value) -> Screen:
    return Screen(_normalised, _normalised, value, True, _slack(_unit_terms), half=SAME_HALF)


def _squared_screen(value) -> Screen:
    """|a'|^2 + |b'|^2 - 2a'b' of rows less the comparison's fitted shift (as the matrix kernel);
    the shift's rounding (at most 2 eps (|a'|^2 + |b'|^2)) is well inside the slack of _squared_terms."""
    def fitted(params) -> Screen:
        shift = params.get("shift")
        if shift is None:
            return plain
        return Screen(lambda a: _augmented_left(shifted(a, shift)), lambda b: _augmented_right(shifted(b, shift)),
                      value, False, _slack(_squared_terms), half=_SQUARED_HALF)

    plain = Screen(_augmented_left, _augmented_right, value, False, _slack(_squared_terms), fitted, _SQUARED_HALF)
    return plain

"""Metrics computed element by element (scipy's cdist or compiled kernels, with guards that
repair or refuse overflow), and the row tests for where metrics are undefined."""

from __future__ import annotations

import math

import numpy as np

from .numeric import (BRAYCURTIS_INFINITE, _FLOAT64_MAX, _check_finite, _exact_pairs, _peak_exponents, _rescaled)

def _scipy_matrix(name: str, compiled: str | None = None, guard=None, uses: tuple[str, ...] = (), **fixed):
    """A matrix kernel from scipy's cdist (row chunks in threads, each written into the output),
    or a compiled one when it pays; then `guard(a64, b64, params, out)`, which repairs or refuses
    what overflowed or underflowed (see _guard). `uses`: the metric's parameters cdist takes."""

    def matrix(a, b, params, out=None):
        from scipy.spatial.distance import cdist

        from . import kernels

        if compiled is not None:
            fast = kernels.compiled_matrix(compiled, a, b, out)
            if fast is not None:
                return guard(a, b, params, fast) if guard else fast
        a64, b64 = a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)
        kwargs = dict(fixed, **{key: params.get(key) for key in uses})  # cdist's own parameters (minkowski's p)
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


def zero_rows(x):
    """Which rows are zero vectors (where cosine is undefined, and no row can be L2-normalised)."""
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

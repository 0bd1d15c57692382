"""Numeric helpers shared by the kernels: row norms without overflow, exact recomputation of
chosen pairs, tiled products with post-processing, and the guards that refuse scores beyond float64."""

from __future__ import annotations

import numpy as np

from ..errors import InputError

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


#: float32 inputs with a squared row norm above this may have dot products and (squared) distances
#: beyond float32 (|a - b|^2 <= 4 max(|a|^2, |b|^2)): they are computed in float64.
WIDE_SQNORM = 2.0**124

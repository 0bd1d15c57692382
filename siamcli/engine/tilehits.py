"""The pairs of a product tile that reach their row's bound and, transposed, their column's
(and for rows or columns still short of k candidates, the bounds a tile gives itself).

With numba installed (`pip install 'siamcli[fast]'`) one compiled pass reads the tile once, a
stretch of a row at a time: both tests of a stretch in vector instructions, its values looked at
one by one only when one of them is met. Without numba, numpy bands (see `_band_hits`). Both give
the same hits in the same order (by row, then column).
"""

from __future__ import annotations

import numpy as np

from .ranking import _at_least

#: Row maxima, column maxima and group maxima of a product are taken a band of rows this large at a time.
_BAND_BYTES = 2**20
#: Values of a row tested at once by the compiled pass before any is looked at one by one (a
#: constant of the compiled code: a loop of known length is made of vector instructions).
_STRETCH = 128
#: The rows' first tile bounds their k-th best by the k-th best of this many groups' bests (no partition).
_GROUPS = 64
#: banded_hits' bands: 2 MiB of float32, which stay in a core's cache (256 x 1024: 5% more CPU, 128 x 1024: 17%).
BAND_ROWS, BAND_COLS = 256, 2048
#: Tiles no larger than this take numpy's bands: compiling (or loading the compiled pass) costs more.
_COMPILED_MIN_VALUES = 2**20

_compiled = None  # the compiled pass once made; False: numba is not installed


def tile_hits(product: np.ndarray, sign: float, row_bound: np.ndarray, column_bound: np.ndarray,
              any_size: bool = False):
    """((rows, cols, good values) of pairs reaching their row's bound, (cols, rows, good values)
    of pairs reaching their column's bound): a pair reaches a bound when its product value is at
    least (sign > 0) or at most (sign < 0) it (NaN never does). `any_size`: the compiled pass even
    for a small product (numba is loaded already)."""
    kernel = _kernel() if any_size or product.size >= _COMPILED_MIN_VALUES else None
    if kernel is None or not product.flags.c_contiguous:
        return _band_hits(product, sign, row_bound, column_bound)
    height, width = product.shape
    room = 4 * (height + width) + 1024  # once bounds are tight, a few hits a row; more: made again larger
    while True:
        row_hits = (np.empty(room, np.intp), np.empty(room, np.intp), np.empty(room, product.dtype))
        column_hits = (np.empty(room, np.intp), np.empty(room, np.intp), np.empty(room, product.dtype))
        counts = kernel(product, row_bound.astype(product.dtype, copy=False),
                        column_bound.astype(product.dtype, copy=False), sign > 0, *row_hits, *column_hits)
        if max(counts) <= room:
            break
        room = int(max(counts))
    return tuple((first[:count], second[:count], sign * values[:count].astype(np.float64))
                 for (first, second, values), count in zip((row_hits, column_hits), counts))


def banded_hits(multiply, height: int, width: int, sign: float, row_bound: np.ndarray, column_bound: np.ndarray,
                buffer: np.ndarray):
    """tile_hits of a height x width product made a band at a time into `buffer` (BAND_ROWS x
    BAND_COLS values at least) by multiply(r0, r1, c0, c1, out), each band screened while it is in
    cache: products that run faster into a cache-sized output (MKL's bfloat16 one: 1.3 times)."""
    found: list = [[], [], [], [], [], []]
    for r0 in range(0, height, BAND_ROWS):
        r1 = min(height, r0 + BAND_ROWS)
        for c0 in range(0, width, BAND_COLS):
            c1 = min(width, c0 + BAND_COLS)
            band = buffer[: (r1 - r0) * (c1 - c0)].reshape(r1 - r0, c1 - c0)
            multiply(r0, r1, c0, c1, band)
            (rows, cols, values), (ccols, crows, cvalues) = tile_hits(band, sign, row_bound[r0:r1],
                                                                        column_bound[c0:c1], any_size=True)
            for into, part in zip(found, (rows + r0, cols + c0, values, ccols + c0, crows + r0, cvalues)):
                into.append(part)
    parts = [np.concatenate(part) for part in found]
    return tuple(parts[:3]), tuple(parts[3:])


def load_compiled(values: int) -> None:
    """Makes (or loads from disk) the compiled pass in this thread before tiles of `values` values
    are screened in the workers (importing numba takes half a second: not in two threads at once)."""
    if values >= _COMPILED_MIN_VALUES:
        _kernel()


def _kernel():
    """The compiled pass (numba, compiled on first use and cached on disk), or None."""
    global _compiled
    if _compiled is None:
        try:
            import numba
        except ImportError:
            _compiled = False
        else:
            _compiled = numba.njit(nogil=True, cache=True, boundscheck=False)(_scan)
    return _compiled or None


def _scan(product, row_bound, column_bound, higher, rows, cols, values, ccols, crows, cvalues):  # pragma: no cover - compiled
    """The hits of `product` into the six arrays (as tile_hits; a hit past their room is counted,
    not written); returns (row hits, column hits) counted."""
    height, width = product.shape
    room = len(rows)
    found = 0
    cfound = 0
    for i in range(height):
        line = product[i]
        bound = row_bound[i]
        for j0 in range(0, width, _STRETCH):
            # slices, indexed from 0 by the loop: no negative-index test to stop vector instructions
            part, part_bound = line[j0 : j0 + _STRETCH], column_bound[j0 : j0 + _STRETCH]
            met = len(part) < _STRETCH
            if not met:  # a whole stretch: a loop of known length, in vector instructions
                if higher:
                    for j in range(_STRETCH):
                        met = met | (part[j] >= bound) | (part[j] >= part_bound[j])
                else:
                    for j in range(_STRETCH):
                        met = met | (part[j] <= bound) | (part[j] <= part_bound[j])
            if not met:
                continue
            for j in range(len(part)):
                value = part[j]
                if (value >= bound) if higher else (value <= bound):
                    if found < room:
                        rows[found], cols[found], values[found] = i, j0 + j, value
                    found += 1
                if (value >= part_bound[j]) if higher else (value <= part_bound[j]):
                    if cfound < room:
                        ccols[cfound], crows[cfound], cvalues[cfound] = j0 + j, i, value
                    cfound += 1
    return found, cfound


def _band_hits(product: np.ndarray, sign: float, row_bound: np.ndarray, column_bound: np.ndarray | None):
    """tile_hits in numpy (or empty column hits when `column_bound` is None), a cache-sized band of
    rows at a time: each band's row and column bests are compared with the bounds while the band is
    in cache, and only the rows and columns that reach them are looked at value by value."""
    reduce = np.fmax if sign > 0 else np.fmin
    reach = np.greater_equal if sign > 0 else np.less_equal
    height, width = product.shape
    step = max(1, _BAND_BYTES // (width * product.itemsize))
    row_parts, column_parts = [], []
    with np.errstate(invalid="ignore"):
        for b0 in range(0, height, step):
            band, bound = product[b0 : b0 + step], row_bound[b0 : b0 + step]
            rows = np.flatnonzero(reach(reduce.reduce(band, axis=1), bound))
            if len(rows):  # (np.nonzero of a 2-d mask is ten times slower than np.flatnonzero)
                sub = band if 2 * len(rows) > len(band) else band[rows]
                flat = np.flatnonzero(reach(sub, (bound if sub is band else bound[rows])[:, None]))
                at = flat // width
                row_parts.append(((at if sub is band else rows[at]) + b0, flat - at * width, sub.ravel()[flat]))
            if column_bound is None:
                continue
            cols = np.flatnonzero(reach(reduce.reduce(band, axis=0), column_bound))
            if len(cols):
                sub = band if 8 * len(cols) > width else band[:, cols]
                flat = np.flatnonzero(reach(sub, column_bound if sub is band else column_bound[cols]))
                rows = flat // sub.shape[1]
                at = flat - rows * sub.shape[1]
                column_parts.append((at if sub is band else cols[at], rows + b0, sub.ravel()[flat]))
    return _joined(row_parts, sign), _joined(column_parts, sign)


def _joined(parts, sign: float):
    """(index, index, good values) of hits found by parts."""
    if not parts:
        return np.empty(0, np.intp), np.empty(0, np.intp), np.empty(0)
    if len(parts) == 1:
        first, second, values = parts[0]
    else:
        first, second, values = (np.concatenate(column) for column in zip(*parts))
    return first, second, sign * values.astype(np.float64)


def _limits(kth: np.ndarray, slack: np.ndarray, good_threshold) -> tuple[np.ndarray, np.ndarray]:
    """(limit, margin): a pair is kept when its good value reaches its row's limit."""
    margin = 2.0 * slack
    limit = kth - margin
    if good_threshold is not None:
        limit = np.maximum(limit, good_threshold - margin)
    return limit, margin


def _bound(kth: np.ndarray, slack: np.ndarray, good_threshold, sign: float, dtype) -> np.ndarray:
    """Each row's limit as a product value of `dtype`, rounded outwards (no pair that reaches its
    limit is lost to rounding): a pair may rank when its product value reaches (sign > 0) or is
    at most (sign < 0) it."""
    limit, _ = _limits(kth, slack, good_threshold)
    return np.nextafter((sign * limit).astype(dtype), dtype.type(-sign * np.inf))


def _extremes(product: np.ndarray, sign: float, columns: bool, grouped: bool):
    """(best value of each row, of each column or None, of each row's _GROUPS strided groups of
    columns or None) of the product in one pass, a cache-sized band of rows at a time (the
    product itself is larger than the cache: two reductions over it cost a quarter of its
    matmul)."""
    reduce = np.fmax if sign > 0 else np.fmin
    height, width = product.shape
    rows = np.empty(height, product.dtype)
    cols = None
    groups = np.empty((height, _GROUPS), product.dtype) if grouped else None
    span = width // _GROUPS * _GROUPS
    step = max(1, _BAND_BYTES // (width * product.itemsize))
    with np.errstate(invalid="ignore"):
        for b0 in range(0, height, step):
            band = product[b0 : b0 + step]
            if grouped:  # column j is in group j % _GROUPS
                group = reduce.reduce(band[:, :span].reshape(len(band), -1, _GROUPS), axis=1, out=groups[b0 : b0 + step])
                best = reduce.reduce(group, axis=1, out=rows[b0 : b0 + step])
                if span < width:
                    reduce(best, reduce.reduce(band[:, span:], axis=1), out=best)
            else:
                reduce.reduce(band, axis=1, out=rows[b0 : b0 + step])
            if columns:
                top = reduce.reduce(band, axis=0)
                cols = top if cols is None else reduce(cols, top, out=cols)
    return rows, cols, groups


def _row_hits(product: np.ndarray, state, kth: np.ndarray, r0: int, j0: int, sign: float,
              best: np.ndarray, open_rows: np.ndarray, groups: np.ndarray | None):
    """(rows of the part, global cols, good values) of the product's pairs that may rank for its
    rows (`kth`: theirs as the part began; `best`: each row's best product value)."""
    k = state.k
    limit, margin = _limits(kth, state.slack[r0 : r0 + len(kth)], state.good_threshold)
    if len(open_rows) and k < product.shape[1]:  # fewer than k so far: a bound on this tile's k-th best
        if groups is not None:  # the k-th best of k or more disjoint groups' bests is no better
            col = _GROUPS - k if sign > 0 else k - 1
            tile_kth = sign * np.partition(groups[open_rows], col, axis=1)[:, col].astype(np.float64)
        else:
            col = product.shape[1] - k if sign > 0 else k - 1
            tile_kth = sign * np.partition(product[open_rows], col, axis=1)[:, col].astype(np.float64)
        tile_kth[np.isnan(tile_kth)] = -np.inf
        limit[open_rows] = np.maximum(limit[open_rows], tile_kth - margin[open_rows])
    hits = _at_least(product, limit, sign, best)
    width = product.shape[1]
    return hits // width, hits % width + j0, sign * product.ravel()[hits].astype(np.float64)


def _column_hits(product: np.ndarray, k: int, kth: np.ndarray, slack: np.ndarray, good_threshold, sign: float,
                 best: np.ndarray):
    """(cols of the product, rows of the product, good values) of its pairs that may rank for the
    rows its columns stand for (the transposed view; their `kth` and `slack`; `best`: each
    column's best value), found column by column."""
    limit, margin = _limits(kth, slack, good_threshold)
    open_cols = np.flatnonzero(np.isneginf(kth))
    dtype = product.dtype
    if len(open_cols) and k < product.shape[0]:  # fewer than k so far: a bound on this tile's k-th best
        if good_threshold is not None:  # only columns with many pairs past the threshold need it
            bound = np.nextafter((sign * limit[open_cols]).astype(dtype), dtype.type(-sign * np.inf))
            reach = np.greater_equal if sign > 0 else np.less_equal
            with np.errstate(invalid="ignore"):
                many = np.count_nonzero(reach(product[:, open_cols], bound), axis=0) > 4 * k + 16
            open_cols = open_cols[many]
        if len(open_cols):
            limit[open_cols] = np.maximum(limit[open_cols], _column_kth(product, open_cols, k, sign) - margin[open_cols])
    bound = np.nextafter((sign * limit).astype(dtype), dtype.type(-np.inf if sign > 0 else np.inf))
    with np.errstate(invalid="ignore"):
        cols = np.flatnonzero(best >= bound if sign > 0 else best <= bound)
        if len(cols) == 0:
            return cols, cols, np.empty(0)
        if len(cols) > product.shape[1] // 8:  # many columns: one pass over the whole product (a view, maybe)
            sub, cols = product, np.arange(product.shape[1])
            flat = np.flatnonzero(sub >= bound if sign > 0 else sub <= bound)
        else:
            sub = product[:, cols]
            flat = np.flatnonzero(sub >= bound[cols] if sign > 0 else sub <= bound[cols])
    rows, at = np.divmod(flat, sub.shape[1])
    return cols[at], rows, sign * sub[rows, at].astype(np.float64)


def _column_kth(product: np.ndarray, cols: np.ndarray, k: int, sign: float) -> np.ndarray:
    """A good value no better than the k-th best of each column `cols` of the product: the k-th
    best of its _GROUPS strided row groups' bests when it has rows enough (one pass, no partition
    of the columns), else the k-th best itself."""
    height, width = product.shape
    if k * 4 <= _GROUPS and height >= 4 * _GROUPS:
        reduce = np.fmax if sign > 0 else np.fmin
        span = height // _GROUPS * _GROUPS
        with np.errstate(invalid="ignore"):
            groups = reduce.reduce(product[:span].reshape(-1, _GROUPS, width), axis=0)[:, cols]
        col = _GROUPS - k if sign > 0 else k - 1
        tile_kth = sign * np.partition(groups, col, axis=0)[col].astype(np.float64)
    else:
        col = height - k if sign > 0 else k - 1
        part = np.ascontiguousarray(product[:, cols].T)
        tile_kth = sign * np.partition(part, col, axis=1)[:, col].astype(np.float64)
    tile_kth[np.isnan(tile_kth)] = -np.inf
    return tile_kth

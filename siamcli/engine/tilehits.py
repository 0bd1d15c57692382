"""The pairs of a product tile that reach their row's bound and, transposed, their column's.

With numba installed (`pip install 'siamcli[fast]'`) one compiled pass reads the tile once, a
stretch of a row at a time: both tests of a stretch in vector instructions, its values looked at
one by one only when one of them is met. Without numba, numpy bands (see `_band_hits`). Both give
the same hits in the same order (by row, then column).
"""

from __future__ import annotations

import numpy as np

#: Row maxima, column maxima and group maxima of a product are taken a band of rows this large at a time.
_BAND_BYTES = 2**20
#: Values of a row tested at once by the compiled pass before any is looked at one by one (a
#: constant of the compiled code: a loop of known length is made of vector instructions).
_STRETCH = 128
#: Tiles no larger than this take numpy's bands: compiling (or loading the compiled pass) costs more.
_COMPILED_MIN_VALUES = 2**20

_compiled = None  # the compiled pass once made; False: numba is not installed


def tile_hits(product: np.ndarray, sign: float, row_bound: np.ndarray, column_bound: np.ndarray):
    """((rows, cols, good values) of pairs reaching their row's bound, (cols, rows, good values)
    of pairs reaching their column's bound): a pair reaches a bound when its product value is at
    least (sign > 0) or at most (sign < 0) it (NaN never does)."""
    kernel = _kernel() if product.size >= _COMPILED_MIN_VALUES else None
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

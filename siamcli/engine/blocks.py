"""Whole score matrices, block by block, into memory or into a given array."""

from __future__ import annotations

import math
from typing import Callable, Iterator

import numpy as np

from ..errors import InputError
from .comparison import Comparison, whole_tiles


def fill_matrix(comp: Comparison, out: np.ndarray | None = None, block_rows: int | None = None,
                row_range: tuple[int, int] | None = None) -> np.ndarray:
    """Rows row_range (default all) of the score matrix, block by block into `out` (new by default)."""
    r0, r1 = row_range or (0, len(comp.a))
    m = len(comp.b)
    if out is None:
        out = np.empty((r1 - r0, m), dtype=comp.dtype)
    if row_range is None and comp.mirrored:
        return _fill_mirrored(comp, out, block_rows)
    # A kernel that writes into `out` needs no memory for the scores: blocks of whole rows. Into
    # another type (matrix -o --dtype), each block is scored within the budget, then copied.
    direct = comp.metric.writes_into and out.dtype == comp.dtype
    if block_rows:
        br, bc = comp.block_sizes(block_rows)
    else:
        br, bc = comp.matrix_block_sizes() if direct else comp.block_sizes()
    view = None if direct else comp.score_buffer(min(br, r1 - r0), min(bc, m))
    for i0 in range(r0, r1, br):
        i1 = min(r1, i0 + br)
        for j0 in range(0, m, bc):
            j1 = min(m, j0 + bc)
            target = out[i0 - r0 : i1 - r0, j0:j1]
            if view is None:
                comp.block(i0, i1, j0, j1, out=target)
            else:
                target[...] = fitting(comp.block(i0, i1, j0, j1, out=view(i1 - i0, j1 - j0)), out.dtype)
    return out


def _fill_mirrored(comp: Comparison, out: np.ndarray, block_rows: int | None) -> np.ndarray:
    """The score matrix of a set against itself: blocks on and above the diagonal are computed (in
    whole product tiles, as fill_matrix places them: the same scores to the last bit), and every
    entry below the diagonal is the mirror of its pair above it, so the matrix is symmetric. Each
    block is copied to its place and to its mirror's at once, square by square while the square is
    in cache."""
    from ..metrics import kernels

    n = len(comp.a)
    direct = comp.metric.writes_into and out.dtype == comp.dtype
    if block_rows:
        br = bc = max(1, block_rows)
    else:  # square blocks of whole tiles (two, one per thread), within the budget when scored apart
        tile_rows, tile_cols = kernels.PRODUCT_TILE
        bc = whole_tiles(tile_cols, n, 1)
        br = whole_tiles(tile_cols, n, 0)
        if not direct:
            br, bc = (min(br, size) for size in comp.block_sizes())
    # the blocks are scored into one reused buffer (a block of the matrix is not contiguous: a
    # kernel would score it into fresh memory, faulted in page by page)
    view = comp.score_buffer(min(br, n), min(bc, n))
    skipped = 0
    for i0 in range(0, n, br):
        i1 = min(n, i0 + br)
        for j0 in range(0, n, bc):
            j1 = min(n, j0 + bc)
            if j1 <= i0:  # entirely below the diagonal: mirrored from an earlier band
                skipped += (i1 - i0) * (j1 - j0)
                continue
            scores = comp.block(i0, i1, j0, j1, out=view(i1 - i0, j1 - j0))
            _place_with_mirror(out, i0, j0, scores if direct else fitting(scores, out.dtype))
    comp.report(skipped)
    return out


#: Rows and columns of the squares blocks are mirrored and transposed by: a square and its transpose
#: stay in cache (a 2048 x 2048 float32 block transposed in squares of 32-512: 15, 8.5, 7.1, 9.8, 21 ms).
_MIRROR_SQUARE = 128


def _place_with_mirror(out: np.ndarray, i0: int, j0: int, scores: np.ndarray) -> None:
    """out[i, j] = out[j, i] = scores[i - i0, j - j0] for every pair i <= j of the block (a pair
    below the diagonal of `out` gets its value from its mirror's block), square by square on the
    worker threads."""
    from ..metrics import kernels

    height, width = scores.shape
    step = _MIRROR_SQUARE
    starts = range(0, height, step)

    def band(b: int) -> None:
        p0, p1 = starts[b], min(height, starts[b] + step)
        rows = slice(i0 + p0, i0 + p1)
        for q0 in range(0, width, step):
            q1 = min(width, q0 + step)
            if j0 + q1 - 1 < i0 + p0:  # wholly below the diagonal
                continue
            square, cols = scores[p0:p1, q0:q1], slice(j0 + q0, j0 + q1)
            if j0 + q0 > i0 + p1 - 1:  # wholly above it
                out[rows, cols] = square
                out[cols, rows] = square.T
                continue
            at_rows, at_cols = np.arange(rows.start, rows.stop)[:, None], np.arange(cols.start, cols.stop)[None, :]
            np.copyto(out[rows, cols], square, where=at_rows <= at_cols)
            np.copyto(out[cols, rows], square.T, where=(at_rows < at_cols).T)

    kernels.start_each(band, len(starts), threaded=scores.size >= 2**20)()


def fitting(scores: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """scores, or an InputError when a narrower output type (matrix -o --dtype) cannot hold them:
    a finite score is never written as inf."""
    largest = float(np.finfo(dtype).max) if dtype.kind == "f" else math.inf
    if largest >= float(np.finfo(scores.dtype).max):
        return scores
    peak = float(np.fmax.reduce(np.abs(scores), axis=None, initial=0.0))  # NaN (undefined pairs) is left out
    if peak > largest:
        raise InputError(f"scores up to {peak:.4g} do not fit the output type {dtype} (largest {largest:.4g}); "
                         "save them as float64")
    return scores


def converted(scores: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """scores in `dtype` (not copied when they are already), once `fitting` says they fit it."""
    return fitting(scores, dtype).astype(dtype, copy=False)


def matrix_row_blocks(comp: Comparison, most_rows: int | None = None) -> list[tuple[int, int]]:
    """Row ranges of the blocks of whole matrix rows iter_matrix_rows makes (each within the
    memory budget, and of at most `most_rows` rows if given; whole product tiles when it holds one)."""
    n, m = len(comp.a), len(comp.b)
    rows = whole_tiles(min(comp.memory // (16 * m), most_rows or n), n, 0)
    return [(i0, min(n, i0 + rows)) for i0 in range(0, n, rows)]


def iter_matrix_rows(comp: Comparison, dtype=None, into: Callable[[int, int], np.ndarray] | None = None,
                     bands: list[tuple[int, int]] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, block of whole rows) of the score matrix in row order, each block within the
    memory budget (or the given `bands` of rows), in `dtype` (default: the comparison's); computed
    into `into(i0, i1)` when given (a writer's buffer for rows i0:i1). A symmetric self-comparison
    whose whole matrix fits in half the budget computes it once, each pair once (mirrored), and
    yields its blocks of rows."""
    n, dtype = len(comp.a), np.dtype(dtype or comp.dtype)
    bands = bands or matrix_row_blocks(comp)
    if comp.mirrored and n * n * comp.dtype.itemsize <= comp.memory // 2:
        whole = fill_matrix(comp)
        for i0, i1 in bands:
            yield i0, converted(whole[i0:i1], dtype)
        return
    for i0, i1 in bands:
        if into is not None:
            yield i0, fill_matrix(comp, into(i0, i1), row_range=(i0, i1))
        else:
            yield i0, converted(fill_matrix(comp, row_range=(i0, i1)), dtype)


def upper_triangle(i0: int, block: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, float64 score) of the pairs i < j in a block of whole matrix rows that starts at
    row i0 (as iter_matrix_rows yields them): each unordered pair of a self-comparison once."""
    rows, cols = np.nonzero(np.arange(block.shape[1])[None, :] > np.arange(i0, i0 + block.shape[0])[:, None])
    return rows + i0, cols, block[rows, cols].astype(np.float64)

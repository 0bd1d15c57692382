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
    if row_range is None and comp.same and comp.metric.symmetric:
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


def matrix_row_blocks(comp: Comparison) -> list[tuple[int, int]]:
    """Row ranges of the blocks of whole matrix rows iter_matrix_rows makes (each within the
    memory budget, whole product tiles when it holds one)."""
    n, m = len(comp.a), len(comp.b)
    rows = whole_tiles(comp.memory // (16 * m), n, 0)
    return [(i0, min(n, i0 + rows)) for i0 in range(0, n, rows)]


def iter_matrix_rows(comp: Comparison, read_back: Callable[[int, int, int, int], np.ndarray] | None = None,
                     dtype=None) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, block of whole rows) of the score matrix in row order, each block within the
    memory budget, in `dtype` (default: the comparison's). A symmetric self-comparison computes each
    pair once: band by band when `read_back(r0, r1, c0, c1)` gives back rows r0:r1, columns c0:c1 of
    blocks already yielded (a file being written holds them), else at once when the whole matrix
    fits in half the budget (mirrored). With read_back, the caller is done with a block when it
    asks for the next: one block's memory serves them all."""
    n, dtype = len(comp.a), np.dtype(dtype or comp.dtype)
    bands = matrix_row_blocks(comp)
    if not bands:
        return
    symmetric = comp.same and comp.metric.symmetric
    if symmetric and read_back is not None and _band_edges_are_tile_edges(bands):
        yield from _mirrored_bands(comp, bands[0][1], dtype, read_back)
        return
    if symmetric and n * n * comp.dtype.itemsize <= comp.memory // 2:
        whole = fill_matrix(comp)
        for i0, i1 in bands:
            yield i0, fitting(whole[i0:i1], dtype).astype(dtype, copy=False)
        return
    band = np.empty((bands[0][1], len(comp.b)), dtype) if read_back is not None else None
    for i0, i1 in bands:
        if band is not None:
            yield i0, fill_matrix(comp, band[: i1 - i0], row_range=(i0, i1))
        else:
            yield i0, fitting(fill_matrix(comp, row_range=(i0, i1)), dtype).astype(dtype, copy=False)


def _band_edges_are_tile_edges(bands: list[tuple[int, int]]) -> bool:
    """Whether bands of rows, as columns, start where product tiles do (mirrored bands then score
    every pair as the two-set matrix does, to the last bit)."""
    from ..metrics import kernels

    return len(bands) == 1 or (bands[0][1] - bands[0][0]) % kernels.PRODUCT_TILE[1] == 0


def _mirrored_bands(comp: Comparison, height: int, dtype: np.dtype, read_back) -> Iterator[tuple[int, np.ndarray]]:
    """iter_matrix_rows of a symmetric self-comparison, each pair computed once: a band of rows
    takes its blocks left of the diagonal from the bands above it (read back and transposed), and
    computes the rest in blocks of whole tiles; its diagonal block's lower triangle mirrors the upper."""
    n = len(comp.a)
    # the rest of a band's rows in one product where the kernel's copies of them fit (as the two-set
    # matrix's whole rows), into a scratch band: a kernel writes a contiguous block in place
    width = (comp.matrix_block_sizes() if comp.metric.writes_into else comp.block_sizes())[1]
    band = np.empty((min(height, n), n), dtype)
    scratch = comp.score_buffer(min(height, n), width)
    for i0 in range(0, n, height):
        i1 = min(n, i0 + height)
        rows = band[: i1 - i0]
        for j0 in range(0, i0, height):
            _transpose_into(rows[:, j0 : j0 + height], read_back(j0, min(n, j0 + height), i0, i1))
        for j0 in range(i0, n, width):
            j1 = min(n, j0 + width)
            rows[:, j0:j1] = fitting(comp.block(i0, i1, j0, j1, out=scratch(i1 - i0, j1 - j0)), dtype)
        diagonal = rows[:, i0:i1]
        _transpose_into(diagonal, diagonal, below_only=True)
        comp.report((i1 - i0) * i0)
        yield i0, rows


def _transpose_into(dest: np.ndarray, source: np.ndarray, below_only: bool = False) -> None:
    """dest[...] = source.T square by square (each square and its transpose stay in cache: 4.7x
    faster than one transposed copy of a 2048 x 2048 block), on the worker threads; with
    `below_only`, for a square dest that is source, only the entries below its diagonal."""
    from ..metrics import kernels

    step = _MIRROR_SQUARE
    starts = range(0, dest.shape[0], step)

    def band(b: int) -> None:
        p0 = starts[b]
        p1 = min(dest.shape[0], p0 + step)
        for q0 in range(0, p1 if below_only else dest.shape[1], step):
            q1 = min(dest.shape[1], q0 + step)
            if below_only and q0 == p0:  # a square on the diagonal
                square = dest[p0:p1, q0:q1]
                below = np.tril_indices(p1 - p0, -1)
                square[below] = square.T[below]
            else:
                dest[p0:p1, q0:q1] = source[q0:q1, p0:p1].T

    kernels.start_each(band, len(starts), threaded=dest.size >= 2**20)()


def upper_triangle(i0: int, block: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, float64 score) of the pairs i < j in a block of whole matrix rows that starts at
    row i0 (as iter_matrix_rows yields them): each unordered pair of a self-comparison once."""
    rows, cols = np.nonzero(np.arange(block.shape[1])[None, :] > np.arange(i0, i0 + block.shape[0])[:, None])
    return rows + i0, cols, block[rows, cols].astype(np.float64)

"""Whole score matrices, block by block, into memory or into a given array."""

from __future__ import annotations

import math
from typing import Iterator

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
                target[...] = _fitting(comp.block(i0, i1, j0, j1, out=view(i1 - i0, j1 - j0)), out.dtype)
    return out


def _fitting(scores: np.ndarray, dtype: np.dtype) -> np.ndarray:
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


def iter_matrix_rows(comp: Comparison) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, block of whole rows) of the score matrix, each block within the memory budget."""
    for i0, i1 in matrix_row_blocks(comp):
        yield i0, fill_matrix(comp, row_range=(i0, i1))


def upper_triangle(i0: int, block: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, float64 score) of the pairs i < j in a block of whole matrix rows that starts at
    row i0 (as iter_matrix_rows yields them): each unordered pair of a self-comparison once."""
    rows, cols = np.nonzero(np.arange(block.shape[1])[None, :] > np.arange(i0, i0 + block.shape[0])[:, None])
    return rows + i0, cols, block[rows, cols].astype(np.float64)

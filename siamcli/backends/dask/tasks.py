"""The tasks: blocks of the inputs, and what a worker runs on a pair of blocks (the local
engine's own functions), with the merges of their partial results."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from typing import Callable

import numpy as np

from ...engine import (
    Comparison,
    best_per_row_index,
    best_pairs,
    can_screen,
    whole_tiles,
    fill_matrix,
    iter_paired,
    iter_topk,
)
from ...metrics import kernels, ranking_keys
from ...io import EmbeddingSet
from ...results import Ranking
from .inputs import is_dask_array, _open_zarr


#: Rows per block of an in-memory input (a sharded input keeps its shards' blocks).
DEFAULT_BLOCK_ROWS = 65536


#: Partial top-k lists merged per reduction task.
FAN_IN = 4


def _bounds(s: EmbeddingSet, block_rows: int | None, tiled: bool = True) -> list[tuple[int, int]]:
    """Row ranges of the blocks of s: a dask array's own chunks, else `block_rows` rows each.
    `tiled`, without `block_rows`: chunks of at least a product tile's width have each edge
    between them moved down to a multiple of it, so every block's tiles are the local engine's and
    so are scores from matrix products, to the last bit (smaller chunks stay: blocks of fewer rows
    than a tile). Not needed where scores come from the paired kernel (screened rankings): blocks
    across shard edges cost a copy of each block."""
    if is_dask_array(s.vectors):
        sizes = tuple(s.vectors.chunks[0])
        ends = np.cumsum((0,) + sizes)
        tile = max(kernels.PRODUCT_TILE)
        if tiled and block_rows is None and min(sizes[:-1], default=0) >= tile:
            ends = np.unique(np.concatenate([[0], ends[1:-1] - ends[1:-1] % tile, ends[-1:]]))
        return [(int(r0), int(r1)) for r0, r1 in zip(ends[:-1], ends[1:]) if r1 > r0]
    step = max(1, block_rows or DEFAULT_BLOCK_ROWS)
    return [(r0, min(len(s), r0 + step)) for r0 in range(0, len(s), step)]


def _blocks(s: EmbeddingSet, bounds: list[tuple[int, int]]) -> list:
    """One dask Delayed per row range: a chunk of a dask array (loaded by the worker that needs
    it), or the rows of an in-memory array placed in the graph (so a lost block is recomputed
    from the graph when a worker dies, which scattered data would not be)."""
    import dask

    if is_dask_array(s.vectors):
        chunks = tuple(r1 - r0 for r0, r1 in bounds)
        vectors = s.vectors.rechunk((chunks, -1))
        return list(vectors.to_delayed()[:, 0])
    return [dask.delayed(np.ascontiguousarray(s.vectors[r0:r1]), pure=True) for r0, r1 in bounds]


def _grid(comp: Comparison, block_rows: int | None, tiled: bool = True):
    """Row ranges and row blocks of A and of B (a self-comparison's B is its A, block for block)."""
    a_bounds = _bounds(comp.a, block_rows, tiled)
    a_blocks = _blocks(comp.a, a_bounds)
    if comp.same:
        return a_bounds, a_blocks, a_bounds, a_blocks
    b_bounds = _bounds(comp.b, block_rows, tiled)
    return a_bounds, a_blocks, b_bounds, _blocks(comp.b, b_bounds)


def _matrix_grid(comp: Comparison, block_rows: int | None, whole_rows: bool):
    """_grid for writing the matrix, A's blocks split so that the scores one task holds (its block,
    or with `whole_rows` its rows of the whole matrix) stay within the memory budget: blocks of
    65,536 x 65,536 would be 16 GiB. Splits fall on whole product tiles when the budget holds one.
    A mirrored self-comparison (Comparison.mirrored) has B's blocks split alike: its grid is symmetric."""
    a_bounds = _bounds(comp.a, block_rows)
    b_bounds = a_bounds if comp.same else _bounds(comp.b, block_rows)
    width = len(comp.b) if whole_rows else max(j1 - j0 for j0, j1 in b_bounds)
    step = whole_tiles(comp.memory // (2 * width * comp.dtype.itemsize), len(comp.a), 0)
    split = [(r, min(r1, r + step)) for r0, r1 in a_bounds for r in range(r0, r1, step)]
    a_blocks = _blocks(comp.a, split)
    if comp.mirrored and not whole_rows:
        return split, a_blocks, split, a_blocks
    return split, a_blocks, b_bounds, _blocks(comp.b, b_bounds)


def _block_pairs(comp: Comparison, grid, upper: bool = False):
    """(undefined rows of the A block and of the B block, i0, j0, A block, B block, diagonal) for
    every pair of blocks of a grid; `diagonal`: the same rows of a self-comparison on both sides.
    `upper`: only the pairs on and above the diagonal (of a symmetric grid)."""
    a_bounds, a_blocks, b_bounds, b_blocks = grid
    for (i0, i1), ab in zip(a_bounds, a_blocks):
        for (j0, j1), bb in zip(b_bounds, b_blocks):
            if upper and j0 < i0:
                continue
            yield (comp.undefined_a[i0:i1], comp.undefined_b[j0:j1], i0, j0, ab, bb,
                   comp.same and (i0, i1) == (j0, j1))


def _template(comp: Comparison, k: int | None = None) -> Comparison:
    """The comparison's options without its data, shipped to every task. When the whole
    ranking is not screened (a row under the --zero-vector policy, or a large k), no block is:
    every block then ranks by the same kernel as the local engine would."""
    metric = comp.metric
    if k is not None and metric.screen is not None and not can_screen(comp, k):
        metric = replace(metric, screen=None)
    return replace(comp, metric=metric, a=None, b=None, undefined_a=None, undefined_b=None, progress=None)


def _one_thread_per_task() -> None:
    """Dask runs one task per worker thread and starts workers with BLAS limited to one thread;
    the engine's own kernels (row chunks in threads, numba) follow, so cores are not oversubscribed.
    (Per-pair results do not depend on the thread count.)"""
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return  # not in a Dask worker
    kernels.set_threads(1)


def _block_comparison(template: Comparison, a_rows, b_rows, undefined_a, undefined_b, diagonal: bool) -> Comparison:
    """The comparison of one block of A with one block of B. A diagonal block of a
    self-comparison (the same rows on both sides) keeps `same`, so self-pairs are excluded."""
    _one_thread_per_task()
    a = EmbeddingSet(a_rows, None, "A block")
    b = a if diagonal else EmbeddingSet(b_rows, None, "B block")
    return replace(template, a=a, b=b, same=diagonal, undefined_a=undefined_a,
                   undefined_b=undefined_a if diagonal else undefined_b)


def _topk_block(template, a_rows, b_rows, undefined_a, undefined_b, i0, j0, k, threshold, diagonal):
    """(rows, cols, scores) of each row's k best in one block, in global indices (a task)."""
    comp = _block_comparison(template, a_rows, b_rows, undefined_a, undefined_b, diagonal)
    parts = list(iter_topk(comp, k, threshold))
    ranking = Ranking.concat(parts, comp.metric, comp.a, comp.b, "row")
    return ranking.a_index + i0, ranking.b_index + j0, ranking.score


def _topk_pair_block(template, a_rows, b_rows, undefined_a, undefined_b, i0, j0, k, threshold):
    """For a tile above the diagonal of a self-comparison (rows i0.. of A's block, j0.. of B's):
    (rows, cols, scores) of each row's k best among the other block, for A's block's rows and for
    B's, in global indices (a task). Screened rankings take both from one product; others rank
    the block both ways, as the tasks of the two tiles would."""
    from ...engine.selfscreen import block_pair_topk

    _one_thread_per_task()
    split = len(a_rows)
    both = EmbeddingSet(np.concatenate([a_rows, b_rows]), None, "A blocks")
    undefined = np.concatenate([undefined_a, undefined_b])
    comp = replace(template, a=both, b=both, same=True, undefined_a=undefined, undefined_b=undefined)
    if k is not None and comp.mirrored and can_screen(comp, k):
        parts = block_pair_topk(comp, split, k, threshold)
        place = lambda index: np.where(index < split, index + i0, index - split + j0)  # noqa: E731
        return tuple((place(p.a_index), place(p.b_index), p.score) for p in parts)
    return (_topk_block(template, a_rows, b_rows, undefined_a, undefined_b, i0, j0, k, threshold, False),
            _topk_block(template, b_rows, a_rows, undefined_b, undefined_a, j0, i0, k, threshold, False))


def _merge_topk(k: int, higher: bool, *parts):
    """The k best per row of several partial lists, with the engine's tie rule: key (smaller
    is better; NaN last), then column index. Returns (rows, cols, scores, ranks)."""
    rows = np.concatenate([p[0] for p in parts])
    cols = np.concatenate([p[1] for p in parts])
    scores = np.concatenate([p[2] for p in parts])
    order, rank = best_per_row_index(rows, cols, ranking_keys(scores, higher), k)
    return rows[order], cols[order], scores[order], rank


def _tree(parts: list, merge: Callable) -> object:
    """A tree reduction of Delayed parts, FAN_IN at a time (at least one merge, which ranks)."""
    import dask

    while True:
        parts = [dask.delayed(merge, pure=False)(*parts[i : i + FAN_IN]) for i in range(0, len(parts), FAN_IN)]
        if len(parts) == 1:
            return parts[0]


def _paired_block(template, a_rows, b_rows, undefined_a, undefined_b, i0, threshold, diagonal):
    comp = _block_comparison(template, a_rows, b_rows, undefined_a, undefined_b, diagonal)
    ranking = Ranking.concat(list(iter_paired(comp, threshold)), comp.metric, comp.a, comp.b, "paired")
    return ranking.a_index + i0, ranking.score


def _matrix_block(template, a_rows, b_rows, undefined_a, undefined_b, i0, j0, path, diagonal,
                  mirror: bool = False) -> int:
    """Writes one block of the matrix into the .npy at `path` (opened r+), and with `mirror` its
    transpose in the mirrored place; returns its pairs."""
    comp = _block_comparison(template, a_rows, b_rows, undefined_a, undefined_b, diagonal)
    out = np.load(path, mmap_mode="r+")
    block = fill_matrix(comp, out[i0 : i0 + len(comp.a), j0 : j0 + len(comp.b)])
    if mirror and not diagonal:
        out[j0 : j0 + len(comp.b), i0 : i0 + len(comp.a)] = block.T
    out.flush()
    return len(comp.a) * len(comp.b) * (2 if mirror and not diagonal else 1)


def _class_block(template: Comparison, vectors, undefined, codes, ks, i0: int, i1: int, all_pairs: bool):
    """Rows i0:i1 of a self-comparison's matrix, as iter_matrix_rows makes them: the pairs i < j
    among them (scores) and their retrieval tallies (a task)."""
    from ...engine import fill_matrix, upper_triangle
    from ...reports.evaluation import retrieval_counts

    _one_thread_per_task()
    s = EmbeddingSet(vectors, None, "A")
    comp = replace(template, a=s, b=s, same=True, undefined_a=undefined, undefined_b=undefined)
    block = fill_matrix(comp, row_range=(i0, i1))
    values = upper_triangle(i0, block)[2] if all_pairs else None
    return values, retrieval_counts([(i0, block)], codes, comp.metric.higher_is_better, ks)


def _matrix_part(template, a_rows, b_rows, undefined_a, undefined_b, diagonal) -> np.ndarray:
    """One block of the matrix (a task)."""
    return fill_matrix(_block_comparison(template, a_rows, b_rows, undefined_a, undefined_b, diagonal))


#: The name of a shard of rows i0:i1 of a matrix written with `matrix_to_shards`.
SHARD_NAME = re.compile(r"rows-\d{12}-\d{12}\.npy")


def _write_rows(directory: str, i0: int, i1: int, dtype, *parts) -> str:
    """Rows i0:i1 of the matrix, from its blocks in column order, saved as one .npy shard (a task).
    Written under a temporary name and renamed, so a retried task never leaves half a file."""
    from ...files import save_npy

    path = os.path.join(directory, f"rows-{i0:012d}-{i1:012d}.npy")
    partial_path = path + ".partial.npy"
    save_npy(partial_path, np.concatenate(parts, axis=1).astype(dtype, copy=False))
    os.replace(partial_path, path)
    return path


def _even_rows(s: EmbeddingSet) -> EmbeddingSet:
    """s with a dask array's row chunks made equal (the last may be shorter): the largest chunk,
    down to a multiple of a product tile when it holds one, so `_bounds` keeps them as they are
    and they can be a zarr array's (regular) chunks."""
    if not is_dask_array(s.vectors):
        return s
    step = max(s.vectors.chunks[0])
    tile = max(kernels.PRODUCT_TILE)
    step -= step % tile if step >= tile else 0
    return replace(s, vectors=s.vectors.rechunk((step, -1)))


def _chunk_length(bounds: list[tuple[int, int]]) -> int:
    """The longest chunk that no two blocks share: the gcd of the blocks' edges, which is the
    blocks' length when they are equal (the last may be shorter)."""
    starts = [r0 for r0, _ in bounds[1:]]
    return int(np.gcd.reduce(starts)) if starts else max(1, bounds[0][1] if bounds else 1)


def _zarr_block(template, a_rows, b_rows, undefined_a, undefined_b, i0, j0, path, diagonal,
                mirror: bool = False) -> int:
    """Computes one block of the matrix and writes it into the zarr array at `path`, whose chunks
    no other block touches (a task), and with `mirror` its transpose in the mirrored place; returns its pairs."""
    values = _matrix_part(template, a_rows, b_rows, undefined_a, undefined_b, diagonal)
    out = _open_zarr(path, mode="r+")
    out[i0 : i0 + values.shape[0], j0 : j0 + values.shape[1]] = values.astype(out.dtype, copy=False)
    if mirror and not diagonal:
        out[j0 : j0 + values.shape[1], i0 : i0 + values.shape[0]] = values.T.astype(out.dtype, copy=False)
        return 2 * values.size
    return values.size


def _best_block(template, a_rows, b_rows, undefined_a, undefined_b, i0, j0, limit, threshold, diagonal):
    """(a, b, scores) of the `limit` best pairs of one block, in global indices (a task); a
    diagonal block of a self-comparison lists each unordered pair once, as best_pairs does."""
    comp = _block_comparison(template, a_rows, b_rows, undefined_a, undefined_b, diagonal)
    ranking = best_pairs(comp, limit, threshold)
    return ranking.a_index + i0, ranking.b_index + j0, ranking.score


def _merge_best(limit, higher: bool, *parts):
    """The `limit` best of several partial lists: key (NaN last), then a index, then b index."""
    a = np.concatenate([p[0] for p in parts])
    b = np.concatenate([p[1] for p in parts])
    scores = np.concatenate([p[2] for p in parts])
    order = np.lexsort((b, a, ranking_keys(scores, higher)))[:limit]
    return a[order], b[order], scores[order]

"""The operations on a cluster: top-k, paired and listed pairs, best pairs, whole matrices
(in memory, or written by the workers as .npy, shards or zarr), evaluate's scores."""

from __future__ import annotations

import os
from dataclasses import replace
from functools import partial
from typing import Callable

import numpy as np

from ...engine import Comparison, check_counts, matrix_row_blocks
from ...errors import ShapeError, mention
from ...results import MatrixResult, Ranking
from .cluster import _compute, _compute_writes, require_dask, require_zarr, RunStats
from .inputs import _open_zarr, prepare_on_cluster
from .tasks import (
    _best_block,
    _block_pairs,
    _blocks,
    _bounds,
    _chunk_length,
    _class_block,
    _even_rows,
    _grid,
    _matrix_block,
    _matrix_grid,
    _matrix_part,
    _merge_best,
    _merge_topk,
    _paired_block,
    _template,
    _topk_block,
    _topk_pair_block,
    _tree,
    _write_rows,
    _zarr_block,
    SHARD_NAME,
)


def topk(client, a, b=None, metric="cosine", k: int | None = 5, threshold: float | None = None, *,
         block_rows: int | None = None, stats: RunStats | None = None,
         on_submit: Callable[[list], None] | None = None, **options) -> Ranking:
    """For each row of A, its k best rows of B (B None: of A, without self-pairs), computed on
    the cluster; the same Ranking as `siamcli.compare(a, b, metric=..., top_k=k)`.

    a, b: anything `compare` takes, a dask array, or .npy shards (a directory or a glob).
    `options` go to `engine.prepare` (p, cov_from, normalize, zero_vector, memory), which runs
    on the client over the whole inputs: its checks and fitted parameters (mahalanobis) are the
    local engine's. `block_rows`: rows per block of an in-memory input (shards keep theirs).
    `stats`, if given, is filled in (tasks, bytes received); `on_submit(futures)` is called once
    the work is submitted (a progress display).
    """
    require_dask()
    check_counts(k, None)
    comp = prepare_on_cluster(a, b, metric, block_rows=block_rows, **options)
    return topk_of(client, comp, k, threshold, block_rows=block_rows, stats=stats, on_submit=on_submit)


def topk_of(client, comp: Comparison, k: int | None = 5, threshold: float | None = None, *,
            block_rows: int | None = None, stats: RunStats | None = None,
            on_submit: Callable[[list], None] | None = None) -> Ranking:
    """`topk` of a prepared comparison (prepare_on_cluster)."""
    m = len(comp.b)
    template = _template(comp, m if k is None else k)
    a_bounds, a_blocks, b_bounds, b_blocks = _grid(comp, block_rows, tiled=template.metric.screen is None)
    merge = partial(_merge_topk, m if k is None else k, comp.metric.higher_is_better)

    import dask

    template = dask.delayed(template, traverse=False)  # one copy in the graph, not one per task
    task = dask.delayed(_topk_block, pure=False)
    if comp.mirrored:
        finals = _self_topk_graph(comp, template, (a_bounds, a_blocks), k, threshold, merge)
        return _topk_ranking(comp, _compute(client, finals, stats, on_submit))
    finals = []
    for i, ((i0, i1), a_rows) in enumerate(zip(a_bounds, a_blocks)):
        parts = [task(template, a_rows, b_rows, comp.undefined_a[i0:i1], comp.undefined_b[j0:j1], i0, j0,
                      k, threshold, comp.same and i == j)
                 for j, ((j0, j1), b_rows) in enumerate(zip(b_bounds, b_blocks))]
        finals.append(_tree(parts, merge))
    return _topk_ranking(comp, _compute(client, finals, stats, on_submit))


def _self_topk_graph(comp: Comparison, template, grid, k, threshold, merge) -> list:
    """A self-comparison's top-k tasks: only tiles on and above the diagonal; each tile above it
    ranks both its blocks' rows (one product), and each row block merges its parts."""
    import dask

    bounds, blocks = grid
    diagonal = dask.delayed(_topk_block, pure=False)
    pair = dask.delayed(_topk_pair_block, pure=False, nout=2)
    parts: list[list] = [[] for _ in bounds]
    for i, ((i0, i1), a_rows) in enumerate(zip(bounds, blocks)):
        ua = comp.undefined_a[i0:i1]
        parts[i].append(diagonal(template, a_rows, a_rows, ua, ua, i0, i0, k, threshold, True))
        for j in range(i + 1, len(bounds)):
            (j0, j1), b_rows = bounds[j], blocks[j]
            rows_side, columns_side = pair(template, a_rows, b_rows, ua, comp.undefined_a[j0:j1], i0, j0, k, threshold)
            parts[i].append(rows_side)
            parts[j].append(columns_side)
    return [_tree(row_parts, merge) for row_parts in parts]


def _topk_ranking(comp: Comparison, found) -> Ranking:
    rows, cols, scores, ranks = (np.concatenate([f[n] for f in found]) for n in range(4))
    return Ranking(comp.metric, comp.a, comp.b, rows.astype(np.int64), cols.astype(np.int64),
                   scores.astype(np.float64), ranks.astype(np.int64), "row")


def paired(client, a, b=None, metric="cosine", threshold: float | None = None, *,
           block_rows: int | None = None, stats: RunStats | None = None,
           on_submit: Callable[[list], None] | None = None, **options) -> Ranking:
    """Row i of A against row i of B, in row blocks on the cluster; the same Ranking as
    `siamcli.compare(a, b, metric=..., paired=True)`."""
    require_dask()
    comp = prepare_on_cluster(a, b, metric, block_rows=block_rows, **options)
    return paired_of(client, comp, threshold, block_rows=block_rows, stats=stats, on_submit=on_submit)


def paired_of(client, comp: Comparison, threshold: float | None = None, *, block_rows: int | None = None,
              stats: RunStats | None = None, on_submit: Callable[[list], None] | None = None) -> Ranking:
    """`paired` of a prepared comparison (prepare_on_cluster)."""
    if len(comp.b) != len(comp.a):
        raise ShapeError(f"{mention('paired')} needs the same number of rows: {comp.a.source} has {len(comp.a)}, "
                         f"{comp.b.source} has {len(comp.b)}")
    template = _template(comp)
    bounds = _bounds(comp.a, block_rows)
    a_blocks = _blocks(comp.a, bounds)
    b_blocks = a_blocks if comp.same else _blocks(comp.b, bounds)

    import dask

    template = dask.delayed(template, traverse=False)
    task = dask.delayed(_paired_block, pure=False)
    graph = [task(template, ab, bb, comp.undefined_a[i0:i1], comp.undefined_b[i0:i1], i0, threshold, comp.same)
             for (i0, i1), ab, bb in zip(bounds, a_blocks, b_blocks)]
    found = _compute(client, graph, stats, on_submit)
    rows = np.concatenate([f[0] for f in found]).astype(np.int64)
    scores = np.concatenate([f[1] for f in found]).astype(np.float64)
    return Ranking(comp.metric, comp.a, comp.b, rows, rows.copy(), scores, np.ones(len(rows), np.int64), "paired")


def _check_output(path: str, a, b, options: dict, folder: bool = False, replaceable=None) -> None:
    """Before any work: `path` can be written and is none of the inputs given as paths."""
    from ...files import check_outputs, check_target

    check_target(path, folder=folder, replaceable=replaceable)
    inputs = [("input", x) for x in (a, b) if isinstance(x, (str, os.PathLike))]
    check_outputs([("path", path)], [(label, os.fspath(x)) for label, x in inputs]
                  + [("cov_from", options.get("cov_from"))])


def matrix_to_npy(client, a, b=None, metric="cosine", *, path: str | os.PathLike, dtype=None,
                  block_rows: int | None = None, stats: RunStats | None = None,
                  on_submit: Callable[[list], None] | None = None, **options) -> MatrixResult:
    """The score matrix of A against B (or A against itself) written into a .npy file by the
    workers, block by block; the client never holds it. The file is made here under a temporary
    name beside `path` (its space reserved: a full disk fails here), written by every worker (they
    must share its filesystem: one machine, or a shared disk whose memory maps are coherent), and
    renamed to `path` once every block is in (see siamcli.files): a failed run leaves the old file.
    Returns a MatrixResult over the file (memory-mapped, read-only).
    `dtype`: the file's dtype (default: the compute dtype, as `siamcli matrix -o x.npy`)."""
    require_dask()
    _check_output(os.fspath(path), a, b, options)
    comp = prepare_on_cluster(a, b, metric, block_rows=block_rows, **options)
    return matrix_to_npy_of(client, comp, path=path, dtype=dtype, block_rows=block_rows, stats=stats,
                            on_submit=on_submit)


def matrix_to_npy_of(client, comp: Comparison, *, path: str | os.PathLike, dtype=None, block_rows: int | None = None,
                     stats: RunStats | None = None, on_submit: Callable[[list], None] | None = None) -> MatrixResult:
    """`matrix_to_npy` of a prepared comparison; `path` is checked by the caller (files.check_target)."""
    from ...files import Output, reserve_npy

    import dask

    with Output(path) as out:  # out.temp: an absolute path, the same for every worker
        reserve_npy(out.temp, (len(comp.a), len(comp.b)), np.dtype(dtype or comp.dtype))  # the workers write it
        template = dask.delayed(_template(comp), traverse=False)
        task = dask.delayed(_matrix_block, pure=False)
        mirror = comp.mirrored  # blocks above the diagonal also write their mirror
        graph = [task(template, ab, bb, ua, ub, i0, j0, out.temp, diagonal, mirror)
                 for ua, ub, i0, j0, ab, bb, diagonal in _block_pairs(comp, _grid(comp, block_rows), upper=mirror)]
        _compute_writes(client, graph, stats, on_submit)
    return MatrixResult(comp.metric, comp.a, comp.b, np.load(out.target, mmap_mode="r"))


def pair_scores(client, comp: Comparison, left=None, right=None, *, block_rows: int | None = None,
                on_submit: Callable[[list], None] | None = None) -> np.ndarray:
    """`engine.pair_scores` on the cluster: each block of the listed pairs (row i with row i when
    none are listed) is gathered here and scored by a worker with the comparison's own paired
    kernel, so the float64 scores are the local engine's, bit for bit (the kernel works row by
    row). For `siamcli evaluate --scheduler`: `comp` is prepared here, on the whole inputs."""
    require_dask()
    n = len(comp.a) if left is None else len(left)
    step = block_rows or max(1, comp.memory // (comp.a.dim * 32))

    import dask

    template = dask.delayed(_template(comp), traverse=False)
    task = dask.delayed(_paired_block, pure=False)
    graph = []
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        ai = np.arange(i0, i1) if left is None else np.asarray(left[i0:i1])
        bi = ai if right is None else np.asarray(right[i0:i1])
        graph.append(task(template, np.asarray(comp.a.vectors[ai]), np.asarray(comp.b.vectors[bi]),
                          comp.undefined_a[ai], comp.undefined_b[bi], i0, None, False))
    found = _compute(client, graph, None, on_submit)
    return np.concatenate([f[1] for f in found]).astype(np.float64) if found else np.empty(0)


def class_pair_scores(client, comp: Comparison, codes: np.ndarray, ks, all_pairs: bool,
                      on_submit: Callable[[list], None] | None = None):
    """`evaluation.class_pair_scores` on the cluster: each block of whole matrix rows (the blocks
    iter_matrix_rows makes) computed by a worker, which returns its pairs' scores and retrieval
    tallies, never the block; the same figures as the local pass, bit for bit."""
    require_dask()
    n = len(comp.a)
    blocks = matrix_row_blocks(comp)

    import dask

    template = dask.delayed(_template(comp), traverse=False)
    vectors = dask.delayed(np.asarray(comp.a.vectors), traverse=False)
    undefined = dask.delayed(comp.undefined_a, traverse=False)
    shared_codes = dask.delayed(np.asarray(codes), traverse=False)
    task = dask.delayed(_class_block, pure=False)
    graph = [task(template, vectors, undefined, shared_codes, tuple(ks), i0, i1, all_pairs) for i0, i1 in blocks]
    found = _compute(client, graph, None, on_submit)
    tallies = [f[1] for f in found]
    if not all_pairs:
        return None, None, tallies
    same = []
    for i0, i1 in blocks:  # the same pair order as engine.upper_triangle: row by row, j > i
        r, c = np.nonzero(np.arange(n)[None, :] > np.arange(i0, i1)[:, None])
        same.append(codes[r + i0] == codes[c])
    return np.concatenate([f[0] for f in found]), np.concatenate(same), tallies


def shard_folder_problem(path: str) -> str | None:
    """Why the folder at `path` must not be replaced by a new folder of shards (it holds files
    that are not matrix shards, which would be lost), or None."""
    try:
        others = sorted(name for name in os.listdir(path) if not SHARD_NAME.fullmatch(name))
    except OSError:
        return None  # the write itself says what is wrong
    if others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        return f"holds files that are not matrix shards ({shown}), which a new matrix would replace"
    return None


def matrix_to_shards(client, a, b=None, metric="cosine", *, directory: str | os.PathLike, dtype=None,
                     block_rows: int | None = None, stats: RunStats | None = None,
                     on_submit: Callable[[list], None] | None = None, **options) -> list[str]:
    """The score matrix of A against B (or A against itself) as .npy shards of whole rows,
    `rows-<first>-<end>.npy` in `directory`, each written by the worker that assembled it from
    its blocks; `load_shards` reads them back in row order. The workers fill a new folder beside
    `directory` (they must share its filesystem), which replaces `directory` whole once every
    shard is in (see siamcli.files): no shard of an earlier run survives, and a failed run leaves
    the old folder as it was. A folder holding other files is refused. Returns the shards' paths."""
    require_dask()
    _check_output(os.fspath(directory), a, b, options, folder=True, replaceable=shard_folder_problem)
    comp = prepare_on_cluster(a, b, metric, block_rows=block_rows, **options)
    return matrix_to_shards_of(client, comp, directory=directory, dtype=dtype, block_rows=block_rows, stats=stats,
                               on_submit=on_submit)


def matrix_to_shards_of(client, comp: Comparison, *, directory: str | os.PathLike, dtype=None,
                        block_rows: int | None = None, stats: RunStats | None = None,
                        on_submit: Callable[[list], None] | None = None) -> list[str]:
    """`matrix_to_shards` of a prepared comparison; `directory` is checked by the caller."""
    from ...files import Output

    dtype = np.dtype(dtype or comp.dtype)
    template = _template(comp)
    a_bounds, a_blocks, b_bounds, b_blocks = _matrix_grid(comp, block_rows, whole_rows=True)

    import dask

    template = dask.delayed(template, traverse=False)
    part = dask.delayed(_matrix_part, pure=False)
    write = dask.delayed(_write_rows, pure=False)
    with Output(directory, folder=True, replaceable=shard_folder_problem) as out:
        graph = [write(out.temp, i0, i1, dtype,
                       *[part(template, ab, bb, comp.undefined_a[i0:i1], comp.undefined_b[j0:j1],
                              comp.same and (i0, i1) == (j0, j1))
                         for (j0, j1), bb in zip(b_bounds, b_blocks)])
                 for (i0, i1), ab in zip(a_bounds, a_blocks)]
        written = _compute_writes(client, graph, stats, on_submit)
    return [os.path.join(os.path.abspath(directory), os.path.basename(p)) for p in written]


def zarr_folder_problem(path: str) -> str | None:
    """Why the folder at `path` must not be replaced by a new zarr array (it is not one), or None."""
    if not any(os.path.isfile(os.path.join(path, name)) for name in ("zarr.json", ".zarray")):
        return "exists and is not a zarr array"
    return None


def matrix_to_zarr(client, a, b=None, metric="cosine", *, path: str | os.PathLike, dtype=None,
                   block_rows: int | None = None, stats: RunStats | None = None,
                   on_submit: Callable[[list], None] | None = None, **options) -> MatrixResult:
    """The score matrix of A against B (or A against itself) as a zarr array at `path` whose
    chunks are the blocks, each written by the worker that computed it (the workers share the
    filesystem of `path`); the client receives a count per block. Its attributes name the metric.

    The array is built in a new folder beside `path` and replaces the zarr array there whole once
    every block is in (see siamcli.files): a failed run leaves the old array (or none) at `path`.
    Returns a MatrixResult over the new array (read-only). `dtype`: a float type (default: the
    compute dtype)."""
    require_dask()
    require_zarr()
    _check_output(os.fspath(path), a, b, options, folder=True, replaceable=zarr_folder_problem)
    comp = prepare_on_cluster(a, b, metric, block_rows=block_rows, **options)
    return matrix_to_zarr_of(client, comp, path=path, dtype=dtype, block_rows=block_rows, stats=stats,
                             on_submit=on_submit)


def matrix_to_zarr_of(client, comp: Comparison, *, path: str | os.PathLike, dtype=None, block_rows: int | None = None,
                      stats: RunStats | None = None, on_submit: Callable[[list], None] | None = None) -> MatrixResult:
    """`matrix_to_zarr` of a prepared comparison; `path` is checked by the caller."""
    from ...files import Output

    require_zarr()
    import zarr

    even_a = _even_rows(comp.a)
    comp = replace(comp, a=even_a, b=even_a if comp.same else _even_rows(comp.b))
    grid = _matrix_grid(comp, block_rows, whole_rows=False)

    import dask

    template = dask.delayed(_template(comp), traverse=False)
    task = dask.delayed(_zarr_block, pure=False)
    with Output(path, folder=True, replaceable=zarr_folder_problem) as built:
        out = zarr.open_array(built.temp, mode="w", shape=(len(comp.a), len(comp.b)),
                              chunks=(_chunk_length(grid[0]), _chunk_length(grid[2])),
                              dtype=np.dtype(dtype or comp.dtype), fill_value=np.nan)
        out.attrs.update(metric=comp.metric.name, higher_is_better=comp.metric.higher_is_better)
        mirror = comp.mirrored
        graph = [task(template, ab, bb, ua, ub, i0, j0, built.temp, diagonal, mirror)
                 for ua, ub, i0, j0, ab, bb, diagonal in _block_pairs(comp, grid, upper=mirror)]
        _compute_writes(client, graph, stats, on_submit)
    return MatrixResult(comp.metric, comp.a, comp.b, _open_zarr(built.target))


def best_overall(client, a, b=None, metric="cosine", limit: int | None = None, threshold: float | None = None, *,
                 block_rows: int | None = None, stats: RunStats | None = None,
                 on_submit: Callable[[list], None] | None = None, **options) -> Ranking:
    """The `limit` best pairs overall (None: all), as `siamcli.compare(a, b, limit=...)`: each
    block's best on a worker, merged in a tree; a self-comparison lists each unordered pair once
    (blocks below the diagonal are skipped)."""
    require_dask()
    check_counts(None, limit)
    comp = prepare_on_cluster(a, b, metric, block_rows=block_rows, **options)
    return best_overall_of(client, comp, limit, threshold, block_rows=block_rows, stats=stats, on_submit=on_submit)


def best_overall_of(client, comp: Comparison, limit: int | None = None, threshold: float | None = None, *,
                    block_rows: int | None = None, stats: RunStats | None = None,
                    on_submit: Callable[[list], None] | None = None) -> Ranking:
    """`best_overall` of a prepared comparison (prepare_on_cluster)."""
    import dask

    template = dask.delayed(_template(comp), traverse=False)
    task = dask.delayed(_best_block, pure=False)
    parts = [task(template, ab, bb, ua, ub, i0, j0, limit, threshold, diagonal)
             for ua, ub, i0, j0, ab, bb, diagonal in _block_pairs(comp, _grid(comp, block_rows))
             if not (comp.mirrored and j0 < i0)]
    [found] = _compute(client, [_tree(parts, partial(_merge_best, limit, comp.metric.higher_is_better))],
                       stats, on_submit)
    a_index, b_index, scores = found
    return Ranking(comp.metric, comp.a, comp.b, a_index.astype(np.int64), b_index.astype(np.int64),
                   scores.astype(np.float64), np.arange(1, len(scores) + 1), "overall")


def matrix_of(client, comp: Comparison, *, block_rows: int | None = None, stats: RunStats | None = None,
              on_submit: Callable[[list], None] | None = None) -> np.ndarray:
    """The whole score matrix of a prepared comparison, its blocks computed by the workers and
    gathered here (for a matrix printed, or saved as .csv): the blocks of `matrix_to_zarr`, so the
    local engine's scores to the last bit."""
    require_dask()
    grid = _matrix_grid(comp, block_rows, whole_rows=False)

    import dask

    template = dask.delayed(_template(comp), traverse=False)
    part = dask.delayed(_matrix_part, pure=False)
    places, graph = [], []
    mirror = comp.mirrored  # blocks on and above the diagonal, each placed twice
    for ua, ub, i0, j0, ab, bb, diagonal in _block_pairs(comp, grid, upper=mirror):
        places.append((i0, j0, mirror and not diagonal))
        graph.append(part(template, ab, bb, ua, ub, diagonal))
    out = np.empty((len(comp.a), len(comp.b)), dtype=comp.dtype)
    for (i0, j0, twice), block in zip(places, _compute(client, graph, stats, on_submit)):
        out[i0 : i0 + block.shape[0], j0 : j0 + block.shape[1]] = block
        if twice:
            out[j0 : j0 + block.shape[1], i0 : i0 + block.shape[0]] = block.T
    return out

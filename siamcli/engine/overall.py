"""The best pairs overall (compare --limit, --limit all --threshold): blocks of scores, each row
looked at only when its best score can enter the list."""

from __future__ import annotations

import numpy as np

from ..results import Ranking
from .comparison import Comparison, whole_tiles
from .ranking import _row_steps

#: best_pairs merges its found pairs once they outnumber the best so far and this many (few merges);
#: until the list is full, as soon as it could be (its bound then dismisses most rows at once).
_MERGE_AFTER = 2**16


def _block_sizes(comp: Comparison, block_rows: int | None) -> tuple[int, int]:
    """A self-comparison's blocks are squares one product tile wide (whole tiles: the scores are
    those of any other block size), so those across the diagonal waste little; others as ever."""
    from ..metrics import kernels

    if block_rows is not None or not comp.mirrored:
        return comp.block_sizes(block_rows)
    br, bc = comp.block_sizes()
    width = kernels.PRODUCT_TILE[1]
    if br < width:  # a small budget: its own blocks
        return br, bc
    n = len(comp.a)
    return whole_tiles(width, n, 0), whole_tiles(width, n, 1)


def _reaching_rows(comp: Comparison, chunk: np.ndarray, key_bound: float) -> np.ndarray:
    """Rows of a chunk of scores with some score whose ranking key may be <= key_bound, found by
    one reduction in the scores' own type (the bound rounded outwards): most rows, once the list
    is full, have none."""
    if not np.isfinite(key_bound):
        return np.arange(chunk.shape[0])
    dtype = chunk.dtype
    with np.errstate(invalid="ignore"):
        if comp.metric.higher_is_better:  # key -s <= bound: s >= -bound
            edge = np.nextafter(dtype.type(-key_bound), dtype.type(-np.inf))
            return np.flatnonzero(np.fmax.reduce(chunk, axis=1) >= edge)
        edge = np.nextafter(dtype.type(key_bound), dtype.type(np.inf))
        return np.flatnonzero(np.fmin.reduce(chunk, axis=1) <= edge)


def _keys_of(comp: Comparison, scores: np.ndarray, rows: np.ndarray, j0: int, threshold) -> np.ndarray:
    """Ranking keys of the rows `rows` (global row numbers) of a block of scores starting at
    column j0: NaN for pairs left out (of a self-comparison the self-pairs, and when mirrored every
    pair below the diagonal too; pairs failing the threshold)."""
    keys = comp.keys(scores)
    if comp.same and j0 <= rows.max(initial=-1):
        gj = np.arange(j0, j0 + scores.shape[1])[None, :]
        keys[(gj <= rows[:, None]) if comp.mirrored else (gj == rows[:, None])] = np.nan
    if threshold is not None:
        keys[keys > comp.key_threshold(threshold)] = np.nan
    return keys


def _chunk_pairs(comp: Comparison, chunk: np.ndarray, first_row: int, j0: int, bound, key_threshold: float,
                 threshold, limit: int | None):
    """(rows, cols, keys, scores) of the pairs of a chunk of scores (rows first_row.., columns j0..)
    at least as good as `bound`, at most its `limit` best (and ties); None when no row reaches it."""
    rows = _reaching_rows(comp, chunk, min(bound, key_threshold))
    if not len(rows):
        return None
    sub = chunk if len(rows) == chunk.shape[0] else chunk[rows]
    keys = _keys_of(comp, sub, rows + first_row, j0, threshold)
    with np.errstate(invalid="ignore"):
        valid = keys <= bound  # NaN (left out) fails
    if limit is not None and np.count_nonzero(valid) > limit:
        kth = np.partition(keys[valid], limit - 1)[limit - 1]
        valid &= keys <= kth
    at, cols = np.nonzero(valid)
    return rows[at] + first_row, cols + j0, keys[at, cols].astype(np.float64), sub[at, cols].astype(np.float64)


def best_pairs(comp: Comparison, limit: int | None, threshold: float | None = None,
               block_rows: int | None = None) -> Ranking:
    """The `limit` best pairs overall (all with None). A self-comparison lists each unordered pair once,
    from the blocks on and above the diagonal only (Comparison.mirrored); under an asymmetric metric,
    every ordered pair but the self-pairs.

    Blocks are ranked in row chunks (_SELECT_CHUNK_BYTES); a row is looked at only if its best
    score reaches the limit-th best key so far (and the threshold); a chunk keeps its pairs at
    least as good as that key (ties too: they may still win on index) and at most its own
    `limit` best, and these are merged with the best so far once they outnumber them."""
    n, m = len(comp.a), len(comp.b)
    br, bc = _block_sizes(comp, block_rows)
    best = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0))  # rows, cols, keys, scores
    found: list[tuple[np.ndarray, ...]] = []
    found_count = 0
    bound = np.float64(np.inf)  # the limit-th best key so far
    key_threshold = np.inf if threshold is None else float(comp.key_threshold(threshold))

    def merge():
        """The best so far and the found pairs, sorted: each column is joined and each part
        dropped in turn, so a merge of many pairs (--limit all) holds few copies of them."""
        nonlocal best, found, found_count, bound
        parts = [list(best), *(list(part) for part in found)]
        best, found, found_count = (), [], 0
        columns = []
        for i in range(4):
            columns.append(np.concatenate([part[i] for part in parts]))
            for part in parts:
                part[i] = None
        order = np.lexsort((columns[1], columns[0], columns[2]))[:limit]
        for i in range(4):
            columns[i] = columns[i][order]
        best = tuple(columns)
        if limit is not None and len(order) == limit:
            bound = np.float64(best[2][-1])

    view = comp.score_buffer(min(br, n), min(bc, m))
    for i0 in range(0, n, br):
        i1 = min(n, i0 + br)
        for j0 in range(0, m, bc):
            j1 = min(m, j0 + bc)
            if comp.mirrored and j1 <= i0 + 1:
                comp.report((i1 - i0) * (j1 - j0))
                continue  # entirely on or below the diagonal
            scores = comp.block(i0, i1, j0, j1, out=view(i1 - i0, j1 - j0))
            starts, step = _row_steps(i1 - i0, j1 - j0)
            for r0 in starts:
                part = _chunk_pairs(comp, scores[r0 : r0 + step], i0 + r0, j0, bound, key_threshold, threshold, limit)
                if part is None:
                    continue
                found.append(part)
                found_count += len(part[0])
                if limit is not None and (found_count > max(limit, _MERGE_AFTER)
                                          or (np.isinf(bound) and found_count >= limit)):
                    merge()
    merge()
    return Ranking(comp.metric, comp.a, comp.b, best[0], best[1], best[3], np.arange(1, len(best[3]) + 1), "overall")

"""Rankings: each row's k best (screened or by blocks) and the best pairs overall."""

from __future__ import annotations

import contextlib
import threading
from functools import partial
from typing import Iterator

import numpy as np

from ..metrics import ScoreOutOfRange
from ..results import Ranking
from . import bfloat16
from .comparison import _CANDIDATE_BYTES, _FIRST_BLOCK_COLS, EXACT_ROWS_PER_CHUNK, Comparison, _gather, _out_of_range


# ---------------------------------------------------------------- selection helpers


def _row_candidates(keys: np.ndarray, k: int):
    """(row, col, key) of entries that may be among the k best of their row (ties included)."""
    if k < keys.shape[1]:
        kth = np.partition(keys, k - 1, axis=1)[:, k - 1 : k]  # NaN (excluded) sorts last
        mask = (keys <= kth) | (np.isnan(kth) & ~np.isnan(keys))
    else:
        mask = ~np.isnan(keys)
    flat = np.flatnonzero(mask)
    rows, cols = flat // keys.shape[1], flat % keys.shape[1]
    return rows, cols, keys[rows, cols]


#: A block's scores are ranked in row chunks of about this many bytes, so that the keys and masks
#: made for them stay this small whatever the block's size (the budget is the block's scores).
_SELECT_CHUNK_BYTES = 2**21


def _row_steps(rows: int, width: int) -> tuple[range, int]:
    """(starts, step) of row chunks of a block `width` scores wide (see _SELECT_CHUNK_BYTES)."""
    step = max(1, _SELECT_CHUNK_BYTES // max(1, 8 * width))
    return range(0, rows, step), step


# ---------------------------------------------------------------- rankings


def iter_topk(comp: Comparison, k: int | None, threshold: float | None = None,
              block_rows: int | None = None) -> Iterator[Ranking]:
    """For each row of A, its k best rows of B (all with k=None), one Ranking per row block.

    Each row keeps its running k-th best key; once a row has k entries, only scores strictly
    better than that key are candidates (ties with later, larger indices lose), so most of a
    block is dismissed by one comparison.
    """
    n, m = len(comp.a), len(comp.b)
    k = m if k is None else k
    if can_screen(comp, k):
        from .selfscreen import self_screen_fits, self_screened_topk

        screened = self_screened_topk if self_screen_fits(comp, k) else _screened_topk
        yield from screened(comp, k, threshold, block_rows)
        return
    br, bc = comp.block_sizes(block_rows, candidates=min(k, m))
    higher = comp.metric.higher_is_better
    view = comp.score_buffer(min(br, n), min(bc, m))
    for i0 in range(0, n, br):
        i1 = min(n, i0 + br)
        rows_n = i1 - i0
        state = (np.empty(0, np.intp), np.empty(0, np.intp), np.empty(0), np.empty(0))  # rows, cols, keys, scores
        kth = np.full(rows_n, np.inf)
        full = np.zeros(rows_n, dtype=bool)
        for j0, j1 in _column_blocks(m, bc, k):
            scores = comp.block(i0, i1, j0, j1, out=view(i1 - i0, j1 - j0))
            found = []
            if full.any():
                # rows still filling get a limit nothing can beat; they are handled below
                limit = np.where(full, -kth if higher else kth, np.inf if higher else -np.inf)
                found.append(_better_entries(scores, limit, higher))
            open_rows = np.flatnonzero(~full)
            if len(open_rows):
                found.append(_open_row_candidates(comp, scores, open_rows, i0, j0, k, threshold))
            rows = np.concatenate([f[0] for f in found])
            cols = np.concatenate([f[1] for f in found])
            if comp.same:  # self-pairs excluded by index, whatever their score
                keep = rows + i0 != cols + j0
                rows, cols = rows[keep], cols[keep]
            cand_scores = scores[rows, cols].astype(np.float64)
            if threshold is not None:
                keep = comp.passes(cand_scores, threshold)
                rows, cols, cand_scores = rows[keep], cols[keep], cand_scores[keep]
            merged = (np.concatenate([state[0], rows]), np.concatenate([state[1], cols + j0]),
                      np.concatenate([state[2], comp.keys(cand_scores)]), np.concatenate([state[3], cand_scores]))
            order, state_rank = best_per_row_index(merged[0], merged[1], merged[2], k)
            state = tuple(x[order] for x in merged)
            counts = np.bincount(state[0], minlength=rows_n)
            full = counts >= k
            last = np.flatnonzero(state_rank == k)
            kth[state[0][last]] = state[2][last]
        yield Ranking(comp.metric, comp.a, comp.b, state[0] + i0, state[1], state[3], state_rank, "row")


#: Screened rankings: gallery columns per product block, and bytes of one product chunk (kept in
#: cache while it is compared with its rows' bounds).
_SCREEN_BLOCK_COLS = 4096
_SCREEN_CHUNK_BYTES = 2**24


def can_screen(comp: Comparison, k: int) -> bool:
    """Rankings of metrics with a product screen, when no row follows the --zero-vector policy
    and k is small enough that most pairs are dismissed."""
    return (comp.metric.screen is not None and not comp.undefined_a.any() and not comp.undefined_b.any()
            and k <= _SCREEN_BLOCK_COLS // 4 and comp.screen_is_safe())


def _screened_topk(comp: Comparison, k: int, threshold: float | None, block_rows: int | None) -> Iterator[Ranking]:
    """iter_topk through the metric's Screen. Product values err by at most s (the screen's
    slack), so a pair among a row's k best has a product value within 2s of the row's running
    k-th best product value: one comparison per product chunk (kept in cache) dismisses almost
    every pair. The few kept are scored exactly by the paired kernel at the end of the row block,
    which picks the k best: every reported score is the paired kernel's."""
    from ..metrics import kernels

    screen = comp.metric.screen.for_params(comp.params)
    n, m = len(comp.a), len(comp.b)
    sign = 1.0 if screen.higher else -1.0  # "good" = sign * product value: larger is closer
    d = comp.a.dim
    good_threshold = None if threshold is None else sign * float(screen.value(np.float64(threshold)))
    # one product chunk per thread, and a copy or two of its rows while they are short of k candidates
    chunk_bytes = min(_SCREEN_CHUNK_BYTES, comp.memory // (8 * kernels.threads()))
    bc = max(1, block_rows if block_rows is not None else
             min(m, _SCREEN_BLOCK_COLS, chunk_bytes // (64 * comp.dtype.itemsize)))
    half = bfloat16.usable(screen, comp.dtype, n * m * (d + 2)) and bfloat16.pays(comp, screen, k, good_threshold, bc)
    if block_rows is not None:
        br = max(1, block_rows)
    else:  # the product lives in small chunks: a row block holds its prepared rows and its candidates
        value_bytes = comp.dtype.itemsize + (bfloat16.EXTRA_BYTES if half else 0)
        br = max(1, min(n, comp.memory // (4 * (d + 2) * value_bytes + _CANDIDATE_BYTES * k)))
    for i0 in range(0, n, br):
        yield _screened_rows(comp, k, threshold, good_threshold, i0, min(n, i0 + br), bc, chunk_bytes, half)


def _screened_rows(comp: Comparison, k: int, threshold, good_threshold, i0: int, i1: int, bc: int,
                   chunk_bytes: int, half: bool = False) -> Ranking:
    """The ranking of rows i0:i1 of A (see _screened_topk): the product of each row chunk with
    each gallery block is a tile, computed and screened by one thread while it is in cache (in
    bfloat16 with `half`: see bfloat16)."""
    from ..metrics import kernels

    rows = _RowScreen(comp, k, good_threshold, i0, i1, bc, chunk_bytes, half)
    m = len(comp.b)
    upcoming, in_flight = rows.gallery_block(0), None
    # A tile to a thread with one BLAS thread each; small work runs in this thread, and BLAS may
    # use its own threads there (the product only screens: the scores come from the paired kernel).
    # Not loading threadpoolctl for it keeps small comparisons quick to start.
    blas = contextlib.nullcontext() if rows.small else kernels.one_blas_thread_for(rows.chunk_rows, min(m, bc),
                                                                                  rows.left.shape[1])
    with blas:
        for j0 in range(0, m, bc):
            j1 = min(m, j0 + bc)
            right, right16, block_slack = upcoming
            np.maximum(rows.slack, block_slack, out=rows.slack)
            tiles = rows.tiles(j1 - j0)
            screening = kernels.start_each(partial(rows.screen_tile, j0, right, right16, tiles), len(tiles),
                                           threaded=not rows.small)
            # No barrier between blocks: this block's tiles queue behind the previous block's, whose
            # candidates are taken now, and the next gallery block is prepared while the tiles run.
            if in_flight:
                rows.take(*in_flight)
            in_flight = (screening, j1 - j0)
            if rows.short_of_k():  # rows short of k candidates: this block's bounds help the next
                rows.take(*in_flight)
                in_flight = None
            if j1 < m:
                upcoming = rows.gallery_block(j1)
        if in_flight:
            rows.take(*in_flight)
    return _exact_ranking(comp, rows.finish(), i0, k, threshold)


class _RowScreen:
    """A screened ranking of rows i0:i1 of A in progress (see _screened_rows): the prepared rows,
    how they are cut into tiles, and per row the kept candidates, the running k-th best good
    value (kth; -inf: fewer than k so far) and the largest slack of any gallery block so far."""

    def __init__(self, comp: Comparison, k: int, good_threshold, i0: int, i1: int, bc: int, chunk_bytes: int,
                 half: bool = False):
        from ..metrics import kernels

        self.comp, self.k, self.good_threshold, self.i0, self.bc = comp, k, good_threshold, i0, bc
        self.screen = screen = comp.metric.screen.for_params(comp.params)
        self.sign = 1.0 if screen.higher else -1.0  # "good" = sign * product value: larger is closer
        self.rows_n = rows_n = i1 - i0
        self.left = screen.left(comp.rows(comp.a, i0, i1))
        self.left16 = bfloat16.operand(screen.half.left(self.left), screen.half.tail) if half else None
        self.small = rows_n * len(comp.b) * self.left.shape[1] <= 2**24  # a few milliseconds: not worth threads
        threads = 1 if self.small else kernels.threads()
        self.chunk_rows = max(1, min(rows_n, chunk_bytes // (bc * comp.dtype.itemsize), -(-rows_n // threads)))
        self.row_parts = [(r0, min(rows_n, r0 + self.chunk_rows)) for r0 in range(0, rows_n, self.chunk_rows)]
        self.col_parts = 1 if len(self.row_parts) >= threads else threads  # few rows: each thread takes some columns
        self.own = threading.local()  # each thread's product buffer
        self.kept = (np.empty(0, np.intp), np.empty(0, np.intp), np.empty(0))  # rows, cols, good product values
        self.kth = np.full(rows_n, -np.inf)
        self.slack = np.zeros(rows_n)
        self.pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.pending_count = 0

    def gallery_block(self, j0: int):
        """The right operand of gallery rows j0:j0+bc, its bfloat16 copy (None: the block's tiles
        are multiplied in float32), and its slack per row of A."""
        right = self.screen.right(self.comp.rows(self.comp.b, j0, min(len(self.comp.b), j0 + self.bc)))
        slack = self.screen.slack(self.left, right)
        half = self.screen.half
        right16 = None if self.left16 is None else bfloat16.operand(half.right(right), half.tail)
        if right16 is not None:  # and what rounding to bfloat16 changes the values by
            slack = slack + bfloat16.rounding(half, self.left16, right16, self.left, right)[0]
        return right, right16, slack

    def tiles(self, width: int) -> list[tuple[int, int, int, int]]:
        """(r0, r1, c0, c1) of the tiles of a gallery block `width` rows wide."""
        cuts = sorted({width * c // self.col_parts for c in range(self.col_parts + 1)})
        return [(r0, r1, c0, c1) for r0, r1 in self.row_parts for c0, c1 in zip(cuts[:-1], cuts[1:])]

    def short_of_k(self) -> bool:
        return bool(np.isneginf(self.kth).any())

    def screen_tile(self, j0: int, right: np.ndarray, right16: bfloat16.Rounded | None, tiles, t: int):
        """(rows, cols, good values) of tile t's pairs that may rank (run by a worker thread)."""
        r0, r1, c0, c1 = tiles[t]
        sign, k = self.sign, self.k
        if getattr(self.own, "buffer", None) is None:
            self.own.buffer = np.empty(self.chunk_rows * self.bc, dtype=self.left.dtype)
        product = self.own.buffer[: (r1 - r0) * (c1 - c0)].reshape(r1 - r0, c1 - c0)
        if right16 is None:
            np.matmul(self.left[r0:r1], right[c0:c1].T, out=product)
        else:
            bfloat16.gemm()(self.left16.bits[r0:r1], right16.bits[c0:c1], product)
        if self.comp.same:  # self-pairs never rank: their product value becomes the worst
            g = np.arange(self.i0 + r0, self.i0 + r1)
            on = (g >= j0 + c0) & (g < j0 + c1)
            product[np.flatnonzero(on), g[on] - j0 - c0] = -sign * np.inf
        row_kth = self.kth[r0:r1]  # read once: the main thread may rebind kth meanwhile
        margin = 2.0 * self.slack[r0:r1]
        limit = row_kth - margin
        if self.good_threshold is not None:
            limit = np.maximum(limit, self.good_threshold - margin)
        open_rows = np.flatnonzero(np.isneginf(row_kth))
        if len(open_rows) and k < product.shape[1]:  # fewer than k so far: this tile's k-th best
            col = product.shape[1] - k if sign > 0 else k - 1
            tile_kth = sign * np.partition(product[open_rows], col, axis=1)[:, col]
            limit[open_rows] = np.maximum(limit[open_rows], tile_kth - margin[open_rows])
        hits = _at_least(product, limit, sign)
        values = sign * product.ravel()[hits].astype(np.float64)
        return hits // (c1 - c0) + r0, hits % (c1 - c0) + j0 + c0, values

    def take(self, waiter, width: int) -> None:
        """A block's candidates, once its tiles are screened; narrowed to the close ones when they pile up."""
        for rows, cols, values in waiter():
            if len(rows):
                self.pending.append((rows, cols, values))
                self.pending_count += len(rows)
        self.comp.report(self.rows_n * width)
        if self.pending and (self.pending_count > self.rows_n * max(self.k, 8) or self.short_of_k()):
            self._narrow()

    def _narrow(self) -> None:
        self.kept, self.kth = _keep_close(self.kept, self.pending, self.rows_n, self.k, self.slack, self.good_threshold)
        self.pending, self.pending_count = [], 0

    def finish(self):
        """The kept candidates (rows, cols, good values), every pending one looked at."""
        if self.pending:
            self._narrow()
        return self.kept


def _at_least(product: np.ndarray, limit: np.ndarray, sign: float, best: np.ndarray | None = None) -> np.ndarray:
    """Flat indices where sign * product >= limit (per row), compared in the product's dtype
    with each limit rounded outwards, so no pair that reaches its limit is lost to rounding.
    Each row's best value (`best` when the caller has it) is found first (a fast reduction):
    once bounds are tight, most rows have no pair to compare."""
    dtype = product.dtype
    outward = dtype.type(-np.inf if sign > 0 else np.inf)
    bound = np.nextafter((sign * limit).astype(dtype), outward)
    with np.errstate(invalid="ignore"):
        if best is None:
            best = np.fmax.reduce(product, axis=1) if sign > 0 else np.fmin.reduce(product, axis=1)
        rows = np.flatnonzero(best >= bound if sign > 0 else best <= bound)
        if len(rows) == 0:
            return rows
        every = len(rows) > product.shape[0] // 2
        sub = product if every else product[rows]
        b = bound[:, None] if every else bound[rows, None]
        flat = np.flatnonzero(sub >= b if sign > 0 else sub <= b)
    if every:
        return flat
    width = product.shape[1]
    return rows[flat // width] * width + flat % width


def _keep_close(kept, pending, rows_n: int, k: int, slack: np.ndarray, good_threshold):
    """Kept candidates with the pending ones, keeping per row those within 2 x slack of its k-th
    best good value (and of the threshold): a superset of the row's true k best (in no order)."""
    rows = np.concatenate([kept[0], *(p[0] for p in pending)])
    cols = np.concatenate([kept[1], *(p[1] for p in pending)])
    good = np.concatenate([kept[2], *(p[2] for p in pending)])
    kth = _kth_best(rows, good, rows_n, k)
    keep = good >= kth[rows] - 2.0 * slack[rows]
    if good_threshold is not None:
        keep &= good >= good_threshold - 2.0 * slack[rows]
    return (rows[keep], cols[keep], good[keep]), kth


def _kth_best(rows: np.ndarray, good: np.ndarray, rows_n: int, k: int) -> np.ndarray:
    """Each row's k-th largest good value (-inf: fewer than k), from a table of the rows' values
    (a row's values in one line, partitioned): three times faster than sorting by row and value
    (2.0 against 6.6 ms for 60,000 candidates of 4,096 rows). The table is at most 1.5 times as wide
    as the rows' mean count (its memory no more than a sort's); rows with more are sorted."""
    width = max(k, 3 * len(rows) // max(1, 2 * rows_n))
    if rows_n * width > 3 * len(rows) // 2 + 4096:  # fewer than 2k / 3 candidates a row: a sort takes less memory
        return _kth_sorted(rows, good, rows_n, k)
    counts = np.bincount(rows, minlength=rows_n)
    crowded = counts > width
    if crowded.any():
        many = crowded[rows]
        crowded_kth = _kth_sorted(rows[many], good[many], rows_n, k)
        rows, good = rows[~many], good[~many]
        counts[crowded] = 0
    small = rows.astype(np.int16) if rows_n <= 2**15 else rows
    order = np.argsort(small, kind="stable")  # (a radix sort for 16-bit integers)
    by_row = small[order]
    del small
    at = np.arange(len(rows))
    at -= (np.cumsum(counts) - counts)[by_row]
    table = np.full((rows_n, width), -np.inf)
    table[by_row, at] = good[order]
    table.partition(width - k, axis=1)
    kth = table[:, width - k].copy()
    if crowded.any():
        kth[crowded] = crowded_kth[crowded]
    return kth


def _kth_sorted(rows: np.ndarray, good: np.ndarray, rows_n: int, k: int) -> np.ndarray:
    """_kth_best by sorting the candidates by row and value."""
    order = np.lexsort((-good, rows))  # ties in good give the same k-th value: no third key needed
    rank = _ranks(rows[order])
    kth = np.full(rows_n, -np.inf)
    at_k = order[rank == k]
    kth[rows[at_k]] = good[at_k]
    return kth


def _exact_ranking(comp: Comparison, kept, i0: int, k: int, threshold) -> Ranking:
    """The k best of the kept candidates of rows i0.. by the paired kernel's exact scores."""
    rows, cols, _ = kept
    if comp.same:  # a row whose every column was a candidate brought its self-pair along
        keep = rows + i0 != cols
        rows, cols = rows[keep], cols[keep]
    by_row = np.argsort(rows, kind="stable")  # gathered in row order: a tenth faster than in no order
    rows, cols = rows[by_row], cols[by_row]
    scores = np.empty(len(rows))
    # the gathered rows of both sides and the kernel's copies of them stay within a sixteenth of the budget
    step = max(1, min(EXACT_ROWS_PER_CHUNK, comp.memory // (16 * 4 * comp.a.dim * comp.dtype.itemsize)))
    for s0 in range(0, len(rows), step):
        a = _gather(comp.a, rows[s0 : s0 + step] + i0, comp.dtype, comp.normalize)
        b = _gather(comp.b, cols[s0 : s0 + step], comp.dtype, comp.normalize)
        try:
            scores[s0 : s0 + step] = comp.metric.paired(a, b, comp.params)
        except ScoreOutOfRange as exc:
            raise _out_of_range(comp, exc, rows[s0 + exc.row] + i0, cols[s0 + exc.row]) from None
    if threshold is not None:
        keep = comp.passes(scores, threshold)
        rows, cols, scores = rows[keep], cols[keep], scores[keep]
    order, rank = best_per_row_index(rows, cols, comp.keys(scores), k)
    return Ranking(comp.metric, comp.a, comp.b, rows[order] + i0, cols[order], scores[order], rank, "row")


def _ranks(sorted_rows: np.ndarray) -> np.ndarray:
    """1-based rank of each entry within its row, for entries sorted by row then best first."""
    return np.arange(len(sorted_rows)) - np.searchsorted(sorted_rows, sorted_rows, side="left") + 1


def _better_entries(scores: np.ndarray, limit: np.ndarray, higher: bool) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of scores strictly better than their row's limit, screened chunk by chunk
    so the comparison's mask stays in cache."""
    width = scores.shape[1]
    step = max(1, 2**21 // max(1, width * scores.itemsize))
    rows, cols = [], []
    for r0 in range(0, scores.shape[0], step):
        chunk = scores[r0 : r0 + step]
        # limits are scores of this dtype (or +-inf), so the cast is exact and keeps the compare in float32
        bound = limit[r0 : r0 + step, None].astype(scores.dtype)
        with np.errstate(invalid="ignore"):
            flat = np.flatnonzero(chunk > bound if higher else chunk < bound)
        if len(flat):
            rows.append(flat // width + r0)
            cols.append(flat % width)
    if not rows:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    return np.concatenate(rows), np.concatenate(cols)


def _column_blocks(m: int, width: int, k: int) -> list[tuple[int, int]]:
    """Column ranges: a narrow first one (see _FIRST_BLOCK_COLS), then blocks of `width`."""
    first = min(m, width, max(_FIRST_BLOCK_COLS, 4 * k))
    return [(0, first)] + [(j0, min(m, j0 + width)) for j0 in range(first, m, width)]


def best_per_row_index(rows, cols, keys, k):
    """Indices (into the inputs) of each row's k best entries in order, and their ranks."""
    order = np.lexsort((cols, keys, rows))
    sorted_rows = rows[order]
    rank = np.arange(len(order)) - np.searchsorted(sorted_rows, sorted_rows, side="left") + 1
    keep = rank <= k
    return order[keep], rank[keep]


def _open_row_candidates(comp: Comparison, scores, open_rows, i0, j0, k, threshold):
    """Candidates in rows that do not have k entries yet: at most the k best (and ties) of each
    row, excluding self-pairs and pairs failing the threshold, found in row chunks
    (_SELECT_CHUNK_BYTES) so memory stays bounded."""
    rows_found, cols_found = [], []
    starts, step = _row_steps(len(open_rows), scores.shape[1])
    for s0 in starts:
        rows = open_rows[s0 : s0 + step]
        block = scores[rows]
        keys = comp.keys(block)
        if threshold is not None:
            keys[~comp.passes(block, threshold)] = np.nan
        if comp.same:
            global_rows = rows + i0
            on_diagonal = np.flatnonzero((global_rows >= j0) & (global_rows < j0 + block.shape[1]))
            keys[on_diagonal, global_rows[on_diagonal] - j0] = np.nan
        r, c, _ = _row_candidates(keys, k)
        rows_found.append(rows[r])
        cols_found.append(c)
    if not rows_found:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    return np.concatenate(rows_found), np.concatenate(cols_found)

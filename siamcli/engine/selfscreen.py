"""Per-row top-k of a set against itself, each unordered pair computed once.

The rows are cut into blocks; only product tiles on and above the diagonal are computed. A tile
of row block I against block J > I is screened twice while it is in cache: for its rows (the
pairs of I's rows) and, transposed, for its columns (the same values are the pairs of J's rows);
on the diagonal, each row part meets only the columns from its own first row on. The tiles run
as one pipeline (the next started before the last is taken). Block I is finished once its tiles
are done: the tiles of earlier blocks already gave its rows their candidates from the columns
before it (and tight bounds from the start). The kept candidates are scored exactly by the
paired kernel in the row's own orientation, as in ranking._screened_topk, so the rankings are
the same to the last bit.
"""

from __future__ import annotations

import contextlib
import threading
from functools import partial
from typing import Iterator

import numpy as np

from ..results import Ranking
from .comparison import _CANDIDATE_BYTES, Comparison
from .ranking import _SCREEN_BLOCK_COLS, _SCREEN_CHUNK_BYTES, _at_least, _exact_ranking, _keep_close
from .tilehits import _BAND_BYTES, load_compiled, tile_hits

#: Self rankings cut the rows into at least this many blocks when they are large enough (only
#: tiles on and above the diagonal are computed: the diagonal's own waste is 1 / blocks).
_MIN_BLOCKS = 8
_MIN_BLOCK_ROWS = 2048
#: Tiles on the diagonal and this many minus one above it are screened first, one diagonal at a
#: time: the rows' bounds then come from as many blocks on either side (fewer candidates later).
_WARM_DISTANCES = 3
#: Passes run side by side over the blocks after them, each block's operands made once for them:
#: 100k x 384 euclidean top-5 (the last 5 of 25 blocks' operands kept), operands made in 1.65 s CPU
#: one pass at a time, 1.16 s two, 0.88 s three, 0.82 s four.
_PASSES = 3
#: Candidates are narrowed (each row's k-th best updated) once this many a row (or half of k) are
#: pending: tighter bounds sooner. 100k x 384 cosine top-5, against 8 a row: the band screens took
#: 4.2 against 4.8 s CPU, the narrowing 0.60 against 0.54 s, at 2. With the compiled hits pass
#: (whose time hardly depends on the hits): 6 against 2, the hits 2.36 s CPU either way, narrowing
#: and taking the tiles 1.18 against 1.33 s (233 -> 140 narrowings).
_SETTLE_PER_ROW = 6
#: The rows' first tile bounds their k-th best by the k-th best of this many groups' bests (no partition).
_GROUPS = 64


def self_screen_fits(comp: Comparison, k: int) -> bool:
    """Whether every row's candidates fit in half the budget at once (rows take candidates from
    tiles of earlier blocks before their own block is reached)."""
    return (comp.mirrored and comp.metric.screen is not None
            and len(comp.a) * _CANDIDATE_BYTES * k <= comp.memory // 2)


class _Candidates:
    """The candidates of one block of rows: kept ones, pending ones, each row's running k-th best
    good value (kth; -inf: fewer than k so far) and the largest slack of any tile so far."""

    def __init__(self, rows_n: int, k: int, good_threshold):
        self.rows_n, self.k, self.good_threshold = rows_n, k, good_threshold
        self.kept = (np.empty(0, np.intp), np.empty(0, np.intp), np.empty(0))
        self.kth = np.full(rows_n, -np.inf)
        self.slack = np.zeros(rows_n)
        self.pending: list = []
        self.pending_count = 0

    def add(self, rows, cols, values) -> None:
        if len(rows):
            self.pending.append((rows, cols, values))
            self.pending_count += len(rows)

    def short_of_k(self) -> bool:
        return bool(np.isneginf(self.kth).any())

    def settle(self, force: bool = False) -> None:
        """Narrows the candidates to the close ones when they pile up (or some row is short of k)."""
        if self.pending and (force or self.pending_count > self.rows_n * max(_SETTLE_PER_ROW, self.k // 2)
                             or self.short_of_k()):
            self.kept, self.kth = _keep_close(self.kept, self.pending, self.rows_n, self.k, self.slack,
                                              self.good_threshold)
            self.pending, self.pending_count = [], 0


class _Operands:
    """The screen's (left, right) operands of each block, made when first needed; those of the last
    blocks (needed by the passes of every block before them) are kept, as many as fit in `room`
    bytes, until dropped; the others are made again for each group of passes (the last one made is
    kept until another is)."""

    def __init__(self, comp: Comparison, bounds, room: int):
        self.comp, self.bounds, self.kept, self.held = comp, bounds, {}, {}
        self.last = (None, None)  # the block made last, not kept (one block's operands)
        self.buffers = threading.local()  # each thread's product buffer, shared by every pass
        self.screen = screen = comp.metric.screen.for_params(comp.params)
        sides = 1 if screen.right is screen.left else 2
        largest = max(b1 - b0 for b0, b1 in bounds)
        count = max(0, room) // (sides * largest * (comp.a.dim + 2) * comp.dtype.itemsize)
        self.first_kept = len(bounds) - count

    def hold(self, index: int, made) -> None:
        """Lends (or with None, takes back) a live pass's operands of block `index`."""
        if made is None:
            self.held.pop(index, None)
        else:
            self.held[index] = made

    def __call__(self, index: int):
        made = self.kept.get(index, self.held.get(index))
        if made is None and self.last[0] == index:  # the passes of a group ask for the same block in turn
            made = self.last[1]
        if made is None:
            screen = self.screen
            rows = self.comp.rows(self.comp.a, *self.bounds[index])
            left = screen.left(rows)
            made = (left, left if screen.right is screen.left else screen.right(rows))
            if index >= self.first_kept:
                self.kept[index] = made
            else:
                self.last = (index, made)
        return made

    def drop(self, index: int) -> None:
        self.kept.pop(index, None)
        if self.last[0] == index:
            self.last = (None, None)


def _plan(comp: Comparison, k: int, threshold, block_rows: int | None, split: int | None = None):
    """(bounds, states, sign, chunk_rows, small, blas context, operands) of a screened self
    ranking; with `split`, no block spans it."""
    from ..metrics import kernels

    n, d = len(comp.a), comp.a.dim
    screen = comp.metric.screen.for_params(comp.params)
    sign = 1.0 if screen.higher else -1.0
    chunk_bytes = min(_SCREEN_CHUNK_BYTES, comp.memory // (8 * kernels.threads()))
    if block_rows is not None:
        size = max(1, block_rows)
    else:
        widest = max(1, min(_SCREEN_BLOCK_COLS, chunk_bytes // (64 * comp.dtype.itemsize)))
        # operands alive at once within a quarter of the budget: a group's passes' own and one more,
        # as the pipeline goes from one group to the next, and the right ones of the two blocks their
        # tiles meet; while the blocks meet their neighbours, four passes' own (_WARM_DISTANCES live,
        # one in flight)
        sides = 1 if screen.right is screen.left else 2
        blocks = max((_PASSES + 1) * sides + 2, (_WARM_DISTANCES + 1) * sides)
        alive = max(1, comp.memory // (4 * blocks * (d + 2) * comp.dtype.itemsize))
        size = min(n, widest, alive, max(_MIN_BLOCK_ROWS, -(-n // _MIN_BLOCKS)))
    edges = [(0, n)] if split is None else [(0, split), (split, n)]
    bounds = [(b0, min(e1, b0 + size)) for e0, e1 in edges for b0 in range(e0, e1, size)]
    good_threshold = None if threshold is None else sign * float(screen.value(np.float64(threshold)))
    states = [_Candidates(b1 - b0, k, good_threshold) for b0, b1 in bounds]
    small = n * n * (d + 2) <= 2**25  # a few milliseconds: not worth threads
    chunk_rows = max(1, min(size, chunk_bytes // (size * comp.dtype.itemsize),
                            -(-size // (1 if small else kernels.threads()))))
    blas = contextlib.nullcontext() if small else kernels.one_blas_thread_for(chunk_rows, size, d + 2)
    load_compiled(chunk_rows * size)
    operands = _Operands(comp, bounds, comp.memory // 2 - len(comp.a) * _CANDIDATE_BYTES * k)
    return bounds, states, sign, chunk_rows, small, blas, operands


def self_screened_topk(comp: Comparison, k: int, threshold: float | None,
                       block_rows: int | None) -> Iterator[Ranking]:
    """iter_topk of a set against itself through the metric's Screen (see the module's docstring)."""
    bounds, states, sign, chunk_rows, small, blas, operands = _plan(comp, k, threshold, block_rows)
    tiles = _Pipeline(states)

    def block_pass(index: int, settle: bool = True) -> _BlockPass:
        return _BlockPass(comp, bounds, states, index, sign, chunk_rows, small, operands, settle)

    def finished() -> Iterator[Ranking]:
        # blocks whose every tile is taken: done, their memory goes, and their operands (no later pass needs them)
        while closing and not tiles.touches(closing[0]):
            index = closing.pop(0)
            states[index].settle(force=True)
            kept = states[index].kept
            states[index] = None
            operands.drop(index)
            yield _exact_ranking(comp, kept, bounds[index][0], k, threshold)

    closing: list[int] = []  # blocks whose every tile is started, in order
    with blas:
        # each block against itself, then the blocks just before it against it: every row has k
        # candidates (and a bound) from its own tile before its tiles above the diagonal are screened
        # for their columns, and bounds from several blocks before the long passes (a block's rows
        # have bounds from its own tile: narrowing their candidates again before each neighbour costs
        # more than it saves)
        # One pass a block, kept while its next neighbours come: their tiles take its operands from it
        # (100k x 384 euclidean top-5: 300 -> 240 operands made, 0.5 s CPU less).
        live: dict[int, _BlockPass] = {}
        for index in range(len(bounds)):
            live[index] = block_pass(index)
            operands.hold(index, (live[index].left, live[index].right_own))
            for distance in range(_WARM_DISTANCES):
                if index - distance in live:
                    tiles.screen(live[index - distance], index)
            for done in [i for i in live if i <= index - _WARM_DISTANCES + 1 or index == len(bounds) - 1]:
                del live[done]
                operands.hold(done, None)
        for g0 in range(0, len(bounds), _PASSES):
            group = [block_pass(index) for index in range(g0, min(len(bounds), g0 + _PASSES))]
            for other in range(g0 + _WARM_DISTANCES, len(bounds)):
                for current in group:  # (the other block's operands made once for the group)
                    if other >= current.index + _WARM_DISTANCES:
                        tiles.screen(current, other)
                        yield from finished()  # blocks before, once their last tile is taken (this one runs meanwhile)
            closing.extend(current.index for current in group)
            yield from finished()
        tiles.drain()
        yield from finished()


def block_pair_topk(comp: Comparison, split: int, k: int, threshold: float | None,
                    block_rows: int | None = None) -> tuple[Ranking, Ranking]:
    """For a set that stacks two blocks of a larger set (rows :split, then split:), compared with
    itself: the k best of each row of the first block among the rows of the second, and of each
    row of the second among the rows of the first, from one product (a cluster's task for a tile
    above the diagonal). The second block's rows are first ranked among themselves, for bounds
    only: those pairs are dropped (the task on the diagonal gives them), which keeps every pair
    that ranks among all the rows."""
    bounds, states, sign, chunk_rows, small, blas, operands = _plan(comp, k, threshold, block_rows, split)
    first = [i for i, (b0, _) in enumerate(bounds) if b0 < split]
    second = [i for i, (b0, _) in enumerate(bounds) if b0 >= split]
    tiles = _Pipeline(states)
    with blas:
        for group, others in ((second, None), (first, second)):
            for index in group:
                current = _BlockPass(comp, bounds, states, index, sign, chunk_rows, small, operands)
                for other in others or [index]:
                    tiles.screen(current, other)
        tiles.drain()
        for index in first + second:
            states[index].settle(force=True)
    parts = []
    for group in (first, second):
        rankings = []
        for index in group:
            rows, cols, good = states[index].kept
            keep = cols < split if index in second else cols >= split
            rankings.append(_exact_ranking(comp, (rows[keep], cols[keep], good[keep]), bounds[index][0], k, threshold))
        parts.append(Ranking.concat(rankings, comp.metric, comp.a, comp.b, "row"))
    return parts[0], parts[1]


class _Pipeline:
    """Tiles screened in the order given, the threads kept busy: each tile's row parts are started
    before the tile before it is taken (its candidates merged, in this thread), unless the two
    share a block whose rows are short of k candidates (the first's bounds then help the second)."""

    def __init__(self, states):
        self.states, self.in_flight = states, None

    def touches(self, index: int) -> bool:
        return self.in_flight is not None and index in (self.in_flight[0].index, self.in_flight[2])

    def screen(self, current: "_BlockPass", other: int) -> None:
        if self.in_flight is not None and (self.touches(current.index) or self.touches(other)) and (
                self.states[current.index].short_of_k() or self.states[other].short_of_k()):
            self.drain()
        started = (current, current.start(other), other)
        self.drain()
        self.in_flight = started

    def drain(self) -> None:
        if self.in_flight is not None:
            current, screening, other = self.in_flight
            self.in_flight = None
            current.take(screening, other)


class _BlockPass:
    """The tiles of row block `index` against itself and later blocks (see the module), started and
    taken by a _Pipeline."""

    def __init__(self, comp: Comparison, bounds, states, index: int, sign: float, chunk_rows: int, small: bool,
                 operands: _Operands, settle: bool = True):
        self.comp, self.bounds, self.states, self.index, self.sign = comp, bounds, states, index, sign
        self.screen = comp.metric.screen.for_params(comp.params)
        self.small, self.made = small, operands
        self.i0, i1 = bounds[index]
        self.left, self.right_own = operands(index)
        self.row_parts = [(r0, min(i1 - self.i0, r0 + chunk_rows)) for r0 in range(0, i1 - self.i0, chunk_rows)]
        self.own = operands.buffers
        self.buffer_size = chunk_rows * max(b1 - b0 for b0, b1 in bounds)
        self.state = states[index]
        if settle:
            self.state.settle(force=True)  # the candidates earlier blocks gave: bounds tight from the start

    def operands(self, other: int):
        """(right operand of block `other`, its left operand's slack against this block's right) or
        for this block itself, its own right operand and no column slack."""
        if other == self.index:
            return self.right_own, None
        left, right = self.made(other)
        return right, self.screen.slack(left, self.right_own)

    def start(self, other: int):
        """Starts screening the tile of this block against block `other` (this one or a later one)
        in the threads, each row part's bounds widened first by the tile's slack; returns the waiter."""
        from ..metrics import kernels

        right, column_slack = self.operands(other)
        np.maximum(self.state.slack, self.screen.slack(self.left, right), out=self.state.slack)
        if column_slack is not None:
            np.maximum(self.states[other].slack, column_slack, out=self.states[other].slack)
        return kernels.start_each(partial(self.screen_tile, other, right), len(self.row_parts),
                                  threaded=not self.small)

    def take(self, waiter, other: int) -> None:
        """A tile's candidates, for this block's rows and (transposed) for the other block's."""
        columns = self.states[other]
        for row_hits, column_hits in waiter():
            self.state.add(*row_hits)
            if column_hits is not None:
                columns.add(*column_hits)
        rows_n = self.state.rows_n
        self.comp.report(rows_n * rows_n if other == self.index else 2 * rows_n * columns.rows_n)
        self.state.settle()
        if other != self.index:
            columns.settle()

    def screen_tile(self, other: int, right: np.ndarray, t: int):
        """(row hits, column hits) of row part t of this block against block `other` (a worker
        thread): (local rows, global cols, good values) for this block's rows, and (the other
        block's local rows, global cols, good values) for the rows its columns stand for. On the
        diagonal a part meets only the columns from its own first row on: its pairs with the later
        parts' rows are screened both ways, those with earlier parts' rows were theirs."""
        r0, r1 = self.row_parts[t]
        diagonal = other == self.index
        c0 = r0 if diagonal else 0  # the block's row that product column 0 stands for
        if getattr(self.own, "buffer", None) is None:
            self.own.buffer = np.empty(self.buffer_size, dtype=self.left.dtype)
        width = right.shape[0] - c0
        product = self.own.buffer[: (r1 - r0) * width].reshape(r1 - r0, width)
        np.matmul(self.left[r0:r1], right[c0:].T, out=product)
        if diagonal:  # self-pairs never rank: their product value becomes the worst
            g = np.arange(r1 - r0)
            product[g, g] = -self.sign * np.inf
        j0 = self.bounds[other][0] + c0
        columns, first = self.states[other], (r1 - r0 if diagonal else 0)  # columns screened from `first` on
        kth = self.state.kth[r0:r1]  # read once: the main thread may rebind it meanwhile
        column_kth, column_slack = columns.kth[c0 + first :], columns.slack[c0 + first :]
        open_rows = np.flatnonzero(np.isneginf(kth))
        if not diagonal and len(open_rows) == 0 and not np.isneginf(column_kth).any():  # every bound known
            row_bound = _bound(kth, self.state.slack[r0:r1], self.state.good_threshold, self.sign, product.dtype)
            column_bound = _bound(column_kth, column_slack, columns.good_threshold, self.sign, product.dtype)
            (rows, cols, values), column_hits = tile_hits(product, self.sign, row_bound, column_bound)
            cols = cols + j0
        else:
            grouped = len(open_rows) > 0 and self.state.k * 4 <= _GROUPS and width >= 4 * _GROUPS
            row_best, column_best, groups = _extremes(product, self.sign, first < width, grouped)
            rows, cols, values = _row_hits(product, self.state, kth, r0, j0, self.sign, row_best, open_rows, groups)
            if first == width:
                return (rows + r0, cols, values), None
            column_hits = _column_hits(product[:, first:], columns.k, column_kth, column_slack,
                                       columns.good_threshold, self.sign, column_best[first:])
            column_hits = (column_hits[0] + first, *column_hits[1:])
        cols_local, rows_in_part, column_values = column_hits
        return (rows + r0, cols, values), (cols_local + c0, rows_in_part + self.i0 + r0, column_values)


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


def _row_hits(product: np.ndarray, state: _Candidates, kth: np.ndarray, r0: int, j0: int, sign: float,
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

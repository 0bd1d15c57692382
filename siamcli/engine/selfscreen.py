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
from . import bfloat16
from .comparison import _CANDIDATE_BYTES, Comparison
from .ranking import _SCREEN_BLOCK_COLS, _SCREEN_CHUNK_BYTES, _exact_ranking, _keep_close
from .tilehits import _GROUPS, _bound, _column_hits, _extremes, _row_hits, banded_hits, load_compiled, tile_hits

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
    """The screen's (left, right, left bfloat16, right bfloat16) operands of each block (the bfloat16
    ones, bfloat16.Rounded, None unless `half` and the values fit), made when first needed; those of the last
    blocks (needed by the passes of every block before them) are kept, as many as fit in `room`
    bytes, until dropped; the others are made again for each group of passes (the last one made is
    kept until another is)."""

    def __init__(self, comp: Comparison, bounds, room: int, half: bool):
        self.comp, self.bounds, self.kept, self.held, self.half = comp, bounds, {}, {}, half
        self.last = (None, None)  # the block made last, not kept (one block's operands)
        self.buffers = threading.local()  # each thread's product buffer, shared by every pass
        self.screen = screen = comp.metric.screen.for_params(comp.params)
        sides = 1 if screen.right is screen.left else 2
        largest = max(b1 - b0 for b0, b1 in bounds)
        count = max(0, room) // (sides * largest * (comp.a.dim + 2) * _operand_bytes(comp, half))
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
            right = left if screen.right is screen.left else screen.right(rows)
            left16 = right16 = None
            if self.half:
                half = screen.half
                left16 = bfloat16.operand(half.left(left), half.tail)
                if right is left and half.right is half.left:
                    right16 = left16
                elif left16 is not None:
                    right16 = bfloat16.operand(half.right(right), half.tail)
            made = (left, right, left16, right16)
            if index >= self.first_kept:
                self.kept[index] = made
            else:
                self.last = (index, made)
        return made

    def drop(self, index: int) -> None:
        self.kept.pop(index, None)
        if self.last[0] == index:
            self.last = (None, None)


def _half(comp: Comparison, screen) -> bool:
    """Whether the screen multiplies in bfloat16 (see bfloat16.usable; the half product's work)."""
    n, d = len(comp.a), comp.a.dim
    return bfloat16.usable(screen, comp.dtype, n * n * (d + 2) // 2)


def _operand_bytes(comp: Comparison, half: bool) -> int:
    """Bytes of one value of a block's operands (the float32 ones and their bfloat16 copies, which
    may have two columns more)."""
    return comp.dtype.itemsize + (bfloat16.EXTRA_BYTES if half else 0)


def _plan(comp: Comparison, k: int, threshold, block_rows: int | None, split: int | None = None):
    """(bounds, states, sign, chunk_rows, small, blas context, operands) of a screened self
    ranking; with `split`, no block spans it."""
    from ..metrics import kernels

    n, d = len(comp.a), comp.a.dim
    screen = comp.metric.screen.for_params(comp.params)
    half = _half(comp, screen)
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
        alive = max(1, comp.memory // (4 * blocks * (d + 2) * _operand_bytes(comp, half)))
        size = min(n, widest, alive, max(_MIN_BLOCK_ROWS, -(-n // _MIN_BLOCKS)))
    edges = [(0, n)] if split is None else [(0, split), (split, n)]
    bounds = [(b0, min(e1, b0 + size)) for e0, e1 in edges for b0 in range(e0, e1, size)]
    good_threshold = None if threshold is None else sign * float(screen.value(np.float64(threshold)))
    half = half and bfloat16.pays(comp, screen, k, good_threshold, size)
    states = [_Candidates(b1 - b0, k, good_threshold) for b0, b1 in bounds]
    small = n * n * (d + 2) <= 2**25  # a few milliseconds: not worth threads
    chunk_rows = max(1, min(size, chunk_bytes // (size * comp.dtype.itemsize),
                            -(-size // (1 if small else kernels.threads()))))
    blas = contextlib.nullcontext() if small else kernels.one_blas_thread_for(chunk_rows, size, d + 2)
    load_compiled(chunk_rows * size)
    operands = _Operands(comp, bounds, comp.memory // 2 - len(comp.a) * _CANDIDATE_BYTES * k, half)
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
            operands.hold(index, live[index].own_operands)
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
        self.own_operands = operands(index)
        self.left, self.right_own, self.left16, self.right16_own = self.own_operands
        self.row_parts = [(r0, min(i1 - self.i0, r0 + chunk_rows)) for r0 in range(0, i1 - self.i0, chunk_rows)]
        self.own = operands.buffers
        self.buffer_size = chunk_rows * max(b1 - b0 for b0, b1 in bounds)
        self.state = states[index]
        if settle:
            self.state.settle(force=True)  # the candidates earlier blocks gave: bounds tight from the start

    def slacks(self, other: int):
        """(right operand of block `other`, its bfloat16 copy if the tile is multiplied in bfloat16,
        the tile's slack for this block's rows, for the other block's rows (None on the diagonal))."""
        diagonal = other == self.index
        left, right, _, right16 = self.own_operands if diagonal else self.made(other)
        right16 = right16 if self.left16 is not None else None
        rows = self.screen.slack(self.left, right)
        columns = None if diagonal else self.screen.slack(left, self.right_own)  # (the values' other orientation)
        if right16 is not None:  # and what rounding to bfloat16 changes the tile's values by
            row_rounding, column_rounding = bfloat16.rounding(self.screen.half, self.left16, right16, self.left, right,
                                                              (left, self.right_own))
            rows = rows + row_rounding
            if diagonal:  # the block's rows are its columns too
                rows = np.maximum(rows, self.screen.slack(self.left, self.right_own) + column_rounding)
            else:
                columns = columns + column_rounding
        return right, right16, rows, columns

    def start(self, other: int):
        """Starts screening the tile of this block against block `other` (this one or a later one)
        in the threads, each row part's bounds widened first by the tile's slack; returns the waiter."""
        from ..metrics import kernels

        right, right16, row_slack, column_slack = self.slacks(other)
        np.maximum(self.state.slack, row_slack, out=self.state.slack)
        if column_slack is not None:
            np.maximum(self.states[other].slack, column_slack, out=self.states[other].slack)
        return kernels.start_each(partial(self.screen_tile, other, right, right16), len(self.row_parts),
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

    def screen_tile(self, other: int, right: np.ndarray, right16: bfloat16.Rounded | None, t: int):
        """(row hits, column hits) of row part t of this block against block `other` (a worker
        thread): (local rows, global cols, good values) for this block's rows, and (the other
        block's local rows, global cols, good values) for the rows its columns stand for. On the
        diagonal a part meets only the columns from its own first row on: its pairs with the later
        parts' rows are screened both ways, those with earlier parts' rows were theirs. With `right16`,
        the product is of the bfloat16 operands."""
        r0, r1 = self.row_parts[t]
        diagonal = other == self.index
        c0 = r0 if diagonal else 0  # the block's row that product column 0 stands for
        if getattr(self.own, "buffer", None) is None:
            self.own.buffer = np.empty(self.buffer_size, dtype=self.left.dtype)
        width = right.shape[0] - c0
        j0 = self.bounds[other][0] + c0
        columns, first = self.states[other], (r1 - r0 if diagonal else 0)  # columns screened from `first` on
        kth = self.state.kth[r0:r1]  # read once: the main thread may rebind it meanwhile
        column_kth, column_slack = columns.kth[c0 + first :], columns.slack[c0 + first :]
        open_rows = np.flatnonzero(np.isneginf(kth))
        dtype = self.left.dtype
        if not diagonal and len(open_rows) == 0 and not np.isneginf(column_kth).any():  # every bound known
            row_bound = _bound(kth, self.state.slack[r0:r1], self.state.good_threshold, self.sign, dtype)
            column_bound = _bound(column_kth, column_slack, columns.good_threshold, self.sign, dtype)
            if right16 is None:
                product = self.own.buffer[: (r1 - r0) * width].reshape(r1 - r0, width)
                np.matmul(self.left[r0:r1], right.T, out=product)
                (rows, cols, values), column_hits = tile_hits(product, self.sign, row_bound, column_bound)
            else:  # in cache-sized bands, each screened as soon as it is made
                left16, gemm = self.left16.bits, bfloat16.gemm()

                def multiply(b0, b1, d0, d1, out):
                    gemm(left16[r0 + b0 : r0 + b1], right16.bits[d0:d1], out)

                (rows, cols, values), column_hits = banded_hits(multiply, r1 - r0, width, self.sign, row_bound,
                                                                column_bound, self.own.buffer)
            cols = cols + j0
        else:
            product = self.own.buffer[: (r1 - r0) * width].reshape(r1 - r0, width)
            if right16 is None:
                np.matmul(self.left[r0:r1], right[c0:].T, out=product)
            else:
                bfloat16.gemm()(self.left16.bits[r0:r1], right16.bits[c0:], product)
            if diagonal:  # self-pairs never rank: their product value becomes the worst
                g = np.arange(r1 - r0)
                product[g, g] = -self.sign * np.inf
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

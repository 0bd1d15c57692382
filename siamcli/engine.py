"""Blockwise computation: score matrices, per-row top-k, overall best pairs and paired scores.

Work proceeds in row blocks of A against column blocks of B, so memory follows the block size,
not N x M. Top-k lists are merged block by block. Ties are broken by index everywhere.
Ranking uses a key where smaller is better: the distance, or minus the similarity; a NaN
score ranks last (key +inf); pairs that are excluded (self-pairs, failing --threshold) get key NaN.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from .errors import InputError, ShapeError, UsageError
from .io import EmbeddingSet, embeddings_from_array, load_embeddings
from .metrics import SAFE_SQNORMS, WIDE_SQNORM, Metric, Params, ScoreOutOfRange, get_metric, unit_rows
from .results import MatrixResult, Ranking, Score, Verdicts

DEFAULT_MEMORY_BYTES = 512 * 2**20
#: The largest working memory accepted (a petabyte: any larger number is a typo, and overflows sizes).
MAX_MEMORY_BYTES = 2**50
ZERO_VECTOR_POLICIES = ("error", "nan", "zero")
#: Working bytes per score entry while ranking, beyond the score itself (its dtype's size): the
#: copy of rows still being filled (the keys and masks are made per row chunk, _SELECT_CHUNK_BYTES).
_EXTRA_BYTES_PER_ENTRY = 4
#: Working bytes per candidate pair a ranking keeps for a row (up to k of them): its row, column
#: and key or value, and the copies a merge of them makes (_keep_close, _best_per_row_index).
_CANDIDATE_BYTES = 384
#: Bytes per value of the copies a kernel makes of a block's input rows (float64 conversions,
#: normalised or augmented rows, a transposed side): the B side's take at most a quarter of the budget.
_OPERAND_BYTES_PER_VALUE = 16
#: The first column block of a ranking is narrow: a cheap partition gives each row its k-th
#: best key early, and every later block is screened against it with one comparison.
_FIRST_BLOCK_COLS = 2048
_MAX_BLOCK_COLS = 32768
_ROWS_LISTED = 5
#: Candidate pairs scored exactly per gather (bounds the gathered rows' memory).
EXACT_ROWS_PER_CHUNK = 65536


def set_threads(count: int | None = None) -> int:
    """Threads for BLAS, the compiled kernels and scipy's row chunks (None: every core)."""
    from .metrics import kernels

    explicit = count is not None
    count = max(1, count or os.cpu_count() or 1)
    kernels.set_threads(count)
    if not explicit:
        return count  # BLAS already uses every core; loading threadpoolctl would only slow start-up
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # BLAS keeps its own default
        return count
    threadpool_limits(limits=count)
    return count


def parse_size(text: str) -> int:
    """Bytes from '512M', '2G', '1.5GiB' or a plain number of bytes."""
    units = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    raw = text.strip().lower().removesuffix("ib").removesuffix("b")
    number, unit = (raw[:-1], raw[-1]) if raw and raw[-1] in "kmgt" else (raw, "")
    try:
        value = float(number) * units[unit]
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise UsageError(f"expected a size such as 512M or 2G, got '{text}'")
    if not 2**20 <= value <= MAX_MEMORY_BYTES:
        raise UsageError(f"expected a size from 1M to 1P, got '{text}'")
    return int(value)


def compute_dtype(*sets: EmbeddingSet) -> np.dtype:
    """float64 if any input needs it (float64 in either byte order, or integers float32 cannot hold
    exactly), else float32."""
    for s in sets:
        dt = s.vectors.dtype
        if (dt.kind == "f" and dt.itemsize >= 8) or (dt.kind in "iu" and dt.itemsize >= 4):
            return np.dtype(np.float64)
    return np.dtype(np.float32)


#: Rows per chunk when a whole input is read through (scans, covariance).
_SCAN_ROWS = 65536


def _row_chunks(x: np.ndarray, rows: int = _SCAN_ROWS) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, x.shape[0], rows):
        yield start, np.asarray(x[start : start + rows])


def _scan_rows(s: EmbeddingSet, test: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Boolean mask over the rows of s where test(rows) holds, read chunk by chunk (on the worker
    threads for large inputs: a 1,000,000 x 384 scan takes half the time on two)."""
    from .metrics import kernels

    x = s.vectors
    return np.concatenate(kernels.chunks_in_threads(lambda i0, i1: test(np.asarray(x[i0:i1])), len(x), _SCAN_ROWS, x.size))


def _describe_rows(s: EmbeddingSet, mask: np.ndarray) -> str:
    rows = np.flatnonzero(mask)
    shown = ", ".join(str(r) if s.ids is None else f"{r} ({s.id_of(r)})" for r in rows[:_ROWS_LISTED])
    more = f" and {len(rows) - _ROWS_LISTED} more" if len(rows) > _ROWS_LISTED else ""
    return f"{s.source} row{'s' if len(rows) > 1 else ''} {shown}{more}"


def _as_rows(x, dtype: np.dtype, normalize: bool) -> np.ndarray:
    """x in the compute dtype, L2-normalised if asked (zero rows stay zero: the policy decides;
    rows of any finite magnitude normalise correctly)."""
    x = np.asarray(x, dtype=dtype)
    return unit_rows(x) if normalize else x


def _sqnorm_peak(s: EmbeddingSet, dtype: np.dtype) -> float:
    """The largest squared row norm of s, summed in `dtype` (inf beyond it: all that matters then);
    NaN for vectors that are not in memory here (a Dask array: its blocks are looked at where they are)."""
    from .metrics import kernels

    x = s.vectors
    if not isinstance(x, np.ndarray) or not len(x):
        return math.nan if len(x) else 0.0

    def peak(i0: int, i1: int) -> float:
        rows = np.asarray(x[i0:i1], dtype=dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.einsum("ij,ij->i", rows, rows).max(initial=0.0))

    return max(kernels.chunks_in_threads(peak, len(x), _SCAN_ROWS, x.size))


def _row_text(s: EmbeddingSet, row: int) -> str:
    return f"{s.source} row {row}" + ("" if s.ids is None else f" ({s.id_of(row)})")


def _out_of_range(comp: "Comparison", exc: ScoreOutOfRange, a_row: int, b_row: int) -> InputError:
    """The kernel's ScoreOutOfRange, naming the pair by its rows (and ids) in the inputs."""
    return InputError(exc.describe(_row_text(comp.a, int(a_row)), _row_text(comp.b, int(b_row))))


def _rows(s: EmbeddingSet, start: int, stop: int, dtype: np.dtype, normalize: bool) -> np.ndarray:
    """Rows start:stop of s, ready for a kernel."""
    return _as_rows(s.vectors[start:stop], dtype, normalize)


def _gather(s: EmbeddingSet, index: np.ndarray, dtype: np.dtype, normalize: bool) -> np.ndarray:
    """Rows `index` of s, ready for a kernel."""
    return _as_rows(s.vectors[index], dtype, normalize)


@dataclass(eq=False)  # arrays: compared by identity
class Comparison:
    """A metric bound to its inputs and options, ready to score any block of pairs."""

    metric: Metric
    params: Params
    a: EmbeddingSet
    b: EmbeddingSet
    same: bool  # B is A: self-pairs are excluded from rankings
    input_dtype: np.dtype  # the type the inputs compute in (float32 inputs stay float32 for BLAS metrics)
    normalize: bool
    zero_vector: str
    undefined_a: np.ndarray  # rows whose scores follow the --zero-vector policy
    undefined_b: np.ndarray
    memory: int = DEFAULT_MEMORY_BYTES
    progress: Callable[[int], None] | None = None  # told how many pairs each finished block scored
    #: The largest squared row norms of A and of B (NaN: not known here); None: not looked at yet.
    #: Only matrices and rankings look (paired scores never need it: their kernels return float64).
    sqnorm_peaks: tuple[float, float] | None = None

    @property
    def dtype(self) -> np.dtype:
        """The type of blocks of scores and of the rows they come from: the inputs' type, except that
        float32 inputs whose scores could leave float32's range compute in float64: for a metric
        whose scores grow with the vectors, a squared row norm above WIDE_SQNORM (about 2e37), or
        every one below the safe range (about 8e-31: their squared distances would round to 0)."""
        if self.input_dtype == np.float64 or self.metric.bounded or self.normalize:
            return self.input_dtype
        top = max(self.peaks())
        lo = SAFE_SQNORMS[np.dtype(np.float32)][0]
        return np.dtype(np.float64) if top > WIDE_SQNORM or top < lo else self.input_dtype

    def peaks(self) -> tuple[float, float]:
        """sqnorm_peaks, looked at once (one pass over each input, in the worker threads)."""
        if self.sqnorm_peaks is None:
            pa = _sqnorm_peak(self.a, self.input_dtype)
            self.sqnorm_peaks = (pa, pa if self.same else _sqnorm_peak(self.b, self.input_dtype))
        return self.sqnorm_peaks

    def screen_is_safe(self) -> bool:
        """Whether a screen's products can neither overflow nor all underflow: always on unit rows
        (bounded metrics, --normalize); else when both inputs' largest squared norms lie in the
        safe range of the type the product runs in (outside it, blocks are scored by the matrix
        kernel, which scales them)."""
        if self.metric.bounded or self.normalize:
            return True
        dtype = self.dtype
        if dtype != self.input_dtype:  # float32 inputs in float64: any float32 row is safe there
            return True
        lo, hi = SAFE_SQNORMS.get(dtype, SAFE_SQNORMS[np.dtype(np.float64)])
        hi = WIDE_SQNORM if dtype == np.float32 else hi
        return all(math.isnan(p) or lo <= p <= hi for p in self.peaks())

    def report(self, pairs: int) -> None:
        if self.progress is not None:
            self.progress(pairs)

    def total_pairs(self, paired: bool = False) -> int:
        return len(self.a) if paired else len(self.a) * len(self.b)

    def rows(self, which: EmbeddingSet, start: int, stop: int) -> np.ndarray:
        return _rows(which, start, stop, self.dtype, self.normalize)

    def _apply_policy(self, scores: np.ndarray, ua: np.ndarray, ub: np.ndarray, paired: bool) -> np.ndarray:
        if not (ua.any() or ub.any()):
            return scores
        value = np.nan if self.zero_vector == "nan" else self.metric.neutral_score
        if value is None:  # the metric is defined there (a zero row left as it is)
            return scores
        if paired:
            scores[ua | ub] = value
        else:
            scores[ua, :] = value
            scores[:, ub] = value
        return scores

    def block(self, i0: int, i1: int, j0: int, j1: int, out: np.ndarray | None = None) -> np.ndarray:
        """Scores of rows i0:i1 of A against rows j0:j1 of B (written into `out` if given)."""
        a = self.rows(self.a, i0, i1)
        b = a if (self.same and (i0, i1) == (j0, j1)) else self.rows(self.b, j0, j1)
        try:
            if out is not None and self.metric.writes_into and out.dtype == self.dtype and out.flags.c_contiguous:
                scores = self.metric.matrix(a, b, self.params, out=out)
            else:
                scores = self.metric.matrix(a, b, self.params)
                if out is not None:
                    out[...] = scores
                    scores = out
        except ScoreOutOfRange as exc:
            raise _out_of_range(self, exc, i0 + exc.row, j0 + exc.col) from None
        scores = self._apply_policy(scores, self.undefined_a[i0:i1], self.undefined_b[j0:j1], paired=False)
        self.report((i1 - i0) * (j1 - j0))
        return scores

    def paired_block(self, i0: int, i1: int, a_index: np.ndarray | None = None,
                     b_index: np.ndarray | None = None) -> np.ndarray:
        """Scores of row i of A against row i of B for i in i0:i1, or of the listed pairs
        a_index[i0:i1], b_index[i0:i1] when given."""
        # in the inputs' type: paired kernels return float64 where float32 cannot hold a score
        dtype = self.input_dtype
        if a_index is None:
            a, b = _rows(self.a, i0, i1, dtype, self.normalize), _rows(self.b, i0, i1, dtype, self.normalize)
            ua, ub = self.undefined_a[i0:i1], self.undefined_b[i0:i1]
            ai = bi = np.arange(i0, i1)
        else:
            ai, bi = a_index[i0:i1], b_index[i0:i1]
            a, b = _gather(self.a, ai, dtype, self.normalize), _gather(self.b, bi, dtype, self.normalize)
            ua, ub = self.undefined_a[ai], self.undefined_b[bi]
        from .metrics import kernels

        try:
            scores = kernels.pairs_in_threads(lambda x, y: np.asarray(self.metric.paired(x, y, self.params)), a, b)
        except ScoreOutOfRange:
            try:  # again in one piece, for the pair's place (the threads' chunks number their own rows)
                self.metric.paired(a, b, self.params)
            except ScoreOutOfRange as exc:
                raise _out_of_range(self, exc, ai[exc.row], bi[exc.row]) from None
            raise
        scores = self._apply_policy(scores, ua, ub, paired=True)
        self.report(i1 - i0)
        return scores

    def keys(self, scores: np.ndarray) -> np.ndarray:
        """Ranking keys: smaller is better; NaN scores become +inf (ranked last)."""
        keys = np.negative(scores) if self.metric.higher_is_better else np.array(scores, copy=True)
        keys[np.isnan(keys)] = np.inf
        return keys

    def key_threshold(self, threshold: float) -> np.float64:
        # a float64 scalar, so float32 keys are compared in float64, not the threshold rounded to float32
        return np.float64(-threshold if self.metric.higher_is_better else threshold)

    def passes(self, scores: np.ndarray, threshold: float | None) -> np.ndarray:
        """Which scores are at least as close as the threshold (all, without one)."""
        scores = np.asarray(scores, dtype=np.float64)
        if threshold is None:
            return np.ones(scores.shape, dtype=bool)
        return self.keys(scores) <= self.key_threshold(threshold)

    def matrix_block_sizes(self) -> tuple[int, int]:
        """Blocks for writing a whole matrix: the output is the result, so only the kernel's
        copies of the input rows (and its scratch) count against the budget; whole rows at once."""
        n, m, d = len(self.a), len(self.b), self.a.dim
        row_bytes = (d + 2) * 8
        if m * row_bytes * 2 <= self.memory:
            return _whole_tiles(self.memory // (2 * row_bytes + 64), n, 0), m
        return self.block_sizes()

    def block_sizes(self, block_rows: int | None = None, candidates: int = 0) -> tuple[int, int]:
        """Rows of A and of B per block, from the memory budget (or fixed, for tests); each row
        may also hold up to `candidates` ranked pairs (_CANDIDATE_BYTES each)."""
        if block_rows is not None:
            return max(1, block_rows), max(1, block_rows)
        from .metrics import kernels

        operand = _OPERAND_BYTES_PER_VALUE * (self.a.dim + 2)  # per row of either side

        def rows_for(cols: int) -> int:
            per_row = (self.dtype.itemsize + _EXTRA_BYTES_PER_ENTRY) * cols + operand + _CANDIDATE_BYTES * candidates
            return max(1, self.memory - cols * operand) // per_row

        n, m = len(self.a), len(self.b)
        cols = _whole_tiles(min(_MAX_BLOCK_COLS, max(1, self.memory // (4 * operand))), m, 1)
        tile_rows, tile_cols = kernels.PRODUCT_TILE
        # narrower blocks of whole tiles rather than fewer rows than a tile: the same scores for any budget
        narrower = cols
        while rows_for(narrower) < min(tile_rows, n) and narrower > tile_cols:
            narrower = (narrower - 1) // tile_cols * tile_cols
        if rows_for(narrower) >= min(tile_rows, n):
            cols = narrower
        return _whole_tiles(rows_for(cols), n, 0), cols

    def score_buffer(self, rows: int, cols: int) -> Callable[[int, int], np.ndarray]:
        """A view maker over one reused buffer: blocks never allocate (or page-fault) afresh, and
        a block's scores are overwritten in place instead of living on beside the next block's."""
        buffer = np.empty(rows * cols, dtype=self.dtype)
        return lambda r, c: buffer[: r * c].reshape(r, c)


def _whole_tiles(count: int, total: int, axis: int) -> int:
    """A block's rows (axis 0) or columns (axis 1) out of `total`, rounded down to whole product
    tiles when it holds one but not all: blocks then split the product where its tiles do, and the
    scores do not depend on the budget (kernels.PRODUCT_TILE). At least 1."""
    from .metrics import kernels

    tile = kernels.PRODUCT_TILE[axis]
    if count >= total:
        return max(1, total)
    return max(1, count if count < tile else count - count % tile)


def as_embedding_set(x, name: str = "<array>") -> EmbeddingSet:
    """An EmbeddingSet from a set, an array, or a path."""
    from .io import as_embedding_set as accepted

    return accepted(x, name)


def prepare(
    a,
    b=None,
    *,
    metric: str | Metric = "cosine",
    p: float | None = None,
    cov_from=None,
    normalize: bool = False,
    zero_vector: str = "error",
    memory: int = DEFAULT_MEMORY_BYTES,
    notify: Callable[[str], None] | None = None,
    **metric_params,
) -> Comparison:
    """Check two inputs against a metric and fit what the metric needs (covariance). The metric's
    parameters (p, cov_from, a plugin's own) are keywords; None leaves one at its default."""
    memory = check_memory(memory)
    a = as_embedding_set(a, "A")
    same = b is None
    b = a if same else as_embedding_set(b, "B")
    m = get_metric(metric, warn=notify)
    if zero_vector not in ZERO_VECTOR_POLICIES:
        raise UsageError(f"--zero-vector must be one of {', '.join(ZERO_VECTOR_POLICIES)}, got '{zero_vector}'")
    if a.dim != b.dim:
        raise ShapeError(f"{a.source} has {a.dim} dimensions but {b.source} has {b.dim}; they cannot be compared")
    params = m.bind(dict(p=p, cov_from=cov_from, **metric_params))
    dtype = compute_dtype(a, b) if m.keeps_float32 else np.dtype(np.float64)  # scores may widen: Comparison.dtype
    inputs = [a] if same else [a, b]

    if m.domain == "nonnegative":
        for s in inputs:
            negative = _scan_rows(s, lambda x: (x < 0).any(axis=1))
            if negative.any():
                row = int(np.flatnonzero(negative)[0])
                col = int(np.flatnonzero(np.asarray(s.vectors[row]) < 0)[0])
                raise InputError(f"{s.source}: row {row}, column {col} is negative; {m.name} needs non-negative vectors")

    def undefined(s: EmbeddingSet) -> np.ndarray:
        mask = np.zeros(len(s), dtype=bool)
        if m.undefined_rows is not None:
            mask |= _scan_rows(s, m.undefined_rows)
        if normalize:
            zero = _scan_rows(s, lambda x: ~np.any(x != 0, axis=1))
            if zero.any() and zero_vector == "error":
                raise InputError(
                    f"--normalize: {_describe_rows(s, zero)} {'are zero vectors' if zero.sum() > 1 else 'is a zero vector'} "
                    "and cannot be L2-normalised (choose --zero-vector nan or zero)"
                )
            mask |= zero
        if mask.any() and zero_vector == "error":
            raise InputError(
                f"{m.name} is undefined for {m.undefined_words[1]}: {_describe_rows(s, mask)} "
                "(choose --zero-vector nan or zero to score them anyway)"
            )
        return mask

    undefined_a = undefined(a)
    undefined_b = undefined_a if same else undefined(b)

    comparison = Comparison(m, params, a, b, same, dtype, normalize, zero_vector, undefined_a, undefined_b, memory)
    if m.prepare is not None:
        data = {}
        for param in m.params:  # "data" parameters (mahalanobis' cov_from): loaded once, here
            if param.kind == "data" and params.get(param.name) is not None:
                source = data[param.name] = as_embedding_set(params.get(param.name), param.what)
                if source.dim != a.dim:
                    raise ShapeError(f"{source.source} has {source.dim} dimensions but {a.source} has {a.dim}")
        params = params.with_values(**data)

        def chunks(source: EmbeddingSet | None = None):
            for s in inputs if source is None else [source]:
                for _, rows in _row_chunks(s.vectors):
                    yield _as_rows(rows, np.dtype(np.float64), normalize)

        fitted = m.prepare(chunks, a.dim, params)
        comparison.params = fitted.without(*(param.name for param in m.params if param.kind == "data"))
    if notify is not None:
        for note in comparison.params.notes:
            notify(note)
    return comparison


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
#: best_pairs merges its found pairs once they outnumber the best so far and this many (few merges).
_MERGE_AFTER = 2**16


def _row_steps(rows: int, width: int) -> tuple[range, int]:
    """(starts, step) of row chunks of a block `width` scores wide (see _SELECT_CHUNK_BYTES)."""
    step = max(1, _SELECT_CHUNK_BYTES // max(1, 8 * width))
    return range(0, rows, step), step


def _keys_of(comp: Comparison, scores: np.ndarray, i0: int, j0: int, threshold, upper_only: bool) -> np.ndarray:
    """Ranking keys of scores whose first entry is the pair (i0, j0): NaN for pairs left out
    (self-pairs, or with upper_only every pair on or below the diagonal; pairs failing the threshold)."""
    keys = comp.keys(scores)
    if comp.same:
        gi = np.arange(i0, i0 + scores.shape[0])[:, None]
        gj = np.arange(j0, j0 + scores.shape[1])[None, :]
        keys[(gj <= gi) if upper_only else (gj == gi)] = np.nan
    if threshold is not None:
        keys[keys > comp.key_threshold(threshold)] = np.nan
    return keys


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
    if _can_screen(comp, k):
        yield from _screened_topk(comp, k, threshold, block_rows)
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
            order, state_rank = _best_per_row_index(merged[0], merged[1], merged[2], k)
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


def _can_screen(comp: Comparison, k: int) -> bool:
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
    from .metrics import kernels

    screen = comp.metric.screen
    n, m = len(comp.a), len(comp.b)
    sign = 1.0 if screen.higher else -1.0  # "good" = sign * product value: larger is closer
    d = comp.a.dim
    # one product chunk per thread, and a copy or two of its rows while they are short of k candidates
    chunk_bytes = min(_SCREEN_CHUNK_BYTES, comp.memory // (8 * kernels.threads()))
    if block_rows is not None:
        br, bc = max(1, block_rows), max(1, block_rows)
    else:  # the product lives in small chunks: a row block holds its prepared rows and its candidates
        br = max(1, min(n, comp.memory // (4 * (d + 2) * comp.dtype.itemsize + _CANDIDATE_BYTES * k)))
        bc = max(1, min(m, _SCREEN_BLOCK_COLS, chunk_bytes // (64 * comp.dtype.itemsize)))
    good_threshold = None if threshold is None else sign * float(screen.value(np.float64(threshold)))
    for i0 in range(0, n, br):
        yield _screened_rows(comp, k, threshold, good_threshold, i0, min(n, i0 + br), bc, chunk_bytes)


def _screened_rows(comp: Comparison, k: int, threshold, good_threshold, i0: int, i1: int, bc: int,
                   chunk_bytes: int) -> Ranking:
    """The ranking of rows i0:i1 of A (see _screened_topk): the product of each row chunk with
    each gallery block is a tile, computed and screened by one thread while it is in cache."""
    from .metrics import kernels

    screen = comp.metric.screen
    sign = 1.0 if screen.higher else -1.0
    m, rows_n = len(comp.b), i1 - i0
    left = screen.left(comp.rows(comp.a, i0, i1))
    small = rows_n * m * left.shape[1] <= 2**24  # a few milliseconds: not worth starting threads
    threads = 1 if small else kernels.threads()
    chunk_rows = max(1, min(rows_n, chunk_bytes // (bc * comp.dtype.itemsize), -(-rows_n // threads)))
    row_parts = [(r0, min(rows_n, r0 + chunk_rows)) for r0 in range(0, rows_n, chunk_rows)]
    col_parts = 1 if len(row_parts) >= threads else threads  # few rows: each thread takes some columns
    own = threading.local()  # each thread's product buffer
    kept = (np.empty(0, np.intp), np.empty(0, np.intp), np.empty(0))  # rows, cols, good product values
    kth = np.full(rows_n, -np.inf)  # running k-th best good value (-inf: fewer than k so far)
    slack = np.zeros(rows_n)  # the largest slack of any block so far, per row
    pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    pending_count = 0

    def gallery_block(j0):
        right = screen.right(comp.rows(comp.b, j0, min(m, j0 + bc)))
        return right, screen.slack(left, right)

    def take(waiter, width):
        """A block's candidates, once its tiles are screened; narrowed to the close ones when they pile up."""
        nonlocal kept, kth, pending, pending_count
        for rows, cols, values in waiter():
            if len(rows):
                pending.append((rows, cols, values))
                pending_count += len(rows)
        comp.report(rows_n * width)
        if pending and (pending_count > rows_n * max(k, 8) or np.isneginf(kth).any()):
            kept, kth = _keep_close(kept, pending, rows_n, k, slack, good_threshold)
            pending, pending_count = [], 0

    upcoming, in_flight = gallery_block(0), None
    # A tile to a thread with one BLAS thread each; small work runs in this thread, and BLAS may
    # use its own threads there (the product only screens: the scores come from the paired kernel).
    # Not loading threadpoolctl for it keeps small comparisons quick to start.
    with contextlib.nullcontext() if small else kernels.one_blas_thread_for(chunk_rows, min(m, bc), left.shape[1]):
        for j0 in range(0, m, bc):
            j1 = min(m, j0 + bc)
            right, block_slack = upcoming
            np.maximum(slack, block_slack, out=slack)
            width = j1 - j0
            cuts = sorted({width * c // col_parts for c in range(col_parts + 1)})
            tiles = [(r0, r1, c0, c1) for r0, r1 in row_parts for c0, c1 in zip(cuts[:-1], cuts[1:])]

            def screen_tile(t, j0=j0, right=right, tiles=tiles):
                r0, r1, c0, c1 = tiles[t]
                if getattr(own, "buffer", None) is None:
                    own.buffer = np.empty(chunk_rows * bc, dtype=left.dtype)
                product = own.buffer[: (r1 - r0) * (c1 - c0)].reshape(r1 - r0, c1 - c0)
                np.matmul(left[r0:r1], right[c0:c1].T, out=product)
                if comp.same:  # self-pairs never rank: their product value becomes the worst
                    g = np.arange(i0 + r0, i0 + r1)
                    on = (g >= j0 + c0) & (g < j0 + c1)
                    product[np.flatnonzero(on), g[on] - j0 - c0] = -sign * np.inf
                row_kth = kth[r0:r1]  # read once: the main thread may rebind kth meanwhile
                margin = 2.0 * slack[r0:r1]
                limit = row_kth - margin
                if good_threshold is not None:
                    limit = np.maximum(limit, good_threshold - margin)
                open_rows = np.flatnonzero(np.isneginf(row_kth))
                if len(open_rows) and k < product.shape[1]:  # fewer than k so far: this tile's k-th best
                    col = product.shape[1] - k if sign > 0 else k - 1
                    tile_kth = sign * np.partition(product[open_rows], col, axis=1)[:, col]
                    limit[open_rows] = np.maximum(limit[open_rows], tile_kth - margin[open_rows])
                hits = _at_least(product, limit, sign)
                values = sign * product.ravel()[hits].astype(np.float64)
                return hits // (c1 - c0) + r0, hits % (c1 - c0) + j0 + c0, values

            screening = kernels.start_each(screen_tile, len(tiles), threaded=not small)
            # No barrier between blocks: this block's tiles queue behind the previous block's, whose
            # candidates are taken now, and the next gallery block is prepared while the tiles run.
            if in_flight:
                take(*in_flight)
            in_flight = (screening, j1 - j0)
            if np.isneginf(kth).any():  # rows short of k candidates: this block's bounds help the next
                take(*in_flight)
                in_flight = None
            if j1 < m:
                upcoming = gallery_block(j1)
        if in_flight:
            take(*in_flight)
    if pending:
        kept, kth = _keep_close(kept, pending, rows_n, k, slack, good_threshold)
    return _exact_ranking(comp, kept, i0, k, threshold)


def _at_least(product: np.ndarray, limit: np.ndarray, sign: float) -> np.ndarray:
    """Flat indices where sign * product >= limit (per row), compared in the product's dtype
    with each limit rounded outwards, so no pair that reaches its limit is lost to rounding.
    Each row's best value is found first (a fast reduction): once bounds are tight, most rows
    have no pair to compare."""
    dtype = product.dtype
    outward = dtype.type(-np.inf if sign > 0 else np.inf)
    bound = np.nextafter((sign * limit).astype(dtype), outward)
    with np.errstate(invalid="ignore"):
        if sign > 0:
            rows = np.flatnonzero(np.fmax.reduce(product, axis=1) >= bound)
        else:
            rows = np.flatnonzero(np.fmin.reduce(product, axis=1) <= bound)
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
    best good value (and of the threshold): a superset of the row's true k best."""
    rows = np.concatenate([kept[0], *(p[0] for p in pending)])
    cols = np.concatenate([kept[1], *(p[1] for p in pending)])
    good = np.concatenate([kept[2], *(p[2] for p in pending)])
    order = np.lexsort((-good, rows))  # ties in good give the same k-th value: no third key needed
    rows, cols, good = rows[order], cols[order], good[order]
    rank = _ranks(rows)
    kth = np.full(rows_n, -np.inf)
    at_k = rank == k
    kth[rows[at_k]] = good[at_k]
    keep = good >= kth[rows] - 2.0 * slack[rows]
    if good_threshold is not None:
        keep &= good >= good_threshold - 2.0 * slack[rows]
    return (rows[keep], cols[keep], good[keep]), kth


def _exact_ranking(comp: Comparison, kept, i0: int, k: int, threshold) -> Ranking:
    """The k best of the kept candidates of rows i0.. by the paired kernel's exact scores."""
    rows, cols, _ = kept
    if comp.same:  # a row whose every column was a candidate brought its self-pair along
        keep = rows + i0 != cols
        rows, cols = rows[keep], cols[keep]
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
    order, rank = _best_per_row_index(rows, cols, comp.keys(scores), k)
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


def _best_per_row_index(rows, cols, keys, k):
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


def best_pairs(comp: Comparison, limit: int | None, threshold: float | None = None,
               block_rows: int | None = None) -> Ranking:
    """The `limit` best pairs overall (all with None). Self-comparison lists each unordered pair once.

    Blocks are ranked in row chunks (_SELECT_CHUNK_BYTES); a chunk keeps its pairs at least as
    good as the limit-th best key so far (ties too: they may still win on index) and at most its
    own `limit` best, and these are merged with the best so far once they outnumber them."""
    n, m = len(comp.a), len(comp.b)
    br, bc = comp.block_sizes(block_rows)
    best = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0))  # rows, cols, keys, scores
    found: list[tuple[np.ndarray, ...]] = []
    found_count = 0
    bound = np.float64(np.inf)  # the limit-th best key so far

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
            if comp.same and j1 <= i0 + 1:
                comp.report((i1 - i0) * (j1 - j0))
                continue  # entirely on or below the diagonal
            scores = comp.block(i0, i1, j0, j1, out=view(i1 - i0, j1 - j0))
            starts, step = _row_steps(i1 - i0, j1 - j0)
            for r0 in starts:
                chunk = scores[r0 : r0 + step]
                keys = _keys_of(comp, chunk, i0 + r0, j0, threshold, upper_only=True)
                with np.errstate(invalid="ignore"):
                    valid = keys <= bound  # NaN (left out) fails
                if limit is not None and np.count_nonzero(valid) > limit:
                    kth = np.partition(keys[valid], limit - 1)[limit - 1]
                    valid &= keys <= kth
                rows, cols = np.nonzero(valid)
                found.append((rows + i0 + r0, cols + j0, keys[rows, cols].astype(np.float64),
                              chunk[rows, cols].astype(np.float64)))
                found_count += len(rows)
                if limit is not None and found_count > max(limit, _MERGE_AFTER):
                    merge()
    merge()
    return Ranking(comp.metric, comp.a, comp.b, best[0], best[1], best[3], np.arange(1, len(best[3]) + 1), "overall")


def iter_paired(comp: Comparison, threshold: float | None = None, block_rows: int | None = None,
                pairs: tuple[np.ndarray, np.ndarray] | None = None) -> Iterator[Ranking]:
    """Row i of A against row i of B, in row order; or the listed (a, b) pairs, in list order."""
    if pairs is None:
        n = len(comp.a)
        if len(comp.b) != n:
            raise ShapeError(f"--paired needs the same number of rows: {comp.a.source} has {n}, {comp.b.source} has {len(comp.b)}")
        a_index = b_index = None
    else:
        a_index, b_index = pairs
        n = len(a_index)
    br = comp.block_sizes(block_rows)[0] if block_rows else max(1, comp.memory // (comp.a.dim * 32))
    for i0 in range(0, n, br):
        i1 = min(n, i0 + br)
        scores = comp.paired_block(i0, i1, a_index, b_index).astype(np.float64)
        ai = np.arange(i0, i1) if a_index is None else a_index[i0:i1]
        bi = ai if b_index is None else b_index[i0:i1]
        keep = comp.passes(scores, threshold)
        yield Ranking(comp.metric, comp.a, comp.b, ai[keep], bi[keep].copy(), scores[keep],
                      np.ones(int(keep.sum()), np.int64), "paired")


def paired_best(comp: Comparison, limit: int | None, threshold: float | None = None,
                block_rows: int | None = None, pairs=None) -> Ranking:
    """Paired (or listed) scores ranked overall, best first."""
    allp = Ranking.concat(list(iter_paired(comp, threshold, block_rows, pairs)), comp.metric, comp.a, comp.b, "overall")
    return scored_pairs(comp, allp.a_index, allp.b_index, allp.score, None, "all" if limit is None else limit)


def scored_pairs(comp: Comparison, a_index: np.ndarray, b_index: np.ndarray, scores: np.ndarray,
                 threshold: float | None = None, limit: int | str | None = None) -> Ranking:
    """Pairs already scored (elsewhere: a cluster), as compare reports them: those passing the
    threshold in the given order, or with `limit` (an int or "all") the best overall first."""
    check_threshold(threshold)
    keep = comp.passes(scores, threshold)
    a_index, b_index, scores = np.asarray(a_index)[keep], np.asarray(b_index)[keep], np.asarray(scores)[keep]
    if limit is None:
        return Ranking(comp.metric, comp.a, comp.b, a_index, b_index, scores, np.ones(len(scores), np.int64), "paired")
    order = np.lexsort((b_index, a_index, comp.keys(scores)))[: None if limit == "all" else limit]
    return Ranking(comp.metric, comp.a, comp.b, a_index[order], b_index[order], scores[order],
                   np.arange(1, len(order) + 1), "overall")


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
    rows = _whole_tiles(comp.memory // (16 * m), n, 0)
    return [(i0, min(n, i0 + rows)) for i0 in range(0, n, rows)]


def iter_matrix_rows(comp: Comparison) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, block of whole rows) of the score matrix, each block within the memory budget."""
    for i0, i1 in matrix_row_blocks(comp):
        yield i0, fill_matrix(comp, row_range=(i0, i1))


def pair_scores(comp: Comparison, left: np.ndarray | None = None, right: np.ndarray | None = None,
                block_rows: int | None = None) -> np.ndarray:
    """float64 scores of the listed pairs (row left[i] of A with row right[i] of B), or of row i
    with row i when none are listed, block by block."""
    pairs = None if left is None else (np.asarray(left), np.asarray(right))
    parts = [part.score for part in iter_paired(comp, None, block_rows, pairs)]
    return np.concatenate(parts) if parts else np.empty(0)


def upper_triangle(i0: int, block: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, float64 score) of the pairs i < j in a block of whole matrix rows that starts at
    row i0 (as iter_matrix_rows yields them): each unordered pair of a self-comparison once."""
    rows, cols = np.nonzero(np.arange(block.shape[1])[None, :] > np.arange(i0, i0 + block.shape[0])[:, None])
    return rows + i0, cols, block[rows, cols].astype(np.float64)


# ---------------------------------------------------------------- the public API


def check_threshold(threshold: float | None) -> None:
    if threshold is not None and not math.isfinite(threshold):
        raise UsageError(f"the threshold must be a finite number, got {threshold}")


def check_memory(memory) -> int:
    """A working-memory budget in bytes, from a number of bytes or a size such as '512M'."""
    if isinstance(memory, str):
        return parse_size(memory)
    if isinstance(memory, bool) or not isinstance(memory, (int, np.integer)) or not 1 <= memory <= MAX_MEMORY_BYTES:
        raise UsageError(f"memory must be a positive number of bytes up to 1P (or a size such as '512M'), got {memory!r}")
    return int(memory)


def check_counts(top_k: int | None, limit: int | None) -> None:
    if top_k is not None and top_k < 1:
        raise UsageError(f"--top-k must be at least 1 (or 'all'), got {top_k}")
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1 (or 'all'), got {limit}")


def rankings(comp: Comparison, *, top_k: int | None = 5, limit: int | str | None = None,
             threshold: float | None = None, paired: bool = False,
             block_rows: int | None = None, pairs: tuple[np.ndarray, np.ndarray] | None = None) -> Iterator[Ranking]:
    """The rankings `compare` asks for, as a stream of Ranking chunks.

    `limit` set (an int, or "all" for every pair): one overall ranking; otherwise `top_k`
    per row of A (None: every row of B). `paired`: row i against row i; `pairs`: only the
    listed (a_index, b_index) pairs, in list order.
    """
    overall = limit is not None
    limit = None if limit == "all" else limit
    check_counts(top_k, limit)
    check_threshold(threshold)
    if paired or pairs is not None:
        if overall:
            yield paired_best(comp, limit, threshold, block_rows, pairs)
        else:
            yield from iter_paired(comp, threshold, block_rows, pairs)
    elif overall:
        yield best_pairs(comp, limit, threshold, block_rows)
    else:
        yield from iter_topk(comp, top_k, threshold, block_rows)


def results(comp: Comparison, *, top_k: int | None = 5, limit: int | str | None = None,
            threshold: float | None = None, paired: bool = False, pairs=None,
            block_rows: int | None = None) -> Score | Iterator[Ranking]:
    """What `compare` asks for: one Score for two single vectors (none if it fails the
    threshold), else a stream of Ranking chunks. `pairs` is a (a_index, b_index) tuple or a file."""
    check_threshold(threshold)
    if pairs is not None and not isinstance(pairs, tuple):
        from .io import read_pairs

        pairs = read_pairs(pairs, comp.a, comp.b)
    if is_single_pair(comp) and not paired and pairs is None and limit is None:
        score = single_score(comp)
        if comp.passes([score.value], threshold)[0]:
            return score
        return iter([Ranking.concat([], comp.metric, comp.a, comp.b, "row")])
    return rankings(comp, top_k=top_k, limit=limit, threshold=threshold, paired=paired,
                    block_rows=block_rows, pairs=pairs)


def compare(a, b=None, *, metric: str | Metric = "cosine", top_k: int | None = 5, limit: int | str | None = None,
            threshold: float | None = None, paired: bool = False, pairs=None, p: float | None = None,
            cov_from=None, normalize: bool = False, zero_vector: str = "error", memory: int = DEFAULT_MEMORY_BYTES,
            notify: Callable[[str], None] | None = None, block_rows: int | None = None) -> Ranking | Score:
    """Compare embeddings: one Score for two single vectors, else a Ranking.

    >>> import numpy as np
    >>> float(compare(np.array([1.0, 0.0]), np.array([1.0, 1.0]), metric="cosine"))  # doctest: +ELLIPSIS
    0.7071067811865...
    """
    comp = prepare(a, b, metric=metric, p=p, cov_from=cov_from, normalize=normalize,
                   zero_vector=zero_vector, memory=memory, notify=notify)
    found = results(comp, top_k=top_k, limit=limit, threshold=threshold, paired=paired, pairs=pairs,
                    block_rows=block_rows)
    if isinstance(found, Score):
        return found
    parts = list(found)
    grouping = parts[0].grouping if parts else "row"
    return Ranking.concat(parts, comp.metric, comp.a, comp.b, grouping)


def verdict_pairs(comp: Comparison, paired: bool = False, pairs=None) -> tuple[np.ndarray, np.ndarray] | None:
    """The pairs `verify` judges: the listed ones, row i with row i (`paired`), or every row of
    one side with the single vector of the other; None for row i with row i."""
    if pairs is not None:
        if not isinstance(pairs, tuple):
            from .io import read_pairs

            pairs = read_pairs(pairs, comp.a, comp.b)
        return pairs
    n, m = len(comp.a), len(comp.b)
    if paired or n == m == 1:
        return None
    if n == 1 or m == 1:
        count = max(n, m)
        rows = np.arange(count)
        zeros = np.zeros(count, dtype=rows.dtype)
        return (zeros, rows) if n == 1 else (rows, zeros)
    raise UsageError(f"{comp.a.source} has {n} rows and {comp.b.source} has {m}: say which pairs to judge "
                     "with --paired (row i with row i) or --pairs FILE")


def verify(comp: Comparison, threshold: float, paired: bool = False, pairs=None,
           block_rows: int | None = None) -> Iterator[Verdicts]:
    """Each pair judged same when at least as close as `threshold` (similarity >= T, distance <= T);
    a NaN score (an undefined pair) is never a match."""
    if comp.same:
        raise UsageError("verify needs two inputs, A and B")
    if threshold is None:
        raise UsageError("verify needs a threshold")
    check_threshold(threshold)
    for part in iter_paired(comp, None, block_rows, verdict_pairs(comp, paired, pairs)):
        yield Verdicts(part.metric, part.a, part.b, part.a_index, part.b_index, part.score, part.rank,
                       "paired", float(threshold), comp.passes(part.score, threshold))


def is_single_pair(comp: Comparison) -> bool:
    return not comp.same and comp.a.single and comp.b.single


def single_score(comp: Comparison) -> Score:
    return Score(comp.metric, comp.a, comp.b, float(comp.block(0, 1, 0, 1)[0, 0]))


def matrix(a, b=None, *, metric: str | Metric = "cosine", p: float | None = None, cov_from=None,
           normalize: bool = False, zero_vector: str = "error", memory: int = DEFAULT_MEMORY_BYTES,
           notify: Callable[[str], None] | None = None, out: np.ndarray | None = None,
           block_rows: int | None = None) -> MatrixResult:
    """The full score matrix of A against B (or A against itself)."""
    comp = prepare(a, b, metric=metric, p=p, cov_from=cov_from, normalize=normalize,
                   zero_vector=zero_vector, memory=memory, notify=notify)
    return MatrixResult(comp.metric, comp.a, comp.b, fill_matrix(comp, out, block_rows))

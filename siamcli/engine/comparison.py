"""Comparison: a metric bound to two inputs and its options, scoring any block of pairs;
prepare() checks the inputs and fits what the metric needs; the budget and option checks.

Work proceeds in row blocks of A against column blocks of B, so memory follows the block size,
not N x M. Top-k lists are merged block by block. Ties are broken by index everywhere.
Ranking uses a key where smaller is better: the distance, or minus the similarity; a NaN
score ranks last (key +inf); pairs that are excluded (self-pairs, failing --threshold) get key NaN.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ..errors import counted, InputError, ShapeError, UsageError, mention
from ..io import EmbeddingSet
from ..metrics import (SAFE_SQNORMS, WIDE_SQNORM, Metric, Params, ScoreOutOfRange, get_metric, unit_rows,
                       zero_rows)

DEFAULT_MEMORY_BYTES = 512 * 2**20
#: The largest working memory accepted (a petabyte: any larger number is a typo, and overflows sizes).
MAX_MEMORY_BYTES = 2**50
ZERO_VECTOR_POLICIES = ("error", "nan", "zero")
#: Working bytes per score entry while ranking, beyond the score itself (its dtype's size): the
#: copy of rows still being filled (the keys and masks are made per row chunk, _SELECT_CHUNK_BYTES).
_EXTRA_BYTES_PER_ENTRY = 4
#: Working bytes per candidate pair a ranking keeps for a row (up to k of them): its row, column
#: and key or value, and the copies a merge of them makes (_keep_close, best_per_row_index).
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
    from ..metrics import kernels

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


def _row_chunks(x: np.ndarray, rows: int = _SCAN_ROWS, step: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """(start, rows) of x in reads of `rows` rows; with `step`, every step-th row (a sample)."""
    for start in range(0, x.shape[0], rows * step):
        yield start, np.asarray(x[start : start + rows * step : step])


def scan_rows(s: EmbeddingSet, test: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Boolean mask over the rows of s where test(rows) holds, read chunk by chunk (on the worker
    threads for large inputs: a 1,000,000 x 384 scan takes half the time on two)."""
    from ..metrics import kernels

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
    from ..metrics import kernels

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

    def __repr__(self) -> str:
        """One line: the metric and its parameters' names, the inputs' shapes, the options; no arrays."""
        from ..io.bounded import human_size

        inputs = f"{self.a!r} with itself" if self.same else f"{self.a!r} against {self.b!r}"
        params = f", params={sorted(self.params.values)}" if self.params.values else ""
        return (f"Comparison({self.metric.name!r}{params}, {inputs}, normalize={self.normalize}, "
                f"zero_vector={self.zero_vector!r}, memory={human_size(self.memory)!r})")

    @property
    def mirrored(self) -> bool:
        """A set with itself under a symmetric metric: each unordered pair scored once stands for both."""
        return self.same and self.metric.symmetric

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
        from ..metrics import kernels

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
        """Ranking keys: smaller is better; NaN scores become +inf (ranked last): the metric's own."""
        return self.metric.ranking_keys(scores)

    def key_threshold(self, threshold: float) -> np.float64:
        """The threshold's ranking key, as a float64 scalar, so float32 keys are compared in float64,
        not the threshold rounded to float32."""
        return np.float64(self.metric.ranking_keys(np.array([threshold], dtype=np.float64))[0])

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
            return whole_tiles(self.memory // (2 * row_bytes + 64), n, 0), m
        return self.block_sizes()

    def block_sizes(self, block_rows: int | None = None, candidates: int = 0) -> tuple[int, int]:
        """Rows of A and of B per block, from the memory budget (or fixed, for tests); each row
        may also hold up to `candidates` ranked pairs (_CANDIDATE_BYTES each)."""
        if block_rows is not None:
            return max(1, block_rows), max(1, block_rows)
        from ..metrics import kernels

        operand = _OPERAND_BYTES_PER_VALUE * (self.a.dim + 2)  # per row of either side

        def rows_for(cols: int) -> int:
            per_row = (self.dtype.itemsize + _EXTRA_BYTES_PER_ENTRY) * cols + operand + _CANDIDATE_BYTES * candidates
            return max(1, self.memory - cols * operand) // per_row

        n, m = len(self.a), len(self.b)
        cols = whole_tiles(min(_MAX_BLOCK_COLS, max(1, self.memory // (4 * operand))), m, 1)
        tile_rows, tile_cols = kernels.PRODUCT_TILE
        # narrower blocks of whole tiles rather than fewer rows than a tile: the same scores for any budget
        narrower = cols
        while rows_for(narrower) < min(tile_rows, n) and narrower > tile_cols:
            narrower = (narrower - 1) // tile_cols * tile_cols
        if rows_for(narrower) >= min(tile_rows, n):
            cols = narrower
        return whole_tiles(rows_for(cols), n, 0), cols

    def score_buffer(self, rows: int, cols: int) -> Callable[[int, int], np.ndarray]:
        """A view maker over one reused buffer: blocks never allocate (or page-fault) afresh, and
        a block's scores are overwritten in place instead of living on beside the next block's."""
        buffer = np.empty(rows * cols, dtype=self.dtype)
        return lambda r, c: buffer[: r * c].reshape(r, c)


def whole_tiles(count: int, total: int, axis: int) -> int:
    """A block's rows (axis 0) or columns (axis 1) out of `total`, rounded down to whole product
    tiles when it holds one but not all: blocks then split the product where its tiles do, and the
    scores do not depend on the budget (kernels.PRODUCT_TILE). At least 1."""
    from ..metrics import kernels

    tile = kernels.PRODUCT_TILE[axis]
    if count >= total:
        return max(1, total)
    return max(1, count if count < tile else count - count % tile)


def as_embedding_set(x, name: str = "<array>") -> EmbeddingSet:
    """An EmbeddingSet from a set, an array, or a path."""
    from ..io import as_embedding_set as accepted

    return accepted(x, name)


def prepare(a, b=None, *, metric: str | Metric = "cosine", p: float | None = None, cov_from=None,
            normalize: bool = False, zero_vector: str = "error", memory: int | str = DEFAULT_MEMORY_BYTES,
            notify: Callable[[str], None] | None = None, **metric_params) -> Comparison:
    """Check two inputs against a metric and fit what it needs (mahalanobis' covariance).

    Parameters
    ----------
    a, b : path, array_like, torch.Tensor, DataFrame or EmbeddingSet
        The vectors, as `siamcli.load` takes them; `b` None: A against itself.
    metric : str or Metric
        A metric's name or alias, any case (`siamcli.available_metrics` lists them).
    p, cov_from, **metric_params : optional
        The metric's parameters (minkowski's p; mahalanobis' covariance data; a plugin's own);
        None leaves one at its default.
    normalize : bool
        L2-normalise every row first.
    zero_vector : {"error", "nan", "zero"}
        Rows the metric is undefined for (zero vectors under cosine): an error, NaN scores, or
        the metric's neutral score.
    memory : int or str
        Working memory beyond the inputs, in bytes or as a size (``"512M"``, ``"2G"``).
    notify : callable, optional
        Called with each note for the user (a plugin's problem, what a fit decided).

    Returns
    -------
    Comparison
        The metric bound to both inputs; ``.block(i0, i1, j0, j1)`` scores any block of pairs.

    Examples
    --------
    >>> import siamcli
    >>> comparison = siamcli.prepare([[1.0, 0.0], [0.0, 2.0]], metric="l1", memory="64M")
    >>> comparison.metric.name, comparison.memory, comparison.block(0, 2, 0, 2).tolist()
    ('manhattan', 67108864, [[0.0, 3.0], [3.0, 0.0]])
    """
    memory = check_memory(memory)
    a = as_embedding_set(a, "A")
    same = b is None
    b = a if same else as_embedding_set(b, "B")
    m = get_metric(metric, warn=notify)
    if zero_vector not in ZERO_VECTOR_POLICIES:
        raise UsageError(f"{mention('zero_vector')} must be one of {', '.join(ZERO_VECTOR_POLICIES)}, got '{zero_vector}'")
    if a.dim != b.dim:
        raise ShapeError(f"{a.source} has {counted(a.dim, 'dimension')} but {b.source} has {b.dim}; they cannot be compared")
    params = m.bind(dict(p=p, cov_from=cov_from, **metric_params))
    dtype = compute_dtype(a, b) if m.keeps_float32 else np.dtype(np.float64)  # scores may widen: Comparison.dtype
    inputs = [a] if same else [a, b]
    if m.domain == "nonnegative":
        for s in inputs:
            _check_nonnegative(s, m)
    undefined_a = _undefined_rows(a, m, normalize, zero_vector)
    undefined_b = undefined_a if same else _undefined_rows(b, m, normalize, zero_vector)
    comparison = Comparison(m, params, a, b, same, dtype, normalize, zero_vector, undefined_a, undefined_b, memory)
    if m.prepare is not None:
        comparison.params = fit_params(m, params, inputs, normalize)
    if notify is not None:
        for note in comparison.params.notes:
            notify(note)
    return comparison


def _check_nonnegative(s: EmbeddingSet, m: Metric) -> None:
    negative = scan_rows(s, lambda x: (x < 0).any(axis=1))
    if negative.any():
        row = int(np.flatnonzero(negative)[0])
        col = int(np.flatnonzero(np.asarray(s.vectors[row]) < 0)[0])
        raise InputError(f"{s.source}: row {row}, column {col} is negative; {m.name} needs non-negative vectors")


def _undefined_rows(s: EmbeddingSet, m: Metric, normalize: bool, zero_vector: str) -> np.ndarray:
    """Rows of s the metric (or --normalize) is undefined for; an error under the 'error' policy."""
    mask = np.zeros(len(s), dtype=bool)
    if m.undefined_rows is not None:
        mask |= scan_rows(s, m.undefined_rows)
    if normalize:
        zero = scan_rows(s, zero_rows)
        if zero.any() and zero_vector == "error":
            raise InputError(
                f"{mention('normalize')}: {_describe_rows(s, zero)} {'are zero vectors' if zero.sum() > 1 else 'is a zero vector'} "
                f"and cannot be L2-normalised (choose {mention('zero_vector')} nan or zero)"
            )
        mask |= zero
    if mask.any() and zero_vector == "error":
        raise InputError(
            f"{m.name} is undefined for {m.undefined_words[1]}: {_describe_rows(s, mask)} "
            f"(choose {mention('zero_vector')} nan or zero to score them anyway)"
        )
    return mask


def fit_params(m: Metric, params: Params, inputs: list[EmbeddingSet], normalize: bool) -> Params:
    """The metric's parameters fitted on the compared rows, or on a "data" parameter's rows (cov_from)."""
    dim = inputs[0].dim
    data = {}
    for param in m.params:  # "data" parameters (mahalanobis' cov_from): loaded once, here
        if param.kind == "data" and params.get(param.name) is not None:
            source = data[param.name] = as_embedding_set(params.get(param.name), param.what)
            if source.dim != dim:
                raise ShapeError(f"{source.source} has {counted(source.dim, 'dimension')} but {inputs[0].source} has {dim}")
    params = params.with_values(**data)

    def chunks(source: EmbeddingSet | None = None, sample: int | None = None):
        for s in inputs if source is None else [source]:
            # a sample (euclidean's shift) in small reads: a lazy input's rows are made as they are read
            step = 1 if sample is None else max(1, -(-len(s.vectors) // max(1, sample)))
            for _, rows in _row_chunks(s.vectors, _SCAN_ROWS if sample is None else 256, step):
                yield _as_rows(rows, np.dtype(np.float64), normalize)

    fitted = m.prepare(chunks, dim, params)
    return fitted.without(*(param.name for param in m.params if param.kind == "data"))  # not shipped to workers


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
        raise UsageError(f"{mention('top_k')} must be at least 1 (or 'all'), got {top_k}")
    if limit is not None and limit < 1:
        raise UsageError(f"{mention('limit')} must be at least 1 (or 'all'), got {limit}")

"""Retrieval (self-comparison of one labelled set; self pairs excluded; ranked by score in the
metric's direction, ties by smaller index first; NaN scores rank last):

- precision_at_1: fraction of queries whose best match has the query's class.
- recall_at_k: fraction of queries with at least one same-class item among their k best: the
  "recall@k" of metric-learning papers (pytorch-metric-learning; Musgrave et al. 2020).
- map_at_r: mean over queries of AP@R = (1/R) sum_{i<=R} P(i) rel(i), R = number of other
  items of the query's class, P(i) = precision of the first i results (Musgrave et al.,
  "A Metric Learning Reality Check"). Queries whose class has no other item are skipped.

Retrieval partially sorts each query's row, one block of rows at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from ...errors import counted, InputError, ShapeError, UsageError
from ...metrics import ranking_keys
from ...results import Result, brief, plain

DEFAULT_KS = (1, 5, 10)
RETRIEVAL_FIELDS = (
    "metric", "higher_is_better", "n_items", "n_queries", "n_skipped", "precision_at_1", "recall_at_k",
    "map_at_r", "warnings",
)
_RETRIEVAL_CHUNK_ENTRIES = 2**22  # score entries per row chunk: bounds the sort's working memory


@dataclass
class RetrievalReport(Result):
    """Retrieval scores of a labelled set against itself (definitions in the module docstring)."""

    metric: str
    higher_is_better: bool
    n_items: int
    n_queries: int  # queries whose class has another item
    n_skipped: int  # queries without one (singleton classes)
    precision_at_1: float
    recall_at_k: dict[str, float]
    map_at_r: float
    warnings: list[str]
    # each query's hit at 1 and AP@R, in row order (for intervals; not part of record())
    query_hits_at_1: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False, compare=False)
    query_ap: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False, compare=False)

    fields = RETRIEVAL_FIELDS

    def record(self) -> dict:
        return {name: plain(getattr(self, name)) for name in RETRIEVAL_FIELDS}

    def repr_parts(self) -> list[str]:
        return [repr(self.metric), f"{self.n_queries} queries", f"precision_at_1={brief(self.precision_at_1)}",
                f"map_at_r={brief(self.map_at_r)}"]


def codes_and_sizes(classes) -> tuple[np.ndarray, np.ndarray]:
    """Integer code of each item's class and the size of each class."""
    values = np.asarray(classes)
    if values.ndim != 1:
        raise InputError("class labels must be one-dimensional: one label per item")
    try:
        _, codes, counts = np.unique(values, return_inverse=True, return_counts=True)
    except TypeError:  # mixed types do not sort; their text does
        _, codes, counts = np.unique(values.astype(str), return_inverse=True, return_counts=True)
    return codes.reshape(-1).astype(np.int64), counts.astype(np.int64)


def _check_ks(ks) -> list[int]:
    out = []
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise UsageError(f"k for recall@k must be a whole number of at least 1, got {k}")
        if int(k) not in out:
            out.append(int(k))
    if not out:
        raise UsageError("recall@k needs at least one k")
    return out


def retrieval_report(score_rows: Iterable[tuple[int, np.ndarray]], classes, higher_is_better: bool,
                     ks: Sequence[int] = DEFAULT_KS, *, metric: str = "") -> RetrievalReport:
    """Precision@1, recall@k and mAP@R of a set queried against itself, one row block at a time.

    `score_rows` yields (first_row, block): block[r] holds the scores of item first_row + r
    against every item (siamcli.engine.iter_matrix_rows of a self-comparison).

    >>> s = np.array([[0, 0.9, 0.1], [0.9, 0, 0.2], [0.1, 0.2, 0]])
    >>> r = retrieval_report([(0, s)], ["a", "a", "b"], True)
    >>> r.n_queries, r.n_skipped, r.precision_at_1, r.map_at_r
    (2, 1, 1.0, 1.0)
    """
    codes, _ = codes_and_sizes(classes)
    counts = retrieval_counts(score_rows, codes, higher_is_better, ks)
    return retrieval_from_counts([counts], len(codes), higher_is_better, ks, metric=metric)


@dataclass
class RetrievalCounts:
    """Retrieval tallies of some queries: exact counts, and AP sums per chunk in the order summed
    (so tallies of row blocks computed apart add up to exactly the sums of one pass); and each
    query's hit at 1 (0 or 1) and AP@R, in row order, for intervals by bootstrap over queries."""

    hits_at_1: int
    hits_at_k: np.ndarray
    ap_sums: list
    n_queries: int
    n_skipped: int
    query_hits_at_1: np.ndarray = field(default_factory=lambda: np.empty(0))
    query_ap: np.ndarray = field(default_factory=lambda: np.empty(0))


def retrieval_counts(score_rows: Iterable[tuple[int, np.ndarray]], codes: np.ndarray, higher_is_better: bool,
                     ks: Sequence[int] = DEFAULT_KS) -> RetrievalCounts:
    """The tallies behind retrieval_report for the rows in `score_rows` (codes: integer classes)."""
    ks = _check_ks(ks)
    codes = np.asarray(codes)
    n = len(codes)
    counts = np.bincount(codes)
    others = counts[codes] - 1  # R: same-class items other than the query
    higher = bool(higher_is_better)
    hits_at_1 = 0
    hits_at_k = np.zeros(len(ks), dtype=np.int64)
    ap_sums, query_hits, query_ap = [], [], []
    n_queries = n_skipped = 0

    for first_row, block in score_rows:
        block = np.asarray(block)
        if block.ndim != 2 or block.shape[1] != n:
            raise ShapeError(f"a score block must have one column per item ({n}), got shape {block.shape}")
        if first_row < 0 or first_row + block.shape[0] > n:
            raise ShapeError(f"score rows {first_row}..{first_row + block.shape[0] - 1} are outside the {n} items")
        step = max(1, _RETRIEVAL_CHUNK_ENTRIES // max(1, n))
        for r0 in range(0, block.shape[0], step):
            rows = np.arange(first_row + r0, first_row + min(block.shape[0], r0 + step))
            wanted = others[rows] >= 1
            n_skipped += int((~wanted).sum())
            if not wanted.any():
                continue
            rows = rows[wanted]
            keys = ranking_keys(block[rows - first_row], higher).astype(np.float64, copy=False)
            local = np.arange(len(rows))
            keys[local, rows] = np.nan  # self pairs: never candidates
            r_of = others[rows]
            depth = int(min(n - 1, max(max(ks), int(r_of.max()))))
            kth = np.partition(keys, depth - 1, axis=1)[:, depth - 1 : depth]
            # every item with a key <= the depth-th best is a candidate, ties included; all others
            # rank below depth, so ranks among candidates are the true ranks up to depth
            q, col = np.nonzero(keys <= kth)
            order = np.lexsort((col, keys[q, col], q))
            q, col = q[order], col[order]
            row_start = np.searchsorted(q, q, side="left")
            rank = np.arange(len(q)) - row_start  # 0 for the best match
            relevant = codes[col] == codes[rows[q]]

            first_hits = np.bincount(q[relevant & (rank == 0)], minlength=len(rows))
            hits_at_1 += int(first_hits.sum())
            query_hits.append(first_hits.astype(np.float64))
            for slot, k in enumerate(ks):
                hit_rows = np.bincount(q[relevant & (rank < k)], minlength=len(rows))
                hits_at_k[slot] += int((hit_rows > 0).sum())
            in_r = relevant & (rank < r_of[q])
            seen = np.cumsum(in_r)
            seen_in_row = seen - (seen[row_start] - in_r[row_start])  # relevant results up to here, per row
            precision = np.where(in_r, seen_in_row / (rank + 1), 0.0)
            ap = np.bincount(q, weights=precision, minlength=len(rows)) / r_of
            ap_sums.append(float(ap.sum()))
            query_ap.append(ap)
            n_queries += len(rows)
    joined = lambda parts: np.concatenate(parts) if parts else np.empty(0)  # noqa: E731
    return RetrievalCounts(hits_at_1, hits_at_k, ap_sums, n_queries, n_skipped, joined(query_hits), joined(query_ap))


def retrieval_from_counts(parts: Sequence[RetrievalCounts], n: int, higher_is_better: bool,
                          ks: Sequence[int] = DEFAULT_KS, *, metric: str = "") -> RetrievalReport:
    """The report from the tallies of all row blocks, in row order."""
    ks = _check_ks(ks)
    n_queries = sum(p.n_queries for p in parts)
    n_skipped = sum(p.n_skipped for p in parts)
    hits_at_1 = sum(p.hits_at_1 for p in parts)
    hits_at_k = sum((p.hits_at_k for p in parts), np.zeros(len(ks), dtype=np.int64))
    ap_sum = 0.0
    for p in parts:
        for value in p.ap_sums:
            ap_sum += value
    if n_queries == 0:
        raise InputError(f"no item has another item of its class among the {counted(n, 'item')}; retrieval needs repeated classes")
    warnings = []
    if n_skipped:
        warnings.append(f"{n_skipped} quer{'ies' if n_skipped > 1 else 'y'} skipped: "
                        "their class has no other item to retrieve")
    beyond = [k for k in ks if k > n - 1]
    if beyond:
        warnings.append(f"recall@{beyond[0]} looks at all {counted(n - 1, 'other item')}: the set has only {n}")
    return RetrievalReport(
        metric=metric, higher_is_better=bool(higher_is_better), n_items=n, n_queries=n_queries, n_skipped=n_skipped,
        precision_at_1=hits_at_1 / n_queries,
        recall_at_k={str(k): int(h) / n_queries for k, h in zip(ks, hits_at_k)},
        map_at_r=ap_sum / n_queries, warnings=warnings,
        query_hits_at_1=np.concatenate([p.query_hits_at_1 for p in parts]),
        query_ap=np.concatenate([p.query_ap for p in parts]),
    )


def class_pair_scores(comp, codes: np.ndarray, ks: Sequence[int], all_pairs: bool):
    """One pass over the self-comparison's matrix, block of rows by block: the scores and
    same-class flags of every pair i < j (when `all_pairs`; else None, None) and the retrieval
    tallies, per block. Returns (scores, same, [RetrievalCounts])."""
    from ... import engine

    values, same, tallies = [], [], []
    for i0, block in engine.iter_matrix_rows(comp):
        if all_pairs:
            i, j, v = engine.upper_triangle(i0, block)
            values.append(v)
            same.append(codes[i] == codes[j])
        tallies.append(retrieval_counts([(i0, block)], codes, comp.metric.higher_is_better, ks))
    if not all_pairs:
        return None, None, tallies
    return np.concatenate(values), np.concatenate(same), tallies


"""Typed results the library returns; `output.py` turns them into text."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from .io import EmbeddingSet
from .metrics import Metric

def plain(value):
    """A strict-JSON-ready copy of a record value: Python scalars, lists and dicts; numpy scalars
    unwrapped; NaN and infinities become None; anything else its text."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


#: Keys of every compare record, in order (README documents them; keep them stable).
RANKING_FIELDS = ("metric", "higher_is_better", "a_index", "a_id", "b_index", "b_id", "score", "rank")
METRIC_FIELDS = ("name", "aliases", "kind", "higher_is_better", "summary")


@dataclass(eq=False)  # arrays: == would be elementwise, so results compare by identity
class Ranking:
    """Scored pairs (row a_index of A, row b_index of B), best first within each group.

    `grouping` is "row" (rank restarts for each row of A), "overall" (one ranking of all pairs)
    or "paired" (row i of A against row i of B, in row order, rank 1 each).
    """

    metric: Metric
    a: EmbeddingSet
    b: EmbeddingSet
    a_index: np.ndarray
    b_index: np.ndarray
    score: np.ndarray
    rank: np.ndarray
    grouping: str = "row"

    fields = RANKING_FIELDS

    def __len__(self) -> int:
        return len(self.score)

    def records(self) -> Iterator[dict]:
        name, higher = self.metric.name, self.metric.higher_is_better
        for ai, bi, s, r in zip(self.a_index.tolist(), self.b_index.tolist(), self.score.tolist(), self.rank.tolist()):
            yield {
                "metric": name,
                "higher_is_better": higher,
                "a_index": ai,
                "a_id": self.a.id_of(ai),
                "b_index": bi,
                "b_id": self.b.id_of(bi),
                "score": s,
                "rank": r,
            }

    @classmethod
    def concat(cls, parts: Sequence["Ranking"], metric: Metric, a: EmbeddingSet, b: EmbeddingSet, grouping: str) -> "Ranking":
        def join(name, dtype):
            arrays = [getattr(p, name) for p in parts]
            return np.concatenate(arrays) if arrays else np.empty(0, dtype=dtype)

        return cls(metric, a, b, join("a_index", np.int64), join("b_index", np.int64),
                   join("score", np.float64), join("rank", np.int64), grouping)


@dataclass(eq=False)
class Verdicts(Ranking):
    """Pairs judged same (`match`) or different against a threshold, in the metric's direction."""

    threshold: float = 0.0
    match: np.ndarray | None = None

    fields = RANKING_FIELDS + ("threshold", "match")

    def records(self) -> Iterator[dict]:
        for record, same in zip(super().records(), self.match.tolist()):
            yield {**record, "threshold": self.threshold, "match": same}


@dataclass(eq=False)
class Score:
    """The score of one vector against one vector."""

    metric: Metric
    a: EmbeddingSet
    b: EmbeddingSet
    value: float

    fields = RANKING_FIELDS

    def __float__(self) -> float:
        return float(self.value)

    def records(self) -> Iterator[dict]:
        yield {
            "metric": self.metric.name,
            "higher_is_better": self.metric.higher_is_better,
            "a_index": 0,
            "a_id": self.a.id_of(0),
            "b_index": 0,
            "b_id": self.b.id_of(0),
            "score": float(self.value),
            "rank": 1,
        }


@dataclass(eq=False)
class MatrixResult:
    """Every row of A against every row of B: values[i, j] scores a row i with b row j."""

    metric: Metric
    a: EmbeddingSet
    b: EmbeddingSet
    values: np.ndarray

    fields = ("metric", "higher_is_better", "row_index", "row_id", "values")

    def row_ids(self) -> list[str]:
        return self.a.row_ids()

    def col_ids(self) -> list[str]:
        return self.b.row_ids()

    def records(self) -> Iterator[dict]:
        name, higher = self.metric.name, self.metric.higher_is_better
        for i in range(self.values.shape[0]):
            yield {
                "metric": name,
                "higher_is_better": higher,
                "row_index": i,
                "row_id": self.a.id_of(i),
                "values": np.asarray(self.values[i], dtype=np.float64).tolist(),
            }


@dataclass
class MetricList:
    """The metrics siamcli knows, built-in and from plugins."""

    metrics: list[Metric]

    fields = METRIC_FIELDS

    def records(self) -> Iterator[dict]:
        for m in self.metrics:
            yield {
                "name": m.name,
                "aliases": list(m.aliases),
                "kind": m.kind,
                "higher_is_better": m.higher_is_better,
                "summary": m.summary,
            }

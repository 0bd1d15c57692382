"""Typed results the library returns, and the words they use to say how they look as a table.

Every result yields its records (`records()`: flat-able dicts, what JSON and CSV show). A report
also describes its table as data (`table_layout()`: lines of text and `Grid`s); `siamcli.output`
draws that, and knows the result kinds only through its RENDERERS table keyed by the types here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Sequence, Union

import numpy as np

if TYPE_CHECKING:  # annotations only: output imports this module and must not pull in io or metrics
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


def shown_fields(a: EmbeddingSet, b: EmbeddingSet) -> tuple[str, ...]:
    """The record keys of the text columns shown beside ids (--show text: a_text, b_text)."""
    return tuple(f"{side}_{name}" for side, s in (("a", a), ("b", b)) for name in (s.fields or {}))


def _with_fields(record: dict, a: EmbeddingSet, ai: int, b: EmbeddingSet, bi: int) -> dict:
    """A record with the shown text of its two rows after their ids."""
    if not (a.fields or b.fields):
        return record
    shown = {f"a_{name}": values[ai] for name, values in (a.fields or {}).items()}
    shown.update({f"b_{name}": values[bi] for name, values in (b.fields or {}).items()})
    keys = list(record)
    cut = keys.index("b_id") + 1
    return {**{k: record[k] for k in keys[:cut]}, **shown, **{k: record[k] for k in keys[cut:]}}


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

    @property
    def fields(self) -> tuple[str, ...]:
        """The keys of its records (the header of an empty CSV)."""
        shown = shown_fields(self.a, self.b)
        return RANKING_FIELDS[:6] + shown + RANKING_FIELDS[6:]

    def __len__(self) -> int:
        return len(self.score)

    def records(self) -> Iterator[dict]:
        name, higher = self.metric.name, self.metric.higher_is_better
        for ai, bi, s, r in zip(self.a_index.tolist(), self.b_index.tolist(), self.score.tolist(), self.rank.tolist()):
            yield _with_fields({
                "metric": name,
                "higher_is_better": higher,
                "a_index": ai,
                "a_id": self.a.id_of(ai),
                "b_index": bi,
                "b_id": self.b.id_of(bi),
                "score": s,
                "rank": r,
            }, self.a, ai, self.b, bi)

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

    @property
    def fields(self) -> tuple[str, ...]:
        return super().fields + ("threshold", "match")

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

    @property
    def fields(self) -> tuple[str, ...]:
        return RANKING_FIELDS[:6] + shown_fields(self.a, self.b) + RANKING_FIELDS[6:]

    def __float__(self) -> float:
        return float(self.value)

    def records(self) -> Iterator[dict]:
        yield _with_fields({
            "metric": self.metric.name,
            "higher_is_better": self.metric.higher_is_better,
            "a_index": 0,
            "a_id": self.a.id_of(0),
            "b_index": 0,
            "b_id": self.b.id_of(0),
            "score": float(self.value),
            "rank": 1,
        }, self.a, 0, self.b, 0)


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


@dataclass(frozen=True)
class Column:
    """A column of a Grid, as rich's Table.add_column takes it."""

    name: str
    justify: str = "left"
    no_wrap: bool = False
    min_width: int | None = None
    overflow: str = "ellipsis"


@dataclass
class Grid:
    """A table of text cells: `columns`, then `rows` of cells (already formatted).
    Without `box`, a borderless grid (label and value pairs)."""

    columns: list[Column]
    rows: list[list[str]] = field(default_factory=list)
    show_header: bool = True
    box: bool = True


@dataclass
class Fitted:
    """Lines drawn for the width they must fit (a text histogram): `lines(width)`, each line at
    most `width` columns when it can be, and never wrapped."""

    lines: Callable[[int], list[str]]


#: What a report's table is made of: lines of text ("" is a blank line), grids and fitted lines, in order.
Block = Union[str, Grid, Fitted]


def key_value_grid(rows) -> Grid:
    """Figures as label and value pairs, the value right-aligned, without header or borders."""
    return Grid([Column("figure"), Column("value", justify="right")], [list(r) for r in rows],
                show_header=False, box=False)


class Report:
    """A result drawn as a table from the blocks of its `table_layout(precision)`."""

    fields: tuple[str, ...] = ()

    def records(self) -> Iterator[dict]:
        raise NotImplementedError

    def table_layout(self, precision: int) -> list[Block]:
        raise NotImplementedError


class Document(Report):
    """A report that is one object (`record()`): JSON shows it as an object, not a list."""

    def record(self) -> dict:
        raise NotImplementedError

    def records(self) -> Iterator[dict]:
        yield self.record()


@dataclass
class MetricList(Report):
    """The metrics siamcli knows, built-in and from plugins."""

    metrics: list[Metric]

    fields = METRIC_FIELDS

    def table_layout(self, precision: int) -> list[Block]:
        columns = [Column(name, overflow="fold") for name in ("name", "aliases", "kind", "summary")]
        return [Grid(columns, [[m.name, ", ".join(m.aliases), m.kind, m.summary] for m in self.metrics])]

    def records(self) -> Iterator[dict]:
        for m in self.metrics:
            yield {
                "name": m.name,
                "aliases": list(m.aliases),
                "kind": m.kind,
                "higher_is_better": m.higher_is_better,
                "summary": m.summary,
            }

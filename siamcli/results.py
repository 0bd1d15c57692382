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

from .errors import UsageError

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


#: The longest repr of a result: a line, never a page.
MAX_REPR = 240
#: Values a repr shows of an array or a ranking.
_SHOWN = 3


def brief(value) -> str:
    """A value as a repr shows it: numbers to 4 significant digits, arrays by shape and type, sets
    and metrics by name, long text and lists cut short; never a whole vector or a function."""
    from .io import EmbeddingSet
    from .metrics import Metric

    if isinstance(value, (np.floating, float)):
        return f"{float(value):.4g}"
    if isinstance(value, (np.integer, np.bool_)):
        value = value.item()
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, np.ndarray):
        return f"<{' x '.join(map(str, value.shape))} {value.dtype}>"
    if isinstance(value, Metric):
        return repr(value.name)
    if isinstance(value, EmbeddingSet):
        return repr(value.source)
    if isinstance(value, (list, tuple)):
        inner = [brief(v) for v in value[:_SHOWN]]
        more = [f"... {len(value)} in all"] if len(value) > _SHOWN else []
        return ("[%s]" if isinstance(value, list) else "(%s)") % ", ".join(inner + more)
    if isinstance(value, dict):
        inner = [f"{brief(k)}: {brief(v)}" for k, v in list(value.items())[:_SHOWN]]
        return "{%s}" % ", ".join(inner + ([f"... {len(value)} in all"] if len(value) > _SHOWN else []))
    return f"<{type(value).__name__}>"


def _short_id(text: str) -> str:
    return text if len(text) <= 12 else text[:9] + "..."


def _pandas():
    """pandas, imported when a result is first asked for a DataFrame."""
    try:
        import pandas
    except ImportError:
        raise ImportError("to_pandas() needs pandas; pip install pandas", name="pandas") from None
    return pandas


class Result:
    """What every result and report shares: `records()` (flat-able dicts, what JSON and CSV show),
    `to_pandas()` (a DataFrame of them) and a one-line repr (`repr_parts()`: the kind, shape,
    metric and a few values). A subclass keeps this repr even when it is a @dataclass: the hook
    below gives it one before the decorator would write its own (the dataclass one shows whole
    vectors and every field)."""

    fields: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__repr__" not in cls.__dict__:  # dataclass() writes a __repr__ only where the class has none
            cls.__repr__ = next(c.__dict__["__repr__"] for c in cls.__mro__[1:] if "__repr__" in c.__dict__)

    def records(self) -> Iterator[dict]:
        """Its records: one dict per row of its JSON list (a report of one object: that object)."""
        yield self.record()

    def record(self) -> dict:
        raise NotImplementedError

    def to_pandas(self):
        """Its records as a pandas DataFrame, a column per key (nested values stay lists and dicts).

        >>> import numpy as np, siamcli
        >>> x = np.array([[1.0, 0.1], [1.0, 0.2], [0.1, 1.0], [0.2, 1.0]])
        >>> evaluation = siamcli.evaluate(x, classes=[0, 0, 1, 1], metric="cosine,euclidean", folds=2, bootstrap=0)
        >>> evaluation.to_pandas()[["metric", "auc", "n_pairs"]].to_dict("records")
        [{'metric': 'cosine', 'auc': 1.0, 'n_pairs': 6}, {'metric': 'euclidean', 'auc': 1.0, 'n_pairs': 6}]
        """
        pd = _pandas()
        rows = list(self.records())
        return pd.DataFrame.from_records(rows) if rows else pd.DataFrame(columns=list(self.fields))

    def repr_parts(self) -> list[str]:
        """What its repr shows: by default each field of a dataclass (those with repr=True) in brief."""
        import dataclasses

        if not dataclasses.is_dataclass(self):
            return []
        return [f"{f.name}={brief(getattr(self, f.name))}" for f in dataclasses.fields(self) if f.repr]

    def __repr__(self) -> str:
        text = f"{type(self).__name__}({', '.join(self.repr_parts())})"
        return text if len(text) <= MAX_REPR else text[: MAX_REPR - 4] + "...)"


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
class Ranking(Result):
    """Scored pairs (row a_index of A, row b_index of B), best first within each group.

    `grouping` is "row" (rank restarts for each row of A), "overall" (one ranking of all pairs)
    or "paired" (row i of A against row i of B, in row order, rank 1 each). `topk()` gives the
    pairs as (rows of A, k) arrays; `records()` and `to_pandas()` as rows.

    >>> import siamcli
    >>> ranking = siamcli.compare([[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.1], [0.1, 1.0]], top_k=1)
    >>> ranking
    Ranking('cosine', 2 pairs per row of A, a='A', b='B', [0->0 0.995, 1->1 0.995])
    >>> ranking.to_pandas()[["a_index", "b_index", "rank"]].to_dict("list")
    {'a_index': [0, 1], 'b_index': [0, 1], 'rank': [1, 1]}
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

    def topk(self, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scores and indices into B as two (rows of A, k) arrays, best first in each row, as
        faiss' `D, I` and scikit-learn's `kneighbors` give them.

        Parameters
        ----------
        k : int, optional
            Columns of the arrays (default: the most pairs any row of A has).

        Returns
        -------
        scores : numpy.ndarray
            (len(a), k) scores in the ranking's float type; NaN where a row has fewer than k pairs.
        indices : numpy.ndarray
            (len(a), k) int64 rows of B; -1 where a row has fewer than k pairs.

        Examples
        --------
        >>> import numpy as np, siamcli
        >>> a = np.array([[1.0, 0.0], [0.0, 1.0]])
        >>> b = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
        >>> scores, indices = siamcli.compare(a, b, metric="euclidean", top_k=2).topk()
        >>> indices
        array([[0, 1],
               [2, 1]])
        >>> scores
        array([[0., 1.],
               [0., 1.]])

        The best 3 pairs overall leave row 1 of A one pair short:

        >>> scores, indices = siamcli.compare(a, b, metric="euclidean", limit=3).topk()
        >>> indices
        array([[ 0,  1],
               [ 2, -1]])
        >>> scores
        array([[ 0.,  1.],
               [ 0., nan]])
        """
        rows = np.asarray(self.a_index, dtype=np.int64)
        counts = np.bincount(rows, minlength=len(self.a))
        if k is None:
            k = int(counts.max(initial=0))
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise UsageError(f"k must be a whole number >= 0, got {k!r}")
        order = np.lexsort((self.rank, rows))  # by row of A, then best first (stable: list order)
        starts = np.cumsum(counts) - counts
        position = np.arange(len(order)) - starts[rows[order]]
        kept = order[position < k]
        where = (rows[kept], position[position < k])
        dtype = self.score.dtype if self.score.dtype.kind == "f" else np.float64
        scores = np.full((len(self.a), k), np.nan, dtype=dtype)
        indices = np.full((len(self.a), k), -1, dtype=np.int64)
        scores[where] = self.score[kept]
        indices[where] = self.b_index[kept]
        return scores, indices

    def columns(self) -> dict:
        """Its records as columns (lists or arrays), in `fields` order."""
        ai, bi = self.a_index, self.b_index
        a_ids, b_ids = [self.a.id_of(i) for i in ai.tolist()], [self.b.id_of(i) for i in bi.tolist()]
        shown = {f"{side}_{name}": [values[i] for i in index.tolist()]
                 for side, s, index in (("a", self.a, ai), ("b", self.b, bi)) for name, values in (s.fields or {}).items()}
        return {"metric": [self.metric.name] * len(self), "higher_is_better": [self.metric.higher_is_better] * len(self),
                "a_index": ai, "a_id": a_ids, "b_index": bi, "b_id": b_ids, **shown, "score": self.score,
                "rank": self.rank}

    def to_pandas(self):
        """A DataFrame with a row per pair: the keys of `records()` as columns (built from the arrays)."""
        return _pandas().DataFrame(self.columns(), columns=list(self.fields))

    def repr_parts(self) -> list[str]:
        grouping = {"row": "per row of A", "overall": "overall", "paired": "paired"}.get(self.grouping, self.grouping)
        pairs = [f"{_short_id(self.a.id_of(i))}->{_short_id(self.b.id_of(j))} {brief(v)}"
                 for i, j, v in zip(self.a_index[:_SHOWN].tolist(), self.b_index[:_SHOWN].tolist(), self.score[:_SHOWN])]
        more = ", ..." if len(self) > _SHOWN else ""
        return [repr(self.metric.name), f"{len(self)} pairs {grouping}", f"a={brief(self.a)}", f"b={brief(self.b)}",
                f"[{', '.join(pairs)}{more}]"]


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

    def columns(self) -> dict:
        return {**super().columns(), "threshold": [self.threshold] * len(self), "match": self.match}

    def repr_parts(self) -> list[str]:
        return super().repr_parts()[:2] + [f"threshold={brief(self.threshold)}", f"{int(np.sum(self.match))} match"] + \
            super().repr_parts()[2:]


@dataclass(eq=False)
class Score(Result):
    """The score of one vector against one vector (`float(score)` is its value).

    >>> import siamcli
    >>> siamcli.compare([3.0, 4.0], [4.0, 3.0], metric="euclidean")
    Score(euclidean=1.414, a='A', b='B')
    """

    metric: Metric
    a: EmbeddingSet
    b: EmbeddingSet
    value: float

    @property
    def fields(self) -> tuple[str, ...]:
        return RANKING_FIELDS[:6] + shown_fields(self.a, self.b) + RANKING_FIELDS[6:]

    def __float__(self) -> float:
        return float(self.value)

    def repr_parts(self) -> list[str]:
        return [f"{self.metric.name}={brief(self.value)}", f"a={brief(self.a)}", f"b={brief(self.b)}"]

    def as_ranking(self) -> Ranking:
        """The score as a ranking of one pair (row 0 of A with row 0 of B)."""
        one = np.zeros(1, dtype=np.int64)
        return Ranking(self.metric, self.a, self.b, one, one, np.array([self.value], dtype=np.float64), one + 1)

    def topk(self, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """As Ranking.topk: (1, k) arrays, the one score and index 0 first (k defaults to 1)."""
        return self.as_ranking().topk(k)

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
class MatrixResult(Result):
    """Every row of A against every row of B: values[i, j] scores a row i with b row j.

    >>> import siamcli
    >>> siamcli.matrix([[1.0, 0.0], [0.0, 2.0]], metric="dot").to_pandas()
         0    1
    0  1.0  0.0
    1  0.0  4.0
    """

    metric: Metric
    a: EmbeddingSet
    b: EmbeddingSet
    values: np.ndarray

    fields = ("metric", "higher_is_better", "row_index", "row_id", "values")

    def row_ids(self) -> list[str]:
        return self.a.row_ids()

    def col_ids(self) -> list[str]:
        return self.b.row_ids()

    def to_pandas(self):
        """The matrix as a DataFrame: rows named by A's ids, columns by B's (unlike its records:
        a row of values each)."""
        return _pandas().DataFrame(np.asarray(self.values), index=self.row_ids(), columns=self.col_ids())

    def repr_parts(self) -> list[str]:
        n, m = self.values.shape
        first = [brief(v) for v in np.asarray(self.values[0, :_SHOWN])] if n and m else []
        shown = f"[[{', '.join(first)}{', ...' if m > _SHOWN else ''}]{', ...' if n > 1 else ''}]"
        return [repr(self.metric.name), f"{n} x {m}", f"a={brief(self.a)}", f"b={brief(self.b)}", shown]

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


class Report(Result):
    """A result drawn as a table from the blocks of its `table_layout(precision)`."""

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

    def repr_parts(self) -> list[str]:
        return [f"{len(self.metrics)} metrics: {brief([m.name for m in self.metrics])}"]

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

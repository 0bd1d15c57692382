"""Contrastive and triplet losses over distances, and how they change with the margin.

The loss functions take distances directly (any source); `pair_distances` and
`triplet_distances` compute them from rows under a registered distance metric, with its paired
kernel. Losses need "larger is farther": similarity metrics (cosine, dot) are refused with the
distances to use instead (cosine_distance, angular, euclidean) rather than converted silently.

Label convention: `similar` True (or 1) marks a similar / same-class pair, False (0) a
dissimilar one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from ..errors import counted, InputError, ShapeError, UsageError
from ..metrics import Metric, available_metrics, get_metric
from ..results import Column, Grid, Report, brief, key_value_grid, plain

LOSS_KINDS = ("contrastive", "triplet")
#: A default sweep puts margins at these quantiles of the data (see `margin_sweep`).
SWEEP_QUANTILES = tuple(i / 10 for i in range(11))
_COMMON_FIELDS = ("kind", "metric", "margin", "n", "loss", "active_fraction")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


@dataclass
class LossReport(Report):
    """A loss at one margin: its mean over the n pairs or triplets, and the share with non-zero loss."""

    kind: str  # "contrastive" or "triplet"
    metric: str | None  # the metric the distances came from, when known
    margin: float
    n: int
    loss: float
    active_fraction: float

    fields = _COMMON_FIELDS

    def record(self) -> dict:
        """Plain values in `fields` order; NaN becomes None."""
        return {name: plain(getattr(self, name)) for name in self.fields}

    def records(self) -> Iterator[dict]:
        yield self.record()

    def table_layout(self, precision: int) -> list:
        """The loss and its figures, label and value."""
        return _loss_layout([self.record()], None, precision)


@dataclass
class ContrastiveReport(LossReport):
    """Contrastive loss; `positive` means similar pairs, `negative` dissimilar ones.

    positive_loss / negative_loss are the mean terms within each group (None when the group is
    empty), so loss = (positive_pairs * positive_loss + negative_pairs * negative_loss) / n.
    """

    squared: bool
    positive_pairs: int
    negative_pairs: int
    positive_loss: float | None
    negative_loss: float | None
    active_positive_fraction: float | None  # similar pairs with d > 0
    active_negative_fraction: float | None  # dissimilar pairs with d < margin

    fields = _COMMON_FIELDS + ("squared", "positive_pairs", "negative_pairs", "positive_loss", "negative_loss",
                               "active_positive_fraction", "active_negative_fraction")


@dataclass
class TripletReport(LossReport):
    """Triplet loss with FaceNet's triplet types, as a partition on g = d_an - d_ap:
    easy g > margin (zero loss), semi-hard 0 < g <= margin, hard g <= 0 (negative no farther
    than the positive); the boundaries follow pytorch-metric-learning's TripletMarginMiner."""

    easy_fraction: float
    semi_hard_fraction: float
    hard_fraction: float

    fields = _COMMON_FIELDS + ("easy_fraction", "semi_hard_fraction", "hard_fraction")


@dataclass
class MarginSweep(Report):
    """A loss at several margins (one report per margin, in the order given or ascending by default),
    and `suggestion`: a plain-language description of which margins keep how much of the data active."""

    kind: str
    metric: str | None
    rows: list[LossReport]
    suggestion: str | None

    @property
    def fields(self) -> tuple[str, ...]:
        return (ContrastiveReport if self.kind == "contrastive" else TripletReport).fields

    def records(self) -> Iterator[dict]:
        for row in self.rows:
            yield row.record()

    def repr_parts(self) -> list[str]:
        margins = [row.margin for row in self.rows]
        return [repr(self.kind), repr(self.metric), f"{len(self.rows)} margins: {brief(margins)}"]

    def record(self) -> dict:
        return {"kind": self.kind, "metric": self.metric, "suggestion": self.suggestion,
                "rows": list(self.records())}

    def table_layout(self, precision: int) -> list:
        """One row per margin; what is the same at every margin is said once, above."""
        return _loss_layout(list(self.records()), self, precision)


# ---------------------------------------------------------------- checking inputs


def _margin(margin) -> float:
    try:
        value = float(margin)
    except (TypeError, ValueError):
        raise UsageError(f"margin must be a number, got {margin!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise UsageError(f"margin must be a finite number >= 0, got {margin}")
    return value


def _distances(values, name: str) -> np.ndarray:
    d = np.asarray(values)
    if d.dtype.kind not in "fiub":
        raise InputError(f"{name}: expected numbers, got {d.dtype}")
    if d.ndim > 1:
        raise InputError(f"{name}: expected one distance per pair (a 1-D array), got shape {d.shape}")
    d = d.astype(np.float64).reshape(-1)
    if len(d) == 0:
        raise InputError(f"{name}: no distances given")
    bad = np.flatnonzero(~(np.isfinite(d) & (d >= 0)))
    if len(bad):
        raise InputError(f"{name}: value {bad[0]} is {d[bad[0]]}; distances must be finite and >= 0"
                         + (f" ({len(bad) - 1} more such values)" if len(bad) > 1 else ""))
    return d


def _labels(similar, n: int) -> np.ndarray:
    y = np.asarray(similar).reshape(-1)
    if len(y) != n:
        raise InputError(f"similar has {counted(len(y), 'label')} but there are {n} distances; give one label per pair")
    if y.dtype.kind == "b":
        return y
    if y.dtype.kind not in "iuf":
        raise InputError(f"similar: expected booleans or 0/1, got {y.dtype}")
    odd = np.flatnonzero((y != 0) & (y != 1))
    if len(odd):
        raise InputError(f"similar: label {odd[0]} is {y[odd[0]]}; expected 1 (similar) or 0 (dissimilar)")
    return y == 1


def _same_length(first: np.ndarray, second: np.ndarray, names: tuple[str, str], unit: str = "values") -> None:
    if len(first) != len(second):
        raise InputError(f"{names[0]} has {len(first)} {unit} but {names[1]} has {len(second)}; they must pair up")


# ---------------------------------------------------------------- distances from rows


def distance_metric(name: str | Metric) -> Metric:
    """The metric called `name`, which must be a distance (losses need larger = farther)."""
    m = get_metric(name)
    if m.kind != "distance":
        choices = [x.name for x in available_metrics() if x.kind == "distance"]
        preferred = [c for c in m.distances if c in choices]
        raise UsageError(f"{m.name} is a similarity (higher means closer); contrastive and triplet losses need a "
                         f"distance: use {', '.join(preferred) or ', '.join(choices)} instead")
    return m


def _rows(x, name: str) -> np.ndarray:
    """Rows of `x` (an array, a set or a path, accepted as every input is: numeric, finite) in float64."""
    from ..io import as_embedding_set

    return np.asarray(as_embedding_set(x, name).vectors).astype(np.float64)


def _paired(metric: str | Metric, metric_params: dict, named: Sequence[tuple[str, object]]) -> list:
    """[metric, params, rows of each named input], checked against each other and against the metric."""
    m = distance_metric(metric)
    params = m.bind(metric_params)
    arrays = [_rows(x, name) for name, x in named]
    (first_name, _), first = named[0], arrays[0]
    for (name, _), array in zip(named[1:], arrays[1:]):
        if array.shape[1] != first.shape[1]:
            raise ShapeError(f"{first_name} has {counted(first.shape[1], 'dimension')} but {name} has {array.shape[1]}")
        _same_length(first, array, (first_name, name), "rows")
    for (name, _), array in zip(named, arrays):
        if m.domain == "nonnegative" and (array < 0).any():
            row = int(np.flatnonzero((array < 0).any(axis=1))[0])
            raise InputError(f"{name}: row {row} has negative values; {m.name} needs non-negative vectors")
        if m.undefined_rows is not None:
            undefined = np.flatnonzero(m.undefined_rows(array))
            if len(undefined):
                raise InputError(f"{name}: row {undefined[0]} is {m.undefined_words[0]}, for which {m.name} is undefined "
                                 f"({_count(len(undefined), 'such row')})")
    if m.prepare is not None:  # mahalanobis: the covariance of every given row, or of cov_from's
        data = {p.name: _data_rows(params.get(p.name), p.what) for p in m.params
                if p.kind == "data" and params.get(p.name) is not None}
        for what, array in zip([p.what for p in m.params if p.name in data], data.values()):
            if array.shape[1] != first.shape[1]:
                raise ShapeError(f"{what} has {counted(array.shape[1], 'dimension')} but {first_name} has {first.shape[1]}")
        params = m.prepare(lambda source=None, sample=None: iter(arrays if source is None else [source]), first.shape[1],
                           params.with_values(**data))
    return [m, params, *arrays]


def _data_rows(value, what: str) -> np.ndarray:
    """The rows of a "data" parameter's value (mahalanobis' cov_from): an array, or a file to load."""
    if isinstance(value, (str, bytes)) or hasattr(value, "__fspath__"):
        from ..io import load_embeddings

        value = load_embeddings(value).vectors
    return _rows(getattr(value, "vectors", value), what)


def pair_distances(a, b, metric: str | Metric = "euclidean", *, p: float | None = None, **metric_params) -> np.ndarray:
    """Distance between row i of `a` and row i of `b` under a distance metric, in float64.

    Mahalanobis uses the covariance of all rows of a and b.

    >>> pair_distances([[0.0, 0.0], [1.0, 1.0]], [[3.0, 4.0], [1.0, 1.0]]).tolist()
    [5.0, 0.0]
    """
    m, params, a, b = _paired(metric, dict(p=p, **metric_params), [("a", a), ("b", b)])
    return np.asarray(m.paired(a, b, params), dtype=np.float64)


def triplet_distances(anchor, positive, negative, metric: str | Metric = "euclidean", *,
                      p: float | None = None, **metric_params) -> tuple[np.ndarray, np.ndarray]:
    """(d_ap, d_an): distances from each anchor row to its positive row and to its negative row."""
    m, params, a, pos, neg = _paired(metric, dict(p=p, **metric_params), [("anchor", anchor), ("positive", positive), ("negative", negative)])
    return (np.asarray(m.paired(a, pos, params), dtype=np.float64),
            np.asarray(m.paired(a, neg, params), dtype=np.float64))


# ---------------------------------------------------------------- the losses


def _metric_name(metric) -> str | None:
    return None if metric is None else distance_metric(metric).name


def _mean(terms: np.ndarray, kind: str, margin: float) -> float:
    """The mean of finite loss terms, scaled so that the sum cannot overflow; a loss beyond the
    float64 range (a margin such as 1e308, squared) is an error, never inf or null."""
    largest = float(np.max(terms, initial=0.0))
    if not math.isfinite(largest):
        raise UsageError(f"the {kind} loss exceeds the float64 range with margin {margin:g}; choose a smaller margin")
    if largest == 0.0:
        return 0.0
    return largest * float(np.mean(terms / largest))


def _contrastive(d: np.ndarray, y: np.ndarray, margin: float, squared: bool, metric: str | None) -> ContrastiveReport:
    with np.errstate(over="ignore"):  # a square beyond float64 is inf here, and an error in _mean
        gap = np.maximum(margin - d, 0.0)
        terms = np.where(y, d**2 if squared else d, gap**2 if squared else gap)
    positives, negatives = int(y.sum()), int((~y).sum())
    active_pos = y & (d > 0)
    active_neg = ~y & (d < margin)
    return ContrastiveReport(
        "contrastive", metric, margin, len(d), _mean(terms, "contrastive", margin),
        float((active_pos | active_neg).mean()), squared, positives, negatives,
        _mean(terms[y], "contrastive", margin) if positives else None,
        _mean(terms[~y], "contrastive", margin) if negatives else None,
        float(active_pos.sum() / positives) if positives else None,
        float(active_neg.sum() / negatives) if negatives else None,
    )


def contrastive_loss(distances, similar, margin: float, *, squared: bool = True,
                     metric: str | Metric | None = None) -> ContrastiveReport:
    """Contrastive loss of labelled pairs (Hadsell, Chopra & LeCun 2006), averaged over pairs:

        L = mean[ y * d^2 + (1 - y) * max(0, margin - d)^2 ],  y = 1 for a similar pair

    without the paper's factor 1/2 (halve L to compare with it; the paper also writes y = 0 for
    similar). squared=False uses d and max(0, margin - d) unsquared. A pair is active when its
    term is non-zero: a similar pair with d > 0, a dissimilar pair with d < margin. `metric`
    only names where the distances came from, for the report.

    >>> contrastive_loss([0.5, 2.0, 0.25], [True, False, False], margin=1.0).loss
    0.2708333333333333
    """
    d = _distances(distances, "distances")
    y = _labels(similar, len(d))
    return _contrastive(d, y, _margin(margin), squared, _metric_name(metric))


def _triplet(d_ap: np.ndarray, d_an: np.ndarray, margin: float, metric: str | None) -> TripletReport:
    with np.errstate(over="ignore"):  # beyond float64: inf here, and an error in _mean
        g = d_an - d_ap
        terms = np.maximum(margin - g, 0.0)
    easy = g > margin
    hard = g <= 0
    return TripletReport(
        "triplet", metric, margin, len(g), _mean(terms, "triplet", margin), float((g < margin).mean()),
        float(easy.mean()), float((~easy & ~hard).mean()), float(hard.mean()),
    )


def triplet_loss(d_ap, d_an, margin: float, *, metric: str | Metric | None = None) -> TripletReport:
    """Triplet loss (Schroff, Kalenichenko & Philbin 2015, FaceNet), averaged over triplets:

        L = mean[ max(0, d_ap - d_an + margin) ]

    d_ap: anchor-positive distances, d_an: anchor-negative distances. A triplet is active when
    d_ap - d_an + margin > 0. FaceNet uses squared euclidean distances: pass
    metric="sqeuclidean" to the distance helpers for that.

    >>> triplet_loss([1.0, 0.5], [1.5, 2.0], margin=1.0).loss
    0.25
    """
    ap = _distances(d_ap, "d_ap")
    an = _distances(d_an, "d_an")
    _same_length(ap, an, ("d_ap", "d_an"))
    return _triplet(ap, an, _margin(margin), _metric_name(metric))


# ---------------------------------------------------------------- margin sweeps


def _round(value: float) -> float:
    return float(f"{value:.3g}")  # margins a person can type back


def _default_margins(values: np.ndarray) -> list[float]:
    quantiles = np.quantile(values, SWEEP_QUANTILES)
    return sorted({_round(max(float(q), 0.0)) for q in quantiles} | {0.0})


def margin_sweep(kind: str, first, second, margins: Sequence[float] | None = None, *, squared: bool = True,
                 metric: str | Metric | None = None) -> MarginSweep:
    """The loss and active fractions at each margin.

    kind "contrastive": first = distances, second = similar labels; kind "triplet": first = d_ap,
    second = d_an. Default margins (rounded to 3 significant digits, ascending, with 0): the
    0, 10, ..., 100% quantiles of the dissimilar pairs' distances (contrastive: at the q quantile
    about a fraction q of dissimilar pairs is active) or of d_an - d_ap clipped at 0 (triplet:
    at the q quantile about a fraction q of triplets is active).

    >>> [row.loss for row in margin_sweep("triplet", [1.0, 0.5], [1.5, 2.0], margins=[0, 1, 2]).rows]
    [0.0, 0.25, 1.0]
    """
    if kind not in LOSS_KINDS:
        raise UsageError(f"kind must be one of {', '.join(LOSS_KINDS)}, got '{kind}'")
    name = _metric_name(metric)
    if kind == "contrastive":
        d = _distances(first, "distances")
        y = _labels(second, len(d))
        negatives = d[~y] if (~y).any() else d
        chosen = _default_margins(negatives) if margins is None else [_margin(m) for m in margins]
        rows = [_contrastive(d, y, m, squared, name) for m in chosen]
        return MarginSweep(kind, name, rows, _contrastive_suggestion(d, y))
    ap = _distances(first, "d_ap")
    an = _distances(second, "d_an")
    _same_length(ap, an, ("d_ap", "d_an"))
    chosen = _default_margins(an - ap) if margins is None else [_margin(m) for m in margins]
    rows = [_triplet(ap, an, m, name) for m in chosen]
    return MarginSweep(kind, name, rows, _triplet_suggestion(ap, an))


def _contrastive_suggestion(d: np.ndarray, y: np.ndarray) -> str | None:
    """Which margins leave how many dissimilar pairs active: a description, not a prescription."""
    negatives = d[~y]
    if len(negatives) == 0:
        return None
    low, median = np.quantile(negatives, [0.1, 0.5])
    text = (f"margin {median:.3g} (the median distance of dissimilar pairs) keeps about half of them active; "
            f"below {low:.3g} (their 10th percentile) the loss ignores about 90% of them")
    if y.any():
        text += f"; similar pairs have median distance {np.median(d[y]):.3g}"
    return text


def _triplet_suggestion(d_ap: np.ndarray, d_an: np.ndarray) -> str:
    g = d_an - d_ap
    closer = float((g < 0).mean())
    median = float(np.median(g))
    if median <= 0:
        return (f"the negative is no farther than the positive in {float((g <= 0).mean()):.0%} of triplets: "
                "every margin keeps at least half of them active")
    return (f"margin {median:.3g} (the median of d_an - d_ap) keeps about half of the triplets active; "
            f"at margin 0 only the {closer:.0%} whose negative is closer than the positive are")


__all__ = [
    "LOSS_KINDS", "LossReport", "ContrastiveReport", "TripletReport", "MarginSweep", "contrastive_loss",
    "triplet_loss", "margin_sweep", "pair_distances", "triplet_distances", "distance_metric",
]


# ---------------------------------------------------------------- the table (siamcli.output draws it)


def _loss_layout(records: list[dict], sweep: MarginSweep | None, precision: int) -> list:
    """One loss as figures, or a margin sweep as one row per margin."""
    from ..output.text import figure

    show = lambda v: f"{v:,}" if isinstance(v, int) else figure(v, precision)  # noqa: E731
    skip = {"kind", "metric", "n", "squared"}
    first = records[0]
    what = f"{first['kind']} loss over {first['n']:,} {'pairs' if first['kind'] == 'contrastive' else 'triplets'}"
    blocks = [what + (f" ({first['metric']} distances)" if first.get("metric") else "")]
    if sweep is None:
        return blocks + [key_value_grid([(k.replace("_", " "), show(v)) for k, v in first.items() if k not in skip])]
    constant = {k for k in first if k != "margin" and len({r[k] for r in records}) == 1}  # said once, above
    blocks += [f"{k.replace('_', ' ')}: {show(first[k])}" for k in sorted(constant - skip, key=list(first).index)]
    columns = [k for k in first if k not in skip | constant]
    grid = Grid([Column(c.replace("_fraction", "").replace("_", " "), justify="right") for c in columns])
    grid.rows = [[show(r[c]) for c in columns] for r in records]
    blocks.append(grid)
    if sweep.suggestion:
        blocks.append(sweep.suggestion)
    return blocks

"""How the scores of same and different pairs spread: per-label summaries, shared-bin histograms
and their text rendering."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import UsageError
from ...metrics import ranking_keys
from ...results import Fitted, Result, brief, plain
from .verification import best_accuracy_of, check_pairs, build_curve

CLASS_SUMMARY_FIELDS = ("count", "mean", "std", "min", "q05", "q25", "q50", "q75", "q95", "max")


@dataclass
class ClassSummary(Result):
    """Scores of one label: count, mean, population std (ddof=0), min, the 5/25/50/75/95 %
    quantiles (linear interpolation, numpy's default) and max."""

    count: int
    mean: float
    std: float
    min: float
    q05: float
    q25: float
    q50: float
    q75: float
    q95: float
    max: float

    def record(self) -> dict:
        return {name: plain(getattr(self, name)) for name in CLASS_SUMMARY_FIELDS}


@dataclass
class ScoreDistribution(Result):
    """How the scores of positive and negative pairs spread, on shared histogram bins.

    overlap = sum_i min(p_i, q_i) of the two normalised histograms (0: separated, 1: identical).
    With the direction known, threshold is the best-accuracy threshold and *_wrong_side the
    fraction of each label it decides wrongly (positives called different, negatives same).
    """

    positive: ClassSummary
    negative: ClassSummary
    overlap: float
    bin_edges: np.ndarray  # len(bins) + 1 shared edges; the last bin includes its right edge
    positive_counts: np.ndarray
    negative_counts: np.ndarray
    threshold: float | None = None
    positive_wrong_side: float | None = None
    negative_wrong_side: float | None = None

    def repr_parts(self) -> list[str]:
        return [f"positive mean={brief(self.positive.mean)} of {self.positive.count}",
                f"negative mean={brief(self.negative.mean)} of {self.negative.count}", f"overlap={brief(self.overlap)}"]

    def record(self) -> dict:
        return {
            "positive": self.positive.record(), "negative": self.negative.record(), "overlap": plain(self.overlap),
            "threshold": plain(self.threshold), "positive_wrong_side": plain(self.positive_wrong_side),
            "negative_wrong_side": plain(self.negative_wrong_side), "bin_edges": plain(self.bin_edges),
            "positive_counts": plain(self.positive_counts), "negative_counts": plain(self.negative_counts),
        }


def _summary(x: np.ndarray) -> ClassSummary:
    q = np.quantile(x, (0.05, 0.25, 0.5, 0.75, 0.95))
    return ClassSummary(len(x), float(x.mean()), float(x.std()), float(x.min()), *map(float, q), float(x.max()))


def score_distribution(scores, same, bins: int = 20, *, higher_is_better: bool | None = None) -> ScoreDistribution:
    """Per-label summaries and shared-bin histograms of pair scores.

    >>> d = score_distribution([0.1, 0.2, 0.8, 0.9], [False, False, True, True], bins=2)
    >>> d.positive_counts.tolist(), d.negative_counts.tolist(), d.overlap
    ([0, 2], [2, 0], 0.0)
    """
    scores, same = check_pairs(scores, same)
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise UsageError(f"bins must be a whole number of at least 1, got {bins}")
    pos, neg = scores[same], scores[~same]
    edges = np.histogram_bin_edges(scores, bins=int(bins))
    pos_counts, neg_counts = np.histogram(pos, edges)[0], np.histogram(neg, edges)[0]
    overlap = float(np.minimum(pos_counts / len(pos), neg_counts / len(neg)).sum())
    dist = ScoreDistribution(_summary(pos), _summary(neg), overlap, edges, pos_counts, neg_counts)
    if higher_is_better is not None:
        closeness = scores if higher_is_better else -scores
        order = np.argsort(ranking_keys(scores, higher_is_better), kind="stable")
        curve = build_curve(closeness[order], same[order])
        best = best_accuracy_of(curve)
        if best.index is None:  # nothing is called same
            dist.positive_wrong_side, dist.negative_wrong_side = 1.0, 0.0
        else:
            t = float(curve.closeness[best.index])
            dist.threshold = t if higher_is_better else -t
            dist.positive_wrong_side = 1 - int(curve.tps[best.index]) / len(pos)
            dist.negative_wrong_side = int(curve.fps[best.index]) / len(neg)
    return dist


def _edge_labels(edges: np.ndarray) -> list[str]:
    """Edges printed with the fewest significant digits (4 at least) that keep them distinct."""
    for digits in range(4, 18):
        labels = [f"{e:.{digits}g}" for e in edges]
        if len(set(labels)) == len(labels):
            return labels
    return [repr(float(e)) for e in edges]


def text_histogram(dist: ScoreDistribution, width: int = 40, columns: int | None = None) -> list[str]:
    """Lines of a two-column text histogram: positives as '#', negatives as '.', one line per bin.

    Bars show each label's share of its own pairs, on one common scale (the longest bar is
    `width` characters); a non-empty bin always gets at least one character. With `columns`,
    bars are made shorter (down to 7 characters, the headings shortened to fit) so that every
    line fits that many columns.

    >>> d = score_distribution([0.1, 0.2, 0.8, 0.9], [False, True, True, True], bins=2)
    >>> print("\\n".join(text_histogram(d, width=6)))
    score        positive (#)     n  negative (.)     n
    0.1 .. 0.5   ##               1  ......           1
    0.5 .. 0.9   ####             2                   0
    """
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise UsageError(f"width must be a whole number of at least 1, got {width}")
    pos, neg = np.asarray(dist.positive_counts), np.asarray(dist.negative_counts)
    p, q = pos / max(1, pos.sum()), neg / max(1, neg.sum())
    top = max(float(p.max()), float(q.max()), 1e-300)
    labels = _edge_labels(np.asarray(dist.bin_edges))
    lw = max(len(s) for s in labels)
    ranges = [f"{labels[i]:>{lw}} .. {labels[i + 1]:<{lw}}" for i in range(len(labels) - 1)]
    rw = max(len("score"), max(len(r) for r in ranges))
    cw = max(1, len(str(int(max(pos.max(), neg.max())))))
    heads = ("positive (#)", "negative (.)")
    if columns is not None:  # what is left for the two bars, shared evenly
        width = max(7, min(width, (columns - rw - 2 * cw - 8) // 2))
        heads = heads if width >= len(heads[0]) else ("same #", "diff .")

    def bar(share: float, char: str) -> str:
        length = int(share / top * width + 0.5)
        return char * (max(length, 1) if share > 0 else length)

    bw = max(width, len(heads[0]))
    lines = [f"{'score':<{rw}}  {heads[0]:<{bw}}  {'n':>{cw}}  {heads[1]:<{bw}}  {'n':>{cw}}"]
    for r, pc, nc, ps, qs in zip(ranges, pos.tolist(), neg.tolist(), p, q):
        lines.append(f"{r:<{rw}}  {bar(ps, '#'):<{bw}}  {pc:>{cw}}  {bar(qs, '.'):<{bw}}  {nc:>{cw}}")
    return [line.rstrip() for line in lines]


def fitted_histogram(dist: ScoreDistribution) -> Fitted:
    """The text histogram as a table block drawn for the width of the console (bars of at most 40)."""
    return Fitted(lambda columns: text_histogram(dist, columns=columns))

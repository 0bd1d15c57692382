"""Verification and retrieval scores as pure functions over (scores, labels).

Verification: every pair has a score and a label, *same* (a positive pair: same identity) or
*different* (a negative pair). Closeness is the score for a similarity and minus the score for
a distance, so "closer" always means "more likely the same".

- Decision rule: for a distance a pair is called "same" when score <= threshold; for a
  similarity when score >= threshold. Thresholds are in the score's own units and always come
  from observed scores (never a fixed grid). Pairs with equal scores always get the same
  decision.
- ROC: one point per distinct observed score, after a (0, 0) start point whose threshold calls
  nothing "same" (+inf for a similarity, -inf for a distance); exactly
  sklearn.metrics.roc_curve(same, closeness, drop_intermediate=False).
- AUC: area under that ROC curve; a positive and a negative pair with equal scores count half
  (= sklearn.metrics.roc_auc_score).
- EER: the error rate where FPR = 1 - TPR. Between the two ROC points that bracket the
  crossing, FPR and TPR are interpolated linearly; eer_threshold is interpolated the same way
  between the two points' thresholds (when the bracket starts at the (0, 0) start point, whose
  threshold is infinite, eer_threshold is the first observed threshold).
- TAR at FAR x: the largest TPR among ROC points with FPR <= x (no interpolation); its
  threshold is that point's threshold (of the strictest point, when several reach that TPR).
  A FAR x below 1/n_negative is not reachable: TAR and threshold are None and a warning says
  so. When no point with FPR <= x accepts a positive pair, TAR is 0, the threshold None and a
  warning says so.
- Best accuracy: accuracy = (TP + TN) / n at each observed threshold and at "nothing is same".
  The thresholds reaching the maximum form runs of consecutive distinct observed scores; the
  longest run wins (on a tie, the strictest run, which calls fewest pairs "same").
  best_accuracy_threshold_range = (lo, hi) are the smallest and largest score of that run:
  every threshold in [lo, hi] gives the same accuracy. best_accuracy_threshold is the observed
  score of the run nearest the middle (lo + hi) / 2 (on a tie, the stricter). When only
  "nothing is same" reaches the maximum, threshold and range are None (with a warning).
- F1 = 2 TP / (2 TP + FP + FN) at best_accuracy_threshold.
- Average precision: sklearn.metrics.average_precision_score(same, closeness):
  sum over distinct thresholds of (recall step) x (precision there).
- Cross-validated accuracy (as in the LFW protocol): pairs are split into k folds stratified
  by label (each label's pairs shuffled with `seed`, then dealt round-robin); for each fold the
  best-accuracy threshold of the other k-1 folds is applied to the held-out fold.
  cv_accuracy is the mean over folds, cv_accuracy_std the population standard deviation
  (ddof=0). With fewer than k pairs of a label, k drops to that count (with a warning); with
  fewer than 2, cv_accuracy is None.

Retrieval (self-comparison of one labelled set; self pairs excluded; ranked by score in the
metric's direction, ties by smaller index first; NaN scores rank last):

- precision_at_1: fraction of queries whose best match has the query's class.
- recall_at_k: fraction of queries with at least one same-class item among their k best: the
  "recall@k" of metric-learning papers (pytorch-metric-learning; Musgrave et al. 2020).
- map_at_r: mean over queries of AP@R = (1/R) sum_{i<=R} P(i) rel(i), R = number of other
  items of the query's class, P(i) = precision of the first i results (Musgrave et al.,
  "A Metric Learning Reality Check"). Queries whose class has no other item are skipped.

Verification runs in O(n log n) on the pairs (one sort, then cumulative sums); retrieval
partially sorts each query's row, one block of rows at a time.

>>> r = verification_report([0.9, 0.8, 0.4, 0.1], [True, True, False, False], True, folds=2)
>>> r.auc, r.eer, r.best_accuracy, r.best_accuracy_threshold
(1.0, 0.0, 1.0, 0.8)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from .errors import InputError, ShapeError, UsageError, did_you_mean
from .metrics import ranking_keys
from .results import Column, Grid, Report, plain

DEFAULT_FARS = (1e-1, 1e-2, 1e-3)
DEFAULT_KS = (1, 5, 10)
DEFAULT_PAIR_LIMIT = 50_000_000

#: Keys of VerificationReport.record(), in order (the README documents them; keep them stable).
VERIFICATION_FIELDS = (
    "metric", "higher_is_better", "n_pairs", "n_positive", "n_negative", "auc", "eer", "eer_threshold",
    "best_accuracy", "best_accuracy_threshold", "best_accuracy_threshold_range", "tar_at_far",
    "tar_at_far_threshold", "average_precision", "f1", "cv_accuracy", "cv_accuracy_std", "cv_folds", "warnings",
)
RETRIEVAL_FIELDS = (
    "metric", "higher_is_better", "n_items", "n_queries", "n_skipped", "precision_at_1", "recall_at_k",
    "map_at_r", "warnings",
)
CLASS_SUMMARY_FIELDS = ("count", "mean", "std", "min", "q05", "q25", "q50", "q75", "q95", "max")

#: fail_under keys: True when higher is better (the value must be >= the limit).
GATES = {
    "auc": True, "eer": False, "best_accuracy": True, "average_precision": True, "f1": True,
    "cv_accuracy": True, "precision_at_1": True, "map_at_r": True,
}
GATE_PREFIXES = {"tar@": "tar_at_far", "recall@": "recall_at_k"}  # higher is better

#: Label pairs recognised when positive_label is the default "1" (compared lower-case).
AUTO_LABELS = (("1", "0"), ("1", "-1"), ("true", "false"), ("same", "different"))

_LISTED = 5
_RETRIEVAL_CHUNK_ENTRIES = 2**22  # score entries per row chunk: bounds the sort's working memory


def _listing(items, limit: int = _LISTED) -> str:
    items = list(items)
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def far_key(far: float) -> str:
    """The record key of a FAR: 0.01 -> '0.01', 1e-5 -> '0.00001' (never exponent notation)."""
    return np.format_float_positional(float(far), trim="-")


# ---------------------------------------------------------------- verification


@dataclass
class Roc:
    """ROC points for plots: fpr[i], tpr[i] when calling "same" the pairs at least as close as
    thresholds[i] (score units; thresholds[0] is the start point: +inf for a similarity, -inf
    for a distance)."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray


@dataclass
class VerificationReport:
    """Verification scores of labelled pairs (definitions in the module docstring)."""

    metric: str
    higher_is_better: bool
    n_pairs: int
    n_positive: int
    n_negative: int
    auc: float
    eer: float
    eer_threshold: float
    best_accuracy: float
    best_accuracy_threshold: float | None
    best_accuracy_threshold_range: tuple[float, float] | None
    tar_at_far: dict[str, float | None]
    tar_at_far_threshold: dict[str, float | None]
    average_precision: float
    f1: float
    cv_accuracy: float | None
    cv_accuracy_std: float | None
    cv_folds: int | None  # folds actually used (fewer than asked when a label has few pairs)
    warnings: list[str]
    roc: Roc = field(repr=False, compare=False)  # for plots; not part of record()

    fields = VERIFICATION_FIELDS

    def record(self) -> dict:
        """The report as plain JSON-ready values (None where undefined, never NaN or inf),
        warnings included as a list of strings; the ROC arrays are left out."""
        return {name: plain(getattr(self, name)) for name in VERIFICATION_FIELDS}


@dataclass
class _Curve:
    """Counts at each distinct closeness, closest first: tps[i] positives and fps[i] negatives
    have closeness >= closeness[i]."""

    closeness: np.ndarray
    tps: np.ndarray
    fps: np.ndarray
    n_pos: int
    n_neg: int


def _curve(sorted_closeness: np.ndarray, sorted_same: np.ndarray) -> _Curve:
    """The curve of pairs already sorted closest first."""
    n = len(sorted_closeness)
    ends = np.append(np.flatnonzero(np.diff(sorted_closeness)), n - 1)  # last pair of each tie group
    tps = np.cumsum(sorted_same, dtype=np.int64)[ends]
    fps = ends + 1 - tps
    n_pos = int(tps[-1]) if n else 0
    return _Curve(sorted_closeness[ends], tps, fps, n_pos, n - n_pos)


@dataclass
class _Best:
    correct: int  # most correct decisions
    index: int | None  # chosen point of the curve; None: only "nothing is same" reaches it
    run: tuple[int, int] | None  # first and last curve index of the winning run


def _best_accuracy(curve: _Curve) -> _Best:
    correct = curve.tps + (curve.n_neg - curve.fps)
    best = max(int(correct.max()), curve.n_neg)
    reach = np.concatenate(([False], correct == best, [False])).astype(np.int8)
    edges = np.diff(reach)
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if len(starts) == 0:
        return _Best(best, None, None)
    r = int(np.argmax(stops - starts))  # the longest run; the first (strictest) on a tie
    a, b = int(starts[r]), int(stops[r]) - 1
    values = curve.closeness[a : b + 1]
    middle = values[0] / 2 + values[-1] / 2  # halves first: no overflow for huge scores
    return _Best(best, a + int(np.argmin(np.abs(values - middle))), (a, b))


def _check_pairs(scores, same) -> tuple[np.ndarray, np.ndarray]:
    try:
        scores = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("scores must be numbers") from None
    same = np.asarray(same)
    if scores.ndim != 1 or same.ndim != 1:
        raise InputError("scores and labels must be one-dimensional: one value per pair")
    if len(scores) != len(same):
        raise InputError(f"{len(scores)} scores but {len(same)} labels; there must be one label per pair")
    bad = np.flatnonzero(~np.isfinite(scores))
    if len(bad):
        shown = _listing(f"{i} ({scores[i]})" for i in bad)
        raise InputError(f"scores must be finite: pair{'s' if len(bad) > 1 else ''} {shown}")
    if same.dtype != bool:
        if same.dtype.kind not in "iuf" or not np.isin(same, (0, 1)).all():
            raise InputError("labels must be booleans (True = same); parse_labels() reads text labels")
        same = same.astype(bool)
    n_pos = int(same.sum())
    if n_pos == 0:
        raise InputError(f"no positive (same) pair among the {len(same)} pairs; verification needs both kinds")
    if n_pos == len(same):
        raise InputError(f"no negative (different) pair among the {len(same)} pairs; verification needs both kinds")
    return scores, same


def _check_fars(fars) -> list[float]:
    out = []
    for far in fars:
        try:
            value = float(far)
        except (TypeError, ValueError):
            raise UsageError(f"a FAR must be a number between 0 and 1, got '{far}'") from None
        if not 0 < value <= 1:
            raise UsageError(f"a FAR must be above 0 and at most 1, got {far}")
        if value not in out:
            out.append(value)
    return out


def _stratified_folds(same: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number of each pair: each label's pairs shuffled, then dealt round-robin (negatives
    continue where positives stopped, so folds differ in size by at most one)."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(same), dtype=np.int64)
    pos, neg = np.flatnonzero(same), np.flatnonzero(~same)
    fold[rng.permutation(pos)] = np.arange(len(pos)) % folds
    fold[rng.permutation(neg)] = (np.arange(len(neg)) + len(pos)) % folds
    return fold


def _cv_accuracy(closeness: np.ndarray, same: np.ndarray, fold: np.ndarray, folds: int) -> list[float]:
    """Held-out accuracy of each fold at the best-accuracy threshold of the other folds
    (arguments sorted closest first: a masked subset stays sorted, so nothing is re-sorted)."""
    accuracies = []
    for f in range(folds):
        held = fold == f
        train = _curve(closeness[~held], same[~held])
        best = _best_accuracy(train)
        test_c, test_same = closeness[held], same[held]
        if best.index is None:
            correct = int((~test_same).sum())
        else:
            correct = int(((test_c >= train.closeness[best.index]) == test_same).sum())
        accuracies.append(correct / len(test_c))
    return accuracies


def verification_report(scores, same, higher_is_better: bool, *, folds: int = 10,
                        fars: Sequence[float] = DEFAULT_FARS, seed: int = 0, metric: str = "") -> VerificationReport:
    """AUC, EER, TAR@FAR, best accuracy, AP, F1 and cross-validated accuracy of scored pairs.

    `scores`: one finite score per pair; `same`: True for a positive (same identity) pair.

    >>> r = verification_report([0.1, 0.5, 0.5, 0.9], [True, True, False, False], False, folds=2)
    >>> r.auc, r.eer, r.eer_threshold
    (0.875, 0.25, 0.3)
    """
    scores, same = _check_pairs(scores, same)
    fars = _check_fars(fars)
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise UsageError(f"folds must be a whole number of at least 2, got {folds}")
    higher = bool(higher_is_better)
    warnings: list[str] = []

    closeness = scores if higher else -scores
    order = np.argsort(ranking_keys(scores, higher), kind="stable")  # closest first
    sorted_c, sorted_same = closeness[order], same[order]
    curve = _curve(sorted_c, sorted_same)
    n, n_pos, n_neg = len(scores), curve.n_pos, curve.n_neg
    tps, fps = curve.tps, curve.fps

    # ROC with the start point; thresholds in score units
    fpr = np.concatenate(([0.0], fps / n_neg))
    tpr = np.concatenate(([0.0], tps / n_pos))
    thresholds = np.concatenate(([np.inf], curve.closeness)) * (1.0 if higher else -1.0)

    prev_tps, prev_fps = np.concatenate(([0], tps[:-1])), np.concatenate(([0], fps[:-1]))
    auc = float(np.sum((fps - prev_fps) * (tps + prev_tps))) / (2.0 * n_pos * n_neg)
    average_precision = float(np.sum((tps - prev_tps) * (tps / (tps + fps)))) / n_pos

    # EER: gap = (FPR - FNR) * n_pos * n_neg in integers, so the crossing is found exactly
    gap = np.concatenate(([-n_pos * n_neg], fps * n_pos - (n_pos - tps) * n_neg))
    i = int(np.argmax(gap >= 0))  # >= 1: the start point's gap is negative, the last is not
    w = float(-gap[i - 1]) / float(gap[i] - gap[i - 1])
    eer = float(fpr[i - 1] + w * (fpr[i] - fpr[i - 1]))
    eer_threshold = float(thresholds[1] if i == 1 else (1 - w) * thresholds[i - 1] + w * thresholds[i])

    tar_at_far: dict[str, float | None] = {}
    tar_threshold: dict[str, float | None] = {}
    for far in fars:
        key = far_key(far)
        if 1.0 / n_neg > far:
            tar_at_far[key] = tar_threshold[key] = None
            warnings.append(f"FAR {key} is not reachable with {n_neg} negative pairs "
                            f"(smallest non-zero FAR is 1/{n_neg} = {1.0 / n_neg:.2g})")
            continue
        last = int(np.searchsorted(fpr, far, side="right")) - 1  # the last point with FPR <= far has the largest TPR
        j = int(np.searchsorted(tpr[: last + 1], tpr[last], side="left"))  # the strictest point with that TPR
        tar_at_far[key] = float(tpr[j])
        tar_threshold[key] = float(thresholds[j]) if j > 0 else None
        if j == 0:
            warnings.append(f"TAR at FAR {key} is 0: no observed threshold with FAR <= {key} accepts a positive pair")

    best = _best_accuracy(curve)
    if best.index is None:
        best_threshold = best_range = None
        tp = fp = 0
        warnings.append(f"the best accuracy ({best.correct / n:.4g}) is reached only by calling no pair 'same'; "
                        "every observed threshold does worse")
    else:
        best_threshold = float(thresholds[best.index + 1])
        ends = (float(thresholds[best.run[0] + 1]), float(thresholds[best.run[1] + 1]))
        best_range = (min(ends), max(ends))
        tp, fp = int(tps[best.index]), int(fps[best.index])
    f1 = 2 * tp / (2 * tp + fp + (n_pos - tp))

    used = min(folds, n_pos, n_neg)
    cv_accuracy = cv_std = cv_folds = None
    if used < 2:
        warnings.append("cross-validated accuracy needs at least 2 positive and 2 negative pairs")
    else:
        if used < folds:
            fewer = "positive" if n_pos <= n_neg else "negative"
            warnings.append(f"cross-validation uses {used} folds instead of {folds}: "
                            f"there are only {used} {fewer} pairs")
        fold = _stratified_folds(same, used, seed)[order]
        accuracies = _cv_accuracy(sorted_c, sorted_same, fold, used)
        cv_accuracy, cv_std, cv_folds = float(np.mean(accuracies)), float(np.std(accuracies)), used

    return VerificationReport(
        metric=metric, higher_is_better=higher, n_pairs=n, n_positive=n_pos, n_negative=n_neg,
        auc=auc, eer=eer, eer_threshold=eer_threshold, best_accuracy=best.correct / n,
        best_accuracy_threshold=best_threshold, best_accuracy_threshold_range=best_range,
        tar_at_far=tar_at_far, tar_at_far_threshold=tar_threshold, average_precision=average_precision,
        f1=f1, cv_accuracy=cv_accuracy, cv_accuracy_std=cv_std, cv_folds=cv_folds, warnings=warnings,
        roc=Roc(fpr, tpr, thresholds),
    )


# ---------------------------------------------------------------- score distribution


@dataclass
class ClassSummary:
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
class ScoreDistribution:
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
    scores, same = _check_pairs(scores, same)
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
        curve = _curve(closeness[order], same[order])
        best = _best_accuracy(curve)
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


def text_histogram(dist: ScoreDistribution, width: int = 40) -> list[str]:
    """Lines of a two-column text histogram: positives as '#', negatives as '.', one line per bin.

    Bars show each label's share of its own pairs, on one common scale (the longest bar is
    `width` characters); a non-empty bin always gets at least one character.

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

    def bar(share: float, char: str) -> str:
        length = int(share / top * width + 0.5)
        return char * (max(length, 1) if share > 0 else length)

    labels = _edge_labels(np.asarray(dist.bin_edges))
    lw = max(len(s) for s in labels)
    ranges = [f"{labels[i]:>{lw}} .. {labels[i + 1]:<{lw}}" for i in range(len(labels) - 1)]
    rw = max(len("score"), max(len(r) for r in ranges))
    cw = max(1, len(str(int(max(pos.max(), neg.max())))))
    bw = max(width, len("positive (#)"))
    lines = [f"{'score':<{rw}}  {'positive (#)':<{bw}}  {'n':>{cw}}  {'negative (.)':<{bw}}  {'n':>{cw}}"]
    for r, pc, nc, ps, qs in zip(ranges, pos.tolist(), neg.tolist(), p, q):
        lines.append(f"{r:<{rw}}  {bar(ps, '#'):<{bw}}  {pc:>{cw}}  {bar(qs, '.'):<{bw}}  {nc:>{cw}}")
    return [line.rstrip() for line in lines]


# ---------------------------------------------------------------- retrieval


@dataclass
class RetrievalReport:
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

    fields = RETRIEVAL_FIELDS

    def record(self) -> dict:
        return {name: plain(getattr(self, name)) for name in RETRIEVAL_FIELDS}


def _class_codes(classes) -> tuple[np.ndarray, np.ndarray]:
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
    codes, _ = _class_codes(classes)
    counts = retrieval_counts(score_rows, codes, higher_is_better, ks)
    return retrieval_from_counts([counts], len(codes), higher_is_better, ks, metric=metric)


@dataclass
class RetrievalCounts:
    """Retrieval tallies of some queries: exact counts, and AP sums per chunk in the order summed
    (so tallies of row blocks computed apart add up to exactly the sums of one pass)."""

    hits_at_1: int
    hits_at_k: np.ndarray
    ap_sums: list
    n_queries: int
    n_skipped: int


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
    ap_sums = []
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

            hits_at_1 += int(relevant[rank == 0].sum())
            for slot, k in enumerate(ks):
                hit_rows = np.bincount(q[relevant & (rank < k)], minlength=len(rows))
                hits_at_k[slot] += int((hit_rows > 0).sum())
            in_r = relevant & (rank < r_of[q])
            seen = np.cumsum(in_r)
            seen_in_row = seen - (seen[row_start] - in_r[row_start])  # relevant results up to here, per row
            precision = np.where(in_r, seen_in_row / (rank + 1), 0.0)
            ap_sums.append(float((np.bincount(q, weights=precision, minlength=len(rows)) / r_of).sum()))
            n_queries += len(rows)
    return RetrievalCounts(hits_at_1, hits_at_k, ap_sums, n_queries, n_skipped)


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
        raise InputError(f"no item has another item of its class among the {n} items; retrieval needs repeated classes")
    warnings = []
    if n_skipped:
        warnings.append(f"{n_skipped} quer{'ies' if n_skipped > 1 else 'y'} skipped: "
                        "their class has no other item to retrieve")
    beyond = [k for k in ks if k > n - 1]
    if beyond:
        warnings.append(f"recall@{beyond[0]} looks at all {n - 1} other items: the set has only {n}")
    return RetrievalReport(
        metric=metric, higher_is_better=bool(higher_is_better), n_items=n, n_queries=n_queries, n_skipped=n_skipped,
        precision_at_1=hits_at_1 / n_queries,
        recall_at_k={str(k): int(h) / n_queries for k, h in zip(ks, hits_at_k)},
        map_at_r=ap_sum / n_queries, warnings=warnings,
    )


def class_pair_scores(comp, codes: np.ndarray, ks: Sequence[int], all_pairs: bool):
    """One pass over the self-comparison's matrix, block of rows by block: the scores and
    same-class flags of every pair i < j (when `all_pairs`; else None, None) and the retrieval
    tallies, per block. Returns (scores, same, [RetrievalCounts])."""
    from . import engine

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


# ---------------------------------------------------------------- pairs from class labels


def sample_pairs(classes, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n // 2 same-class and n // 2 different-class pairs, drawn uniformly without repetition.

    Returns (left_index, right_index, same) sorted by (left, right), with left < right: every
    pair is unordered and no item is paired with itself. Deterministic for a given seed.

    >>> left, right, same = sample_pairs(["a", "a", "b", "b"], 4, seed=1)
    >>> sorted(zip(left.tolist(), right.tolist(), same.tolist()))[:1]
    [(0, 1, True)]
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise UsageError(f"the number of sampled pairs must be a whole number of at least 2, got {n}")
    codes, counts = _class_codes(classes)
    size = len(codes)
    half = int(n) // 2
    by_class = np.argsort(codes, kind="stable")  # position -> item; a class's items are contiguous
    position = np.arange(size, dtype=np.int64)
    class_end = np.cumsum(counts)[codes[by_class]]  # end of each position's class
    # pairs (u, v), u < v, in class order: same class when v < class_end[u]
    same_partners, different_partners = class_end - position - 1, size - class_end
    n_same, n_different = int(same_partners.sum()), int(different_partners.sum())
    for kind, available in (("same-class", n_same), ("different-class", n_different)):
        if half > available:
            raise UsageError(f"cannot sample {half} {kind} pairs: the {size} labels give only {available}")
    rng = np.random.default_rng(seed)

    def draw(partners: np.ndarray, first_partner: np.ndarray, total: int):
        # the q-th pair of this kind: position u holds pairs starts[u] .. ends[u] - 1
        ends = np.cumsum(partners)
        q = rng.choice(total, size=half, replace=False)
        u = np.searchsorted(ends, q, side="right")
        return u, first_partner[u] + (q - (ends[u] - partners[u]))

    su, sv = draw(same_partners, position + 1, n_same)
    du, dv = draw(different_partners, class_end, n_different)
    a, b = by_class[np.concatenate([su, du])], by_class[np.concatenate([sv, dv])]
    left, right = np.minimum(a, b), np.maximum(a, b)
    same = np.concatenate([np.ones(half, bool), np.zeros(half, bool)])
    order = np.lexsort((right, left))
    return left[order].astype(np.int64), right[order].astype(np.int64), same[order]


def check_seed(seed) -> None:
    """A seed numpy's generators take: a whole number >= 0."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"seed must be a whole number >= 0, got {seed!r}")


def check_pair_count(size: int, limit: int = DEFAULT_PAIR_LIMIT) -> int:
    """The number of unordered pairs of `size` items, if within `limit`."""
    total = size * (size - 1) // 2
    if total > limit:
        raise UsageError(f"{size:,} items make {total:,} pairs, more than the limit of {limit:,}; "
                         "draw a balanced sample instead (--sample N)")
    return total


def all_pairs(classes, limit: int = DEFAULT_PAIR_LIMIT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every unordered pair i < j, ordered by (i, j), with whether the two share a class.

    >>> left, right, same = all_pairs([7, 7, 8])
    >>> left.tolist(), right.tolist(), same.tolist()
    ([0, 0, 1], [1, 2, 2], [True, False, False])
    """
    codes, _ = _class_codes(classes)
    size = len(codes)
    total = check_pair_count(size, limit)
    partners = np.arange(size - 1, 0, -1, dtype=np.int64)  # item i pairs with i+1 .. size-1
    left = np.repeat(np.arange(size - 1, dtype=np.int64), partners)
    starts = np.cumsum(partners) - partners
    right = np.arange(total, dtype=np.int64) - np.repeat(starts, partners) + left + 1
    return left, right, codes[left] == codes[right]


# ---------------------------------------------------------------- labels and gates


def _canonical_label(text: str) -> str:
    """A label's text with numbers written one way: ' 1.0' -> '1', '0.50' -> '0.5'."""
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    return str(int(number)) if number == int(number) else repr(number)


def parse_labels(values, positive_label: str = "1") -> np.ndarray:
    """True where a pair's label means "same", from two-valued labels (text or numbers).

    Numbers compare by value ('1', '1.0' and 1 are one label). With the default
    positive_label "1", the labels may be 1/0, 1/-1, true/false or same/different (any case),
    and 1, true or same means "same"; any other positive_label must be one of the two labels
    exactly (case included). One-valued labels are allowed here (the report then says which kind is missing).

    >>> parse_labels(["same", "Different", "SAME"]).tolist()
    [True, False, True]
    >>> parse_labels(["match", "non-match"], positive_label="match").tolist()
    [True, False]
    """
    raw = np.asarray(values)
    if raw.ndim != 1:
        raise InputError("labels must be one-dimensional: one label per pair")
    if raw.dtype == bool:
        raw = raw.astype(str)
    uniques, inverse = np.unique(raw.astype(str), return_inverse=True)
    wanted = _canonical_label(str(positive_label))
    auto = wanted == "1"
    tokens = [_canonical_label(u) for u in uniques.tolist()]
    if auto:  # the recognised words are matched in any case, so 'True' and 'true' are one label
        tokens = [t.lower() for t in tokens]
    found = sorted(set(tokens))
    if len(found) > 2:
        raise InputError(f"labels must take two values (same and different), found {len(found)}: "
                         + _listing(f"'{t}'" for t in found))
    shown = " and ".join(f"'{t}'" for t in found)
    if auto:
        for pos, neg in AUTO_LABELS:
            if set(found) <= {pos, neg}:
                is_positive = np.array([t == pos for t in tokens], dtype=bool)
                break
        else:
            raise InputError(f"labels are {shown}; say which one means 'same' with --positive-label "
                             "(1/0, 1/-1, true/false and same/different are recognised without it)")
    else:
        if wanted not in found:
            raise InputError(f"positive label '{wanted}' is not among the labels ({shown})"
                             + did_you_mean(wanted, found))
        is_positive = np.array([t == wanted for t in tokens], dtype=bool)
    return is_positive[inverse.reshape(-1)]


def _gate_values(report_records) -> dict[str, object]:
    """Measured values by fail_under key, from one record or several."""
    records = [report_records] if isinstance(report_records, Mapping) else list(report_records)
    values: dict[str, object] = {}
    for rec in records:
        for key in GATES:
            if key in rec:
                values[key] = rec[key]
        for prefix, name in GATE_PREFIXES.items():
            for at, value in (rec.get(name) or {}).items():
                values[f"{prefix}{at}"] = value
    return values


def _shown(value: float, limit: float) -> tuple[str, str]:
    """Both numbers with enough digits to tell them apart."""
    for digits in range(4, 18):
        a, b = f"{value:.{digits}g}", f"{limit:.{digits}g}"
        if a != b:
            return a, b
    return repr(value), repr(limit)


def _gate_key(key: str, values: dict) -> str:
    """The measured key a spec key names (tar@1e-2 -> tar@0.01), or a UsageError."""
    for prefix in GATE_PREFIXES:
        if key.startswith(prefix):
            at = key[len(prefix):]
            try:
                number = float(at)
            except ValueError:
                raise UsageError(f"--fail-under: '{key}' needs a number after '{prefix}'") from None
            measured = {k: k for k in values if k.startswith(prefix)}
            for k in measured:
                if float(k[len(prefix):]) == number:
                    return k
            raise UsageError(f"--fail-under: {key} is not measured; measured: "
                             + (", ".join(measured) or f"no {prefix} values"))
    if key in GATES:
        if key not in values:
            raise UsageError(f"--fail-under: {key} is not measured by this evaluation; measured: "
                             + ", ".join(values))
        return key
    known = list(GATES) + [k for k in values if k not in GATES]
    raise UsageError(f"--fail-under: unknown key '{key}' (keys: {', '.join(known)})" + did_you_mean(key, known))


def fail_under(report_records, spec: str) -> list[str]:
    """The conditions of `spec` that the reports fail, in plain words (empty: all pass).

    `spec` is comma-separated key=value: eer must be <= its value, every other key >= its
    value (auc, best_accuracy, average_precision, f1, cv_accuracy, precision_at_1, map_at_r,
    tar@<far>, recall@<k>). A value the report could not measure (None) fails.

    >>> fail_under({"auc": 0.93, "eer": 0.04}, "auc=0.95,eer=0.05")
    ['auc 0.93 is below the required 0.95']
    """
    values = _gate_values(report_records)
    items = [item.strip() for item in str(spec).split(",") if item.strip()]
    if not items:
        raise UsageError("--fail-under expects key=value conditions such as auc=0.95,eer=0.05")
    conditions = []
    for item in items:
        key, sep, text = item.partition("=")
        key, text = key.strip().lower(), text.strip()
        if not sep or not key or not text:
            raise UsageError(f"--fail-under expects key=value conditions such as auc=0.95,eer=0.05, got '{item}'")
        key = _gate_key(key, values)
        try:
            limit = float(text)
        except ValueError:
            raise UsageError(f"--fail-under: {key} needs a number, got '{text}'") from None
        if not 0 <= limit <= 1:
            raise UsageError(f"--fail-under: {key} is a fraction between 0 and 1, got {text}")
        conditions.append((key, limit))

    failed = []
    for key, limit in conditions:
        higher = GATES.get(key, True)
        value = values[key]
        if value is None:
            failed.append(f"{key} is not available, so it cannot be {'at least' if higher else 'at most'} {limit:g}")
        elif higher and value < limit:
            shown, wanted = _shown(float(value), limit)
            failed.append(f"{key} {shown} is below the required {wanted}")
        elif not higher and value > limit:
            shown, wanted = _shown(float(value), limit)
            failed.append(f"{key} {shown} is above the allowed {wanted}")
    return failed


def check_fail_under(spec: str, fars=DEFAULT_FARS, ks=DEFAULT_KS, retrieval: bool = False) -> None:
    """Raise UsageError for a --fail-under spec that an evaluation with these settings could not
    check (checked before any work is done)."""
    planned = {key: 0.0 for key in GATES if retrieval or key not in ("precision_at_1", "map_at_r")}
    planned["tar_at_far"] = {far_key(f): 0.0 for f in fars}
    if retrieval:
        planned["recall_at_k"] = {str(k): 0.0 for k in ks}
    fail_under(planned, spec)


# ---------------------------------------------------------------- evaluating embeddings


@dataclass
class MetricEvaluation:
    """One metric (optionally after L2 normalisation) evaluated on the labelled pairs."""

    verification: VerificationReport
    distribution: ScoreDistribution
    retrieval: RetrievalReport | None
    normalized: bool
    scores: np.ndarray = field(repr=False)  # the pair scores, for plots
    same: np.ndarray = field(repr=False)

    @property
    def name(self) -> str:
        return self.verification.metric + (" (L2)" if self.normalized else "")

    def record(self) -> dict:
        """verification keys, then retrieval keys (with classes), the score distributions and
        the warnings of both."""
        record = self.verification.record()
        warnings = record.pop("warnings")
        record["normalized"] = self.normalized
        if self.retrieval is not None:
            retrieval = self.retrieval.record()
            warnings += retrieval["warnings"]
            for key in ("precision_at_1", "recall_at_k", "map_at_r"):
                record[key] = retrieval[key]
        dist = self.distribution.record()
        record["positive_scores"] = dist["positive"]
        record["negative_scores"] = dist["negative"]
        record["overlap"] = dist["overlap"]
        record["warnings"] = warnings
        return record


@dataclass
class Evaluation(Report):
    """Every evaluated metric, best AUC first; `skipped` says which metrics were left out, why."""

    results: list[MetricEvaluation]
    skipped: list[str]
    pairs: str  # how the pairs were formed, in words

    def records(self):
        for result in self.results:
            yield result.record()

    def table_layout(self, precision: int) -> list:
        """The metrics ranked by AUC (when several), the best one in detail, its score distributions."""
        return _evaluation_layout(self, precision)

    @property
    def best(self) -> MetricEvaluation:
        return self.results[0]


def choose_metrics(names, sets, p=None, zero_vector: str = "error", **metric_params) -> tuple[list, list[str]]:
    """Metrics for `names` ("all", a comma list, or a list): (Metric list, notes on skipped ones).

    "all" takes every metric that orders pairs differently from the others, and leaves out
    those that do not apply to these vectors (negative values for probability metrics, floats
    for binary ones, zero or constant rows where a metric is undefined)."""
    from .metrics import available_metrics, get_metric

    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        raise UsageError("--metric needs a metric name, a comma list of names, or 'all'")
    if [n.lower() for n in names] != ["all"]:
        if "all" in [n.lower() for n in names]:
            raise UsageError("--metric all cannot be combined with other names")
        chosen = []
        for name in names:
            metric = get_metric(name)
            if metric not in chosen:
                chosen.append(metric)
        return chosen, []
    chosen, skipped = [], []
    vectors = [np.asarray(s.vectors[: 100_000]) for s in sets]
    negative = any((v < 0).any() for v in vectors)
    discrete = all(np.array_equal(v, np.round(v)) for v in vectors)
    given = {k for k, v in dict(p=p, **metric_params).items() if v is not None}
    for metric in available_metrics():
        undefined = metric.undefined_rows is not None and any(metric.undefined_rows(v).any() for v in vectors)
        if metric.same_order_as is not None:
            continue  # ranks pairs exactly as another metric: same figures
        if metric.default_order_as is not None and not given & {param.name for param in metric.params}:
            continue  # with its parameters at their defaults it ranks as another (minkowski, p = 2: euclidean)
        if metric.domain == "nonnegative" and negative:
            skipped.append(f"{metric.name}: needs non-negative vectors")
        elif metric.domain == "discrete" and not discrete:
            skipped.append(f"{metric.name}: meant for binary or discrete vectors, these hold fractions")
        elif undefined and zero_vector == "error":
            skipped.append(f"{metric.name}: undefined for some rows (zero or constant vectors); see --zero-vector")
        else:
            chosen.append(metric)
    return chosen, skipped


def evaluate(emb, right=None, *, labels=None, pairs=None, classes=None, sample: int | None = None,
             seed: int = 0, positive_label: str = "1", metric="cosine", normalize: bool = False,
             folds: int = 10, fars=DEFAULT_FARS, ks=DEFAULT_KS, p: float | None = None, cov_from=None,
             zero_vector: str = "error", memory: int | None = None, notify=None, progress=None,
             pair_scores=None, class_scores=None, **metric_params) -> Evaluation:
    """Evaluate how well a metric separates same from different pairs, for one or more metrics.

    Pairs come from one of: `right` and `labels` (row i of emb with row i of right, one label
    per row); `pairs`, a (left rows, right rows, labels) tuple into emb (and right, if given);
    `classes`, one class per row of emb: every unordered pair, or a balanced `sample` of them,
    plus retrieval scores. `metric` is a name, a comma list or "all"; `normalize` adds each
    metric after L2 normalisation. Results are sorted by AUC, best first. `pair_scores(comp, left,
    right)` scores listed pairs (default `engine.pair_scores`) and `class_scores(comp, codes, ks,
    all_pairs)` does class_pair_scores's pass (a cluster's, for `--scheduler`).

    >>> import numpy as np
    >>> x = np.array([[1.0, 0.1], [1.0, 0.2], [0.1, 1.0], [0.2, 1.0]])
    >>> evaluate(x, classes=["a", "a", "b", "b"], folds=2).best.verification.auc
    1.0
    """
    from . import engine

    memory = engine.DEFAULT_MEMORY_BYTES if memory is None else memory
    emb = engine.as_embedding_set(emb, "EMB")
    right = None if right is None else engine.as_embedding_set(right, "RIGHT")
    check_seed(seed)
    given = [name for name, value in (("labels", labels), ("pairs", pairs), ("classes", classes)) if value is not None]
    if len(given) != 1:
        raise UsageError("say how pairs are labelled: --labels (with LEFT RIGHT), --pairs FILE or --classes"
                         + (f" -- one of them, not {' and '.join(given)}" if given else ""))
    if sample is not None and classes is None:
        raise UsageError("--sample draws pairs from --classes")
    if labels is not None and right is None:
        raise UsageError("--labels labels the pairs of row i of LEFT with row i of RIGHT: give RIGHT too")
    if classes is not None and right is not None:
        raise UsageError("--classes labels the rows of one set; give one embedding file")

    left_rows = right_rows = None
    class_codes = None
    if labels is not None:
        same = parse_labels(labels, positive_label)
        if len(same) != len(emb) or len(emb) != len(right):
            raise InputError(f"paired evaluation needs as many labels as rows: {emb.source} has {len(emb)} rows, "
                             f"{right.source} {len(right)}, and there are {len(same)} labels")
        described = f"{len(same):,} pairs: row i of {emb.source} with row i of {right.source}"
    elif pairs is not None:
        left_rows, right_rows, pair_labels = pairs
        same = parse_labels(pair_labels, positive_label)
        described = f"{len(same):,} listed pairs"
    else:
        if len(classes) != len(emb):
            raise InputError(f"{emb.source} has {len(emb)} rows but there are {len(classes)} class labels")
        class_codes, _ = _class_codes(classes)
        if sample is not None:
            left_rows, right_rows, same = sample_pairs(class_codes, sample, seed)
            described = f"{len(same):,} pairs sampled from {len(emb):,} labelled rows (seed {seed})"
        else:
            same = None  # from the matrix, block by block
            described = f"all {check_pair_count(len(emb)):,} pairs of {len(emb):,} labelled rows"

    metric_params = dict(p=p, cov_from=cov_from, **metric_params)
    metrics, skipped = choose_metrics(metric, [emb] if right is None else [emb, right], zero_vector=zero_vector,
                                      **metric_params)
    variants = [(m, False) for m in metrics] + ([(m, True) for m in metrics] if normalize else [])
    n = len(emb)
    per_variant = (n * n if same is None else len(same)) + (n * n if classes is not None and same is not None else 0)
    if progress is not None:
        progress(0, per_variant * len(variants))
    results = []
    for m, normalized in variants:
        comp = engine.prepare(emb, right, metric=m, **m.own_params(metric_params), normalize=normalized,
                              zero_vector=zero_vector, memory=memory, notify=notify)
        comp.progress = progress
        retrieval = None
        if same is None:  # every pair: the matrix's upper triangle, and retrieval from the same rows
            scores, pair_same, tallies = (class_scores or class_pair_scores)(comp, class_codes, ks, True)
        else:
            scores = (pair_scores or engine.pair_scores)(comp, left_rows, right_rows)
            pair_same = same
            if class_codes is not None:
                _, _, tallies = (class_scores or class_pair_scores)(comp, class_codes, ks, False)
        if class_codes is not None:
            retrieval = retrieval_from_counts(tallies, len(class_codes), m.higher_is_better, ks, metric=m.name)
        report = verification_report(scores, pair_same, m.higher_is_better, folds=folds, fars=fars, seed=seed,
                                     metric=m.name)
        dist = score_distribution(scores, pair_same, higher_is_better=m.higher_is_better)
        results.append(MetricEvaluation(report, dist, retrieval, normalized, scores, pair_same))
    order = sorted(range(len(results)), key=lambda i: (-results[i].verification.auc, i))
    return Evaluation([results[i] for i in order], skipped, described)


# ---------------------------------------------------------------- the table (siamcli.output draws it)


def _ranked_grid(result: Evaluation, records: list[dict], fars: list, precision: int) -> Grid:
    """One row per metric, best AUC first, at the strictest FAR (the others are in the details)."""
    from .output.text import figure

    num = lambda x: figure(x, precision)  # noqa: E731
    retrieval = result.best.retrieval is not None
    strictest = fars[-1] if fars else None
    names = ["metric", "AUC", "EER", "acc", *([f"TAR@{strictest}"] if fars else []), "cv acc"]
    names += ["P@1", "mAP@R"] if retrieval else []
    width = precision + 2  # "0.": numbers are never cut
    columns = [Column(c, overflow="fold") if c == "metric" else
               Column(c, justify="right", no_wrap=True, min_width=max(len(c), width)) for c in names]
    grid = Grid(columns)
    for r, evaluated in zip(records, result.results):
        row = [evaluated.name, num(r["auc"]), num(r["eer"]), num(r["best_accuracy"]),
               *([num(r["tar_at_far"][strictest])] if fars else []), num(r["cv_accuracy"])]
        row += [num(r.get("precision_at_1")), num(r.get("map_at_r"))] if retrieval else []
        grid.rows.append(row)
    return grid


def _details_grid(best: MetricEvaluation, record: dict, precision: int) -> Grid:
    """The best metric's figures, each with the threshold it holds at."""
    from .output.text import figure

    num = lambda x: figure(x, precision)  # noqa: E731
    sign = ">=" if record["higher_is_better"] else "<="
    at = lambda x: f"{best.verification.metric} {sign} {num(x)}"  # noqa: E731
    lo_hi = record["best_accuracy_threshold_range"]
    rows = [["ROC AUC", num(record["auc"]), ""],
            ["EER", num(record["eer"]), at(record["eer_threshold"])],
            ["best accuracy", num(record["best_accuracy"]),
             "-" if lo_hi is None else f"{at(record['best_accuracy_threshold'])} (any of {num(lo_hi[0])} .. {num(lo_hi[1])})"]]
    for f in record["tar_at_far"]:
        tar, threshold = record["tar_at_far"][f], record["tar_at_far_threshold"][f]
        rows.append([f"TAR at FAR {f}", "not reachable" if tar is None else num(tar),
                     "" if threshold is None else at(threshold)])
    rows.append(["average precision", num(record["average_precision"]), ""])
    rows.append(["F1", num(record["f1"]), "at the best-accuracy threshold"])
    cv = "-" if record["cv_accuracy"] is None else f"{num(record['cv_accuracy'])} ± {num(record['cv_accuracy_std'])}"
    rows.append([f"cv accuracy ({record['cv_folds']} folds)", cv, "threshold from the other folds"])
    if best.retrieval is not None:
        rows.append(["precision@1", num(record["precision_at_1"]), ""])
        rows += [[f"recall@{k}", num(value), ""] for k, value in record["recall_at_k"].items()]
        rows.append(["mAP@R", num(record["map_at_r"]), ""])
    columns = [Column("figure"), Column("value", justify="right"), Column("at threshold")]
    return Grid(columns, rows, show_header=False, box=False)


def _distribution_grid(record: dict, precision: int) -> Grid:
    """Same- and different-pair score statistics side by side."""
    from .output.text import count, figure

    grid = Grid([Column("scores"), Column("same", justify="right"), Column("different", justify="right")])
    pos, neg = record["positive_scores"], record["negative_scores"]
    for key, label in (("count", "count"), ("mean", "mean"), ("std", "std"), ("min", "min"), ("q05", "5%"),
                       ("q50", "median"), ("q95", "95%"), ("max", "max")):
        show = count if key == "count" else lambda x: figure(x, precision)
        grid.rows.append([label, show(pos[key]), show(neg[key])])
    return grid


def _evaluation_layout(result: Evaluation, precision: int) -> list:
    from .output.text import figure

    records = list(result.records())
    best, record = result.best, records[0]
    fars = list(record["tar_at_far"])
    blocks = [f"{result.pairs}: {record['n_positive']:,} same, {record['n_negative']:,} different"]
    if len(records) > 1:
        blocks += [_ranked_grid(result, records, fars, precision),
                   "acc: best accuracy; cv acc: cross-validated accuracy; ranked by AUC", ""]
    direction = "higher" if record["higher_is_better"] else "lower"
    blocks += [f"{best.name} ({direction} is closer):", _details_grid(best, record, precision), "",
               _distribution_grid(record, precision),
               f"overlap of the two histograms: {figure(record['overlap'], precision)} (0 = separated, 1 = identical)",
               "", *text_histogram(best.distribution)]
    return blocks

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
- Majority baseline: max(positives, negatives) / n, the accuracy of always answering the more
  common label. When best accuracy removes less than SMALL_GAIN (a quarter) of that answer's
  errors, (best - baseline) / (1 - baseline) < 0.25, a warning says so: on 3% positive pairs,
  0.9704 beside 0.9697 is no achievement.
- F1 = 2 TP / (2 TP + FP + FN) at best_accuracy_threshold.
- Average precision: sklearn.metrics.average_precision_score(same, closeness):
  sum over distinct thresholds of (recall step) x (precision there).
- Cross-validated accuracy (as in the LFW protocol): pairs are split into k folds stratified
  by label (each label's pairs shuffled with `seed`, then dealt round-robin); for each fold the
  best-accuracy threshold of the other k-1 folds is applied to the held-out fold.
  cv_accuracy is the mean over folds, cv_accuracy_std the population standard deviation
  (ddof=0). With fewer than k pairs of a label, k drops to that count (with a warning); with
  fewer than 2, cv_accuracy is None.

Verification runs in O(n log n) on the pairs (one sort, then cumulative sums).

>>> r = verification_report([0.9, 0.8, 0.4, 0.1], [True, True, False, False], True, folds=2)
>>> r.auc, r.eer, r.best_accuracy, r.best_accuracy_threshold
(1.0, 0.0, 1.0, 0.8)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ...errors import counted, InputError, UsageError
from ...metrics import ranking_keys
from ...results import Result, brief, plain

DEFAULT_FARS = (1e-1, 1e-2, 1e-3)

#: Keys of VerificationReport.record(), in order (the README documents them; keep them stable).
VERIFICATION_FIELDS = (
    "metric", "higher_is_better", "n_pairs", "n_positive", "n_negative", "auc", "eer", "eer_threshold",
    "best_accuracy", "best_accuracy_threshold", "best_accuracy_threshold_range", "majority_baseline", "tar_at_far",
    "tar_at_far_threshold", "average_precision", "f1", "cv_accuracy", "cv_accuracy_std", "cv_folds", "warnings",
)
_LISTED = 5
#: Best accuracy is called barely above the majority baseline when it removes less than this
#: share of the baseline's errors.
SMALL_GAIN = 0.25


def listing(items, limit: int = _LISTED) -> str:
    items = list(items)
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def far_key(far: float) -> str:
    """The record key of a FAR: 0.01 -> '0.01', 1e-5 -> '0.00001' (never exponent notation)."""
    return np.format_float_positional(float(far), trim="-")



@dataclass
class Roc:
    """ROC points for plots: fpr[i], tpr[i] when calling "same" the pairs at least as close as
    thresholds[i] (score units; thresholds[0] is the start point: +inf for a similarity, -inf
    for a distance)."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray


@dataclass
class VerificationReport(Result):
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
    majority_baseline: float  # accuracy of always answering the more common label
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

    def repr_parts(self) -> list[str]:
        return [repr(self.metric), f"{self.n_pairs} pairs ({self.n_positive} same)", f"auc={brief(self.auc)}",
                f"eer={brief(self.eer)}", f"best_accuracy={brief(self.best_accuracy)}"]


@dataclass
class _Curve:
    """Counts at each distinct closeness, closest first: tps[i] positives and fps[i] negatives
    have closeness >= closeness[i]."""

    closeness: np.ndarray
    tps: np.ndarray
    fps: np.ndarray
    n_pos: int
    n_neg: int


def build_curve(sorted_closeness: np.ndarray, sorted_same: np.ndarray) -> _Curve:
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


def best_accuracy_of(curve: _Curve) -> _Best:
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


def check_pairs(scores, same) -> tuple[np.ndarray, np.ndarray]:
    try:
        scores = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("scores must be numbers") from None
    same = np.asarray(same)
    if scores.ndim != 1 or same.ndim != 1:
        raise InputError("scores and labels must be one-dimensional: one value per pair")
    if len(scores) != len(same):
        raise InputError(f"{counted(len(scores), 'score')} but {counted(len(same), 'label')}; there must be one label per pair")
    bad = np.flatnonzero(~np.isfinite(scores))
    if len(bad):
        shown = listing(f"{i} ({scores[i]})" for i in bad)
        raise InputError(f"scores must be finite: pair{'s' if len(bad) > 1 else ''} {shown}")
    if same.dtype != bool:
        if same.dtype.kind not in "iuf" or not np.isin(same, (0, 1)).all():
            raise InputError("labels must be booleans (True = same); parse_labels() reads text labels")
        same = same.astype(bool)
    n_pos = int(same.sum())
    if n_pos == 0:
        raise InputError(f"no positive (same) pair among the {counted(len(same), 'pair')}; verification needs both kinds")
    if n_pos == len(same):
        raise InputError(f"no negative (different) pair among the {counted(len(same), 'pair')}; verification needs both kinds")
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
        train = build_curve(closeness[~held], same[~held])
        best = best_accuracy_of(train)
        test_c, test_same = closeness[held], same[held]
        if best.index is None:
            correct = int((~test_same).sum())
        else:
            correct = int(((test_c >= train.closeness[best.index]) == test_same).sum())
        accuracies.append(correct / len(test_c))
    return accuracies


def verification_report(scores, same, higher_is_better: bool, *, folds: int = 10,
                        fars: Sequence[float] = DEFAULT_FARS, seed: int = 0, metric: str = "",
                        order=None) -> VerificationReport:
    """AUC, EER, TAR@FAR, best accuracy, AP, F1 and cross-validated accuracy of scored pairs.

    `scores`: one finite score per pair; `same`: True for a positive (same identity) pair;
    `order` (optional): closest_first(scores, higher_is_better), when the caller has it already.

    >>> r = verification_report([0.1, 0.5, 0.5, 0.9], [True, True, False, False], False, folds=2)
    >>> r.auc, r.eer, r.eer_threshold
    (0.875, 0.25, 0.3)
    """
    scores, same = check_pairs(scores, same)
    fars = _check_fars(fars)
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise UsageError(f"folds must be a whole number of at least 2, got {folds}")
    higher = bool(higher_is_better)
    warnings: list[str] = []

    closeness = scores if higher else -scores
    order = closest_first(scores, higher) if order is None else order
    sorted_c, sorted_same = closeness[order], same[order]
    curve = build_curve(sorted_c, sorted_same)
    n, n_pos, n_neg = len(scores), curve.n_pos, curve.n_neg
    tps, fps = curve.tps, curve.fps

    # ROC with the start point; thresholds in score units
    fpr = np.concatenate(([0.0], fps / n_neg))
    tpr = np.concatenate(([0.0], tps / n_pos))
    thresholds = np.concatenate(([np.inf], curve.closeness)) * (1.0 if higher else -1.0)

    prev_tps, prev_fps = np.concatenate(([0], tps[:-1])), np.concatenate(([0], fps[:-1]))
    auc = float(np.sum((fps - prev_fps) * (tps + prev_tps))) / (2.0 * n_pos * n_neg)
    average_precision = float(np.sum((tps - prev_tps) * (tps / (tps + fps)))) / n_pos
    eer, eer_threshold = _eer(curve, fpr, thresholds)
    tar_at_far, tar_threshold = _tar_at_far(fars, fpr, tpr, thresholds, n_neg, warnings)
    best, best_threshold, best_range, f1 = _best_accuracy_figures(curve, thresholds, warnings)
    cv_accuracy, cv_std, cv_folds = _cross_validated(sorted_c, sorted_same, same, order, folds, seed, curve, warnings)
    return VerificationReport(
        metric=metric, higher_is_better=higher, n_pairs=n, n_positive=n_pos, n_negative=n_neg,
        auc=auc, eer=eer, eer_threshold=eer_threshold, best_accuracy=best.correct / n,
        best_accuracy_threshold=best_threshold, best_accuracy_threshold_range=best_range,
        majority_baseline=max(n_pos, n_neg) / n, tar_at_far=tar_at_far, tar_at_far_threshold=tar_threshold, average_precision=average_precision,
        f1=f1, cv_accuracy=cv_accuracy, cv_accuracy_std=cv_std, cv_folds=cv_folds, warnings=warnings,
        roc=Roc(fpr, tpr, thresholds),
    )


def closest_first(scores: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """The pairs' indices, closest first, ties by index (a stable sort)."""
    return np.argsort(ranking_keys(np.asarray(scores, dtype=np.float64), bool(higher_is_better)), kind="stable")


def _eer(curve: _Curve, fpr: np.ndarray, thresholds: np.ndarray) -> tuple[float, float]:
    """The equal error rate and its threshold, interpolated between the two ROC points that bracket it."""
    n_pos, n_neg = curve.n_pos, curve.n_neg
    # gap = (FPR - FNR) * n_pos * n_neg in integers, so the crossing is found exactly
    gap = np.concatenate(([-n_pos * n_neg], curve.fps * n_pos - (n_pos - curve.tps) * n_neg))
    i = int(np.argmax(gap >= 0))  # >= 1: the start point's gap is negative, the last is not
    w = float(-gap[i - 1]) / float(gap[i] - gap[i - 1])
    eer = float(fpr[i - 1] + w * (fpr[i] - fpr[i - 1]))
    return eer, float(thresholds[1] if i == 1 else (1 - w) * thresholds[i - 1] + w * thresholds[i])


def _tar_at_far(fars: list[float], fpr: np.ndarray, tpr: np.ndarray, thresholds: np.ndarray, n_neg: int,
                warnings: list[str]) -> tuple[dict, dict]:
    """TAR and its threshold at each FAR, by far_key (None where not reachable); warnings appended."""
    tar_at_far: dict[str, float | None] = {}
    tar_threshold: dict[str, float | None] = {}
    for far in fars:
        key = far_key(far)
        if 1.0 / n_neg > far:
            tar_at_far[key] = tar_threshold[key] = None
            warnings.append(f"FAR {key} is not reachable with {counted(n_neg, 'negative pair')} "
                            f"(smallest non-zero FAR is 1/{n_neg} = {1.0 / n_neg:.2g})")
            continue
        last = int(np.searchsorted(fpr, far, side="right")) - 1  # the last point with FPR <= far has the largest TPR
        j = int(np.searchsorted(tpr[: last + 1], tpr[last], side="left"))  # the strictest point with that TPR
        tar_at_far[key] = float(tpr[j])
        tar_threshold[key] = float(thresholds[j]) if j > 0 else None
        if j == 0:
            warnings.append(f"TAR at FAR {key} is 0: no observed threshold with FAR <= {key} accepts a positive pair")
    return tar_at_far, tar_threshold


def _best_accuracy_figures(curve: _Curve, thresholds: np.ndarray, warnings: list[str]):
    """(the best-accuracy point, its threshold, the range of equally good thresholds, F1 there)."""
    n = curve.n_pos + curve.n_neg
    best = best_accuracy_of(curve)
    if best.index is None:
        best_threshold = best_range = None
        tp = fp = 0
        warnings.append(f"the best accuracy ({best.correct / n:.4g}) is reached only by calling no pair 'same'; "
                        "every observed threshold does worse")
    else:
        best_threshold = float(thresholds[best.index + 1])
        ends = (float(thresholds[best.run[0] + 1]), float(thresholds[best.run[1] + 1]))
        best_range = (min(ends), max(ends))
        tp, fp = int(curve.tps[best.index]), int(curve.fps[best.index])
        if small_gain(best.correct / n, curve.n_pos, curve.n_neg):
            warnings.append(baseline_words(best.correct / n, curve.n_pos, curve.n_neg))
    return best, best_threshold, best_range, 2 * tp / (2 * tp + fp + (curve.n_pos - tp))


def small_gain(best_accuracy: float, n_pos: int, n_neg: int) -> bool:
    """Whether best accuracy removes less than SMALL_GAIN of the majority baseline's errors,
    (best - baseline) / (1 - baseline) < SMALL_GAIN, decided on whole counts (no rounding)."""
    from fractions import Fraction

    n, majority = n_pos + n_neg, max(n_pos, n_neg)
    correct = round(best_accuracy * n)
    return majority < n and Fraction(correct - majority, n - majority) < Fraction(SMALL_GAIN)


def baseline_words(best_accuracy: float, n_pos: int, n_neg: int) -> str:
    """Best accuracy against the majority baseline, in words."""
    baseline = max(n_pos, n_neg) / (n_pos + n_neg)
    answer = "'same'" if n_pos > n_neg else "'different'" if n_neg > n_pos else "either label"
    share = (best_accuracy - baseline) / (1 - baseline)
    if share <= 0:
        return (f"best accuracy {best_accuracy:.4g} is no better than the {baseline:.4g} of always answering {answer} "
                "(the majority baseline); judge by AUC, EER or TAR@FAR")
    return (f"best accuracy {best_accuracy:.4g} is barely above the {baseline:.4g} of always answering {answer} "
            f"(the majority baseline): it removes {share:.0%} of that answer's errors; judge by AUC, EER or TAR@FAR")


def _cross_validated(sorted_c, sorted_same, same, order, folds: int, seed: int, curve: _Curve, warnings: list[str]):
    """(mean, population std, folds used) of the held-out accuracy over stratified folds, or Nones."""
    n_pos, n_neg = curve.n_pos, curve.n_neg
    used = min(folds, n_pos, n_neg)
    if used < 2:
        warnings.append("cross-validated accuracy needs at least 2 positive and 2 negative pairs")
        return None, None, None
    if used < folds:
        fewer = "positive" if n_pos <= n_neg else "negative"
        warnings.append(f"cross-validation uses {used} folds instead of {folds}: "
                        f"there are only {used} {fewer} pairs")
    fold = _stratified_folds(same, used, seed)[order]
    accuracies = _cv_accuracy(sorted_c, sorted_same, fold, used)
    return float(np.mean(accuracies)), float(np.std(accuracies)), used


"""How sure the figures are: DeLong's interval for the AUC and paired test of two AUCs, and
percentile bootstrap intervals for the rest.

- AUC (DeLong, DeLong & Clarke-Pearson 1988): with psi(x, y) = 1 if x > y, 1/2 if x = y, else
  0 over m positive closenesses x_i and n negative ones y_j, the structural components are
  V10_i = mean_j psi(x_i, y_j) and V01_j = mean_i psi(x_i, y_j); AUC = mean(V10) and
  Var(AUC) = S10 / m + S01 / n, S the sample variances (ddof 1). They are computed from midranks
  in O(N log N) (Sun & Xu 2014). The 95% interval is AUC +- 1.96 sqrt(Var), clipped to [0, 1].
- Paired test of two AUCs on the same pairs (DeLong et al. 1988): with D10 = V10_a - V10_b and
  D01 = V01_a - V01_b, z = (AUC_a - AUC_b) / sqrt(S(D10) / m + S(D01) / n), two-sided
  p = erfc(|z| / sqrt 2). Equal components give p = 1.
- Bootstrap over pairs (EER, TAR@FAR, best accuracy): the positive and the negative pairs are
  each resampled with replacement (a stratified bootstrap: every resample keeps m and n, as
  DeLong's variance does), `n_resamples` times from numpy's generator seeded with `seed`; the
  interval is the 2.5% and 97.5% percentiles (numpy's linear quantile) of the resampled figures,
  each computed exactly as the report computes it.
  Best accuracy, the best of many thresholds on the same pairs, is biased up and so are its
  resamples: its interval is Efron's bias-corrected percentile interval instead.
- Bootstrap over queries (precision@1, mAP@R with classes): queries resampled with replacement.

Every interval treats pairs (or queries) as independent draws; pairs that share items (all the
pairs of a labelled set) are not, and the intervals are then too narrow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ...errors import UsageError, mention

DEFAULT_BOOTSTRAP = 1000
LEVEL = 0.95
_Z = 1.959963984540054  # the 97.5% quantile of the standard normal
_BATCH_ENTRIES = 2**20  # (resample, value) entries held at once: bounds the bootstrap's working memory


@dataclass
class AucComponents:
    """DeLong's structural components of one AUC (see the module docstring)."""

    auc: float
    v10: np.ndarray = field(repr=False)  # per positive pair, in the pairs' order
    v01: np.ndarray = field(repr=False)  # per negative pair

    @property
    def variance(self) -> float | None:
        """DeLong's variance of the AUC; None with fewer than 2 pairs of a kind."""
        m, n = len(self.v10), len(self.v01)
        if m < 2 or n < 2:
            return None
        return float(np.var(self.v10, ddof=1) / m + np.var(self.v01, ddof=1) / n)


@dataclass
class Groups:
    """Scored pairs grouped by equal closeness, closest group first: the positive and negative
    pairs of each group, and each pair's group (in the pairs' order)."""

    positives: np.ndarray
    negatives: np.ndarray
    group_of: np.ndarray = field(repr=False)


def pair_groups(closeness, same, order=None) -> Groups:
    """The Groups of scored pairs; `order` (optional) sorts them closest first, ties in any order
    (verification_report's sort, so that it is done once)."""
    closeness = np.asarray(closeness, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    order = np.argsort(-closeness, kind="stable") if order is None else order
    ordered = closeness[order]
    size = len(ordered)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1]))) if size else np.empty(0, np.intp)
    ends = np.append(starts[1:], size)
    before = np.concatenate(([0], np.cumsum(same[order], dtype=np.int64)))
    positives = before[ends] - before[starts]
    group_of = np.empty(size, dtype=np.intp)
    group_of[order] = np.repeat(np.arange(len(starts)), ends - starts)
    return Groups(positives, (ends - starts) - positives, group_of)


def auc_components(closeness, same, groups: Groups | None = None) -> AucComponents:
    """DeLong's components of the AUC of `closeness` (higher: more likely same) for labels
    `same`: V10 of a positive pair is (negatives less close + half the tied ones) / n, V01 of a
    negative pair (positives closer + half the tied ones) / m, read off the groups of equal
    closeness (Sun & Xu's midranks, counted once)."""
    same = np.asarray(same, dtype=bool)
    groups = pair_groups(closeness, same) if groups is None else groups
    m, n = int(groups.positives.sum()), int(groups.negatives.sum())
    if m == 0 or n == 0:
        raise UsageError("the AUC needs at least one positive and one negative pair")
    negatives_below = n - np.cumsum(groups.negatives)
    positives_above = np.cumsum(groups.positives) - groups.positives
    v10 = ((negatives_below + groups.negatives / 2.0) / n)[groups.group_of[same]]
    v01 = ((positives_above + groups.positives / 2.0) / m)[groups.group_of[~same]]
    return AucComponents(float(np.mean(v10)), v10, v01)


def auc_interval(components: AucComponents, auc: float | None = None) -> tuple[float, float] | None:
    """DeLong's 95% interval around `auc` (default: the components' own), clipped to [0, 1];
    None with fewer than 2 pairs of a kind."""
    variance = components.variance
    if variance is None:
        return None
    centre = components.auc if auc is None else auc
    half = _Z * math.sqrt(max(variance, 0.0))
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_p_value(a: AucComponents, b: AucComponents) -> float | None:
    """Two-sided p-value of DeLong's paired test that two AUCs on the same pairs are equal;
    None with fewer than 2 pairs of a kind."""
    if len(a.v10) != len(b.v10) or len(a.v01) != len(b.v01):
        raise UsageError("the paired test compares two AUCs on the same pairs")
    m, n = len(a.v10), len(a.v01)
    if m < 2 or n < 2:
        return None
    d10, d01 = a.v10 - b.v10, a.v01 - b.v01
    variance = float(np.var(d10, ddof=1) / m + np.var(d01, ddof=1) / n)
    difference = float(np.mean(d10))  # = AUC_a - AUC_b, without the rounding of two means
    if variance <= 0.0:  # the two differ by a constant on every pair: no noise to test against
        return 1.0 if difference == 0.0 else 0.0
    return math.erfc(abs(difference) / math.sqrt(2.0 * variance))


def check_bootstrap(n_resamples) -> int:
    """A number of bootstrap resamples: 0 (no bootstrap) or at least 2."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 0 \
            or n_resamples == 1:
        raise UsageError(f"{mention('bootstrap')} takes 0 (no bootstrap intervals) or at least 2 resamples, "
                         f"got {n_resamples!r}")
    return int(n_resamples)


def percentile_interval(values: np.ndarray) -> tuple[float, float]:
    """The central 95% of bootstrap values (linear interpolation between order statistics)."""
    low, high = np.quantile(values, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(low), float(high)


def bias_corrected_interval(values: np.ndarray, observed: float) -> tuple[float, float]:
    """Efron's bias-corrected percentile interval: with z0 = Phi^-1(share of bootstrap values
    below the observed figure, ties counted half), the Phi(2 z0 -+ 1.96) quantiles of the values.
    For a figure that is a maximum over thresholds (best accuracy), the plain percentile interval
    sits too high (84% coverage in benchmarks/evaluate_calibration.py; about 92% corrected)."""
    from scipy.special import ndtr, ndtri

    values = np.asarray(values, dtype=np.float64)
    share = (np.count_nonzero(values < observed) + 0.5 * np.count_nonzero(values == observed)) / len(values)
    z0 = float(ndtri(min(max(share, 1 / len(values)), 1 - 1 / len(values))))
    low, high = np.quantile(values, ndtr([2 * z0 - _Z, 2 * z0 + _Z]))
    return float(low), float(high)


def best_accuracy_of(runs: "Runs") -> float:
    """The best accuracy over thresholds of the pairs cut into runs: the first j runs called same."""
    right = np.concatenate(([0], np.cumsum(runs.positives) - np.cumsum(runs.negatives))) + runs.n
    return float(right.max() / (runs.m + runs.n))


@dataclass
class Runs:
    """Scored pairs sorted closest first and cut into runs: a tie group holding both kinds is a
    run of its own, and consecutive groups holding one kind only make one run. Inside a run of
    one kind the ROC curve is a straight vertical or horizontal segment whatever the resample,
    so EER, TAR@FAR and best accuracy depend only on how many resampled pairs fall in each run."""

    positives: np.ndarray  # per run: the positive pairs in it
    negatives: np.ndarray

    @property
    def m(self) -> int:
        return int(self.positives.sum())

    @property
    def n(self) -> int:
        return int(self.negatives.sum())


def pair_runs(closeness, same, groups: Groups | None = None) -> Runs:
    """The runs of scored pairs (see Runs); closeness: higher is closer."""
    groups = pair_groups(closeness, same) if groups is None else groups
    positives, negatives = groups.positives, groups.negatives
    kind = np.where(negatives == 0, 1, np.where(positives == 0, -1, 0))
    starts = np.flatnonzero(np.concatenate(([True], (kind[1:] != kind[:-1]) | (kind[1:] == 0))))
    return Runs(np.add.reduceat(positives, starts), np.add.reduceat(negatives, starts))


class RandomSplit:
    """Draws a multinomial resample of the runs lazily, by halves: a part of the runs holding p
    resampled positives gives its first half Binomial(p, positives in the half / positives in
    the part) of them (and the same for negatives), which is exactly how a multinomial splits.
    Called with (resample rows, part starts, middles, ends, p, q): the first halves' counts."""

    def __init__(self, rng: np.random.Generator, runs: Runs):
        self.rng = rng
        self.prefix = [np.concatenate(([0], np.cumsum(k))) for k in (runs.positives, runs.negatives)]

    def __call__(self, rows, a, mid, b, p, q):
        return tuple(self._half(prefix, a, mid, b, count) for prefix, count in zip(self.prefix, (p, q)))

    def _half(self, prefix, a, mid, b, count):
        whole, first = prefix[b] - prefix[a], prefix[mid] - prefix[a]
        chance = np.divide(first, whole, out=np.zeros(len(a)), where=whole > 0)
        return self.rng.binomial(count, chance)


def crossing(split, runs: Runs, batch: int, crossed):
    """For each of `batch` resamples, the first run end where crossed(tps, fps) holds (a test
    that, once true along the ROC curve, stays true, and holds at the last point) and the point
    before it: (tps0, fps0, tps1, fps1), found by halving, O(log runs) per resample."""
    size = len(runs.positives)
    a, b = np.zeros(batch, np.int64), np.full(batch, size, np.int64)
    t0, f0 = np.zeros(batch, np.int64), np.zeros(batch, np.int64)
    p, q = np.full(batch, runs.m, np.int64), np.full(batch, runs.n, np.int64)
    while True:
        rows = np.flatnonzero(b - a > 1)
        if not len(rows):
            return t0, f0, t0 + p, f0 + q
        mid = (a[rows] + b[rows]) // 2
        pl, ql = split(rows, a[rows], mid, b[rows], p[rows], q[rows])
        left = crossed(t0[rows] + pl, f0[rows] + ql)
        go, stay = rows[left], rows[~left]
        b[go], p[go], q[go] = mid[left], pl[left], ql[left]
        a[stay] = mid[~left]
        t0[stay] += pl[~left]
        f0[stay] += ql[~left]
        p[stay] -= pl[~left]
        q[stay] -= ql[~left]


def most_correct(split, runs: Runs, batch: int) -> np.ndarray:
    """For each of `batch` resamples, the most pairs any ROC point decides right (TP + TN), by
    branch and bound: a part of the runs from point s to point e holds no point above
    tps(e) + n - fps(s), so it is split only while that bound beats the best point seen. The
    resamples go in chunks whose worst case (every part split) fits the working memory."""
    m, n, size = runs.m, runs.n, len(runs.positives)
    best = np.full(batch, max(m, n), np.int64)  # the start point (n right) and the last (m right)
    chunk = max(1, _BATCH_ENTRIES // size)
    for first in range(0, batch if size > 1 else 0, chunk):
        rows = np.arange(first, min(batch, first + chunk))
        a, b = np.zeros(len(rows), np.int64), np.full(len(rows), size, np.int64)
        t0, f0 = np.zeros(len(rows), np.int64), np.zeros(len(rows), np.int64)
        p, q = np.full(len(rows), m, np.int64), np.full(len(rows), n, np.int64)
        while len(rows):
            mid = (a + b) // 2
            pl, ql = split(rows, a, mid, b, p, q)
            tm, fm = t0 + pl, f0 + ql
            np.maximum.at(best, rows, tm + n - fm)
            rows, t0, f0 = np.concatenate([rows, rows]), np.concatenate([t0, tm]), np.concatenate([f0, fm])
            a, b = np.concatenate([a, mid]), np.concatenate([mid, b])
            p, q = np.concatenate([pl, p - pl]), np.concatenate([ql, q - ql])
            keep = (b - a > 1) & (t0 + p + n - f0 > best[rows])
            rows, a, b, t0, f0, p, q = (x[keep] for x in (rows, a, b, t0, f0, p, q))
    return best


def far_limits(fars: Sequence[float], n: int) -> list[int | None]:
    """For each FAR x, the most negatives k with k / n <= x (divided as the report divides), or
    None when 1/n > x (the FAR is not reachable)."""
    limits = []
    for far in fars:
        if 1.0 / n > far:
            limits.append(None)
            continue
        k = min(n, int(math.floor(far * n)))
        while k < n and (k + 1) / n <= far:
            k += 1
        while k > 0 and k / n > far:
            k -= 1
        limits.append(k)
    return limits


def resampled_figures(split, runs: Runs, batch: int, limits: list[int | None]):
    """EER, best accuracy and TAR at each FAR limit of `batch` resamples, as verification_report
    computes them on the resampled pairs (each figure from resamples of its own)."""
    m, n = runs.m, runs.n
    gap = lambda t, f: f * m - (m - t) * n  # noqa: E731  (FPR - FNR) * m * n, exact in integers
    t0, f0, t1, f1 = crossing(split, runs, batch, lambda t, f: gap(t, f) >= 0)
    g0, g1 = gap(t0, f0), gap(t1, f1)
    w = (-g0).astype(np.float64) / (g1 - g0)
    eer = f0 / n + w * (f1 / n - f0 / n)
    best = most_correct(split, runs, batch) / (m + n)
    tar = []
    for limit in limits:
        if limit is None or limit >= n:
            tar.append(None if limit is None else np.ones(batch))
            continue
        before, _, _, _ = crossing(split, runs, batch, lambda t, f, k=limit: f > k)
        tar.append(before / m)  # the last point with FPR <= x holds the largest TPR
    return eer, best, tar


def bootstrap_verification(scores, same, higher_is_better: bool, fars: Sequence[float],
                           n_resamples: int = DEFAULT_BOOTSTRAP, seed: int = 0, groups: Groups | None = None) -> dict:
    """Percentile 95% intervals of the EER, the best accuracy and the TAR at each FAR over
    `n_resamples` stratified resamples of the pairs: {"eer": (lo, hi), "best_accuracy": (lo, hi),
    "tar_at_far": [(lo, hi) or None per FAR]} (None everywhere when n_resamples is 0)."""
    from .verification import check_pairs

    n_resamples = check_bootstrap(n_resamples)
    scores, same = check_pairs(scores, same)
    runs = pair_runs(scores if higher_is_better else -scores, same, groups)
    limits = far_limits(fars, runs.n)
    if n_resamples == 0:
        return {"eer": None, "best_accuracy": None, "tar_at_far": [None] * len(limits)}
    eer, best, tar = resampled_figures(RandomSplit(np.random.default_rng(seed), runs), runs, n_resamples, limits)
    return {"eer": percentile_interval(eer), "best_accuracy": bias_corrected_interval(best, best_accuracy_of(runs)),
            "tar_at_far": [None if values is None else percentile_interval(values) for values in tar]}


def bootstrap_means(values: Sequence[np.ndarray], n_resamples: int = DEFAULT_BOOTSTRAP,
                    seed: int = 0) -> list[tuple[float, float] | None]:
    """Percentile 95% intervals of the mean of each array of per-query values, over
    `n_resamples` resamples of the queries with replacement. Few distinct values (hits at 1 are
    0 or 1) are resampled as a multinomial of their counts: the same distribution, less work."""
    n_resamples = check_bootstrap(n_resamples)
    rng = np.random.default_rng(seed)
    intervals = []
    for array in values:
        array = np.asarray(array, dtype=np.float64)
        size = len(array)
        if n_resamples == 0 or size == 0:
            intervals.append(None)
            continue
        distinct, counts = np.unique(array, return_counts=True)
        few = len(distinct) * 16 <= size
        batch = max(1, min(n_resamples, _BATCH_ENTRIES // (len(distinct) if few else size)))
        means = []
        for start in range(0, n_resamples, batch):
            rows = min(batch, n_resamples - start)
            if few:
                means.append(rng.multinomial(size, counts / size, size=rows) @ distinct / size)
            else:
                means.append(array[rng.integers(0, size, size=(rows, size))].mean(axis=1))
        intervals.append(percentile_interval(np.concatenate(means)))
    return intervals


@dataclass
class Intervals:
    """95% intervals of one evaluation's figures ((low, high), or None where there is none)."""

    auc: tuple[float, float] | None
    eer: tuple[float, float] | None
    best_accuracy: tuple[float, float] | None
    tar_at_far: dict[str, tuple[float, float] | None]
    precision_at_1: tuple[float, float] | None = None
    map_at_r: tuple[float, float] | None = None

    def __repr__(self) -> str:
        from ...results import brief

        shown = [f"{name}={brief(getattr(self, name))}" for name in ("auc", "eer", "best_accuracy", "precision_at_1")]
        return f"Intervals({', '.join(shown)}, tar_at_far={brief(self.tar_at_far)})"


def intervals_of(scores, same, verification, retrieval=None, *, n_resamples: int = DEFAULT_BOOTSTRAP, seed: int = 0,
                 order=None):
    """(DeLong's components, the Intervals, notes) of scored pairs and their reports: DeLong's
    interval around the report's AUC, bootstrap intervals over pairs for EER, best accuracy and
    TAR@FAR, and over queries for precision@1 and mAP@R (with a retrieval report). `order`: the
    pairs sorted closest first, when already known."""
    higher = verification.higher_is_better
    closeness = np.asarray(scores, dtype=np.float64) if higher else -np.asarray(scores, dtype=np.float64)
    groups = pair_groups(closeness, same, order)
    components = auc_components(closeness, same, groups)
    notes = []
    auc = auc_interval(components, verification.auc)
    if auc is None:
        notes.append("the AUC's interval needs at least 2 same and 2 different pairs")
    fars = [float(key) for key in verification.tar_at_far]  # far_key writes each FAR's shortest exact digits
    boot = bootstrap_verification(scores, same, higher, fars, n_resamples, seed, groups)
    tar = dict(zip(verification.tar_at_far, boot["tar_at_far"]))
    intervals = Intervals(auc, boot["eer"], boot["best_accuracy"], tar)
    if retrieval is not None:
        intervals.precision_at_1, intervals.map_at_r = bootstrap_means(
            [retrieval.query_hits_at_1, retrieval.query_ap], n_resamples, seed)
    return components, intervals, notes

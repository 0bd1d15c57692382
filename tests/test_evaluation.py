"""Verification and retrieval scores against scikit-learn and brute force written plainly here."""

from __future__ import annotations

import itertools
import json
import re
import statistics

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score, roc_curve

from siamcli import engine
from siamcli.reports import evaluation as ev
from siamcli.errors import InputError, ShapeError, UsageError

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOL = 1e-9


# ---------------------------------------------------------------- references


def closeness(scores, higher):
    return np.asarray(scores, float) if higher else -np.asarray(scores, float)


def decide(scores, threshold, higher):
    """The decision rule: same when score >= threshold (similarity) or <= threshold (distance)."""
    return scores >= threshold if higher else scores <= threshold


def brute_eer(fpr, tpr, thresholds):
    """Walk the ROC points until FPR >= FNR; interpolate linearly inside the bracket."""
    for i in range(1, len(fpr)):
        if fpr[i] >= 1 - tpr[i]:
            before, after = fpr[i - 1] - (1 - tpr[i - 1]), fpr[i] - (1 - tpr[i])
            w = -before / (after - before)
            start = thresholds[i] if i == 1 else thresholds[i - 1]  # the start point's threshold is infinite
            return fpr[i - 1] + w * (fpr[i] - fpr[i - 1]), (1 - w) * start + w * thresholds[i], (fpr[i - 1], fpr[i])
    raise AssertionError("the ROC curve never crosses FPR = FNR")


def brute_tar(fpr, tpr, thresholds, far, n_negative):
    if far < 1 / n_negative:
        return None, None
    allowed = [i for i in range(len(fpr)) if fpr[i] <= far]
    best = max(tpr[i] for i in allowed)
    first = min(i for i in allowed if tpr[i] == best)
    return best, (None if first == 0 else thresholds[first])


def brute_best(scores, same, higher):
    """(best accuracy, chosen threshold, (lo, hi)) by trying every observed score, strictest first."""
    n = len(scores)
    distinct = np.unique(scores)[::-1] if higher else np.unique(scores)
    correct = [int((decide(scores, t, higher) == same).sum()) for t in distinct]
    best = max(max(correct), int((~same).sum()))  # "nothing is same" gets every negative right
    runs, current = [], []
    for i, c in enumerate(correct):
        if c == best:
            current.append(i)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    if not runs:
        return best / n, None, None
    longest = max(len(r) for r in runs)
    run = distinct[next(r for r in runs if len(r) == longest)]
    lo, hi = run.min(), run.max()
    middle = lo / 2 + hi / 2
    chosen = run[int(np.argmin(np.abs(run - middle)))]  # first = strictest on a tie
    return best / n, float(chosen), (float(lo), float(hi))


def check_against_references(report, scores, same, higher, fars):
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    c = closeness(scores, higher)
    fpr, tpr, thr = roc_curve(same, c, drop_intermediate=False)
    thr = thr if higher else -thr  # back to score units
    assert report.n_pairs == len(scores) and report.n_positive == same.sum() and report.n_negative == (~same).sum()
    np.testing.assert_allclose(report.roc.fpr, fpr, rtol=0, atol=TOL)
    np.testing.assert_allclose(report.roc.tpr, tpr, rtol=0, atol=TOL)
    np.testing.assert_array_equal(report.roc.thresholds, thr)
    assert report.auc == pytest.approx(roc_auc_score(same, c), abs=TOL)
    assert report.average_precision == pytest.approx(average_precision_score(same, c), abs=TOL)

    eer, eer_threshold, (fpr_before, fpr_after) = brute_eer(fpr, tpr, thr)
    assert report.eer == pytest.approx(eer, abs=TOL)
    assert report.eer_threshold == pytest.approx(eer_threshold, rel=TOL, abs=TOL)
    assert fpr_before - TOL <= report.eer <= fpr_after + TOL

    for far in fars:
        tar, threshold = brute_tar(fpr, tpr, thr, far, int((~same).sum()))
        key = ev.far_key(far)
        assert report.tar_at_far[key] == (None if tar is None else pytest.approx(tar, abs=TOL))
        assert report.tar_at_far_threshold[key] == threshold

    accuracy, threshold, span = brute_best(scores, same, higher)
    assert report.best_accuracy == pytest.approx(accuracy, abs=TOL)
    assert report.best_accuracy_threshold == threshold
    assert report.best_accuracy_threshold_range == span
    predicted = decide(scores, threshold, higher) if threshold is not None else np.zeros(len(same), bool)
    assert accuracy_score(same, predicted) == pytest.approx(report.best_accuracy, abs=TOL)
    assert report.f1 == pytest.approx(f1_score(same, predicted, zero_division=0.0), abs=TOL)


def digit_pairs(metric, count=80, seed=0):
    """Every pair of `count` digits (raw pixels), same when both show the same digit."""
    digits = load_digits()
    pick = np.random.default_rng(seed).choice(len(digits.target), count, replace=False)
    x, y = digits.data[pick], digits.target[pick]
    i, j = np.triu_indices(count, 1)
    d = cdist(x, x, metric)[i, j]
    return (1 - d if metric == "cosine" else d), y[i] == y[j]


# ---------------------------------------------------------------- verification against references


@pytest.mark.parametrize("metric, higher", [("cosine", True), ("euclidean", False)])
def test_verification_report_matches_sklearn_on_digits(metric, higher):
    scores, same = digit_pairs(metric)
    fars = (1e-1, 1e-2, 1e-3)
    report = ev.verification_report(scores, same, higher, fars=fars, metric=metric)
    check_against_references(report, scores, same, higher, fars)
    assert report.auc > 0.8  # raw-pixel digits are far from random: a check on the data, not the code
    assert report.metric == metric and report.higher_is_better is higher


@pytest.mark.parametrize("higher", [True, False])
def test_verification_report_matches_sklearn_with_many_ties(higher):
    rng = np.random.default_rng(1)
    same = rng.random(3000) < 0.3
    scores = np.round(rng.normal(same * 0.8, 1.0), 1)  # ~60 distinct values for 3000 pairs
    fars = (0.5, 0.1, 0.01, 1e-3)
    report = ev.verification_report(scores, same, higher, fars=fars)
    check_against_references(report, scores, same, higher, fars)


@st.composite
def scored_pairs(draw):
    n = draw(st.integers(2, 40))
    values = st.integers(-3, 3).map(float) if draw(st.booleans()) else st.floats(-1e3, 1e3, allow_nan=False)
    scores = draw(st.lists(values, min_size=n, max_size=n))
    same = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    assume(any(same) and not all(same))
    return np.array(scores), np.array(same), draw(st.booleans())


@SETTINGS
@given(scored_pairs())
def test_verification_report_properties(case):
    scores, same, higher = case
    fars = (0.5, 0.1, 0.01)
    report = ev.verification_report(scores, same, higher, fars=fars, folds=3)
    assert 0 <= report.auc <= 1
    assert report.best_accuracy >= max(same.sum(), (~same).sum()) / len(same)
    assert report.cv_accuracy is None or 0 <= report.cv_accuracy <= 1
    check_against_references(report, scores, same, higher, fars)
    json.dumps(report.record(), allow_nan=False)


# ---------------------------------------------------------------- hand-made cases


@pytest.mark.parametrize("scores, higher, threshold", [
    ([0.9, 0.5, 0.5, 0.1], True, 0.7),
    ([0.1, 0.5, 0.5, 0.9], False, 0.3),
])
def test_verification_report_eer_interpolates_inside_a_tie(scores, higher, threshold):
    # ROC: (0,0) -> (0, 1/2) at the first pair -> (1/2, 1) at the tie; FPR = FNR = 1/4 halfway
    report = ev.verification_report(scores, [True, True, False, False], higher, folds=2)
    assert report.eer == pytest.approx(0.25)
    assert report.eer_threshold == pytest.approx(threshold)


def test_verification_report_eer_with_constant_fpr_interpolates_fnr():
    # points (1/2, 1/3) and (1/2, 2/3) bracket the crossing: FNR 2/3 -> 1/3 crosses FPR 1/2 halfway
    report = ev.verification_report([0.9, 0.8, 0.7, 0.6, 0.5], [True, False, True, True, False], True, folds=2)
    assert report.eer == pytest.approx(0.5)
    assert report.eer_threshold == pytest.approx(0.75)


def test_verification_report_eer_from_the_start_point_uses_the_first_threshold():
    report = ev.verification_report([0.5, 0.5], [True, False], True)
    assert report.eer == 0.5 and report.eer_threshold == 0.5


def test_verification_report_perfect_separation():
    report = ev.verification_report([1.0, 2.0, 5.0, 6.0], [True, True, False, False], False, folds=2)
    assert (report.auc, report.eer, report.best_accuracy, report.f1) == (1, 0, 1, 1)
    assert report.eer_threshold == 2.0
    assert report.best_accuracy_threshold_range == (2.0, 2.0)


@pytest.mark.parametrize("scores, higher, threshold, span", [
    ([9, 8, 7, 7, 6, 6, 5, 2], True, 7, (6, 8)),
    ([1, 2, 3, 3, 4, 4, 5, 8], False, 3, (2, 4)),
])
def test_verification_report_best_accuracy_range_covers_the_run(scores, higher, threshold, span):
    # correct decisions at 9, 8, 7, 6, 5, 2: 5, 6, 6, 6, 5, 4 (and 4 for "nothing is same")
    same = [True, True, True, False, True, False, False, False]
    report = ev.verification_report(scores, same, higher, folds=2)
    assert report.best_accuracy == 0.75
    assert report.best_accuracy_threshold == threshold
    assert report.best_accuracy_threshold_range == span
    assert report.f1 == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))  # TP 3, FP 1, FN 1 at the threshold


@pytest.mark.parametrize("scores, higher, threshold", [([9, 8, 7, 6, 5, 4], True, 8), ([1, 2, 3, 4, 5, 6], False, 2)])
def test_verification_report_best_accuracy_tie_prefers_the_strictest_run(scores, higher, threshold):
    # two runs of one threshold each reach 5/6: at 8 and at 6 (similarity); the stricter wins
    report = ev.verification_report(scores, [True, True, False, True, False, False], higher, folds=2)
    assert report.best_accuracy == pytest.approx(5 / 6)
    assert report.best_accuracy_threshold == threshold


def test_verification_report_best_accuracy_prefers_the_longest_run():
    # correct at 9, 8, 7, 6, 5, 4, 3: 6, 5, 6, 6, 6, 5, 4 ("nothing": 5); the run 7, 6, 5 beats 9
    scores = [9, 8, 7, 6, 6, 5, 5, 4, 3]
    same = [True, False, True, True, False, True, False, False, False]
    report = ev.verification_report(scores, same, True, folds=2)
    assert report.best_accuracy == pytest.approx(6 / 9)
    assert report.best_accuracy_threshold_range == (5.0, 7.0)
    assert report.best_accuracy_threshold == 6.0


def test_verification_report_best_accuracy_when_only_nothing_is_same():
    report = ev.verification_report([0.9, 0.5, 0.1], [False, False, True], True, folds=2)
    assert report.best_accuracy == pytest.approx(2 / 3)
    assert report.best_accuracy_threshold is None and report.best_accuracy_threshold_range is None
    assert report.f1 == 0.0
    assert any("calling no pair 'same'" in w for w in report.warnings)


def test_verification_report_negated_scores_give_the_same_numbers():
    rng = np.random.default_rng(2)
    same = rng.random(500) < 0.5
    scores = np.round(rng.normal(same, 1.0), 2)
    sim = ev.verification_report(scores, same, True, fars=(0.1, 0.01))
    dist = ev.verification_report(-scores, same, False, fars=(0.1, 0.01))
    for name in ("auc", "eer", "average_precision", "best_accuracy", "f1", "cv_accuracy", "cv_accuracy_std",
                 "tar_at_far"):
        assert getattr(sim, name) == getattr(dist, name), name
    assert sim.best_accuracy_threshold == -dist.best_accuracy_threshold
    assert sim.eer_threshold == pytest.approx(-dist.eer_threshold)
    assert sim.best_accuracy_threshold_range == tuple(-x for x in reversed(dist.best_accuracy_threshold_range))


# ---------------------------------------------------------------- TAR at FAR


def test_verification_report_unreachable_far_gives_none_and_a_warning():
    rng = np.random.default_rng(3)
    same = np.array([True] * 50 + [False] * 450)
    report = ev.verification_report(rng.normal(same, 1.0), same, True)
    assert report.tar_at_far["0.001"] is None and report.tar_at_far_threshold["0.001"] is None
    assert report.tar_at_far["0.01"] is not None
    expected = "FAR 0.001 is not reachable with 450 negative pairs (smallest non-zero FAR is 1/450 = 0.0022)"
    assert expected in report.warnings
    assert report.record()["tar_at_far"]["0.001"] is None


def test_verification_report_tar_is_zero_when_the_closest_tie_holds_negatives():
    # the two closest pairs tie and are both negative: FAR 0.2 is reachable (1/10) but every
    # threshold accepting a pair accepts both, FAR 0.2 > 0.1
    scores = [9, 9] + list(range(8, 0, -1)) + [5, 4]
    same = [False] * 10 + [True, True]
    report = ev.verification_report(scores, same, True, fars=(0.1,), folds=2)
    assert report.tar_at_far == {"0.1": 0.0} and report.tar_at_far_threshold == {"0.1": None}
    assert any("TAR at FAR 0.1 is 0" in w for w in report.warnings)


def test_verification_report_tar_takes_the_strictest_threshold_with_the_best_tpr():
    # after 0.9 (a positive) TPR stays 1/2 while FPR climbs to 1/4 at 0.8: both are within FAR 1/4
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    same = [True, False, False, True, False, False]
    report = ev.verification_report(scores, same, True, fars=(0.25,), folds=2)
    assert report.tar_at_far["0.25"] == 0.5 and report.tar_at_far_threshold["0.25"] == 0.9


def test_far_key_never_uses_exponents():
    assert [ev.far_key(x) for x in (0.1, 1e-2, 1e-3, 1e-5, 1.0)] == ["0.1", "0.01", "0.001", "0.00001", "1"]


# ---------------------------------------------------------------- cross-validation


def test_verification_report_cv_follows_the_lfw_protocol():
    scores, same = digit_pairs("euclidean", count=40)
    report = ev.verification_report(scores, same, False, folds=5, seed=7)
    fold = ev.verification._stratified_folds(same, 5, 7)
    accuracies = []
    for f in range(5):
        train, test = fold != f, fold == f
        _, threshold, _ = brute_best(scores[train], same[train], False)
        predicted = decide(scores[test], threshold, False)
        accuracies.append(accuracy_score(same[test], predicted))
    assert report.cv_folds == 5
    assert report.cv_accuracy == pytest.approx(statistics.fmean(accuracies), abs=TOL)
    assert report.cv_accuracy_std == pytest.approx(statistics.pstdev(accuracies), abs=TOL)


def test_stratified_folds_balance_each_label():
    same = np.random.default_rng(4).random(103) < 0.2
    fold = ev.verification._stratified_folds(same, 10, 0)
    for label in (True, False):
        counts = np.bincount(fold[same == label], minlength=10)
        assert counts.max() - counts.min() <= 1
    sizes = np.bincount(fold, minlength=10)
    assert sizes.max() - sizes.min() <= 1


def test_verification_report_cv_is_deterministic_per_seed():
    rng = np.random.default_rng(5)
    same = rng.random(300) < 0.5
    scores = rng.normal(same, 1.5)
    first = ev.verification_report(scores, same, True, seed=1)
    assert ev.verification_report(scores, same, True, seed=1).cv_accuracy == first.cv_accuracy
    others = {ev.verification_report(scores, same, True, seed=s).cv_accuracy for s in range(2, 6)}
    assert others != {first.cv_accuracy}  # the seed does shuffle the folds


def test_verification_report_cv_reduces_folds_when_a_label_is_rare():
    report = ev.verification_report([1, 2, 3, 4, 5, 6, 7, 8], [True, True, True] + [False] * 5, True)
    assert report.cv_folds == 3
    assert "cross-validation uses 3 folds instead of 10: there are only 3 positive pairs" in report.warnings
    single = ev.verification_report([1, 2, 3], [True, False, False], True)
    assert single.cv_accuracy is None and single.cv_accuracy_std is None and single.cv_folds is None
    assert any("at least 2 positive and 2 negative" in w for w in single.warnings)


# ---------------------------------------------------------------- records and errors


def test_verification_report_record_is_strict_json_with_the_documented_keys():
    report = ev.verification_report([0.5, 0.5], [True, False], True, fars=(0.1, 1e-4))
    record = report.record()
    assert list(record) == list(ev.VERIFICATION_FIELDS)
    text = json.dumps(record, allow_nan=False)
    again = json.loads(text)
    assert again["tar_at_far"] == {"0.1": None, "0.0001": None}
    assert again["cv_accuracy"] is None and again["best_accuracy_threshold_range"] == [0.5, 0.5]
    assert isinstance(again["warnings"], list) and again["warnings"]
    assert all(type(v) in (float, int, bool, str, list, dict, type(None)) for v in record.values())


@pytest.mark.parametrize("scores, same, message", [
    ([0.1, 0.2], [False, False], "no positive (same) pair among the 2 pairs"),
    ([0.1, 0.2], [True, True], "no negative (different) pair among the 2 pairs"),
    ([0.1, 0.2, 0.3], [True, False], "3 scores but 2 labels"),
    ([0.1, float("nan"), 0.3, float("inf")], [True, False, True, False], "pairs 1 (nan), 3 (inf)"),
    ([0.1, 0.2], ["yes", "no"], "parse_labels"),
    ([], [], "no positive"),
])
def test_verification_report_rejects_bad_input(scores, same, message):
    with pytest.raises(InputError) as info:
        ev.verification_report(scores, same, True)
    assert message in str(info.value)


@pytest.mark.parametrize("options", [{"fars": (0.0,)}, {"fars": (1.5,)}, {"fars": ("x",)}, {"folds": 1},
                                     {"folds": 2.5}])
def test_verification_report_rejects_bad_options(options):
    with pytest.raises(UsageError):
        ev.verification_report([1, 2], [True, False], True, **options)


def test_verification_report_accepts_zero_one_labels():
    a = ev.verification_report([3, 1, 2], [1, 0, 1], True, folds=2)
    b = ev.verification_report([3, 1, 2], [True, False, True], True, folds=2)
    assert a.record() == b.record()


# ---------------------------------------------------------------- score distribution


def test_score_distribution_summaries_match_the_statistics_module():
    rng = np.random.default_rng(6)
    same = rng.random(400) < 0.4
    scores = rng.normal(same * 2.0, 1.0)
    dist = ev.score_distribution(scores, same, bins=15)
    for summary, values in ((dist.positive, scores[same]), (dist.negative, scores[~same])):
        cuts = statistics.quantiles(values.tolist(), n=20, method="inclusive")  # 5 %, 10 %, ... 95 %
        assert summary.count == len(values)
        assert summary.mean == pytest.approx(statistics.fmean(values), abs=TOL)
        assert summary.std == pytest.approx(statistics.pstdev(values), abs=TOL)
        assert (summary.min, summary.max) == (min(values), max(values))
        got = (summary.q05, summary.q25, summary.q50, summary.q75, summary.q95)
        assert got == pytest.approx((cuts[0], cuts[4], cuts[9], cuts[14], cuts[18]), abs=TOL)


def test_score_distribution_histogram_counts_match_a_plain_count():
    rng = np.random.default_rng(7)
    same = rng.random(300) < 0.5
    scores = np.round(rng.normal(same, 1.0), 1)
    dist = ev.score_distribution(scores, same, bins=7)
    edges = dist.bin_edges
    assert len(edges) == 8 and edges[0] == scores.min() and edges[-1] == scores.max()
    for label, counts in ((True, dist.positive_counts), (False, dist.negative_counts)):
        plain = [0] * 7
        for s in scores[same == label]:
            b = next(i for i in range(7) if edges[i] <= s < edges[i + 1] or (i == 6 and s == edges[7]))
            plain[b] += 1
        assert counts.tolist() == plain
    p, q = dist.positive_counts / same.sum(), dist.negative_counts / (~same).sum()
    assert dist.overlap == pytest.approx(sum(min(a, b) for a, b in zip(p, q)), abs=TOL)


def test_score_distribution_overlap_bounds():
    separated = ev.score_distribution([0, 1, 10, 11], [True, True, False, False], bins=4)
    identical = ev.score_distribution([0, 1, 0, 1], [True, True, False, False], bins=4)
    assert separated.overlap == 0.0 and identical.overlap == 1.0
    half = ev.score_distribution([0, 0, 0, 9], [True, True, False, False], bins=2)  # negatives: one per bin
    assert half.overlap == 0.5


@pytest.mark.parametrize("higher", [True, False])
def test_score_distribution_wrong_side_fractions_match_brute_force(higher):
    rng = np.random.default_rng(8)
    same = rng.random(200) < 0.3
    scores = np.round(rng.normal(same if higher else -same.astype(float), 1.0), 1)
    dist = ev.score_distribution(scores, same, higher_is_better=higher)
    _, threshold, _ = brute_best(scores, same, higher)
    called_same = decide(scores, threshold, higher)
    assert dist.threshold == threshold
    assert dist.positive_wrong_side == pytest.approx(np.mean(~called_same[same]), abs=TOL)
    assert dist.negative_wrong_side == pytest.approx(np.mean(called_same[~same]), abs=TOL)
    assert ev.score_distribution(scores, same).positive_wrong_side is None  # direction unknown


def test_score_distribution_record_is_strict_json():
    dist = ev.score_distribution([1.0, 1.0, 1.0], [True, False, True], bins=3, higher_is_better=True)
    record = json.loads(json.dumps(dist.record(), allow_nan=False))
    assert record["positive"]["count"] == 2 and record["negative"]["std"] == 0.0
    assert sum(record["positive_counts"]) == 2 and len(record["bin_edges"]) == 4
    with pytest.raises(UsageError):
        ev.score_distribution([1, 2], [True, False], bins=0)


# ---------------------------------------------------------------- text histogram


def test_text_histogram_golden():
    dist = ev.score_distribution([0.0, 1.0, 1.0, 3.0, 4.0, 4.0], [True, True, True, False, False, True], bins=2)
    # bins [0, 2) and [2, 4]; positives 3 + 1 of 4 (shares 3/4, 1/4), negatives 0 + 2 of 2 (0, 1)
    assert ev.text_histogram(dist, width=8) == [
        "score   positive (#)  n  negative (.)  n",
        "0 .. 2  ######        3                0",
        "2 .. 4  ##            1  ........      2",
    ]


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 50), st.booleans()), min_size=2, max_size=60), st.integers(1, 12),
       st.integers(1, 30))
def test_text_histogram_bars_share_one_scale(pairs, bins, width):
    scores, same = np.array([p[0] for p in pairs], float), np.array([p[1] for p in pairs])
    assume(same.any() and not same.all())
    dist = ev.score_distribution(scores, same, bins=bins)
    lines = ev.text_histogram(dist, width=width)
    assert lines == ev.text_histogram(dist, width=width) and len(lines) == bins + 1
    score_column = lines[0].index("positive (#)")  # the bin ranges come before it
    bars = []
    for line, pc, nc in zip(lines[1:], dist.positive_counts, dist.negative_counts):
        found = re.fullmatch(r"\s+(#*)\s+(\d+)\s+(\.*)\s+(\d+)", line[score_column - 2 :])
        assert found, line
        assert (int(found[2]), int(found[4])) == (pc, nc)
        assert (len(found[1]) > 0) == (pc > 0) and (len(found[3]) > 0) == (nc > 0)
        bars += [len(found[1]), len(found[3])]
    assert max(bars) == width  # the largest share fills the width


# ---------------------------------------------------------------- retrieval


def brute_retrieval(matrix, classes, higher, ks):
    """Precision@1, recall@k and mAP@R by sorting each row plainly (ties by index, NaN last)."""
    n = len(classes)
    hits1, recall, aps = 0, {k: 0 for k in ks}, []
    for i in range(n):
        r = sum(1 for j in range(n) if j != i and classes[j] == classes[i])
        if r == 0:
            continue

        def key(j):
            s = matrix[i][j]
            return (float("inf") if np.isnan(s) else (-s if higher else s), j)

        ranked = sorted((j for j in range(n) if j != i), key=key)
        relevant = [classes[j] == classes[i] for j in ranked]
        hits1 += relevant[0]
        for k in ks:
            recall[k] += any(relevant[:k])
        aps.append(sum(sum(relevant[: p + 1]) / (p + 1) for p in range(r) if relevant[p]) / r)
    q = len(aps)
    return hits1 / q, {str(k): v / q for k, v in recall.items()}, sum(aps) / q, q


def brute_per_query(matrix, classes, higher):
    """Each query's hit at 1 and AP@R, in row order (queries with another item of their class)."""
    hits, aps = [], []
    for i in range(len(classes)):
        r = sum(1 for j in range(len(classes)) if j != i and classes[j] == classes[i])
        if r == 0:
            continue
        def key(j, i=i):
            s = matrix[i][j]
            return (float("inf") if np.isnan(s) else (-s if higher else s), j)

        relevant = [classes[j] == classes[i] for j in sorted((j for j in range(len(classes)) if j != i), key=key)]
        hits.append(float(relevant[0]))
        aps.append(sum(sum(relevant[: p + 1]) / (p + 1) for p in range(r) if relevant[p]) / r)
    return hits, aps


def row_blocks(matrix, rows):
    return ((i, matrix[i : i + rows]) for i in range(0, len(matrix), rows))


def check_retrieval(matrix, classes, higher, ks=(1, 5, 10), rows=7):
    report = ev.retrieval_report(row_blocks(matrix, rows), classes, higher, ks)
    p1, recall, map_r, q = brute_retrieval(matrix, list(classes), higher, ks)
    assert report.n_queries == q and report.n_skipped == len(classes) - q
    assert report.precision_at_1 == pytest.approx(p1, abs=TOL)
    assert report.recall_at_k == pytest.approx(recall, abs=TOL)
    assert report.map_at_r == pytest.approx(map_r, abs=TOL)
    hits, aps = brute_per_query(matrix, list(classes), higher)
    np.testing.assert_allclose(report.query_hits_at_1, hits, atol=TOL)
    np.testing.assert_allclose(report.query_ap, aps, atol=TOL)
    return report


@pytest.mark.parametrize("metric, higher", [("cosine", True), ("euclidean", False)])
def test_retrieval_report_matches_brute_force_on_digits(metric, higher):
    digits = load_digits()
    x, y = digits.data[:150], digits.target[:150]
    d = cdist(x, x, metric)
    check_retrieval(1 - d if metric == "cosine" else d, y, higher)
    check_retrieval((1 - d if metric == "cosine" else d).astype(np.float32), y, higher, rows=150)


@SETTINGS
@given(st.integers(2, 14).flatmap(lambda n: st.tuples(
    st.lists(st.lists(st.integers(0, 3), min_size=n, max_size=n), min_size=n, max_size=n),
    st.lists(st.integers(0, 3), min_size=n, max_size=n),
    st.booleans(), st.integers(1, 5))))
def test_retrieval_report_matches_brute_force_with_ties(case):
    matrix, classes, higher, rows = case
    counts = np.bincount(classes)
    assume((counts[classes] > 1).any())
    m = np.array(matrix, float)
    m[0, -1] = np.nan  # a NaN score ranks last
    check_retrieval(m, classes, higher, ks=(1, 2, 5), rows=rows)


def test_retrieval_report_hand_checked_example():
    s = np.array([
        [0.0, 0.9, 0.1, 0.8, 0.2],
        [0.9, 0.0, 0.3, 0.4, 0.5],
        [0.1, 0.3, 0.0, 0.7, 0.6],
        [0.8, 0.4, 0.7, 0.0, 0.3],
        [0.2, 0.5, 0.6, 0.3, 0.0],
    ])
    # query 0 ranks 1 (same), 3, 4, 2 (same): AP@2 = (1/2)(1 + 0) = 0.5; query 1 likewise 0.5;
    # query 2 ranks 3, 4, 1, 0: its two same-class items come 3rd and 4th: AP@2 = 0;
    # queries 3 and 4 (R = 1) rank their partner 4th and 3rd: AP@1 = 0
    report = ev.retrieval_report([(0, s[:2]), (2, s[2:])], ["a", "a", "a", "b", "b"], True)
    assert report.precision_at_1 == pytest.approx(2 / 5)
    assert report.recall_at_k == {"1": pytest.approx(2 / 5), "5": 1.0, "10": 1.0}
    assert report.map_at_r == pytest.approx(0.2)
    assert report.n_queries == 5 and report.n_skipped == 0
    assert any("recall@5 looks at all 4 other items" in w for w in report.warnings)


def test_retrieval_report_breaks_ties_by_index():
    s = np.array([[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])
    report = ev.retrieval_report([(0, s)], [0, 1, 0], True, ks=(1,))
    # query 0: items 1 and 2 tie, 1 (other class) first; query 2: 0 (same class) first; 1 is alone
    assert report.precision_at_1 == 0.5 and report.n_queries == 2 and report.n_skipped == 1
    assert "1 query skipped: their class has no other item to retrieve" in report.warnings


def test_retrieval_report_on_engine_row_blocks():
    digits = load_digits()
    x, y = digits.data[:120].astype(np.float32), digits.target[:120]
    comp = engine.prepare(x, metric="euclidean", memory=16 * 120 * 10)  # about 10 rows per block
    blocks = list(engine.iter_matrix_rows(comp))
    assert len(blocks) > 1
    report = ev.retrieval_report(iter(blocks), y, comp.metric.higher_is_better, metric=comp.metric.name)
    matrix = np.concatenate([b for _, b in blocks])
    p1, recall, map_r, q = brute_retrieval(matrix, list(y), False, (1, 5, 10))
    assert (report.precision_at_1, report.map_at_r) == (pytest.approx(p1), pytest.approx(map_r))
    assert report.recall_at_k == pytest.approx(recall)
    record = json.loads(json.dumps(report.record(), allow_nan=False))
    assert list(record) == list(ev.RETRIEVAL_FIELDS) and record["metric"] == "euclidean"


def test_retrieval_report_rejects_bad_input():
    s = np.zeros((3, 3))
    with pytest.raises(InputError, match="no item has another item of its class"):
        ev.retrieval_report([(0, s)], [0, 1, 2], True)
    with pytest.raises(ShapeError, match="one column per item"):
        ev.retrieval_report([(0, s)], [0, 0], True)
    with pytest.raises(ShapeError, match="outside"):
        ev.retrieval_report([(2, s)], [0, 0, 1], True)
    with pytest.raises(UsageError):
        ev.retrieval_report([(0, s)], [0, 0, 1], True, ks=(0,))


# ---------------------------------------------------------------- pairs from class labels


def plain_pairs(classes):
    return {(i, j): classes[i] == classes[j] for i, j in itertools.combinations(range(len(classes)), 2)}


def test_sample_pairs_are_balanced_unique_and_labelled_correctly():
    classes = np.random.default_rng(9).integers(0, 12, 300)
    left, right, same = ev.sample_pairs(classes, 1001, seed=3)
    truth = plain_pairs(classes.tolist())
    assert len(left) == 1000 and same.sum() == 500
    pairs = list(zip(left.tolist(), right.tolist()))
    assert len(set(pairs)) == 1000 and all(i < j for i, j in pairs)
    assert all(truth[p] == s for p, s in zip(pairs, same.tolist()))
    assert pairs == sorted(pairs)


def test_sample_pairs_are_deterministic_per_seed():
    classes = ["a"] * 30 + ["b"] * 30 + ["c"] * 5
    first = ev.sample_pairs(classes, 100, seed=1)
    for a, b in zip(first, ev.sample_pairs(classes, 100, seed=1)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], ev.sample_pairs(classes, 100, seed=2)[0])


def test_sample_pairs_can_take_every_pair_of_a_kind():
    classes = ["x", "y", "x", "z", "y", "x"]
    truth = plain_pairs(classes)
    n_same = sum(truth.values())  # 4 same-class pairs of 15
    left, right, same = ev.sample_pairs(classes, 2 * n_same, seed=0)
    chosen = set(zip(left[same].tolist(), right[same].tolist()))
    assert chosen == {p for p, s in truth.items() if s}


def test_sample_pairs_reports_how_many_pairs_exist():
    with pytest.raises(UsageError, match="cannot sample 5 same-class pairs: the 6 labels give only 4"):
        ev.sample_pairs(["x", "y", "x", "z", "y", "x"], 10, seed=0)
    with pytest.raises(UsageError, match="cannot sample 2 different-class pairs: the 3 labels give only 0"):
        ev.sample_pairs([1, 1, 1], 4, seed=0)
    with pytest.raises(UsageError):
        ev.sample_pairs([1, 2], 1, seed=0)


def test_all_pairs_matches_itertools():
    classes = [3, 1, 3, 2, 1, 3, 3]
    left, right, same = ev.all_pairs(classes)
    truth = plain_pairs(classes)
    assert list(zip(left.tolist(), right.tolist())) == list(truth)
    assert same.tolist() == list(truth.values())
    assert [len(a) for a in ev.all_pairs([5])] == [0, 0, 0]


def test_all_pairs_limit_suggests_sampling():
    with pytest.raises(UsageError, match=r"1,000 items make 499,500 pairs, more than the limit of 1,000.*\(sample N\)"):
        ev.all_pairs(np.zeros(1000), limit=1000)


# ---------------------------------------------------------------- labels


@pytest.mark.parametrize("values, expected", [
    (["1", "0", "1"], [True, False, True]),
    ([1, 0, 0], [True, False, False]),
    ([1.0, 0.0], [True, False]),
    (["1.0", " 0 ", "1"], [True, False, True]),
    ([1, -1], [True, False]),
    ([True, False], [True, False]),
    (["True", "false", "TRUE"], [True, False, True]),
    (["same", "Different"], [True, False]),
    (["0", "0"], [False, False]),
    (["different"], [False]),
])
def test_parse_labels_default_vocabulary(values, expected):
    assert ev.parse_labels(values).tolist() == expected


def test_parse_labels_explicit_positive_label():
    assert ev.parse_labels(["match", "mismatch", "match"], "match").tolist() == [True, False, True]
    assert ev.parse_labels([2, 7, 7], 7).tolist() == [False, True, True]
    assert ev.parse_labels(["2", "7.0"], "7").tolist() == [False, True]


@pytest.mark.parametrize("values, positive, message", [
    (["a", "b", "c", "a"], "1", "labels must take two values (same and different), found 3: 'a', 'b', 'c'"),
    (["match", "mismatch"], "1", "say which one means 'same' with positive_label"),
    (["match", "mismatch"], "Match",
     "positive label 'Match' is not among the labels ('match' and 'mismatch'); did you mean 'match'?"),
    ([1, 2, 3, 4, 5, 6, 7], "1", "found 7: '1', '2', '3', '4', '5' and 2 more"),
])
def test_parse_labels_rejects_ambiguous_labels(values, positive, message):
    with pytest.raises(InputError) as info:
        ev.parse_labels(values, positive)
    assert message in str(info.value)


# ---------------------------------------------------------------- fail_under


RECORD = {"auc": 0.97, "eer": 0.06, "tar_at_far": {"0.01": 0.8, "0.001": None}, "cv_accuracy": 0.9}
RETRIEVAL = {"precision_at_1": 0.7, "map_at_r": 0.4, "recall_at_k": {"1": 0.7, "5": 0.9}}


def test_fail_under_passes_and_fails_in_plain_words():
    assert ev.fail_under(RECORD, "auc=0.95, eer=0.07") == []
    assert ev.fail_under([RECORD, RETRIEVAL], "auc=0.98,eer=0.05,tar@1e-2=0.8,recall@5=0.95,map_at_r=0.3") == [
        "auc 0.97 is below the required 0.98",
        "eer 0.06 is above the allowed 0.05",
        "recall@5 0.9 is below the required 0.95",
    ]
    assert ev.fail_under(RECORD, "tar@0.001=0.5") == ["tar@0.001 is not available, so it cannot be at least 0.5"]
    assert ev.fail_under({"auc": 0.94996}, "auc=0.95") == ["auc 0.94996 is below the required 0.95"]


def test_fail_under_on_a_real_report():
    report = ev.verification_report([0.9, 0.8, 0.4, 0.1], [True, False, True, False], True, folds=2)
    assert ev.fail_under(report.record(), "auc=0.75") == []
    assert ev.fail_under(report.record(), "auc=0.76,eer=0.5") == ["auc 0.75 is below the required 0.76"]


@pytest.mark.parametrize("spec, message", [
    ("acu=0.9", "unknown key 'acu'"),
    ("acu=0.9", "did you mean 'auc'?"),
    ("auc", "key=value"),
    ("", "key=value"),
    ("auc=high", "auc needs a number, got 'high'"),
    ("auc=95", "auc is a fraction between 0 and 1"),
    ("map_at_r=0.5", "map_at_r is not measured by this evaluation"),
    ("tar@0.05=0.5", "tar@0.05 is not measured; measured: tar@0.01, tar@0.001"),
    ("tar@x=0.5", "needs a number after 'tar@'"),
])
def test_fail_under_rejects_bad_specs(spec, message):
    with pytest.raises(UsageError) as info:
        ev.fail_under(RECORD, spec)
    assert message in str(info.value)


def test_evaluate_takes_a_backend_whose_scorers_score_the_pairs():
    from siamcli.backends import LocalBackend
    from siamcli.engine import pair_scores

    x = np.random.default_rng(3).standard_normal((40, 5))
    classes = np.arange(40) % 4
    calls, seen = [], []

    class Counting(LocalBackend):
        def scorers(self):
            return {"pair_scores": lambda comp, left, right: calls.append(len(left)) or pair_scores(comp, left, right),
                    "progress": lambda done, total=None: seen.append(total)}

    plain_run = ev.evaluate(x, classes=classes, sample=20, folds=2, metric="euclidean")
    backed = ev.evaluate(x, classes=classes, sample=20, folds=2, metric="euclidean", backend=Counting())
    assert calls == [20] and seen[0] == 20 + 40 * 40  # the listed pairs, then the retrieval pass
    assert backed.best.record() == plain_run.best.record()
    explicit = []  # a hook given by keyword wins over the backend's
    ev.evaluate(x, classes=classes, sample=20, folds=2, metric="euclidean", backend=Counting(),
                pair_scores=lambda comp, left, right: explicit.append(1) or pair_scores(comp, left, right))
    assert explicit == [1] and calls == [20]


# ---------------------------------------------------------------- several models, intervals, judge


def _ids_set(vectors, ids, source):
    from siamcli.io import EmbeddingSet

    return EmbeddingSet(np.asarray(vectors, float), list(ids), source)


def test_evaluate_models_from_a_mapping_match_by_id_and_rank_over_model_and_metric():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(50, 4))
    classes = np.arange(50) % 5
    noisy = x + rng.normal(scale=2.0, size=x.shape)
    order = rng.permutation(50)
    ids = [f"i{k}" for k in range(50)]
    models = {"clean": _ids_set(x, ids, "clean.csv"),
              "noisy": _ids_set(noisy[order], [ids[k] for k in order], "noisy.csv")}
    result = ev.evaluate(models, classes=classes, metric="euclidean,cosine", folds=2, bootstrap=50)
    i, j = np.triu_indices(50, 1)
    same = classes[i] == classes[j]
    expected = {(name, metric): roc_auc_score(same, -cdist(v, v, metric)[i, j])
                for name, v in (("clean", x), ("noisy", noisy)) for metric in ("euclidean", "cosine")}
    found = [(r.model, r.verification.metric) for r in result.results]
    assert found == sorted(expected, key=lambda k: -expected[k])  # one ranking over (model, metric)
    for r in result.results:
        assert r.verification.auc == pytest.approx(expected[r.model, r.verification.metric], abs=1e-12)
    leaders = {}
    for r in result.results:  # p against the best model with the same metric; None for that one
        leader = leaders.setdefault(r.name, r)
        assert (r.auc_p_value is None) == (leader is r)
    assert result.models == ["clean", "noisy"]


def test_evaluate_models_must_embed_the_same_items():
    x = np.eye(4)
    a = _ids_set(x, ["a", "b", "c", "d"], "a.csv")
    with pytest.raises(InputError, match="b.csv has no id 'd' of a.csv"):
        ev.evaluate({"a.csv": a, "b.csv": _ids_set(x, ["a", "b", "c", "e"], "b.csv")}, classes=[0, 0, 1, 1])
    with pytest.raises(InputError, match="'b' is on two rows"):
        ev.evaluate({"a.csv": a, "b.csv": _ids_set(x, ["a", "b", "b", "c"], "b.csv")}, classes=[0, 0, 1, 1])
    with pytest.raises(InputError, match="matched by row .* b has 3 rows"):
        ev.evaluate({"a": x, "b": x[:3]}, classes=[0, 0, 1, 1])
    with pytest.raises(UsageError, match="not a mix"):
        ev.evaluate({"a": (x, x), "b": x}, pairs=([0], [1], ["1"]))
    with pytest.raises(UsageError, match="bootstrap"):
        ev.evaluate(x, classes=[0, 0, 1, 1], bootstrap=1)


def test_evaluate_record_puts_each_interval_after_its_figure():
    x = load_digits().data[:120]
    y = load_digits().target[:120]
    report = ev.evaluate(x, classes=y, metric="euclidean", folds=2, bootstrap=100, sample=600, seed=2)
    record = report.best.record()
    keys = list(record)
    for figure, after in (("auc", "auc_ci"), ("auc_ci", "auc_p_value"), ("eer", "eer_ci"),
                          ("best_accuracy", "best_accuracy_ci"), ("tar_at_far", "tar_at_far_ci"),
                          ("precision_at_1", "precision_at_1_ci"), ("map_at_r", "map_at_r_ci")):
        assert keys[keys.index(figure) + 1] == after
    assert keys[0] == "model" and record["model"] == "EMB"
    assert json.loads(json.dumps(record, allow_nan=False)) == record
    for key in ("auc", "eer", "best_accuracy", "precision_at_1", "map_at_r"):
        low, high = record[f"{key}_ci"]
        assert low <= record[key] <= high


RECORDS = [
    {"model": "runs/a.npy", "metric": "euclidean", "normalized": False, "auc": 0.99, "eer": 0.02},
    {"model": "runs/a.npy", "metric": "cosine", "normalized": False, "auc": 0.98, "eer": 0.03},
    {"model": "runs/b.npy", "metric": "euclidean", "normalized": False, "auc": 0.90, "eer": 0.10},
    {"model": "runs/b.npy", "metric": "cosine", "normalized": True, "auc": 0.85, "eer": 0.20},
]


@pytest.mark.parametrize("spec, judged, chosen", [
    ("auc=0.95", [0], "the top-ranked"),
    ("runs/b.npy:euclidean:auc=0.95", [2], None),
    ("b.npy:l2:auc=0.95", [2], None),  # the file name, and a metric by alias
    ("b:cosine (L2):eer=0.1", [3], None),
    ("b:auc=0.95", [2], "its top-ranked metric"),
    ("cosine:auc=0.95", [1], None),  # one record has plain cosine
    ("euclidean:eer=0.05", [0], "the top-ranked model under that metric"),
    ("a:cosine:auc=0.9,b:euclidean:auc=0.95,eer=0.5", [1, 2, 0], None),
])
def test_judge_picks_the_record_a_condition_names(spec, judged, chosen):
    found = ev.judge(RECORDS, spec)
    assert [RECORDS.index(j.record) for j in found] == judged
    assert found[0].chosen == chosen


def test_judge_fails_in_plain_words_and_refuses_unknown_targets():
    [judgement] = ev.judge(RECORDS, "b:euclidean:auc=0.95,b:euclidean:eer=0.05")
    assert judgement.failed == ["auc 0.9 is below the required 0.95", "eer 0.1 is above the allowed 0.05"]
    for spec, message in (("c:auc=0.9", "'c' names no evaluated model or metric"),
                          ("a:hamming:auc=0.9", "metrics: euclidean, cosine, cosine(l2)"),
                          ("a:cosine:auk=0.9", "did you mean 'auc'"), ("", "key=value")):
        with pytest.raises(UsageError, match=re.escape(message)):
            ev.judge(RECORDS, spec)


def test_check_fail_under_knows_the_models_and_metrics_before_any_work():
    ev.check_fail_under("a.npy:cosine:auc=0.9", models=["a.npy", "b.npy"], metrics=["cosine", "euclidean"])
    with pytest.raises(UsageError, match="'c.npy:cosine' names no evaluated model or metric"):
        ev.check_fail_under("c.npy:cosine:auc=0.9", models=["a.npy", "b.npy"], metrics=["cosine"])
    with pytest.raises(UsageError, match="precision_at_1 is not measured"):
        ev.check_fail_under("a.npy:precision_at_1=0.9", models=["a.npy"], metrics=["cosine"])


def test_evaluate_variants_of_one_model_share_its_name_and_add_their_fields():
    """The shape --dims and --quantize plug into: variants named after one file, told apart by label."""
    x = load_digits().data[:90]
    y = load_digits().target[:90]
    variants = [ev.Model("emb.npy", x, fields={"dims": 64}, label="emb.npy (64 dims)"),
                ev.Model("emb.npy", x[:, :8], fields={"dims": 8}, label="emb.npy (8 dims)")]
    result = ev.evaluate(variants, classes=y, metric="euclidean", folds=2, bootstrap=0)
    records = list(result.records())
    assert [list(r)[:3] for r in records] == [["model", "dims", "metric"]] * 2
    assert {r["model"] for r in records} == {"emb.npy"} and {r["dims"] for r in records} == {64, 8}
    i, j = np.triu_indices(90, 1)
    for r in records:
        v = x[:, : r["dims"]]
        assert r["auc"] == pytest.approx(roc_auc_score(y[i] == y[j], -cdist(v, v)[i, j]), abs=1e-12)
    assert [r["auc_p_value"] is None for r in records] == [True, False]
    table = "\n".join(block for block in result.table_layout(4) if isinstance(block, str))
    assert "emb.npy (64 dims)" in table and "emb.npy (8 dims)" in table
    with pytest.raises(UsageError, match="given 2 times"):
        ev.evaluate([variants[0], variants[0]], classes=y)

"""DeLong's AUC variance and paired test, and the bootstrap intervals, against references written
plainly here: the paper's O(m n) formulas, scipy's normal distribution and rankdata, scikit-learn's
AUC, a bootstrap that resamples the pairs one by one and re-runs verification_report, and a plain
bootstrap of the AUC on the bundled digits."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp, norm, rankdata
from sklearn.metrics import roc_auc_score

from siamcli.errors import UsageError
from siamcli.reports.evaluation import uncertainty as un
from siamcli.reports.evaluation import verification_report

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "siamese"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- references


def plain_delong(closeness: np.ndarray, same: np.ndarray):
    """DeLong et al. 1988 as written: psi over every (positive, negative) pair, the structural
    components V10 and V01 as row and column means, their sample variances."""
    x, y = closeness[same], closeness[~same]
    psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), v10, v01


def plain_variance(closeness, same) -> float:
    _, v10, v01 = plain_delong(closeness, same)
    return np.var(v10, ddof=1) / len(v10) + np.var(v01, ddof=1) / len(v01)


def plain_paired_p(a: np.ndarray, b: np.ndarray, same: np.ndarray) -> float:
    """The paired test from the 2 x 2 covariance matrices S10 and S01 of the two AUCs."""
    auc_a, v10_a, v01_a = plain_delong(a, same)
    auc_b, v10_b, v01_b = plain_delong(b, same)
    s = np.cov(np.vstack([v10_a, v10_b])) / len(v10_a) + np.cov(np.vstack([v01_a, v01_b])) / len(v01_a)
    z = (auc_a - auc_b) / np.sqrt(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    return 2 * norm.sf(abs(z))


def listed_pairs():
    rows = list(csv.DictReader((EXAMPLES / "test_pairs.csv").read_text().splitlines()))
    return (np.array([int(r["left"]) for r in rows]), np.array([int(r["right"]) for r in rows]),
            np.array([r["label"] == "1" for r in rows]))


@pytest.fixture(scope="module")
def digit_scores():
    """Closeness (minus euclidean and cosine similarity) of the bundled pixels and embeddings on the listed pairs."""
    left, right, same = listed_pairs()
    found = {}
    for name in ("pixels", "embeddings"):
        x = np.load(EXAMPLES / f"test_{name}.npy").astype(np.float64)
        a, b = x[left], x[right]
        found[name, "euclidean"] = -np.linalg.norm(a - b, axis=1)
        found[name, "cosine"] = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return found, same


scored_pairs = st.integers(2, 40).flatmap(lambda n: st.tuples(
    st.lists(st.integers(-4, 4), min_size=n, max_size=n),  # small integers: many ties
    st.lists(st.booleans(), min_size=n, max_size=n),
)).filter(lambda case: 2 <= sum(case[1]) <= len(case[1]) - 2)


# ---------------------------------------------------------------- DeLong


@SETTINGS
@given(scored_pairs, st.floats(0.1, 3.0))
def test_auc_components_match_the_papers_formulas(case, spread):
    values, same = case
    closeness = np.array(values, float) * spread
    same = np.array(same)
    auc, v10, v01 = plain_delong(closeness, same)
    found = un.auc_components(closeness, same)
    assert found.auc == pytest.approx(auc, abs=1e-12)
    assert found.auc == pytest.approx(roc_auc_score(same, closeness), abs=1e-12)
    np.testing.assert_allclose(found.v10, v10, atol=1e-12)
    np.testing.assert_allclose(found.v01, v01, atol=1e-12)
    assert found.variance == pytest.approx(plain_variance(closeness, same), abs=1e-15)


@SETTINGS
@given(scored_pairs, st.lists(st.integers(-4, 4), min_size=40, max_size=40))
def test_paired_p_value_matches_the_papers_formulas(case, other):
    values, same = case
    same = np.array(same)
    a, b = np.array(values, float), np.array(other[: len(values)], float)
    found = un.paired_p_value(un.auc_components(a, same), un.auc_components(b, same))
    _, v10_a, v01_a = plain_delong(a, same)
    _, v10_b, v01_b = plain_delong(b, same)
    d_var = np.var(v10_a - v10_b, ddof=1) / len(v10_a) + np.var(v01_a - v01_b, ddof=1) / len(v01_a)
    if d_var < 1e-12:  # no noise in the difference: a constant shift, or none
        assert found in (0.0, 1.0)
        return
    assert found == pytest.approx(plain_paired_p(a, b, same), rel=1e-6, abs=1e-12)


def test_paired_p_value_on_the_digits_matches_the_papers_formulas(digit_scores):
    scores, same = digit_scores
    for a, b in [(("embeddings", "euclidean"), ("pixels", "euclidean")),
                 (("pixels", "euclidean"), ("pixels", "cosine"))]:
        found = un.paired_p_value(un.auc_components(scores[a], same), un.auc_components(scores[b], same))
        expected = plain_paired_p(scores[a], scores[b], same)
        assert found == pytest.approx(expected, rel=1e-6)
    # the trained embeddings beat the pixels beyond doubt; pixels under euclidean and cosine are close
    assert un.paired_p_value(un.auc_components(scores["embeddings", "euclidean"], same),
                             un.auc_components(scores["pixels", "euclidean"], same)) < 1e-20


def test_paired_p_value_of_a_model_with_itself_is_one_and_the_test_is_symmetric(digit_scores):
    scores, same = digit_scores
    a, b = (un.auc_components(scores[k], same) for k in (("pixels", "euclidean"), ("pixels", "cosine")))
    assert un.paired_p_value(a, a) == 1.0
    assert un.paired_p_value(a, b) == un.paired_p_value(b, a)


def test_auc_interval_is_the_normal_interval_clipped_to_0_1(digit_scores):
    scores, same = digit_scores
    closeness = scores["pixels", "euclidean"]
    components = un.auc_components(closeness, same)
    half = norm.ppf(0.975) * np.sqrt(plain_variance(closeness, same))
    auc = roc_auc_score(same, closeness)
    assert un.auc_interval(components) == pytest.approx((auc - half, auc + half), abs=1e-12)
    perfect = un.auc_components(np.array([3.0, 2.0, 1.0, 0.0]), np.array([True, True, False, False]))
    assert un.auc_interval(perfect) == (1.0, 1.0)
    near = un.auc_components(np.array([5, 4, 1, 3, 2, 0.0]), np.array([True, True, True, False, False, False]))
    assert un.auc_interval(near)[1] == 1.0 and un.auc_interval(near)[0] < near.auc


def test_delong_variance_agrees_with_a_bootstrap_on_the_digits(digit_scores):
    """2,000 stratified resamples of the listed pairs, the AUC from scipy's ranks each time:
    the bootstrap's variance of one AUC and of a paired difference against DeLong's."""
    scores, same = digit_scores
    a, b = scores["pixels", "euclidean"], scores["pixels", "cosine"]
    pos, neg = np.flatnonzero(same), np.flatnonzero(~same)
    rng = np.random.default_rng(7)

    def rank_auc(closeness, rows):
        ranks = rankdata(closeness[rows])
        m = len(pos)
        return (ranks[:m].sum() - m * (m + 1) / 2) / (m * len(neg))

    boot_a, boot_diff = [], []
    for _ in range(2000):
        rows = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        auc_a, auc_b = rank_auc(a, rows), rank_auc(b, rows)
        boot_a.append(auc_a)
        boot_diff.append(auc_a - auc_b)
    ca, cb = un.auc_components(a, same), un.auc_components(b, same)
    assert np.var(boot_a, ddof=1) == pytest.approx(ca.variance, rel=0.12)
    d10, d01 = ca.v10 - cb.v10, ca.v01 - cb.v01
    paired = np.var(d10, ddof=1) / len(d10) + np.var(d01, ddof=1) / len(d01)
    assert np.var(boot_diff, ddof=1) == pytest.approx(paired, rel=0.12)
    assert paired < 0.5 * (ca.variance + cb.variance)  # pairing removes the shared noise


def test_delong_needs_two_pairs_of_each_kind():
    one = un.auc_components(np.array([1.0, 0.5, 0.2]), np.array([True, False, False]))
    assert one.variance is None and un.auc_interval(one) is None
    assert un.paired_p_value(one, one) is None
    with pytest.raises(UsageError, match="at least one positive and one negative"):
        un.auc_components(np.array([1.0, 2.0]), np.array([True, True]))


def test_pair_groups_follow_a_given_order():
    """Groups from verification's own sort (ties in index order) equal groups from a fresh sort."""
    from siamcli.reports.evaluation.verification import closest_first

    distance = np.random.default_rng(1).integers(0, 6, 300).astype(float)
    same = np.random.default_rng(2).random(300) < 0.3
    given = un.pair_groups(-distance, same, closest_first(distance, False))
    fresh = un.pair_groups(-distance, same)
    for name in ("positives", "negatives", "group_of"):
        np.testing.assert_array_equal(getattr(given, name), getattr(fresh, name))
    ranks = rankdata(distance, method="dense") - 1  # group 0 is the closest: the smallest distance
    np.testing.assert_array_equal(given.group_of, ranks)


# ---------------------------------------------------------------- bootstrap over pairs


class GivenResamples:
    """Splits resamples already drawn (run counts per resample) as RandomSplit splits random ones."""

    def __init__(self, positives: np.ndarray, negatives: np.ndarray):
        zero = np.zeros((len(positives), 1), np.int64)
        self.prefix = [np.hstack([zero, np.cumsum(c, axis=1)]) for c in (positives, negatives)]

    def __call__(self, rows, a, mid, b, p, q):
        return tuple(prefix[rows, mid] - prefix[rows, a] for prefix in self.prefix)


def _runs_of_each_pair(closeness: np.ndarray, same: np.ndarray) -> np.ndarray:
    """The run (see uncertainty.Runs) each pair falls in, by a plain walk over the sorted pairs."""
    order = sorted(range(len(closeness)), key=lambda i: -closeness[i])
    groups = []
    for i in order:
        if groups and closeness[groups[-1][0]] == closeness[i]:
            groups[-1].append(i)
        else:
            groups.append([i])
    run_of, run, previous = np.empty(len(closeness), int), -1, None
    for group in groups:
        kinds = {bool(same[i]) for i in group}
        kind = kinds.pop() if len(kinds) == 1 else "mixed"
        if kind == "mixed" or kind != previous:
            run += 1
        previous = kind
        run_of[group] = run
    return run_of


@SETTINGS
@given(scored_pairs, st.booleans(), st.integers(0, 2**32 - 1))
def test_resampled_figures_equal_the_report_on_the_resampled_pairs(case, higher, seed):
    """Resample the pairs one by one, run verification_report on them, and compare with what the
    halving search finds from the same resamples' counts per run."""
    values, same = case
    scores, same = np.array(values, float) / 2, np.array(same)
    closeness = scores if higher else -scores
    runs = un.pair_runs(closeness, same)
    run_of = _runs_of_each_pair(closeness, same)
    fars = [1.0, 0.5, 0.25, 0.1, 0.01]
    rng = np.random.default_rng(seed)
    positives, negatives = np.flatnonzero(same), np.flatnonzero(~same)
    counts = [np.zeros((8, len(runs.positives)), np.int64) for _ in range(2)]
    reports = []
    for r in range(8):
        drawn = [rng.choice(positives, len(positives)), rng.choice(negatives, len(negatives))]
        for kind, rows in enumerate(drawn):
            np.add.at(counts[kind][r], run_of[rows], 1)
        rows = np.concatenate(drawn)
        reports.append(verification_report(scores[rows], same[rows], higher, fars=fars, folds=2))
    eer, best, tar = un.resampled_figures(GivenResamples(*counts), runs, 8, un.far_limits(fars, len(negatives)))
    for r, report in enumerate(reports):
        assert eer[r] == pytest.approx(report.eer, abs=1e-12)
        assert best[r] == pytest.approx(report.best_accuracy, abs=1e-12)
        for far, values_at in zip(fars, tar):
            expected = report.tar_at_far[np.format_float_positional(far, trim="-")]
            assert (values_at is None) == (expected is None)
            assert values_at is None or values_at[r] == pytest.approx(expected, abs=1e-12)


def test_pair_runs_merge_groups_of_one_kind():
    closeness = np.array([9, 8, 8, 7, 6, 6, 5, 4, 4, 3.0])
    same = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 1], bool)
    runs = un.pair_runs(closeness, same)
    # runs: {9, 8, 8} positives; {7} negative; {6, 6} mixed; {5, 4, 4} negatives; {3} positive
    assert runs.positives.tolist() == [3, 0, 1, 0, 1] and runs.negatives.tolist() == [0, 1, 1, 3, 0]


def test_bootstrap_draws_as_a_plain_pair_bootstrap_does():
    """The lazy multinomial draws the figures with the distribution of a plain bootstrap that
    resamples pairs and re-runs the report (2,000 resamples each: the two samples' means, spreads
    and Kolmogorov-Smirnov distance agree)."""
    rng = np.random.default_rng(11)
    same = rng.random(80) < 0.4
    scores = np.round(rng.normal(size=80) + 1.2 * same, 1)
    fars = [0.1]
    runs = un.pair_runs(scores, same)
    lazy = un.resampled_figures(un.RandomSplit(np.random.default_rng(3), runs), runs, 2000, un.far_limits(fars, runs.n))
    pos, neg = np.flatnonzero(same), np.flatnonzero(~same)
    plain = {"eer": [], "best": [], "tar": []}
    for _ in range(2000):
        rows = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        report = verification_report(scores[rows], same[rows], True, fars=fars, folds=2)
        plain["eer"].append(report.eer)
        plain["best"].append(report.best_accuracy)
        plain["tar"].append(report.tar_at_far["0.1"])
    for found, expected in ((lazy[0], plain["eer"]), (lazy[1], plain["best"]), (lazy[2][0], plain["tar"])):
        assert np.mean(found) == pytest.approx(np.mean(expected), abs=0.2 * np.std(expected) / np.sqrt(20))
        assert np.std(found) == pytest.approx(np.std(expected), rel=0.08)
        assert ks_2samp(found, expected).pvalue > 0.05


def test_bootstrap_verification_is_seeded_and_brackets_the_figures(digit_scores):
    scores, same = digit_scores
    distance = -scores["pixels", "euclidean"]
    report = verification_report(distance, same, False)
    first = un.bootstrap_verification(distance, same, False, [0.1, 0.01, 0.001], 1000, seed=0)
    assert first == un.bootstrap_verification(distance, same, False, [0.1, 0.01, 0.001], 1000, seed=0)
    assert first != un.bootstrap_verification(distance, same, False, [0.1, 0.01, 0.001], 1000, seed=1)
    assert first["eer"][0] < report.eer < first["eer"][1]
    assert first["best_accuracy"][0] < report.best_accuracy < first["best_accuracy"][1]
    for (low, high), tar in zip(first["tar_at_far"], report.tar_at_far.values()):
        assert low <= tar <= high
    unreachable = un.bootstrap_verification(distance, same, False, [1e-4], 50)
    assert unreachable["tar_at_far"] == [None]
    assert un.bootstrap_verification(distance, same, False, [0.1], 0) == {
        "eer": None, "best_accuracy": None, "tar_at_far": [None]}


@pytest.mark.parametrize("bad", [1, -1, True, 2.5, "10"])
def test_check_bootstrap_refuses_what_is_not_a_count(bad):
    with pytest.raises(UsageError, match="at least 2 resamples"):
        un.check_bootstrap(bad)


def test_far_limits_divide_as_the_report_does():
    for n in (1, 3, 7, 10, 1000, 999_983):
        for far in (1.0, 0.5, 0.1, 0.01, 0.001, 1 / 3, 0.3):
            limit = un.far_limits([far], n)[0]
            if 1 / n > far:
                assert limit is None
            else:
                assert limit / n <= far and (limit == n or (limit + 1) / n > far)


# ---------------------------------------------------------------- bootstrap over queries


@pytest.mark.parametrize("values", [
    np.r_[np.ones(470), np.zeros(30)],  # hits at 1: two values, drawn as a multinomial of their counts
    np.random.default_rng(2).random(500),  # AP values: all distinct, drawn query by query
])
def test_bootstrap_means_match_a_plain_bootstrap_of_the_mean(values):
    rng = np.random.default_rng(5)
    plain = [values[rng.integers(0, len(values), len(values))].mean() for _ in range(4000)]
    [found] = un.bootstrap_means([values], 4000, seed=9)
    np.testing.assert_allclose(found, np.quantile(plain, [0.025, 0.975]), atol=0.006)
    assert found[0] < values.mean() < found[1]
    assert un.bootstrap_means([values], 0) == [None]


@given(st.lists(st.tuples(st.integers(-5, 5), st.booleans()), min_size=2, max_size=60))
def test_best_accuracy_of_runs_is_the_reports_best_accuracy(pairs):
    scores = np.array([s for s, _ in pairs], dtype=np.float64) / 2  # coarse: many ties
    same = np.array([k for _, k in pairs])
    assume(same.any() and (~same).any())
    brute = max(np.mean((scores >= t) == same) for t in np.concatenate((np.unique(scores), [np.inf])))
    assert un.best_accuracy_of(un.pair_runs(scores, same)) == pytest.approx(brute, abs=1e-12)


def test_bias_corrected_interval_is_efrons_formula():
    values = np.random.default_rng(4).normal(0.9, 0.02, 999)
    for observed in (0.88, 0.9, 0.93):
        z0 = norm.ppf(np.mean(values < observed))
        expected = np.quantile(values, norm.cdf([2 * z0 - 1.959964, 2 * z0 + 1.959964]))
        assert un.bias_corrected_interval(values, observed) == pytest.approx(tuple(expected), abs=1e-6)
    assert un.bias_corrected_interval(values, 0.9)[0] < un.bias_corrected_interval(values, 0.93)[0]

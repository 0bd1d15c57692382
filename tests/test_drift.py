"""siamcli drift: each figure against an independent reference written here (MMD² from the direct O(n²)
formula with scipy's distances, permutation p-values by a plain loop, brute-force neighbours from cdist,
scikit-learn's LogisticRegression + cross_val_score, scipy.stats.ks_2samp, mannwhitneyu and
false_discovery_control, centroids in numpy, inspect's own figures), and the command: strict JSON keys,
every exit status of --fail-on-drift, bad input, the plot, through CliRunner and the installed executable."""

from __future__ import annotations

import importlib.util

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist, pdist
from scipy.stats import false_discovery_control, ks_2samp, mannwhitneyu

import siamcli
from siamcli.errors import ShapeError, UsageError
from siamcli.reports.drift import classifier, knn, mmd, permutation, shifts
from siamcli.reports.drift import detect_drift
from siamcli.reports.inspection import inspect_embeddings
from test_cli import assert_one_error_line, invoke, strict_json

REQUIRED_KEYS = ("n_reference", "n_current", "dim", "mmd2", "mmd_p_value", "knn_p_value", "classifier_auc",
                 "centroid_distance", "drifted_dimensions_share", "test", "alpha", "drift")


# ---------------------------------------------------------------- independent references


def direct_mmd2(x: np.ndarray, y: np.ndarray, s: float) -> float:
    """Unbiased MMD² with exp(-|a - b|² / (2 s²)), straight from its definition."""
    def k(a, b):
        return np.exp(-cdist(a, b, "sqeuclidean") / (2 * s * s))

    n, m = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2 * k(x, y).mean())


def plain_p_value(observed: float, null) -> float:
    null = list(null)
    return (1 + sum(1 for v in null if v >= observed)) / (1 + len(null))


def labels_for(n: int, m: int, permutations: int, seed: int = 0) -> np.ndarray:
    return permutation.permuted_labels(np.r_[np.ones(n), np.zeros(m)], permutations, permutation.generator(seed))


def shifted_pair(n=60, m=40, d=5, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((m, d)) + shift


# ---------------------------------------------------------------- MMD²


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 12), m=st.integers(2, 12), d=st.integers(1, 4), seed=st.integers(0, 2**16),
       scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_mmd2_matches_direct_formula_with_the_median_bandwidth(n, m, d, seed, scale):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((n, d)) * scale, rng.standard_normal((m, d)) * scale + scale / 2
    result = mmd.mmd_test(x, y, labels_for(n, m, 5), bandwidth=None, memory=2**20, rng=permutation.generator(0))
    s = np.median(pdist(np.r_[x, y]))
    assert result.bandwidth == pytest.approx(s, rel=1e-12)
    assert result.mmd2 == pytest.approx(direct_mmd2(x, y, s), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("memory", [2**20, 2**30])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mmd_null_and_p_value_match_a_plain_permutation_loop(memory, dtype):
    x, y = shifted_pair(70, 50, 6, shift=0.15, seed=3)
    labels = labels_for(70, 50, 60, seed=1)
    result = mmd.mmd_test(x, y, labels, bandwidth=2.0, memory=memory, rng=permutation.generator(0), dtype=dtype)
    z = np.r_[x, y]
    null = [direct_mmd2(z[labels[:, p] == 1], z[labels[:, p] == 0], 2.0) for p in range(1, 61)]
    observed = direct_mmd2(x, y, 2.0)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    assert result.mmd2 == pytest.approx(observed, abs=tol)
    np.testing.assert_allclose(result.null, null, atol=tol)
    assert result.p_value == plain_p_value(observed, null)
    assert result.bandwidth_from == "given"


def test_mmd_blocks_and_batches_do_not_change_the_figures():
    """A budget small enough for many kernel blocks, several permutation batches and a sampled median."""
    x, y = shifted_pair(150, 130, 4, shift=0.2)
    labels = labels_for(150, 130, 40)
    big = mmd.mmd_test(x, y, labels, bandwidth=1.5, memory=2**30, rng=permutation.generator(0))
    small = mmd.mmd_test(x, y, labels, bandwidth=1.5, memory=20_000, rng=permutation.generator(0))
    assert small.mmd2 == pytest.approx(big.mmd2, abs=1e-13)
    np.testing.assert_allclose(small.null, big.null, atol=1e-13)
    sampled = mmd.mmd_test(x, y, labels, bandwidth=None, memory=20_000, rng=permutation.generator(0))
    assert sampled.median_rows < 280  # the median from the pairs of a subset of rows


def test_mmd_refuses_a_bad_bandwidth_and_duplicate_rows():
    x = np.zeros((10, 3))
    with pytest.raises(UsageError, match="bandwidth"):
        mmd.mmd_test(x, x + 1, labels_for(10, 10, 3), bandwidth=0.0, memory=2**20, rng=permutation.generator(0))
    with pytest.raises(siamcli.InputError, match="median distance"):
        mmd.mmd_test(x, x, labels_for(10, 10, 3), bandwidth=None, memory=2**20, rng=permutation.generator(0))


# ---------------------------------------------------------------- permutations


@settings(max_examples=30, deadline=None)
@given(observed=st.floats(-1, 1), null=arrays(np.float64, st.integers(1, 50), elements=st.floats(-1, 1)))
def test_permutation_p_value_is_the_plain_formula(observed, null):
    p = permutation.p_value(observed, null)
    assert p == plain_p_value(observed, null)
    assert 1 / (1 + len(null)) <= p <= 1


def test_permuted_labels_keep_column_zero_and_permute_the_rest():
    labels = labels_for(7, 5, 200)
    assert labels[:, 0].tolist() == [1] * 7 + [0] * 5
    assert (labels.sum(axis=0) == 7).all()
    assert len({tuple(c) for c in labels.T}) > 150  # C(12, 5) = 792 splits: shuffles, not copies
    assert (labels_for(7, 5, 200) == labels).all()  # seeded


# ---------------------------------------------------------------- nearest neighbours


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "manhattan"])
def test_knn_statistic_and_null_match_brute_force(metric):
    x, y = shifted_pair(40, 30, 4, shift=1.5, seed=2)
    z = np.r_[x, y]
    labels = labels_for(40, 30, 50)
    result = knn.knn_test(z, labels, 5, metric, dict(memory=2**20))
    d = cdist(z, z, {"manhattan": "cityblock"}.get(metric, metric))
    np.fill_diagonal(d, np.inf)
    graph = np.argsort(d, axis=1, kind="stable")[:, :5]

    def fraction(lab):
        return float((lab[graph] == lab[:, None]).mean())

    assert result.statistic == pytest.approx(fraction(labels[:, 0]), abs=1e-15)
    np.testing.assert_allclose(result.null, [fraction(labels[:, p]) for p in range(1, 51)], atol=1e-15)
    assert result.p_value == plain_p_value(result.statistic, result.null)
    assert result.statistic > 0.7  # shifted sets: neighbours mostly from the own set


def test_knn_refuses_more_neighbours_than_rows():
    z = np.random.default_rng(0).standard_normal((6, 2))
    with pytest.raises(UsageError, match="neighbors"):
        knn.knn_test(z, labels_for(3, 3, 2), 6, "euclidean", dict(memory=2**20))


# ---------------------------------------------------------------- domain classifier


def _sklearn_folds(z, y, folds):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=classifier.C, max_iter=5000, tol=1e-10))
    return model, folds


@pytest.mark.slow
@pytest.mark.parametrize("shift", [0.0, 0.3])
def test_classifier_auc_and_p_value_match_scikit_learn(shift):
    from sklearn.model_selection import cross_val_score

    x, y = shifted_pair(120, 90, 6, shift=shift, seed=5)
    z = np.r_[x, y]
    labels = np.r_[np.ones(120), np.zeros(90)]
    result = classifier.classifier_test(z, labels, permutation.generator(7))
    target = (labels == 0).astype(int)
    folds = classifier.stratified_folds(target, 5, permutation.generator(7))
    model, folds = _sklearn_folds(z, target, folds)
    aucs = cross_val_score(model, z, target, cv=folds, scoring="roc_auc")
    np.testing.assert_allclose(result.fold_aucs, aucs, atol=2e-3)
    assert result.auc == pytest.approx(aucs.mean(), abs=1e-3)
    ps = []
    for train, test in folds:
        scores = model.fit(z[train], target[train]).decision_function(z[test])
        ps.append(mannwhitneyu(scores[target[test] == 1], scores[target[test] == 0], alternative="greater").pvalue)
    assert result.p_value == pytest.approx(min(1.0, 5 * min(ps)), rel=0.05)


def test_stratified_folds_partition_rows_and_keep_the_class_shares():
    y = np.r_[np.ones(23), np.zeros(17)].astype(int)
    folds = classifier.stratified_folds(y, 5, permutation.generator(0))
    tests = np.concatenate([test for _, test in folds])
    assert sorted(tests.tolist()) == list(range(40))
    for train, test in folds:
        assert set(train) | set(test) == set(range(40)) and not set(train) & set(test)
        assert y[test].sum() in (4, 5) and (1 - y[test]).sum() in (3, 4)


def test_classifier_names_the_shifted_dimension_first():
    x, y = shifted_pair(200, 200, 6, seed=1)
    y[:, 4] += 1.0
    result = classifier.classifier_test(np.r_[x, y], np.r_[np.ones(200), np.zeros(200)], permutation.generator(0))
    assert result.top_dimensions[0]["dimension"] == 4 and result.top_dimensions[0]["coefficient"] > 0
    assert result.auc > 0.7 and result.p_value < 1e-6


# ---------------------------------------------------------------- descriptive shifts


def test_dimension_ks_and_bh_match_scipy():
    x, y = shifted_pair(80, 70, 12, seed=4)
    y[:, :3] += 0.8
    found = shifts.dimension_tests(x, y, 0.05)
    p = np.array([ks_2samp(x[:, j], y[:, j]).pvalue for j in range(12)])
    adjusted = false_discovery_control(p)
    assert found["drifted_dimensions"] == int((adjusted < 0.05).sum())
    assert found["drifted_dimensions_share"] == pytest.approx((adjusted < 0.05).mean())
    top = found["dimension_ks_top"][0]
    assert top["ks"] == pytest.approx(max(ks_2samp(x[:, j], y[:, j]).statistic for j in range(12)))
    assert top["p_value_adjusted"] == pytest.approx(adjusted[top["dimension"]])


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 60), elements=st.floats(0, 1)))
def test_benjamini_hochberg_matches_scipy(p):
    np.testing.assert_allclose(shifts.benjamini_hochberg(p), false_discovery_control(p), rtol=1e-12, atol=1e-300)


def test_centroid_spread_and_norm_ks_match_numpy_and_scipy():
    x, y = shifted_pair(90, 60, 5, shift=0.4, seed=6)
    kept = x.copy()
    f = shifts.shift_figures(x, y)
    assert (x == kept).all()  # the inputs are left as they were
    assert f["centroid_distance"] == pytest.approx(np.linalg.norm(y.mean(0) - x.mean(0)))
    spread = np.sqrt(((x - x.mean(0)) ** 2).sum(1).mean())
    assert f["reference_spread"] == pytest.approx(spread)
    assert f["centroid_distance_share"] == pytest.approx(f["centroid_distance"] / spread)
    test = ks_2samp(np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1))
    assert (f["norm_ks"], f["norm_ks_p_value"]) == (pytest.approx(test.statistic), pytest.approx(test.pvalue))


def test_health_changes_are_inspects_figures():
    x, y = shifted_pair(100, 80, 6, seed=8)
    y[:10] = y[10:20]  # ten duplicate rows in current
    h = shifts.health_changes(x, y, seed=0)
    ref, cur = inspect_embeddings(x, seed=0), inspect_embeddings(y, seed=0)
    assert h["effective_rank"]["reference"] == ref.effective_rank
    assert h["mean_cosine"]["change"] == pytest.approx(cur.mean_cosine - ref.mean_cosine)
    assert h["exact_duplicate_rows"] == {"reference": 0, "current": 10, "change": 10}


# ---------------------------------------------------------------- detect_drift


@pytest.mark.slow
def test_detect_drift_finds_a_shift_and_not_a_random_split():
    x, y = shifted_pair(150, 120, 8, shift=0.5, seed=9)
    report = siamcli.detect_drift(x, y, permutations=200)
    f = report.figures
    assert report.drift and f["mmd_p_value"] < 0.01 and f["knn_p_value"] < 0.01 and f["classifier_auc"] > 0.7
    assert f["findings"][0].startswith("drift detected by")
    z = np.random.default_rng(1).standard_normal((270, 8))
    calm = detect_drift(z[:150], z[150:], permutations=200, test="knn")
    assert not calm.drift and calm.figures["findings"][0].startswith("no drift detected by")
    assert calm.figures["p_value"] == calm.figures["knn_p_value"]


def test_detect_drift_samples_larger_sets_and_is_seeded():
    x, y = shifted_pair(300, 250, 4, seed=2)
    one = detect_drift(x, y, sample=100, permutations=50, seed=3)
    f = one.figures
    assert (f["sampled_reference"], f["sampled_current"], f["n_reference"], f["n_current"]) == (100, 100, 300, 250)
    assert "100 of 300 reference rows" in " ".join(f["findings"])
    assert detect_drift(x, y, sample=100, permutations=50, seed=3).record() == one.record()
    assert detect_drift(x, y, sample=100, permutations=50, seed=4).record() != one.record()
    assert f["centroid_distance"] == pytest.approx(np.linalg.norm(y.mean(0) - x.mean(0)))  # every row


def test_detect_drift_says_when_too_few_permutations_can_never_reach_alpha():
    x, y = shifted_pair(40, 40, 3, shift=3.0)
    notes = []
    report = detect_drift(x, y, permutations=50, alpha=0.01, notify=notes.append)
    assert not report.drift and report.figures["mmd_p_value"] == 1 / 51
    assert any("1/51" in line for line in report.figures["findings"]) and any("1/51" in n for n in notes)
    assert detect_drift(x, y, permutations=50, alpha=0.01, test="classifier").drift  # no permutations there


def test_detect_drift_says_when_the_median_came_from_a_subset_of_rows():
    x = np.random.default_rng(0).standard_normal((700, 3))
    f = detect_drift(x[:350], x[350:], memory=2**20, permutations=20).figures
    assert f["median_rows"] < 700 and f"median distance between {f['median_rows']:,} of the 700" in f["findings"][-1]


def test_detect_drift_refuses_bad_arguments():
    x, y = shifted_pair()
    with pytest.raises(ShapeError, match="dimensions"):
        detect_drift(x, y[:, :3])
    with pytest.raises(ShapeError, match="at least 2"):
        detect_drift(x, y[:1])
    for bad in (dict(alpha=0), dict(alpha=1.5), dict(permutations=0), dict(sample=1), dict(test="ttest"),
                dict(neighbors=0), dict(seed=-1)):
        with pytest.raises(UsageError):
            detect_drift(x, y, **bad)


def test_detect_drift_record_is_strict_json_with_the_issue_keys():
    x, y = shifted_pair(30, 20, 3)
    record = detect_drift(x, y, permutations=20).record()
    assert set(REQUIRED_KEYS) <= set(record)
    assert strict_json(json.dumps(record, allow_nan=False)) == record
    assert isinstance(record["drift"], bool) and record["test"] == "mmd" and record["alpha"] == 0.01


# ---------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("drift")
    rng = np.random.default_rng(0)
    paths = {}
    for name, shift in (("ref", 0.0), ("same", 0.0), ("moved", 0.6)):
        paths[name] = str(folder / f"{name}.npy")
        np.save(paths[name], (rng.standard_normal((80, 6)) + shift).astype(np.float32))
    paths["narrow"] = str(folder / "narrow.npy")
    np.save(paths["narrow"], rng.standard_normal((50, 4)).astype(np.float32))
    paths["folder"] = str(folder)
    return paths


@pytest.mark.slow
@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_drift_fail_on_drift_exit_statuses(sets, entry):
    common = ["--permutations", "100", "-q", "-f", "json", "--fail-on-drift"]
    status, out, err = invoke(entry, "drift", sets["ref"], sets["moved"], *common)
    assert status == 1 and strict_json(out)["drift"] is True
    assert err.startswith("--fail-on-drift: drift detected by the MMD² permutation test")  # said even under -q
    status, out, err = invoke(entry, "drift", sets["ref"], sets["same"], *common)
    assert status == 0 and err == "" and strict_json(out)["drift"] is False
    assert_one_error_line(*invoke(entry, "drift", sets["ref"], sets["narrow"], *common), ["6 dimensions"])
    status, out, _ = invoke(entry, "drift", sets["ref"], sets["moved"], "--permutations", "100", "-q", "-f", "json")
    assert status == 0 and strict_json(out)["drift"] is True  # without --fail-on-drift: only errors fail


def test_drift_json_has_the_issue_keys_and_matches_the_library(sets):
    status, out, _ = invoke("runner", "drift", sets["ref"], sets["moved"], "--permutations", "50", "--test", "knn",
                            "--alpha", "0.05", "-k", "4", "-m", "euclidean", "-f", "json", "-q")
    record = strict_json(out)
    assert status == 0 and set(REQUIRED_KEYS) <= set(record)
    assert (record["test"], record["alpha"], record["neighbors"], record["metric"]) == ("knn", 0.05, 4, "euclidean")
    library = detect_drift(np.load(sets["ref"]), np.load(sets["moved"]), permutations=50, test="knn", alpha=0.05,
                           neighbors=4, metric="euclidean").record()
    for key in REQUIRED_KEYS + ("classifier_p_value", "knn_statistic", "bandwidth"):
        assert record[key] == library[key], key


def test_drift_machine_formats_give_the_findings_before_the_figures(sets):
    status, out, _ = invoke("runner", "drift", sets["ref"], sets["moved"], "--permutations", "200", "-f", "json", "-q")
    keys = list(strict_json(out))
    assert status == 0 and keys.index("findings") < min(keys.index(k) for k in REQUIRED_KEYS if k != "drift")
    assert strict_json(out)["findings"][0].startswith("drift detected by")
    status, out, _ = invoke("runner", "drift", sets["ref"], sets["moved"], "--permutations", "200", "-f", "csv", "-q")
    header = out.splitlines()[0].split(",")
    assert header.index("findings") < header.index("mmd2")


def test_drift_table_says_the_verdict_first(sets):
    status, out, _ = invoke("runner", "drift", sets["ref"], sets["moved"], "--permutations", "200", "-f", "table")
    assert status == 0 and out.startswith("drift detected by")
    assert "MMD²" in out and "classifier ROC AUC" in out


@pytest.mark.slow
def test_drift_plot_writes_an_image(sets):
    pytest.importorskip("matplotlib")
    path = f"{sets['folder']}/drift.png"
    status, _, err = invoke("runner", "drift", sets["ref"], sets["moved"], "--permutations", "50", "--plot", path,
                            "-f", "json")
    assert status == 0 and "wrote" in err
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    status, _, err = invoke("runner", "drift", sets["ref"], sets["moved"], "--plot", sets["ref"])
    assert status == 2 and "Error:" in err


def test_drift_report_is_an_html_page_with_the_verdict(sets):
    path = f"{sets['folder']}/drift.html"
    status, out, err = invoke("runner", "drift", sets["ref"], sets["moved"], "--permutations", "200", "--report", path,
                              "-f", "json")
    assert status == 0 and strict_json(out)["drift"] is True and "wrote" in err
    with open(path, encoding="utf-8") as f:
        page = f.read()
    assert page.lstrip().lower().startswith("<!doctype html") and "drift detected by the MMD² permutation test" in page
    if importlib.util.find_spec("matplotlib") is not None:  # the figure, inline, with the axes' variance shares
        assert "<svg" in page and "of variance)" in page and "src=\"http" not in page


def test_drift_projection_shares_are_pcas_explained_variance_ratios():
    from sklearn.decomposition import PCA

    from siamcli.reports.drift.report import shared_projection

    pooled = np.random.default_rng(3).normal(size=(80, 6)) * np.array([5.0, 3.0, 1.0, 1.0, 0.5, 0.1])
    projection, shares = shared_projection(pooled)
    pca = PCA(n_components=2).fit(pooled)
    np.testing.assert_allclose(shares, pca.explained_variance_ratio_, rtol=1e-9)
    np.testing.assert_allclose(np.abs(projection), np.abs(pca.transform(pooled)), atol=1e-9)


@pytest.mark.slow
def test_drift_figure_draws_both_sets_and_the_observed_statistic():
    pytest.importorskip("matplotlib")
    from siamcli.reports.drift.plot import drift_figure

    xy = np.random.default_rng(0).normal(size=(30, 2))
    is_reference = np.arange(30) < 12
    null = np.random.default_rng(1).normal(size=200) * 0.01
    fig = drift_figure(xy, is_reference, null, observed=0.05, statistic="MMD²")
    scatter_ax, null_ax = fig.axes[:2]
    sizes = {c.get_gid(): len(c.get_offsets()) for c in scatter_ax.collections}
    assert sizes == {"reference": 12, "current": 18}
    (line,) = [ln for ln in null_ax.lines if ln.get_gid() == "observed"]
    assert set(line.get_xdata()) == {0.05}
    with pytest.raises(ShapeError):
        drift_figure(xy, is_reference[:5], null, observed=0.05)


def test_drift_bad_options_are_one_error_line(sets):
    for args, words in ((["--alpha", "2"], "alpha"), (["--bandwidth", "-1"], "--bandwidth"),
                        (["-k", "500"], "--neighbors"), (["--test", "t"], "--test")):
        assert_one_error_line(*invoke("runner", "drift", sets["ref"], sets["moved"], *args, "-q"), [words])


def test_drift_report_repr_is_one_short_line_with_the_verdict(sets):
    report = detect_drift(np.load(sets["ref"]), np.load(sets["moved"]), permutations=200)
    text = repr(report)
    assert "\n" not in text and len(text) <= 240
    assert f"drift={report.drift}" in text and "test='mmd'" in text and "p_value=" in text

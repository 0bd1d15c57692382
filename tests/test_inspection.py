"""The embedding health report against independent numpy, scipy and scikit-learn computations."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist, pdist

from siamcli.reports import inspection
from siamcli.reports.inspection import scan
from siamcli.errors import InputError, ShapeError, UnknownMetricError, UsageError
from siamcli.reports.inspection import inspect_embeddings
from siamcli.io import EmbeddingSet

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUANTILE_KEYS = ["1%", "5%", "25%", "50%", "75%", "95%", "99%"]
QUANTILES = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x, y


@pytest.fixture(scope="module")
def digits_report(digits):
    x, y = digits
    return inspect_embeddings(EmbeddingSet(x, None, "digits"), classes=y)  # sample 2000 > 1797: every row


def numpy_spectrum(x):
    values = np.clip(np.linalg.eigvalsh(np.cov(x, rowvar=False)), 0, None)[::-1]
    p = values[values > 0] / values.sum()
    effective_rank = np.exp(-np.sum(p * np.log(p)))
    participation = values.sum() ** 2 / np.sum(values**2)
    share = np.cumsum(values) / values.sum()
    components = next(k + 1 for k, s in enumerate(share) if s >= 0.9 - 1e-12)
    return effective_rank, participation, components


def brute_duplicates(x):
    seen, count = set(), 0
    for row in x.tolist():
        key = tuple(v + 0.0 if isinstance(v, float) else v for v in row)  # -0.0 equals 0.0
        count += key in seen
        seen.add(key)
    return count


# ---------------------------------------------------------------- a healthy embedding: digits


def test_inspect_digits_is_not_collapsed(digits_report):
    r = digits_report
    assert not r.collapsed
    assert r.verdict.startswith("not collapsed")
    assert not any("collapsed" in w for w in r.warnings)
    assert r.summary[0] == "1797 vectors of 64 dimensions (float64)"
    assert (r.n, r.dim, r.dtype, r.nonfinite_rows, r.zero_rows) == (1797, 64, "float64", 0, 0)


def test_inspect_spectrum_matches_numpy_eigvalsh(digits, digits_report):
    x, _ = digits
    effective_rank, participation, components = numpy_spectrum(x)
    r = digits_report
    assert r.effective_rank == pytest.approx(effective_rank, rel=1e-9)
    assert r.participation_ratio == pytest.approx(participation, rel=1e-9)
    assert r.explained_variance_90 == components
    assert 5 < r.effective_rank < 40  # digits use a good part, not all, of their 64 pixels
    assert r.spectrum_rows == len(x)
    assert f"effective rank {effective_rank:.1f}" in " ".join(r.summary)


def test_inspect_dead_dimensions_match_numpy_var(digits, digits_report):
    x, _ = digits
    variance = np.var(x, axis=0, ddof=1)
    assert digits_report.dead_dimensions == int((np.var(x, axis=0) == 0).sum()) > 0
    assert digits_report.variance_median == pytest.approx(np.median(variance), rel=1e-9)
    assert digits_report.variance_max == pytest.approx(variance.max(), rel=1e-9)
    assert any("dimensions are constant (dead)" in w for w in digits_report.warnings)


def test_inspect_norms_and_cosines_match_scipy(digits, digits_report):
    x, _ = digits
    r = digits_report
    norms = np.linalg.norm(x, axis=1)
    assert r.norm_mean == pytest.approx(norms.mean(), rel=1e-12)
    assert r.norm_std == pytest.approx(norms.std(), rel=1e-9)
    assert [r.norm_quantiles[k] for k in QUANTILE_KEYS] == pytest.approx(np.quantile(norms, QUANTILES), rel=1e-12)
    cos = 1.0 - pdist(x, "cosine")
    assert r.sampled_pairs == len(cos)
    assert r.mean_cosine == pytest.approx(cos.mean(), rel=1e-9)
    assert r.std_cosine == pytest.approx(cos.std(), rel=1e-6)
    assert [r.cosine_quantiles[k] for k in QUANTILE_KEYS] == pytest.approx(np.quantile(cos, QUANTILES), rel=1e-9)
    assert r.high_cosine_fraction == pytest.approx(np.mean(cos > 0.95))
    assert r.near_duplicate_pairs == int((cos > 0.9999).sum())
    pairwise = pdist(x, "sqeuclidean").mean()
    assert r.spread_ratio == pytest.approx(np.sqrt(pairwise / np.mean(norms**2)), rel=1e-9)


def test_inspect_projection_matches_sklearn_pca(digits, digits_report):
    from sklearn.decomposition import PCA

    x, y = digits
    r = digits_report
    expected = PCA(n_components=2).fit(x).transform(x[r.projection_rows])
    assert r.projection.shape == (len(x), 2)
    for k in range(2):  # PCA axes are defined up to sign
        sign = np.sign(expected[:, k] @ r.projection[:, k])
        np.testing.assert_allclose(r.projection[:, k], sign * expected[:, k], atol=1e-8)
    np.testing.assert_array_equal(r.projection_labels, y[r.projection_rows])


# ---------------------------------------------------------------- classes


def test_inspect_classes_match_cdist_brute_force(digits, digits_report):
    x, y = digits
    c = digits_report.classes
    d = cdist(x, x)
    off_diagonal = ~np.eye(len(x), dtype=bool)
    same = (y[:, None] == y[None, :]) & off_diagonal
    other = y[:, None] != y[None, :]
    assert c.intra_mean == pytest.approx(d[same].mean(), rel=1e-9)
    assert c.inter_mean == pytest.approx(d[other].mean(), rel=1e-9)
    assert c.intra_std == pytest.approx(d[same].std(), rel=1e-6)
    assert c.intra_mean < c.inter_mean
    pooled = np.sqrt((d[same].var() + d[other].var()) / 2)
    assert c.separation == pytest.approx((d[other].mean() - d[same].mean()) / pooled, rel=1e-6)
    assert (c.intra_pairs, c.inter_pairs) == (same.sum() // 2, other.sum() // 2)
    assert c.n_classes == 10 and c.sampled_rows == len(x)
    separated = 0
    for row in c.rows:
        mine = y == row.label
        block = d[np.ix_(mine, mine)]
        assert row.count == row.sampled == mine.sum()
        assert row.intra_mean == pytest.approx(block[~np.eye(len(block), dtype=bool)].mean(), rel=1e-9)
        assert row.inter_mean == pytest.approx(d[np.ix_(mine, ~mine)].mean(), rel=1e-9)
        to_others = {label: d[np.ix_(mine, y == label)].mean() for label in range(10) if label != row.label}
        nearest = min(to_others, key=to_others.get)
        assert row.nearest_class == nearest
        assert row.nearest_mean == pytest.approx(to_others[nearest], rel=1e-9)
        separated += row.intra_mean < to_others[nearest]
    assert c.separated_fraction == separated / 10


def test_inspect_classes_under_a_similarity_point_the_right_way(digits):
    x, y = digits
    r = inspect_embeddings(EmbeddingSet(x, None, "digits"), classes=y, metric="cos")
    c = r.classes
    cos = 1.0 - cdist(x, x, "cosine")
    same = (y[:, None] == y[None, :]) & ~np.eye(len(x), dtype=bool)
    assert c.metric == "cosine" and c.higher_is_better
    assert c.intra_mean == pytest.approx(cos[same].mean(), rel=1e-6)
    assert c.intra_mean > c.inter_mean
    assert c.separation > 0
    assert "same-class pairs are closer" in r.summary[-1]


def test_inspect_classes_on_a_sample(digits):
    x, y = digits
    labels = np.array([f"digit {v}" for v in y])
    r = inspect_embeddings(x, classes=labels, sample=600, seed=3)
    c = r.classes
    assert c.sampled_rows == 600 == sum(row.sampled for row in c.rows)
    assert sum(row.count for row in c.rows) == len(x)
    assert [row.label for row in c.rows] == [f"digit {v}" for v in range(10)]
    rows = r.projection_rows[:600]  # the pairwise sample leads the projected rows
    d = cdist(x[rows], x[rows])
    same = (y[rows][:, None] == y[rows][None, :]) & ~np.eye(600, dtype=bool)
    assert c.intra_mean == pytest.approx(d[same].mean(), rel=1e-9)
    assert c.intra_mean < c.inter_mean
    json.dumps(r.record(), allow_nan=False)


def test_inspect_classes_length_mismatch_raises_shape_error(digits):
    x, y = digits
    with pytest.raises(ShapeError, match="one label per row"):
        inspect_embeddings(x, classes=y[:-1])


def test_inspect_unknown_metric_fails_before_reading(digits):
    x, y = digits
    with pytest.raises(UnknownMetricError, match="euclidean"):
        inspect_embeddings(x, classes=y, metric="euclidian")


@pytest.mark.parametrize("sample", [1, inspection.MAX_SAMPLE + 1, 2.5])
def test_inspect_sample_out_of_range_raises_usage_error(sample):
    with pytest.raises(UsageError, match="sample"):
        inspect_embeddings(np.ones((4, 3)), sample=sample)


# ---------------------------------------------------------------- collapse


def test_inspect_collapsed_to_one_point_is_flagged():
    rng = np.random.default_rng(1)
    point = rng.standard_normal(32)
    x = point + 1e-3 * rng.standard_normal((3000, 32))
    r = inspect_embeddings(x)
    assert r.collapsed
    assert r.verdict.startswith("collapsed: all vectors lie near one point")
    assert r.verdict in r.warnings
    assert r.mean_cosine > 0.9999


def test_inspect_collapsed_in_direction_is_flagged_by_cosines():
    rng = np.random.default_rng(2)
    offset = np.zeros(64)
    offset[0] = 10.0
    x = offset + 0.2 * rng.standard_normal((2000, 64))  # spread 22% of the length: not one point
    r = inspect_embeddings(x)
    assert r.spread_ratio > inspection.COLLAPSE_SPREAD
    cos = 1 - pdist(x, "cosine")
    assert np.mean(cos > 0.95) > 0.9
    assert r.collapsed and "of sampled pairs have cosine > 0.95" in r.verdict


@pytest.mark.parametrize("value, words", [(0.0, "zero vector"), (3.5, "the same")])
def test_inspect_identical_rows_are_collapsed(value, words):
    r = inspect_embeddings(np.full((50, 8), value))
    assert r.collapsed and words in r.verdict
    assert r.exact_duplicate_rows == 49


def test_inspect_gaussian_cloud_is_healthy():
    x = np.random.default_rng(3).standard_normal((3000, 48))
    r = inspect_embeddings(x)
    assert not r.collapsed
    assert r.effective_rank > 40
    assert not any("effective rank" in w for w in r.warnings)
    assert abs(r.mean_cosine) < 0.01


def test_inspect_low_rank_is_a_warning_not_collapse():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1000, 2)) @ rng.standard_normal((2, 64))
    r = inspect_embeddings(x)
    assert not r.collapsed
    assert r.effective_rank < 2.5
    assert any(w.startswith("low effective rank") for w in r.warnings)


def test_inspect_low_variance_dimension_counted_by_definition():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((500, 10))
    x[:, 3] *= 1e-4  # variance 1e-8 x the others: below 1e-6 x the median
    x[:, 7] = 2.0  # constant: dead, not low-variance
    variance = np.var(x, axis=0, ddof=1)
    expected = np.sum((variance > 0) & (variance < 1e-6 * np.median(variance)))
    r = inspect_embeddings(x)
    assert (r.low_variance_dimensions, r.dead_dimensions) == (expected, 1) == (1, 1)


# ---------------------------------------------------------------- norms, duplicates, bad rows


def test_inspect_normalized_detection():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((400, 16))
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert inspect_embeddings(unit).normalized
    assert not any("normalised" in w for w in inspect_embeddings(unit).warnings)
    assert not inspect_embeddings(unit * 1.01).normalized
    partly = unit.copy()
    partly[:10] *= 3.0
    r = inspect_embeddings(partly)
    assert not r.normalized
    assert any("97.5% of vectors have norm 1 but 10 do not" in w for w in r.warnings)
    assert any(w.startswith("not L2-normalised") for w in inspect_embeddings(x).warnings)


@pytest.mark.parametrize("dtype, dim", [(np.float64, 3), (np.float32, 5), (np.int8, 3), (np.bool_, 4)])
def test_inspect_exact_duplicates_match_brute_force(dtype, dim):
    rng = np.random.default_rng(7)
    x = rng.integers(0, 2, size=(300, dim)).astype(dtype)
    if dtype == np.float64:
        x[x == 0] = -0.0 * rng.integers(0, 2, size=int((x == 0).sum()))  # -0.0 and 0.0 are equal values
    r = inspect_embeddings(x)
    assert r.exact_duplicate_rows == brute_duplicates(x) > 0


def test_inspect_duplicates_survive_hash_collisions(monkeypatch):
    x = np.random.default_rng(8).integers(0, 3, size=(200, 2)).astype(np.float64)
    monkeypatch.setattr(scan, "_row_hashes", lambda rows: np.zeros(len(rows), dtype=np.uint64))
    assert inspect_embeddings(x).exact_duplicate_rows == brute_duplicates(x)


def test_inspect_nonfinite_and_zero_rows_are_counted_and_left_out():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((100, 6))
    x[[3, 50]] = 0.0
    x[10, 2] = np.nan
    x[20, 0] = np.inf
    x[30] = x[31]
    r = inspect_embeddings(x)
    finite = np.delete(x, [10, 20], axis=0)
    assert (r.nonfinite_rows, r.zero_rows, r.exact_duplicate_rows) == (2, 2, 2)  # rows 50 and 31
    assert r.norm_mean == pytest.approx(np.linalg.norm(finite, axis=1).mean())
    assert r.variance_max == pytest.approx(np.var(finite, axis=0, ddof=1).max())
    assert r.effective_rank == pytest.approx(numpy_spectrum(finite)[0])
    assert r.sampled_rows == 98 and r.sampled_pairs == 96 * 95 // 2  # zero rows have no cosine
    assert any("2 rows hold NaN or infinite values" in w for w in r.warnings)
    assert any("2 rows are zero vectors" in w for w in r.warnings)
    json.dumps(r.record(), allow_nan=False)


def test_inspect_huge_values_do_not_overflow_norms():
    x = np.array([[3e30, 4e30], [1.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    r = inspect_embeddings(x)
    assert r.nonfinite_rows == 0
    assert r.norm_max == pytest.approx(5e30, rel=1e-6)


@SETTINGS
@given(arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 6)),
              elements=st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False)))
def test_inspect_norm_stats_match_numpy(x):
    r = inspect_embeddings(x, sample=2)
    scale = np.abs(x).max(axis=1)
    scale[scale == 0] = 1.0
    norms = scale * np.linalg.norm(x / scale[:, None], axis=1)  # scaled: squares of 1e-200 underflow
    assert r.norm_min == pytest.approx(norms.min(), rel=1e-9, abs=1e-300)
    assert r.norm_max == pytest.approx(norms.max(), rel=1e-9)
    assert r.norm_mean == pytest.approx(norms.mean(), rel=1e-9)
    peak = norms.max() or 1.0  # scaled: numpy's own std of norms near 1e-174 underflows to 0
    assert r.norm_std == pytest.approx((norms / peak).std() * peak, rel=1e-6, abs=1e-9 * norms.max())
    expected = np.quantile(norms, QUANTILES)
    assert [r.norm_quantiles[k] for k in QUANTILE_KEYS] == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert r.normalized == bool(np.all(np.abs(norms - 1) <= 1e-3))
    assert r.exact_duplicate_rows == brute_duplicates(x)
    json.dumps(r.record(), allow_nan=False)


# ---------------------------------------------------------------- large and memory-mapped input


def test_inspect_memmap_input_read_in_chunks(tmp_path, monkeypatch):
    rng = np.random.default_rng(10)
    x = (rng.standard_normal((5000, 24)) @ rng.standard_normal((24, 24))).astype(np.float32)
    x[4000:4005] = x[7]
    np.save(tmp_path / "emb.npy", x)
    mapped = np.load(tmp_path / "emb.npy", mmap_mode="r")
    monkeypatch.setattr(scan, "_CHUNK_BYTES", 24 * 4 * 333)  # 333 rows a chunk: 16 chunks
    r = inspect_embeddings(EmbeddingSet(mapped, None, "emb.npy"), sample=500)
    x64 = x.astype(np.float64)
    norms = np.linalg.norm(x64, axis=1)
    assert (r.n, r.dim, r.dtype) == (5000, 24, "float32")
    assert r.norm_mean == pytest.approx(norms.mean(), rel=1e-6)
    assert [r.norm_quantiles[k] for k in QUANTILE_KEYS] == pytest.approx(np.quantile(norms, QUANTILES), rel=1e-5)
    assert r.variance_median == pytest.approx(np.median(np.var(x64, axis=0, ddof=1)), rel=1e-5)
    assert r.effective_rank == pytest.approx(numpy_spectrum(x64)[0], rel=1e-4)
    assert r.exact_duplicate_rows == 5
    assert r.sampled_rows == 500 and r.projection.shape == (5000, 2)


def test_inspect_spectrum_from_a_row_sample(monkeypatch):
    x = np.random.default_rng(11).standard_normal((3000, 8)) * np.arange(1, 9)
    full = inspect_embeddings(x, spectrum_rows=None)
    part = inspect_embeddings(x, spectrum_rows=1000)
    assert (full.spectrum_rows, part.spectrum_rows) == (3000, 1000)
    assert full.effective_rank == pytest.approx(numpy_spectrum(x)[0], rel=1e-9)
    assert part.effective_rank == pytest.approx(full.effective_rank, rel=0.05)


def test_inspect_is_deterministic_given_seed():
    x = np.random.default_rng(12).standard_normal((3000, 10))
    first, again = inspect_embeddings(x, sample=300, seed=5), inspect_embeddings(x, sample=300, seed=5)
    other = inspect_embeddings(x, sample=300, seed=6)
    assert first.record() == again.record()
    np.testing.assert_array_equal(first.projection, again.projection)
    assert first.mean_cosine != other.mean_cosine


def test_inspect_record_is_strict_json_without_plot_arrays(digits_report):
    record = digits_report.record()
    text = json.dumps(record, allow_nan=False)
    assert json.loads(text) == record
    for key in ("n", "dim", "dtype", "nonfinite_rows", "zero_rows", "normalized", "dead_dimensions",
                "low_variance_dimensions", "effective_rank", "participation_ratio", "explained_variance_90",
                "mean_cosine", "std_cosine", "cosine_quantiles", "exact_duplicate_rows", "near_duplicate_pairs",
                "collapsed", "warnings", "summary", "classes"):
        assert key in record
    assert not {"norms_sample", "projection", "projection_labels", "projection_rows"} & set(record)
    assert record["classes"]["per_class"][0]["class"] == 0


def test_inspect_single_row_has_no_pairwise_figures():
    r = inspect_embeddings(np.array([[1.0, 2.0, 2.0]]))
    assert (r.n, r.norm_max, r.effective_rank, r.mean_cosine, r.collapsed) == (1, 3.0, None, None, False)
    assert json.loads(json.dumps(r.record(), allow_nan=False))["dead_dimensions"] is None


def test_inspect_every_row_nonfinite_reports_without_figures():
    r = inspect_embeddings(np.full((5, 3), np.nan))
    assert (r.nonfinite_rows, r.norm_mean, r.effective_rank, r.collapsed) == (5, None, None, False)
    assert r.warnings == ["5 rows hold NaN or infinite values; every figure leaves them out"]
    json.dumps(r.record(), allow_nan=False)


@pytest.mark.parametrize("bad", [np.ones(3), np.ones((0, 3)), np.array([["a", "b"]])])
def test_inspect_rejects_what_is_not_a_2d_numeric_array(bad):
    with pytest.raises(InputError, match="2-D numeric array"):
        inspect_embeddings(bad)


def test_inspect_wide_input_spectrum_is_the_covariance_spectrum_without_a_d_by_d_matrix(monkeypatch):
    """Wider than MAX_SPECTRUM_SIDE: the Gram matrix of the rows has the covariance's nonzero eigenvalues."""
    monkeypatch.setattr(scan, "MAX_SPECTRUM_SIDE", 64)
    rng = np.random.default_rng(21)
    x = rng.standard_normal((40, 300)) @ np.diag(np.linspace(0.1, 3.0, 300))
    r = inspect_embeddings(x, sample=40)
    effective_rank, participation, components = numpy_spectrum(x)  # np.linalg.eigvalsh(np.cov(x.T)): 300 x 300
    assert r.spectrum_rows == 40
    assert r.effective_rank == pytest.approx(effective_rank, rel=1e-9)
    assert r.participation_ratio == pytest.approx(participation, rel=1e-9)
    assert r.explained_variance_90 == components
    # the projection is onto the top two principal axes: compare with an SVD of the centred rows
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ vt[:2].T
    shown = r.projection_rows
    assert np.allclose(np.abs(r.projection), np.abs(expected[shown]), atol=1e-9)


def test_inspect_a_million_dimensions_reads_a_bounded_sample(monkeypatch):
    import tracemalloc

    monkeypatch.setattr(scan, "SAMPLE_VALUES", 2**23)
    x = np.random.default_rng(22).standard_normal((12, 1_000_000)).astype(np.float32)  # 48 MB
    tracemalloc.start()
    try:
        r = inspect_embeddings(x, sample=2000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    budget_rows = max(2, scan.SAMPLE_VALUES // x.shape[1])
    assert r.spectrum_rows == r.sampled_rows == budget_rows == 8
    assert r.effective_rank > 0.9 * (budget_rows - 1)  # noise: every sampled direction carries variance
    assert peak < 2 * budget_rows * x.shape[1] * 8 + 200 * 2**20  # the gathered rows, not a d x d matrix


def test_inspect_fortran_order_input_reports_as_c_order(tmp_path):
    from siamcli.io import load_embeddings

    x = np.random.default_rng(23).standard_normal((300, 12)).astype(np.float32)
    x[7] = x[3]  # a duplicate row: the row hash reads each row's bytes
    np.save(tmp_path / "f.npy", np.asfortranarray(x))
    fortran = inspect_embeddings(load_embeddings(tmp_path / "f.npy"))
    c_order = inspect_embeddings(x)
    assert fortran.exact_duplicate_rows == c_order.exact_duplicate_rows == 1
    for name in ("norm_mean", "norm_max", "variance_median", "effective_rank", "mean_cosine", "spread_ratio"):
        assert getattr(fortran, name) == pytest.approx(getattr(c_order, name), rel=1e-5)  # float32 sums in another order
    assert fortran.summary[0] == c_order.summary[0] and fortran.collapsed == c_order.collapsed


@pytest.mark.parametrize("dtype, scale", [
    (np.float64, 1e150), (np.float64, 1e-200), (np.float64, 1e-300), (np.float64, 1e-310), (np.float64, 1e153),
    (np.float32, 1e18), (np.float32, 1e-30), (np.float32, 3e37),
])
def test_inspect_any_finite_magnitude_gives_the_long_double_figures(dtype, scale):
    rng = np.random.default_rng(11)
    base = rng.normal(size=(80, 6))
    x = (base * scale).astype(dtype) if dtype == np.float64 or scale < 1e30 else (base / 4 * scale).astype(dtype)
    exact = x.astype(np.longdouble)
    peak = np.abs(exact).max()
    norms = np.sqrt(((exact / peak) ** 2).sum(axis=1)) * peak
    report = inspect_embeddings(x)  # warnings are errors in this suite: none may be raised
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert report.norm_max == pytest.approx(float(norms.max()), rel=tol)
    assert report.norm_mean == pytest.approx(float(norms.mean()), rel=tol)
    variance = (exact / peak).var(axis=0, ddof=1) * peak * peak
    if float(variance.max()) > np.finfo(np.float64).tiny:
        assert report.variance_max == pytest.approx(float(variance.max()), rel=1e-4 if dtype == np.float32 else tol)
    reference = inspect_embeddings(base.astype(dtype))  # the same directions at an ordinary scale
    assert report.effective_rank == pytest.approx(reference.effective_rank, rel=1e-4)
    assert report.mean_cosine == pytest.approx(reference.mean_cosine, abs=1e-5)
    assert not report.normalized and all(np.isfinite(report.projection).ravel())


@pytest.mark.parametrize("scale, what", [(1e200, "the variance of column"), (1.5e308, "the norm of row")])
def test_inspect_figures_beyond_float64_are_an_error_naming_them(scale, what):
    x = np.random.default_rng(2).normal(size=(40, 4))
    x /= np.abs(x).max()
    with pytest.raises(InputError, match=what + ".*float64 range"):
        inspect_embeddings(x * scale)


@pytest.mark.parametrize("dtype, low, high", [(np.float64, -300, 150), (np.float32, -40, 18)])
def test_inspect_rows_from_tiny_to_huge_give_the_cosines_of_the_originals(dtype, low, high):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(30, 5)) * 10.0 ** np.linspace(low, high, 30)[:, None]
    x = x.astype(dtype)
    report = inspect_embeddings(x, sample=30)  # no warning may be raised (they are errors here)
    exact = x.astype(np.longdouble)
    unit = exact / np.abs(exact).max(axis=1, keepdims=True)
    unit /= np.sqrt((unit**2).sum(axis=1, keepdims=True))
    cos = (unit @ unit.T)[np.triu_indices(30, 1)]
    assert report.sampled_pairs == len(cos)
    assert report.mean_cosine == pytest.approx(float(cos.mean()), abs=1e-6)

"""Every registered metric against scipy's float64 cdist, its own slow reference, and its promises."""

from __future__ import annotations

import math
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist

import siamcli
from siamcli import metrics as metrics_module
from siamcli.metrics import registry
from siamcli.errors import InputError, UnknownMetricError, UsageError
from siamcli.metrics import BUILTIN_METRICS, Metric, Params, get_metric


def _cos_sim(a, b, **kw):
    return 1.0 - cdist(a, b, "cosine")


def _angular(a, b, **kw):
    return np.arccos(np.clip(1.0 - cdist(a, b, "cosine"), -1.0, 1.0)) / np.pi


def _braycurtis(a, b, **kw):
    out = cdist(a, b, "braycurtis")
    out[np.isnan(out)] = 0.0  # documented: two zero vectors are identical (scipy says nan)
    return out


def _jensenshannon(a, b):
    from scipy.spatial.distance import jensenshannon

    out = cdist(a, b, "jensenshannon")
    for i, j in zip(*np.nonzero(np.isnan(out))):  # cdist rounds below zero under its sqrt on some 1-D inputs
        out[i, j] = jensenshannon(a[i], b[j])
    return out


#: scipy float64 oracle for every built-in metric; the contract test checks none is missing.
ORACLE = {
    "cosine": _cos_sim,
    "cosine_distance": lambda a, b, **kw: cdist(a, b, "cosine"),
    "angular": _angular,
    "dot": lambda a, b, **kw: np.einsum("id,jd->ij", a, b),
    "euclidean": lambda a, b, **kw: cdist(a, b, "euclidean"),
    "sqeuclidean": lambda a, b, **kw: cdist(a, b, "sqeuclidean"),
    "manhattan": lambda a, b, **kw: cdist(a, b, "cityblock"),
    "chebyshev": lambda a, b, **kw: cdist(a, b, "chebyshev"),
    "minkowski": lambda a, b, p=2.0, **kw: cdist(a, b, "minkowski", p=p),
    "mahalanobis": lambda a, b, VI=None, **kw: cdist(a, b, "mahalanobis", VI=VI),
    "correlation": lambda a, b, **kw: cdist(a, b, "correlation"),
    "canberra": lambda a, b, **kw: cdist(a, b, "canberra"),
    "braycurtis": _braycurtis,
    "hamming": lambda a, b, **kw: cdist(a, b, "hamming"),
    "jaccard": lambda a, b, **kw: cdist(a, b, "jaccard"),
    "jensenshannon": lambda a, b, **kw: _jensenshannon(a, b),
}
NAMES = [m.name for m in BUILTIN_METRICS]
#: Metrics whose value scales with |a||b| (products of norms): float32 tolerance scales with it.
NORM_PRODUCT = {"dot", "sqeuclidean"}
#: Reference values that lose precision near zero through a square root or arccos of a rounded value.
SQRT_NEAR_ZERO = {"angular": 3e-8, "jensenshannon": 3e-8}


def test_oracle_covers_every_builtin_metric():
    assert set(ORACLE) == set(NAMES)


def test_registry_record_is_complete():
    for m in BUILTIN_METRICS:
        assert m.kind in ("distance", "similarity")
        assert m.higher_is_better == (m.kind == "similarity")
        assert callable(m.matrix) and callable(m.paired) and callable(m.reference)
        assert m.summary and "\n" not in m.summary
        assert get_metric(m.name) is m
        for alias in m.aliases:
            assert get_metric(alias.upper()) is m


@pytest.mark.parametrize("alias,name", [("cityblock", "manhattan"), ("l1", "manhattan"), ("linf", "chebyshev")])
def test_get_metric_aliases_from_the_issue(alias, name):
    assert get_metric(alias).name == name


def test_get_metric_unknown_suggests_and_lists():
    with pytest.raises(UnknownMetricError) as err:
        get_metric("cosin")
    assert "did you mean 'cosine'" in str(err.value)
    assert "euclidean" in str(err.value)


# ---------------------------------------------------------------- data strategies


def _elements(dtype, domain):
    if domain == "discrete":
        return st.integers(-2, 2).map(float)
    top = 3.0 if dtype == np.float32 else 1000.0
    low = 0.0 if domain == "nonnegative" else -top
    return st.floats(low, top, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=32).map(
        lambda x: 0.0 if abs(x) < 1e-6 else x
    )


@st.composite
def input_pairs(draw, dtype, domain="real", max_rows=6, max_dim=10):
    """(A, B) with optional near-duplicate and exact duplicate rows of A placed in B."""
    n = draw(st.integers(1, max_rows))
    m = draw(st.integers(1, max_rows))
    d = draw(st.integers(1, max_dim))
    elements = _elements(dtype, domain)
    a = draw(arrays(np.float64, (n, d), elements=elements))
    b = draw(arrays(np.float64, (m, d), elements=elements))
    for j in range(m):
        if draw(st.booleans()):
            i = draw(st.integers(0, n - 1))
            eps = draw(st.sampled_from([0.0, 1e-12, 1e-9, 1e-6, 1e-3]))
            noise = draw(arrays(np.float64, (d,), elements=st.floats(-1, 1, allow_subnormal=False)))
            noise[np.abs(noise) < 1e-6] = 0.0
            b[j] = a[i] + eps * noise * (np.abs(a[i]) + 1e-3)
            if domain == "nonnegative":
                b[j] = np.abs(b[j])
    return a.astype(dtype), b.astype(dtype)


def _domain(name):
    return get_metric(name).domain


def _defined(metric, a, b):
    """Mask of pairs where the metric is defined (no zero / constant / zero-sum rows)."""
    if metric.undefined_rows is None:
        return np.ones((len(a), len(b)), dtype=bool)
    return ~metric.undefined_rows(a)[:, None] & ~metric.undefined_rows(b)[None, :]


def _oracle(name, a, b, comparison):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    kw = {}
    if name == "minkowski":
        kw["p"] = comparison.params.p
    if name == "mahalanobis":
        w = comparison.params.whitener
        kw["VI"] = w @ w.T
    with np.errstate(all="ignore"):
        return ORACLE[name](a64, b64, **kw)


def _check_against_oracle(name, a, b, p=None):
    metric = get_metric(name)
    comparison = siamcli.prepare(a, b, metric=name, p=p, zero_vector="nan")
    ref = _oracle(name, a, b, comparison)
    defined = _defined(metric, a, b)
    if np.isinf(ref[defined]).any():  # braycurtis of a = -b: scipy says inf, which no output can hold
        with pytest.raises(InputError, match="braycurtis distance of .* is infinite"):
            siamcli.engine.fill_matrix(comparison)
        return comparison
    ours = siamcli.engine.fill_matrix(comparison)
    assert np.isnan(ours[~defined]).all()
    rounded = np.argwhere(defined & np.isnan(ref))  # scipy's cdist can round below zero under a square root
    ref[tuple(rounded.T)] = [metric.reference(a[i].astype(np.float64), b[j].astype(np.float64), comparison.params)
                             for i, j in rounded]
    ours, ref = ours[defined].astype(np.float64), ref[defined]
    if a.dtype == np.float64:
        scale = np.maximum(1.0, np.abs(ref))
        atol = 1e-12 * scale + SQRT_NEAR_ZERO.get(name, 0.0)
        np.testing.assert_array_less(np.abs(ours - ref), 1e-9 * np.abs(ref) + atol + 1e-300)
    else:
        tol = np.full(ref.shape, 1e-5)
        if name in NORM_PRODUCT:
            norms = np.linalg.norm(a.astype(np.float64), axis=1)[:, None] * np.linalg.norm(b.astype(np.float64), axis=1)[None, :]
            tol = 1e-5 * np.maximum(1.0, norms[defined])
        np.testing.assert_array_less(np.abs(ours - ref), tol + SQRT_NEAR_ZERO.get(name, 0.0))
    return comparison


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", [n for n in NAMES if n != "mahalanobis"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@SETTINGS
@given(data=st.data())
def test_metric_matrix_matches_scipy_cdist(name, dtype, data):
    a, b = data.draw(input_pairs(dtype, _domain(name)))
    p = data.draw(st.sampled_from([1.0, 1.5, 2.0, 3.0])) if name == "minkowski" else None
    _check_against_oracle(name, a, b, p)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@SETTINGS
@given(data=st.data())
def test_mahalanobis_matches_scipy_cdist_with_the_covariance_it_used(dtype, data):
    a, b = data.draw(input_pairs(dtype, max_rows=8, max_dim=4))
    stacked = np.vstack([a, b]).astype(np.float64)
    if len(stacked) <= stacked.shape[1] or np.linalg.cond(np.atleast_2d(np.cov(stacked.T))) > 1e6:
        return  # 1e-9 holds for a well-conditioned covariance; singular cases are tested below
    _check_against_oracle("mahalanobis", a, b)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_metric_kernels_match_the_slow_reference(name, data):
    metric = get_metric(name)
    a, b = data.draw(input_pairs(np.float64, _domain(name), max_rows=4, max_dim=6))
    if name == "mahalanobis" and (len(a) + len(b) < 2):
        return
    comparison = siamcli.prepare(a, b, metric=name, zero_vector="nan")
    params = comparison.params
    if name == "braycurtis":  # a and -a (a != 0): sum |a_i - b_i| / 0, an infinite distance, is an error naming them
        sums, diffs = (np.abs(a[:, None, :] + s * b[None, :, :]).sum(axis=-1) for s in (1, -1))
        if ((sums == 0) & (diffs > 0)).any():
            with pytest.raises(InputError, match="braycurtis distance of A row .* is infinite"):
                siamcli.engine.fill_matrix(comparison)
            return
    matrix = siamcli.engine.fill_matrix(comparison)
    defined = _defined(metric, a, b)
    for i in range(len(a)):
        for j in range(len(b)):
            if not defined[i, j]:
                continue
            ref = metric.reference(a[i].tolist(), b[j].tolist(), params)
            assert matrix[i, j] == pytest.approx(ref, rel=1e-9, abs=1e-12 * max(1.0, abs(ref)) + SQRT_NEAR_ZERO.get(name, 0.0))
    if len(a) == len(b):
        paired = metric.paired(a, b, params)
        for i in range(len(a)):
            if defined[i, i]:
                ref = metric.reference(a[i].tolist(), b[i].tolist(), params)
                assert paired[i] == pytest.approx(ref, rel=1e-9, abs=1e-12 * max(1.0, abs(ref)) + SQRT_NEAR_ZERO.get(name, 0.0))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@SETTINGS
@given(data=st.data())
def test_paired_matches_the_diagonal_of_cdist(name, dtype, data):
    metric = get_metric(name)
    a, b = data.draw(input_pairs(dtype, _domain(name)))
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    comparison = siamcli.prepare(a, b, metric=name, zero_vector="nan")
    if name == "mahalanobis":
        w = comparison.params.whitener
        if w.shape[1] < w.shape[0] or np.linalg.cond(w @ w.T) > 1e6:
            return  # scipy's VI form is itself inexact for ill-conditioned covariances (reference test covers it)
    ref = np.diag(_oracle(name, a, b, comparison))
    defined = np.diag(_defined(metric, a, b))
    if np.isinf(ref[defined]).any():  # braycurtis of a = -b: scipy says inf, which no output can hold
        with pytest.raises(InputError, match="braycurtis distance of .* is infinite"):
            comparison.paired_block(0, n)
        return
    paired = np.asarray(comparison.paired_block(0, n), dtype=np.float64)
    assert np.isnan(paired[~defined]).all()
    finite = defined
    scale = np.maximum(1.0, np.abs(ref[finite]))
    if name in NORM_PRODUCT and dtype == np.float32:
        scale = np.maximum(scale, np.linalg.norm(a[finite].astype(float), axis=1) * np.linalg.norm(b[finite].astype(float), axis=1))
    tol = (1e-9 if dtype == np.float64 else 1e-5) * scale + SQRT_NEAR_ZERO.get(name, 0.0)
    np.testing.assert_array_less(np.abs(paired[finite] - ref[finite]), tol)


@pytest.mark.parametrize("name", [m.name for m in BUILTIN_METRICS if m.kind == "distance"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@SETTINGS
@given(data=st.data())
def test_distances_are_nonnegative_and_exactly_zero_on_identical_rows(name, dtype, data):
    metric = get_metric(name)
    a, _ = data.draw(input_pairs(dtype, _domain(name)))
    comparison = siamcli.prepare(a, a.copy(), metric=name, zero_vector="nan")
    if name == "mahalanobis" and len(a) < 2:
        return
    if name == "braycurtis":  # rows a and -a (a != 0) in one set: an infinite distance, an error naming them
        sums, diffs = (np.abs(a[:, None, :] + s * a[None, :, :]).sum(axis=-1) for s in (1, -1))
        if ((sums == 0) & (diffs > 0)).any():
            with pytest.raises(InputError, match="braycurtis distance of A row .* is infinite"):
                siamcli.engine.fill_matrix(comparison)
            return
    values = siamcli.engine.fill_matrix(comparison)
    defined = _defined(metric, a, a)
    assert (values[defined] >= 0).all()
    diagonal = np.diag(values)[np.diag(defined)]
    assert (diagonal == 0.0).all(), diagonal
    self_matrix = siamcli.engine.fill_matrix(siamcli.prepare(a, metric=name, zero_vector="nan"))
    assert (np.diag(self_matrix)[np.diag(defined)] == 0.0).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@SETTINGS
@given(data=st.data())
def test_cosine_is_within_minus_one_and_one_and_one_on_itself(dtype, data):
    a, b = data.draw(input_pairs(dtype, max_dim=12))
    values = siamcli.matrix(a, b, zero_vector="nan").values
    finite = values[~np.isnan(values)]
    assert ((finite >= -1.0) & (finite <= 1.0)).all()
    self_values = siamcli.matrix(a, a.copy(), zero_vector="nan").values
    defined = np.linalg.norm(a.astype(float), axis=1) > 0
    assert (np.diag(self_values)[defined] == 1.0).all()


def test_float32_near_duplicates_in_high_dimension_are_exact():
    rng = np.random.default_rng(7)
    dim = 384
    a = rng.normal(size=(200, dim)).astype(np.float32) / np.sqrt(dim)
    b = a + (rng.normal(size=a.shape) * np.logspace(-7, -1, 200)[:, None] / np.sqrt(dim)).astype(np.float32)
    b[:20] = a[:20]
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    for name in ("euclidean", "sqeuclidean", "cosine", "cosine_distance", "angular", "correlation"):
        ours = siamcli.matrix(a, b, metric=name).values.astype(np.float64)
        ref = ORACLE[name](a64, b64)
        assert np.abs(ours - ref).max() < 1e-5, name
    euclid = siamcli.matrix(a, b, metric="euclidean").values
    assert (np.diag(euclid)[:20] == 0).all()
    exact = np.linalg.norm(a64 - b64, axis=1)
    # near-duplicates keep their relative precision (the matrix-product formula would not)
    np.testing.assert_allclose(np.diag(euclid)[20:], exact[20:], rtol=1e-5)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", ["euclidean", "mahalanobis"])
def test_square_roots_of_many_tiles_fill_a_given_output_and_keep_near_duplicates_exact(name, threads):
    """The product of each tile goes to a buffer of its thread, and only the square roots go to the
    output: every value of a given output is written, and near pairs in any tile (also partial
    tiles at the edges) get their values from the differences, not from that buffer."""
    from siamcli import engine
    from siamcli.metrics import kernels

    rows, cols = kernels.PRODUCT_TILE
    rng = np.random.default_rng(17)
    a = rng.normal(size=(2 * rows + 300, 24)).astype(np.float32)
    b = rng.normal(size=(2 * cols + 500, 24)).astype(np.float32)
    pairs = [(0, 0), (rows + 5, cols + 7), (2 * rows + 299, 2 * cols + 499), (7, 2 * cols + 3), (2 * rows + 1, 11)]
    for i, j in pairs:
        b[j] = a[i] + np.float32(1e-4) * rng.normal(size=24).astype(np.float32)
    b[pairs[0][1]] = a[pairs[0][0]]  # one exact duplicate
    metric = get_metric(name)
    params = metric.prepare(lambda sample=None: [np.vstack([a, b]).astype(np.float64)], 24, Params()) if metric.prepare else Params()
    out = np.full((len(a), len(b)), np.nan, dtype=np.float32)
    engine.set_threads(threads)
    try:
        got = metric.matrix(a, b, params, out=out)
    finally:
        engine.set_threads(None)
    assert got is out and not np.isnan(out).any()
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if name == "euclidean":
        ref = cdist(a64, b64)
    else:
        ref = cdist(a64, b64, "mahalanobis", VI=params.whitener @ params.whitener.T)
    np.testing.assert_allclose(out, ref, rtol=2e-4, atol=1e-4)
    assert out[pairs[0]] == 0.0
    for i, j in pairs[1:]:  # small distances keep their relative precision
        assert abs(out[i, j] - ref[i, j]) <= 1e-5 * ref[i, j], (i, j)


def test_float32_inputs_compute_in_float32_and_float64_in_float64():
    a32 = np.ones((2, 3), dtype=np.float32)
    assert siamcli.matrix(a32, metric="cosine").values.dtype == np.float32
    assert siamcli.matrix(a32.astype(np.float64), metric="cosine").values.dtype == np.float64
    assert siamcli.matrix(a32, a32.astype(np.float64), metric="euclidean").values.dtype == np.float64
    assert siamcli.matrix(a32.astype(np.float16), metric="dot").values.dtype == np.float32


# ---------------------------------------------------------------- zero vectors


def _with_zero_rows():
    a = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [-1.0, 0.5, 2.0]])
    b = np.array([[0.0, 0.0, 0.0], [3.0, 1.0, 0.0]])
    return a, b


def test_zero_vector_error_names_file_and_rows():
    a, b = _with_zero_rows()
    with pytest.raises(InputError) as err:
        siamcli.compare(a, b, metric="cosine")
    assert "row 1" in str(err.value) and "zero" in str(err.value)


def test_zero_vector_zero_matches_scikit_learn_cosine_similarity():
    from sklearn.metrics.pairwise import cosine_similarity

    a, b = _with_zero_rows()
    ours = siamcli.matrix(a, b, metric="cosine", zero_vector="zero").values
    np.testing.assert_allclose(ours, cosine_similarity(a, b), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parallel_pairs_are_exact_beside_a_zero_vector(dtype):
    # the zero row's NaN column lies in every chunk the parallel pairs lie in: the quick test of a
    # whole chunk's extremes must not let NaN hide them
    a = np.random.default_rng(3).normal(size=(40, 384)).astype(dtype)
    b = np.vstack([np.zeros((1, 384), dtype), a * 4])  # times 4: exactly parallel
    cos = siamcli.matrix(a, b, metric="cosine", zero_vector="nan").values
    assert np.isnan(cos[:, 0]).all() and (np.diag(cos[:, 1:]) == 1.0).all()
    distance = siamcli.matrix(a, b, metric="cosine_distance", zero_vector="nan").values
    assert (np.diag(distance[:, 1:]) == 0.0).all()
    angular = siamcli.matrix(a, b, metric="angular", zero_vector="nan").values
    assert (np.diag(angular[:, 1:]) == 0.0).all()


@pytest.mark.parametrize("name,neutral", [("cosine", 0.0), ("cosine_distance", 1.0), ("angular", 0.5)])
def test_zero_vector_policies_give_nan_or_the_neutral_score(name, neutral):
    a, b = _with_zero_rows()
    nan = siamcli.matrix(a, b, metric=name, zero_vector="nan").values
    zero = siamcli.matrix(a, b, metric=name, zero_vector="zero").values
    assert np.isnan(nan[1]).all() and np.isnan(nan[:, 0]).all()
    assert (zero[1] == neutral).all() and (zero[:, 0] == neutral).all()
    assert np.isfinite(nan[[0, 2]][:, 1]).all()


def test_correlation_treats_constant_rows_as_undefined():
    a = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])
    with pytest.raises(InputError, match="constant"):
        siamcli.matrix(a, metric="correlation")


def test_normalize_makes_euclidean_a_function_of_cosine():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(5, 8)) * 10, rng.normal(size=(4, 8))
    euclid = siamcli.matrix(a, b, metric="euclidean", normalize=True).values
    cos = 1.0 - cdist(a, b, "cosine")
    np.testing.assert_allclose(euclid, np.sqrt(2.0 - 2.0 * cos), rtol=1e-9)


def test_normalize_refuses_zero_rows_by_default():
    a, b = _with_zero_rows()
    with pytest.raises(InputError, match="normalise"):
        siamcli.matrix(a, b, metric="euclidean", normalize=True)


def test_jensenshannon_refuses_negative_values():
    with pytest.raises(InputError, match="negative"):
        siamcli.matrix(np.array([[0.5, -0.1]]), np.array([[0.2, 0.8]]), metric="jensenshannon")


def test_minkowski_p_is_validated_and_reserved_for_minkowski():
    with pytest.raises(UsageError):
        siamcli.matrix(np.eye(2), metric="minkowski", p=0)
    with pytest.raises(UsageError):
        siamcli.matrix(np.eye(2), metric="euclidean", p=3)


# ---------------------------------------------------------------- mahalanobis covariance


def test_mahalanobis_with_fewer_rows_than_dimensions_uses_ledoit_wolf_like_scikit_learn():
    from sklearn.covariance import ledoit_wolf

    rng = np.random.default_rng(11)
    a, b = rng.normal(size=(6, 20)), rng.normal(size=(5, 20))
    notes = []
    comparison = siamcli.prepare(a, b, metric="mahalanobis", notify=notes.append)
    shrunk, coefficient = ledoit_wolf(np.vstack([a, b]))
    assert any("Ledoit-Wolf" in n for n in notes), notes
    assert f"{coefficient:.3g}" in notes[0]
    w = comparison.params.whitener
    np.testing.assert_allclose(w @ w.T, np.linalg.inv(shrunk), rtol=1e-8, atol=1e-10)
    ours = siamcli.engine.fill_matrix(comparison)
    np.testing.assert_allclose(ours, cdist(a, b, "mahalanobis", VI=np.linalg.inv(shrunk)), rtol=1e-9)


def test_mahalanobis_uses_the_exact_inverse_when_it_can_and_says_so():
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=(40, 5)), rng.normal(size=(30, 5))
    notes = []
    ours = siamcli.matrix(a, b, metric="mahalanobis", notify=notes.append).values
    np.testing.assert_allclose(ours, cdist(a, b, "mahalanobis"), rtol=1e-9)
    assert "inverse covariance of 70 rows" in notes[0]


def test_mahalanobis_cov_from_uses_that_data():
    rng = np.random.default_rng(13)
    a, b, ref = rng.normal(size=(4, 3)), rng.normal(size=(3, 3)), rng.normal(size=(50, 3)) * [1, 5, 0.2]
    ours = siamcli.matrix(a, b, metric="mahalanobis", cov_from=ref).values
    np.testing.assert_allclose(ours, cdist(a, b, "mahalanobis", VI=np.linalg.inv(np.cov(ref.T))), rtol=1e-9)


def test_mahalanobis_degenerate_data_falls_back_to_the_pseudo_inverse():
    a = np.tile([[1.0, 2.0, 3.0]], (4, 1))
    notes = []
    values = siamcli.matrix(a, metric="mahalanobis", notify=notes.append).values
    assert "pseudo-inverse" in notes[0]
    assert (values == 0).all()


# ---------------------------------------------------------------- plugins


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A fake installed distribution that declares a metric through the entry-point group."""
    (tmp_path / "siamcli_testplugin.py").write_text(textwrap.dedent('''
        import numpy as np
        from siamcli.metrics import Metric

        def _matrix(a, b, params):
            return np.abs(a[:, None, :] - b[None, :, :]).sum(axis=2) * 2.0

        def _paired(a, b, params):
            return np.abs(a - b).sum(axis=1) * 2.0

        metric = Metric(
            name="doubled_l1", kind="distance", matrix=_matrix, paired=_paired,
            reference=lambda u, v, params: 2.0 * sum(abs(x - y) for x, y in zip(u, v)),
            summary="twice the manhattan distance (test plugin)", aliases=("l1x2",),
        )
    '''))
    info = tmp_path / "siamcli_testplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: siamcli-testplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[siamcli.metrics]\ndoubled_l1 = siamcli_testplugin:metric\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    saved = (dict(registry.METRICS), dict(registry._lookup), registry._plugins_loaded)
    registry._plugins_loaded = False
    yield tmp_path
    registry.METRICS.clear()
    registry.METRICS.update(saved[0])
    registry._lookup.clear()
    registry._lookup.update(saved[1])
    registry._plugins_loaded = saved[2]
    sys.modules.pop("siamcli_testplugin", None)


def test_plugin_metric_is_found_through_the_entry_point_group(plugin_dir):
    metric = get_metric("l1x2")
    assert metric.name == "doubled_l1"
    a, b = np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([[0.0, 1.0]])
    np.testing.assert_allclose(siamcli.matrix(a, b, metric="doubled_l1").values, 2 * cdist(a, b, "cityblock"))
    assert "doubled_l1" in [m.name for m in siamcli.available_metrics()]


def test_plugin_metric_is_listed_by_the_installed_executable(plugin_dir):
    import json
    import os
    import subprocess

    env = dict(os.environ, PYTHONPATH=str(plugin_dir))
    out = subprocess.run([sys.executable, "-m", "siamcli", "metrics", "-f", "json"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert "doubled_l1" in [m["name"] for m in json.loads(out)]


def test_broken_plugin_warns_instead_of_failing(tmp_path, monkeypatch):
    info = tmp_path / "broken_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[siamcli.metrics]\nbroken = no_such_module_xyz:metric\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    warnings = []
    names = [m.name for m in metrics_module.available_metrics(warn=warnings.append)]
    assert "cosine" in names
    assert any("broken" in w for w in warnings)


def test_register_rejects_a_taken_name():
    with pytest.raises(ValueError, match="already registered"):
        metrics_module.register(get_metric("cosine"))


def test_reference_functions_agree_with_math_on_a_hand_example():
    u, v = [3.0, 4.0], [4.0, 3.0]
    assert get_metric("cosine").reference(u, v, Params()) == pytest.approx(24 / 25)
    assert get_metric("euclidean").reference(u, v, Params()) == pytest.approx(math.sqrt(2))
    assert get_metric("angular").reference(u, v, Params()) == pytest.approx(math.acos(24 / 25) / math.pi)


@pytest.mark.parametrize("path", ["matrix", "paired", "topk", "limit"])
def test_braycurtis_of_a_vector_and_its_negation_is_an_error_naming_the_pair_never_inf(path):
    a = np.array([[1.0, 2.0], [3.0, 1.0]])
    b = np.array([[2.0, 2.0], [-3.0, -1.0]])  # B row 1 = -A row 1
    run = {"matrix": lambda: siamcli.matrix(a, b, metric="braycurtis"),
           "paired": lambda: siamcli.compare(a, b, metric="braycurtis", paired=True),
           "topk": lambda: siamcli.compare(a, b, metric="braycurtis", top_k=2),
           "limit": lambda: siamcli.compare(a, b, metric="braycurtis", limit="all")}[path]
    with pytest.raises(InputError, match="A row 1 and B row 1 is infinite"):
        run()


def _kl_matrix(a, b, params):
    return (a[:, None, :] * np.log(a[:, None, :] / b[None, :, :])).sum(axis=2)


def test_a_plugin_metric_that_does_not_say_it_is_symmetric_is_never_mirrored():
    """Kullback-Leibler divergence: KL(a||b) != KL(b||a). A record that leaves `symmetric` unset
    (as a plugin written before it existed does) gets every ordered pair computed."""
    kl = Metric("kl_test", "distance", _kl_matrix, lambda a, b, params: (a * np.log(a / b)).sum(axis=1),
                lambda u, v, params: sum(x * math.log(x / y) for x, y in zip(u, v)), "KL divergence (test)")
    assert kl.symmetric is False
    x = np.random.default_rng(5).dirichlet(np.ones(6), size=30)
    brute = np.array([[sum(p * math.log(p / q) for p, q in zip(u, v)) for v in x] for u in x])
    assert not np.allclose(brute, brute.T)
    np.testing.assert_allclose(siamcli.matrix(x, metric=kl, block_rows=7).values, brute, rtol=1e-12, atol=1e-15)
    ranked = siamcli.compare(x, metric=kl, top_k=3, block_rows=7)
    off = brute + np.diag(np.full(len(x), np.inf))
    np.testing.assert_array_equal(ranked.b_index.reshape(-1, 3), np.argsort(off, axis=1, kind="stable")[:, :3])
    rows, cols = np.nonzero(~np.eye(len(x), dtype=bool))  # every ordered pair but the self-pairs
    order = np.lexsort((cols, rows, brute[rows, cols]))
    for limit in (12, None):
        best = siamcli.compare(x, metric=kl, limit=limit if limit else "all", block_rows=7)
        np.testing.assert_array_equal(best.a_index, rows[order][:limit])
        np.testing.assert_array_equal(best.b_index, cols[order][:limit])
        np.testing.assert_allclose(best.score, brute[rows, cols][order][:limit], rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_built_in_metrics_that_are_mirrored_score_both_orders_alike(name):
    """Every built-in declares itself symmetric, and is: scipy (or the metric's reference) agrees."""
    metric = get_metric(name)
    assert metric.symmetric
    rng = np.random.default_rng(3)
    a, b = rng.random((5, 4)) + 0.1, rng.random((6, 4)) + 0.1
    forward = siamcli.matrix(a, b, metric=name).values
    backward = siamcli.matrix(b, a, metric=name).values
    np.testing.assert_allclose(forward, backward.T, rtol=1e-12, atol=1e-12)

"""float32 euclidean, sqeuclidean and mahalanobis against scipy's float64 cdist on data with a large
common offset (scikit-learn's datasets, random data + 1000), on the matrix and the top-k screen,
and beside scikit-learn's euclidean_distances (which computes float32 input in float64)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

import siamcli
from siamcli import engine
from siamcli.metrics.shift import fit_shift, shifted


def _dataset(name: str) -> np.ndarray:
    """float32 rows of a scikit-learn dataset (shipped with it) or of random data with an offset."""
    if name == "offset":
        return (np.random.default_rng(19).normal(size=(600, 384)) + 1000.0).astype(np.float32)
    from sklearn import datasets

    return getattr(datasets, f"load_{name}")().data.astype(np.float32)


DATASETS = ["breast_cancer", "digits", "iris", "wine", "offset"]


def _scale(a: np.ndarray, b: np.ndarray, power: int = 1) -> np.ndarray:
    """max(1, |a|, |b|) ** power for every pair: the bound the errors are held to, times 1e-5."""
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    return np.maximum(1.0, np.maximum(na[:, None], nb[None, :])) ** power


def _halves(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x[::2], x[1::2]


@pytest.mark.slow
@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("metric, power", [("euclidean", 1), ("sqeuclidean", 2)])
def test_float32_distances_are_within_1e_5_of_the_norms_of_scipy_float64(name, metric, power):
    x = _dataset(name)
    a, b = _halves(x)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    for got, ref, scale in [
        (siamcli.matrix(x, metric=metric).values, cdist(x.astype(np.float64), x.astype(np.float64), metric),
         _scale(x, x, power)),
        (siamcli.matrix(a, b, metric=metric).values, cdist(a64, b64, metric), _scale(a64, b64, power)),
    ]:
        assert got.dtype == np.float32
        assert np.max(np.abs(got - ref) / scale) <= 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean"])
def test_float32_euclidean_is_at_least_as_accurate_as_scikit_learn(name, metric):
    """scikit-learn computes float32 input in float64 chunks; siamcli's matrix, its two-set matrix
    and its top-k screen's scores must err no more than it does against scipy in float64."""
    from sklearn.metrics.pairwise import euclidean_distances

    x = _dataset(name)
    x64 = x.astype(np.float64)
    ref = cdist(x64, x64, metric)
    theirs = np.abs(euclidean_distances(x, x, squared=metric == "sqeuclidean").astype(np.float64) - ref).max()
    assert np.abs(siamcli.matrix(x, metric=metric).values - ref).max() <= theirs
    a, b = _halves(x)
    assert np.abs(siamcli.matrix(a, b, metric=metric).values - ref[::2, 1::2]).max() <= theirs
    ranking = siamcli.compare(x, metric=metric, top_k=5)
    assert np.abs(ranking.score - ref[ranking.a_index, ranking.b_index]).max() <= theirs
    ranking = siamcli.compare(a, b, metric=metric, top_k=5)
    assert np.abs(ranking.score - ref[::2, 1::2][ranking.a_index, ranking.b_index]).max() <= theirs
    # and in float64 (--dtype float64) far below either
    if theirs > 0:
        assert np.abs(siamcli.matrix(x64, metric=metric).values - ref).max() <= 1e-3 * theirs


@pytest.mark.slow
@pytest.mark.parametrize("name", DATASETS)
def test_float32_mahalanobis_matches_scipy_with_the_fitted_inverse_covariance(name):
    x = _dataset(name)
    x64 = x.astype(np.float64)
    params = engine.prepare(x, metric="mahalanobis").params
    vi = params.whitener @ params.whitener.T
    if x.shape[1] < 100:
        ref = cdist(x64, x64, "mahalanobis", VI=vi)
    else:  # scipy's mahalanobis takes minutes in 384 dimensions: whitened rows' euclidean, in float64
        ref = cdist(x64 @ params.whitener, x64 @ params.whitener)
    got = siamcli.matrix(x, metric="mahalanobis").values
    centred = np.sqrt(np.einsum("ij,jk,ik->i", x64 - params.center, vi, x64 - params.center))
    scale = np.maximum(1.0, np.maximum(centred[:, None], centred[None, :]))  # its own units: whitened norms
    assert np.max(np.abs(got - ref) / scale) <= 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("name", DATASETS)
def test_float32_euclidean_top_k_screen_finds_scipys_neighbours(name):
    x = _dataset(name)
    k = 5
    x64 = x.astype(np.float64)
    ref = cdist(x64, x64)
    np.fill_diagonal(ref, np.inf)
    comp = engine.prepare(x, metric="euclidean")
    assert engine.can_screen(comp, k)
    ranking = siamcli.compare(x, metric="euclidean", top_k=k)
    scores = ranking.score.reshape(len(x), k)
    best = np.sort(ref, axis=1)[:, :k]  # the k smallest distances, whichever rows tie for them
    assert np.max(np.abs(scores - best) / _scale(x, x).max(axis=1, keepdims=True)) <= 1e-5
    got = ref[np.repeat(np.arange(len(x)), k), ranking.b_index].reshape(len(x), k)
    assert np.max(np.abs(got - best) / _scale(x, x).max(axis=1, keepdims=True)) <= 1e-5


def test_screen_on_offset_data_dismisses_almost_every_pair():
    """Before the shift, the rounding bound of |a|^2 + |b|^2 - 2ab on rows near 1000 exceeded every
    distance and the screen kept every pair as a candidate."""
    from siamcli.metrics.products import _augmented_left, _augmented_right

    x = _dataset("offset")
    screen = siamcli.get_metric("euclidean").screen.for_params(engine.prepare(x, metric="euclidean").params)
    left, right = screen.left(x), screen.right(x)
    spread = np.sort(cdist(x, x) ** 2, axis=1)[:, [1, -1]]  # nearest and farthest squared distances
    assert np.all(screen.slack(left, right) < 0.01 * (spread[:, 1] - spread[:, 0]))
    plain = siamcli.get_metric("euclidean").screen.slack(_augmented_left(x), _augmented_right(x))
    assert np.all(plain > spread[:, 1])


@settings(max_examples=40, deadline=None)
@given(offset=st.floats(-1e6, 1e6), spread=st.floats(1e-3, 1e3), seed=st.integers(0, 2**32 - 1),
       dim=st.integers(1, 40))
def test_float32_euclidean_bound_holds_for_any_offset_and_spread(offset, spread, seed, dim):
    rng = np.random.default_rng(seed)
    a = (offset + spread * rng.normal(size=(30, dim))).astype(np.float32)
    b = (offset + spread * rng.normal(size=(20, dim))).astype(np.float32)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    got = siamcli.matrix(a, b, metric="euclidean").values
    assert np.max(np.abs(got - cdist(a64, b64)) / _scale(a64, b64)) <= 1e-5
    got = siamcli.matrix(a, b, metric="sqeuclidean").values
    assert np.max(np.abs(got - cdist(a64, b64, "sqeuclidean")) / _scale(a64, b64, 2)) <= 1e-5


@given(offset=st.floats(-1e30, 1e30), spread=st.floats(0.0, 1e3), seed=st.integers(0, 2**32 - 1))
def test_shift_is_a_short_value_near_the_mean(offset, spread, seed):
    x = offset + spread * np.random.default_rng(seed).normal(size=(50, 3))
    shift = fit_shift([x], 3)
    low, high = x.min(axis=0), x.max(axis=0)
    rounding = 2e-14 * np.abs(x).max(axis=0)  # of the float64 sum of 50 rows
    assert np.all((shift >= low - (high - low) / 64 - rounding) & (shift <= high + (high - low) / 64 + rounding))
    # a range whose 64th part underflows (subnormals) takes its lowest value, within the range
    near = np.where(high - low < 2.0**-1000, high - low, (high - low) / 64)
    assert np.all(np.abs(shift - x.mean(axis=0)) <= near + rounding)


def test_shift_centres_integer_and_offset_data_exactly_in_float32():
    digits = _dataset("digits")
    centred = shifted(digits, fit_shift([digits], digits.shape[1]))
    shift = fit_shift([digits], digits.shape[1])
    np.testing.assert_array_equal(centred.astype(np.float64), digits.astype(np.float64) - shift)
    offset = _dataset("offset")
    shift = fit_shift([offset], offset.shape[1])
    np.testing.assert_array_equal(shifted(offset, shift).astype(np.float64), offset.astype(np.float64) - shift)


def test_shift_is_fitted_once_on_both_inputs_and_shared_by_every_block():
    a = (np.random.default_rng(1).normal(size=(300, 8)) + 500).astype(np.float32)
    b = (np.random.default_rng(2).normal(size=(200, 8)) - 500).astype(np.float32)
    shift = engine.prepare(a, b, metric="euclidean").params.shift
    both = np.vstack([a, b]).astype(np.float64)
    spread = both.max(axis=0) - both.min(axis=0)
    assert np.all(np.abs(shift - both.mean(axis=0)) <= spread / 64)  # the mean of both, not of either
    comp = engine.prepare(a, b, metric="euclidean", memory=2**20)
    kernel = siamcli.get_metric("euclidean").matrix
    np.testing.assert_array_equal(comp.block(100, 164, 50, 114), kernel(a[100:164], b[50:114], comp.params))


def test_self_top_k_screens_with_the_fitted_shift(monkeypatch):
    """A set against itself (engine/selfscreen) screens with the screen fitted to the comparison's
    shift, as the two-set path does: on rows near 1000 the plain screen keeps every pair."""
    from siamcli.metrics.record import Screen

    fitted = []
    original = Screen.for_params
    monkeypatch.setattr(Screen, "for_params", lambda self, params: fitted.append(params) or original(self, params))
    x = _dataset("offset")
    ranking = siamcli.compare(x, metric="euclidean", top_k=3)
    assert fitted, "the self-comparison's screen was not fitted to the comparison"
    ref = cdist(x.astype(np.float64), x.astype(np.float64))
    np.fill_diagonal(ref, np.inf)
    best = np.sort(ref, axis=1)[:, :3]
    assert np.max(np.abs(ranking.score.reshape(len(x), 3) - best) / _scale(x, x).max(axis=1, keepdims=True)) <= 1e-5

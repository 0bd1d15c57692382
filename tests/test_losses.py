"""Contrastive and triplet losses against plain per-pair loops, scipy distances and hand-worked numbers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from siamcli.errors import InputError, ShapeError, UnknownMetricError, UsageError
from siamcli.reports.losses import (
    contrastive_loss,
    distance_metric,
    margin_sweep,
    pair_distances,
    triplet_distances,
    triplet_loss,
)

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DISTANCES = st.lists(st.floats(0, 100, allow_nan=False, allow_subnormal=False), min_size=1, max_size=30)
MARGINS = st.floats(0, 120, allow_nan=False, allow_subnormal=False)


def loop_contrastive(d, similar, margin, squared=True):
    """Per pair, in plain Python: similar pairs pay d (squared), dissimilar ones max(0, margin - d)."""
    terms, active_pos, active_neg = [], 0, 0
    for dist, same in zip(d, similar):
        if same:
            terms.append(dist**2 if squared else dist)
            active_pos += dist > 0
        else:
            gap = max(0.0, margin - dist)
            terms.append(gap**2 if squared else gap)
            active_neg += dist < margin
    return math.fsum(terms) / len(terms), active_pos, active_neg


def loop_triplet(d_ap, d_an, margin):
    terms, easy, semi, hard = [], 0, 0, 0
    for ap, an in zip(d_ap, d_an):
        terms.append(max(0.0, ap - an + margin))
        if an - ap > margin:
            easy += 1
        elif an - ap > 0:
            semi += 1
        else:
            hard += 1
    return math.fsum(terms) / len(terms), easy, semi, hard


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    return load_digits(return_X_y=True)


# ---------------------------------------------------------------- hand-worked examples


def test_contrastive_loss_hand_example():
    # similar: 0 -> 0, 0.5 -> 0.25; dissimilar (margin 1): 1.5 -> 0, 0.2 -> 0.8^2 = 0.64
    r = contrastive_loss([0.0, 0.5, 1.5, 0.2], [1, 1, 0, 0], margin=1.0)
    assert r.loss == pytest.approx(0.89 / 4)
    assert (r.positive_loss, r.negative_loss) == pytest.approx((0.125, 0.32))
    assert (r.active_positive_fraction, r.active_negative_fraction, r.active_fraction) == (0.5, 0.5, 0.5)
    assert (r.n, r.positive_pairs, r.negative_pairs, r.kind, r.squared) == (4, 2, 2, "contrastive", True)
    unsquared = contrastive_loss([0.0, 0.5, 1.5, 0.2], [True, True, False, False], margin=1.0, squared=False)
    assert unsquared.loss == pytest.approx((0.5 + 0.8) / 4)


def test_triplet_loss_hand_example():
    # d_an - d_ap = -0.5 (hard), 0.2 (semi-hard), 2.0 (easy); margin 0.5 -> terms 1.0, 0.3, 0
    r = triplet_loss([1.0, 1.0, 1.0], [0.5, 1.2, 3.0], margin=0.5)
    assert r.loss == pytest.approx(1.3 / 3)
    assert r.active_fraction == pytest.approx(2 / 3)
    assert (r.easy_fraction, r.semi_hard_fraction, r.hard_fraction) == pytest.approx((1 / 3, 1 / 3, 1 / 3))


# ---------------------------------------------------------------- against plain loops


@pytest.mark.parametrize("squared", [True, False])
def test_contrastive_loss_matches_python_loop(squared):
    rng = np.random.default_rng(0)
    d = rng.gamma(2.0, 0.5, size=500)
    d[:5] = 0.0
    similar = rng.random(500) < 0.3
    for margin in (0.0, 0.3, 1.0, 2.5):
        loss, active_pos, active_neg = loop_contrastive(d.tolist(), similar.tolist(), margin, squared)
        r = contrastive_loss(d, similar, margin, squared=squared)
        assert r.loss == pytest.approx(loss, rel=1e-12)
        assert r.active_positive_fraction == active_pos / similar.sum()
        assert r.active_negative_fraction == active_neg / (~similar).sum()
        assert r.active_fraction == (active_pos + active_neg) / 500


def test_triplet_loss_matches_python_loop():
    rng = np.random.default_rng(1)
    d_ap, d_an = rng.gamma(2.0, 0.5, size=(2, 400))
    d_an[:10] = d_ap[:10]  # ties: hard, and inactive at margin 0
    for margin in (0.0, 0.2, 1.0):
        loss, easy, semi, hard = loop_triplet(d_ap.tolist(), d_an.tolist(), margin)
        r = triplet_loss(d_ap, d_an, margin)
        assert r.loss == pytest.approx(loss, rel=1e-12)
        assert (r.easy_fraction, r.semi_hard_fraction, r.hard_fraction) == (easy / 400, semi / 400, hard / 400)
        assert r.active_fraction == sum(an - ap + 0.0 < margin for ap, an in zip(d_ap, d_an)) / 400


# ---------------------------------------------------------------- properties


@SETTINGS
@given(DISTANCES, st.data(), MARGINS, MARGINS)
def test_contrastive_loss_properties(d, data, m1, m2):
    similar = data.draw(st.lists(st.booleans(), min_size=len(d), max_size=len(d)))
    low, high = sorted((m1, m2))
    a, b = contrastive_loss(d, similar, low), contrastive_loss(d, similar, high)
    assert a.loss >= 0
    assert b.loss >= a.loss
    assert b.active_fraction >= a.active_fraction
    if a.active_negative_fraction is not None:
        assert b.active_negative_fraction >= a.active_negative_fraction
    assert a.loss == pytest.approx(loop_contrastive(d, similar, low)[0], rel=1e-9, abs=1e-300)
    json.dumps(b.record(), allow_nan=False)


@SETTINGS
@given(st.data(), MARGINS, MARGINS)
def test_triplet_loss_properties(data, m1, m2):
    d_ap = data.draw(DISTANCES)
    d_an = data.draw(st.lists(st.floats(0, 100, allow_nan=False, allow_subnormal=False),
                              min_size=len(d_ap), max_size=len(d_ap)))
    low, high = sorted((m1, m2))
    a, b = triplet_loss(d_ap, d_an, low), triplet_loss(d_ap, d_an, high)
    assert a.loss >= 0
    assert b.loss >= a.loss
    assert b.active_fraction >= a.active_fraction
    assert a.easy_fraction + a.semi_hard_fraction + a.hard_fraction == pytest.approx(1.0)
    zero = triplet_loss(d_ap, d_an, 0.0)
    positive_part = [max(0.0, ap - an) for ap, an in zip(d_ap, d_an)]
    assert zero.loss == pytest.approx(math.fsum(positive_part) / len(d_ap), rel=1e-12, abs=1e-300)
    assert zero.semi_hard_fraction == 0.0


# ---------------------------------------------------------------- distances from rows


@pytest.mark.parametrize("metric, scipy_name, kwargs", [
    ("euclidean", "euclidean", {}),
    ("sqeuclidean", "sqeuclidean", {}),
    ("cosine_distance", "cosine", {}),
    ("l1", "cityblock", {}),
    ("chebyshev", "chebyshev", {}),
    ("minkowski", "minkowski", {"p": 3.0}),
])
def test_pair_distances_match_cdist_diagonal(metric, scipy_name, kwargs):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 60, 7))
    expected = np.diag(cdist(a, b, scipy_name, **kwargs))
    np.testing.assert_allclose(pair_distances(a, b, metric, **kwargs), expected, rtol=1e-10, atol=1e-12)


def test_pair_distances_mahalanobis_uses_covariance_of_all_rows():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 80, 4)) * [1.0, 2.0, 3.0, 0.5]
    inverse = np.linalg.inv(np.cov(np.vstack([a, b]), rowvar=False))
    expected = np.diag(cdist(a, b, "mahalanobis", VI=inverse))
    np.testing.assert_allclose(pair_distances(a, b, "mahalanobis"), expected, rtol=1e-9)


def test_triplet_distances_match_cdist_diagonal():
    rng = np.random.default_rng(4)
    anchor, positive, negative = rng.standard_normal((3, 30, 5))
    d_ap, d_an = triplet_distances(anchor, positive, negative, "angular")
    cos = lambda u, v: np.clip(1 - np.diag(cdist(u, v, "cosine")), -1, 1)  # noqa: E731
    np.testing.assert_allclose(d_ap, np.arccos(cos(anchor, positive)) / np.pi, rtol=1e-9)
    np.testing.assert_allclose(d_an, np.arccos(cos(anchor, negative)) / np.pi, rtol=1e-9)


@pytest.mark.parametrize("name", ["cosine", "dot", "inner"])
def test_distance_metric_refuses_similarities(name):
    with pytest.raises(UsageError, match="is a similarity.*cosine_distance"):
        distance_metric(name)
    with pytest.raises(UsageError, match="similarity"):
        pair_distances(np.ones((2, 3)), np.ones((2, 3)), name)
    with pytest.raises(UsageError, match="similarity"):
        contrastive_loss([1.0], [True], 1.0, metric=name)


def test_pair_distances_input_errors():
    with pytest.raises(InputError, match="a has 3 rows but b has 2"):
        pair_distances(np.ones((3, 2)), np.ones((2, 2)))
    with pytest.raises(ShapeError, match="dimensions"):
        pair_distances(np.ones((3, 2)), np.ones((3, 4)))
    undefined = r"row 1 is a zero vector, for which cosine_distance is undefined \(1 such row\)"
    with pytest.raises(InputError, match=undefined):
        pair_distances(np.array([[1.0, 0.0], [0.0, 0.0]]), np.ones((2, 2)), "cosine_distance")
    with pytest.raises(InputError, match="row 0, column 1 is NaN; embeddings must be finite"):
        pair_distances(np.array([[1.0, np.nan]]), np.ones((1, 2)))
    with pytest.raises(UnknownMetricError):
        pair_distances(np.ones((1, 2)), np.ones((1, 2)), "euclidian")


# ---------------------------------------------------------------- input checks


def test_losses_reject_bad_input():
    with pytest.raises(InputError, match="similar has 2 labels but there are 3 distances"):
        contrastive_loss([1.0, 2.0, 3.0], [True, False], 1.0)
    with pytest.raises(InputError, match="d_ap has 2 values but d_an has 1"):
        triplet_loss([1.0, 2.0], [1.0], 1.0)
    with pytest.raises(UsageError, match="margin must be a finite number >= 0"):
        contrastive_loss([1.0], [True], -0.1)
    with pytest.raises(UsageError, match="margin"):
        triplet_loss([1.0], [1.0], float("nan"))
    with pytest.raises(InputError, match="label 1 is 2"):
        contrastive_loss([1.0, 2.0], [1, 2], 1.0)
    with pytest.raises(InputError, match="value 1 is -0.5"):
        contrastive_loss([1.0, -0.5], [1, 0], 1.0)
    with pytest.raises(InputError, match="no distances"):
        triplet_loss([], [], 1.0)
    with pytest.raises(UsageError, match="kind must be one of contrastive, triplet"):
        margin_sweep("hinge", [1.0], [1.0])


# ---------------------------------------------------------------- digits: a real labelled set


def reference_contrastive_hadsell(x1, x2, y_dissimilar, margin):
    """Hadsell et al. 2006 as printed: Y = 0 for similar pairs, factor 1/2, D the euclidean distance."""
    dist = np.sqrt(((x1 - x2) ** 2).sum(axis=1))
    per_pair = (1 - y_dissimilar) * 0.5 * dist**2 + y_dissimilar * 0.5 * np.maximum(0, margin - dist) ** 2
    return per_pair.mean()


def reference_triplet_facenet(anchor, positive, negative, alpha):
    """FaceNet (Schroff et al. 2015) with squared euclidean distances."""
    d_ap = ((anchor - positive) ** 2).sum(axis=1)
    d_an = ((anchor - negative) ** 2).sum(axis=1)
    return np.maximum(d_ap - d_an + alpha, 0).mean()


def test_contrastive_loss_on_digits_matches_hadsell_reference(digits):
    x, y = digits
    x = x / 16.0
    rng = np.random.default_rng(5)
    i, j = rng.integers(0, len(x), size=(2, 3000))
    similar = y[i] == y[j]
    d = pair_distances(x[i], x[j], "euclidean")
    for margin in (2.0, 4.0, 6.0):
        r = contrastive_loss(d, similar, margin, metric="euclidean")
        assert r.loss == pytest.approx(2 * reference_contrastive_hadsell(x[i], x[j], (~similar).astype(float), margin),
                                       rel=1e-10)
        assert r.metric == "euclidean"
    assert (r.positive_pairs, r.negative_pairs) == (similar.sum(), (~similar).sum())
    assert r.positive_loss == pytest.approx(np.mean(d[similar] ** 2))


def test_triplet_loss_on_digits_matches_facenet_reference(digits):
    x, y = digits
    x = x / 16.0
    rng = np.random.default_rng(6)
    anchors = rng.integers(0, len(x), size=2000)
    positives = np.array([rng.choice(np.flatnonzero((y == y[a]) & (np.arange(len(x)) != a))) for a in anchors])
    negatives = np.array([rng.choice(np.flatnonzero(y != y[a])) for a in anchors])
    d_ap, d_an = triplet_distances(x[anchors], x[positives], x[negatives], "sqeuclidean")
    for alpha in (0.0, 2.0, 10.0):
        r = triplet_loss(d_ap, d_an, alpha, metric="sqeuclidean")
        expected = reference_triplet_facenet(x[anchors], x[positives], x[negatives], alpha)
        assert r.loss == pytest.approx(expected, rel=1e-10)
    assert r.hard_fraction < 0.5  # digits' raw pixels already rank most same-class rows closer


# ---------------------------------------------------------------- margin sweeps


def test_margin_sweep_contrastive_defaults_follow_quantiles_of_dissimilar_distances():
    rng = np.random.default_rng(7)
    d = rng.gamma(3.0, 1.0, size=2000)
    similar = rng.random(2000) < 0.5
    d[similar] *= 0.3
    sweep = margin_sweep("contrastive", d, similar, metric="l2")
    margins = [row.margin for row in sweep.rows]
    assert margins == sorted(margins) and margins[0] == 0.0
    negatives = d[~similar]
    for row in sweep.rows:
        assert row.record() == contrastive_loss(d, similar, row.margin, metric="euclidean").record()
    for q in (0.1, 0.5, 0.9):  # at the rounded q-quantile about q of the dissimilar pairs are active
        row = min(sweep.rows, key=lambda r: abs(r.margin - np.quantile(negatives, q)))
        assert row.active_negative_fraction == pytest.approx(q, abs=0.02)
    assert f"{np.median(negatives):.3g}" in sweep.suggestion
    assert sweep.metric == "euclidean" and sweep.kind == "contrastive"
    json.dumps(sweep.record(), allow_nan=False)
    assert list(next(sweep.records())) == list(sweep.fields)


def test_margin_sweep_triplet_given_margins_in_order():
    d_ap, d_an = [1.0, 1.0, 1.0, 2.0], [0.5, 1.2, 3.0, 2.5]
    sweep = margin_sweep("triplet", d_ap, d_an, margins=[1.0, 0.0, 0.25])
    assert [r.margin for r in sweep.rows] == [1.0, 0.0, 0.25]
    for r in sweep.rows:
        assert r.loss == pytest.approx(loop_triplet(d_ap, d_an, r.margin)[0])
    defaults = margin_sweep("triplet", d_ap, d_an)
    assert all(r.margin >= 0 for r in defaults.rows) and defaults.rows[0].margin == 0.0
    assert "median of d_an - d_ap" in defaults.suggestion
    with pytest.raises(UsageError, match="margin"):
        margin_sweep("triplet", d_ap, d_an, margins=[0.5, -1.0])


def test_loss_record_has_plain_values_and_none_for_empty_groups():
    r = contrastive_loss(np.array([0.5, 1.0], dtype=np.float32), np.array([True, True]), 2.0, metric="euclidean")
    record = r.record()
    assert json.loads(json.dumps(record, allow_nan=False)) == record
    assert record["negative_loss"] is None and record["active_negative_fraction"] is None
    assert {"kind", "metric", "margin", "n", "loss", "active_fraction"} <= set(record)
    assert all(type(v) in (str, int, float, bool, type(None)) for v in record.values())


def test_losses_beyond_float64_are_usage_errors_and_large_finite_ones_are_exact():
    from fractions import Fraction

    with pytest.raises(UsageError, match="exceeds the float64 range"):
        contrastive_loss([1.0, 2.0], [True, False], margin=1e308)  # (1e308 - 2)^2
    with pytest.raises(UsageError, match="exceeds the float64 range"):
        triplet_loss([1.7e308], [0.0], margin=1.7e308)  # 1.7e308 + 1.7e308
    # terms near the top of the range: their float sum overflows, their mean does not
    d_ap, d_an = [0.0] * 4, [0.5] * 4
    report = triplet_loss(d_ap, d_an, margin=1.5e308)
    exact = sum(Fraction(1.5e308) - Fraction(0.5) for _ in range(4)) / 4
    assert report.loss == float(exact)

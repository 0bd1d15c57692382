"""Finite inputs of any magnitude give finite, correct scores (or an error naming the pair).

References are computed in numpy's extended long double (x86: 64-bit mantissa, exponents to
+-16382), where the squares and products of float64 values from 1e-300 to 1e300 neither
overflow nor underflow: an independent oracle, not siamcli's own code.

Bounds asserted (stated once, used everywhere below):
- cosine, cosine_distance, angular, correlation: absolute error 1e-5 (float32 inputs), 1e-10 (float64).
- dot: |error| <= rtol |a| |b| + dims x the smallest subnormal of the score's type, rtol 1e-5 (float32) or 1e-12.
- euclidean: |error| <= rtol (|a| + |b|); sqeuclidean: rtol (|a| + |b|)^2 (the scale of the product
  the score comes from), rtol 1e-5 (float32) or 1e-9; plus twice the smallest subnormal of the score's type.
- manhattan, chebyshev, minkowski: relative 1e-9 (they sum in float64), 2e-7 for float32 inputs
  (chebyshev keeps float32 scores).
- canberra, braycurtis: absolute 1e-9. A score the long double puts beyond float64 must be an InputError.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import siamcli
from siamcli import engine
from siamcli.errors import InputError
from test_cli import assert_one_error_line, invoke, parse_jsonl

LD = np.longdouble
pytestmark = pytest.mark.skipif(np.finfo(LD).maxexp <= 1024, reason="needs an extended long double (x86)")
F32_MAX = float(np.finfo(np.float32).max)
F64_MAX = float(np.finfo(np.float64).max)
COSINE_LIKE = ("cosine", "cosine_distance", "angular", "correlation")
MAGNITUDES = ("dot", "euclidean", "sqeuclidean")
CDIST = ("manhattan", "chebyshev", "minkowski", "canberra", "braycurtis")


# ---------------------------------------------------------------- long double references


def reference(name: str, a: np.ndarray, b: np.ndarray, p: float = 2.0) -> np.ndarray:
    """The (n, m) scores in long double, from the definitions."""
    A, B = a.astype(LD), b.astype(LD)
    if name == "correlation":
        for _ in range(2):  # twice: a second mean takes out the first one's rounding (nearly constant rows)
            A, B = A - A.mean(axis=1, keepdims=True), B - B.mean(axis=1, keepdims=True)
    D = A[:, None, :] - B[None, :, :]
    if name in ("dot",) + COSINE_LIKE:
        dots = np.einsum("id,jd->ij", A, B)
        if name == "dot":
            return dots
        with np.errstate(divide="ignore", invalid="ignore"):
            cos = dots / np.sqrt(np.einsum("id,id->i", A, A)[:, None] * np.einsum("jd,jd->j", B, B)[None, :])
        if name == "angular":  # from the unit vectors' difference and sum: arccos is imprecise near 1
            with np.errstate(divide="ignore", invalid="ignore"):
                ua = A / np.sqrt(np.einsum("id,id->i", A, A))[:, None]
                ub = B / np.sqrt(np.einsum("jd,jd->j", B, B))[:, None]
            diff = np.sqrt(((ua[:, None, :] - ub[None, :, :]) ** 2).sum(axis=-1))
            total = np.sqrt(((ua[:, None, :] + ub[None, :, :]) ** 2).sum(axis=-1))
            return 2 * np.arctan2(diff, total) / LD(np.pi)
        cos = np.clip(cos, -1, 1)
        return cos if name == "cosine" else 1 - cos
    if name in ("euclidean", "sqeuclidean", "minkowski"):
        power = LD(2.0 if name != "minkowski" else p)
        total = (np.abs(D) ** power).sum(axis=-1)
        return total if name == "sqeuclidean" else total ** (1 / power)
    if name == "manhattan":
        return np.abs(D).sum(axis=-1)
    if name == "chebyshev":
        return np.abs(D).max(axis=-1)
    if name == "canberra":
        den = np.abs(A)[:, None, :] + np.abs(B)[None, :, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, np.abs(D) / np.where(den > 0, den, 1), 0).sum(axis=-1)
    if name == "braycurtis":
        num, den = np.abs(D).sum(axis=-1), np.abs(A[:, None, :] + B[None, :, :]).sum(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(num == 0, 0, num / den)
    raise AssertionError(name)


def assert_close(name: str, got, ref, a, b, rows=None, cols=None):
    """got (float64 scores of the pairs (rows[i], cols[i]), or with rows and cols None the whole
    matrix) within the module's bounds of ref."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=LD)
    f32 = a.dtype == np.float32
    tiny = float(np.finfo(a.dtype).smallest_subnormal)  # scores may be rounded to the inputs' type
    na = np.sqrt((a.astype(LD) ** 2).sum(axis=1))
    nb = np.sqrt((b.astype(LD) ** 2).sum(axis=1))
    if rows is None:
        na, nb = np.broadcast_arrays(na[:, None], nb[None, :])
    else:
        na, nb = na[np.asarray(rows)], nb[np.asarray(cols)]
    got, ref, na, nb = got.reshape(-1), ref.reshape(-1), na.reshape(-1), nb.reshape(-1)
    undefined = np.isnan(ref)
    assert np.array_equal(np.isnan(got), undefined), (got, ref)
    got, ref, na, nb = got[~undefined], ref[~undefined], na[~undefined], nb[~undefined]
    assert np.isfinite(got).all(), got
    err = np.abs(got.astype(LD) - ref)
    if name in COSINE_LIKE:
        bound = LD(1e-5 if f32 else 1e-10) + 0 * ref
    elif name == "dot":
        bound = LD(1e-5 if f32 else 1e-12) * na * nb + a.shape[1] * LD(tiny)
    elif name in ("euclidean", "sqeuclidean"):
        scale = (na + nb) ** (2 if name == "sqeuclidean" else 1)
        bound = LD(1e-5 if f32 else 1e-9) * scale + 2 * LD(tiny)
    elif name in ("canberra", "braycurtis"):
        bound = LD(1e-9) + 0 * ref
    else:  # float64 sums; chebyshev of float32 inputs is a float32 score (one rounding)
        bound = LD(1e-9 if not f32 else 2e-7) * np.abs(ref) + LD(tiny)
    worst = int(np.argmax(err - bound)) if len(err) else 0
    assert (err <= bound).all(), f"{name}: got {got[worst]!r}, reference {float(ref[worst])!r}"


# ---------------------------------------------------------------- data: signs and exponents


def _exponent_range(dtype):
    # float64: magnitudes 1e-300..1e300; float32: its whole range, subnormals to near its largest value
    return (-997, 997) if dtype == np.float64 else (-149, 128)


@st.composite
def scaled_sets(draw, dtype, max_rows=5, max_dim=6, nonnegative=False):
    """(A, B): each row a random sign-and-mantissa vector times 2**(a row exponent drawn over the
    type's range), its elements spread over up to 2**-40 below that; B may repeat rows of A
    (exactly, or in the last bits), where the exact near-pair path takes over."""
    n, m, d = draw(st.integers(1, max_rows)), draw(st.integers(1, max_rows)), draw(st.integers(1, max_dim))
    lo, hi = _exponent_range(dtype)
    exps = draw(arrays(np.int64, (n + m,), elements=st.integers(lo, hi)))
    if draw(st.booleans()):  # one magnitude for all rows, as real data mostly has
        exps[:] = exps[0]
    spread = draw(arrays(np.int64, (n + m, d), elements=st.integers(-40, 0)))
    low = 0.0 if nonnegative else -1.0
    mant = draw(arrays(np.float64, (n + m, d), elements=st.floats(low, 1.0, allow_nan=False, exclude_max=True)))
    x = np.ldexp(mant, exps[:, None] + spread)
    if dtype == np.float32:
        x = np.clip(x, -F32_MAX, F32_MAX)
    x = x.astype(dtype)
    a, b = x[:n], x[n:].copy()
    for j in range(m):
        twin = draw(st.sampled_from(["none", "none", "same", "near"]))
        if twin != "none":
            b[j] = a[j % n]
            if twin == "near":
                k = draw(st.integers(0, d - 1))
                b[j, k] = np.nextafter(b[j, k], dtype(0) if b[j, k] != 0 else dtype(1), dtype=dtype)  # never inf
    return a, b


#: A fixed example budget: SETTINGS for the fast loop, MANY for the slow run (-m slow).
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MANY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ranked(a, b, name, **options):
    """The Ranking compare gives (also for two single vectors, where compare gives one Score)."""
    from siamcli.results import Ranking

    comp = siamcli.prepare(a, b, metric=name, zero_vector="nan")
    parts = list(engine.rankings(comp, **options))
    return Ranking.concat(parts, comp.metric, comp.a, comp.b, parts[0].grouping if parts else "row")


def _fits_float64(ref) -> bool:
    return bool((np.abs(ref[~np.isnan(ref)]) <= LD(F64_MAX)).all())


def _expect(name: str, ref, compute):
    """compute()'s result, or for a reference beyond float64 the InputError that must be raised."""
    if not _fits_float64(ref):
        with pytest.raises(InputError, match="exceeds the float64 range"):
            compute()
        return None
    return compute()


# ---------------------------------------------------------------- matrix, paired, top-k: every path


@pytest.mark.parametrize("name", COSINE_LIKE + MAGNITUDES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@SETTINGS
@given(data=st.data())
def test_kernel_matrix_matches_long_double_over_the_whole_range(name, dtype, data):
    a, b = data.draw(scaled_sets(dtype))
    ref = reference(name, a, b)
    got = _expect(name, ref, lambda: siamcli.matrix(a, b, metric=name, zero_vector="nan").values)
    if got is not None:
        assert_close(name, got, ref, a, b)


@pytest.mark.parametrize("name", COSINE_LIKE + MAGNITUDES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@SETTINGS
@given(data=st.data())
def test_kernel_paired_matches_long_double_over_the_whole_range(name, dtype, data):
    a, b = data.draw(scaled_sets(dtype))
    k = min(len(a), len(b))
    a, b = a[:k], b[:k]
    ref = np.diagonal(reference(name, a, b)).copy()
    got = _expect(name, ref, lambda: ranked(a, b, name, paired=True))
    if got is not None:
        assert got.a_index.tolist() == list(range(k))
        assert_close(name, got.score, ref, a, b, rows=np.arange(k), cols=np.arange(k))


def _check_topk(name, a, b, k, ranking, ref):
    """Every listed score is right, and each row lists the k best by the reference (ties within the bound)."""
    higher = name in ("cosine", "dot")
    assert_close(name, ranking.score, ref[ranking.a_index, ranking.b_index], a, b,
                 rows=ranking.a_index, cols=ranking.b_index)
    for i in range(len(a)):
        mine = ranking.b_index[ranking.a_index == i]
        row = ref[i].astype(np.float64)
        keys = np.where(np.isnan(row), np.inf, -row if higher else row)
        assert len(mine) == min(k, len(b))  # NaN pairs are listed (last), never dropped
        best = np.sort(keys)[len(mine) - 1] if len(mine) else None
        worst_listed = keys[mine].max(initial=-np.inf)
        # what was listed is no worse than the k-th best (up to the scores' own error)
        slack = 1e-5 * max(1.0, abs(best)) if a.dtype == np.float32 else 1e-9 * max(1.0, abs(best))
        assert worst_listed <= best + slack or (np.isinf(best) and np.isinf(worst_listed))


@pytest.mark.parametrize("screened", [True, False], ids=["screened", "unscreened"])
@pytest.mark.parametrize("name", COSINE_LIKE + MAGNITUDES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@SETTINGS
@given(data=st.data())
def test_kernel_topk_matches_long_double_over_the_whole_range(screened, name, dtype, data):
    _topk_case(screened, name, dtype, data)


def _topk_case(screened, name, dtype, data):
    a, b = data.draw(scaled_sets(dtype))
    k = data.draw(st.integers(1, len(b)))
    ref = reference(name, a, b)
    saved = engine.ranking._SCREEN_BLOCK_COLS
    if not screened:
        engine.ranking._SCREEN_BLOCK_COLS = 0  # every k is then too large to screen: blocks of the matrix kernel
    try:
        got = _expect(name, ref, lambda: ranked(a, b, name, top_k=k))
    finally:
        engine.ranking._SCREEN_BLOCK_COLS = saved
    if got is not None:
        _check_topk(name, a, b, k, got, ref)


@pytest.mark.parametrize("name", COSINE_LIKE + MAGNITUDES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@SETTINGS
@given(data=st.data())
def test_kernel_overall_limit_matches_long_double_over_the_whole_range(name, dtype, data):
    a, b = data.draw(scaled_sets(dtype))
    ref = reference(name, a, b)
    got = _expect(name, ref, lambda: ranked(a, b, name, limit="all"))
    if got is not None:
        assert len(got.score) == len(a) * len(b)
        assert_close(name, got.score, ref[got.a_index, got.b_index], a, b, rows=got.a_index, cols=got.b_index)


@pytest.mark.slow
@pytest.mark.parametrize("name", COSINE_LIKE + MAGNITUDES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@MANY
@given(data=st.data())
def test_kernel_matrix_and_paired_agree_with_long_double_on_many_examples(name, dtype, data):
    a, b = data.draw(scaled_sets(dtype, max_rows=8, max_dim=12))
    ref = reference(name, a, b)
    got = _expect(name, ref, lambda: siamcli.matrix(a, b, metric=name, zero_vector="nan").values)
    if got is not None:
        assert_close(name, got, ref, a, b)
    k = min(len(a), len(b))
    diag = np.diagonal(ref[:k, :k]).copy()
    got = _expect(name, diag, lambda: ranked(a[:k], b[:k], name, paired=True))
    if got is not None:
        assert_close(name, got.score, diag, a[:k], b[:k], rows=np.arange(k), cols=np.arange(k))


@pytest.mark.slow
@pytest.mark.parametrize("screened", [True, False], ids=["screened", "unscreened"])
@pytest.mark.parametrize("name", COSINE_LIKE + MAGNITUDES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@MANY
@given(data=st.data())
def test_kernel_topk_agrees_with_long_double_on_many_examples(screened, name, dtype, data):
    _topk_case(screened, name, dtype, data)


@pytest.mark.parametrize("name", CDIST)
@pytest.mark.parametrize("path", ["matrix", "paired"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@SETTINGS
@given(data=st.data())
def test_cdist_metrics_match_long_double_over_the_whole_range(name, path, dtype, data):
    a, b = data.draw(scaled_sets(dtype))
    p = data.draw(st.sampled_from([1.0, 2.0, 3.0, 0.5])) if name == "minkowski" else None
    if path == "paired":
        k = min(len(a), len(b))
        a, b = a[:k], b[:k]
    ref = reference(name, a, b, p or 2.0)
    if path == "paired":
        ref = np.diagonal(ref).copy()
    if name == "braycurtis" and np.isinf(ref).any():  # a = -b: sum |a + b| is 0 (scipy's inf): an error
        compute = (lambda: siamcli.matrix(a, b, metric=name).values) if path == "matrix" else (
            lambda: siamcli.compare(a, b, metric=name, paired=True).score)
        with pytest.raises(InputError, match="is infinite"):
            compute()
        return
    if path == "matrix":
        got = _expect(name, ref, lambda: siamcli.matrix(a, b, metric=name, p=p).values)
    else:
        got = _expect(name, ref, lambda: siamcli.compare(a, b, metric=name, p=p, paired=True).score)
    if got is not None:
        kw = {} if path == "matrix" else dict(rows=np.arange(len(a)), cols=np.arange(len(a)))
        assert_close(name, got, ref, a, b, **kw)


# ---------------------------------------------------------------- named cases from the issue


def test_paired_cosine_of_float32_norms_above_4e9_is_exact():
    rng = np.random.default_rng(0)
    v = (rng.normal(size=(50, 16)) * 1e10).astype(np.float32)
    scores = siamcli.compare(v, v.copy(), metric="cosine", paired=True).score
    np.testing.assert_array_equal(scores, 1.0)
    verdicts = list(siamcli.engine.verify(siamcli.prepare(v, v.copy()), 0.9, paired=True))
    assert all(part.match.all() for part in verdicts)


@pytest.mark.parametrize("scale", [1e19, 1e37, 3e-39, 1e-44])
@pytest.mark.parametrize("name", COSINE_LIKE + MAGNITUDES)
def test_float32_extremes_give_finite_scores_on_every_path(scale, name):
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(40, 8)) * scale).astype(np.float32)
    x[x == 0] = np.float32(scale)  # subnormal scales round some values to 0; keep rows nonzero
    ref = reference(name, x, x)
    matrix = siamcli.matrix(x, x.copy(), metric=name).values
    assert_close(name, matrix, ref, x, x)
    topk = siamcli.compare(x, metric=name, top_k=3)
    assert len(topk.score) == 40 * 3 and np.isfinite(topk.score).all()
    _check_topk(name, x, x, 3, topk, np.where(np.eye(40, dtype=bool), np.nan, ref))


@pytest.mark.parametrize("name", COSINE_LIKE + MAGNITUDES + CDIST)
def test_float64_values_near_1e_minus_170_give_correct_scores(name):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 6)) * 1e-170
    ref = reference(name, x, x)
    got = siamcli.matrix(x, metric=name).values
    assert_close(name, got, ref, x, x)
    r = siamcli.compare(x, metric=name, top_k=2)
    assert len(r.score) == 60  # the issue's `compare num_f64_1e-170.npy -k 2` printed none


def test_mixed_magnitudes_keep_small_distances_between_small_rows():
    rng = np.random.default_rng(3)
    big, small = rng.normal(size=(4, 5)) * 1e200, rng.normal(size=(4, 5)) * 1e-200
    x = np.vstack([big, small, small + rng.normal(size=(4, 5)) * 1e-203])
    for name in ("euclidean", "sqeuclidean", "dot", "cosine", "manhattan", "minkowski"):
        ref = reference(name, x, x)
        if not _fits_float64(ref):
            continue
        assert_close(name, siamcli.matrix(x, metric=name).values, ref, x, x)
    euclid = siamcli.matrix(x, metric="euclidean").values
    # the small rows' distances to their perturbed copies: about 1e-203 * sqrt(5), not 0 and not 1e200
    assert 1e-204 < euclid[4:8, 8:12].diagonal().min() and euclid[4:8, 8:12].diagonal().max() < 1e-201


@pytest.mark.parametrize("name,what,big_a,big_b", [
    ("dot", "dot product", [1e200, 1e200], [1e200, 1e200]),
    ("sqeuclidean", "squared euclidean distance", [9e153, -9e153], [-9e153, 9e153]),
    ("manhattan", "manhattan distance", [1.7e308, 0.0], [-1.7e308, 0.0]),
])
def test_a_score_beyond_float64_is_an_error_naming_the_pair(name, what, big_a, big_b):
    a = np.array([[1.0, 2.0], big_a])
    b = np.array([[3.0, 4.0], big_b, [5.0, 6.0]])  # only A row 1 with B row 1 is beyond float64
    with pytest.raises(InputError, match=f"the {what} of A row 1 and B row 1 exceeds the float64 range"):
        siamcli.matrix(a, b, metric=name)
    with pytest.raises(InputError, match=f"the {what} of A row 1 and B row 1 exceeds"):
        siamcli.compare(a[:2], b[:2], metric=name, paired=True)
    with pytest.raises(InputError, match=f"the {what} of A row 1 and B row 1 exceeds"):
        siamcli.compare(a, b, metric=name, top_k=1)
    with pytest.raises(InputError, match=f"the {what} of A row 1 and B row 1 exceeds"):
        siamcli.compare(a, b, metric=name, pairs=(np.array([0, 1]), np.array([2, 1])))


def test_euclidean_of_1e200_rows_is_representable_and_right():
    a = np.array([[1e200, -1e200, 3e199]])
    b = np.array([[-1e200, 1e200, 0.0], [1e200, -1e200, 3e199]])
    got = siamcli.matrix(a, b, metric="euclidean").values
    np.testing.assert_allclose(got, [[math.sqrt(8 + 0.09) * 1e200, 0.0]], rtol=1e-14)
    assert siamcli.compare(a, b[:1], metric="minkowski", paired=True).score[0] == pytest.approx(math.sqrt(8.09) * 1e200)


def test_minkowski_with_a_large_p_does_not_overflow_ordinary_values():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(5, 7)) * 1e3, rng.normal(size=(6, 7)) * 1e3
    got = siamcli.matrix(a, b, metric="minkowski", p=200.0).values
    ref = reference("minkowski", a, b, 200.0)
    np.testing.assert_allclose(got, ref.astype(np.float64), rtol=1e-12)


def test_canberra_and_braycurtis_near_float64_max_are_not_silently_zero():
    a = np.array([[1.7e308, 1.0]])
    b = np.array([[1.0e308, 1.0]])
    canberra = siamcli.matrix(a, b, metric="canberra").values[0, 0]
    assert canberra == pytest.approx(0.7 / 2.7, rel=1e-12)
    bray = siamcli.matrix(a, b, metric="braycurtis").values[0, 0]
    assert bray == pytest.approx(0.7 / 2.7, rel=1e-12)


def test_mahalanobis_is_the_same_for_data_scaled_to_the_ends_of_float64():
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 3)) @ np.array([[2.0, 0.3, 0.0], [0.0, 1.0, 0.5], [0.0, 0.0, 0.7]])
    vi = np.linalg.inv(np.cov(x.T))
    expected = cdist(x[:5], x[5:], "mahalanobis", VI=vi)
    for shift in (-1000, -500, 0, 500, 1000):
        xs = np.ldexp(x, shift)
        got = siamcli.matrix(xs[:5], xs[5:], metric="mahalanobis").values
        np.testing.assert_allclose(got, expected, rtol=1e-9)


# ---------------------------------------------------------------- NaN ranks last, never dropped


def _with_zero_rows():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(5, 4)), rng.normal(size=(7, 4))
    a[1] = 0.0
    b[3] = 0.0
    return a, b


@pytest.mark.parametrize("screen_cols", [None, 0])
def test_nan_scores_are_listed_last_by_per_row_topk(screen_cols):
    a, b = _with_zero_rows()
    saved = engine.ranking._SCREEN_BLOCK_COLS
    engine.ranking._SCREEN_BLOCK_COLS = saved if screen_cols is None else screen_cols
    try:
        r = siamcli.compare(a, b, metric="cosine", top_k=7, zero_vector="nan")
    finally:
        engine.ranking._SCREEN_BLOCK_COLS = saved
    assert len(r.score) == 5 * 7
    for i in range(5):
        mine = r.score[r.a_index == i]
        nan = np.isnan(mine)
        expected_nan = 7 if i == 1 else 1
        assert nan.sum() == expected_nan and nan[len(mine) - expected_nan :].all()
        finite = mine[~nan]
        assert (np.diff(finite) <= 0).all()


def test_nan_scores_are_listed_last_by_overall_limit_and_dropped_only_by_a_threshold():
    a, b = _with_zero_rows()
    r = siamcli.compare(a, b, metric="cosine", limit="all", zero_vector="nan")
    assert len(r.score) == 35
    nan = np.isnan(r.score)
    assert nan.sum() == 7 + 4 and nan[-11:].all()
    kept = siamcli.compare(a, b, metric="cosine", limit="all", threshold=-1.0, zero_vector="nan")
    assert len(kept.score) == 35 - 11 and not np.isnan(kept.score).any()  # NaN never passes a threshold
    rows = siamcli.compare(a, b, metric="cosine", top_k=7, threshold=-1.0, zero_vector="nan")
    assert len(rows.score) == 35 - 11 and not np.isnan(rows.score).any()


def test_nan_scores_are_kept_by_paired_and_listed_pairs():
    a, b = _with_zero_rows()
    paired = siamcli.compare(a, b[:5], metric="cosine", paired=True, zero_vector="nan")
    assert paired.a_index.tolist() == [0, 1, 2, 3, 4] and np.isnan(paired.score[1]) and np.isnan(paired.score[3])
    listed = siamcli.compare(a, b, metric="cosine", pairs=(np.array([1, 0, 2]), np.array([0, 3, 2])),
                             zero_vector="nan")
    assert np.isnan(listed.score[:2]).all() and np.isfinite(listed.score[2])
    ranked = siamcli.compare(a, b[:5], metric="cosine", paired=True, limit="all", zero_vector="nan")
    assert np.isnan(ranked.score[-2:]).all() and np.isfinite(ranked.score[:-2]).all()


# ---------------------------------------------------------------- the one-line reproductions, through the CLI


@pytest.mark.parametrize("entry", ["runner", pytest.param("executable", marks=pytest.mark.slow)])
def test_cli_verify_paired_identical_float32_vectors_scaled_by_1e10_all_match(tmp_path, entry):

    rng = np.random.default_rng(8)
    path = tmp_path / "v.npy"
    np.save(path, (rng.normal(size=(20, 32)) * 1e10).astype(np.float32))
    code, out, err = invoke(entry, "verify", path, path, "--paired", "-t", "0.9", "-f", "jsonl")
    records = parse_jsonl(out)
    assert code == 0 and err == ""  # was exit 1: every identical pair scored 0.0
    assert len(records) == 20 and all(r["match"] and r["score"] == 1.0 for r in records)


@pytest.mark.parametrize("entry", ["runner", pytest.param("executable", marks=pytest.mark.slow)])
def test_cli_compare_float64_values_near_1e_minus_170_lists_every_row(tmp_path, entry):

    rng = np.random.default_rng(9)
    x = rng.normal(size=(12, 6)) * 1e-170
    path = tmp_path / "num_f64_1e-170.npy"
    np.save(path, x)
    code, out, err = invoke(entry, "compare", path, "-k", "2", "-f", "jsonl")
    records = parse_jsonl(out)
    assert code == 0 and err == ""  # was 0 records, and RuntimeWarnings on stderr
    assert len(records) == 24
    ref = reference("cosine", x, x)
    for r in records:
        assert abs(r["score"] - float(ref[r["a_index"], r["b_index"]])) <= 1e-10


@pytest.mark.parametrize("scale", ["1e19", "1e-44"])
def test_cli_compare_float32_extremes_give_no_null_scores(tmp_path, scale):

    rng = np.random.default_rng(10)
    x = (rng.normal(size=(10, 5)) * float(scale)).astype(np.float32)
    x[x == 0] = np.float32(scale)
    path = tmp_path / "x.npy"
    np.save(path, x)
    for metric in ("cosine", "dot", "euclidean"):
        code, out, err = invoke("runner", "compare", path, "-k", "3", "-m", metric, "-f", "jsonl")
        records = parse_jsonl(out)
        assert code == 0 and err == "" and len(records) == 30
        assert all(r["score"] is not None and math.isfinite(r["score"]) for r in records)


def test_cli_a_dot_product_beyond_float64_is_one_error_line_naming_the_pair(tmp_path):

    path = tmp_path / "big.npy"
    np.save(path, np.array([[1.0, 2.0], [1e200, 1e200], [2e200, 1e200]]))
    code, out, err = invoke("runner", "matrix", path, "-m", "dot", "-f", "jsonl")
    assert_one_error_line(code, out, err, [f"the dot product of {path} row 1", f"{path} row 1 exceeds the float64 range"])


def test_cli_zero_vector_nan_lists_undefined_pairs_last_as_null(tmp_path):

    path = tmp_path / "z.npy"
    np.save(path, np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 2.0]]))
    code, out, err = invoke("runner", "compare", path, "-k", "3", "--zero-vector", "nan", "-f", "jsonl")
    records = parse_jsonl(out)
    assert code == 0 and len(records) == 4 * 3
    for i in range(4):
        scores = [r["score"] for r in records if r["a_index"] == i]
        nulls = [s is None for s in scores]
        assert nulls == ([True] * 3 if i == 1 else [False, False, True])


@pytest.mark.slow
def test_dask_paths_give_the_same_safe_scores(tmp_path):
    """The cluster runs the same engine: float32 rows near 1e19 (squares beyond float32) and
    float64 rows near 1e-170 (squares below float64) score right on top-k, paired and matrix."""
    dist = pytest.importorskip("siamcli.distributed")
    pytest.importorskip("distributed")
    rng = np.random.default_rng(11)
    big = (rng.normal(size=(40, 8)) * 1e19).astype(np.float32)
    tiny = rng.normal(size=(40, 8)) * 1e-170
    client = dist.connect("local:2")
    try:
        for x in (big, tiny):
            for name in ("cosine", "euclidean", "dot"):
                ref = reference(name, x[:10], x)
                top = dist.topk(client, x[:10], x, metric=name, k=3, block_rows=16)
                _check_topk(name, x[:10], x, 3, top, ref)
                paired = dist.paired(client, x[:10], x[10:20], metric=name, block_rows=4)
                diag = np.diagonal(reference(name, x[:10], x[10:20])).copy()
                assert_close(name, paired.score, diag, x[:10], x[10:20], rows=np.arange(10), cols=np.arange(10))
                path = tmp_path / f"{name}-{x.dtype}.npy"
                matrix = dist.matrix_to_npy(client, x[:10], x, metric=name, path=path, block_rows=16)
                assert_close(name, np.asarray(matrix.values), ref, x[:10], x)
    finally:
        client.close()


def test_scores_beyond_a_narrower_output_type_are_an_error_not_inf(tmp_path):
    x = (np.random.default_rng(12).normal(size=(6, 4)) * 1e19).astype(np.float32)
    wide = siamcli.matrix(x, metric="dot").values  # float32 inputs whose dots exceed float32: float64 scores
    assert wide.dtype == np.float64 and np.isfinite(wide).all() and np.abs(wide).max() > F32_MAX
    with pytest.raises(InputError, match="do not fit the output type float32"):
        siamcli.matrix(x, metric="dot", out=np.empty((6, 6), np.float32))
    path = tmp_path / "x.npy"
    np.save(path, x)
    code, out, err = invoke("runner", "matrix", path, "-m", "dot", "-o", tmp_path / "out.npy", "--dtype", "float32")
    assert_one_error_line(code, out, err, ["do not fit the output type float32"])
    small = siamcli.matrix(x / np.float32(1e19), metric="euclidean", out=np.empty((6, 6), np.float32)).values
    np.testing.assert_allclose(small, reference("euclidean", x / np.float32(1e19), x / np.float32(1e19)).astype(float),
                               rtol=1e-5, atol=1e-6)

"""The self ranking's screen in bfloat16 (engine.bfloat16): its rounding against an independent
reference, the product's error within the bound its slack takes (and near it on adversarial
values), and rankings the same as the float32 screen's, bit for bit, and brute force's."""

from __future__ import annotations

import os
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import siamcli
from siamcli import engine
from siamcli.engine import bfloat16, selfscreen
from test_cli import invoke
from test_symmetry import check_topk_against_brute_force, reference_scores, tied_rows

PRODUCT = bfloat16.product_of_mkl()
PAYS = bfloat16.pays
needs_product = pytest.mark.skipif(PRODUCT is None, reason="no bfloat16 product here (siamcli[fast] on a CPU "
                                                           "with AVX512-BF16)")


def reference_bfloat16(x: np.ndarray) -> np.ndarray:
    """x rounded to 8 significant bits, nearest with ties to even, in float64 (frexp and rint)."""
    mantissa, exponent = np.frexp(x.astype(np.float64))  # |mantissa| in [0.5, 1)
    return np.ldexp(np.rint(mantissa * 256) / 256, exponent)


def as_float(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


@settings(max_examples=200, deadline=None)
@given(bits=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=64), tail=st.integers(0, 3))
def test_operand_rounds_every_float32_to_nearest_bfloat16_or_refuses(bits, tail):
    x = np.array(bits, np.uint32).view(np.float32).reshape(1, -1)
    size = np.abs(x.astype(np.float64))
    overflow = float(np.array(0x7F7F8000, np.uint32).view(np.float32))  # halfway past bfloat16's largest: ties up
    refused = np.any(np.isinf(size) | (size >= overflow) | ((size > 0) & (size < 2.0**-126)))
    got = bfloat16.operand(x, tail)
    if refused:
        assert got is None
        return
    assert got.bits.dtype == np.uint16 and got.bits.shape == x.shape
    nan = np.isnan(x)
    assert np.all(got.bits[nan] == 0x7FC0)  # a quiet NaN, whatever the payload
    rounded = as_float(got.bits).astype(np.float64)
    np.testing.assert_array_equal(rounded[~nan], reference_bfloat16(x[~nan]))
    # the norms of the change and of the row, over all but the last `tail` columns, NaN as 0
    cross = slice(0, max(0, x.shape[1] - tail))
    change = np.where(nan, 0.0, rounded - np.where(nan, 0.0, x))[0, cross]
    row = np.where(nan, 0.0, x.astype(np.float64))[0, cross]
    with np.errstate(over="ignore"):
        for got_norm, values in ((got.residual[0], change), (got.size[0], row)):
            scale = np.abs(values).max(initial=0.0)
            exact = scale * np.sqrt(np.sum((values / scale) ** 2)) if scale > 0 else 0.0
            assert exact <= got_norm <= exact * (1 + 2.0**-18) or (np.isinf(got_norm) and not np.isfinite(exact * 1.0))


def test_operand_ties_go_to_even_and_the_change_reaches_2_to_the_minus_8():
    one = np.float32(1.0).view(np.uint32)
    x = np.array([[one + 0x8000, one + 0x18000, one + 0x7FFF, one + 0x8001]], np.uint32).view(np.float32)
    got = bfloat16.operand(x)
    assert got.bits.tolist() == [[0x3F80, 0x3F82, 0x3F80, 0x3F81]]  # 1 + half an ulp -> 1 (even); 1 + 3/2 -> 1 + 2
    error = np.abs(as_float(got.bits).astype(np.float64) - x) / np.abs(x.astype(np.float64))
    assert 0.99 * 2.0**-8 < error.max() <= 2.0**-8


def test_calibration_keeps_float32_products_where_bfloat16_is_not_faster():
    def slow(left, right, out):  # three float32 products (some maybe on another BLAS thread) and conversions
        for _ in range(3):
            np.matmul(as_float(left), as_float(right).T, out=out)

    assert not bfloat16._faster(slow)


def test_turned_off_by_the_environment(monkeypatch):
    monkeypatch.setitem(os.environ, "SIAMCLI_BFLOAT16", "0")
    assert bfloat16.gemm() is None


def _layouts(rng, kind: str):
    """(screen, float32 left, float32 right) of a metric's screen on data chosen to make the rounding
    errors add up: positive values each just short of a rounding midpoint."""
    d = 96
    near_midpoint = np.float32(1.0 + 2.0**-8 - 2.0**-20) * np.exp2(rng.integers(-3, 4, size=(80, d)))
    x = near_midpoint.astype(np.float32)
    if kind == "offset":  # euclidean on rows far from the origin: the shift fitted, norms split
        x = (x + np.float32(1000.0)).astype(np.float32)
    metric = {"unit": "cosine", "dot": "dot", "offset": "euclidean", "squared": "sqeuclidean"}[kind]
    comp = engine.prepare(x, metric=metric)
    screen = comp.metric.screen.for_params(comp.params)
    return screen, screen.left(x), screen.right(x)


@needs_product
@pytest.mark.parametrize("kind", ["unit", "dot", "offset", "squared"])
def test_bfloat16_product_errs_within_the_rows_and_columns_bounds_and_comes_near_them(kind):
    screen, left, right = _layouts(np.random.default_rng(1), kind)
    half = screen.half
    left16, right16 = bfloat16.operand(half.left(left), half.tail), bfloat16.operand(half.right(right), half.tail)
    out = np.empty((len(left), len(right)), np.float32)
    PRODUCT(left16.bits, right16.bits, out)
    exact = left.astype(np.float64) @ right.astype(np.float64).T  # the float32 operands' own product
    rows, columns = bfloat16.bounds(left16, right16)
    tail = 0.0 if half.tail_error is None else half.tail_error(left, right)  # (rows and columns alike: one set)
    slack = screen.slack(left, right) + tail
    error = np.abs(out - exact)
    assert np.all(error.max(axis=1) <= rows + slack)
    assert np.all(error.max(axis=0) <= columns + slack)
    assert error.max() >= 0.2 * (rows + slack).max()  # the bound is not loose by orders of magnitude


@pytest.fixture
def forced(monkeypatch):
    """The bfloat16 screen for any size (MKL's product without the timing); the tiles it multiplies, counted."""
    if PRODUCT is None:
        pytest.skip("no bfloat16 product here")
    bfloat16.operand(np.ones((1, 4), np.float32))  # numba imported, the rounding compiled: not in a measurement
    used = []
    monkeypatch.setattr(bfloat16, "MIN_WORK", 0)
    monkeypatch.setattr(bfloat16, "pays", lambda *args: True)  # whatever the probe says of the data
    monkeypatch.setattr(bfloat16, "gemm", lambda: lambda *args: used.append(args[0].shape[0]) or PRODUCT(*args))
    return used


def _float32_screen(monkeypatch):
    monkeypatch.setattr(bfloat16, "usable", lambda *args: False)


def _clusters(rng, n: int, d: int) -> np.ndarray:
    """Tight clusters: many neighbours within the bfloat16 bound of one another."""
    centres = rng.normal(size=(max(1, n // 12), d))
    return (centres[rng.integers(0, len(centres), n)] + 1e-3 * rng.normal(size=(n, d))).astype(np.float32)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**16), n=st.integers(2, 400), d=st.sampled_from([1, 3, 16, 64]), k=st.integers(1, 7),
       block=st.sampled_from([None, 16, 97]),
       metric=st.sampled_from(["cosine", "euclidean", "sqeuclidean", "dot", "angular", "cosine_distance"]),
       data=st.sampled_from(["normal", "ties", "clusters", "offset"]), threshold=st.booleans())
def test_self_topk_through_bfloat16_is_the_float32_screens_bit_for_bit_and_brute_forces(
        seed, n, d, k, block, metric, data, threshold, forced):
    rng = np.random.default_rng(seed)
    x = {"normal": lambda: rng.normal(size=(n, d)).astype(np.float32), "ties": lambda: tied_rows(rng, n, d),
         "clusters": lambda: _clusters(rng, n, d),
         "offset": lambda: (1000 + rng.normal(size=(n, d))).astype(np.float32)}[data]()
    limit = None
    if threshold:
        scores = 1.0 - reference_scores(x, "cosine") if metric == "cosine_distance" else reference_scores(x, metric)
        limit = float(np.quantile(scores[~np.eye(n, dtype=bool)], 0.3 if metric in ("cosine", "dot") else 0.7))
    forced.clear()
    got = siamcli.compare(x, metric=metric, top_k=k, threshold=limit, block_rows=block)
    assert forced, "the bfloat16 product was not used"
    with pytest.MonkeyPatch.context() as patch:
        _float32_screen(patch)
        single = siamcli.compare(x, metric=metric, top_k=k, threshold=limit, block_rows=block)
    np.testing.assert_array_equal(got.a_index, single.a_index)
    np.testing.assert_array_equal(got.b_index, single.b_index)
    np.testing.assert_array_equal(got.score.view(np.int64), single.score.view(np.int64))
    if metric in ("cosine", "euclidean", "sqeuclidean", "dot", "angular"):
        check_topk_against_brute_force(got, x, metric, k, limit)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**16), n=st.integers(2, 200), m=st.integers(8, 300), d=st.sampled_from([1, 5, 48]),
       k=st.integers(1, 6), block=st.sampled_from([None, 7, 64]),
       metric=st.sampled_from(["cosine", "euclidean", "sqeuclidean", "dot"]),
       data=st.sampled_from(["normal", "clusters", "offset"]))
def test_two_set_topk_through_bfloat16_is_the_float32_screens_bit_for_bit(seed, n, m, d, k, block, metric, data,
                                                                           forced):
    """Queries against a gallery (ranking._screened_topk) screen in bfloat16 the same way."""
    rng = np.random.default_rng(seed)
    make = {"normal": lambda rows: rng.normal(size=(rows, d)).astype(np.float32),
            "clusters": lambda rows: _clusters(rng, rows, d),
            "offset": lambda rows: (1000 + rng.normal(size=(rows, d))).astype(np.float32)}[data]
    a, b = make(n), make(m)
    forced.clear()
    got = siamcli.compare(a, b, metric=metric, top_k=k, block_rows=block)
    assert forced, "the bfloat16 product was not used"
    with pytest.MonkeyPatch.context() as patch:
        _float32_screen(patch)
        single = siamcli.compare(a, b, metric=metric, top_k=k, block_rows=block)
    np.testing.assert_array_equal(got.a_index, single.a_index)
    np.testing.assert_array_equal(got.b_index, single.b_index)
    np.testing.assert_array_equal(got.score.view(np.int64), single.score.view(np.int64))
    truth = reference_scores(np.vstack([a, b]), metric)[:n, n:]
    higher = metric in ("cosine", "dot")
    tolerance = 1e-4 * max(1.0, float(np.abs(truth).max()))
    for row in range(n):
        best = np.sort(truth[row])[::-1] if higher else np.sort(truth[row])
        mine = got.a_index == row
        np.testing.assert_allclose(got.score[mine], best[: min(k, m)], atol=tolerance, rtol=0)


def test_blocks_with_values_bfloat16_cannot_hold_stay_float32_and_rank_alike(forced, monkeypatch):
    """A block with a subnormal value multiplies in float32 (the tiles of the other blocks in bfloat16)."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(400, 32)).astype(np.float32)
    x[:100, 0] = np.float32(1e-40)  # subnormal: the first block's operands cannot be bfloat16
    got = siamcli.compare(x, metric="dot", top_k=5, block_rows=100)
    assert 0 < len(forced) < 4 * 5 * 10  # some tiles in bfloat16, not every one
    check_topk_against_brute_force(got, x, "dot", 5)
    _float32_screen(monkeypatch)
    single = siamcli.compare(x, metric="dot", top_k=5, block_rows=100)
    np.testing.assert_array_equal(got.b_index, single.b_index)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_block_pair_task_through_bfloat16_keeps_every_pair_that_ranks(metric, forced, monkeypatch):
    """A cluster's task for a tile above the diagonal screens in bfloat16 too: A's rows get the
    float32 screen's k best among B's, bit for bit; B's rows every pair with A's rows among their
    k best of all (a superset whose size depends on the screen's bounds), scored exactly."""
    x = _clusters(np.random.default_rng(6), 500, 32)
    n1, k = 230, 5
    comp = engine.prepare(x, metric=metric)
    first, second = selfscreen.block_pair_topk(comp, n1, k, None, 60)
    assert forced
    _float32_screen(monkeypatch)
    first32, _ = selfscreen.block_pair_topk(comp, n1, k, None, 60)
    np.testing.assert_array_equal(first.a_index, first32.a_index)
    np.testing.assert_array_equal(first.b_index, first32.b_index)
    np.testing.assert_array_equal(first.score.view(np.int64), first32.score.view(np.int64))
    truth = reference_scores(x, metric)
    higher = metric == "cosine"
    tolerance = 1e-5 * max(1.0, float(np.abs(truth).max()))
    np.testing.assert_allclose(truth[second.a_index, second.b_index], second.score, atol=tolerance, rtol=0)
    for row in range(n1, len(x)):
        key = -truth[row] if higher else truth[row].copy()
        key[row] = np.inf
        clear = np.sort(key)[k - 1]  # the row's k-th best key among all rows
        must = {c for c in range(n1) if key[c] < clear - tolerance}
        assert must <= set(second.b_index[second.a_index == row].tolist())


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("sets", ["self", "two"])
def test_topk_through_bfloat16_stays_within_the_memory_budget(metric, sets, forced):
    """The bfloat16 copies of the blocks' operands count in --memory (a set against itself, and
    queries against a gallery)."""
    from test_engine_options import _working_memory

    budget = 24 * 2**20
    x = np.random.default_rng(3).normal(size=(6000, 384)).astype(np.float32)
    comp = engine.prepare(x, metric=metric, memory=budget) if sets == "self" else \
        engine.prepare(x[:2000], x[2000:], metric=metric, memory=budget)
    parts = []
    used = _working_memory(lambda: parts.append(list(engine.rankings(comp, top_k=5))) or parts[-1])
    assert forced
    assert used <= budget, f"{used / 2**20:.1f} MiB for a budget of {budget / 2**20:.0f} MiB"
    got = siamcli.Ranking.concat(parts[0], comp.metric, comp.a, comp.b, "row")
    np.testing.assert_array_equal(np.bincount(got.a_index, minlength=len(comp.a)), 5)


@needs_product
def test_cli_self_topk_is_the_same_with_bfloat16_on_and_off(tmp_path, monkeypatch):
    """SIAMCLI_BFLOAT16=1 (bfloat16 for any size) and =0 print the same JSON, through the installed
    executable and through CliRunner (where the bfloat16 product is seen to be used)."""
    x = np.random.default_rng(9).normal(size=(3000, 48)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    args = ["compare", tmp_path / "x.npy", "--top-k", "3", "--format", "json", "-q"]
    used = []
    monkeypatch.setitem(bfloat16._state, "product", lambda *a: used.append(1) or PRODUCT(*a))
    outputs = []
    for entry in ("executable", "runner"):
        for value in ("1", "0"):
            used.clear()
            status, out, err = invoke(entry, *args, env=dict(os.environ, SIAMCLI_BFLOAT16=value))
            assert status == 0 and err == ""
            if entry == "runner":
                assert bool(used) == (value == "1")
            outputs.append(out)
    assert len(set(outputs)) == 1 and len(outputs[0]) > 1000


@pytest.mark.parametrize("sets", ["self", "two"])
def test_rows_that_spread_less_than_the_bfloat16_bound_stay_within_the_memory_budget(sets, forced, monkeypatch):
    """Rows that all point one way (cosines within 0.001 of one another, well inside bfloat16's
    bound of about 0.01): a screen in bfloat16 would keep nearly every pair as a candidate (48 MiB
    for a budget of 4 MiB); it must stay float32 and rank alike (a set against itself, and queries
    against a gallery)."""
    from test_engine_options import _working_memory

    monkeypatch.setattr(bfloat16, "pays", PAYS)
    budget, metric = 4 * 2**20, "cosine"
    rng = np.random.default_rng(0)
    x = (rng.normal(size=64) + 0.05 * rng.normal(size=(500, 64))).astype(np.float32)
    a, b = (x, None) if sets == "self" else (x[:150], x[150:])
    comp = engine.prepare(a, b, metric=metric, memory=budget)
    parts = []
    used = _working_memory(lambda: parts.append(list(engine.rankings(comp, top_k=5))) or parts[-1])
    assert used <= budget, f"{used / 2**20:.1f} MiB for a budget of {budget / 2**20:.0f} MiB"
    got = siamcli.Ranking.concat(parts[0], comp.metric, comp.a, comp.b, "row")
    if sets == "self":
        check_topk_against_brute_force(got, x, metric, 5)
    _float32_screen(monkeypatch)
    single = siamcli.compare(a, b, metric=metric, top_k=5)
    np.testing.assert_array_equal(got.b_index, single.b_index)
    np.testing.assert_array_equal(got.score.view(np.int64), single.score.view(np.int64))

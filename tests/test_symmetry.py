"""A set compared with itself computes each unordered pair once (issue 19): per-row top-k, the best
pairs overall and whole matrices against brute force (scipy's cdist) and against the two-set path,
over shapes, tied data and block sizes; the Dask backend's tasks on and above the diagonal only."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

import siamcli
from siamcli import engine
from siamcli.engine import blocks, ranking, selfscreen, tilehits
from test_cli import invoke

#: scipy's name for each metric tested, and whether a larger score is closer.
SCIPY = {"cosine": ("cosine", True), "euclidean": ("euclidean", False), "sqeuclidean": ("sqeuclidean", False),
         "dot": (None, True), "angular": (None, False), "manhattan": ("cityblock", False)}


def reference_scores(x: np.ndarray, metric: str) -> np.ndarray:
    """Every pair's score in float64 by scipy (or numpy for dot and angular)."""
    x = x.astype(np.float64)
    if metric == "dot":
        return x @ x.T
    if metric == "angular":
        return np.arccos(np.clip(1.0 - cdist(x, x, "cosine"), -1.0, 1.0)) / np.pi
    scores = cdist(x, x, SCIPY[metric][0])
    return 1.0 - scores if metric == "cosine" else scores


def tied_rows(rng, n: int, d: int, dtype=np.float32) -> np.ndarray:
    """Small integers: exact ties and duplicate rows, no zero rows (cosine is undefined there)."""
    x = rng.integers(-2, 3, size=(n, d)).astype(dtype)
    x[np.all(x == 0, axis=1)] = 1
    return x


def check_topk_against_brute_force(got, x: np.ndarray, metric: str, k: int, threshold=None) -> None:
    """Per row: the listed scores are the k best of the row's true scores (self left out) in order,
    each listed pair's true score is its score, and equal scores come in column order."""
    truth = reference_scores(x, metric)
    higher = SCIPY[metric][1]
    tolerance = 1e-4 * max(1.0, float(np.abs(truth).max()))
    for row in range(len(x)):
        others = np.delete(truth[row], row)
        if threshold is not None:
            others = others[others >= threshold - tolerance] if higher else others[others <= threshold + tolerance]
        best = np.sort(others)[::-1] if higher else np.sort(others)
        mine = got.a_index == row
        scores, cols = got.score[mine], got.b_index[mine]
        assert not np.any(cols == row)
        assert len(set(cols.tolist())) == len(cols)
        if threshold is None:
            assert len(scores) == min(k, len(x) - 1)
        np.testing.assert_allclose(scores, best[: len(scores)], atol=tolerance, rtol=0)
        np.testing.assert_allclose(truth[row, cols], scores, atol=tolerance, rtol=0)
        assert np.array_equal(got.rank[mine], np.arange(1, len(scores) + 1))
        equal = np.diff(scores) == 0
        assert np.all(np.diff(cols)[equal] > 0)  # ties by column index


def without_self_pairs(two_set, k: int):
    """A two-set ranking of a set against its copy (top k + 1) with each row's own column dropped:
    what the self-comparison ranks."""
    keep = two_set.a_index != two_set.b_index
    a, b, score = two_set.a_index[keep], two_set.b_index[keep], two_set.score[keep]
    rank = np.concatenate([np.arange(1, count + 1) for count in np.bincount(a, minlength=a.max(initial=-1) + 1)])
    first_k = rank <= k
    return a[first_k], b[first_k], score[first_k]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(2, 160), d=st.integers(1, 9), k=st.integers(1, 7),
       block=st.one_of(st.none(), st.integers(1, 50)), metric=st.sampled_from(["cosine", "euclidean", "sqeuclidean",
                                                                            "dot", "angular"]),
       ties=st.booleans())
def test_self_topk_screened_matches_brute_force_and_two_set_path(seed, n, d, k, block, metric, ties):
    rng = np.random.default_rng(seed)
    x = tied_rows(rng, n, d) if ties else rng.normal(size=(n, d)).astype(np.float32)
    comp = engine.prepare(x, metric=metric)
    assert engine.can_screen(comp, k) and selfscreen.self_screen_fits(comp, k)
    got = siamcli.Ranking.concat(list(engine.iter_topk(comp, k, None, block)), comp.metric, comp.a, comp.b, "row")
    check_topk_against_brute_force(got, x, metric, k)
    # the two-set path (every ordered pair computed) gives the same pairs and scores, bit for bit
    two = siamcli.compare(x, x.copy(), metric=metric, top_k=k + 1)
    a, b, score = without_self_pairs(two, k)
    np.testing.assert_array_equal(got.a_index, a)
    np.testing.assert_array_equal(got.b_index, b)
    np.testing.assert_array_equal(got.score.view(np.int64), score.view(np.int64))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(2, 120), k=st.integers(1, 6), quantile=st.floats(0.0, 1.0),
       metric=st.sampled_from(["cosine", "euclidean"]), memory=st.sampled_from([2**20, 2**21, 2**29]))
def test_self_topk_with_threshold_and_small_budget_matches_brute_force(seed, n, k, quantile, metric, memory):
    """A small --memory makes blocks (and product chunks) small: many tiles, many column screens."""
    rng = np.random.default_rng(seed)
    x = tied_rows(rng, n, 5)
    truth = reference_scores(x, metric)
    threshold = float(np.quantile(truth[~np.eye(n, dtype=bool)], quantile))
    got = siamcli.compare(x, metric=metric, top_k=k, threshold=threshold, memory=memory)
    check_topk_against_brute_force(got, x, metric, k, threshold)


def test_self_topk_many_blocks_rows_take_candidates_from_earlier_blocks():
    """Rows whose nearest neighbours sit in earlier blocks find them through the column screen."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    x[250:300] = x[0:50] + 1e-3  # each late row's nearest neighbour is in the first block
    got = siamcli.compare(x, metric="euclidean", top_k=1, block_rows=16)
    late = got.a_index >= 250
    np.testing.assert_array_equal(got.b_index[late], got.a_index[late] - 250)
    check_topk_against_brute_force(got, x, "euclidean", 1)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("ties", [False, True])
def test_self_topk_wide_tiles_bound_first_rows_by_column_groups(metric, ties, monkeypatch):
    """Tiles at least 4 x _GROUPS wide bound each row's first k-th best by its column groups' bests
    (no partition): the same answers as brute force and, bit for bit, as the two-set path."""
    rng = np.random.default_rng(11)
    x = tied_rows(rng, 1100, 6) if ties else rng.normal(size=(1100, 24)).astype(np.float32)
    grouped = []
    original = selfscreen._extremes
    monkeypatch.setattr(selfscreen, "_extremes", lambda *a: grouped.append(a[3]) or original(*a))
    comp = engine.prepare(x, metric=metric)
    got = siamcli.Ranking.concat(list(engine.iter_topk(comp, 5, None, 300)), comp.metric, comp.a, comp.b, "row")
    assert any(grouped)
    check_topk_against_brute_force(got, x, metric, 5)
    a, b, score = without_self_pairs(siamcli.compare(x, x.copy(), metric=metric, top_k=6), 5)
    np.testing.assert_array_equal(got.a_index, a)
    np.testing.assert_array_equal(got.b_index, b)
    np.testing.assert_array_equal(got.score.view(np.int64), score.view(np.int64))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("ties", [False, True])
def test_self_topk_diagonal_parts_meet_only_later_columns_and_rank_as_brute_force(metric, ties, monkeypatch):
    """A small budget cuts each block into many row parts; on the diagonal each part meets only the
    columns from its own first row on (the earlier ones came as columns of earlier parts): the same
    answers as brute force and, bit for bit, as the two-set path."""
    rng = np.random.default_rng(5)
    x = tied_rows(rng, 2000, 8) if ties else rng.normal(size=(2000, 8)).astype(np.float32)
    plans, widths = [], []
    plan, screen_tile = selfscreen._plan, selfscreen._BlockPass.screen_tile
    monkeypatch.setattr(selfscreen, "_plan", lambda *a, **o: plans.append(plan(*a, **o)) or plans[-1])
    monkeypatch.setattr(selfscreen._BlockPass, "screen_tile",
                        lambda self, other, right, right16, t:
                        widths.append((self.index == other, self.row_parts[t][0]))
                        or screen_tile(self, other, right, right16, t))
    comp = engine.prepare(x, metric=metric, memory=2**23)
    got = siamcli.Ranking.concat(list(engine.iter_topk(comp, 5, None, 1000)), comp.metric, comp.a, comp.b, "row")
    assert plans[0][3] < 1000 and any(on and r0 > 0 for on, r0 in widths)  # several parts per diagonal block
    check_topk_against_brute_force(got, x, metric, 5)
    a, b, score = without_self_pairs(siamcli.compare(x, x.copy(), metric=metric, top_k=6), 5)
    np.testing.assert_array_equal(got.a_index, a)
    np.testing.assert_array_equal(got.b_index, b)
    np.testing.assert_array_equal(got.score.view(np.int64), score.view(np.int64))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), height=st.integers(1, 300), width=st.integers(1, 700), higher=st.booleans(),
       k=st.integers(1, 16), band=st.sampled_from([64, 4096, 2**20]))
def test_extremes_are_numpys_row_and_column_bests_and_group_bounds_never_pass_the_kth(seed, height, width, higher,
                                                                                    k, band):
    """One banded pass gives numpy's row and column maxima (minima), and the k-th best of the
    rows' column-group bests is never better than the row's true k-th best."""
    product = np.random.default_rng(seed).normal(size=(height, width)).astype(np.float32)
    sign = 1.0 if higher else -1.0
    grouped = width >= tilehits._GROUPS
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tilehits, "_BAND_BYTES", band)
        rows, cols, groups = tilehits._extremes(product, sign, True, grouped)
    best = np.max if higher else np.min
    np.testing.assert_array_equal(rows, best(product, axis=1))
    np.testing.assert_array_equal(cols, best(product, axis=0))
    if grouped and k <= tilehits._GROUPS:
        span = width // tilehits._GROUPS * tilehits._GROUPS
        np.testing.assert_array_equal(groups, best(product[:, :span].reshape(height, -1, tilehits._GROUPS), axis=1))
        group_kth = sign * np.sort(sign * groups, axis=1)[:, -k]
        true_kth = sign * np.sort(sign * product, axis=1)[:, -k] if k <= width else None
        if true_kth is not None:
            assert np.all(sign * group_kth <= sign * true_kth)


def _tile_with_bounds(seed: int, height: int, width: int, nan: bool):
    """A float32 product and float32 row and column bounds from a random quantile of each row
    (column): some reach none, some a few, some all; with `nan`, some values NaN (they reach none)."""
    rng = np.random.default_rng(seed)
    product = rng.normal(size=(height, width)).astype(np.float32)
    row_bound = np.array([np.quantile(row, q) for row, q in zip(product, rng.uniform(0, 1, height))], np.float32)
    column_bound = np.array([np.quantile(col, q) for col, q in zip(product.T, rng.uniform(0, 1, width))], np.float32)
    if nan:
        product[rng.integers(0, height, 1 + height // 4), rng.integers(0, width, 1 + height // 4)] = np.nan
    return product, row_bound, column_bound


def _assert_every_reaching_pair(product, sign, row_bound, column_bound, row_hits, column_hits):
    """The hits are exactly the pairs whose value reaches the bound (brute force), by row then
    column, with their good values."""
    reach = np.greater_equal if sign > 0 else np.less_equal
    for (first, second, values), bound, transposed in ((row_hits, row_bound[:, None], False),
                                                       (column_hits, column_bound, True)):
        if bound is None:
            assert len(first) == len(second) == len(values) == 0
            continue
        rows, cols = np.nonzero(reach(product, bound))
        got_rows, got_cols = (second, first) if transposed else (first, second)
        np.testing.assert_array_equal(got_rows, rows)
        np.testing.assert_array_equal(got_cols, cols)
        np.testing.assert_array_equal(values, sign * product[rows, cols].astype(np.float64))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), height=st.integers(1, 200), width=st.integers(1, 600), higher=st.booleans(),
       columns=st.booleans(), band=st.sampled_from([64, 4096, 2**20]), nan=st.booleans())
def test_band_hits_are_every_pair_reaching_its_row_or_column_bound(seed, height, width, higher, columns, band, nan):
    """numpy's banded hits (rows and columns whose bests reach their bounds, looked at value by
    value) are exactly the pairs whose value reaches the bound, found by brute force."""
    product, row_bound, column_bound = _tile_with_bounds(seed, height, width, nan)
    sign = 1.0 if higher else -1.0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tilehits, "_BAND_BYTES", band)
        row_hits, column_hits = tilehits._band_hits(product, sign, row_bound, column_bound if columns else None)
    _assert_every_reaching_pair(product, sign, row_bound, column_bound if columns else None, row_hits, column_hits)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), height=st.integers(1, 200), width=st.integers(1, 600), higher=st.booleans(),
       nan=st.booleans(), crowded=st.booleans())
def test_compiled_tile_hits_are_every_pair_reaching_its_row_or_column_bound(seed, height, width, higher, nan, crowded):
    """The compiled pass (numba) finds exactly the pairs that reach their bounds, as numpy's bands
    and brute force do, in the same order; also when they overflow its first room (`crowded`)."""
    pytest.importorskip("numba")
    product, row_bound, column_bound = _tile_with_bounds(seed, height, width, nan)
    sign = 1.0 if higher else -1.0
    if crowded:  # every pair reaches both bounds: more hits than the room first made for them
        row_bound[:], column_bound[:] = -sign * np.inf, -sign * np.inf
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tilehits, "_COMPILED_MIN_VALUES", 0)
        row_hits, column_hits = tilehits.tile_hits(product, sign, row_bound, column_bound)
    _assert_every_reaching_pair(product, sign, row_bound, column_bound, row_hits, column_hits)
    for got, banded in zip((*row_hits, *column_hits), (*sum(tilehits._band_hits(product, sign, row_bound,
                                                                                  column_bound), ()),)):
        np.testing.assert_array_equal(got, banded)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), rows_n=st.integers(1, 60), count=st.integers(0, 400), k=st.integers(1, 8),
       levels=st.sampled_from([3, 1000]), crowded=st.booleans())
def test_kth_best_is_each_rows_kth_largest_value_by_sorting(seed, rows_n, count, k, levels, crowded):
    """Each row's k-th largest candidate value (ties counted, -inf below k), from the table of rows
    or, when one row holds most candidates, by sorting: as numpy's sort of each row finds it."""
    rng = np.random.default_rng(seed)
    rows = np.minimum(rng.geometric(0.5, count) - 1, rows_n - 1) if crowded else rng.integers(0, rows_n, count)
    good = rng.integers(0, levels, count).astype(np.float64) / levels - 0.5
    got = ranking._kth_best(rows, good, rows_n, k)
    for row in range(rows_n):
        values = np.sort(good[rows == row])[::-1]
        assert got[row] == (values[k - 1] if len(values) >= k else -np.inf)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_self_topk_stays_within_the_memory_budget(metric):
    """--memory bounds a self ranking's working memory: its candidates, the blocks' operands kept
    and those alive while one pass follows another, the product chunks."""
    from test_engine_options import _working_memory

    budget = 24 * 2**20
    x = np.random.default_rng(3).normal(size=(6000, 384)).astype(np.float32)
    comp = engine.prepare(x, metric=metric, memory=budget)
    assert selfscreen.self_screen_fits(comp, 5)
    parts = []
    used = _working_memory(lambda: parts.append(list(engine.rankings(comp, top_k=5))) or parts[-1])
    assert used <= budget, f"{used / 2**20:.1f} MiB for a budget of {budget / 2**20:.0f} MiB"
    got = siamcli.Ranking.concat(parts[0], comp.metric, comp.a, comp.b, "row")
    np.testing.assert_array_equal(np.bincount(got.a_index, minlength=len(x)), 5)


def test_self_topk_budget_too_small_for_every_rows_candidates_screens_by_row_blocks(monkeypatch):
    x = np.random.default_rng(4).normal(size=(200, 6)).astype(np.float32)
    called = []
    monkeypatch.setattr(selfscreen, "self_screened_topk", lambda *a: called.append(a) or iter(()))
    comp = engine.prepare(x, memory=2**20)
    assert not selfscreen.self_screen_fits(comp, 1000)  # 200 rows x 1000 candidates do not fit in half of 1 MiB
    got = siamcli.compare(x, top_k=1000, memory=2**20)  # screened by row blocks, as before
    assert not called
    check_topk_against_brute_force(got, x, "cosine", 1000)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(2, 150), limit=st.one_of(st.none(), st.integers(1, 300)),
       quantile=st.one_of(st.none(), st.floats(0.0, 1.0)), block=st.one_of(st.none(), st.integers(1, 40)),
       metric=st.sampled_from(["cosine", "euclidean", "manhattan"]))
def test_self_best_pairs_each_unordered_pair_once_as_brute_force(seed, n, limit, quantile, block, metric):
    rng = np.random.default_rng(seed)
    x = tied_rows(rng, n, 4)
    truth = reference_scores(x, metric)
    higher = SCIPY[metric][1]
    i, j = np.triu_indices(n, 1)
    threshold = None if quantile is None else float(np.quantile(truth[i, j], quantile))
    got = siamcli.compare(x, metric=metric, limit=limit if limit is not None else "all", threshold=threshold,
                          block_rows=block)
    assert np.all(got.a_index < got.b_index)
    tolerance = 1e-5 * max(1.0, float(np.abs(truth).max()))
    values = truth[i, j]
    if threshold is not None:
        values = values[values >= threshold - tolerance] if higher else values[values <= threshold + tolerance]
    best = np.sort(values)[::-1] if higher else np.sort(values)
    expected_count = len(best) if limit is None else min(limit, len(best))
    assert abs(len(got.score) - expected_count) <= (0 if threshold is None else np.sum(np.abs(values - threshold) <= tolerance))
    np.testing.assert_allclose(got.score, best[: len(got.score)], atol=tolerance, rtol=0)
    np.testing.assert_allclose(truth[got.a_index, got.b_index], got.score, atol=tolerance, rtol=0)
    key = -got.score if higher else got.score
    order = np.lexsort((got.b_index, got.a_index, key))
    np.testing.assert_array_equal(order, np.arange(len(order)))  # best first, ties by (a, b)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), n=st.integers(1, 90), d=st.integers(2, 12), block=st.one_of(st.none(), st.integers(1, 40)),
       metric=st.sampled_from(["cosine", "euclidean", "dot", "manhattan", "chebyshev", "correlation", "jensenshannon"]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_self_matrix_is_symmetric_and_equals_two_set_matrix_and_scipy(seed, n, d, block, metric, dtype):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(dtype) + (3.0 if metric in ("correlation", "jensenshannon") else 0.0)
    if metric == "jensenshannon":
        x = np.abs(x)
    mine = siamcli.matrix(x, metric=metric, block_rows=block).values
    np.testing.assert_array_equal(mine, mine.T)  # mirrored: exactly symmetric
    two = siamcli.matrix(x, x.copy(), metric=metric, block_rows=block).values
    tolerance = (1e-5 if dtype == np.float32 else 1e-12) * max(1.0, float(np.abs(two).max()))
    np.testing.assert_allclose(mine, two, atol=tolerance, rtol=0)
    if metric in ("cosine", "euclidean", "manhattan", "chebyshev", "correlation", "jensenshannon"):
        scipy_name = {"manhattan": "cityblock"}.get(metric, metric)
        expected = cdist(x.astype(np.float64), x.astype(np.float64), scipy_name)
        expected = 1.0 - expected if metric == "cosine" else expected
        np.testing.assert_allclose(mine, expected, atol=10 * tolerance, rtol=0)


@pytest.mark.slow
def test_self_matrix_default_blocks_equal_two_set_matrix_above_the_diagonal_bit_for_bit():
    """Blocks of whole product tiles: each score above the diagonal is the two-set matrix's own."""
    x = np.random.default_rng(6).normal(size=(5000, 24)).astype(np.float32)
    mine = siamcli.matrix(x).values
    two = siamcli.matrix(x, x.copy()).values
    upper = np.triu_indices(len(x))
    np.testing.assert_array_equal(mine[upper], two[upper])
    np.testing.assert_array_equal(mine, mine.T)


def test_self_matrix_computes_only_blocks_on_and_above_the_diagonal(monkeypatch):
    x = np.random.default_rng(7).normal(size=(100, 5)).astype(np.float32)
    comp = engine.prepare(x, metric="manhattan")
    seen = []
    original = comp.block

    def block(i0, i1, j0, j1, out=None):
        seen.append((i0, i1, j0, j1))
        return original(i0, i1, j0, j1, out=out)

    comp.block = block
    done = []
    comp.progress = done.append
    out = engine.fill_matrix(comp, block_rows=10)
    assert all(j1 > i0 for i0, i1, j0, j1 in seen)  # none entirely below the diagonal
    assert len(seen) == 55  # 10 x 10 blocks: the diagonal and the 45 above it
    assert sum(done) == 100 * 100  # progress counts the mirrored pairs too
    np.testing.assert_array_equal(out, cdist(x, x, "cityblock"))


def test_asymmetric_metric_computes_every_ordered_pair():
    """A metric whose score depends on the order of the pair (a plugin may say so) is never mirrored."""
    dot = siamcli.get_metric("dot")

    def skewed(a, b, params, out=None):
        scores = a @ (2.0 * b).T + a[:, :1]
        if out is not None:
            out[...] = scores
            return out
        return scores

    metric = replace(dot, name="skewed", matrix=skewed, screen=None, symmetric=False)
    x = np.random.default_rng(8).normal(size=(40, 3))
    got = siamcli.matrix(x, metric=metric, block_rows=7).values
    np.testing.assert_allclose(got, 2.0 * x @ x.T + x[:, :1], rtol=1e-12)
    ranked = siamcli.compare(x, metric=metric, top_k=2, block_rows=7)
    full = 2.0 * x @ x.T + x[:, :1]
    np.fill_diagonal(full, -np.inf)
    np.testing.assert_array_equal(ranked.b_index.reshape(-1, 2), np.argsort(-full, axis=1, kind="stable")[:, :2])


@pytest.mark.parametrize("square", [3, 7, 256])
@pytest.mark.parametrize("block", [(8, 8), (5, 11), (30, 30)])
def test_blocks_placed_with_their_mirrors_make_the_upper_triangle_symmetric(monkeypatch, square, block):
    """Blocks on and above the diagonal (any shape, any square size): every entry i <= j is the
    block's value, every entry below the diagonal its mirror's, and nothing else is written."""
    monkeypatch.setattr(blocks, "_MIRROR_SQUARE", square)
    rng = np.random.default_rng(9)
    m = rng.normal(size=(30, 30))
    out = np.full((30, 30), np.nan)
    br, bc = block
    for i0 in range(0, 30, br):
        for j0 in range(0, 30, bc):
            if j0 + bc > i0:
                blocks._place_with_mirror(out, i0, j0, m[i0 : i0 + br, j0 : j0 + bc])
    np.testing.assert_array_equal(out, np.triu(m) + np.triu(m, 1).T)


# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_cli_self_matrix_file_equals_two_file_matrix_and_self_limit_lists_each_pair_once(entry, tmp_path):
    x = np.random.default_rng(10).normal(size=(300, 8)).astype(np.float32)
    x[250] = x[10]  # an exact duplicate: the best pair
    np.save(tmp_path / "e.npy", x)
    np.save(tmp_path / "copy.npy", x)
    status, _, err = invoke(entry, "matrix", tmp_path / "e.npy", "-o", tmp_path / "self.npy", "--dtype", "float32")
    assert status == 0, err
    status, _, err = invoke(entry, "matrix", tmp_path / "e.npy", tmp_path / "copy.npy", "-o", tmp_path / "two.npy",
                            "--dtype", "float32")
    assert status == 0, err
    mine, two = np.load(tmp_path / "self.npy"), np.load(tmp_path / "two.npy")
    assert mine.dtype == np.float32
    np.testing.assert_array_equal(mine, mine.T)
    np.testing.assert_allclose(mine, two, atol=1e-6, rtol=0)
    np.testing.assert_allclose(mine, 1.0 - cdist(x.astype(np.float64), x.astype(np.float64), "cosine"), atol=1e-5)
    status, out, err = invoke(entry, "compare", tmp_path / "e.npy", "--limit", "5", "-f", "csv")
    assert status == 0, err
    rows = [line.split(",") for line in out.splitlines()[1:]]
    header = out.splitlines()[0].split(",")
    a, b = header.index("a_index"), header.index("b_index")
    pairs = [(int(r[a]), int(r[b])) for r in rows]
    assert pairs[0] == (10, 250)
    assert all(i < j for i, j in pairs) and len(set(pairs)) == 5
    upper = np.triu(mine.astype(np.float64), 1)
    upper[np.tril_indices(len(x))] = -np.inf
    assert sorted(pairs) == sorted(zip(*np.unravel_index(np.argsort(-upper, axis=None, kind="stable")[:5], upper.shape)))


# ---------------------------------------------------------------- on a Dask cluster


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("distributed")
    from siamcli import distributed as dist

    c = dist.connect("local:2")
    yield c
    c.close()


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["cosine", "euclidean", "manhattan"])
def test_cluster_self_comparison_tasks_only_on_and_above_the_diagonal_same_answers(client, tmp_path, metric):
    """5 blocks of rows: 15 block tasks instead of 25 (the same graph otherwise, as an asymmetric
    metric's shows), and every answer the local engine's, to the last bit."""
    from siamcli import distributed as dist

    rng = np.random.default_rng(11)
    x = rng.normal(size=(500, 16)).astype(np.float32)
    x[480:500] = x[0:20]  # exact ties across blocks
    every_pair = replace(siamcli.get_metric(metric), symmetric=False)
    counts = {}
    for name, chosen in (("mirrored", metric), ("full", every_pair)):
        stats = dist.RunStats()
        result = dist.matrix_to_npy(client, x, None, metric=chosen, path=tmp_path / f"{name}.npy", block_rows=100,
                                    stats=stats)
        counts[name] = stats.tasks
        if name == "mirrored":
            np.testing.assert_array_equal(result.values, siamcli.matrix(x, metric=metric, block_rows=100).values)
            np.testing.assert_array_equal(result.values, result.values.T)
    assert counts["full"] - counts["mirrored"] == 10
    stats = dist.RunStats()
    got = dist.topk(client, x, None, metric=metric, k=3, block_rows=100, stats=stats)
    expected = siamcli.compare(x, metric=metric, top_k=3)
    np.testing.assert_array_equal(got.a_index, expected.a_index)
    np.testing.assert_array_equal(got.b_index, expected.b_index)
    np.testing.assert_array_equal(got.score.view(np.int64), expected.score.view(np.int64))
    # the top-k graph: a task per block on the diagonal, one per pair of blocks above it (both ways)
    import dask
    from functools import partial

    from siamcli.backends.dask import ops, tasks as dtasks

    comp = engine.prepare(x, metric=metric)
    bounds, row_blocks, _, _ = dtasks._grid(comp, 100)
    finals = ops._self_topk_graph(comp, dtasks._template(comp, 3), (bounds, row_blocks), 3, None,
                                  partial(dtasks._merge_topk, 3, comp.metric.higher_is_better))
    names = [str(key[0] if isinstance(key, tuple) else key).split("-")[0]
             for key in dict(dask.delayed(finals).__dask_graph__())]
    assert names.count("_topk_block") == 5 and names.count("_topk_pair_block") == 10


def test_evaluate_classes_pass_mirrored_when_the_matrix_fits_same_figures_as_row_blocks():
    """evaluate --classes: a matrix that fits in half the budget is computed once per pair and mirrored;
    the pair scores and retrieval tallies are those of the blocks of whole rows (a small budget)."""
    from siamcli.reports.evaluation import class_pair_scores

    rng = np.random.default_rng(12)
    x = rng.normal(size=(600, 12)).astype(np.float32)
    codes = rng.integers(0, 7, size=600)
    mirrored = engine.prepare(x, memory=2**24)
    rows = engine.prepare(x, memory=2**20)  # 600 x 600 x 4 bytes do not fit in half of it
    here, there = class_pair_scores(mirrored, codes, (1, 5), True), class_pair_scores(rows, codes, (1, 5), True)
    np.testing.assert_array_equal(here[0], there[0])
    np.testing.assert_array_equal(here[1], there[1])
    assert sum(t.hits_at_1 for t in here[2]) == sum(t.hits_at_1 for t in there[2])
    np.testing.assert_allclose(np.concatenate([t.query_ap for t in here[2]]),
                               np.concatenate([t.query_ap for t in there[2]]), rtol=0, atol=1e-12)
    i, j = np.triu_indices(600, 1)
    np.testing.assert_allclose(here[0], 1.0 - cdist(x.astype(np.float64), x.astype(np.float64), "cosine")[i, j],
                               atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), n1=st.integers(1, 60), n2=st.integers(1, 60), k=st.integers(1, 5),
       metric=st.sampled_from(["cosine", "euclidean"]), quantile=st.one_of(st.none(), st.floats(0.0, 1.0)))
def test_block_pair_topk_both_ways_from_one_product_keeps_every_pair_that_ranks(seed, n1, n2, k, metric, quantile):
    """A cluster's task for a tile above the diagonal: A's rows get their k best among B's rows
    exactly; B's rows get every pair with A's rows that is among their k best of all (A and B)."""
    rng = np.random.default_rng(seed)
    x = tied_rows(rng, n1 + n2, 4)
    truth = reference_scores(x, metric)
    higher = SCIPY[metric][1]
    threshold = None if quantile is None else float(np.quantile(truth, quantile))
    comp = engine.prepare(x, metric=metric)
    first, second = selfscreen.block_pair_topk(comp, n1, k, threshold)
    tolerance = 1e-5 * max(1.0, float(np.abs(truth).max()))
    for part in (first, second):
        np.testing.assert_allclose(truth[part.a_index, part.b_index], part.score, atol=tolerance, rtol=0)
        assert np.all((part.a_index < n1) != (part.b_index < n1))  # only pairs across the two blocks
    passing = np.ones_like(truth, dtype=bool) if threshold is None else (
        truth >= threshold + tolerance if higher else truth <= threshold - tolerance)
    for row in range(n1 + n2):
        mine = first if row < n1 else second
        listed = set(mine.b_index[mine.a_index == row].tolist())
        others = np.arange(n1, n1 + n2) if row < n1 else np.delete(np.arange(n1 + n2), row)
        key = -truth[row, others] if higher else truth[row, others]
        clear = np.sort(key)[k - 1] if len(key) >= k else np.inf  # the k-th best key among the candidates
        must = [c for c, v in zip(others, key) if v < clear - tolerance and passing[row, c]
                and (c >= n1) == (row < n1)]
        assert set(must) <= listed


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_self_topk_is_the_same_with_and_without_the_compiled_pass(metric, monkeypatch):
    """Rankings through the compiled hits pass (numba) are numpy's bands', bit for bit, and brute
    force's."""
    pytest.importorskip("numba")
    x = np.random.default_rng(8).normal(size=(1500, 16)).astype(np.float32)
    monkeypatch.setattr(tilehits, "_COMPILED_MIN_VALUES", 0)  # tiles of 256 x 256 take it too
    used = []
    real = tilehits._kernel

    def counted():
        kernel = real()
        return None if kernel is None else lambda *args: used.append(1) or kernel(*args)

    monkeypatch.setattr(tilehits, "_kernel", counted)
    compiled = siamcli.compare(x, metric=metric, top_k=5, block_rows=256)
    assert used, "the compiled pass was not used"
    monkeypatch.setattr(tilehits, "_kernel", lambda: None)  # as without numba
    banded = siamcli.compare(x, metric=metric, top_k=5, block_rows=256)
    np.testing.assert_array_equal(compiled.a_index, banded.a_index)
    np.testing.assert_array_equal(compiled.b_index, banded.b_index)
    np.testing.assert_array_equal(compiled.score.view(np.int64), banded.score.view(np.int64))
    check_topk_against_brute_force(compiled, x, metric, 5)

"""Rankings against brute-force sorting; blockwise results equal one-shot results."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist

import siamcli
from siamcli import engine
from siamcli.errors import InputError, ShapeError, UsageError

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: Small integer vectors: many exact ties and duplicate rows, the hard cases for ranking.
TIED = st.integers(-2, 2).map(float)


def brute_scores(a, b, metric):
    if metric == "cosine":
        return 1.0 - cdist(a, b, "cosine")
    if metric == "dot":
        return a @ b.T
    return cdist(a, b, {"manhattan": "cityblock"}.get(metric, metric))


def brute_topk(scores, k, higher, exclude_self=False, threshold=None):
    """Per row: (row, col) pairs best first, ties by column index, by plain sorting."""
    out = []
    for i, row in enumerate(scores):
        entries = []
        for j, s in enumerate(row):
            if exclude_self and i == j:
                continue
            if threshold is not None and not (s >= threshold if higher else s <= threshold):
                continue
            entries.append(((-s if higher else s), j))
        entries.sort()
        out.extend((i, j) for _, j in entries[: (len(entries) if k is None else k)])
    return out


def brute_overall(scores, limit, higher, upper_only=False, threshold=None):
    entries = []
    for i, row in enumerate(scores):
        for j, s in enumerate(row):
            if upper_only and j <= i:
                continue
            if threshold is not None and not (s >= threshold if higher else s <= threshold):
                continue
            entries.append(((-s if higher else s), i, j))
    entries.sort()
    return [(i, j) for _, i, j in entries[:limit]]


@st.composite
def tied_sets(draw, max_rows=9, max_dim=4):
    n = draw(st.integers(1, max_rows))
    m = draw(st.integers(1, max_rows))
    d = draw(st.integers(1, max_dim))
    a = draw(arrays(np.float64, (n, d), elements=TIED))
    b = draw(arrays(np.float64, (m, d), elements=TIED))
    return a, b


def rank(a, b=None, *, top_k=5, limit=None, threshold=None, paired=False, block_rows=None, **options):
    """A Ranking even for 1 x 1 inputs (where `siamcli.compare` returns one Score)."""
    comparison = siamcli.prepare(a, b, **options)
    parts = list(engine.rankings(comparison, top_k=top_k, limit=limit, threshold=threshold, paired=paired,
                                 block_rows=block_rows))
    return engine.Ranking.concat(parts, comparison.metric, comparison.a, comparison.b, parts[0].grouping)


def _pairs(r):
    return list(zip(r.a_index.tolist(), r.b_index.tolist()))


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "dot", "chebyshev"])
@pytest.mark.parametrize("block_rows", [1, 3, None])
@SETTINGS
@given(sets=tied_sets(), k=st.one_of(st.none(), st.integers(1, 12)))
def test_topk_matches_brute_force_with_ties(metric, block_rows, sets, k):
    a, b = sets
    higher = metric == "dot"
    r = rank(a, b, metric=metric, top_k=k, block_rows=block_rows)
    scores = brute_scores(a, b, metric)
    assert _pairs(r) == brute_topk(scores, k, higher)
    np.testing.assert_allclose(r.score, scores[r.a_index, r.b_index], rtol=1e-12, atol=1e-12)
    for i in range(len(a)):
        ranks = r.rank[r.a_index == i]
        assert ranks.tolist() == list(range(1, len(ranks) + 1))
        assert len(ranks) == (len(b) if k is None else min(k, len(b)))  # never padded


@pytest.mark.parametrize("block_rows", [1, 3, None])
@SETTINGS
@given(sets=tied_sets(), k=st.integers(1, 12))
def test_self_comparison_excludes_self_by_index_not_by_score(block_rows, sets, k):
    a, _ = sets
    a = np.vstack([a, a[:1]])  # a duplicate row: its twin scores 0 and must be found, itself must not
    r = rank(a, metric="euclidean", top_k=k, block_rows=block_rows)
    assert (r.a_index != r.b_index).all()
    assert _pairs(r) == brute_topk(cdist(a, a), k, False, exclude_self=True)
    last = len(a) - 1
    assert (last, 0) in _pairs(r) or k < 1


@pytest.mark.parametrize("block_rows", [1, 3, None])
@SETTINGS
@given(sets=tied_sets(), limit=st.one_of(st.none(), st.integers(1, 30)),
       threshold=st.one_of(st.none(), st.sampled_from([0.0, 1.0, 2.5])))
def test_overall_limit_on_self_lists_each_unordered_pair_once(block_rows, sets, limit, threshold):
    a, _ = sets
    r = rank(a, metric="euclidean", limit="all" if limit is None else limit, threshold=threshold,
                        block_rows=block_rows)
    assert (r.a_index < r.b_index).all()
    assert _pairs(r) == brute_overall(cdist(a, a), limit, False, upper_only=True, threshold=threshold)
    assert r.rank.tolist() == list(range(1, len(r) + 1))


@pytest.mark.parametrize("block_rows", [1, 3, None])
@SETTINGS
@given(sets=tied_sets(), limit=st.integers(1, 30), threshold=st.one_of(st.none(), st.sampled_from([-1.0, 0.0, 2.0])))
def test_overall_limit_between_two_sets_matches_brute_force(block_rows, sets, limit, threshold):
    a, b = sets  # dot products of small integers are exact, so ties are real ties
    r = rank(a, b, metric="dot", limit=limit, threshold=threshold, block_rows=block_rows)
    assert _pairs(r) == brute_overall(a @ b.T, limit, True, threshold=threshold)


@SETTINGS
@given(sets=tied_sets(), k=st.integers(1, 6), threshold=st.sampled_from([0.0, 1.0, 1.5, 3.0]))
def test_threshold_keeps_only_pairs_at_least_that_close(sets, k, threshold):
    a, b = sets
    r = rank(a, b, metric="euclidean", top_k=k, threshold=threshold)
    assert (r.score <= threshold).all()
    assert _pairs(r) == brute_topk(cdist(a, b), k, False, threshold=threshold)
    sim = rank(a, b, metric="dot", top_k=k, threshold=threshold)
    assert (sim.score >= threshold).all()
    assert _pairs(sim) == brute_topk(a @ b.T, k, True, threshold=threshold)


@pytest.mark.parametrize("block_rows", [1, 3, None])
@SETTINGS
@given(data=st.data())
def test_blockwise_matrix_equals_one_shot(block_rows, data):
    n = data.draw(st.integers(1, 10))
    d = data.draw(st.integers(1, 6))
    a = data.draw(arrays(np.float32, (n, d), elements=st.floats(-3, 3, width=32)))
    a[np.abs(a) < 1e-6] = 0
    a = a + np.float32(0.001)
    for metric in ("cosine", "euclidean", "manhattan", "angular"):
        comparison = siamcli.prepare(a, metric=metric, zero_vector="nan")
        whole = engine.fill_matrix(comparison, block_rows=10**6)
        blocked = engine.fill_matrix(comparison, block_rows=block_rows)
        # BLAS rounds differently for different block shapes; the guarantees hold for each
        np.testing.assert_allclose(blocked, whole, rtol=1e-6, atol=1e-6)
        assert np.array_equal(np.isnan(blocked), np.isnan(whole))
        if metric == "euclidean":
            assert (np.diag(blocked) == 0).all()
        rows = np.vstack([block for _, block in engine.iter_matrix_rows(comparison)])
        np.testing.assert_allclose(rows, whole, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("block_rows", [1, 3, None])
def test_paired_scores_row_i_against_row_i(block_rows):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 5)), rng.normal(size=(7, 5))
    r = siamcli.compare(a, b, metric="euclidean", paired=True, block_rows=block_rows)
    assert r.a_index.tolist() == r.b_index.tolist() == list(range(7))
    np.testing.assert_allclose(r.score, np.linalg.norm(a - b, axis=1), rtol=1e-12)
    best = siamcli.compare(a, b, metric="euclidean", paired=True, limit=3)
    assert best.a_index.tolist() == np.argsort(np.linalg.norm(a - b, axis=1), kind="stable")[:3].tolist()


def test_paired_needs_equal_row_counts():
    with pytest.raises(ShapeError, match="same number of rows"):
        siamcli.compare(np.ones((3, 2)), np.ones((4, 2)), paired=True)


def test_two_single_vectors_give_one_score():
    score = siamcli.compare(np.array([1.0, 0.0]), np.array([1.0, 1.0]), metric="cosine")
    assert isinstance(score, siamcli.Score)
    assert float(score) == pytest.approx(1 / np.sqrt(2), rel=1e-12)


def test_a_single_query_against_a_gallery_is_a_ranking():
    rng = np.random.default_rng(1)
    q, g = rng.normal(size=4), rng.normal(size=(9, 4))
    r = siamcli.compare(q, g, metric="euclidean", top_k=3)
    assert r.b_index.tolist() == np.argsort(cdist(q[None], g)[0], kind="stable")[:3].tolist()


def test_dimension_mismatch_names_both_inputs():
    with pytest.raises(ShapeError) as err:
        siamcli.compare(np.ones((2, 3)), np.ones((2, 4)))
    assert "3 dimensions" in str(err.value) and "4" in str(err.value)


@pytest.mark.parametrize("kwargs", [{"top_k": 0}, {"limit": 0}, {"zero_vector": "maybe"}])
def test_bad_counts_and_policies_are_usage_errors(kwargs):
    with pytest.raises(UsageError):
        siamcli.compare(np.eye(3), np.eye(3), **kwargs)


def test_nan_scores_rank_last():
    a = np.array([[1.0, 0.0]])
    b = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    r = siamcli.compare(a, b, metric="cosine", top_k=3, zero_vector="nan")
    assert r.b_index.tolist() == [2, 1, 0]
    assert np.isnan(r.score[-1])


def test_memory_budget_splits_the_work_into_blocks():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(300, 8)), rng.normal(size=(200, 8))
    small = siamcli.prepare(a, b, metric="euclidean", memory=64 * 1024)
    rows, cols = small.block_sizes()
    assert rows * cols * (small.dtype.itemsize + engine.comparison._EXTRA_BYTES_PER_ENTRY) <= 64 * 1024 or rows == 1
    r_small = siamcli.compare(a, b, metric="euclidean", top_k=4, memory=64 * 1024)
    r_big = siamcli.compare(a, b, metric="euclidean", top_k=4)
    assert _pairs(r_small) == _pairs(r_big)
    np.testing.assert_allclose(r_small.score, r_big.score, rtol=1e-12)  # BLAS rounds by block shape


def test_single_pair_threshold_is_the_same_in_library_and_cli():
    a, b = np.array([1.0, 0.0]), np.array([1.0, 1.0])  # cosine 1/sqrt(2) = 0.7071...
    assert isinstance(siamcli.compare(a, b, threshold=0.7), siamcli.Score)
    failing = siamcli.compare(a, b, threshold=0.8)
    assert isinstance(failing, siamcli.Ranking) and len(failing) == 0


# ---------------------------------------------------------------- the product screen of rankings


SCREENED = ["cosine", "cosine_distance", "angular", "dot", "euclidean", "sqeuclidean"]


def _reference_scores(a, b, metric):
    a, b = a.astype(np.float64), b.astype(np.float64)
    cos = 1.0 - cdist(a, b, "cosine")
    ua, ub = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    angle = 2 * np.arctan2(cdist(ua, ub), cdist(ua, -ub)) / np.pi  # exact near 0, unlike arccos
    return {"cosine": cos, "cosine_distance": 1.0 - cos, "angular": angle,
            "dot": a @ b.T, "euclidean": cdist(a, b), "sqeuclidean": cdist(a, b, "sqeuclidean")}[metric]


@pytest.mark.parametrize("metric", SCREENED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_screened_topk_finds_planted_duplicates_in_every_block_and_ties_them_by_index(metric, dtype):
    rng = np.random.default_rng(11)
    a = rng.normal(size=(40, 24)).astype(dtype)
    b = rng.normal(size=(9000, 24)).astype(dtype)
    for col in (17, 4100, 8999):  # the same vector in three column blocks: an exact three-way tie
        b[col] = a[5]
    b[6000] = a[5] + 1e-2 * rng.normal(size=24)  # a near-duplicate, just behind the exact ones (but for dot)
    comparison = siamcli.prepare(a, b, metric=metric)
    assert engine.can_screen(comparison, 8)
    r = engine.Ranking.concat(list(engine.iter_topk(comparison, 8)), comparison.metric, comparison.a, comparison.b, "row")
    reference = _reference_scores(a, b, metric)
    keys = -reference if comparison.metric.higher_is_better else reference
    row5 = r.b_index[r.a_index == 5]
    if metric != "dot":
        assert row5[:4].tolist() == [17, 4100, 8999, 6000]
        assert r.score[r.a_index == 5][0] == r.score[r.a_index == 5][1] == r.score[r.a_index == 5][2]
    for i in range(len(a)):
        got = r.b_index[r.a_index == i]
        expected = np.lexsort((np.arange(len(b)), keys[i]))[:8]
        # the same pairs, up to near-ties closer than the input precision
        np.testing.assert_allclose(np.sort(keys[i][got]), np.sort(keys[i][expected]), atol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(r.score, reference[r.a_index, r.b_index], rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("metric", SCREENED)
@pytest.mark.parametrize("memory", [2**20, 2**30])
def test_screened_topk_with_threshold_and_self_equals_brute_force(metric, memory):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(700, 8))
    x[400] = x[12]
    reference = _reference_scores(x, x, metric)
    higher = metric in ("cosine", "dot")
    threshold = float(np.quantile(reference, 0.9 if higher else 0.1))
    comparison = siamcli.prepare(x, metric=metric, memory=memory)
    r = engine.Ranking.concat(list(engine.iter_topk(comparison, 6, threshold)), comparison.metric, comparison.a,
                              comparison.b, "row")
    assert _pairs(r) == brute_topk(reference, 6, higher, exclude_self=True, threshold=threshold)


def test_rows_the_zero_vector_policy_scores_fall_back_to_the_unscreened_path():
    x = np.eye(4)
    x[2] = 0.0
    comparison = siamcli.prepare(x, metric="cosine", zero_vector="nan")
    assert not engine.can_screen(comparison, 2)
    assert engine.can_screen(siamcli.prepare(np.eye(4), metric="cosine"), 2)


@contextlib.contextmanager
def threads_limited_to(count: int):
    """siamcli's threads and BLAS's limited to `count`, then every core again."""
    try:
        engine.set_threads(count)
        yield
    finally:
        engine.set_threads(None)
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=os.cpu_count())


#: Larger than one product tile (kernels.PRODUCT_TILE) both ways, so products run in several tiles.
TILED_A = np.random.default_rng(11).normal(size=(2500, 16)).astype(np.float32)
TILED_B = np.random.default_rng(12).normal(size=(4500, 16)).astype(np.float32)


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot", "angular", "mahalanobis"])
def test_product_scores_are_the_same_to_the_last_bit_for_any_thread_count_and_budget(metric):
    """A float32 GEMM's last bit depends on how BLAS splits it, so every product runs in the same
    fixed tiles with one BLAS thread each: threads and blocks of whole tiles change nothing."""
    from siamcli.metrics import kernels

    expected = siamcli.matrix(TILED_A, TILED_B, metric=metric).values
    # a budget that splits the work into blocks of whole tiles (--limit walks blocks of the matrix)
    few_rows = siamcli.compare(TILED_A, TILED_B, metric=metric, top_k=None, limit=20, memory=40 * 2**20)
    rows, cols = few_rows.a_index, few_rows.b_index
    assert engine.prepare(TILED_A, TILED_B, metric=metric, memory=40 * 2**20).block_sizes()[0] < len(TILED_A)
    np.testing.assert_array_equal(few_rows.score, expected[rows, cols].astype(np.float64))
    with threads_limited_to(1):
        assert kernels.threads() == 1
        np.testing.assert_array_equal(siamcli.matrix(TILED_A, TILED_B, metric=metric).values, expected)
    if metric != "mahalanobis":  # and the values are right, against float64
        reference = brute_scores(TILED_A.astype(np.float64), TILED_B.astype(np.float64),
                                 {"angular": "cosine"}.get(metric, metric))
        if metric == "angular":
            reference = np.arccos(np.clip(reference, -1, 1)) / np.pi
        np.testing.assert_allclose(expected, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_operands_made_on_two_threads_give_the_scores_of_one_thread(metric):
    """Inputs this large (kernels._PARALLEL_MIN_VALUES) have their operands (normalised or
    augmented rows) made on two threads at once: the same scores as one thread, in order."""
    from siamcli.metrics import kernels

    a = np.random.default_rng(13).normal(size=(1200, 512)).astype(np.float32)
    b = np.random.default_rng(14).normal(size=(900, 512)).astype(np.float32)
    assert a.size + b.size >= kernels._PARALLEL_MIN_VALUES
    both = siamcli.matrix(a, b, metric=metric).values
    with threads_limited_to(1):
        np.testing.assert_array_equal(siamcli.matrix(a, b, metric=metric).values, both)
    np.testing.assert_allclose(both, brute_scores(a.astype(np.float64), b.astype(np.float64), metric), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_screened_topk_of_many_tiles_with_any_thread_count_equals_brute_force(threads, metric):
    """1,500 queries x 13,000 gallery rows: several row chunks and four gallery blocks, each a tile
    (the threads screen one block while the candidates of the one before are merged)."""
    rng = np.random.default_rng(21)
    queries, gallery = rng.normal(size=(1500, 8)), rng.normal(size=(13000, 8))
    with threads_limited_to(threads):
        got = siamcli.compare(queries, gallery, metric=metric, top_k=3)
    scores = brute_scores(queries, gallery, metric)
    best = np.argsort(-scores if metric == "cosine" else scores, axis=1, kind="stable")[:, :3]
    assert engine.ranking._SCREEN_BLOCK_COLS * 3 < len(gallery)
    np.testing.assert_array_equal(got.b_index.reshape(1500, 3), best)
    np.testing.assert_allclose(got.score.reshape(1500, 3), np.take_along_axis(scores, best, axis=1), rtol=1e-12)


def test_zero_rows_are_found_in_every_chunk_and_only_zero_rows():
    """The zero-row scan runs in chunks on the threads and first sums squares: rows of tiny values
    (whose float32 squares are 0) and of integers whose squares wrap around are not zero rows."""
    x = np.random.default_rng(5).normal(size=(200_000, 8)).astype(np.float32)  # 4 chunks of 65,536 rows
    zero = [5, 70_000, 199_999]
    x[zero] = 0.0
    x[100_000] = 1e-30
    with pytest.raises(InputError, match=r"rows 5, 70000, 199999 \(choose"):
        siamcli.prepare(x, metric="cosine")
    assert np.flatnonzero(siamcli.prepare(x, metric="cosine", zero_vector="nan").undefined_a).tolist() == zero
    wraps = np.array([[16, 0], [0, 0], [0, 1]], dtype=np.int8)  # 16 * 16 = 256 is 0 in int8
    assert siamcli.prepare(wraps, metric="cosine", zero_vector="nan").undefined_a.tolist() == [False, True, False]


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "manhattan"])
def test_paired_scores_on_two_threads_equal_one_thread_and_the_reference(metric):
    """Paired blocks this large are split over the threads by rows: same scores, same order."""
    rng = np.random.default_rng(17)
    a, b = rng.normal(size=(3000, 384)).astype(np.float32), rng.normal(size=(3000, 384)).astype(np.float32)
    both = siamcli.compare(a, b, metric=metric, paired=True)
    with threads_limited_to(1):
        one = siamcli.compare(a, b, metric=metric, paired=True)
    np.testing.assert_array_equal(both.score, one.score)
    np.testing.assert_array_equal(both.a_index, np.arange(3000))
    reference = np.array([cdist(a[i : i + 1].astype(np.float64), b[i : i + 1].astype(np.float64),
                                {"manhattan": "cityblock"}.get(metric, metric))[0, 0] for i in range(3000)])
    if metric == "cosine":
        reference = 1.0 - reference
    np.testing.assert_allclose(both.score, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [">f8", "<f8", ">f4", ">i4"])
def test_compute_dtype_follows_precision_not_byte_order(dtype):
    x = (np.random.default_rng(4).standard_normal((20, 8)) * 100).astype(dtype)
    comp = siamcli.prepare(x, metric="euclidean")
    expected = np.float32 if dtype == ">f4" else np.float64
    assert comp.dtype == expected
    matrix = siamcli.matrix(x, metric="euclidean").values
    np.testing.assert_allclose(matrix, cdist(x.astype(float), x.astype(float)), rtol=0, atol=1e-9 if expected == np.float64 else 2e-3)

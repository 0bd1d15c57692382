"""Variants (--dims, --quantize) against the same truncated and quantised arrays computed by hand
here: sentence-transformers' int8 formula written plainly, np.packbits sign bits and a popcount,
astype(float16); scores from plain numpy, AUC from scikit-learn."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics import roc_auc_score

from siamcli import engine
from siamcli.errors import InputError, ShapeError, UsageError
from siamcli.io import EmbeddingSet
from siamcli.reports import evaluation as ev
from siamcli.reports.evaluation import variants as V
from siamcli.results import plain

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- references, written plainly


def st_int8(x, lo, hi):
    """sentence-transformers' quantize_embeddings(precision="int8") with ranges (lo, hi)."""
    steps = (hi - lo) / 255
    return ((x - lo) / steps - 128).astype(np.int8)


def st_uint8(x, lo, hi):
    steps = (hi - lo) / 255
    return ((x - lo) / steps).astype(np.uint8)


def popcount_hamming(a_bits, b_bits, d):
    """Hamming distance of packed sign bits over d dimensions, as a fraction of d."""
    differ = np.bitwise_xor(a_bits, b_bits)
    return np.bitwise_count(differ).sum(axis=1) / d


def hand_scores(metric, a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if metric == "cosine":
        return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
    if metric == "dot":
        return (a * b).sum(1)
    if metric == "euclidean":
        return np.sqrt(((a - b) ** 2).sum(1))
    if metric == "manhattan":
        return np.abs(a - b).sum(1)
    raise AssertionError(metric)


def labelled_pairs(n, count, seed):
    rng = np.random.default_rng(seed)
    left, right = rng.integers(0, n, count), rng.integers(0, n, count)
    return left, right


def clustered(n=240, d=24, seed=0, unit=False):
    """Rows around 6 centres; a pair is 'same' when both rows come from one centre."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, d))
    labels = rng.integers(0, 6, n)
    x = (centres[labels] + 0.9 * rng.normal(size=(n, d))).astype(np.float32)
    if unit:
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, labels


def closeness(scores, higher):
    return scores if higher else -scores


def values(variant):
    return np.asarray(variant.vectors.vectors)


# ---------------------------------------------------------------- truncation


def test_truncated_keeps_the_first_dims_of_a_model_that_is_not_normalised():
    x, _ = clustered()
    v = V.truncated(x, 8)
    assert (v.dims, v.quantize, v.bytes_per_vector, v.renormalized) == (8, None, 32, False)
    np.testing.assert_array_equal(values(v), x[:, :8])
    left, right = labelled_pairs(len(x), 300, 1)
    for metric in ("dot", "euclidean", "manhattan"):
        got = V.variant_scores(v, left, right, metric=metric)
        np.testing.assert_allclose(got, hand_scores(metric, x[left, :8], x[right, :8]), rtol=1e-5, atol=1e-5)


def test_truncated_renormalises_the_rows_of_a_normalised_model():
    x, _ = clustered(unit=True)
    v = V.truncated(x, 8)
    hand = x[:, :8] / np.linalg.norm(x[:, :8], axis=1, keepdims=True)
    assert v.renormalized and v.bytes_per_vector == 32 and v.label == "first 8 dims"
    np.testing.assert_allclose(values(v), hand, rtol=1e-6, atol=1e-7)
    left, right = labelled_pairs(len(x), 300, 2)
    for metric in ("dot", "euclidean", "cosine"):
        got = V.variant_scores(v, left, right, metric=metric)
        np.testing.assert_allclose(got, hand_scores(metric, hand[left], hand[right]), rtol=1e-5, atol=1e-5)


def test_truncated_cosine_is_the_same_with_or_without_renormalising():
    x, _ = clustered(unit=True)
    left, right = labelled_pairs(len(x), 200, 3)
    kept = V.variant_scores(V.truncated(x, 5, renormalize=False), left, right, metric="cosine")
    normed = V.variant_scores(V.truncated(x, 5, renormalize=True), left, right, metric="cosine")
    np.testing.assert_allclose(kept, normed, atol=1e-6)
    np.testing.assert_allclose(kept, hand_scores("cosine", x[left, :5], x[right, :5]), atol=1e-6)


def test_truncated_to_the_full_dimension_is_the_original():
    x, _ = clustered(unit=True)
    v = V.truncated(x, x.shape[1])
    assert v.label == "original" and not v.renormalized and v.bytes_per_vector == 4 * x.shape[1]
    np.testing.assert_array_equal(values(v), x)


def test_truncated_rows_zero_in_their_first_dims_stay_zero_with_a_note_and_follow_the_zero_vector_policy():
    x = np.array([[0.0, 0.0, 1.0], [0.6, 0.8, 0.0], [0.8, 0.0, 0.6], [0.0, 0.6, 0.8]])
    v = V.truncated(x, 2)
    assert v.renormalized and len(v.notes) == 1 and "1 of 4 rows" in v.notes[0]
    np.testing.assert_allclose(values(v), [[0, 0], [0.6, 0.8], [1, 0], [0, 1]])
    with pytest.raises(InputError, match="zero"):
        V.variant_scores(v, [0], [1], metric="cosine")
    assert np.isnan(V.variant_scores(v, [0, 1], [1, 2], metric="cosine", zero_vector="nan")[0])
    np.testing.assert_allclose(V.variant_scores(v, [0, 1], [1, 2], metric="euclidean"),
                               [1.0, math.hypot(0.4, 0.8)])


def test_truncating_a_variant_again_is_refused():
    x, _ = clustered()
    with pytest.raises(UsageError, match="already a variant"):
        V.truncated(V.quantized(x, "int8"), 4)
    with pytest.raises(UsageError, match="already a variant"):
        V.truncated(V.truncated(x, 8), 4)


# ---------------------------------------------------------------- quantisation against the hand formulas


def test_quantized_int8_and_uint8_are_sentence_transformers_buckets_calibrated_on_the_data():
    x, _ = clustered()
    lo, hi = x.astype(np.float64).min(0), x.astype(np.float64).max(0)
    i8, u8 = V.quantized(x, "int8"), V.quantized(x, "uint8")
    np.testing.assert_array_equal(values(i8), st_int8(x.astype(np.float64), lo, hi))
    np.testing.assert_array_equal(values(u8), st_uint8(x.astype(np.float64), lo, hi))
    assert values(i8).dtype == np.int8 and values(u8).dtype == np.uint8
    assert (i8.bytes_per_vector, u8.bytes_per_vector) == (x.shape[1], x.shape[1])
    assert values(i8).min() == -128 and values(u8).min() == 0


def test_quantized_int8_on_other_calibration_rows_clips_what_lies_outside_their_range():
    x, _ = clustered(seed=4)
    calibration = x[:100]
    lo, hi = calibration.astype(np.float64).min(0), calibration.astype(np.float64).max(0)
    got = values(V.quantized(x, "int8", calibration=calibration))
    buckets = np.clip((x.astype(np.float64) - lo) / ((hi - lo) / 255), 0, 255)  # the ends of the range, by hand
    np.testing.assert_array_equal(got, (buckets - 128).astype(np.int8))
    assert got[100:].min() == -128 and got[100:].max() == 127  # rows beyond the range reach the ends


def test_quantized_int8_of_a_truncation_is_calibrated_on_the_truncated_rows():
    x, _ = clustered(unit=True, seed=5)
    head = x[:, :8].astype(np.float64)
    head /= np.linalg.norm(head, axis=1, keepdims=True)
    v = V.quantized(V.truncated(x, 8), "int8")
    assert (v.dims, v.quantize, v.bytes_per_vector, v.label) == (8, "int8", 8, "first 8 dims, int8")
    got = values(v)
    hand = st_int8(head, head.min(0), head.max(0))
    # the variant normalises in float32 (the model's type): a value on a bucket's edge may land one off
    assert np.abs(got.astype(int) - hand).max() <= 1 and (got == hand).mean() > 0.99


def test_quantized_binary_scores_are_hamming_of_packed_sign_bits():
    x, _ = clustered(d=21)  # not a multiple of 8: the last byte is padded
    v = V.quantized(x, "binary")
    assert (v.dims, v.bytes_per_vector) == (21, 3)
    np.testing.assert_array_equal(values(v), (x > 0).astype(np.uint8))
    packed = np.packbits(x > 0, axis=1)
    left, right = labelled_pairs(len(x), 400, 6)
    got = V.variant_scores(v, left, right, metric="hamming")
    np.testing.assert_array_equal(got, popcount_hamming(packed[left], packed[right], 21))


def test_quantized_float16_rounds_each_value_and_scores_in_float32():
    x, _ = clustered(seed=7)
    v = V.quantized(x, "float16")
    hand = x.astype(np.float16).astype(np.float32)
    assert v.bytes_per_vector == 2 * x.shape[1]
    np.testing.assert_array_equal(values(v), hand)
    left, right = labelled_pairs(len(x), 300, 8)
    got = V.variant_scores(v, left, right, metric="cosine")
    np.testing.assert_allclose(got, hand_scores("cosine", hand[left], hand[right]), atol=1e-6)


def test_quantized_float16_of_a_value_beyond_its_range_is_an_error_naming_it():
    x = np.ones((3, 4))
    x[2, 1] = 70000.0
    with pytest.raises(InputError, match=r"row 2, column 1 is 70000.*float16"):
        V.quantized(x, "float16")
    x[2, 1] = 65504.0  # float16's largest value: held
    assert values(V.quantized(x, "float16"))[2, 1] == 65504.0


def test_bytes_per_vector_of_each_variant():
    x32 = np.random.default_rng(0).normal(size=(10, 100)).astype(np.float32)
    expected = {None: 400, "float16": 200, "int8": 100, "uint8": 100, "binary": 13}
    got = {v.quantize: v.bytes_per_vector for v, _ in V.variants(x32, quantize=V.QUANTIZE_KINDS)}
    assert got == expected
    assert V.original(x32.astype(np.float64)).bytes_per_vector == 800
    assert V.truncated(x32, 33).bytes_per_vector == 132


# ---------------------------------------------------------------- AUC of every variant against scikit-learn


@pytest.mark.parametrize("kind", [None, "dims", "float16", "int8", "uint8", "binary"])
def test_variant_auc_equals_roc_auc_score_of_the_hand_computed_scores(kind):
    x, labels = clustered(n=300, d=32, seed=9)
    left, right = labelled_pairs(len(x), 1500, 10)
    same = labels[left] == labels[right]
    x64 = x.astype(np.float64)
    hands = {
        None: ("cosine", x64), "dims": ("euclidean", x64[:, :12]),
        "float16": ("cosine", x.astype(np.float16).astype(np.float64)),
        "int8": ("euclidean", st_int8(x64, x64.min(0), x64.max(0))),
        "uint8": ("dot", st_uint8(x64, x64.min(0), x64.max(0))),
    }
    if kind == "binary":
        packed = np.packbits(x > 0, axis=1)
        metric, hand, v = "hamming", popcount_hamming(packed[left], packed[right], 32), V.quantized(x, "binary")
    else:
        metric, rows = hands[kind]
        hand = hand_scores(metric, rows[left], rows[right])
        v = V.original(x) if kind is None else V.truncated(x, 12) if kind == "dims" else V.quantized(x, kind)
    m = engine.get_metric(metric)
    scores = V.variant_scores(v, left, right, metric=metric)
    report = ev.verification_report(scores, same, m.higher_is_better, folds=2)
    assert report.auc == pytest.approx(roc_auc_score(same, closeness(hand, m.higher_is_better)), abs=1e-12)


def test_variants_of_two_sets_share_one_calibration_and_score_row_i_with_row_i():
    rng = np.random.default_rng(11)
    left, right = rng.normal(size=(50, 6)), 3 * rng.normal(size=(50, 6))
    both = np.vstack([left, right])
    lo, hi = both.min(0), both.max(0)
    found = {a.label: (a, b) for a, b in V.variants(left, right, dims=[3, "full", 6], quantize=["int8", "binary"])}
    assert list(found) == ["original", "first 3 dims", "int8", "binary"]
    a, b = found["int8"]
    np.testing.assert_array_equal(values(a), st_int8(left, lo, hi))
    np.testing.assert_array_equal(values(b), st_int8(right, lo, hi))
    got = V.variant_scores(a, right=b, metric="manhattan")
    np.testing.assert_array_equal(got, hand_scores("manhattan", st_int8(left, lo, hi), st_int8(right, lo, hi)))
    a, b = found["first 3 dims"]
    assert not a.renormalized  # the rows are not unit: their lengths are kept
    np.testing.assert_allclose(V.variant_scores(a, right=b, metric="dot"), (left[:, :3] * right[:, :3]).sum(1))


def test_variant_scores_read_rows_in_blocks_within_the_memory_budget():
    x, _ = clustered(n=4000, d=64, seed=12)
    reads = []

    def spy(rows):
        reads.append(len(rows))
        return rows

    watched = EmbeddingSet(V.RowMap(x, spy, 64, x.dtype), None, "watched.npy")
    v = V.quantized(watched, "int8")
    reads.clear()
    left, right = labelled_pairs(len(x), 20000, 13)
    memory = 2**20
    got = V.variant_scores(v, left, right, metric="euclidean", memory=memory)
    assert reads and max(reads) <= memory // (64 * 32)  # engine.iter_paired's block of rows
    x64 = x.astype(np.float64)
    q = st_int8(x64, x64.min(0), x64.max(0))
    np.testing.assert_allclose(got, hand_scores("euclidean", q[left], q[right]), rtol=1e-6)


def test_variant_comparison_scores_every_class_pair_and_retrieval_like_brute_force():
    x, labels = clustered(n=120, d=16, seed=14)
    x64 = x.astype(np.float64)
    q = st_int8(x64, x64.min(0), x64.max(0)).astype(np.float64)
    comp = V.comparison(V.quantized(x, "int8"), metric="euclidean", memory=2**20)
    codes, _ = ev.retrieval.codes_and_sizes(labels)
    scores, same, tallies = ev.class_pair_scores(comp, codes, (1,), True)
    i, j = np.triu_indices(len(x), 1)
    hand = np.sqrt(((q[i] - q[j]) ** 2).sum(1))
    np.testing.assert_allclose(scores, hand, rtol=1e-6)
    np.testing.assert_array_equal(same, labels[i] == labels[j])
    report = ev.retrieval_from_counts(tallies, len(x), False, (1,))
    distances = np.sqrt(((q[:, None, :] - q[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(distances, np.inf)
    nearest = np.argmin(distances, axis=1)  # the first of equal distances: ties by index
    assert report.precision_at_1 == pytest.approx(np.mean(labels[nearest] == labels), abs=1e-12)


# ---------------------------------------------------------------- metrics, records, words


def test_binary_is_scored_by_hamming_only_and_int8_leaves_out_metrics_of_nonnegative_vectors():
    x, _ = clustered()
    chosen = [engine.get_metric(name) for name in ("cosine", "euclidean", "jensenshannon")]
    kept, notes = V.quantized(x, "binary").metrics(chosen)
    assert [m.name for m in kept] == ["hamming"] and "cosine, euclidean, jensenshannon" in notes[0]
    kept, notes = V.quantized(x, "int8").metrics(chosen)
    assert [m.name for m in kept] == ["cosine", "euclidean"] and "jensenshannon" in notes[0]
    kept, notes = V.quantized(x, "uint8").metrics(chosen)
    assert len(kept) == 3 and notes == []
    with pytest.raises(UsageError, match="binary: sign bits are scored by hamming, not cosine"):
        V.variant_scores(V.quantized(x, "binary"), [0], [1], metric="cosine")
    with pytest.raises(UsageError, match="hamming"):
        V.variant_scores(V.quantized(x, "binary"), [0], [1], metric="hamming", normalize=True)


def test_with_variant_adds_dims_quantize_and_bytes_after_metric_and_stays_valid_json():
    x, _ = clustered()
    record = {"model": "a.npy", "metric": "cosine", "auc": 0.9, "dims": "stale"}
    got = V.with_variant(record, V.quantized(V.truncated(x, 8), "binary"))
    assert list(got) == ["model", "metric", "dims", "quantize", "bytes_per_vector", "auc"]
    assert (got["dims"], got["quantize"], got["bytes_per_vector"]) == (8, "binary", 1)
    original = V.with_variant({"metric": "cosine"}, V.original(x))
    assert json.loads(json.dumps(plain(original), allow_nan=False)) == {
        "metric": "cosine", "dims": 24, "quantize": None, "bytes_per_vector": 96}
    assert list(V.with_variant({"auc": 1.0}, V.original(x))) == ["auc", "dims", "quantize", "bytes_per_vector"]


def test_kept_words_say_the_share_of_auc_and_of_size():
    x = np.random.default_rng(1).normal(size=(20, 128)).astype(np.float32)
    full = V.original(x)
    assert V.kept_words(V.quantized(x, "int8"), 0.996, full, 1.0) == "int8 keeps 99.6% of the AUC at 1/4 of the size"
    assert V.kept_words(V.quantized(x, "binary"), 0.9, full, 0.9) == "binary keeps all of the AUC at 1/32 of the size"
    assert V.kept_words(V.truncated(x, 96), 0.5, full, 1.0) == "first 96 dims keeps 50.0% of the AUC at 75% of the size"


# ---------------------------------------------------------------- parsing


def test_parse_dims_sorts_drops_the_full_dimension_and_names_what_is_wrong():
    assert V.parse_dims("128, 32,64,full,32", 128) == [32, 64]
    assert V.parse_dims([8, "16"], 32) == [8, 16]
    with pytest.raises(UsageError, match=r"dims 129 is more than the 128 dimensions of m\.npy"):
        V.parse_dims("32,129", 128, "m.npy")
    for bad in ("0", "-4", "abc", "3.5"):
        with pytest.raises(UsageError, match=f"got '{bad}'"):
            V.parse_dims(f"8,{bad}", 128)
    with pytest.raises(UsageError, match="comma list"):
        V.parse_dims(" , ", 128)


def test_parse_quantize_keeps_order_once_each_and_suggests_a_name():
    assert V.parse_quantize("int8, float16,INT8,binary") == ["int8", "float16", "binary"]
    with pytest.raises(UsageError, match="did you mean 'int8'"):
        V.parse_quantize("int9")
    with pytest.raises(UsageError, match="the original values are always evaluated"):
        V.parse_quantize("float32")
    with pytest.raises(UsageError, match="comma list"):
        V.parse_quantize("")


def test_variants_refuse_dims_beyond_either_set_and_calibration_of_another_dimension():
    with pytest.raises(UsageError, match="more than the 4 dimensions"):
        V.variants(np.ones((3, 4)), dims=[5])
    with pytest.raises(ShapeError, match="dimensions"):
        V.quantized(np.ones((3, 4)), "int8", calibration=np.ones((3, 5)))
    with pytest.raises(ShapeError, match=r"\(2, 4\)"):
        V.quantized(np.ones((3, 4)), "int8", ranges=np.zeros((2, 3)))


# ---------------------------------------------------------------- properties of the quantisers

finite64 = st.floats(allow_nan=False, allow_infinity=False, width=64)
ordinary = st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False)


def matrices(elements, max_side=12):
    """Matrices whose columns are often constant (drawn from few values) or all zero."""
    shapes = st.tuples(st.integers(1, max_side), st.integers(1, max_side))
    few = st.sampled_from([0.0, -1.5, 2.0, 7.25])
    return shapes.flatmap(lambda shape: hnp.arrays(np.float64, shape, elements=st.one_of(elements, few)))


@SETTINGS
@given(matrices(finite64), st.sampled_from(["int8", "uint8"]))
def test_stepped_quantisers_keep_shape_range_order_and_send_constant_dimensions_to_zero(x, kind):
    q = values(V.quantized(x, kind))
    low, high = (-128, 127) if kind == "int8" else (0, 255)
    assert q.shape == x.shape and q.dtype == np.dtype(kind)
    assert q.min() >= low and q.max() <= high
    constant = (x == x[:1]).all(axis=0)
    assert (q[:, constant] == 0).all()
    for col in np.flatnonzero(~constant):  # monotone in each dimension; the minimum takes the lowest bucket
        order = np.argsort(x[:, col], kind="stable")
        assert (np.diff(q[order, col].astype(int)) >= 0).all()
        assert q[np.argmin(x[:, col]), col] == low


@SETTINGS
@given(matrices(ordinary), st.sampled_from(["int8", "uint8"]))
def test_stepped_quantisers_equal_the_sentence_transformers_formula_on_ordinary_values(x, kind):
    q = values(V.quantized(x, kind))
    lo, hi = x.min(0), x.max(0)
    varying = hi > lo
    hand = (st_int8 if kind == "int8" else st_uint8)(x[:, varying], lo[varying], hi[varying])
    np.testing.assert_array_equal(q[:, varying], hand)


@SETTINGS
@given(matrices(st.floats(-65000, 65000, allow_nan=False)))
def test_float16_rounds_to_the_nearest_float16_within_half_a_step(x):
    q = values(V.quantized(x, "float16"))
    assert q.dtype == np.float32 and q.shape == x.shape and np.isfinite(q).all()
    np.testing.assert_array_equal(q, x.astype(np.float16).astype(np.float32))
    assert (np.abs(q - x) <= np.abs(x) * 2.0**-11 + 2.0**-25).all()


@SETTINGS
@given(matrices(finite64, max_side=20))
def test_binary_bits_are_signs_and_hamming_counts_the_bits_that_differ(x):
    v = V.quantized(x, "binary")
    bits = values(v)
    assert bits.shape == x.shape and set(np.unique(bits)) <= {0, 1}
    np.testing.assert_array_equal(bits, x > 0)
    assert v.bytes_per_vector == math.ceil(x.shape[1] / 8)
    n, d = x.shape
    left, right = np.repeat(np.arange(n), n), np.tile(np.arange(n), n)
    packed = np.packbits(x > 0, axis=1)
    got = V.variant_scores(v, left, right, metric="hamming")
    np.testing.assert_array_equal(got, popcount_hamming(packed[left], packed[right], d))


def test_bit_metrics_are_the_registered_metrics_that_compare_bits():
    assert [m.name for m in V.bit_metrics()] == ["hamming"]


def test_binary_of_zero_vectors_is_all_zero_bits_at_hamming_zero():
    v = V.quantized(np.zeros((3, 10)), "binary")
    assert not values(v).any()
    np.testing.assert_array_equal(V.variant_scores(v, [0, 1], [1, 2], metric="hamming"), [0.0, 0.0])


@SETTINGS
@given(matrices(ordinary), st.data())
def test_truncated_unit_rows_stay_unit_or_zero(x, data):
    rows = x[np.linalg.norm(x, axis=1) > 0]
    if not len(rows):
        rows = np.ones((1, x.shape[1]))
    rows = rows / np.abs(rows).max(axis=1, keepdims=True)  # no squares underflow: norms are exact enough
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    d = data.draw(st.integers(1, unit.shape[1]))
    got = values(V.truncated(unit, d))
    assert got.shape == (len(unit), d)
    norms = np.linalg.norm(got, axis=1)
    zero = ~(unit[:, :d] != 0).any(axis=1)
    np.testing.assert_allclose(norms[~zero], 1.0, atol=1e-12)
    assert (got[zero] == 0).all()

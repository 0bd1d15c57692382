"""siamcli diff: every figure against an independent reference written here (brute-force neighbours from
scipy's cdist, CKA from the n x n kernel formula, debiased CKA from the unbiased HSIC estimator's formula,
scipy.linalg.orthogonal_procrustes, scipy.stats.spearmanr), the invariances (a rotation, a scaling,
shuffled rows with ids), and the command in every output format and on bad input."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.distance import cdist
from scipy.stats import spearmanr

from siamcli.io import EmbeddingSet
from siamcli.reports.diff import diff_spaces
from siamcli.reports.diff.agreement import sample_pairs
from test_cli import assert_one_error_line, invoke, parse_jsonl, strict_json

REQUIRED_KEYS = ("n", "k", "metric", "metric_b", "jaccard_mean", "jaccard_median", "cka", "rsa_spearman",
                 "procrustes_residual", "items")


# ---------------------------------------------------------------- independent references


def brute_neighbours(x: np.ndarray, k: int, metric: str = "cosine", **kwargs) -> np.ndarray:
    """Each row's k nearest other rows by scipy's cdist (cosine: its distance, 1 - similarity), ties by row."""
    d = cdist(x, x, metric, **kwargs)
    np.fill_diagonal(d, np.inf)
    return np.array([np.lexsort((np.arange(len(x)), row))[:k] for row in d])


def brute_jaccard(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.array([len(set(p) & set(q)) / len(set(p) | set(q)) for p, q in zip(before.tolist(), after.tolist())])


def kernel_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al. 2019: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)), HSIC = tr(KHLH) / (n-1)^2, K = XX'."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l = x @ x.T, y @ y.T

    def hsic(p, q):
        return np.trace(p @ h @ q @ h) / (n - 1) ** 2

    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


def debiased_cka(x: np.ndarray, y: np.ndarray) -> float:
    """The same ratio of unbiased HSIC estimates (Song et al. 2012; Nguyen et al. 2021), on the raw Gram matrices:
    HSIC_1 = [tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3)), K~ = K with a zero diagonal."""
    n = len(x)
    one = np.ones(n)

    def hsic(k, l):
        k, l = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))
        return (np.trace(k @ l) + (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2))
                - 2 / (n - 2) * (one @ k @ l @ one)) / (n * (n - 3))

    k, l = x @ x.T, y @ y.T
    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


def feature_cka(x: np.ndarray, y: np.ndarray) -> float:
    """The same, as Kornblith et al. write it for centred features: ||Y'X||_F^2 / (||X'X||_F ||Y'Y||_F)."""
    x, y = x - x.mean(axis=0), y - y.mean(axis=0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def procrustes(x: np.ndarray, y: np.ndarray, best_scale: bool = False) -> float:
    """||A R - B|| / ||B|| of the centred spaces, R from scipy; with `best_scale`, A R also scaled by the
    least-squares factor <AR, B> / ||AR||^2."""
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    r, _ = orthogonal_procrustes(xc, yc)
    turned = xc @ r
    if best_scale:
        turned *= np.vdot(turned, yc) / np.vdot(turned, turned)
    return np.linalg.norm(turned - yc) / np.linalg.norm(yc)


def rotation(d: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def spaces(n=120, p=6, q=9, seed=0):
    """A, and B a noisy linear image of A: related but not the same."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, p))
    b = a @ rng.normal(size=(p, q)) + 0.8 * rng.normal(size=(n, q))
    return a, b


# ---------------------------------------------------------------- per-item neighbourhoods


@pytest.mark.parametrize("metric, metric_b", [("cosine", None), ("euclidean", "cosine"), ("cityblock", "euclidean")])
def test_diff_jaccard_matches_brute_force_neighbours(metric, metric_b):
    a, b = spaces()
    k = 7
    report = diff_spaces(a, b, top_k=k, metric=metric, metric_b=metric_b)
    before, after = brute_neighbours(a, k, metric), brute_neighbours(b, k, metric_b or metric)
    np.testing.assert_array_equal(report.before, before)
    np.testing.assert_array_equal(report.after, after)
    jac = brute_jaccard(before, after)
    np.testing.assert_allclose(report.jaccard, jac, rtol=0, atol=1e-15)
    record = report.record()
    canonical = {"cityblock": "manhattan"}  # the registry's name for scipy's cityblock
    assert record["metric"] == canonical.get(metric, metric)
    assert record["metric_b"] == canonical.get(metric_b or metric, metric_b or metric)
    assert record["jaccard_mean"] == pytest.approx(jac.mean(), abs=1e-15)
    assert record["jaccard_median"] == pytest.approx(np.median(jac), abs=1e-15)
    assert record["shared_mean"] == pytest.approx(np.mean([len(set(p) & set(q)) for p, q in zip(before, after)]) / k)
    assert record["jaccard_quantiles"]["25%"] == pytest.approx(np.quantile(jac, 0.25))
    counts = {row["shared"]: row["items"] for row in record["shared_histogram"]}
    assert sum(counts.values()) == len(a) and list(counts) == list(range(k + 1))
    for shared, items in counts.items():
        assert items == int(np.isclose(jac, shared / (2 * k - shared)).sum())


@st.composite
def small_integer_spaces(draw):
    """Two spaces of few items with small integer values: many exact ties between distances."""
    n = draw(st.integers(3, 14))
    values = st.integers(-2, 2).map(float)
    a = draw(arrays(np.float64, (n, draw(st.integers(1, 4))), elements=values))
    b = draw(arrays(np.float64, (n, draw(st.integers(1, 4))), elements=values))
    return a, b, draw(st.integers(1, n - 1))


@settings(max_examples=60, deadline=None)
@given(small_integer_spaces(), st.sampled_from(["euclidean", "cityblock", "sqeuclidean"]))
def test_diff_neighbours_and_jaccard_equal_brute_force_with_ties(case, metric):
    a, b, k = case
    assume(np.ptp(a, axis=0).any() and np.ptp(b, axis=0).any())  # a space of one point has no shape
    report = diff_spaces(a, b, top_k=k, metric=metric)
    before, after = brute_neighbours(a, k, metric), brute_neighbours(b, k, metric)
    np.testing.assert_array_equal(report.before, before)
    np.testing.assert_array_equal(report.after, after)
    assert report.jaccard.tolist() == pytest.approx(brute_jaccard(before, after).tolist(), abs=1e-15)
    json.dumps(report.record(), allow_nan=False)


def test_diff_items_run_from_the_lowest_jaccard_ties_by_row_with_their_neighbours():
    a, b = spaces(n=80)
    report = diff_spaces(a, b, top_k=5, metric="euclidean")
    items = report.record()["items"]
    jac = brute_jaccard(brute_neighbours(a, 5, "euclidean"), brute_neighbours(b, 5, "euclidean"))
    expected = sorted(range(len(a)), key=lambda i: (jac[i], i))
    assert [item["index"] for item in items] == expected
    first = items[0]
    assert first["id"] == str(first["index"]) and first["jaccard"] == pytest.approx(jac[first["index"]])
    assert first["a_neighbors"] == [str(j) for j in brute_neighbours(a, 5, "euclidean")[first["index"]]]
    assert first["b_neighbors"] == [str(j) for j in brute_neighbours(b, 5, "euclidean")[first["index"]]]
    assert first["shared"] == len(set(first["a_neighbors"]) & set(first["b_neighbors"]))


def test_diff_ties_are_broken_by_the_items_row_in_a_whatever_bs_order():
    """Every pair of rows of the identity is equally far: each item's neighbours are the k lowest other rows
    of A, in both spaces, though B lists the items in another order (matched by id)."""
    n, k = 9, 3
    ids = [f"item{i}" for i in range(n)]
    a = EmbeddingSet(np.eye(n), ids, "A")
    perm = np.random.default_rng(3).permutation(n)
    b = EmbeddingSet(np.eye(n)[perm] * 2.0, [ids[i] for i in perm], "B")
    report = diff_spaces(a, b, top_k=k, metric="euclidean")
    expected = np.array([[j for j in range(n) if j != i][:k] for i in range(n)])
    np.testing.assert_array_equal(report.before, expected)
    np.testing.assert_array_equal(report.after, expected)
    assert report.record()["jaccard_mean"] == 1.0


def test_diff_self_is_left_out_by_index_even_when_a_duplicate_ties_it():
    a, b = spaces(n=30)
    a[5] = a[4]  # rows 4 and 5 are the same point: each is the other's nearest, never itself
    report = diff_spaces(a, b, top_k=3, metric="euclidean")
    assert report.before[4, 0] == 5 and report.before[5, 0] == 4
    assert all(i not in row for i, row in enumerate(report.before.tolist()))


def test_diff_metric_parameters_go_to_each_metric_that_takes_them():
    a, b = spaces(n=60)
    report = diff_spaces(a, b, top_k=4, metric="minkowski", p=3.0)
    np.testing.assert_array_equal(report.before, brute_neighbours(a, 4, "minkowski", p=3.0))
    np.testing.assert_array_equal(report.after, brute_neighbours(b, 4, "minkowski", p=3.0))


# ---------------------------------------------------------------- global agreement


@pytest.mark.parametrize("n, p, q", [(150, 5, 7), (60, 6, 6), (12, 40, 40), (10, 30, 50)])
def test_diff_cka_and_procrustes_match_the_formulas(n, p, q):
    """Shapes that take the feature-space form (d x d) and the kernel form (n x n; n < d: via QR)."""
    rng = np.random.default_rng(n + p)
    a = rng.normal(size=(n, p)) + 2.0
    b = a @ rng.normal(size=(p, q)) + rng.normal(size=(n, q)) - 1.0
    report = diff_spaces(a, b, top_k=2, metric="euclidean")
    assert report.cka == pytest.approx(kernel_cka(a, b), rel=1e-10)
    debiased = diff_spaces(a, b, top_k=2, metric="euclidean", debiased=True)
    assert debiased.cka == pytest.approx(debiased_cka(a, b), rel=1e-9)
    if p == q:
        assert report.procrustes_residual == pytest.approx(procrustes(a, b), rel=1e-10)
        assert report.procrustes_scaled_residual == pytest.approx(procrustes(a, b, best_scale=True), rel=1e-10)
    else:
        assert report.procrustes_residual is None and report.record()["procrustes_residual"] is None


def test_diff_products_read_in_chunks_give_the_figures_of_one_piece():
    a, b = spaces(n=3000, p=16, q=16, seed=5)
    whole = diff_spaces(a, b, top_k=3, pairs_sample=2000)
    chunked = diff_spaces(a, b, top_k=3, pairs_sample=2000, memory="1M")
    assert chunked.cka == pytest.approx(whole.cka, rel=1e-12)
    assert chunked.cka == pytest.approx(feature_cka(a, b), rel=1e-10)
    assert chunked.procrustes_residual == pytest.approx(procrustes(a, b), rel=1e-8)
    np.testing.assert_array_equal(chunked.before, whole.before)
    np.testing.assert_array_equal(chunked.after, whole.after)


def test_diff_a_rotation_agrees_completely():
    a = np.random.default_rng(8).normal(size=(200, 8))
    b = a @ rotation(8, 9)
    report = diff_spaces(a, b, top_k=10, metric="euclidean")
    assert report.cka == pytest.approx(1.0, abs=1e-12)
    assert report.procrustes_residual < 1e-13 and report.procrustes_scaled_residual < 1e-13
    assert report.rsa_spearman == pytest.approx(1.0, abs=1e-12)
    assert (report.jaccard == 1.0).all()
    assert report.record()["summary"][2].startswith("the two spaces agree closely: B is nearly a rotation of A")
    assert report.record()["summary"][0].startswith("neighbourhoods barely changed")


def test_diff_an_isotropic_scaling_has_cka_one_and_is_a_rotation_only_up_to_scale():
    a = np.random.default_rng(10).normal(size=(150, 6))
    report = diff_spaces(a, 3.0 * a, top_k=5, metric="cosine")
    assert report.cka == pytest.approx(1.0, abs=1e-12)
    assert (report.jaccard == 1.0).all()
    # ||A R - 3A|| / ||3A|| is least at R = I: 2/3 (as scipy finds); with the best scale, 0
    assert report.procrustes_residual == pytest.approx(2 / 3, rel=1e-10)
    assert report.procrustes_residual == pytest.approx(procrustes(a, 3.0 * a), rel=1e-10)
    assert report.procrustes_scaled_residual < 1e-13
    assert "B is nearly a scaled rotation of A" in " ".join(report.record()["summary"])


def test_diff_far_from_one_in_magnitude_gives_the_figures_of_ordinary_values():
    """Centring and power-of-two scaling: values near 1e150 and 1e-150, or on a large offset, give the same
    CKA and residuals as the ordinary values they are made from (products of them would overflow)."""
    a, b = spaces(n=80, p=5, q=5, seed=11)
    plain_report = diff_spaces(a, b, top_k=4, metric="euclidean")
    huge = diff_spaces(a * 1e150, b * 1e150, top_k=4, metric="euclidean")
    tiny = diff_spaces(a * 1e-150, b * 1e-150, top_k=4, metric="euclidean")
    offset = diff_spaces(a + 1e6, b - 1e6, top_k=4, metric="euclidean")
    for other in (huge, tiny, offset):
        assert other.cka == pytest.approx(plain_report.cka, rel=1e-9)
        assert other.procrustes_residual == pytest.approx(plain_report.procrustes_residual, rel=1e-8)
        assert np.isfinite(other.rsa_spearman)
    assert plain_report.cka == pytest.approx(kernel_cka(a, b), rel=1e-10)


@pytest.mark.parametrize("count", [500, 10_000])
def test_diff_spearman_matches_scipy_on_the_same_pairs(count):
    a, b = spaces(n=100, seed=12)
    report = diff_spaces(a, b, top_k=3, metric="cosine", metric_b="euclidean", pairs_sample=count, seed=4)
    i, j, sampled = sample_pairs(100, count, 4)
    assert sampled == (count < 100 * 99 // 2) and report.rsa_pairs == len(i) and report.rsa_sampled == sampled
    closeness_a = cdist(a, a, "cosine")[i, j]  # cosine distance: ranks pairs as minus the similarity does
    closeness_b = cdist(b, b, "euclidean")[i, j]
    assert report.rsa_spearman == pytest.approx(spearmanr(closeness_a, closeness_b).statistic, rel=1e-12)


def test_sample_pairs_are_pairs_of_two_items_drawn_reproducibly():
    i, j, sampled = sample_pairs(100, 4000, 7)  # 4,950 pairs: sampled
    assert sampled and len(i) == len(j) == 4000 and (i != j).all()
    assert min(i.min(), j.min()) == 0 and max(i.max(), j.max()) == 99
    np.testing.assert_array_equal(sample_pairs(100, 4000, 7)[1], j)
    assert not np.array_equal(sample_pairs(100, 4000, 8)[1], j)
    seen = np.bincount(np.concatenate([i, j]), minlength=100)  # each item in about 80 pairs (sd about 9)
    assert abs(seen - 80).max() < 45
    i, j, sampled = sample_pairs(5, 10, 0)  # 10 pairs of 5 items: every one, once
    assert not sampled and sorted(zip(i.tolist(), j.tolist())) == [(x, y) for x in range(5) for y in range(x + 1, 5)]


def test_diff_spearman_is_null_with_a_note_when_every_pair_is_equally_close():
    """Collinear vectors: every cosine is 1, so the pairs have no order in A; the note says so."""
    rng = np.random.default_rng(2)
    a = np.outer(rng.uniform(1, 2, size=20), [1.0, 2.0, 3.0])
    b = rng.normal(size=(20, 3))
    record = diff_spaces(a, b, top_k=2, metric="cosine").record()
    assert record["rsa_spearman"] is None
    assert any("equally close in A" in note for note in record["notes"])
    json.dumps(record, allow_nan=False)


# ---------------------------------------------------------------- matching by id


def test_diff_rows_of_b_shuffled_with_ids_give_the_same_answers():
    a, b = spaces(n=90, p=5, q=5, seed=13)
    ids = [f"x{i}" for i in range(90)]
    perm = np.random.default_rng(14).permutation(90)
    ordered = diff_spaces(EmbeddingSet(a, ids, "A"), EmbeddingSet(b, ids, "B"), top_k=6)
    shuffled = diff_spaces(EmbeddingSet(a, ids, "A"), EmbeddingSet(b[perm], [ids[i] for i in perm], "B"), top_k=6)
    first, second = ordered.record(), shuffled.record()
    assert first["matched_by"] == second["matched_by"] == "id"
    for key in ("cka", "procrustes_residual", "rsa_spearman"):
        assert second[key] == pytest.approx(first[key], rel=1e-12)
    assert first["items"] == second["items"]
    assert first["jaccard_mean"] == second["jaccard_mean"]


# ---------------------------------------------------------------- the command


def _npy(tmp_path, name, array):
    path = tmp_path / name
    np.save(path, np.asarray(array, dtype=np.float64))
    return str(path)


def _ids(tmp_path, name, ids):
    path = tmp_path / name
    path.write_text("".join(f"{i}\n" for i in ids))
    return str(path)


@pytest.fixture
def pair(tmp_path):
    a, b = spaces(n=40, p=4, q=4, seed=15)
    return _npy(tmp_path, "a.npy", a), _npy(tmp_path, "b.npy", b), a, b


@pytest.mark.parametrize("entry", ["runner", pytest.param("executable", marks=pytest.mark.slow)])
def test_cli_diff_json_is_one_object_with_the_figures(pair, entry):
    a_path, b_path, a, b = pair
    code, out, err = invoke(entry, "diff", a_path, b_path, "-k", "5", "-m", "euclidean", "-f", "json", "-q")
    assert code == 0 and err == "", err
    record = strict_json(out)
    assert isinstance(record, dict) and all(key in record for key in REQUIRED_KEYS)
    assert (record["n"], record["k"], record["metric"], record["metric_b"]) == (40, 5, "euclidean", "euclidean")
    assert record["cka"] == pytest.approx(kernel_cka(a, b), rel=1e-10)
    assert record["procrustes_residual"] == pytest.approx(procrustes(a, b), rel=1e-8)
    jac = brute_jaccard(brute_neighbours(a, 5, "euclidean"), brute_neighbours(b, 5, "euclidean"))
    assert record["jaccard_mean"] == pytest.approx(jac.mean(), abs=1e-15)
    assert len(record["items"]) == 40  # machine formats list every item
    assert [item["jaccard"] for item in record["items"]] == sorted(jac.tolist())
    assert record["summary"][0].startswith("neighbourhoods")


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv"])
def test_cli_diff_record_formats_give_one_row_per_item_with_the_figures_repeated(pair, fmt):
    a_path, b_path, a, b = pair
    code, out, err = invoke("runner", "diff", a_path, b_path, "-k", "3", "--top", "4", "-f", fmt)
    assert code == 0, err
    if fmt == "jsonl":
        rows = parse_jsonl(out)
    else:
        rows = list(csv.DictReader(io.StringIO(out, newline=""), delimiter="," if fmt == "csv" else "\t"))
    assert len(rows) == 4
    assert list(rows[0])[:6] == ["index", "id", "jaccard", "shared", "a_neighbors", "b_neighbors"]
    assert {row["cka"] for row in rows} == {rows[0]["cka"]}
    assert float(rows[0]["cka"]) == pytest.approx(kernel_cka(a, b), rel=1e-10)
    neighbours = brute_neighbours(a, 3)[int(rows[0]["index"])]
    shown = rows[0]["a_neighbors"] if fmt == "jsonl" else rows[0]["a_neighbors"].split(";")
    assert shown == [str(j) for j in neighbours]


def test_cli_diff_table_says_the_findings_first_then_figures_and_the_items(pair):
    a_path, b_path, _, _ = pair
    code, out, err = invoke("runner", "diff", a_path, b_path, "-k", "3", "-f", "table")
    assert code == 0, err
    assert out.startswith("40 items matched by row:\n  A: ")
    words = " ".join(out.split())  # long paths wrap
    assert words.index(" A: ") < words.index(" B: ") < words.index("(4 dimensions, cosine) neighbourhoods changed")
    assert out.index("linear CKA") > out.index("neighbourhoods") and "items that changed most (10 of 40" in out
    assert out.index("items that changed most") > out.index("Procrustes residual")


def test_cli_diff_shuffled_rows_with_id_files_give_the_same_figures(tmp_path, pair):
    a_path, _, a, b = pair
    perm = np.random.default_rng(16).permutation(40)
    ids = [f"doc{i}" for i in range(40)]
    b_path = _npy(tmp_path, "shuffled.npy", b[perm])
    args = ["diff", a_path, b_path, "--ids", _ids(tmp_path, "a.txt", ids),
            "--b-ids", _ids(tmp_path, "b.txt", [ids[i] for i in perm]), "-k", "4", "-f", "json"]
    code, out, err = invoke("runner", *args)
    assert code == 0, err
    record = strict_json(out)
    assert record["matched_by"] == "id"
    assert record["cka"] == pytest.approx(kernel_cka(a, b), rel=1e-10)
    assert record["procrustes_residual"] == pytest.approx(procrustes(a, b), rel=1e-8)
    first = record["items"][0]
    assert first["a_neighbors"] == [ids[j] for j in brute_neighbours(a, 4)[first["index"]]]
    assert first["b_neighbors"] == [ids[j] for j in brute_neighbours(b, 4)[first["index"]]]


def test_cli_diff_show_gives_the_text_of_items_and_neighbours(tmp_path):
    a, b = spaces(n=12, p=3, q=3, seed=17)
    texts = [f"text {i}" for i in range(12)]

    def jsonl(name, x):
        path = tmp_path / name
        path.write_text("".join(json.dumps({"id": f"d{i}", "embedding": v.tolist(), "text": texts[i]}) + "\n"
                                for i, v in enumerate(x)))
        return str(path)

    code, out, err = invoke("runner", "diff", jsonl("a.jsonl", a), jsonl("b.jsonl", b), "-k", "2", "--show", "text",
                            "-f", "jsonl")
    assert code == 0, err
    rows = parse_jsonl(out)
    row = rows[0]
    i = row["index"]
    assert row["id"] == f"d{i}" and row["text"] == texts[i]
    assert row["a_neighbors_text"] == [texts[j] for j in brute_neighbours(a, 2)[i]]
    assert row["b_neighbors_text"] == [texts[j] for j in brute_neighbours(b, 2)[i]]
    code, out, err = invoke("runner", "diff", jsonl("a.jsonl", a), jsonl("b.jsonl", b), "-k", "2", "--show", "text",
                            "-f", "table")
    assert code == 0 and "by text" in out and texts[i] in out


def test_cli_diff_bad_inputs_are_one_error_line(tmp_path, pair):
    a_path, b_path, a, b = pair
    short = _npy(tmp_path, "short.npy", b[:30])
    assert_one_error_line(*invoke("runner", "diff", a_path, short, "--by-row"), ["--by-row", "40", "30"])
    assert_one_error_line(*invoke("runner", "diff", a_path, short), ["40", "30"])
    ids = [f"doc{i}" for i in range(40)]
    other = ids[:39] + ["stranger"]
    assert_one_error_line(*invoke("runner", "diff", a_path, b_path, "--ids", _ids(tmp_path, "a.txt", ids),
                                  "--b-ids", _ids(tmp_path, "b.txt", other)), ["'doc39'", "row 39", "40 rows"])
    assert_one_error_line(*invoke("runner", "diff", a_path, b_path, "--ids", _ids(tmp_path, "a.txt", ids)),
                          ["row 0, id 'doc0'", "b.npy has no ids", "--by-row"])
    dup = ids[:39] + ["doc0"]
    assert_one_error_line(*invoke("runner", "diff", a_path, b_path, "--ids", _ids(tmp_path, "a.txt", ids),
                                  "--b-ids", _ids(tmp_path, "dup.txt", dup)), ["'doc0'", "rows 0 and 39"])
    assert_one_error_line(*invoke("runner", "diff", a_path, b_path, "-k", "40"), ["--top-k", "40"])
    one = _npy(tmp_path, "one.npy", a[:1])
    assert_one_error_line(*invoke("runner", "diff", one, _npy(tmp_path, "one_b.npy", b[:1])), ["one.npy", "at least 2"])
    same = _npy(tmp_path, "same.npy", np.ones((40, 4)))
    assert_one_error_line(*invoke("runner", "diff", a_path, same, "-m", "euclidean"), ["same.npy", "same vector"])
    zero = a.copy()
    zero[3] = 0.0
    assert_one_error_line(*invoke("runner", "diff", _npy(tmp_path, "zero.npy", zero), b_path), ["zero.npy", "row 3"])
    assert_one_error_line(*invoke("runner", "diff", a_path, b_path, "--p", "3"), ["--p", "minkowski"])
    big = _npy(tmp_path, "big.npy", np.random.default_rng(0).normal(size=(2000, 2)))
    assert_one_error_line(*invoke("runner", "diff", big, big, "--memory", "1M", "--pairs-sample", "100000"),
                          ["--pairs-sample", "--memory"])


def test_cli_diff_debiased_needs_four_items(tmp_path):
    a, b = spaces(n=3, p=2, q=2)
    code, out, err = invoke("runner", "diff", _npy(tmp_path, "a.npy", a), _npy(tmp_path, "b.npy", b), "-k", "1",
                            "--debiased")
    assert_one_error_line(code, out, err, ["--debiased", "4"])


@pytest.mark.slow
def test_cli_diff_executable_errors_are_one_line(tmp_path, pair):
    a_path, _, _, b = pair
    short = _npy(tmp_path, "short.npy", b[:30])
    assert_one_error_line(*invoke("executable", "diff", a_path, short, "--by-row", "-f", "json"), ["--by-row"])

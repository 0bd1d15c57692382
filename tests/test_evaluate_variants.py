"""`siamcli evaluate --dims --quantize`: smaller copies of each model on the same pairs.

Every figure is checked against the truncated and quantised arrays computed here by hand
(sentence-transformers' int8 formula written plainly, np.packbits sign bits, astype(float16)),
scored with scipy's cdist, and against scikit-learn's roc_auc_score; p-values against DeLong's
paired test written from the paper's O(mn) formulas; never against siamcli's own output.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from siamcli.errors import UsageError
from siamcli.reports import evaluation as ev
from test_cli import assert_one_error_line, invoke, parse_jsonl, strict_json

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "siamese"
EMB, PIXELS, PAIRS, LABELS = (EXAMPLES / name for name in
                              ("test_embeddings.npy", "test_pixels.npy", "test_pairs.csv", "test_labels.txt"))
COPY_KEYS = ["dims", "quantize", "bytes_per_vector"]


# ---------------------------------------------------------------- references, written plainly


def st_int8(x):
    """sentence-transformers' quantize_embeddings(x, precision="int8"), calibrated on x itself."""
    x = np.asarray(x, dtype=np.float64)
    lo, hi = x.min(axis=0), x.max(axis=0)
    varying = hi > lo  # a constant dimension (the pixels' borders) is 0, where the formula gives 0/0
    steps = (hi[varying] - lo[varying]) / 255
    out = np.zeros(x.shape, dtype=np.int8)
    out[:, varying] = ((x[:, varying] - lo[varying]) / steps - 128).astype(np.int8)
    return out


def hand_copy(x, dims=None, quantize=None, unit=False):
    """The rows a copy is scored on: the first `dims` columns (re-normalised when `unit`), or the
    quantised values (binary: sign bits as booleans, for cdist's hamming)."""
    if dims is not None:
        head = np.asarray(x[:, :dims], dtype=np.float64)
        return head / np.linalg.norm(head, axis=1, keepdims=True) if unit else head
    if quantize == "float16":
        return x.astype(np.float16).astype(np.float64)
    if quantize == "int8":
        return st_int8(x).astype(np.float64)
    if quantize == "binary":
        return x > 0
    return np.asarray(x, dtype=np.float64)


def pair_scores(rows, left, right, metric):
    """Scores of the listed pairs from scipy's cdist (the whole 540 x 540 matrix, then indexed)."""
    return cdist(rows, rows, metric=metric)[left, right]


def delong_p(closer_a, closer_b, same):
    """Two-sided p of DeLong's paired test of AUC(a) = AUC(b), from the paper's O(mn) formulas."""
    comps = []
    for closer in (closer_a, closer_b):
        x, y = closer[same], closer[~same]
        psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
        comps.append((psi.mean(axis=1), psi.mean(axis=0)))
    s10 = np.cov(np.vstack([c[0] for c in comps]))
    s01 = np.cov(np.vstack([c[1] for c in comps]))
    m, n = int(same.sum()), int((~same).sum())
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    diff = comps[0][0].mean() - comps[1][0].mean()
    return float(2 * norm.sf(abs(diff) / np.sqrt(var)))


def listed_pairs():
    rows = list(csv.DictReader(PAIRS.read_text().splitlines()))
    return (np.array([int(r["left"]) for r in rows]), np.array([int(r["right"]) for r in rows]),
            np.array([r["label"] == "1" for r in rows]))


def copy_of(record):
    return (record["dims"], record["quantize"])


# ---------------------------------------------------------------- the bundled digits, every copy by hand


@pytest.fixture(scope="module")
def digits_records():
    code, out, err = invoke("runner", "evaluate", EMB, "--pairs", PAIRS, "--dims", "4,8,16",
                            "--quantize", "float16,int8,binary", "-f", "json", "--bootstrap", "0")
    assert code == 0, err
    return strict_json(out)


@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_evaluate_copies_on_listed_pairs_match_hand_computed_arrays(entry):
    x = np.load(EMB)
    left, right, same = listed_pairs()
    code, out, err = invoke(entry, "evaluate", EMB, "--pairs", PAIRS, "--dims", "8,16", "--quantize",
                            "float16,int8,binary", "-f", "json", "--bootstrap", "0")
    assert code == 0, err
    records = strict_json(out)
    expected = {(32, None): ("cosine", hand_copy(x)), (16, None): ("cosine", hand_copy(x, 16)),
                (8, None): ("cosine", hand_copy(x, 8)), (32, "float16"): ("cosine", hand_copy(x, quantize="float16")),
                (32, "int8"): ("cosine", hand_copy(x, quantize="int8")),
                (32, "binary"): ("hamming", hand_copy(x, quantize="binary"))}
    assert sorted(map(copy_of, records), key=str) == sorted(expected, key=str)
    for record in records:
        metric, rows = expected[copy_of(record)]
        assert record["metric"] == metric and record["model"] == str(EMB)
        distance = pair_scores(rows, left, right, metric)  # cosine distance: 1 - cosine, same order
        assert record["auc"] == pytest.approx(roc_auc_score(same, -distance), abs=1e-9)
        assert record["n_pairs"] == 2000


def test_evaluate_copies_records_carry_typed_dims_quantize_and_bytes(digits_records):
    for record in digits_records:
        assert list(record)[:5] == ["model", *COPY_KEYS, "metric"]
        assert isinstance(record["dims"], int) and isinstance(record["bytes_per_vector"], int)
        assert record["quantize"] is None or isinstance(record["quantize"], str)
        for key in ("auc_ci", "eer_ci", "best_accuracy_ci", "tar_at_far_ci", "auc_p_value"):
            assert key in record
    sizes = {copy_of(r): r["bytes_per_vector"] for r in digits_records}
    # float32 values: 4 bytes each; float16 2; int8 1; binary a bit, in whole bytes
    assert sizes == {(32, None): 128, (16, None): 64, (8, None): 32, (4, None): 16, (32, "float16"): 64,
                     (32, "int8"): 32, (32, "binary"): 4}


def test_evaluate_copies_follow_their_model_largest_first(digits_records):
    assert [copy_of(r) for r in digits_records] == [(32, None), (16, None), (32, "float16"), (8, None),
                                                    (32, "int8"), (4, None), (32, "binary")]
    assert digits_records[0]["auc_p_value"] is None
    assert all(r["auc_p_value"] is not None for r in digits_records[1:])


def test_evaluate_copies_p_value_is_delong_paired_test_against_the_full_model(digits_records):
    x = np.load(EMB)
    left, right, same = listed_pairs()
    full = -pair_scores(hand_copy(x), left, right, "cosine")
    for record in digits_records[1:]:
        dims, quantize = copy_of(record)
        rows = hand_copy(x, None if dims == 32 else dims, quantize)
        closer = -pair_scores(rows, left, right, record["metric"])
        assert record["auc_p_value"] == pytest.approx(delong_p(closer, full, same), rel=1e-6, abs=1e-300)


def test_evaluate_copies_int8_is_calibrated_per_dimension_on_the_data(tmp_path):
    """One dimension with a huge range: per-dimension steps keep the others' resolution."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 6))
    x[:, 0] *= 1000.0
    classes = np.repeat(np.arange(20), 10)
    x[:, 1:] += 3 * rng.normal(size=(20, 5))[classes]
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "c.txt").write_text("\n".join(map(str, classes)) + "\n")
    code, out, err = invoke("runner", "evaluate", tmp_path / "x.npy", "--classes", tmp_path / "c.txt",
                            "--quantize", "int8", "-m", "euclidean", "-f", "json", "--bootstrap", "0")
    assert code == 0, err
    [full, int8] = strict_json(out)
    q = st_int8(x).astype(np.float64)
    i, j = np.triu_indices(len(x), 1)
    same = classes[i] == classes[j]
    assert int8["quantize"] == "int8" and int8["bytes_per_vector"] == 6
    assert int8["auc"] == pytest.approx(roc_auc_score(same, -cdist(q, q)[i, j]), abs=1e-9)
    assert full["auc"] == pytest.approx(roc_auc_score(same, -cdist(x, x)[i, j]), abs=1e-9)
    distances = cdist(q, q)
    np.fill_diagonal(distances, np.inf)
    assert int8["precision_at_1"] == pytest.approx(np.mean(classes[np.argmin(distances, axis=1)] == classes))


def test_evaluate_copies_of_a_normalised_model_are_renormalised_after_truncation(tmp_path):
    x = np.load(EMB).astype(np.float64)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    np.save(tmp_path / "unit.npy", unit)
    left, right, same = listed_pairs()
    code, out, err = invoke("runner", "evaluate", tmp_path / "unit.npy", "--pairs", PAIRS, "--dims", "6",
                            "-m", "euclidean", "-f", "json", "--bootstrap", "0")
    assert code == 0, err
    [full, six] = strict_json(out)
    assert (six["dims"], six["bytes_per_vector"]) == (6, 48)
    renormalised = pair_scores(hand_copy(unit, 6, unit=True), left, right, "euclidean")
    kept_lengths = pair_scores(hand_copy(unit, 6), left, right, "euclidean")
    assert six["auc"] == pytest.approx(roc_auc_score(same, -renormalised), abs=1e-9)
    assert roc_auc_score(same, -renormalised) != roc_auc_score(same, -kept_lengths)  # the test can tell
    assert six["auc_p_value"] == pytest.approx(
        delong_p(-renormalised, -pair_scores(unit, left, right, "euclidean"), same), rel=1e-6)


def test_evaluate_copies_with_classes_score_every_pair_and_retrieval_by_brute_force():
    x = np.load(EMB)
    classes = np.array(LABELS.read_text().split())
    code, out, err = invoke("runner", "evaluate", EMB, "--classes", LABELS, "--dims", "8", "--quantize", "binary",
                            "-f", "json", "--bootstrap", "0")
    assert code == 0, err
    i, j = np.triu_indices(len(x), 1)
    same = classes[i] == classes[j]
    for record in strict_json(out):
        dims, quantize = copy_of(record)
        rows = hand_copy(x, None if dims == 32 else dims, quantize)
        distances = cdist(rows, rows, record["metric"])
        assert record["auc"] == pytest.approx(roc_auc_score(same, -distances[i, j]), abs=1e-9)
        np.fill_diagonal(distances, np.inf)
        nearest = np.argmin(distances, axis=1)  # ties: the lowest index, as siamcli breaks them
        assert record["precision_at_1"] == pytest.approx(np.mean(classes[nearest] == classes), abs=1e-12)


def test_evaluate_copies_of_two_sets_with_labels_share_one_calibration(tmp_path):
    rng = np.random.default_rng(5)
    left = rng.normal(size=(120, 8))
    same = rng.random(120) < 0.4
    right = np.where(same[:, None], left + 0.3 * rng.normal(size=left.shape), 2 * rng.normal(size=left.shape))
    np.save(tmp_path / "l.npy", left)
    np.save(tmp_path / "r.npy", right)
    (tmp_path / "same.txt").write_text("\n".join(str(int(s)) for s in same) + "\n")
    code, out, err = invoke("runner", "evaluate", tmp_path / "l.npy", tmp_path / "r.npy", "--labels",
                            tmp_path / "same.txt", "--quantize", "int8", "--dims", "3", "-m", "manhattan",
                            "-f", "json", "--bootstrap", "0")
    assert code == 0, err
    records = {copy_of(r): r for r in strict_json(out)}
    both = st_int8(np.vstack([left, right])).astype(np.float64)  # one range per dimension over both sets
    qa, qb = both[:120], both[120:]
    assert records[(8, "int8")]["auc"] == pytest.approx(roc_auc_score(same, -np.abs(qa - qb).sum(1)), abs=1e-9)
    three = np.abs(left[:, :3] - right[:, :3]).sum(1)
    assert records[(3, None)]["auc"] == pytest.approx(roc_auc_score(same, -three), abs=1e-9)
    assert {r["model"] for r in records.values()} == {f"{tmp_path / 'l.npy'}:{tmp_path / 'r.npy'}"}


# ---------------------------------------------------------------- several models, several metrics


def test_evaluate_copies_of_several_models_each_follow_their_model(tmp_path):
    x, pixels = np.load(EMB), np.load(PIXELS)
    left, right, same = listed_pairs()
    code, out, err = invoke("runner", "evaluate", EMB, PIXELS, "--pairs", PAIRS, "--dims", "8,48",
                            "--quantize", "int8", "-f", "json", "--bootstrap", "0")
    assert code == 0, err
    records = strict_json(out)
    assert [(r["model"], *copy_of(r)) for r in records] == [
        (str(EMB), 32, None), (str(EMB), 8, None), (str(EMB), 32, "int8"),  # 32 bytes each: truncation first
        (str(PIXELS), 64, None), (str(PIXELS), 48, None), (str(PIXELS), 64, "int8"), (str(PIXELS), 8, None)]
    assert "more than its 32 dimensions" in err  # 48 is left out for the 32-d model, said on stderr
    closer = {}
    for r in records:
        data = x if r["model"] == str(EMB) else pixels
        dims, quantize = copy_of(r)
        rows = hand_copy(data, dims if dims < data.shape[1] else None, quantize)
        closer[(r["model"], dims, quantize)] = -pair_scores(rows, left, right, "cosine")
        assert r["auc"] == pytest.approx(roc_auc_score(same, closer[(r["model"], dims, quantize)]), abs=1e-9)
    full_emb, full_pixels = closer[(str(EMB), 32, None)], closer[(str(PIXELS), 64, None)]
    assert records[3]["auc_p_value"] == pytest.approx(delong_p(full_pixels, full_emb, same), rel=1e-6, abs=1e-300)
    for r in records[4:]:  # the pixels' copies are tested against the pixels, not the best model
        assert r["auc_p_value"] == pytest.approx(
            delong_p(closer[(r["model"], *copy_of(r))], full_pixels, same), rel=1e-6, abs=1e-300)


def test_evaluate_copies_under_several_metrics_binary_follows_the_top_metric():
    x = np.load(EMB)
    left, right, same = listed_pairs()
    code, out, err = invoke("runner", "evaluate", EMB, "--pairs", PAIRS, "-m", "cosine,euclidean",
                            "--quantize", "int8,binary", "-f", "json", "--bootstrap", "0")
    assert code == 0, err
    records = strict_json(out)
    order = [(r["metric"], r["quantize"]) for r in records]
    # euclidean ranks first on these pairs (AUC 0.9986 against cosine's 0.9930)
    assert order == [("euclidean", None), ("euclidean", "int8"), ("hamming", "binary"),
                     ("cosine", None), ("cosine", "int8")]
    full = {m: -pair_scores(hand_copy(x), left, right, m) for m in ("euclidean", "cosine")}
    q = hand_copy(x, quantize="int8")
    bits = -pair_scores(hand_copy(x, quantize="binary"), left, right, "hamming")
    assert records[2]["auc_p_value"] == pytest.approx(delong_p(bits, full["euclidean"], same), rel=1e-6, abs=1e-300)
    assert records[4]["auc_p_value"] == pytest.approx(
        delong_p(-pair_scores(q, left, right, "cosine"), full["cosine"], same), rel=1e-6, abs=1e-300)
    assert records[3]["auc_p_value"] is None  # the one model is the best under each metric


def test_evaluate_copies_with_metric_all_leave_out_what_does_not_apply():
    code, out, err = invoke("runner", "evaluate", PIXELS, "--pairs", PAIRS, "-m", "all", "--quantize",
                            "int8,uint8,binary", "-f", "json", "--bootstrap", "0")
    assert code == 0, err
    records = strict_json(out)
    by_metric = {}
    for r in records:
        by_metric.setdefault(r["metric"], []).append(r["quantize"])
    assert by_metric["jensenshannon"] == [None, "uint8"]  # int8 is signed: left out, and said
    assert "int8: the values are signed; jensenshannon needs non-negative vectors" in err
    assert by_metric["hamming"] == ["binary"]
    assert by_metric["cosine"] == [None, "int8", "uint8"]


# ---------------------------------------------------------------- output formats and the table


def test_evaluate_copies_every_format_carries_dims_quantize_and_bytes(digits_records):
    args = ["evaluate", EMB, "--pairs", PAIRS, "--dims", "4,8,16", "--quantize", "float16,int8,binary",
            "--bootstrap", "0"]
    expected = [(r["dims"], r["quantize"], r["bytes_per_vector"]) for r in digits_records]
    code, out, err = invoke("runner", *args, "-f", "jsonl")
    assert code == 0, err
    assert [(r["dims"], r["quantize"], r["bytes_per_vector"]) for r in parse_jsonl(out)] == expected
    for fmt, delimiter in (("csv", ","), ("tsv", "\t")):
        code, out, err = invoke("runner", *args, "-f", fmt)
        assert code == 0, err
        rows = list(csv.DictReader(io.StringIO(out), delimiter=delimiter))
        assert list(rows[0])[:5] == ["model", *COPY_KEYS, "metric"]
        assert [(int(r["dims"]), r["quantize"] or None, int(r["bytes_per_vector"])) for r in rows] == expected


def test_evaluate_copies_table_says_what_each_copy_keeps_in_80_columns(digits_records):
    code, out, err = invoke("runner", "evaluate", EMB, "--pairs", PAIRS, "--dims", "4,8,16", "--quantize",
                            "float16,int8,binary", "-f", "table", "--bootstrap", "0", env={"COLUMNS": "80"})
    assert code == 0, err
    full = digits_records[0]["auc"]
    for record in digits_records[1:]:
        share = record["auc"] / full
        words = "all" if record["auc"] == full else f"{share:.1%}"
        size = 128 // record["bytes_per_vector"]
        label = record["quantize"] or f"first {record['dims']} dims"
        assert f"{label} keeps {words} of the AUC at 1/{size} of the size" in out
    int8 = next(r for r in digits_records if r["quantize"] == "int8")
    verdict = "not told apart" if int8["auc_p_value"] >= 0.05 else "a real"
    assert f"int8 keeps {int8['auc'] / full:.1%} of the AUC at 1/4 of the size: {verdict}" in out
    table = [line for line in out.splitlines() if "│" in line]
    assert [line.split("│")[0].strip() for line in table[:7]] == [
        "test_embeddings.npy", "first 16 dims", "float16", "first 8 dims", "int8", "first 4 dims", "binary (hamming)"]
    assert [line.split("│")[1].strip() for line in table[:7]] == ["128", "64", "64", "32", "32", "16", "4"]
    assert max(len(line) for line in out.splitlines()) <= 80


# ---------------------------------------------------------------- the gate names a copy


@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_evaluate_copies_fail_under_names_a_copy(entry, digits_records):
    int8 = next(r for r in digits_records if r["quantize"] == "int8")["auc"]
    eight = next(r for r in digits_records if r["dims"] == 8)["auc"]
    base = ["evaluate", EMB, "--pairs", PAIRS, "--dims", "8", "--quantize", "int8,binary", "--bootstrap", "0",
            "-f", "json"]
    code, _, err = invoke(entry, *base, "--fail-under", f"test_embeddings.npy@int8:cosine:auc={int8 - 1e-4:.6f}")
    assert code == 0, err
    code, _, err = invoke(entry, *base, "--fail-under", f"test_embeddings@int8:auc={int8 + 1e-4:.6f}")
    assert code == 1 and "not met by" in err and "@int8 cosine" in err
    code, _, err = invoke(entry, *base, "--fail-under", f"@8:auc={eight + 1e-4:.6f}")
    assert code == 1 and "@8 cosine" in err
    code, _, err = invoke(entry, *base, "--fail-under", "@binary:hamming:auc=0.5,@full:auc=0.5")
    assert code == 0, err


def test_evaluate_copies_fail_under_without_a_copy_judges_the_model_itself(digits_records):
    full = digits_records[0]["auc"]
    code, _, err = invoke("runner", "evaluate", EMB, "--pairs", PAIRS, "--dims", "4", "--bootstrap", "0",
                          "-f", "json", "--fail-under", f"auc={full - 1e-4:.6f}")
    assert code == 0, err  # the 4-dims copy (AUC 0.95) is not judged


@pytest.mark.parametrize("spec, needle", [
    ("@int4:auc=0.9", "'@int4' names no evaluated copy"),
    ("test_embeddings.npy@16:auc=0.9", "'@16' names no evaluated copy"),
    ("test_embeddings.npy@int8:jaccard:auc=0.9", "names no evaluated model or metric"),
])
def test_evaluate_copies_fail_under_naming_no_copy_is_an_error_before_any_work(spec, needle, tmp_path):
    code, out, err = invoke("runner", "evaluate", EMB, "--pairs", tmp_path / "missing.csv", "--dims", "8",
                            "--quantize", "int8", "--fail-under", spec)
    assert_one_error_line(code, out, err, [needle])


# ---------------------------------------------------------------- bad values


@pytest.mark.parametrize("entry", ["runner", "executable"])
@pytest.mark.parametrize("option, value, needle", [
    ("--dims", "0", "--dims takes whole numbers of dimensions from 1"),
    ("--dims", "10000", "--dims 10000 is more than the 32 dimensions of"),
    ("--dims", "8,x", "got 'x'"),
    ("--dims", "", "got ''"),
    ("--quantize", "int4", "--quantize takes float16, int8, uint8, binary, not 'int4'"),
    ("--quantize", "float32", "the original values are always evaluated"),
])
def test_evaluate_copies_bad_values_give_one_error_line(entry, option, value, needle):
    code, out, err = invoke(entry, "evaluate", EMB, "--pairs", PAIRS, option, value)
    assert_one_error_line(code, out, err, [needle])


def test_evaluate_copies_zero_rows_after_truncation_follow_zero_vector(tmp_path):
    x = np.array([[0.0, 0.0, 1.0], [0.6, 0.8, 0.0], [0.8, 0.0, 0.6], [0.0, 0.6, 0.8], [0.6, 0.0, 0.8]])
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "c.txt").write_text("a\na\nb\nb\nb\n")
    args = ["evaluate", tmp_path / "x.npy", "--classes", tmp_path / "c.txt", "--dims", "2", "--bootstrap", "0"]
    code, out, err = invoke("runner", *args)
    assert_one_error_line(code, out, err, ["zero"])
    code, out, err = invoke("runner", *args, "--zero-vector", "zero", "-f", "json")
    assert code == 0, err
    [_, two] = strict_json(out)
    assert two["dims"] == 2 and any("all zero in the first 2 dimensions" in w for w in two["warnings"])


def test_evaluate_copies_dims_full_or_the_model_dimension_add_nothing():
    code, out, err = invoke("runner", "evaluate", EMB, "--pairs", PAIRS, "--dims", "full,32", "-f", "json",
                            "--bootstrap", "0")
    assert code == 0, err
    [record] = strict_json(out)
    assert (record["dims"], record["quantize"], record["bytes_per_vector"]) == (32, None, 128)


def test_evaluate_copies_library_takes_dims_as_a_comma_list():
    x = np.load(EMB)
    classes = LABELS.read_text().split()
    result = ev.evaluate(x[:120], classes=classes[:120], dims="4,8", quantize="binary", bootstrap=0, folds=2)
    assert [(r["dims"], r["quantize"]) for r in result.records()] == [(32, None), (8, None), (4, None), (32, "binary")]
    i, j = np.triu_indices(120, 1)
    same = np.array(classes[:120])[i] == np.array(classes[:120])[j]
    bits = hand_copy(x[:120], quantize="binary")
    binary = next(r for r in result.records() if r["quantize"] == "binary")
    assert binary["auc"] == pytest.approx(roc_auc_score(same, -cdist(bits, bits, "hamming")[i, j]), abs=1e-12)


def test_judge_names_copies_by_precision_dimensions_or_full():
    records = [{"model": "a.npy", "dims": 32, "quantize": None, "metric": "cosine", "auc": 0.99},
               {"model": "a.npy", "dims": 8, "quantize": None, "metric": "cosine", "auc": 0.90},
               {"model": "a.npy", "dims": 32, "quantize": "int8", "metric": "cosine", "auc": 0.98},
               {"model": "a.npy", "dims": 32, "quantize": "binary", "metric": "hamming", "auc": 0.95}]
    picked = lambda spec: [(j.record["auc"], j.copy, j.failed != []) for j in ev.judge(records, spec)]  # noqa: E731
    assert picked("a@int8:auc=0.985") == [(0.98, "int8", True)]
    assert picked("a.npy@8:cosine:auc=0.85") == [(0.90, "8", False)]
    assert picked("@binary:auc=0.9") == [(0.95, "binary", False)]
    assert picked("@32:auc=0.9") == picked("a@full:auc=0.9") == picked("@original:auc=0.9") == [(0.99, None, False)]
    assert picked("auc=0.995") == picked("a.npy:auc=0.995") == [(0.99, None, True)]  # without @: the model itself
    with pytest.raises(UsageError, match="names no evaluated"):
        ev.judge(records, "hamming:auc=0.5")  # binary's metric belongs to the copy: @binary:hamming


def test_check_fail_under_plans_each_copy_before_the_dimension_is_known():
    ev.check_fail_under("a@16:auc=0.9,@binary:hamming:auc=0.8,a@full:cosine:auc=0.9", models=["a.npy"],
                        metrics=["cosine"], dims=[16], quantize=["binary"])
    with pytest.raises(UsageError, match="'@8' names no evaluated copy"):
        ev.check_fail_under("a@8:auc=0.9", models=["a.npy"], metrics=["cosine"], dims=[16], quantize=["int8"])
    with pytest.raises(UsageError, match="names no evaluated model or metric"):
        ev.check_fail_under("a@binary:cosine:auc=0.9", models=["a.npy"], metrics=["cosine"], quantize=["binary"])

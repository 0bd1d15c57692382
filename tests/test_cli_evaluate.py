"""`siamcli evaluate`: verification and retrieval figures from the command line.

Figures are checked against scikit-learn (roc_auc_score, average_precision_score) on scores
computed in the test with scipy, and retrieval against a brute-force sort; never against
siamcli's own output.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from scipy.spatial.distance import cdist, pdist, squareform
from sklearn.datasets import load_digits
from sklearn.metrics import average_precision_score, roc_auc_score

from siamcli.output import FORMATTERS
from test_cli import assert_one_error_line, invoke, parse_jsonl, run, strict_json

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "siamese"
REQUIRED_KEYS = ["metric", "higher_is_better", "n_pairs", "n_positive", "n_negative", "auc", "eer", "eer_threshold",
                 "best_accuracy", "best_accuracy_threshold", "best_accuracy_threshold_range", "tar_at_far",
                 "average_precision", "f1", "cv_accuracy", "cv_accuracy_std"]
RETRIEVAL_KEYS = ["precision_at_1", "recall_at_k", "map_at_r"]


def _pairs_csv():
    rows = list(csv.DictReader((EXAMPLES / "test_pairs.csv").read_text().splitlines()))
    return (np.array([int(r["left"]) for r in rows]), np.array([int(r["right"]) for r in rows]),
            np.array([r["label"] == "1" for r in rows]))


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """300 digits as float64 pixels, their classes, and files holding them."""
    tmp = tmp_path_factory.mktemp("digits")
    d = load_digits()
    x, y = d.data[:300], d.target[:300]
    np.save(tmp / "x.npy", x)
    (tmp / "classes.txt").write_text("\n".join(map(str, y)) + "\n")
    return tmp, x, y


@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_evaluate_listed_pairs_auc_matches_sklearn(entry):
    left, right, same = _pairs_csv()
    emb = np.load(EXAMPLES / "test_embeddings.npy").astype(np.float64)
    distance = np.linalg.norm(emb[left] - emb[right], axis=1)
    code, out, err = invoke(entry, "evaluate", EXAMPLES / "test_embeddings.npy", "--pairs",
                            EXAMPLES / "test_pairs.csv", "-m", "euclidean", "-f", "json")
    assert code == 0, err
    [record] = strict_json(out)
    assert [k for k in record if k in REQUIRED_KEYS] == REQUIRED_KEYS
    assert record["metric"] == "euclidean" and record["higher_is_better"] is False
    assert (record["n_pairs"], record["n_positive"], record["n_negative"]) == (2000, int(same.sum()), int((~same).sum()))
    assert record["auc"] == pytest.approx(roc_auc_score(same, -distance), abs=1e-6)  # float32 inputs
    assert record["average_precision"] == pytest.approx(average_precision_score(same, -distance), abs=1e-6)
    predicted = distance <= record["best_accuracy_threshold"] * (1 + 1e-7)
    assert np.mean(predicted == same) == pytest.approx(record["best_accuracy"], abs=1e-9)


def test_evaluate_paired_files_with_labels(tmp_path):
    rng = np.random.default_rng(3)
    left = rng.normal(size=(400, 16))
    same = rng.random(400) < 0.4
    right = np.where(same[:, None], left + rng.normal(scale=0.8, size=(400, 16)), rng.normal(size=(400, 16)))
    np.save(tmp_path / "l.npy", left)
    np.save(tmp_path / "r.npy", right)
    (tmp_path / "labels.txt").write_text("\n".join("same" if s else "different" for s in same) + "\n")
    result = run("evaluate", tmp_path / "l.npy", tmp_path / "r.npy", "--labels", tmp_path / "labels.txt",
                 "-m", "cosine", "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    [record] = parse_jsonl(result.stdout)
    cosine = 1.0 - np.einsum("ii->i", cdist(left, right, "cosine"))
    assert record["auc"] == pytest.approx(roc_auc_score(same, cosine), abs=1e-12)
    assert record["higher_is_better"] is True
    assert list(record["tar_at_far"]) == ["0.1", "0.01", "0.001"]


def test_evaluate_classes_all_pairs_and_retrieval(digits):
    tmp, x, y = digits
    result = run("evaluate", tmp / "x.npy", "--classes", tmp / "classes.txt", "-m", "euclidean", "-f", "json")
    assert result.exit_code == 0, result.stderr
    [record] = strict_json(result.stdout)
    distance = pdist(x)
    i, j = np.triu_indices(len(x), 1)
    same = y[i] == y[j]
    assert record["n_pairs"] == len(distance)
    assert record["auc"] == pytest.approx(roc_auc_score(same, -distance), abs=1e-12)
    full = squareform(distance)
    np.fill_diagonal(full, np.inf)
    nearest = np.argsort(full, axis=1, kind="stable")
    assert record["precision_at_1"] == pytest.approx(np.mean(y[nearest[:, 0]] == y))
    assert record["recall_at_k"]["5"] == pytest.approx(np.mean([(y[nearest[q, :5]] == y[q]).any() for q in range(len(y))]))
    assert [k for k in record if k in RETRIEVAL_KEYS] == RETRIEVAL_KEYS


def test_evaluate_sample_is_balanced_and_seeded(digits):
    tmp, x, y = digits
    args = ["evaluate", tmp / "x.npy", "--classes", tmp / "classes.txt", "--sample", "1000", "-f", "jsonl"]
    first, again, other = run(*args), run(*args), run(*args, "--seed", "5")
    [record] = parse_jsonl(first.stdout)
    assert (record["n_positive"], record["n_negative"]) == (500, 500)
    assert first.stdout == again.stdout and first.stdout != other.stdout


def test_evaluate_metric_all_is_ranked_by_auc_and_skips_what_does_not_apply(digits):
    tmp, x, y = digits
    centred = x - x.mean(axis=0)  # negative values: jensenshannon does not apply
    np.save(tmp / "centred.npy", centred)
    result = run("evaluate", tmp / "centred.npy", "--classes", tmp / "classes.txt", "-m", "all", "-f", "json")
    assert result.exit_code == 0, result.stderr
    records = strict_json(result.stdout)
    names = [r["metric"] for r in records]
    assert "cosine" in names and "euclidean" in names and "manhattan" in names
    assert not {"cosine_distance", "angular", "sqeuclidean", "jensenshannon", "hamming"} & set(names)
    aucs = [r["auc"] for r in records]
    assert aucs == sorted(aucs, reverse=True)
    i, j = np.triu_indices(len(x), 1)
    same = y[i] == y[j]
    by_name = {r["metric"]: r for r in records}
    assert by_name["manhattan"]["auc"] == pytest.approx(roc_auc_score(same, -pdist(centred, "cityblock")), abs=1e-12)
    assert "skipped jensenshannon" in result.stderr


def test_evaluate_normalize_adds_each_metric_after_l2_normalisation(digits):
    tmp, x, y = digits
    result = run("evaluate", tmp / "x.npy", "--classes", tmp / "classes.txt", "-m", "euclidean",
                 "--normalize", "-f", "json")
    records = strict_json(result.stdout)
    assert sorted(r["normalized"] for r in records) == [False, True]
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    i, j = np.triu_indices(len(x), 1)
    normalised = next(r for r in records if r["normalized"])
    assert normalised["auc"] == pytest.approx(roc_auc_score(y[i] == y[j], -pdist(unit)), abs=1e-12)


@pytest.mark.parametrize("fmt", list(FORMATTERS))
def test_evaluate_every_output_format(fmt):
    result = run("evaluate", EXAMPLES / "test_embeddings.npy", "--pairs", EXAMPLES / "test_pairs.csv",
                 "-m", "euclidean,cosine", "-f", fmt, env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.stderr
    if fmt == "json":
        assert [r["metric"] for r in strict_json(result.stdout)] == ["euclidean", "cosine"]
    elif fmt == "jsonl":
        assert len(parse_jsonl(result.stdout)) == 2
    elif fmt in ("csv", "tsv"):
        rows = list(csv.DictReader(io.StringIO(result.stdout), delimiter="," if fmt == "csv" else "\t"))
        assert [r["metric"] for r in rows] == ["euclidean", "cosine"]
        assert {"tar_at_far.0.001", "positive_scores.mean", "auc"} <= set(rows[0])
        assert float(rows[0]["auc"]) > float(rows[1]["auc"])
    else:
        assert "ROC AUC" in result.stdout and "TAR at FAR 0.001" in result.stdout and "cv accuracy" in result.stdout
        assert "#" in result.stdout  # the text histogram


def test_evaluate_fail_under_gates_the_exit_status():
    base = ["evaluate", EXAMPLES / "test_embeddings.npy", "--pairs", EXAMPLES / "test_pairs.csv", "-m", "euclidean",
            "-f", "jsonl"]
    assert run(*base, "--fail-under", "auc=0.99,eer=0.05").exit_code == 0
    failing = run(*base, "--fail-under", "auc=0.9999")
    assert failing.exit_code == 1 and "auc" in failing.stderr and parse_jsonl(failing.stdout)
    bad = run(*base, "--fail-under", "auk=0.9")
    assert_one_error_line(bad.exit_code, bad.stdout, bad.stderr, ["auk", "did you mean 'auc'"])


def test_evaluate_labels_from_a_column_of_the_embedding_file(tmp_path):
    rng = np.random.default_rng(1)
    x = np.r_[rng.normal(0, 1, (30, 3)), rng.normal(3, 1, (30, 3))]
    y = ["cat"] * 30 + ["dog"] * 30
    lines = ["id,x1,species,x2,x3"] + [f"r{i},{v[0]},{c},{v[1]},{v[2]}" for i, (v, c) in enumerate(zip(x, y))]
    (tmp_path / "emb.csv").write_text("\n".join(lines) + "\n")
    result = run("evaluate", tmp_path / "emb.csv", "--classes-column", "species", "-m", "euclidean", "-f", "json")
    assert result.exit_code == 0, result.stderr
    [record] = strict_json(result.stdout)
    i, j = np.triu_indices(60, 1)
    labels = np.array(y)
    assert record["auc"] == pytest.approx(roc_auc_score(labels[i] == labels[j], -pdist(x)), abs=1e-12)


def test_evaluate_positive_label_names_same(tmp_path):
    (tmp_path / "pairs.csv").write_text("left,right,label\n0,1,match\n0,2,no\n1,2,no\n")
    np.save(tmp_path / "e.npy", np.array([[0.0, 1.0], [0.1, 1.0], [1.0, 0.0]]))
    ok = run("evaluate", tmp_path / "e.npy", "--pairs", tmp_path / "pairs.csv", "--positive-label", "match",
             "--folds", "2", "-f", "jsonl")
    assert ok.exit_code == 0, ok.stderr
    assert parse_jsonl(ok.stdout)[0]["n_positive"] == 1
    wrong = run("evaluate", tmp_path / "e.npy", "--pairs", tmp_path / "pairs.csv")
    assert_one_error_line(wrong.exit_code, wrong.stdout, wrong.stderr, ["--positive-label"])


def test_evaluate_plot_writes_a_png():
    pytest.importorskip("matplotlib")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "roc.png"
        result = run("evaluate", EXAMPLES / "test_embeddings.npy", "--pairs", EXAMPLES / "test_pairs.csv",
                     "-m", "euclidean,cosine", "--plot", path, "-f", "jsonl")
        assert result.exit_code == 0, result.stderr
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000
        from matplotlib.image import imread

        pixels = imread(path)
        assert pixels.std() > 0.01


@pytest.mark.parametrize("args, needles", [
    (["{x}", "--classes", "{oneclass}"], ["different"]),
    (["{x}", "{x}", "--labels", "{bad3}"], ["two values", "'c'"]),
    (["{x}", "--classes", "{short}"], ["{short}", "300"]),
    (["{x}"], ["--labels", "--pairs", "--classes"]),
    (["{x}", "--classes", "{classes}", "--pairs", "{pairs}"], ["not"]),
    (["{x}", "--pairs", "{onlysame}"], ["different"]),
    (["{x}", "--classes", "{classes}", "--sample", "999999"], ["cannot sample"]),
    (["{x}", "--classes", "{classes}", "--plot", "{tmp}/roc.bmp"], [".png"]),
    (["{x}", "--classes", "{classes}", "-m", "cosin"], ["did you mean 'cosine'"]),
])
def test_evaluate_bad_input_exits_2(digits, args, needles):
    tmp, x, y = digits
    (tmp / "bad3.txt").write_text("\n".join(["a", "b", "c"] * 100) + "\n")
    (tmp / "short.txt").write_text("1\n2\n")
    (tmp / "oneclass.txt").write_text("7\n" * 300)
    (tmp / "pairs.csv").write_text("left,right,label\n0,1,1\n0,2,0\n")
    (tmp / "onlysame.csv").write_text("left,right,label\n0,1,1\n0,2,1\n")
    names = {"x": tmp / "x.npy", "bad3": tmp / "bad3.txt", "oneclass": tmp / "oneclass.txt", "short": tmp / "short.txt", "classes": tmp / "classes.txt",
             "pairs": tmp / "pairs.csv", "onlysame": tmp / "onlysame.csv", "tmp": tmp}
    result = run("evaluate", *[a.format(**names) for a in args])
    assert "Traceback" not in result.stderr
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, [n.format(**names) for n in needles])

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


# ---------------------------------------------------------------- several models, intervals, the named gate


def plain_delong(closeness: np.ndarray, same: np.ndarray):
    """DeLong et al. 1988 written plainly: psi over every (positive, negative) pair."""
    x, y = closeness[same], closeness[~same]
    psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)


def plain_interval(closeness, same):
    from scipy.stats import norm

    auc, v10, v01 = plain_delong(closeness, same)
    half = norm.ppf(0.975) * np.sqrt(np.var(v10, ddof=1) / len(v10) + np.var(v01, ddof=1) / len(v01))
    return [max(0.0, auc - half), min(1.0, auc + half)]


def plain_paired_p(a, b, same):
    from scipy.stats import norm

    auc_a, v10_a, v01_a = plain_delong(a, same)
    auc_b, v10_b, v01_b = plain_delong(b, same)
    s = np.cov(np.vstack([v10_a, v10_b])) / len(v10_a) + np.cov(np.vstack([v01_a, v01_b])) / len(v01_a)
    return 2 * norm.sf(abs(auc_a - auc_b) / np.sqrt(s[0, 0] + s[1, 1] - 2 * s[0, 1]))


MODEL_KEYS = ["model", "auc_ci", "eer_ci", "best_accuracy_ci", "tar_at_far_ci", "auc_p_value"]


@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_evaluate_two_models_trained_embeddings_beat_the_pixels(entry):
    """The issue's example: the bundled digits' trained embeddings (32 dimensions) against their
    pixels (64), on the same listed pairs; every AUC, interval and p-value from the paper's formulas."""
    emb, pixels = EXAMPLES / "test_embeddings.npy", EXAMPLES / "test_pixels.npy"
    code, out, err = invoke(entry, "evaluate", emb, pixels, "--pairs", EXAMPLES / "test_pairs.csv",
                            "-m", "euclidean,cosine", "-f", "json")
    assert code == 0, err
    records = strict_json(out)
    assert [(r["model"], r["metric"]) for r in records] == [
        (str(emb), "euclidean"), (str(emb), "cosine"), (str(pixels), "euclidean"), (str(pixels), "cosine")]
    left, right, same = _pairs_csv()
    closeness = {}
    for path in (emb, pixels):
        x = np.load(path).astype(np.float64)
        closeness[str(path), "euclidean"] = -np.linalg.norm(x[left] - x[right], axis=1)
        closeness[str(path), "cosine"] = 1 - np.einsum("ii->i", cdist(x[left], x[right], "cosine"))
    for r in records:
        assert [k for k in MODEL_KEYS if k in r] == MODEL_KEYS and [k for k in r if k in REQUIRED_KEYS] == REQUIRED_KEYS
        c = closeness[r["model"], r["metric"]]
        assert r["auc"] == pytest.approx(roc_auc_score(same, c), abs=1e-6)
        assert r["auc_ci"] == pytest.approx(plain_interval(c, same), abs=1e-6)
        assert list(r["tar_at_far_ci"]) == list(r["tar_at_far"])
        for key in ("eer", "best_accuracy"):
            assert r[f"{key}_ci"][0] <= r[key] <= r[f"{key}_ci"][1]
        if r["model"] == str(emb):
            assert r["auc_p_value"] is None  # the best model under its metric
        else:
            expected = plain_paired_p(closeness[str(emb), r["metric"]], c, same)
            assert r["auc_p_value"] == pytest.approx(expected, rel=1e-5) and r["auc_p_value"] < 1e-20


def test_evaluate_two_models_table_says_which_is_better_in_words():
    result = run("evaluate", EXAMPLES / "test_embeddings.npy", EXAMPLES / "test_pixels.npy", "--pairs",
                 EXAMPLES / "test_pairs.csv", "-m", "euclidean", "-f", "table", env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("Best: test_embeddings.npy with euclidean, AUC 0.9986 (95% CI 0.9978 .. 0.9994)")
    assert lines[2] == "euclidean: test_embeddings.npy beats test_pixels.npy (AUC 0.9986 against 0.8688, p < 0.0001)"
    row = next(line for line in lines if line.startswith("test_pixels.npy "))
    assert "0.8688" in row and "<0.0001" in row and "0.8528..0.8847" in row


def test_evaluate_models_of_the_same_items_are_matched_by_id(tmp_path):
    """B holds A's items in another order (CSV with ids): the same pairs get the same scores as
    with B's rows put back in A's order by hand."""
    rng = np.random.default_rng(4)
    a = rng.normal(size=(60, 5))
    b = a[:, :3] + rng.normal(scale=0.7, size=(60, 3))  # another model: other dimensions, noisier
    ids = [f"item{i:02d}" for i in range(60)]
    shuffled = rng.permutation(60)
    for name, x, order in (("a.csv", a, range(60)), ("b.csv", b, shuffled)):
        lines = ["id," + ",".join(f"x{j}" for j in range(x.shape[1]))]
        lines += [ids[i] + "," + ",".join(repr(float(v)) for v in x[i]) for i in order]
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    classes = np.arange(60) % 4
    (tmp_path / "classes.txt").write_text("".join(f"{c}\n" for c in classes))
    result = run("evaluate", tmp_path / "a.csv", tmp_path / "b.csv", "--classes", tmp_path / "classes.txt",
                 "-m", "euclidean", "--bootstrap", "200", "-f", "json")
    assert result.exit_code == 0, result.stderr
    by_model = {Path(r["model"]).name: r for r in strict_json(result.stdout)}
    i, j = np.triu_indices(60, 1)
    same = classes[i] == classes[j]
    for name, x in (("a.csv", a), ("b.csv", b)):
        assert by_model[name]["auc"] == pytest.approx(roc_auc_score(same, -pdist(x)), abs=1e-12)
        full = squareform(pdist(x))
        np.fill_diagonal(full, np.inf)
        assert by_model[name]["precision_at_1"] == pytest.approx(np.mean(classes[full.argmin(axis=1)] == classes))
        record = by_model[name]
        assert record["precision_at_1_ci"][0] <= record["precision_at_1"] <= record["precision_at_1_ci"][1]
        assert record["map_at_r_ci"][0] < record["map_at_r"] < record["map_at_r_ci"][1]
    worse = min(by_model.values(), key=lambda r: r["auc"])
    expected = plain_paired_p(-pdist(a), -pdist(b), same)
    assert worse["auc_p_value"] == pytest.approx(expected if worse is by_model["b.csv"] else
                                                 plain_paired_p(-pdist(b), -pdist(a), same), rel=1e-6)


def test_evaluate_models_of_two_sets_with_labels(tmp_path):
    """Models as LEFT:RIGHT with --labels: row i of each model's LEFT with row i of its RIGHT."""
    rng = np.random.default_rng(8)
    same = rng.random(300) < 0.5
    base = rng.normal(size=(300, 8))
    other = np.where(same[:, None], base + rng.normal(scale=0.9, size=base.shape), rng.normal(size=base.shape))
    for k, noise in ((1, 0.1), (2, 1.5)):  # model 2 sees the items through more noise
        np.save(tmp_path / f"l{k}.npy", base + rng.normal(scale=noise, size=base.shape))
        np.save(tmp_path / f"r{k}.npy", other + rng.normal(scale=noise, size=base.shape))
    (tmp_path / "labels.txt").write_text("".join("1\n" if s else "0\n" for s in same))
    names = [f"{tmp_path / f'l{k}.npy'}:{tmp_path / f'r{k}.npy'}" for k in (1, 2)]
    result = run("evaluate", *names, "--labels", tmp_path / "labels.txt", "-m", "cosine", "-f", "json")
    assert result.exit_code == 0, result.stderr
    records = strict_json(result.stdout)
    assert [r["model"] for r in records] == names
    scores = [1 - np.einsum("ii->i", cdist(np.load(tmp_path / f"l{k}.npy"), np.load(tmp_path / f"r{k}.npy"), "cosine"))
              for k in (1, 2)]
    for r, s in zip(records, scores):
        assert r["auc"] == pytest.approx(roc_auc_score(same, s), abs=1e-12)
    assert records[1]["auc_p_value"] == pytest.approx(plain_paired_p(scores[0], scores[1], same), rel=1e-6)


def test_evaluate_left_right_pairs_between_two_sets_are_spelled_with_a_colon(tmp_path):
    """Before several models, `evaluate EMB RIGHT --pairs` scored listed pairs between EMB and
    RIGHT; that is now `EMB:RIGHT --pairs` (EMB RIGHT --pairs are two models of the same items)."""
    rng = np.random.default_rng(2)
    queries, gallery = rng.normal(size=(20, 4)), rng.normal(size=(30, 4))
    np.save(tmp_path / "q.npy", queries)
    np.save(tmp_path / "g.npy", gallery)
    left, right = rng.integers(0, 20, 80), rng.integers(0, 30, 80)
    labels = rng.random(80) < 0.5
    (tmp_path / "pairs.csv").write_text("".join(f"{i},{j},{int(s)}\n" for i, j, s in zip(left, right, labels)))
    result = run("evaluate", f"{tmp_path / 'q.npy'}:{tmp_path / 'g.npy'}", "--pairs", tmp_path / "pairs.csv",
                 "-m", "euclidean", "-f", "json")
    assert result.exit_code == 0, result.stderr
    [record] = strict_json(result.stdout)
    distance = np.linalg.norm(queries[left] - gallery[right], axis=1)
    assert record["auc"] == pytest.approx(roc_auc_score(labels, -distance), abs=1e-12)
    as_models = run("evaluate", tmp_path / "q.npy", tmp_path / "g.npy", "--pairs", tmp_path / "pairs.csv")
    assert_one_error_line(as_models.exit_code, as_models.stdout, as_models.stderr, ["matched by row", "20", "30"])


def test_evaluate_fail_under_names_the_model_and_metric_it_judges():
    base = ["evaluate", EXAMPLES / "test_embeddings.npy", EXAMPLES / "test_pixels.npy", "--pairs",
            EXAMPLES / "test_pairs.csv", "-m", "euclidean,cosine", "--bootstrap", "50", "-f", "jsonl"]
    judged = run(*base, "--fail-under", "test_pixels:cosine:auc=0.9")  # the pixels' cosine AUC is 0.8639
    assert judged.exit_code == 1 and parse_jsonl(judged.stdout)
    assert "--fail-under not met by examples/siamese/test_pixels.npy cosine: auc 0.8639 is below the required 0.9" in \
        judged.stderr.replace(str(EXAMPLES.parent.parent) + "/", "")
    assert run(*base, "--fail-under", "test_pixels.npy:euclidean:auc=0.86").exit_code == 0
    assert run(*base, "--fail-under", f"{EXAMPLES / 'test_pixels.npy'}:l2:auc=0.86,cosine:eer=0.03").exit_code == 0
    top = run(*base, "--fail-under", "auc=0.99")  # the old form: the top-ranked, said on stderr
    assert top.exit_code == 0 and "judged" in top.stderr
    assert "test_embeddings.npy euclidean, the top-ranked" in top.stderr
    by_metric = run(*base, "--fail-under", "cosine:auc=0.995")  # the best model under cosine: 0.9930
    assert by_metric.exit_code == 1 and "test_embeddings.npy cosine" in by_metric.stderr
    unknown = run(*base, "--fail-under", "model_c:auc=0.9")
    assert_one_error_line(unknown.exit_code, unknown.stdout, unknown.stderr, ["model_c", "test_pixels.npy", "cosine"])


def test_evaluate_fail_under_with_one_model_and_metric_says_nothing_more():
    result = run("evaluate", EXAMPLES / "test_embeddings.npy", "--pairs", EXAMPLES / "test_pairs.csv",
                 "-m", "euclidean", "--bootstrap", "0", "--fail-under", "auc=0.99", "-f", "jsonl")
    assert result.exit_code == 0 and result.stderr == ""
    [record] = parse_jsonl(result.stdout)
    assert record["eer_ci"] is None and record["tar_at_far_ci"] == {"0.1": None, "0.01": None, "0.001": None}
    assert record["auc_ci"] is not None and record["auc_p_value"] is None


def test_evaluate_bootstrap_is_seeded():
    args = ["evaluate", EXAMPLES / "test_pixels.npy", "--pairs", EXAMPLES / "test_pairs.csv", "-m", "euclidean",
            "--bootstrap", "300", "-f", "jsonl"]
    first, again, other = run(*args), run(*args), run(*args, "--seed", "3")
    assert first.stdout == again.stdout
    a, b = parse_jsonl(first.stdout)[0], parse_jsonl(other.stdout)[0]
    assert a["eer_ci"] != b["eer_ci"] and a["auc_ci"] == b["auc_ci"]  # DeLong's interval draws nothing


@pytest.mark.parametrize("args, needles", [
    (["{a}", "{b}", "{c}", "--labels", "{labels}"], ["LEFT RIGHT", "LEFT:RIGHT"]),
    (["{a}:{b}", "{c}", "--pairs", "{pairs}"], ["not a mix"]),
    (["{a}:", "--pairs", "{pairs}"], ["LEFT:RIGHT"]),
    (["{a}", "{a}", "--pairs", "{pairs}"], ["given 2 times"]),
    (["{a}", "{short}", "--pairs", "{pairs}"], ["matched by row", "{short}", "40", "60"]),
    (["{a}:{b}", "{c}:{b}", "--classes", "{labels}"], ["--classes", "one embedding file"]),
    (["{a}", "{b}", "--pairs", "{pairs}", "--fail-under", "{a}:cosin:auc=0.9"], ["cosin", "metrics: cosine"]),
    (["{a}", "{b}", "--pairs", "{pairs}", "--fail-under", "{a}:cosine:auk=0.9"], ["auk", "did you mean 'auc'"]),
    (["{a}", "--pairs", "{pairs}", "--bootstrap", "1"], ["--bootstrap", "at least 2"]),
])
def test_evaluate_several_models_bad_input_exits_2(tmp_path, args, needles):
    rng = np.random.default_rng(0)
    for name, rows in (("a", 60), ("b", 60), ("c", 60), ("short", 40)):
        np.save(tmp_path / f"{name}.npy", rng.normal(size=(rows, 3)))
    (tmp_path / "labels.txt").write_text("".join(f"{i % 2}\n" for i in range(60)))
    (tmp_path / "pairs.csv").write_text("".join(f"{i},{i + 1},{i % 2}\n" for i in range(30)))
    names = {k: tmp_path / f"{k}.npy" for k in ("a", "b", "c", "short")}
    names.update(labels=tmp_path / "labels.txt", pairs=tmp_path / "pairs.csv")
    result = run("evaluate", *[a.format(**names) for a in args])
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, [n.format(**names) for n in needles])


def test_evaluate_models_csv_has_interval_columns():
    result = run("evaluate", EXAMPLES / "test_embeddings.npy", EXAMPLES / "test_pixels.npy", "--pairs",
                 EXAMPLES / "test_pairs.csv", "-m", "euclidean", "--bootstrap", "100", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [Path(r["model"]).name for r in rows] == ["test_embeddings.npy", "test_pixels.npy"]
    low, high = map(float, rows[1]["auc_ci"].split(";"))
    assert low < float(rows[1]["auc"]) < high and rows[0]["auc_p_value"] == "" and float(rows[1]["auc_p_value"]) < 1e-20
    assert {"tar_at_far_ci.0.001", "eer_ci", "best_accuracy_ci"} <= set(rows[0])


def test_evaluate_models_read_the_classes_column_of_every_file(tmp_path):
    """--classes-column names a column of EMB; every model's file holds it (not a dimension) and agrees."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 2))
    kinds = ["cat" if i % 2 else "dog" for i in range(40)]
    for name, v, labels in (("a.csv", x, kinds), ("b.csv", y, kinds), ("c.csv", y, kinds[::-1])):
        lines = ["id,kind," + ",".join(f"x{j}" for j in range(v.shape[1]))]
        lines += [f"r{i},{labels[i]}," + ",".join(repr(float(e)) for e in v[i]) for i in range(40)]
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    result = run("evaluate", tmp_path / "a.csv", tmp_path / "b.csv", "--classes-column", "kind", "-m", "euclidean",
                 "--bootstrap", "0", "-f", "json")
    assert result.exit_code == 0, result.stderr
    same = np.array(kinds)[np.triu_indices(40, 1)[0]] == np.array(kinds)[np.triu_indices(40, 1)[1]]
    aucs = {Path(r["model"]).name: r["auc"] for r in strict_json(result.stdout)}
    assert aucs == pytest.approx({"a.csv": roc_auc_score(same, -pdist(x)), "b.csv": roc_auc_score(same, -pdist(y))},
                                 abs=1e-12)
    differ = run("evaluate", tmp_path / "a.csv", tmp_path / "c.csv", "--classes-column", "kind")
    assert_one_error_line(differ.exit_code, differ.stdout, differ.stderr, ["c.csv", "column 'kind' differs", "'r0'"])

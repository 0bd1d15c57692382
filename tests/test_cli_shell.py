"""Scriptability (issue 18, part 1): -q never hides why the status is 1, verify -s prints nothing,
options that would be ignored are refused, --fail-under keys as the tables name them, messages
that agree with their numbers, the majority baseline, and metrics that order pairs alike.

References are independent of siamcli: numpy for the scores, scikit-learn for the AUC, brute
force for best accuracy, scipy for rank orders.
"""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from siamcli.reports.evaluation import verification_report
from siamcli.reports.evaluation.verification import SMALL_GAIN
from test_cli import assert_one_error_line, invoke, parse_jsonl, run, strict_json

ENTRIES = ["runner", "executable"]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two sets of 40 rows, a label per pair (1 in 3 the same), classes, and unit-length rows."""
    folder = tmp_path_factory.mktemp("shell")
    rng = np.random.default_rng(18)
    a = rng.normal(size=(40, 8))
    b = a + rng.normal(scale=1.5, size=(40, 8))
    same = np.arange(40) % 3 == 0
    b[~same] = rng.normal(size=(int((~same).sum()), 8))
    paths = {"a": folder / "a.npy", "b": folder / "b.npy", "same": folder / "same.txt", "classes": folder / "c.txt",
             "unit": folder / "unit.npy", "one": folder / "one.npy", "other": folder / "other.npy"}
    np.save(paths["a"], a)
    np.save(paths["b"], b)
    np.save(paths["unit"], a / np.linalg.norm(a, axis=1, keepdims=True))
    np.save(paths["one"], a[0])
    np.save(paths["other"], -a[0])
    paths["same"].write_text("".join(f"{int(s)}\n" for s in same))
    paths["classes"].write_text("".join(f"c{i % 4}\n" for i in range(40)))
    return {"paths": {k: str(v) for k, v in paths.items()}, "a": a, "b": b, "same": same}


# ---------------------------------------------------------------- -q and the reason for exit 1

@pytest.mark.parametrize("entry", ENTRIES)
def test_quiet_keeps_the_failed_gate_and_by_how_much(data, entry):
    p = data["paths"]
    auc = roc_auc_score(data["same"], _cosines(data["a"], data["b"]))
    code, out, err = invoke(entry, "evaluate", p["a"], p["b"], "--labels", p["same"], "--bootstrap", "0",
                            "--fail-under", f"auc={min(auc + 0.01, 1):.4f}", "-q", "-f", "json")
    assert code == 1 and strict_json(out)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("--fail-under not met by cosine: auc ")
    assert abs(float(lines[0].split("auc ")[1].split()[0]) - auc) < 1e-3
    assert "is below the required" in lines[0]


@pytest.mark.parametrize("entry", ENTRIES)
def test_quiet_keeps_how_many_pairs_differ_and_hides_notes(data, entry):
    p = data["paths"]
    cos = _cosines(data["a"], data["b"])
    t = float(np.median(cos))
    code, out, err = invoke(entry, "verify", p["a"], p["b"], "--paired", "-t", repr(t), "-q", "-f", "jsonl")
    differ = int((cos < t).sum())
    assert code == 1 and [r["match"] for r in parse_jsonl(out)] == list(cos >= t)
    assert err == f"{differ} of 40 pairs do not match\n"


def test_one_pair_that_does_not_match_is_said_in_the_singular(data):
    p = data["paths"]
    result = run("verify", p["one"], p["other"], "-t", "0.5", "-f", "jsonl")
    assert result.exit_code == 1 and result.stderr == "1 of 1 pair does not match\n"


# ---------------------------------------------------------------- verify -s

@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("quantile", [0.0, 0.5])
def test_verify_silent_prints_nothing_and_answers_by_status(data, entry, quantile):
    p = data["paths"]
    cos = _cosines(data["a"], data["b"])
    t = float(np.quantile(cos, quantile))
    code, out, err = invoke(entry, "verify", p["a"], p["b"], "--paired", "-t", repr(t), "-s")
    assert (out, err) == ("", "")
    assert code == (0 if (cos >= t).all() else 1)


@pytest.mark.parametrize("entry", ENTRIES)
def test_verify_silent_still_reports_bad_input(data, entry):
    code, out, err = invoke(entry, "verify", data["paths"]["a"] + ".missing", data["paths"]["b"], "-t", "0.5", "-s")
    assert_one_error_line(code, out, err, ["missing"])


# ---------------------------------------------------------------- options that would be ignored

CONFLICTS = [
    (["compare", "{a}", "{b}", "--paired", "--top-k", "3"], ["--paired", "--top-k", "--limit"]),
    (["compare", "{a}", "{b}", "--pairs", "{pairs}", "-k", "2"], ["--pairs", "--top-k"]),
    (["compare", "{a}", "--b-key", "x"], ["--b-key"]),
    (["verify", "{a}", "{b}", "--paired", "-t", "0.5", "-s", "-f", "csv"], ["--silent", "--format"]),
    (["verify", "{a}", "{b}", "--paired", "-t", "0.5", "-s", "--precision", "2"], ["--silent", "--precision"]),
    (["evaluate", "{a}", "{b}", "--labels", "{same}", "--recall-k", "3"], ["--recall-k", "--classes"]),
    (["evaluate", "{a}", "--classes", "{classes}", "--positive-label", "1"], ["--positive-label", "--classes"]),
    (["evaluate", "{a}", "--classes", "{classes}", "--b-ids", "{same}"], ["--b-ids"]),
    (["evaluate", "{a}", "--pairs", "{pairs}", "--labels-column", "label"], ["--labels-column", "--pairs"]),
    (["inspect", "{a}", "-m", "cosine"], ["--metric", "--classes"]),
    (["loss", "contrastive", "{a}", "{b}", "--labels", "{same}", "--margins", "0.5,1"], ["--margins", "--sweep"]),
    (["loss", "triplet", "{a}", "{b}", "{a}", "--sweep", "--margin", "0.3"], ["--sweep", "--margin"]),
    (["matrix", "{a}", "-o", "{out}", "-f", "csv"], ["--output", "--format"]),
    (["matrix", "{a}", "-o", "{out}", "--precision", "3"], ["--output", "--precision"]),
    (["compare", "{a}", "{b}", "--scheduler", "local:1", "--threads", "2"], ["--threads", "--scheduler"]),
    (["evaluate", "{a}", "{b}", "--labels", "{same}", "--scheduler", "local:1", "--threads", "2"], ["--threads"]),
]


@pytest.mark.parametrize("args, needles", CONFLICTS, ids=[" ".join(c[0][:1] + c[1][:2]) for c in CONFLICTS])
def test_options_that_would_be_ignored_are_refused(data, tmp_path, args, needles):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("left,right\n0,1\n2,3\n")
    names = dict(data["paths"], pairs=str(pairs), out=str(tmp_path / "m.npy"))
    result = run(*[a.format(**names) for a in args])
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, needles)
    assert not (tmp_path / "m.npy").exists()


def test_paired_with_limit_keeps_the_best_pairs(data):
    p = data["paths"]
    result = run("compare", p["a"], p["b"], "--paired", "--limit", "3", "-f", "jsonl")
    cos = _cosines(data["a"], data["b"])
    best = np.argsort(-cos, kind="stable")[:3]
    records = parse_jsonl(result.stdout)
    assert result.exit_code == 0 and [r["a_index"] for r in records] == best.tolist()
    assert np.allclose([r["score"] for r in records], cos[best], atol=1e-12)


def test_sweep_with_margins_and_classes_with_recall_k_still_work(data):
    p = data["paths"]
    sweep = run("loss", "triplet", p["a"], p["b"], p["a"], "--sweep", "--margins", "0.1,0.2", "-f", "jsonl")
    assert sweep.exit_code == 0 and [r["margin"] for r in parse_jsonl(sweep.stdout)] == [0.1, 0.2]
    recall = run("evaluate", p["a"], "--classes", p["classes"], "--recall-k", "3", "--bootstrap", "0", "-f", "json")
    assert recall.exit_code == 0 and list(strict_json(recall.stdout)[0]["recall_at_k"]) == ["3"]


# ---------------------------------------------------------------- --fail-under keys

ALIASES = [("acc", "best_accuracy"), ("cv acc", "cv_accuracy"), ("CV_ACC", "cv_accuracy"),
           ("ap", "average_precision"), ("P@1", "precision_at_1"), ("mAP@R", "map_at_r"),
           ("AUC", "auc"), ("tar_at_far@0.1", "tar@0.1"), ("recall_at_k@5", "recall@5")]


@pytest.mark.parametrize("alias, key", ALIASES)
def test_fail_under_takes_the_tables_names_and_the_long_ones(data, alias, key):
    p = data["paths"]
    base = ["evaluate", p["a"], "--classes", p["classes"], "--bootstrap", "0", "-f", "json"]
    record = strict_json(run(*base).stdout)[0]
    value = (record["tar_at_far"]["0.1"] if key.startswith("tar@") else record["recall_at_k"]["5"]
             if key.startswith("recall@") else record[key])
    above, below = min(value + 0.01, 1.0), max(value - 0.01, 0.0)
    failing, long_name = run(*base, "--fail-under", f"{alias}={above}"), run(*base, "--fail-under", f"{key}={above}")
    assert failing.exit_code == long_name.exit_code == 1
    assert failing.stderr == long_name.stderr and "is below the required" in failing.stderr
    assert run(*base, "--fail-under", f"{alias}={below}").exit_code == 0


def test_fail_under_unknown_key_lists_the_keys_and_suggests_one(data):
    p = data["paths"]
    result = run("evaluate", p["a"], p["b"], "--labels", p["same"], "--fail-under", "accuracyy=0.9")
    assert_one_error_line(result.exit_code, result.stdout, result.stderr,
                          ["acc (best_accuracy)", "cv_acc (cv_accuracy)", "map@r", "did you mean 'accuracy'"])


# ---------------------------------------------------------------- the majority baseline

def _brute_best_accuracy(scores, same) -> tuple[float, bool]:
    """Best accuracy over every observed threshold (similarity: same when >= t), and whether one of
    them reaches the best of all (else only 'nothing is same' does)."""
    nothing = float((~same).mean())
    some = max(float(((scores >= t) == same).mean()) for t in np.unique(scores))
    return max(nothing, some), some >= nothing


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.booleans()), min_size=4, max_size=60))
def test_majority_baseline_and_its_warning(pairs):
    scores = np.array([s for s, _ in pairs], dtype=float)
    same = np.array([b for _, b in pairs])
    if same.all() or not same.any():
        return
    report = verification_report(scores, same, True, folds=2)
    baseline = max(same.sum(), (~same).sum()) / len(same)
    assert report.majority_baseline == pytest.approx(baseline, abs=1e-12)
    best, reached = _brute_best_accuracy(scores, same)
    assert report.best_accuracy == pytest.approx(best, abs=1e-12)
    warned = any("(the majority baseline)" in w for w in report.warnings)
    correct, majority, n = round(best * len(same)), max(same.sum(), (~same).sum()), len(same)
    assert warned == (reached and Fraction(int(correct - majority), int(n - majority)) < Fraction(SMALL_GAIN))


def test_an_accuracy_no_better_than_the_baseline_is_said_so():
    # a threshold calling one same and one different pair "same" is right as often as calling none
    report = verification_report([0.9, 0.9, 0.1, 0.2], [True, False, False, False], True, folds=2)
    assert report.best_accuracy == report.majority_baseline == 0.75 and report.best_accuracy_threshold == 0.9
    said = [w for w in report.warnings if "(the majority baseline)" in w]
    assert len(said) == 1 and "0.75 is no better than the 0.75 of always answering 'different'" in said[0]


def test_evaluate_shows_the_baseline_and_warns_when_accuracy_barely_beats_it(data, tmp_path):
    rng = np.random.default_rng(3)
    left, right = rng.normal(size=(200, 6)), rng.normal(size=(200, 6))
    same = np.arange(200) < 6  # 3% same pairs, one of them identical, the rest noise: 0.975 against 0.97
    right[0] = left[0]
    np.save(tmp_path / "l.npy", left)
    np.save(tmp_path / "r.npy", right)
    (tmp_path / "same.txt").write_text("".join(f"{int(s)}\n" for s in same))
    args = ["evaluate", tmp_path / "l.npy", tmp_path / "r.npy", "--labels", tmp_path / "same.txt", "--bootstrap", "0"]
    record = strict_json(run(*args, "-f", "json").stdout)[0]
    assert record["majority_baseline"] == pytest.approx(194 / 200)
    best, _ = _brute_best_accuracy(_cosines(left, right), same)
    assert record["best_accuracy"] == pytest.approx(best) == pytest.approx(195 / 200)
    assert any("majority baseline" in w for w in record["warnings"])
    table = run(*args, "-f", "table", env={"COLUMNS": "200"})
    assert re.search(r"^majority baseline +0\.9700 +always 'different'", table.stdout, re.M)
    assert "warning: best accuracy" in table.stdout and "barely above the 0.97 of always answering 'different'" \
        in table.stderr
    strong = strict_json(run("evaluate", data["paths"]["unit"], "--classes", data["paths"]["classes"], "-m",
                             "euclidean", "--bootstrap", "0", "-f", "json").stdout)[0]
    assert strong["majority_baseline"] == pytest.approx(600 / 780)


# ---------------------------------------------------------------- metrics that order pairs alike

def test_metrics_that_order_the_pairs_alike_are_grouped(data):
    p = data["paths"]
    args = ["evaluate", p["unit"], "--classes", p["classes"], "-m", "cosine,dot,euclidean,manhattan", "--bootstrap",
            "0"]
    records = {r["metric"]: r for r in strict_json(run(*args, "-f", "json").stdout)}
    unit = np.load(p["unit"])
    i, j = np.triu_indices(len(unit), 1)
    cos = (unit[i] * unit[j]).sum(axis=1)
    euclid = np.linalg.norm(unit[i] - unit[j], axis=1)
    manhattan = np.abs(unit[i] - unit[j]).sum(axis=1)
    assert np.array_equal(rankdata(cos.round(9)), rankdata(-euclid.round(9)))  # the premise, independently
    assert not np.array_equal(rankdata(cos.round(9)), rankdata(-manhattan.round(9)))
    leader = records["cosine"]["same_order_as"] or "cosine"
    assert {records[m]["same_order_as"] or m for m in ("cosine", "dot", "euclidean")} == {leader}
    assert records["manhattan"]["same_order_as"] is None
    table = run(*args, "-f", "table", env={"COLUMNS": "120"}).stdout
    assert ": the same order of every pair, so the same figures" in table
    assert sum(line.startswith(("cosine", "dot", "euclidean")) for line in table.splitlines()[:8]) == 1


def test_metrics_that_order_pairs_differently_are_not_grouped(data):
    p = data["paths"]
    records = strict_json(run("evaluate", p["a"], "--classes", p["classes"], "-m", "cosine,dot,euclidean",
                              "--bootstrap", "0", "-f", "json").stdout)
    assert [r["same_order_as"] for r in records] == [None, None, None]


# ---------------------------------------------------------------- words that agree with numbers

def test_counts_of_one_are_singular(data, tmp_path):
    np.save(tmp_path / "d1.npy", np.ones((5, 1)))
    np.save(tmp_path / "d3.npy", np.ones((5, 3)))
    result = run("compare", tmp_path / "d1.npy", tmp_path / "d3.npy")
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, ["has 1 dimension but"])
    np.save(tmp_path / "col.npy", np.arange(1.0, 61.0).reshape(30, 2))
    np.save(tmp_path / "row.npy", np.array([[1.0, 2.0]]))  # one row: a matrix of one column
    matrix = run("matrix", tmp_path / "col.npy", tmp_path / "row.npy", "-f", "table", env={"LINES": "12"})
    assert "of 30 rows and 1 of 1 column (" in matrix.stderr


@pytest.mark.slow
def test_float32_unit_vectors_group_cosine_dot_and_euclidean_despite_rounding():
    """float32 scores of unit vectors differ in their last bits; the order is still the same."""
    from siamcli.reports.evaluation import evaluate

    rng = np.random.default_rng(32)
    x = rng.standard_normal((300, 384), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    classes = rng.integers(0, 20, size=300)
    result = evaluate(x, classes=classes, metric="cosine,dot,euclidean,manhattan", bootstrap=0, folds=2)
    marks = {r.name: r.same_order_as for r in result.results}
    leaders = {m for m in ("cosine", "dot", "euclidean") if marks[m] is None}
    assert len(leaders) == 1 and {marks[m] for m in ("cosine", "dot", "euclidean")} == {None, *leaders}
    assert marks["manhattan"] is None
    x64 = x.astype(np.float64)
    i, j = np.triu_indices(len(x64), 1)
    cos, euclid = (x64[i] * x64[j]).sum(axis=1), np.linalg.norm(x64[i] - x64[j], axis=1)
    assert abs(np.corrcoef(rankdata(cos), rankdata(-euclid))[0, 1] - 1) < 1e-9  # the premise, in float64

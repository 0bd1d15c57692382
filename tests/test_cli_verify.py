"""`siamcli verify`: verdicts against a threshold in the metric's direction, and the exit status.

Verdicts are checked against scores from scipy's cdist, never against siamcli's own output.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from scipy.spatial.distance import cdist

from siamcli.output import FORMATTERS
from test_cli import RECORD_KEYS, assert_one_error_line, invoke, parse_jsonl, run, strict_json, table_rows

VERDICT_KEYS = RECORD_KEYS + ["threshold", "match"]


def _reference(a, b, metric):
    a, b = np.atleast_2d(a).astype(np.float64), np.atleast_2d(b).astype(np.float64)
    diag = np.einsum("ii->i", cdist(a, b, metric)) if len(a) == len(b) else cdist(a, b, metric).ravel()
    return 1.0 - diag if metric == "cosine" else diag


@pytest.fixture
def pairs(tmp_path):
    rng = np.random.default_rng(7)
    left = rng.normal(size=(40, 8))
    right = left + rng.normal(scale=rng.uniform(0.05, 1.5, size=(40, 1)), size=(40, 8))
    np.save(tmp_path / "left.npy", left)
    np.save(tmp_path / "right.npy", right)
    np.save(tmp_path / "one.npy", left[0])
    np.save(tmp_path / "near.npy", left[0] + 0.01)
    np.save(tmp_path / "far.npy", -left[0])
    return tmp_path, left, right


@pytest.mark.parametrize("entry", ["runner", "executable"])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_verify_paired_verdicts_follow_the_metric_direction(pairs, entry, metric):
    tmp, left, right = pairs
    expected = _reference(left, right, metric)
    threshold = float(np.median(expected))
    code, out, err = invoke(entry, "verify", tmp / "left.npy", tmp / "right.npy", "--paired", "-m", metric,
                            "-t", threshold, "-f", "jsonl")
    records = parse_jsonl(out)
    assert [list(r) for r in records] == [VERDICT_KEYS] * len(left)
    np.testing.assert_allclose([r["score"] for r in records], expected, rtol=1e-9)
    same = expected >= threshold if metric == "cosine" else expected <= threshold
    assert [r["match"] for r in records] == same.tolist()
    assert all(r["threshold"] == threshold for r in records)
    assert code == 1 and "do not match" in err  # the median splits them: some differ


@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_verify_exit_status_is_0_only_when_every_pair_matches(pairs, entry):
    tmp, *_ = pairs
    same = invoke(entry, "verify", tmp / "one.npy", tmp / "near.npy", "-t", "0.99", "-f", "jsonl")
    different = invoke(entry, "verify", tmp / "one.npy", tmp / "far.npy", "-t", "0.99", "-f", "jsonl")
    assert same[0] == 0 and parse_jsonl(same[1])[0]["match"] is True and same[2] == ""
    assert different[0] == 1 and parse_jsonl(different[1])[0]["match"] is False


def test_verify_threshold_is_inclusive(tmp_path):
    np.save(tmp_path / "a.npy", np.array([0.0, 0.0]))
    np.save(tmp_path / "b.npy", np.array([3.0, 4.0]))  # euclidean distance exactly 5
    assert run("verify", tmp_path / "a.npy", tmp_path / "b.npy", "-m", "euclidean", "-t", "5").exit_code == 0
    assert run("verify", tmp_path / "a.npy", tmp_path / "b.npy", "-m", "euclidean", "-t", "4.999").exit_code == 1


def test_verify_single_vector_against_every_row(pairs):
    tmp, left, _ = pairs
    result = run("verify", tmp / "left.npy", tmp / "one.npy", "-t", "0.5", "-f", "json")
    records = strict_json(result.stdout)
    expected = _reference(left, left[0], "cosine")
    assert [r["a_index"] for r in records] == list(range(len(left)))
    assert [r["b_index"] for r in records] == [0] * len(left)
    assert [r["match"] for r in records] == (expected >= 0.5).tolist()
    assert result.exit_code == (0 if (expected >= 0.5).all() else 1)


def test_verify_listed_pairs(pairs):
    tmp, left, right = pairs
    (tmp / "pairs.csv").write_text("a,b\n3,5\n0,0\n")
    result = run("verify", tmp / "left.npy", tmp / "right.npy", "--pairs", tmp / "pairs.csv",
                 "-m", "euclidean", "-t", "100", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == VERDICT_KEYS
    assert [(int(r["a_index"]), int(r["b_index"])) for r in rows] == [(3, 5), (0, 0)]
    np.testing.assert_allclose([float(r["score"]) for r in rows],
                               [np.linalg.norm(left[3] - right[5]), np.linalg.norm(left[0] - right[0])], rtol=1e-9)
    assert [r["match"] for r in rows] == ["true", "true"] and result.exit_code == 0


def test_verify_undefined_score_never_matches(tmp_path):
    np.save(tmp_path / "zero.npy", np.zeros(3))
    np.save(tmp_path / "b.npy", np.ones(3))
    result = run("verify", tmp_path / "zero.npy", tmp_path / "b.npy", "-t", "-1", "--zero-vector", "nan", "-f", "jsonl")
    record = parse_jsonl(result.stdout)[0]
    assert record["score"] is None and record["match"] is False and result.exit_code == 1


def test_verify_table_names_each_verdict_and_the_rule(pairs):
    tmp, left, right = pairs
    expected = _reference(left[:3], right[:3], "cosine")
    np.save(tmp / "l3.npy", left[:3])
    np.save(tmp / "r3.npy", right[:3])
    threshold = float(np.sort(expected)[:2].mean())  # between two scores: no last-bit ties
    result = run("verify", tmp / "l3.npy", tmp / "r3.npy", "--paired", "-t", threshold, "-f", "table")
    rows = table_rows(result.stdout)
    assert [r[-1] for r in rows] == ["same" if s >= threshold else "different" for s in expected]
    assert f"same when cosine >= {threshold:g}" in result.stdout


@pytest.mark.parametrize("args, needles", [
    (["{left}", "{right}", "-t", "0.5"], ["--paired", "--pairs"]),
    (["{left}", "{right}"], ["--threshold"]),
    (["{left}", "{right}", "--paired", "--pairs", "{left}", "-t", "1"], ["--paired", "--pairs"]),
    (["{one}", "{left}", "--paired", "-t", "1"], ["--paired"]),
])
def test_verify_bad_usage_exits_2(pairs, args, needles):
    tmp, *_ = pairs
    names = {"left": tmp / "left.npy", "right": tmp / "right.npy", "one": tmp / "one.npy"}
    result = run("verify", *[a.format(**names) for a in args])
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, needles)


@pytest.mark.parametrize("fmt", list(FORMATTERS))
def test_verify_every_output_format(pairs, fmt):
    tmp, left, right = pairs
    result = run("verify", tmp / "left.npy", tmp / "right.npy", "--paired", "-t", "-1", "-f", fmt,
                 env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.stderr  # cosine >= -1: every pair matches
    if fmt == "json":
        assert [r["match"] for r in strict_json(result.stdout)] == [True] * len(left)
    elif fmt == "jsonl":
        assert len(parse_jsonl(result.stdout)) == len(left)
    elif fmt in ("csv", "tsv"):
        rows = list(csv.DictReader(io.StringIO(result.stdout), delimiter="," if fmt == "csv" else "\t"))
        assert list(rows[0]) == VERDICT_KEYS and {r["match"] for r in rows} == {"true"}
    else:
        assert len(table_rows(result.stdout)) == len(left)

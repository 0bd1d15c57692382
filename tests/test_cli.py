"""The command line and the output formats, through click's CliRunner and the installed executable.

Numbers are checked against independent float64 references (scipy's cdist, numpy sorting,
scikit-learn's Ledoit-Wolf), never against siamcli's own output.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib.metadata import version as installed_version
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.spatial.distance import cdist

import siamcli
from siamcli.cli import cli
from siamcli.output import FORMATTERS

RECORD_KEYS = ["metric", "higher_is_better", "a_index", "a_id", "b_index", "b_id", "score", "rank"]
METRIC_KEYS = ["name", "aliases", "kind", "higher_is_better", "summary"]
FORMATS = list(FORMATTERS)  # the table of formatters: a new format is run here (and must be parsed below)
MACHINE_FORMATS = [f for f in FORMATS if f != "table"]
COMMANDS = ["compare", "matrix", "metrics"]
HIGHER_IS_BETTER = {"cosine": True, "dot": True}
TOL = {np.float32: 1e-5, np.float64: 1e-9}
EXECUTABLE = shutil.which("siamcli", path=os.path.dirname(sys.executable)) or shutil.which("siamcli")
ENTRY_POINTS = ["runner", "executable", "module"]


# ---------------------------------------------------------------- running siamcli


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # click < 8.2 mixes stderr into stdout by default
    except TypeError:
        return CliRunner()


def run(*args, input=None, env=None):
    """siamcli in-process; returns click's Result (exit_code, stdout, stderr)."""
    return _runner().invoke(cli, [str(a) for a in args], input=input, env=env)


def _subprocess_env(extra=None):
    env = {k: v for k, v in os.environ.items() if k not in ("SIAMCLI_DEBUG", "COLUMNS", "LINES")}
    env.update(extra or {})
    return env


def invoke(entry: str, *args, input: bytes | None = None, env=None):
    """siamcli through one entry point; returns (exit status, stdout text, stderr text)."""
    args = [str(a) for a in args]
    if entry == "runner":
        result = run(*args, input=input, env=env)
        return result.exit_code, result.stdout, result.stderr
    if entry == "executable":
        if EXECUTABLE is None:
            pytest.skip("the siamcli executable is not installed")
        command = [EXECUTABLE, *args]
    else:
        command = [sys.executable, "-m", "siamcli", *args]
    proc = subprocess.run(command, input=input if input is not None else b"", capture_output=True,
                          env=_subprocess_env(env), timeout=120)
    return proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")


# ---------------------------------------------------------------- parsing output


def _no_constants(token):
    raise ValueError(f"not strict JSON: {token}")


def strict_json(text: str):
    """json.loads that refuses NaN, Infinity and -Infinity."""
    return json.loads(text, parse_constant=_no_constants)


def parse_jsonl(text: str) -> list:
    assert text == "" or text.endswith("\n")
    return [strict_json(line) for line in text.splitlines()]


def _typed(record: dict) -> dict:
    """A compare record read from CSV/TSV with the types JSON would give."""
    out = dict(record)
    for key in ("a_index", "b_index", "rank"):
        out[key] = int(out[key])
    out["score"] = None if out["score"] == "" else float(out["score"])
    assert out["higher_is_better"] in ("true", "false")
    out["higher_is_better"] = out["higher_is_better"] == "true"
    return out


def parse_records(text: str, fmt: str) -> list[dict]:
    """Compare records from any machine format; checks the keys and their order."""
    if fmt == "jsonl":
        records = parse_jsonl(text)
    elif fmt == "json":
        records = strict_json(text)
        assert isinstance(records, list)
    else:
        rows = list(csv.reader(io.StringIO(text), delimiter="," if fmt == "csv" else "\t"))
        assert rows[0] == RECORD_KEYS, "CSV/TSV must start with a header row"
        records = [_typed(dict(zip(rows[0], row))) for row in rows[1:]]
    for record in records:
        assert list(record) == RECORD_KEYS
    return records


def table_rows(text: str) -> list[list[str]]:
    """Data rows of a rich table: cells split at the vertical rules, header and rules left out."""
    return [[cell.strip() for cell in line.split("│")] for line in text.splitlines() if "│" in line]


# ---------------------------------------------------------------- independent references


def reference_matrix(a, b, metric: str, **kwargs) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if metric == "cosine":
        return 1.0 - cdist(a, b, "cosine")
    if metric == "dot":
        return np.einsum("id,jd->ij", a, b)
    return cdist(a, b, {"manhattan": "cityblock"}.get(metric, metric), **kwargs)


def _passes(score, higher, threshold):
    return threshold is None or (score >= threshold if higher else score <= threshold)


def reference_topk(scores, higher, k=None, exclude_self=False, threshold=None):
    """(a, b, score, rank) per row of A, best first, ties by b index: plain np.lexsort."""
    keys = -scores if higher else scores
    out = []
    for i in range(scores.shape[0]):
        cols = np.arange(scores.shape[1])
        cols = cols[[not (exclude_self and j == i) and _passes(scores[i, j], higher, threshold) for j in cols]]
        order = cols[np.lexsort((cols, keys[i, cols]))][:k]
        out += [(i, int(j), float(scores[i, j]), rank) for rank, j in enumerate(order, 1)]
    return out


def reference_overall(scores, higher, limit=None, upper_only=False, threshold=None):
    """The best pairs overall, ties by (a index, b index)."""
    keys = -scores if higher else scores
    rows, cols = np.nonzero(np.ones(scores.shape, dtype=bool))
    keep = np.array([(not upper_only or j > i) and _passes(scores[i, j], higher, threshold)
                     for i, j in zip(rows, cols)], dtype=bool)
    rows, cols = rows[keep], cols[keep]
    order = np.lexsort((cols, rows, keys[rows, cols]))[:limit]
    return [(int(rows[o]), int(cols[o]), float(scores[rows[o], cols[o]]), rank) for rank, o in enumerate(order, 1)]


def assert_ranking(records, expected, tol):
    assert [(r["a_index"], r["b_index"], r["rank"]) for r in records] == [(i, j, r) for i, j, _, r in expected]
    np.testing.assert_allclose([r["score"] for r in records], [s for _, _, s, _ in expected], rtol=tol, atol=tol)


# ---------------------------------------------------------------- data files


def _save(path, array):
    np.save(path, array)
    return path


@pytest.fixture
def data(tmp_path):
    """Small query and gallery sets in float32 and float64, and a file whose row 3 is a zero vector."""
    rng = np.random.default_rng(20240611)
    q = rng.normal(size=(7, 6))
    g = rng.normal(size=(11, 6))
    zero = rng.normal(size=(5, 4))
    zero[3] = 0.0
    d = SimpleNamespace(tmp=tmp_path, q64=q, g64=g, q32=q.astype(np.float32), g32=g.astype(np.float32), zero=zero)
    d.q64_path = _save(tmp_path / "q64.npy", d.q64)
    d.g64_path = _save(tmp_path / "g64.npy", d.g64)
    d.q32_path = _save(tmp_path / "q32.npy", d.q32)
    d.g32_path = _save(tmp_path / "g32.npy", d.g32)
    d.zero_path = _save(tmp_path / "zero.npy", zero)
    return d


def arrays_of(data, dtype):
    if dtype is np.float32:
        return data.q32, data.g32, data.q32_path, data.g32_path
    return data.q64, data.g64, data.q64_path, data.g64_path


# ================================================================ entry points


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_version_prints_the_package_version(entry):
    code, out, err = invoke(entry, "--version")
    assert code == 0
    assert out.strip() == f"siamcli, version {siamcli.__version__}"
    assert siamcli.__version__ == installed_version("siamcli")
    assert err == ""


@pytest.mark.parametrize("command", ["", "compare", "matrix", "metrics", "verify", "evaluate", "inspect", "loss",
                                     "loss contrastive", "loss triplet"])
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_help_has_an_examples_section_with_siamcli_command_lines(entry, command):
    code, out, err = invoke(entry, *command.split(), "--help")
    assert code == 0 and err == ""
    assert re.match(rf"Usage: \S+ {command}", out)
    after = out.split("Examples:", 1)
    assert len(after) == 2, "help has no 'Examples:' section"
    example_lines = [line.strip() for line in after[1].split("Options:")[0].splitlines() if line.strip()]
    assert example_lines, "the Examples section is empty"
    assert all(line.startswith("siamcli ") for line in example_lines)
    assert any(line.startswith(f"siamcli {command}") for line in example_lines)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_compare_jsonl_matches_reference_through_every_entry_point(entry, data):
    code, out, err = invoke(entry, "compare", data.q64_path, data.g64_path, "-k", "3", "-f", "jsonl")
    assert code == 0 and err == ""
    expected = reference_topk(reference_matrix(data.q64, data.g64, "cosine"), True, k=3)
    assert_ranking(parse_records(out, "jsonl"), expected, 1e-12)


@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_default_format_is_jsonl_when_stdout_is_not_a_terminal(entry, data):
    code, out, err = invoke(entry, "compare", data.q64_path, data.g64_path, "-k", "2")
    assert code == 0
    records = parse_records(out, "jsonl")
    assert len(records) == 2 * len(data.q64)


@pytest.mark.parametrize("command", ["matrix", "metrics"])
def test_default_format_is_jsonl_for_every_command(command, data):
    args = [command] + ([data.q64_path] if command == "matrix" else [])
    default, explicit = run(*args), run(*args, "-f", "jsonl")
    assert default.exit_code == explicit.exit_code == 0
    assert default.stdout == explicit.stdout
    assert len(parse_jsonl(default.stdout)) == (len(data.q64) if command == "matrix" else len(siamcli.available_metrics()))


def read_terminal(master: int) -> bytes:
    """Everything written to a pseudo-terminal whose writers have closed it; closes `master`."""
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO once the terminal has no writer
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return b"".join(chunks)


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_default_format_is_table_on_a_terminal(data):
    if EXECUTABLE is None:
        pytest.skip("the siamcli executable is not installed")
    master, slave = os.openpty()
    try:
        proc = subprocess.run([EXECUTABLE, "compare", data.q64_path, data.g64_path, "-k", "1"], stdin=subprocess.DEVNULL,
                              stdout=slave, stderr=subprocess.PIPE, env=_subprocess_env({"COLUMNS": "80"}), timeout=60)
    finally:
        os.close(slave)
    text = re.sub(r"\x1b\[[0-9;]*m", "", read_terminal(master).decode("utf-8"))
    assert proc.returncode == 0
    assert "cosine: higher is closer" in text
    assert '"metric"' not in text


# ================================================================ compare semantics


@pytest.fixture
def single_vectors(tmp_path):
    u, v = np.array([0.3, -1.2, 2.5, 0.7]), np.array([1.1, 0.4, -0.2, 2.9])
    np.save(tmp_path / "u.npy", u)  # 1-D
    np.save(tmp_path / "v.npy", v)
    np.save(tmp_path / "u_row.npy", u[None, :])  # one row of a 2-D array
    (tmp_path / "v_row.csv").write_text("id,x1,x2,x3,x4\nvee," + ",".join(map(repr, v.tolist())) + "\n")
    return SimpleNamespace(u=u, v=v, tmp=tmp_path)


@pytest.mark.parametrize("files, b_id", [(("u.npy", "v.npy"), "0"), (("u_row.npy", "v_row.csv"), "vee")])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_compare_two_single_vectors_print_one_score(single_vectors, files, b_id, metric):
    a, b = (single_vectors.tmp / f for f in files)
    v = single_vectors.v
    if b.suffix == ".csv":  # '1.1' is what a float32 prints: the CSV holds float32(1.1), computed with u in float64
        v = v.astype(np.float32).astype(np.float64)
    expected = float(reference_matrix(single_vectors.u[None], v[None], metric)[0, 0])

    table = run("compare", a, b, "-m", metric, "-f", "table", "-k", "3")
    assert table.exit_code == 0, table.stderr
    assert table.stdout == f"{expected:.4f}\n"

    records = parse_records(run("compare", a, b, "-m", metric, "-f", "jsonl").stdout, "jsonl")
    assert len(records) == 1
    record = records[0]
    assert (record["a_index"], record["b_index"], record["rank"], record["b_id"]) == (0, 0, 1, b_id)
    assert record["metric"] == metric and record["higher_is_better"] is HIGHER_IS_BETTER.get(metric, False)
    assert abs(record["score"] - expected) <= 1e-12


@pytest.mark.parametrize("k", ["1", "3", "all"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("metric", ["cosine", "euclidean", "sqeuclidean", "manhattan", "dot"])
def test_compare_top_k_matches_brute_force(data, metric, dtype, k):
    q, g, q_path, g_path = arrays_of(data, dtype)
    result = run("compare", q_path, g_path, "-m", metric, "-k", k, "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    expected = reference_topk(reference_matrix(q, g, metric), HIGHER_IS_BETTER.get(metric, False),
                              k=None if k == "all" else int(k))
    assert_ranking(parse_records(result.stdout, "jsonl"), expected, TOL[dtype])


def test_compare_default_top_k_is_5(data):
    records = parse_records(run("compare", data.q64_path, data.g64_path).stdout, "jsonl")
    assert_ranking(records, reference_topk(reference_matrix(data.q64, data.g64, "cosine"), True, k=5), 1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_compare_self_excludes_self_pairs_but_finds_duplicate_twins(tmp_path, metric, dtype):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(9, 5)).astype(dtype)
    x[4] = x[1]  # a pair of twins
    x[6] = x[8] = x[2]  # a triple
    path = _save(tmp_path / "dup.npy", x)
    higher = HIGHER_IS_BETTER.get(metric, False)
    scores = reference_matrix(x, x, metric)

    records = parse_records(run("compare", path, "-m", metric, "-k", "all").stdout, "jsonl")
    assert all(r["a_index"] != r["b_index"] for r in records)
    assert_ranking(records, reference_topk(scores, higher, exclude_self=True), TOL[dtype])

    best = {r["a_index"]: r for r in parse_records(run("compare", path, "-m", metric, "-k", "1").stdout, "jsonl")}
    same = 1.0 if higher else 0.0
    for row, twin in [(1, 4), (4, 1), (2, 6), (6, 2), (8, 2)]:
        assert best[row]["b_index"] == twin
        assert abs(best[row]["score"] - same) <= TOL[dtype]


@pytest.mark.parametrize("limit", ["4", "all"])
def test_compare_self_limit_lists_each_unordered_pair_once(data, limit):
    records = parse_records(run("compare", data.g64_path, "--limit", limit).stdout, "jsonl")
    n = len(data.g64)
    assert all(r["a_index"] < r["b_index"] for r in records)
    assert len({(r["a_index"], r["b_index"]) for r in records}) == len(records)
    if limit == "all":
        assert len(records) == n * (n - 1) // 2
    expected = reference_overall(reference_matrix(data.g64, data.g64, "cosine"), True,
                                 limit=None if limit == "all" else int(limit), upper_only=True)
    assert_ranking(records, expected, 1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_compare_limit_gives_best_pairs_overall(data, metric, dtype):
    q, g, q_path, g_path = arrays_of(data, dtype)
    records = parse_records(run("compare", q_path, g_path, "-m", metric, "--limit", "9").stdout, "jsonl")
    expected = reference_overall(reference_matrix(q, g, metric), HIGHER_IS_BETTER.get(metric, False), limit=9)
    assert_ranking(records, expected, TOL[dtype])


def _threshold_between_scores(scores: np.ndarray, quantile: float) -> float:
    """A threshold halfway between two neighbouring scores, far from both (no rounding doubt)."""
    values = np.unique(scores.ravel())
    gaps = np.diff(values)
    start = int(quantile * len(gaps))
    i = start + int(np.argmax(gaps[start:] > 1e-3))
    return float((values[i] + values[i + 1]) / 2)


@pytest.mark.parametrize("mode", ["top-k", "limit", "self-limit", "paired"])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_compare_threshold_keeps_similarity_at_least_and_distance_at_most(data, metric, mode):
    higher = HIGHER_IS_BETTER.get(metric, False)
    if mode == "paired":
        a, b = data.q64, data.g64[: len(data.q64)]
        b_path = _save(data.tmp / "g_paired.npy", b)
        scores = reference_matrix(a, b, metric)
        t = _threshold_between_scores(np.diag(scores), 0.5)
        records = parse_records(run("compare", data.q64_path, b_path, "-m", metric, "--paired", "-t", t).stdout, "jsonl")
        expected = [(i, i, float(scores[i, i]), 1) for i in range(len(a)) if _passes(scores[i, i], higher, t)]
    elif mode == "self-limit":
        scores = reference_matrix(data.g64, data.g64, metric)
        t = _threshold_between_scores(scores[np.triu_indices(len(scores), 1)], 0.6 if higher else 0.3)
        records = parse_records(run("compare", data.g64_path, "-m", metric, "--limit", "all", "-t", t).stdout, "jsonl")
        expected = reference_overall(scores, higher, upper_only=True, threshold=t)
    else:
        scores = reference_matrix(data.q64, data.g64, metric)
        t = _threshold_between_scores(scores, 0.6 if higher else 0.3)
        extra = ["-k", "all"] if mode == "top-k" else ["--limit", "all"]
        records = parse_records(run("compare", data.q64_path, data.g64_path, "-m", metric, *extra, "-t", t).stdout, "jsonl")
        expected = (reference_topk(scores, higher, threshold=t) if mode == "top-k"
                    else reference_overall(scores, higher, threshold=t))
    assert 0 < len(expected) < scores.size, "the threshold should keep some pairs and drop others"
    assert all(_passes(r["score"], higher, t) for r in records)
    assert_ranking(records, expected, 1e-9)


@pytest.mark.parametrize("mode", [["-k", "all"], ["--limit", "all"]], ids=["top-k", "limit"])
def test_compare_threshold_is_inclusive(tmp_path, mode):
    # exact in float64: the distances are 5, 10 and 5; cos((3,4), (1,0)) = 3/5 without rounding
    points = _save(tmp_path / "points.npy", np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]]))

    def pairs(*args):
        return {(r["a_index"], r["b_index"], r["score"]) for r in parse_records(run("compare", *args, *mode).stdout, "jsonl")}

    assert pairs(points, "-m", "euclidean", "-t", "5") >= {(0, 1, 5.0), (1, 2, 5.0)}
    assert all(score <= 5 for _, _, score in pairs(points, "-m", "euclidean", "-t", "5"))
    assert pairs(points, "-m", "euclidean", "-t", "4.999") == set()
    two = _save(tmp_path / "two.npy", np.array([[3.0, 4.0], [1.0, 0.0]]))
    assert (0, 1, 0.6) in pairs(two, "-t", "0.6")
    assert pairs(two, "-t", "0.6000001") == set()


@pytest.mark.parametrize("mode", [["-k", "all"], ["--limit", "all"]], ids=["top-k", "limit"])
def test_compare_threshold_holds_for_float32_inputs(tmp_path, mode):
    # every distance here is exactly 5 or 10 in float32; 4.9999999 rounds to 5.0 in float32
    path = _save(tmp_path / "p32.npy", np.array([[0, 0], [3, 4], [6, 8]], dtype=np.float32))
    result = run("compare", path, "-m", "euclidean", *mode, "-t", "4.9999999")
    assert result.exit_code == 0
    records = parse_records(result.stdout, "jsonl")
    assert [r["score"] for r in records if r["score"] > 4.9999999] == []


def test_compare_paired_scores_row_i_against_row_i(data):
    b = data.g64[: len(data.q64)]
    b_path = _save(data.tmp / "b7.npy", b)
    for metric in ("cosine", "euclidean"):
        records = parse_records(run("compare", data.q64_path, b_path, "-m", metric, "--paired").stdout, "jsonl")
        expected = np.diag(reference_matrix(data.q64, b, metric))
        assert [(r["a_index"], r["b_index"], r["rank"]) for r in records] == [(i, i, 1) for i in range(len(b))]
        np.testing.assert_allclose([r["score"] for r in records], expected, rtol=1e-12, atol=1e-12)


@pytest.fixture
def tied(tmp_path):
    """Integer vectors and a gallery of repeated base vectors: many exact ties."""
    rng = np.random.default_rng(11)
    base = np.array([[1, 0, 2], [0, 2, 1], [2, 2, 0], [1, 1, 1]])
    groups = np.array([2, 0, 3, 1, 0, 2, 1, 3, 0, 2, 3, 1])
    a = rng.integers(-2, 3, size=(6, 3))
    a[(a == 0).all(axis=1)] = 1
    grid = np.array([[x, y] for x in range(3) for y in range(3)])  # a 3 x 3 grid: its distances are full of ties
    return SimpleNamespace(a=a, base=base, groups=groups, grid=grid,
                           a_path=_save(tmp_path / "a_int.npy", a),
                           g_path=_save(tmp_path / "g_int.npy", base[groups]),
                           grid_path=_save(tmp_path / "grid.npy", grid))


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "manhattan", "sqeuclidean"])
@pytest.mark.parametrize("k", ["4", "all"])
def test_compare_breaks_exact_ties_by_index(tied, metric, k):
    higher = HIGHER_IS_BETTER.get(metric, False)
    # one reference value per base vector, so repeated gallery rows tie exactly in the reference too
    scores = reference_matrix(tied.a, tied.base, metric)[:, tied.groups]
    records = parse_records(run("compare", tied.a_path, tied.g_path, "-m", metric, "-k", k).stdout, "jsonl")
    assert_ranking(records, reference_topk(scores, higher, k=None if k == "all" else int(k)), 1e-9)


@pytest.mark.parametrize("metric", ["euclidean", "manhattan"])
def test_compare_self_limit_breaks_ties_by_a_then_b_index(tied, metric):
    records = parse_records(run("compare", tied.grid_path, "-m", metric, "--limit", "all").stdout, "jsonl")
    assert_ranking(records, reference_overall(reference_matrix(tied.grid, tied.grid, metric), False, upper_only=True), 1e-9)


def test_compare_k_larger_than_the_gallery_returns_what_exists(data):
    q, g = data.q64[:3], data.g64[:4]
    q_path, g_path = _save(data.tmp / "q3.npy", q), _save(data.tmp / "g4.npy", g)
    records = parse_records(run("compare", q_path, g_path, "-k", "50").stdout, "jsonl")
    assert_ranking(records, reference_topk(reference_matrix(q, g, "cosine"), True), 1e-9)
    assert len(records) == 3 * 4
    self_records = parse_records(run("compare", g_path, "-k", "50").stdout, "jsonl")
    assert len(self_records) == 4 * 3
    assert sorted(r["rank"] for r in self_records if r["a_index"] == 0) == [1, 2, 3]


def test_compare_reads_ids_into_records(tmp_path):
    (tmp_path / "q.csv").write_text("id,x,y\nalpha,1,0\nbeta,0,1\n")
    (tmp_path / "g.tsv").write_text("name\tx\ty\nred\t1\t1\ngreen\t1\t0\n")
    records = parse_records(run("compare", tmp_path / "q.csv", tmp_path / "g.tsv", "-k", "1").stdout, "jsonl")
    assert [(r["a_id"], r["b_id"]) for r in records] == [("alpha", "green"), ("beta", "red")]


# ================================================================ stdin


def _npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["npy", "csv"])
@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_compare_reads_a_from_stdin(data, entry, kind):
    payload = (_npy_bytes(data.q64) if kind == "npy"
               else "".join(",".join(map(repr, row)) + "\n" for row in data.q64.tolist()).encode())
    code, out, err = invoke(entry, "compare", "-", data.g64_path, "-k", "2", input=payload)
    assert code == 0, err
    expected = reference_topk(reference_matrix(data.q64, data.g64, "cosine"), True, k=2)
    assert_ranking(parse_records(out, "jsonl"), expected, 1e-12)


# ================================================================ output formats


def _check_compare_output(fmt, text, data):
    expected = reference_topk(reference_matrix(data.q64, data.g64, "cosine"), True, k=2)
    if fmt == "table":
        rows = table_rows(text)
        assert [(int(r[1]), r[2], r[3]) for r in rows] == [(rank, str(j), f"{s:.4f}") for _, j, s, rank in expected]
        assert text.rstrip().endswith("cosine: higher is closer")
        return
    records = parse_records(text, fmt)
    assert_ranking(records, expected, 1e-12)
    assert all(r["metric"] == "cosine" and r["higher_is_better"] is True for r in records)
    assert [(r["a_id"], r["b_id"]) for r in records] == [(str(i), str(j)) for i, j, _, _ in expected]


def _check_matrix_output(fmt, text, data):
    expected = reference_matrix(data.q64, data.g64, "cosine")
    col_ids = [str(j) for j in range(expected.shape[1])]
    if fmt == "table":
        rows = table_rows(text)
        shown = len(rows[0]) - 1
        assert [r[0] for r in rows] == [str(i) for i in range(len(expected))]
        assert [r[1:] for r in rows] == [[f"{v:.4f}" for v in row[:shown]] for row in expected]
        return
    if fmt == "json":
        doc = strict_json(text)
        assert list(doc) == ["metric", "higher_is_better", "row_ids", "col_ids", "values"]
        assert (doc["metric"], doc["higher_is_better"]) == ("cosine", True)
        assert doc["row_ids"] == [str(i) for i in range(len(expected))] and doc["col_ids"] == col_ids
        values = doc["values"]
    elif fmt == "jsonl":
        records = parse_jsonl(text)
        assert [r["row_index"] for r in records] == list(range(len(expected)))
        assert [r["row_id"] for r in records] == [str(i) for i in range(len(expected))]
        values = [r["values"] for r in records]
    else:
        rows = list(csv.reader(io.StringIO(text), delimiter="," if fmt == "csv" else "\t"))
        assert rows[0] == ["id", *col_ids]
        assert [r[0] for r in rows[1:]] == [str(i) for i in range(len(expected))]
        values = [[float(v) for v in r[1:]] for r in rows[1:]]
    np.testing.assert_allclose(np.array(values, dtype=np.float64), expected, rtol=1e-12, atol=1e-12)


def _check_metrics_output(fmt, text, data):
    if fmt == "table":
        for name in ("cosine", "euclidean", "manhattan", "mahalanobis"):
            assert re.search(rf"^\s*{name}\b", text, re.MULTILINE)
        return
    if fmt in ("json", "jsonl"):
        records = strict_json(text) if fmt == "json" else parse_jsonl(text)
        assert isinstance(records, list)
    else:
        rows = list(csv.reader(io.StringIO(text), delimiter="," if fmt == "csv" else "\t"))
        assert rows[0] == METRIC_KEYS
        records = [dict(zip(rows[0], r)) for r in rows[1:]]
        for r in records:
            r["aliases"] = r["aliases"].split(";") if r["aliases"] else []
            r["higher_is_better"] = {"true": True, "false": False}[r["higher_is_better"]]
    assert all(list(r) == METRIC_KEYS for r in records)
    by_name = {r["name"]: r for r in records}
    assert {"cosine", "euclidean", "manhattan", "dot", "mahalanobis"} <= set(by_name)
    assert "cos" in by_name["cosine"]["aliases"] and "l1" in by_name["manhattan"]["aliases"]
    for r in records:
        assert r["kind"] in ("distance", "similarity")
        assert r["higher_is_better"] is (r["kind"] == "similarity")
        assert r["summary"]
    assert by_name["cosine"]["kind"] == "similarity" and by_name["euclidean"]["kind"] == "distance"


CHECKERS = {"compare": _check_compare_output, "matrix": _check_matrix_output, "metrics": _check_metrics_output}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("command", COMMANDS)
def test_output_format_on_every_command(data, command, fmt):
    args = {"compare": ["compare", data.q64_path, data.g64_path, "-k", "2"],
            "matrix": ["matrix", data.q64_path, data.g64_path],
            "metrics": ["metrics"]}[command]
    result = run(*args, "-f", fmt, env={"COLUMNS": "200", "LINES": "100"})
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    CHECKERS[command](fmt, result.stdout, data)


@pytest.mark.parametrize("fmt", MACHINE_FORMATS)
def test_compare_nan_scores_are_null_in_json_and_empty_in_csv(data, fmt):
    result = run("compare", data.zero_path, "--zero-vector", "nan", "-k", "all", "-f", fmt)
    assert result.exit_code == 0, result.stderr
    records = parse_records(result.stdout, fmt)  # strict: a NaN token would fail here
    scores = reference_matrix(data.zero, data.zero, "cosine")
    for r in records:
        if 3 in (r["a_index"], r["b_index"]):
            assert r["score"] is None
        else:
            assert abs(r["score"] - scores[r["a_index"], r["b_index"]]) <= 1e-12
    assert sum(r["score"] is None for r in records) == 2 * (len(data.zero) - 1)
    if fmt in ("csv", "tsv"):
        sep = "," if fmt == "csv" else "\t"
        assert all(line.split(sep)[6] == "" for line in result.stdout.splitlines()[1:] if line.split(sep)[2] == "3")


@pytest.mark.parametrize("fmt", MACHINE_FORMATS)
def test_matrix_nan_values_are_null_in_json_and_empty_in_csv(data, fmt):
    result = run("matrix", data.zero_path, "--zero-vector", "nan", "-f", fmt)
    assert result.exit_code == 0, result.stderr
    if fmt == "json":
        values = strict_json(result.stdout)["values"]
    elif fmt == "jsonl":
        values = [r["values"] for r in parse_jsonl(result.stdout)]
    else:
        rows = list(csv.reader(io.StringIO(result.stdout), delimiter="," if fmt == "csv" else "\t"))[1:]
        values = [[None if v == "" else float(v) for v in r[1:]] for r in rows]
    expected = reference_matrix(data.zero, data.zero, "cosine")
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            if 3 in (i, j):
                assert v is None
            else:
                assert abs(v - expected[i, j]) <= 1e-12


def test_single_score_nan_is_null(tmp_path):
    zero, v = _save(tmp_path / "z.npy", np.zeros(3)), _save(tmp_path / "v.npy", np.ones(3))
    (record,) = parse_records(run("compare", zero, v, "--zero-vector", "nan", "-f", "json").stdout, "json")
    assert record["score"] is None
    assert run("compare", zero, v, "--zero-vector", "nan", "-f", "csv").stdout.splitlines()[1].split(",")[6] == ""
    assert run("compare", zero, v, "--zero-vector", "zero", "-f", "table").stdout == "0.0000\n"


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "manhattan"])
def test_jsonl_keeps_full_float64_precision(data, metric):
    records = parse_records(run("compare", data.q64_path, data.g64_path, "-m", metric, "-k", "all").stdout, "jsonl")
    expected = reference_matrix(data.q64, data.g64, metric)
    errors = [abs(r["score"] - expected[r["a_index"], r["b_index"]]) for r in records]
    assert max(errors) <= 1e-12
    rounded_request = run("compare", data.q64_path, data.g64_path, "-m", metric, "-k", "all", "--precision", "2")
    assert [r["score"] for r in parse_records(rounded_request.stdout, "jsonl")] == [r["score"] for r in records]
    # rounded output would lose digits: most scores need more than 10 significant digits
    assert sum(len(repr(r["score"]).lstrip("-0.").replace(".", "")) > 10 for r in records) > len(records) // 2


@pytest.mark.parametrize("precision", [0, 2, 4, 7])
def test_table_rounds_to_precision(single_vectors, precision):
    expected = float(reference_matrix(single_vectors.u[None], single_vectors.v[None], "euclidean")[0, 0])
    result = run("compare", single_vectors.tmp / "u.npy", single_vectors.tmp / "v.npy", "-m", "euclidean",
                 "-f", "table", "--precision", precision)
    assert result.stdout == f"{expected:.{precision}f}\n"


def test_compare_table_golden(tmp_path):
    """A hand-made input rendered as rich renders it at 80 columns; numbers from the reference."""
    (tmp_path / "q.csv").write_text("id,x,y\nq1,1,0\nq2,0,1\n")
    (tmp_path / "g.csv").write_text("id,x,y\ng1,1,1\ng2,1,0\n[b]g3[/b],-1,2\n")
    q, g = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 1.0], [1.0, 0.0], [-1.0, 2.0]])
    q_ids, g_ids = ["q1", "q2"], ["g1", "g2", "[b]g3[/b]"]  # rich must not read the id as markup
    expected = reference_topk(reference_matrix(q, g, "cosine"), True, k=3)
    result = run("compare", tmp_path / "q.csv", tmp_path / "g.csv", "-k", "3", "-f", "table", env={"COLUMNS": "80"})
    assert result.exit_code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert [c.strip() for c in lines[0].split("┃")] == ["a", "rank", "b", "score"]
    assert set(lines[1]) <= set("━╇")
    rows = table_rows(result.stdout)
    # the a id opens its group of rows only
    assert rows == [[q_ids[i] if rank == 1 else "", str(rank), g_ids[j], f"{s:.4f}"] for i, j, s, rank in expected]
    assert [f"{s:.4f}" for _, _, s, _ in expected] == ["1.0000", "0.7071", "-0.4472", "0.8944", "0.7071", "0.0000"]
    assert sum(set(line) <= set("─┼") for line in lines) == 1, "one rule between the groups of q1 and q2"
    assert lines[-1] == "cosine: higher is closer"
    assert all(len(line) <= 80 for line in lines)


def test_compare_overall_and_paired_tables(data):
    wide = {"COLUMNS": "100"}
    overall = table_rows(run("compare", data.q64_path, data.g64_path, "--limit", "3", "-f", "table", env=wide).stdout)
    expected = reference_overall(reference_matrix(data.q64, data.g64, "cosine"), True, limit=3)
    assert overall == [[str(r), str(i), str(j), f"{s:.4f}"] for i, j, s, r in expected]
    b_path = _save(data.tmp / "b7.npy", data.g64[:7])
    paired = table_rows(run("compare", data.q64_path, b_path, "--paired", "-f", "table", "-m", "l2", env=wide).stdout)
    diag = np.diag(reference_matrix(data.q64, data.g64[:7], "euclidean"))
    assert paired == [[str(i), str(i), f"{s:.4f}"] for i, s in enumerate(diag)]


# ================================================================ matrix


@pytest.mark.parametrize("metric, extra, kwargs", [
    ("cosine", [], {}), ("euclidean", [], {}), ("manhattan", [], {}), ("chebyshev", [], {}),
    ("minkowski", ["--p", "3"], {"p": 3.0}), ("sqeuclidean", [], {}),
])
@pytest.mark.parametrize("self_matrix", [False, True], ids=["a-b", "a-a"])
def test_matrix_values_equal_cdist(data, metric, extra, kwargs, self_matrix):
    b_args = [] if self_matrix else [data.g64_path]
    result = run("matrix", data.q64_path, *b_args, "-m", metric, *extra, "-f", "json")
    assert result.exit_code == 0, result.stderr
    doc = strict_json(result.stdout)
    expected = reference_matrix(data.q64, data.q64 if self_matrix else data.g64, metric, **kwargs)
    assert np.array(doc["values"]).shape == expected.shape
    np.testing.assert_allclose(doc["values"], expected, rtol=1e-12, atol=1e-12)
    assert doc["higher_is_better"] is HIGHER_IS_BETTER.get(metric, False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_matrix_output_npy_writes_the_whole_matrix(data, dtype):
    q, g, q_path, g_path = arrays_of(data, dtype)
    out = data.tmp / "scores.npy"
    result = run("matrix", q_path, g_path, "-m", "euclidean", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert str(out) in result.stderr and "7 x 11" in result.stderr
    saved = np.load(out)
    assert saved.shape == (7, 11)
    np.testing.assert_allclose(saved, reference_matrix(q, g, "euclidean"), rtol=TOL[dtype], atol=TOL[dtype])


def test_matrix_output_csv_has_ids_in_header_and_rows(tmp_path, data):
    (tmp_path / "q.csv").write_text("id,x,y,z\n" + "".join(f"row{i}," + ",".join(map(repr, r)) + "\n"
                                                            for i, r in enumerate(data.q64[:, :3].tolist())))
    g = data.g64[:5, :3]
    g_path = _save(tmp_path / "g.npy", g)
    (tmp_path / "g_ids.txt").write_text("".join(f"col{j}\n" for j in range(5)))
    out = tmp_path / "m.csv"
    result = run("matrix", tmp_path / "q.csv", g_path, "--b-ids", tmp_path / "g_ids.txt", "-o", out, "-m", "cosine")
    assert result.exit_code == 0 and result.stdout == ""
    rows = list(csv.reader(out.read_text().splitlines()))
    assert rows[0] == ["id", "col0", "col1", "col2", "col3", "col4"]
    assert [r[0] for r in rows[1:]] == [f"row{i}" for i in range(7)]
    np.testing.assert_allclose([[float(v) for v in r[1:]] for r in rows[1:]],
                               reference_matrix(data.q64[:, :3], g, "cosine"), rtol=1e-12, atol=1e-12)


def test_matrix_table_is_cut_to_the_terminal_with_a_note(tmp_path):
    x = np.random.default_rng(5).normal(size=(40, 40))
    path = _save(tmp_path / "m40.npy", x)
    result = run("matrix", path, "-f", "table", env={"COLUMNS": "60", "LINES": "20"})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) <= 20 and all(len(line) <= 60 for line in lines)
    note = re.search(r"(\d+) of 40 rows and (\d+) of 40 columns", result.stderr)
    assert note, result.stderr
    shown_rows, shown_cols = int(note.group(1)), int(note.group(2))
    assert 0 < shown_rows < 40 and 0 < shown_cols < 40
    rows = table_rows(result.stdout)
    expected = reference_matrix(x, x, "cosine")
    assert len(rows) == shown_rows and {len(r) for r in rows} == {shown_cols + 1}
    assert [r[1:] for r in rows] == [[f"{v:.4f}" for v in row[:shown_cols]] for row in expected[:shown_rows]]


def test_matrix_table_shows_whole_numbers_when_later_rows_are_wider(tmp_path):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(60, 3)), rng.normal(size=(10, 3))
    a[50:] += 10000.0  # rows 50.. are far away: their distances need 10 characters, the first rows' need 6
    a_path, b_path = _save(tmp_path / "a.npy", a), _save(tmp_path / "b.npy", b)
    result = run("matrix", a_path, b_path, "-m", "euclidean", "-f", "table", env={"COLUMNS": "80", "LINES": "100"})
    assert result.exit_code == 0
    rows = table_rows(result.stdout)
    expected = reference_matrix(a, b, "euclidean")
    assert [r[0] for r in rows] == [str(i) for i in range(len(rows))]
    assert [r[1:] for r in rows] == [[f"{v:.4f}" for v in row[: len(r) - 1]] for r, row in zip(rows, expected)]


def test_matrix_table_that_fits_has_no_note(data):
    result = run("matrix", data.q64_path, data.g64_path, "-f", "table", "--precision", "3",
                 env={"COLUMNS": "200", "LINES": "60"})
    assert result.exit_code == 0 and result.stderr == ""
    expected = reference_matrix(data.q64, data.g64, "cosine")
    assert [r[1:] for r in table_rows(result.stdout)] == [[f"{v:.3f}" for v in row] for row in expected]


# ================================================================ errors and notes


ERROR_CASES = {
    "unknown-metric": (["compare", "{q}", "-m", "cosin"], ["did you mean 'cosine'"]),
    "top-k-zero": (["compare", "{q}", "-k", "0"], ["--top-k"]),
    "top-k-text": (["compare", "{q}", "-k", "abc"], ["--top-k", "abc"]),
    "unknown-option": (["compare", "{q}", "--bogus"], ["--bogus"]),
    "missing-argument": (["compare"], ["Missing argument"]),
    "p-not-minkowski": (["compare", "{q}", "--p", "3"], ["--p", "minkowski"]),
    "zero-vector": (["compare", "{zero}"], ["{zero}", "row 3"]),
    "zero-vector-in-b": (["compare", "{q4}", "{zero}"], ["{zero}", "row 3"]),
    "normalize-zero-row": (["compare", "{zero}", "-m", "euclidean", "--normalize"], ["{zero}", "row 3"]),
    "top-k-and-limit": (["compare", "{q}", "-k", "2", "--limit", "3"], ["--limit"]),
    "paired-row-counts": (["compare", "{q}", "{g}", "--paired"], ["--paired", "7", "11"]),
    "paired-without-b": (["compare", "{q}", "--paired"], ["--paired"]),
    "bad-format": (["compare", "{q}", "-f", "xml"], ["xml"]),
    "missing-file": (["compare", "{tmp}/nope.npy"], ["nope.npy"]),
    "matrix-output-txt": (["matrix", "{q}", "-o", "{tmp}/out.txt"], ["out.txt", ".npy"]),
    "matrix-unknown-metric": (["matrix", "{q}", "-m", "eucliden"], ["did you mean 'euclidean'"]),
    "metrics-unknown-option": (["metrics", "--bogus"], ["--bogus"]),
    "unknown-command": (["nosuch"], ["nosuch"]),
}


def _fill(items, data):
    q4 = data.tmp / "q4.npy"
    if not q4.exists():
        np.save(q4, data.q64[:, :4])
    paths = {"q": data.q64_path, "g": data.g64_path, "zero": data.zero_path, "q4": q4, "tmp": data.tmp}
    return [item.format(**paths) for item in items]


def assert_one_error_line(code, out, err, needles=()):
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_bad_usage_exits_2_with_one_error_line(data, case):
    args, needles = ERROR_CASES[case]
    result = run(*_fill(args, data))
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, _fill(needles, data))
    assert not (data.tmp / "out.txt").exists()


@pytest.mark.parametrize("case", ["unknown-metric", "zero-vector", "top-k-text"])
def test_installed_executable_reports_errors_in_one_line(data, case):
    args, needles = ERROR_CASES[case]
    code, out, err = invoke("executable", *_fill(args, data))
    assert_one_error_line(code, out, err, _fill(needles, data))


def test_bare_siamcli_prints_readable_help():
    result = run()
    assert result.exit_code in (0, 2)
    text = result.stdout + result.stderr
    assert not text.startswith("Error: Usage:")
    lines = text.splitlines()
    assert "Commands:" in [line.strip() for line in lines]
    assert {"compare", "matrix", "metrics"} <= {line.split()[0] for line in lines if line.startswith("  ") and line.strip()}


def test_debug_shows_a_traceback(data):
    result = run("compare", data.zero_path, "--debug")
    assert result.exit_code == 2 and result.stdout == ""
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("Error: ")


@pytest.mark.parametrize("rows, note", [(6, "Ledoit-Wolf"), (40, "inverse covariance")])
def test_mahalanobis_note_goes_to_stderr_and_scores_match_reference(tmp_path, rows, note):
    from sklearn.covariance import ledoit_wolf

    x = np.random.default_rng(3).normal(size=(rows, 10))
    path = _save(tmp_path / "x.npy", x)
    result = run("compare", path, "-m", "mahalanobis", "-k", "all")
    assert result.exit_code == 0
    assert note in result.stderr
    records = parse_records(result.stdout, "jsonl")  # nothing but records on stdout
    cov = ledoit_wolf(x)[0] if rows < 10 else np.cov(x, rowvar=False)
    scores = cdist(x, x, "mahalanobis", VI=np.linalg.inv(cov))
    assert_ranking(records, reference_topk(scores, False, exclude_self=True), 1e-9)


# ================================================================ pipes


@pytest.fixture
def big(tmp_path):
    """A few thousand rows: far more output than a pipe buffer holds."""
    if EXECUTABLE is None or shutil.which("bash") is None or shutil.which("head") is None:
        pytest.skip("needs the siamcli executable, bash and head")
    return _save(tmp_path / "big.npy", np.random.default_rng(9).normal(size=(2000, 4)).astype(np.float32))


def test_pipe_to_head_prints_no_broken_pipe(big):
    for extra in (["-k", "all"], ["-k", "20", "-f", "csv"]):
        command = f"{shlex.quote(EXECUTABLE)} compare {shlex.quote(str(big))} {' '.join(extra)} | head -1"
        proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=_subprocess_env(), timeout=120)
        assert proc.returncode == 0
        for bad in ("Broken pipe", "BrokenPipeError", "Traceback", "Error"):
            assert bad not in proc.stderr
        (line,) = proc.stdout.splitlines()
        if "csv" in extra:
            assert line.split(",") == RECORD_KEYS
        else:
            assert strict_json(line)["a_index"] == 0 and strict_json(line)["rank"] == 1


def test_pipe_to_head_exits_with_the_sigpipe_status(big):
    # 141 as a Unix tool killed by SIGPIPE; status 1 would claim "a requested condition was not met"
    command = f"{shlex.quote(EXECUTABLE)} compare {shlex.quote(str(big))} -k 20 -f csv | head -1 >/dev/null; exit ${{PIPESTATUS[0]}}"
    proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=_subprocess_env(), timeout=120)
    assert proc.stderr == ""
    assert proc.returncode == 141


def test_a_small_compare_loads_only_what_it_needs(tmp_path):
    """Start-up (issue 3): a small compare piped to another program loads neither scipy, rich nor
    threadpoolctl, nor the standard modules only other paths use (each costs milliseconds)."""
    rng = np.random.default_rng(0)
    a = _save(tmp_path / "a.npy", rng.normal(size=(20, 384)).astype(np.float32))
    b = _save(tmp_path / "b.npy", rng.normal(size=(200, 384)).astype(np.float32))
    code = ("import sys\n"
            "before = set(sys.modules)\n"  # an editable install's finder loads pathlib at start-up
            "import siamcli.cli\n"
            f"sys.argv = ['siamcli', 'compare', {str(a)!r}, {str(b)!r}]\n"
            "try:\n"
            "    siamcli.cli.main()\n"
            "except SystemExit as done:\n"
            "    assert not done.code, done.code\n"
            "print(' '.join({name.split('.')[0] for name in set(sys.modules) - before}), file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=_subprocess_env())
    assert proc.returncode == 0, proc.stderr
    assert len(parse_jsonl(proc.stdout)) == 20 * 5
    heavy = {"scipy", "rich", "threadpoolctl", "concurrent", "sklearn", "numba", "pathlib", "csv", "traceback"}
    assert not heavy & set(proc.stderr.split())

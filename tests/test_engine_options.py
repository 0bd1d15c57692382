"""Issue 3's engine options: memory budget, threads, progress, saved matrix dtype, compiled kernels."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.spatial.distance import cdist

import siamcli
from siamcli import engine
from siamcli.metrics import kernels
from siamcli.cli import ProgressBar, cli
from siamcli.errors import UsageError


@pytest.mark.parametrize("text,expected", [("512M", 512 * 2**20), ("2G", 2 * 2**30), ("1.5GiB", int(1.5 * 2**30)),
                                           ("64mb", 64 * 2**20), ("3000000", 3_000_000)])
def test_parse_size_reads_units(text, expected):
    assert engine.parse_size(text) == expected


@pytest.mark.parametrize("text", ["lots", "12Q", "10", "", "nan", "inf", "-inf", "1e400", "NaNM", "infG", "2e6T"])
def test_parse_size_rejects_nonsense_tiny_nonfinite_and_huge_budgets(text):
    with pytest.raises(UsageError):
        engine.parse_size(text)


@pytest.mark.parametrize("memory", [float("nan"), float("inf"), 0, -5, 2**60, "nan", True, 1.5e9])
def test_library_memory_budget_is_checked(memory):
    with pytest.raises(UsageError):
        siamcli.compare(np.eye(3), np.eye(3), memory=memory)


def test_library_memory_budget_accepts_a_size_text():
    ranking = siamcli.compare(np.eye(3), np.eye(3) + 0.5, memory="64M", top_k=1)
    assert ranking.b_index.tolist() == [0, 1, 2]


@pytest.mark.parametrize("threshold", [float("nan"), float("inf"), float("-inf")])
def test_library_threshold_must_be_finite(threshold):
    with pytest.raises(UsageError):
        siamcli.compare(np.eye(3), np.eye(3), threshold=threshold)
    comp = siamcli.prepare(np.eye(3), np.eye(3) + 1)
    with pytest.raises(UsageError):
        list(engine.verify(comp, threshold, paired=True))


@pytest.mark.parametrize("args", [
    ["compare", "A", "B", "-t", "nan"], ["compare", "A", "B", "-t", "inf"], ["verify", "A", "B", "-t", "-inf"],
    ["compare", "A", "B", "--memory", "nan"], ["compare", "A", "B", "--memory", "inf"],
    ["matrix", "A", "B", "--memory", "1e400"], ["compare", "A", "B", "-m", "minkowski", "--p", "nan"],
    ["evaluate", "A", "B", "--labels", "L", "--far", "0.1,nan"], ["loss", "triplet", "A", "A", "B", "--margin", "nan"],
    ["loss", "contrastive", "A", "B", "--labels", "L", "--margins", "0.1,inf"],
    ["evaluate", "A", "B", "--labels", "L", "--far", ""], ["loss", "contrastive", "A", "B", "--labels", "L", "--sweep",
                                                           "--margins", "1,,2"],
    ["evaluate", "A", "B", "--labels", "L", "--recall-k", "1,5,"],
])
def test_cli_nonfinite_numbers_and_sizes_are_usage_errors(tmp_path, args):
    np.save(tmp_path / "a.npy", np.eye(3))
    np.save(tmp_path / "b.npy", np.eye(3) + 1)
    (tmp_path / "l.txt").write_text("1\n0\n1\n")
    names = {"A": tmp_path / "a.npy", "B": tmp_path / "b.npy", "L": tmp_path / "l.txt"}
    result = CliRunner().invoke(cli, [str(names.get(a, a)) for a in args])
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and ("finite" in lines[0] or "size" in lines[0])


def test_cli_minkowski_accepts_an_infinite_p_as_chebyshev():
    result = CliRunner().invoke(cli, ["compare", "-", "--input-format", "json", "-m", "minkowski", "--p", "inf",
                                      "--limit", "1", "-f", "json"], input="[[0, 0], [3, 1]]")
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["score"] == 3.0


def test_small_memory_budget_gives_the_same_ranking_in_more_blocks():
    rng = np.random.default_rng(5)
    q, g = rng.normal(size=(300, 16)).astype(np.float32), rng.normal(size=(5000, 16)).astype(np.float32)
    blocks = []
    comparison = siamcli.prepare(q, g, metric="euclidean", memory=2**20)
    comparison.progress = blocks.append
    small = engine.Ranking.concat(list(engine.rankings(comparison, top_k=7)), comparison.metric, comparison.a,
                                  comparison.b, "row")
    assert len(blocks) > 4 and sum(blocks) == 300 * 5000  # every pair scored once, in many blocks
    reference = np.argsort(cdist(q.astype(float), g.astype(float)), axis=1, kind="stable")[:, :7]
    assert (small.b_index.reshape(300, 7) == reference).all()


def test_progress_bar_waits_a_second_then_draws_on_its_stream():
    now = [0.0]
    stream = io.StringIO()
    bar = ProgressBar(100, "comparing", stream, clock=lambda: now[0])
    bar(10)
    assert stream.getvalue() == ""  # quick work shows nothing
    now[0] = 2.0
    bar(40)
    bar.close()
    assert "comparing" in stream.getvalue()
    assert bar.done == 50


def test_progress_bar_is_silent_without_a_terminal():
    bar = ProgressBar(10, "comparing", None, clock=lambda: 99.0)
    bar(10)
    bar.close()
    assert bar.done == 10


def test_cli_quiet_hides_notes_but_not_errors(tmp_path):
    rng = np.random.default_rng(1)
    a = tmp_path / "a.npy"
    np.save(a, rng.normal(size=(5, 8)))
    runner = CliRunner()
    noisy = runner.invoke(cli, ["compare", str(a), "-m", "mahalanobis", "-k", "1"])
    quiet = runner.invoke(cli, ["compare", str(a), "-m", "mahalanobis", "-k", "1", "--quiet"])
    assert "Ledoit-Wolf" in noisy.stderr and quiet.stderr == ""
    assert quiet.stdout == noisy.stdout
    failing = runner.invoke(cli, ["compare", str(a), "-m", "nope", "--quiet"])
    assert failing.exit_code == 2 and failing.stderr.startswith("Error: ")


def test_cli_threads_and_memory_options_keep_results(tmp_path):
    rng = np.random.default_rng(2)
    a = tmp_path / "a.npy"
    x = rng.normal(size=(40, 6))
    np.save(a, x)
    runner = CliRunner()
    base = runner.invoke(cli, ["compare", str(a), "-m", "manhattan", "-k", "3", "-f", "json"])
    tuned = runner.invoke(cli, ["compare", str(a), "-m", "manhattan", "-k", "3", "-f", "json",
                                "--threads", "1", "--memory", "1M"])
    engine.set_threads(None)
    assert base.exit_code == tuned.exit_code == 0
    assert base.stdout == tuned.stdout
    bad = runner.invoke(cli, ["compare", str(a), "--memory", "huge"])
    assert bad.exit_code == 2 and "--memory" in bad.stderr


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cli_matrix_saves_the_dtype_asked_for(tmp_path, dtype):
    rng = np.random.default_rng(3)
    a = tmp_path / "a.npy"
    x = rng.normal(size=(30, 5)).astype(np.float32)
    np.save(a, x)
    out = tmp_path / "m.npy"
    result = CliRunner().invoke(cli, ["matrix", str(a), "-m", "euclidean", "-o", str(out), "--dtype", dtype,
                                      "--memory", "1M"])
    assert result.exit_code == 0, result.stderr
    saved = np.load(out)
    assert saved.dtype == np.dtype(dtype)
    np.testing.assert_allclose(saved, cdist(x.astype(float), x.astype(float)), atol=1e-5)
    assert (np.diag(saved) == 0).all()


def test_cli_dtype_reads_float64_inputs_in_float32_without_an_output_file(tmp_path):
    """--dtype is the type inputs are read and computed in (and the saved matrix's): float64 data
    asked for in float32 gives the scores of its float32 rounding, as scipy computes them."""
    x = np.random.default_rng(4).normal(size=(5, 3)) * 1e3
    a = tmp_path / "a.npy"
    np.save(a, x)
    result = CliRunner().invoke(cli, ["matrix", str(a), "-m", "euclidean", "--dtype", "float32", "-f", "json"])
    assert result.exit_code == 0, result.stderr
    values = np.array(json.loads(result.stdout)["values"])
    rounded = x.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(values, cdist(rounded, rounded), rtol=1e-5, atol=1e-3)
    assert not np.allclose(cdist(rounded, rounded), cdist(x, x), rtol=0, atol=1e-9)  # the rounding shows


@pytest.mark.parametrize("name,scipy_name", [("manhattan", "cityblock"), ("chebyshev", "chebyshev")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_kernels_match_scipy(monkeypatch, name, scipy_name, dtype):
    pytest.importorskip("numba")
    monkeypatch.setattr(kernels, "COMPILED_MIN_WORK", 0)
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(37, 19)).astype(dtype), rng.normal(size=(23, 19)).astype(dtype)
    b[:5] = a[:5]
    fast = kernels.compiled_matrix(name, a, b)
    assert fast is not None
    reference = cdist(a.astype(float), b.astype(float), scipy_name)
    np.testing.assert_allclose(fast, reference, rtol=1e-6 if dtype == np.float32 else 1e-12, atol=1e-6)
    assert (np.diag(fast[:5, :5]) == 0).all()
    via_engine = siamcli.matrix(a, b, metric=name).values
    np.testing.assert_allclose(via_engine, reference, rtol=1e-6, atol=1e-5)


def test_scipy_fallback_in_threads_matches_one_thread(monkeypatch):
    monkeypatch.setattr(kernels, "COMPILED_MIN_WORK", 10**18)
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(300, 8)), rng.normal(size=(50, 8))
    kernels.set_threads(2)
    two = siamcli.matrix(a, b, metric="canberra").values
    kernels.set_threads(1)
    one = siamcli.matrix(a, b, metric="canberra").values
    kernels.set_threads(2)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_allclose(two, cdist(a, b, "canberra"), rtol=1e-12)


# ---------------------------------------------------------------- batch scoring


def _json(result):
    import json

    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


def test_cli_several_b_files_are_stacked_with_ids_naming_the_file(tmp_path, monkeypatch):
    rng = np.random.default_rng(7)
    ref = rng.normal(size=8)
    singles = [rng.normal(size=8) for _ in range(3)]
    group = rng.normal(size=(2, 8))
    monkeypatch.chdir(tmp_path)
    np.save("ref.npy", ref)
    for i, v in enumerate(singles):
        np.save(f"f{i}.npy", v)
    np.save("group.npy", group)
    records = _json(CliRunner().invoke(cli, ["compare", "ref.npy", "f0.npy", "f1.npy", "f2.npy", "group.npy",
                                             "-k", "all", "-f", "json"]))
    gallery = np.vstack([*singles, group])
    expected = 1.0 - cdist(ref[None], gallery, "cosine")[0]
    names = ["f0.npy", "f1.npy", "f2.npy", "group.npy:0", "group.npy:1"]
    order = np.argsort(-expected, kind="stable")
    assert [r["b_id"] for r in records] == [names[j] for j in order]
    np.testing.assert_allclose([r["score"] for r in records], expected[order], rtol=1e-12)


def test_cli_several_b_files_must_share_the_dimension(tmp_path):
    for name, dim in [("a.npy", 4), ("b.npy", 4), ("c.npy", 5)]:
        np.save(tmp_path / name, np.ones(dim))
    result = CliRunner().invoke(cli, ["compare", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), str(tmp_path / "c.npy")])
    assert result.exit_code == 2 and "c.npy" in result.stderr and "5 dimensions" in result.stderr


def test_cli_pairs_file_scores_only_the_listed_pairs_by_id_or_row(tmp_path):
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(5, 6)), rng.normal(size=(4, 6))
    (tmp_path / "a.csv").write_text("id," + ",".join(f"x{i}" for i in range(6)) + "\n"
                                    + "".join(f"q{i}," + ",".join(repr(float(v)) for v in row) + "\n" for i, row in enumerate(a)))
    np.save(tmp_path / "b.npy", b)
    (tmp_path / "pairs.csv").write_text("left,right,label\nq3,2,1\n0,0,0\nq4,3,1\n")
    records = _json(CliRunner().invoke(cli, ["compare", str(tmp_path / "a.csv"), str(tmp_path / "b.npy"),
                                             "--pairs", str(tmp_path / "pairs.csv"), "-m", "euclidean", "-f", "json"]))
    assert [(r["a_index"], r["b_index"]) for r in records] == [(3, 2), (0, 0), (4, 3)]
    assert [r["a_id"] for r in records] == ["q3", "q0", "q4"]
    np.testing.assert_allclose([r["score"] for r in records],
                               [np.linalg.norm(a[i] - b[j]) for i, j in [(3, 2), (0, 0), (4, 3)]], rtol=1e-12)


@pytest.mark.parametrize("content,needle", [("0,9\n", "line 1, column 2"), ("a,b\n0,1\nzz,1\n", "line 3, column 1"),
                                            ("0\n", "two")])
def test_cli_pairs_file_errors_name_line_and_column(tmp_path, content, needle):
    np.save(tmp_path / "a.npy", np.ones((3, 2)))
    (tmp_path / "p.csv").write_text(content)
    result = CliRunner().invoke(cli, ["compare", str(tmp_path / "a.npy"), "--pairs", str(tmp_path / "p.csv")])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("Error: ") and "p.csv" in result.stderr and needle in result.stderr


def test_cli_paired_and_pairs_exclude_each_other(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((3, 2)))
    (tmp_path / "p.csv").write_text("0,1\n")
    result = CliRunner().invoke(cli, ["compare", str(tmp_path / "a.npy"), str(tmp_path / "a.npy"), "--paired",
                                      "--pairs", str(tmp_path / "p.csv")])
    assert result.exit_code == 2 and "--pairs" in result.stderr


def _working_memory(run) -> int:
    """Peak bytes numpy allocated while `run()` streamed its rankings, less the largest ranking
    chunk (the output, which the budget does not cover)."""
    import tracemalloc

    tracemalloc.start()
    try:
        largest = max([sum(x.nbytes for x in (r.a_index, r.b_index, r.score, r.rank)) for r in run()], default=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - largest


_BUDGET_A = np.random.default_rng(31).normal(size=(1500, 16)).astype(np.float32)
_BUDGET_B = np.random.default_rng(32).normal(size=(20000, 16)).astype(np.float32)


@pytest.mark.parametrize("metric,b,options", [
    ("euclidean", _BUDGET_B, dict(top_k=None, limit=20)),
    ("cosine", None, dict(top_k=None, limit=20)),  # self-comparison: the upper triangle
    ("manhattan", _BUDGET_B, dict(top_k=None, limit=20)),  # cdist, or the compiled kernel, into the block
    ("cosine", _BUDGET_B, dict(top_k=None, limit="all", threshold=0.8)),
    ("cosine", _BUDGET_B, dict(top_k=None, threshold=0.8)),  # every row's pairs past the threshold
    ("minkowski", _BUDGET_B, dict(top_k=5)),
    ("cosine", _BUDGET_B, dict(top_k=300)),  # screened, candidates many per row
    ("euclidean", _BUDGET_B, dict(top_k=2000)),  # too many for the screen
], ids=["limit", "limit-self", "limit-manhattan", "limit-all-threshold", "threshold", "topk-minkowski",
        "topk-300", "topk-2000"])
def test_rankings_stay_within_the_memory_budget(metric, b, options):
    """--memory bounds the working memory of every ranking: the scores of a block, and the keys,
    masks and candidates made while ranking them (counted beside the block's scores)."""
    budget = 16 * 2**20
    a = _BUDGET_A if b is not None else _BUDGET_B[:6000]
    comp = engine.prepare(a, b, metric=metric, memory=budget)
    assert comp.block_sizes()[0] < len(a)  # several blocks
    used = _working_memory(lambda: engine.rankings(comp, **options))
    assert used <= budget, f"{used / 2**20:.1f} MiB for a budget of {budget / 2**20:.0f} MiB"


@pytest.mark.parametrize("metric,dtype", [("manhattan", np.float32), ("euclidean", np.float64)])
def test_a_matrix_saved_in_another_type_is_scored_within_the_memory_budget(metric, dtype):
    """matrix -o FILE.npy --dtype: when the kernel cannot write the output's type, each block is
    scored in a buffer within the budget and copied (not the whole matrix at once)."""
    import tracemalloc

    budget = 16 * 2**20
    a, b = _BUDGET_A, _BUDGET_B
    comp = engine.prepare(a, b, metric=metric, memory=budget)
    assert np.dtype(dtype) != comp.dtype and a.shape[0] * b.shape[0] * comp.dtype.itemsize > 5 * budget
    out = np.full((len(a), len(b)), np.nan, dtype=dtype)
    tracemalloc.start()
    try:
        engine.fill_matrix(comp, out)
        used = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert used <= budget, f"{used / 2**20:.1f} MiB for a budget of {budget / 2**20:.0f} MiB"
    reference = cdist(a.astype(np.float64), b.astype(np.float64), {"manhattan": "cityblock"}.get(metric, metric))
    np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-5)


def test_loose_threshold_keeps_topk_within_the_memory_budget():
    """A threshold most pairs pass must not turn every passing pair into a candidate."""
    import tracemalloc

    rng = np.random.default_rng(9)
    q, g = rng.normal(size=(300, 32)).astype(np.float32), rng.normal(size=(40000, 32)).astype(np.float32)
    budget = 16 * 2**20
    tracemalloc.start()
    try:
        ranking = siamcli.compare(q, g, top_k=5, threshold=-1.0, memory=budget)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * budget, peak
    expected = np.argsort(cdist(q.astype(float), g.astype(float), "cosine"), axis=1, kind="stable")[:, :5]
    assert (ranking.b_index.reshape(300, 5) == expected).all()

"""`--scheduler` on compare and matrix: the same results from a Dask cluster as from this process."""

from __future__ import annotations

import functools

import numpy as np
import pytest

pytest.importorskip("distributed")

from test_cli import assert_one_error_line, invoke, parse_jsonl, run  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    rng = np.random.default_rng(4)
    q = rng.normal(size=(25, 8)).astype(np.float32)
    g = rng.normal(size=(3000, 8)).astype(np.float32)
    g[2500] = q[7]
    np.save(tmp / "q.npy", q)
    np.save(tmp / "g.npy", g)
    (tmp / "shards").mkdir()
    for i in range(3):
        np.save(tmp / "shards" / f"part-{i}.npy", g[i * 1000 : (i + 1) * 1000])
    return tmp, q, g


@pytest.mark.slow
@pytest.mark.parametrize("entry", ["runner", "executable"])
@pytest.mark.parametrize("metric", ["cosine", "euclidean", "manhattan"])
def test_compare_on_a_local_cluster_prints_exactly_what_this_process_prints(files, entry, metric):
    tmp, *_ = files
    args = ["compare", tmp / "q.npy", tmp / "g.npy", "-k", "4", "-m", metric, "-f", "jsonl"]
    here = run(*args)
    code, out, err = invoke(entry, *args, "--scheduler", "local:2")
    assert code == 0, err
    assert out == here.stdout and out  # identical records, scores to the last bit


@pytest.mark.slow
def test_scheduler_comes_from_the_environment_and_shards_name_their_rows(files):
    tmp, q, g = files
    result = run("compare", tmp / "q.npy", str(tmp / "shards" / "*.npy"), "-k", "1", "-f", "jsonl",
                 env={"SIAMCLI_SCHEDULER": "local:2"})
    assert result.exit_code == 0, result.stderr
    best = parse_jsonl(result.stdout)[7]
    assert (best["b_index"], best["b_id"]) == (2500, "part-2:500")


@pytest.mark.slow
def test_paired_on_a_cluster(files):
    tmp, q, g = files
    np.save(tmp / "g25.npy", g[:25])
    args = ["compare", tmp / "q.npy", tmp / "g25.npy", "--paired", "-f", "jsonl"]
    assert run(*args, "--scheduler", "local:2").stdout == run(*args).stdout


@pytest.mark.slow
def test_matrix_output_written_by_the_workers(files):
    tmp, q, g = files
    result = run("matrix", tmp / "q.npy", tmp / "g.npy", "-m", "euclidean", "-o", tmp / "m.npy", "--scheduler", "local:2")
    assert result.exit_code == 0, result.stderr
    here = run("matrix", tmp / "q.npy", tmp / "g.npy", "-m", "euclidean", "-o", tmp / "m_here.npy")
    assert here.exit_code == 0
    np.testing.assert_array_equal(np.load(tmp / "m.npy"), np.load(tmp / "m_here.npy"))  # to the last bit


@pytest.mark.parametrize("args, needles", [
    (["compare", "{q}", "{g}", "{g}"], ["--scheduler", "several B files"]),
    (["compare", "{q}", "{g25}", "--paired", "--limit", "3"], ["--paired", "--limit"]),
    (["matrix", "{q}", "{g}"], ["--scheduler", "-o FILE.npy"]),
])
def test_what_the_cluster_does_not_run_is_a_usage_error(files, args, needles):
    tmp, *_ = files
    np.save(tmp / "g25.npy", np.load(tmp / "g.npy")[:25])
    result = run(*[a.format(q=tmp / "q.npy", g=tmp / "g.npy", g25=tmp / "g25.npy") for a in args],
                 "--scheduler", "local:2")
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, needles)


def test_unreachable_scheduler_exits_2_naming_the_address(files, monkeypatch):
    from siamcli import distributed

    monkeypatch.setattr(distributed, "connect", functools.partial(distributed.connect, timeout=1.0))
    tmp, *_ = files
    result = run("compare", tmp / "q.npy", tmp / "g.npy", "--scheduler", "tcp://127.0.0.1:9")
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, ["tcp://127.0.0.1:9"])


EXAMPLES = __import__("pathlib").Path(__file__).resolve().parent.parent / "examples" / "siamese"


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["euclidean,cosine", "mahalanobis"])
def test_evaluate_on_a_cluster_reports_exactly_what_this_process_reports(metric):
    args = ["evaluate", EXAMPLES / "test_embeddings.npy", "--pairs", EXAMPLES / "test_pairs.csv", "-m", metric,
            "-f", "json"]
    here = run(*args)
    there = run(*args, "--scheduler", "local:2")
    assert there.exit_code == 0, there.stderr
    assert there.stdout == here.stdout and here.stdout


@pytest.mark.slow
def test_evaluate_paired_files_on_a_cluster(files, tmp_path):
    tmp, q, g = files
    np.save(tmp_path / "right.npy", g[:25])
    (tmp_path / "labels.txt").write_text("\n".join("1" if i % 3 else "0" for i in range(25)) + "\n")
    args = ["evaluate", tmp / "q.npy", tmp_path / "right.npy", "--labels", tmp_path / "labels.txt", "--folds", "3",
            "-f", "jsonl"]
    assert run(*args, "--scheduler", "local:2").stdout == run(*args).stdout


@pytest.mark.slow
@pytest.mark.parametrize("sample", [[], ["--sample", "2000"]])
def test_evaluate_classes_on_a_cluster_matches_this_process(sample):
    from test_cli import strict_json

    args = ["evaluate", EXAMPLES / "test_embeddings.npy", "--classes", EXAMPLES / "test_labels.txt",
            "-m", "euclidean,cosine", *sample, "-f", "json"]
    here, there = strict_json(run(*args).stdout), strict_json(run(*args, "--scheduler", "local:2").stdout)
    assert [r["metric"] for r in there] == [r["metric"] for r in here] == ["euclidean", "cosine"]
    assert there == here  # every figure, to the last bit


@pytest.mark.slow
def test_matrix_as_row_shards_written_by_the_workers(files, tmp_path):
    tmp, q, g = files
    out = tmp_path / "scores"
    result = run("matrix", str(tmp / "shards" / "*.npy"), tmp / "q.npy", "-m", "euclidean", "-o", f"{out}/",
                 "--scheduler", "local:2")
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["rows-000000000000-000000001000.npy", "rows-000000001000-000000002000.npy",
                     "rows-000000002000-000000003000.npy"]
    whole = np.concatenate([np.load(out / name) for name in names])
    from scipy.spatial.distance import cdist

    np.testing.assert_allclose(whole, cdist(g.astype(np.float64), q.astype(np.float64)), rtol=1e-5, atol=1e-5)
    assert "3 shards of rows" in result.stderr


@pytest.mark.parametrize("output, needles", [("{out}/", [".npy", "--scheduler"]),
                                             ("{out}.zarr", [".zarr", "--scheduler"])])
def test_matrix_into_a_directory_or_zarr_needs_the_cluster(files, tmp_path, output, needles):
    tmp, *_ = files
    result = run("matrix", tmp / "q.npy", "-o", output.format(out=tmp_path / "m"))
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, needles)


@pytest.fixture(scope="module")
def gallery_zarr(files):
    zarr = pytest.importorskip("zarr")
    tmp, q, g = files
    out = zarr.open_array(str(tmp / "gallery.zarr"), mode="w", shape=g.shape, chunks=(1000, 8), dtype=g.dtype)
    out[...] = g
    return tmp / "gallery.zarr"


@pytest.mark.slow
def test_compare_zarr_gallery_on_a_cluster_ranks_as_this_process_with_array_ids(files, gallery_zarr):
    tmp, *_ = files
    there = run("compare", tmp / "q.npy", gallery_zarr, "-k", "3", "-f", "jsonl", "--scheduler", "local:2")
    assert there.exit_code == 0, there.stderr
    here = parse_jsonl(run("compare", tmp / "q.npy", tmp / "g.npy", "-k", "3", "-f", "jsonl").stdout)
    there = parse_jsonl(there.stdout)
    assert [r["b_id"] for r in there] == [f"gallery:{r['b_index']}" for r in here]
    assert [{**r, "b_id": None} for r in there] == [{**r, "b_id": None} for r in here]  # scores to the last bit
    assert there[7 * 3]["b_id"] == "gallery:2500"  # query 7's duplicate


@pytest.mark.slow
def test_matrix_of_a_zarr_input_into_a_zarr_array_written_by_the_workers(files, gallery_zarr, tmp_path):
    import zarr
    from scipy.spatial.distance import cdist

    tmp, q, g = files
    result = run("matrix", gallery_zarr, tmp / "q.npy", "-m", "euclidean", "--dtype", "float64",
                 "-o", f"{tmp_path / 'm.zarr'}/", "--scheduler", "local:2")
    assert result.exit_code == 0, result.stderr
    assert "wrote the 3000 x 25 euclidean matrix" in result.stderr
    out = zarr.open_array(str(tmp_path / "m.zarr"), mode="r")
    assert out.dtype == np.float64 and out.chunks == (1000, 25)
    np.testing.assert_allclose(out[...], cdist(g.astype(np.float64), q.astype(np.float64)), rtol=1e-5, atol=1e-5)


def test_bad_zarr_input_is_one_error_line_naming_it(files, tmp_path):
    zarr = pytest.importorskip("zarr")
    tmp, *_ = files
    zarr.open_array(str(tmp_path / "cube.zarr"), mode="w", shape=(4, 8, 2), dtype="float32")[...] = 1.0
    result = run("compare", tmp / "q.npy", tmp_path / "cube.zarr", "--scheduler", "local:2")
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, ["cube.zarr", "2-D numeric array", "3-D"])
    result = run("compare", tmp / "q.npy", tmp_path / "cube.zarr", "--b-ids", tmp / "q.npy", "--scheduler", "local:2")
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, ["--ids", "cube.zarr"])


def test_zarr_without_the_extra_names_it(files, tmp_path, monkeypatch):
    tmp, *_ = files
    monkeypatch.setitem(__import__("sys").modules, "zarr", None)  # import zarr raises ImportError
    result = run("matrix", tmp / "q.npy", "-o", tmp_path / "m.zarr", "--scheduler", "local:2")
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, ["pip install 'siamcli[zarr]'"])


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["--limit", "2"], ["--threshold", "0.2"]])
def test_listed_pairs_on_a_cluster_print_exactly_what_this_process_prints(files, tmp_path, extra):
    tmp, *_ = files
    (tmp_path / "pairs.csv").write_text("a,b\n3,5\n0,2999\n7,2500\n24,0\n")
    args = ["compare", tmp / "q.npy", tmp / "g.npy", "--pairs", tmp_path / "pairs.csv", *extra, "-f", "jsonl"]
    there = run(*args, "--scheduler", "local:2")
    assert there.exit_code == 0, there.stderr
    assert there.stdout == run(*args).stdout


@pytest.mark.slow
@pytest.mark.parametrize("inputs, extra", [(["q", "g"], []), (["g"], []), (["g"], ["-m", "euclidean"]),
                                           (["q", "g"], ["--threshold", "0.5"])])
def test_best_pairs_overall_on_a_cluster(files, inputs, extra):
    tmp, *_ = files
    args = ["compare", *[tmp / f"{name}.npy" for name in inputs], "--limit", "6", *extra, "-f", "jsonl"]
    here, there = parse_jsonl(run(*args).stdout), parse_jsonl(run(*args, "--scheduler", "local:2").stdout)
    assert [(r["a_index"], r["b_index"], r["rank"]) for r in there] == [(r["a_index"], r["b_index"], r["rank"]) for r in here]
    assert [r["score"] for r in there] == [r["score"] for r in here]
    if inputs == ["g"]:
        assert all(r["a_index"] < r["b_index"] for r in there)  # each unordered pair once

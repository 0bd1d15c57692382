"""`--scheduler` on compare and matrix: the same results from a Dask cluster as from this process."""

from __future__ import annotations

import functools
import os
import re

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


def _formats():
    from siamcli.output import FORMATTERS

    return list(FORMATTERS)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", _formats())
@pytest.mark.parametrize("inputs", [["q"], ["q", "g25"]])
def test_matrix_on_a_cluster_prints_the_same_bytes_as_this_process(files, fmt, inputs):
    """No -o: the workers' blocks gathered here, printed in every format exactly as without --scheduler."""
    tmp, q, g = files
    np.save(tmp / "g25.npy", g[:25])
    args = ["matrix", *[tmp / f"{name}.npy" for name in inputs], "-m", "euclidean", "-f", fmt]
    here = run(*args)
    there = run(*args, "--scheduler", "local:2")
    assert here.exit_code == there.exit_code == 0, there.stderr
    assert there.stdout == here.stdout and here.stdout


@pytest.mark.slow
@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_matrix_on_a_cluster_through_either_entry_prints_what_this_process_prints(files, entry):
    tmp, *_ = files
    args = ["matrix", tmp / "q.npy", "-f", "csv"]
    code, out, err = invoke(entry, *args, "--scheduler", "local:2")
    assert code == 0, err
    assert out == run(*args).stdout and out.count("\n") == 26  # a header and 25 rows


@pytest.mark.slow
def test_matrix_csv_file_on_a_cluster_has_the_same_bytes(files, tmp_path):
    tmp, *_ = files
    assert run("matrix", tmp / "q.npy", tmp / "g.npy", "-o", tmp_path / "here.csv").exit_code == 0
    there = run("matrix", tmp / "q.npy", tmp / "g.npy", "-o", tmp_path / "there.csv", "--scheduler", "local:2")
    assert there.exit_code == 0, there.stderr
    assert (tmp_path / "there.csv").read_bytes() == (tmp_path / "here.csv").read_bytes()
    assert there.stderr.strip().endswith(f"matrix to {tmp_path / 'there.csv'}")


@pytest.mark.slow
@pytest.mark.parametrize("args", [
    ["compare", "{q}", "{g}", "{g25}", "-k", "3"],  # several B files: stacked here, scored by the workers
    ["compare", "{q}", "{g25}", "--paired", "--limit", "3"],
    ["compare", "{q}", "{g25}", "--paired", "--limit", "all", "-t", "0.1"],
])
def test_what_ran_only_here_before_runs_on_the_cluster_with_the_same_output(files, args):
    tmp, q, g = files
    np.save(tmp / "g25.npy", g[:25])
    args = [a.format(q=tmp / "q.npy", g=tmp / "g.npy", g25=tmp / "g25.npy") for a in args] + ["-f", "jsonl"]
    here = run(*args)
    there = run(*args, "--scheduler", "local:2")
    assert here.exit_code == there.exit_code == 0, there.stderr
    assert there.stdout == here.stdout and here.stdout


def test_unreachable_scheduler_exits_2_naming_the_address(files, monkeypatch):
    from siamcli.backends.dask import cluster

    monkeypatch.setattr(cluster, "connect", functools.partial(cluster.connect, timeout=1.0))
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


# ---------------------------------------------------------------- checks before any cluster starts


@pytest.fixture
def no_cluster(monkeypatch):
    """Fails the test if a command connects to (or starts) a cluster."""
    from siamcli.backends.dask import cluster

    def refuse(*args, **kwargs):
        raise AssertionError("a cluster was started before the inputs were checked")

    monkeypatch.setattr(cluster, "connect", refuse)


def _bad_inputs(tmp):
    """Files for the cases below: shards that differ, a damaged and a 3-D shard, an A with a zero row."""
    if (tmp / "mixed").exists():
        return
    rng = np.random.default_rng(7)
    (tmp / "mixed").mkdir()
    np.save(tmp / "mixed" / "a.npy", rng.normal(size=(10, 8)).astype(np.float32))
    np.save(tmp / "mixed" / "b.npy", rng.normal(size=(10, 5)).astype(np.float32))
    (tmp / "cut").mkdir()
    np.save(tmp / "cut" / "a.npy", rng.normal(size=(1000, 8)).astype(np.float32))
    data = (tmp / "cut" / "a.npy").read_bytes()
    (tmp / "cut" / "a.npy").write_bytes(data[:400])  # the header says 1,000 rows
    (tmp / "cube").mkdir()
    np.save(tmp / "cube" / "a.npy", np.zeros((4, 8, 2), np.float32))
    (tmp / "five").mkdir()
    np.save(tmp / "five" / "a.npy", rng.normal(size=(10, 5)).astype(np.float32))
    zero = rng.normal(size=(4, 8)).astype(np.float32)
    zero[2] = 0
    np.save(tmp / "zero.npy", zero)
    (tmp / "empty").mkdir()
    (tmp / "notes.zarr").mkdir()
    (tmp / "notes.zarr" / "todo.txt").write_text("mine")
    (tmp / "afile").write_text("mine")


BEFORE_CLUSTER_CASES = {
    "glob-matches-nothing": (["compare", "{q}", "{tmp}/missing/*.npy"], ["missing/*.npy", "no file matches"]),
    "empty-directory": (["compare", "{q}", "{tmp}/empty"], ["empty", "holds no .npy file"]),
    "shards-differ": (["compare", "{q}", "{tmp}/mixed"], ["b.npy has 5 dimensions", "a.npy has 8"]),
    "shard-cut-short": (["compare", "{q}", "{tmp}/cut/"], ["cut/a.npy", "not a valid .npy shard"]),
    "shard-3d": (["matrix", "{tmp}/cube", "-o", "{tmp}/m.npy"], ["cube/a.npy", "2-D numeric array, not 3-D"]),
    "a-and-b-differ": (["compare", "{q}", "{tmp}/five"], ["has 8 dimensions", "has 5"]),
    "unknown-metric": (["compare", "{q}", "{tmp}/shards", "-m", "cosin"], ["unknown metric 'cosin'", "cosine"]),
    "option-of-another-metric": (["compare", "{q}", "{tmp}/shards", "--p", "3"], ["--p applies to minkowski"]),
    "zero-row-in-a": (["compare", "{tmp}/zero.npy", "{tmp}/shards"], ["cosine is undefined for zero vectors"]),
    "paired-without-b": (["compare", "{tmp}/shards", "--paired"], ["--paired needs two inputs"]),
    "output-folder-missing": (["matrix", "{q}", "{tmp}/shards", "-o", "{tmp}/nowhere/m.npy"],
                              ["nowhere/m.npy", "no such folder"]),
    "output-zarr-not-zarr": (["matrix", "{q}", "-o", "{tmp}/notes.zarr"], ["notes.zarr exists and is not a zarr"]),
    "output-shards-is-a-file": (["matrix", "{q}", "-o", "{tmp}/afile/"], ["afile/", "is not a folder"]),
    "output-is-the-input": (["matrix", "{q}", "{tmp}/g.npy", "-o", "{tmp}/g.npy"], ["is the input"]),
    "output-is-the-shard-directory": (["matrix", "{q}", "{tmp}/shards", "-o", "{tmp}/shards/"], ["is the input"]),
    "evaluate-labels-count": (["evaluate", "{q}", "{q}", "--labels", "{tmp}/three.txt"], ["three.txt", "has 3 labels"]),
}


@pytest.mark.parametrize("case", list(BEFORE_CLUSTER_CASES))
def test_bad_input_fails_before_any_cluster_starts(files, no_cluster, case):
    tmp, *_ = files
    _bad_inputs(tmp)
    (tmp / "three.txt").write_text("1\n0\n1\n")
    args, needles = BEFORE_CLUSTER_CASES[case]
    fill = {"q": tmp / "q.npy", "tmp": tmp}
    result = run(*[a.format(**fill) for a in args], "--scheduler", "local:2")
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, [n.format(**fill) for n in needles])


def test_bad_no_workers_timeout_fails_before_any_cluster_starts(files, no_cluster):
    tmp, *_ = files
    result = run("compare", tmp / "q.npy", tmp / "shards", "--scheduler", "local:2",
                 env={"SIAMCLI_NO_WORKERS_TIMEOUT": "soon"})
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, ["SIAMCLI_NO_WORKERS_TIMEOUT", "'soon'"])


def test_missing_shards_fail_through_the_executable_without_a_cluster(files):
    tmp, *_ = files
    code, out, err = invoke("executable", "compare", tmp / "q.npy", tmp / "gone" / "*.npy", "--scheduler", "local:2")
    assert_one_error_line(code, out, err, ["gone/*.npy", "no .npy shards found"])


def test_is_shards_takes_an_existing_path_literally(tmp_path):
    from siamcli.distributed import is_lazy_input as _is_shards

    np.save(tmp_path / "emb[1].npy", np.ones((2, 3), np.float32))
    (tmp_path / "runs[2]").mkdir()
    assert not _is_shards(str(tmp_path / "emb[1].npy"))  # that file, loaded here
    assert _is_shards(str(tmp_path / "runs[2]"))  # a directory of shards
    assert _is_shards(str(tmp_path / "emb[0-9].npy")) and _is_shards(str(tmp_path / "*.npy"))  # globs
    assert not _is_shards(str(tmp_path / "missing.npy"))  # a missing file: the loader says so


@pytest.mark.slow
def test_literal_file_name_with_glob_characters_is_that_file_on_a_cluster(files, tmp_path):
    tmp, q, g = files
    np.save(tmp_path / "emb[1].npy", g[:40])
    np.save(tmp_path / "emb1.npy", g[40:100])  # what emb[1].npy matches as a glob
    args = ["compare", tmp / "q.npy", tmp_path / "emb[1].npy", "-k", "2", "-f", "jsonl"]
    there = run(*args, "--scheduler", "local:1")
    assert there.exit_code == 0, there.stderr
    here = parse_jsonl(run("compare", tmp / "q.npy", tmp / "g.npy", "-k", "2", "-f", "jsonl").stdout)
    assert parse_jsonl(there.stdout) != here  # not the whole gallery...
    expected = [(r["a_index"], r["b_index"]) for r in parse_jsonl(run(*args).stdout)]
    assert [(r["a_index"], r["b_index"]) for r in parse_jsonl(there.stdout)] == expected  # ...but that file
    assert max(r["b_index"] for r in parse_jsonl(there.stdout)) < 40


# ---------------------------------------------------------------- a cluster that fails, quietly


TRIGGER = '''"""A scheduler preload for tests: once $TRIGGER_AFTER tasks named $TRIGGER_PREFIX are done while
a worker runs more, either SIGKILLs that worker or sends SIGINT to the process group (Ctrl-C)."""
import os
import signal
import time

from distributed.diagnostics.plugin import SchedulerPlugin


class Trigger(SchedulerPlugin):
    def __init__(self, scheduler):
        self.scheduler, self.done, self.fired = scheduler, 0, False

    def transition(self, key, start, finish, *args, **kwargs):
        if self.fired or finish != "memory" or not str(key).startswith(os.environ["TRIGGER_PREFIX"]):
            return
        self.done += 1
        busy = [ws for ws in self.scheduler.workers.values() if ws.processing]
        if self.done < int(os.environ["TRIGGER_AFTER"]) or not busy:
            return
        self.fired = True
        with open(os.environ["TRIGGER_STAMP"], "w") as stamp:
            stamp.write(repr(time.time()))
        if os.environ["TRIGGER_ACTION"] == "sigint":
            os.killpg(os.getpgrp(), signal.SIGINT)
        else:
            os.kill(busy[0].pid, signal.SIGKILL)


def dask_setup(scheduler):
    scheduler.add_plugin(Trigger(scheduler))
'''


@pytest.fixture(scope="module")
def long_job(tmp_path_factory):
    """A top-k run of 16 gallery shards (16 block tasks per run), and a trigger for it."""
    tmp = tmp_path_factory.mktemp("long")
    rng = np.random.default_rng(11)
    np.save(tmp / "q.npy", rng.normal(size=(600, 96)).astype(np.float32))
    gallery = rng.normal(size=(16 * 4000, 96)).astype(np.float32)
    np.save(tmp / "g.npy", gallery)
    (tmp / "shards").mkdir()
    for i in range(16):
        np.save(tmp / "shards" / f"part-{i:02d}.npy", gallery[i * 4000 : (i + 1) * 4000])
    (tmp / "trigger.py").write_text(TRIGGER)
    return tmp


def run_triggered(job, action, *extra, env=None):
    """siamcli compare of the long job on local:2 through the executable, in a session of its own
    (as a shell runs it), with the trigger's action; returns (status, stdout, stderr, when it
    fired or None, when it exited, the session's id)."""
    import subprocess
    import time

    from test_cli import EXECUTABLE, _subprocess_env

    if EXECUTABLE is None:
        pytest.skip("the siamcli executable is not installed")
    stamp = job / f"fired-{action}-{time.monotonic_ns()}"
    env = _subprocess_env({"DASK_DISTRIBUTED__SCHEDULER__PRELOAD": repr([str(job / "trigger.py")]),
                           "TRIGGER_ACTION": action, "TRIGGER_PREFIX": "_topk_block", "TRIGGER_AFTER": "2",
                           "TRIGGER_STAMP": str(stamp), **(env or {})})
    proc = subprocess.Popen([EXECUTABLE, "compare", job / "q.npy", job / "shards", "-k", "3", "-f", "jsonl",
                             "--scheduler", "local:2", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, start_new_session=True)
    out, err = proc.communicate(timeout=180)
    ended = time.time()
    fired = float(stamp.read_text()) if stamp.exists() else None
    return proc.returncode, out.decode(), err.decode(), fired, ended, proc.pid


def _group_gone(pgid: int, seconds: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_cluster_run_with_a_worker_killed_and_restarted_writes_nothing_on_stderr(long_job):
    code, out, err, fired, _, pgid = run_triggered(long_job, "kill")
    assert fired is not None  # a worker was killed mid-run (and restarted by its nanny)
    assert code == 0 and err == ""  # no log line of Dask's: not the kill, the restart, the lost tasks
    here = parse_jsonl(run("compare", long_job / "q.npy", long_job / "g.npy", "-k", "3", "-f", "jsonl").stdout)
    fields = [(r["a_index"], r["b_index"], r["rank"], r["score"]) for r in here]
    assert [(r["a_index"], r["b_index"], r["rank"], r["score"]) for r in parse_jsonl(out)] == fields and fields
    assert _group_gone(pgid)


@pytest.mark.slow
def test_cluster_logs_show_with_debug(long_job):
    code, out, err, fired, _, _ = run_triggered(long_job, "kill", "--debug")
    assert fired is not None and code == 0
    assert re.search(r"distributed\.\S+ - WARNING - ", err)  # Dask's own log lines, e.g. the worker's restart


@pytest.mark.slow
def test_ctrl_c_during_a_cluster_run_is_one_line_exit_130_and_the_cluster_stops(long_job):
    code, out, err, fired, ended, pgid = run_triggered(long_job, "sigint")
    assert fired is not None  # Ctrl-C came mid-run, to every process of the session (workers too)
    assert code == 130
    assert [line for line in err.splitlines() if line.strip()] == ["Error: interrupted"]  # no traceback
    assert ended - fired < 15  # measured: 1.3-3.5 s on 2 busy cores
    assert _group_gone(pgid)  # no worker left behind


@pytest.mark.slow
def test_task_that_keeps_killing_its_workers_is_one_error_line_exit_2(long_job):
    code, out, err, fired, _, pgid = run_triggered(long_job, "kill",
                                                   env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"})
    assert fired is not None
    assert_one_error_line(code, out, err, ["died 1 time while running", "out of memory"])
    assert re.search(r"running [a-z_-]+ \(killed", err)  # the kind of task, not its key
    assert _group_gone(pgid)


class RemoteRun:
    """siamcli (the executable) running the long job on a scheduler of the test's own, with one
    worker; `break_it(cluster, client)` is called once a block task runs. Then: status, stdout,
    stderr, seconds from the break to siamcli's exit."""

    def __init__(self, job, break_it, env=None):
        import subprocess
        import threading
        import time

        from distributed import Client, LocalCluster
        from test_cli import EXECUTABLE, _subprocess_env

        if EXECUTABLE is None:
            pytest.skip("the siamcli executable is not installed")
        import dask

        with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):  # a quick end once it is broken
            cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0")
            client = Client(cluster, set_as_default=False)
        self.address, output = cluster.scheduler_address, {}
        try:
            proc = subprocess.Popen([EXECUTABLE, "compare", job / "q.npy", job / "shards", "-k", "3", "--scheduler",
                                     self.address], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=_subprocess_env(env))
            reader = threading.Thread(target=lambda: output.update(zip("oe", proc.communicate(timeout=120))))
            reader.start()
            deadline = time.monotonic() + 60
            while not client.run_on_scheduler(_block_running) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert proc.poll() is None, "the run ended before the cluster was broken"
            broken = time.monotonic()
            break_it(cluster, client)
            reader.join()
            self.waited = time.monotonic() - broken
        finally:
            client.close()
            cluster.close()
        self.code, self.out, self.err = proc.returncode, output["o"].decode(), output["e"].decode()


def _block_running(dask_scheduler) -> bool:
    return any(str(ts.key).startswith("_topk_block") and ts.state == "processing"
               for ts in dask_scheduler.tasks.values())


def _kill_the_only_worker_for_good(cluster, client):
    import signal
    import time

    [nanny] = cluster.workers.values()
    cluster.loop.add_callback(nanny.close_gracefully)  # once its worker dies, the nanny closes
    time.sleep(0.2)
    os.kill(nanny.pid, signal.SIGKILL)


@pytest.mark.slow
def test_cluster_that_loses_all_its_workers_fails_within_the_stated_time(long_job):
    """The only worker dies for good mid-run (its nanny closed): siamcli waits
    $SIAMCLI_NO_WORKERS_TIMEOUT seconds for a worker, then exits 2 in one line."""
    run = RemoteRun(long_job, _kill_the_only_worker_for_good, env={"SIAMCLI_NO_WORKERS_TIMEOUT": "2"})
    assert_one_error_line(run.code, run.out, run.err, [f"the Dask cluster at {run.address} has had no workers for 2 s"])
    assert 2 - 0.2 <= run.waited < 2 + 8


@pytest.mark.slow
def test_scheduler_that_stops_mid_run_is_one_error_line_exit_2(long_job):
    run = RemoteRun(long_job, lambda cluster, client: cluster.close())  # the scheduler and its worker
    assert_one_error_line(run.code, run.out, run.err, [f"lost the connection to the Dask scheduler at {run.address}"])
    assert run.waited < 30, run.waited

"""Issue 13, points 1-2: every file siamcli writes appears whole or not at all, and never over an input.

Through click's CliRunner and the installed executable (signals, kill -9, two writers, a full disk
and a file size limit need a process of their own). What is on disk afterwards is read with numpy
and hashlib; expected matrices come from scipy's cdist.
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import subprocess
import time

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from siamcli import io as siam_io
from siamcli.files import PARTIAL
from test_cli import EXECUTABLE, _subprocess_env, assert_one_error_line, invoke, run
from test_files import mounted_tmpfs

slow = pytest.mark.slow
ENTRIES = ["runner", pytest.param("executable", marks=slow)]


def digest(path) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def temporaries(folder, kinds=(PARTIAL, ".siamcli-old", ".siamcli-probe")) -> list[str]:
    return sorted(name for name in os.listdir(folder) if any(kind in name for kind in kinds))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("files")
    rng = np.random.default_rng(13)
    big = rng.standard_normal((siam_io.MMAP_THRESHOLD_BYTES // (4 * 256) + 1000, 256)).astype(np.float32)
    np.save(tmp / "e.npy", big)  # over the threshold: memory-mapped when loaded
    np.save(tmp / "q.npy", big[:10])
    np.save(tmp / "slow.npy", rng.standard_normal((8000, 64)).astype(np.float32))
    np.save(tmp / "small.npy", rng.standard_normal((700, 16)).astype(np.float32))
    (tmp / "ids.csv").write_text("".join(f"q{i}\n" for i in range(10)))
    os.symlink(tmp / "e.npy", tmp / "link.npy")
    os.link(tmp / "e.npy", tmp / "hard.npy")
    assert os.path.getsize(tmp / "e.npy") > siam_io.MMAP_THRESHOLD_BYTES
    return tmp


# ---------------------------------------------------------------- an output naming an input


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("args, output, shown", [
    (["matrix", "{t}/e.npy", "{t}/q.npy"], "{t}/e.npy", "is the input {t}/e.npy"),
    (["matrix", "{t}/q.npy", "{t}/e.npy"], "{t}/e.npy", "is the input {t}/e.npy"),
    (["matrix", "{t}/e.npy", "{t}/q.npy"], "{t}/link.npy", "is the input {t}/e.npy"),
    (["matrix", "{t}/e.npy", "{t}/q.npy"], "{t}/hard.npy", "is the input {t}/e.npy (the same file, by another name)"),
    (["matrix", "{t}/q.npy", "--ids", "{t}/ids.csv"], "{t}/ids.csv", "is the --ids file {t}/ids.csv"),
    (["matrix", "{t}/q.npy", "--ids", "{t}/ids.csv"], "{t}/ids.csv.csv", None),
    (["matrix", "{t}/q.npy", "-m", "mahalanobis", "--cov-from", "{t}/e.npy"], "{t}/link.npy",
     "is the --cov-from file {t}/e.npy"),
])
def test_matrix_output_naming_an_input_is_refused_before_loading_and_the_input_is_intact(data, entry, args, output,
                                                                                        shown):
    before = digest(data / "e.npy")
    out = output.format(t=data)
    if shown is None:  # not an input: a control that the same command does write
        code, _, err = invoke(entry, *[a.format(t=data) for a in args], "-o", out)
        assert code == 0, err
        os.unlink(out)
        return
    start = time.monotonic()
    code, stdout, stderr = invoke(entry, *[a.format(t=data) for a in args], "-o", out)
    assert_one_error_line(code, stdout, stderr, [f"-o {out} {shown.format(t=data)}", "choose another output file"])
    assert time.monotonic() - start < 30  # refused before the 70 MB input is read, let alone scored
    assert digest(data / "e.npy") == before
    assert temporaries(data) == []


@pytest.mark.parametrize("args, needle", [
    (["inspect", "{t}/small.npy", "--plot", "{t}/link.png"], "--plot {t}/link.png is the input {t}/small.npy"),
    (["evaluate", "{t}/small.npy", "--classes", "{t}/classes.png", "--plot", "{t}/classes.png"],
     "--plot {t}/classes.png is the --classes file {t}/classes.png"),
])
def test_plot_naming_an_input_is_refused(data, tmp_path, args, needle):
    pytest.importorskip("matplotlib")
    t = tmp_path
    np.save(t / "small.npy", np.load(data / "small.npy"))
    os.symlink(t / "small.npy", t / "link.png")
    (t / "classes.png").write_text("".join(f"{i % 3}\n" for i in range(700)))
    before = {name: digest(t / name) for name in ("small.npy", "classes.png")}
    result = run(*[a.format(t=t) for a in args])
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, [needle.format(t=t)])
    assert {name: digest(t / name) for name in before} == before


def test_matrix_output_inside_a_missing_folder_fails_before_any_work(data, tmp_path):
    result = run("matrix", data / "e.npy", data / "q.npy", "-o", tmp_path / "no" / "m.npy")
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, [f"{tmp_path}/no/m.npy: cannot write",
                                                                            "no such folder"])


# ---------------------------------------------------------------- interrupted runs


def test_matrix_stopped_by_sigterm_in_process_leaves_the_old_file(data, tmp_path, monkeypatch):
    """The signal handler raises in the main thread; the `with` of the output removes the temporary."""
    from siamcli import engine

    rows = engine.iter_matrix_rows

    def rows_then_terminated(comp, *args, **kwargs):
        assert temporaries(tmp_path)  # the temporary exists; the old file is still whole
        assert (tmp_path / "m.npy").read_bytes() == b"old"
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises here
        yield from rows(comp, *args, **kwargs)

    monkeypatch.setattr(engine, "iter_matrix_rows", rows_then_terminated)
    (tmp_path / "m.npy").write_bytes(b"old")
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # should siamcli not handle it, the test fails, not pytest
    try:
        result = run("matrix", data / "small.npy", "-o", tmp_path / "m.npy")
    finally:
        assert signal.getsignal(signal.SIGTERM) is not None
        signal.signal(signal.SIGTERM, previous)
    assert (result.exit_code, result.stdout, result.stderr) == (143, "", "Error: terminated\n")
    assert (tmp_path / "m.npy").read_bytes() == b"old" and temporaries(tmp_path) == []


def start(*args, **popen) -> subprocess.Popen:
    if EXECUTABLE is None:
        pytest.skip("the siamcli executable is not installed")
    then = popen.pop("preexec_fn", None)

    def prepare() -> None:
        _default_signals()
        if then is not None:
            then()

    return subprocess.Popen([EXECUTABLE, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=_subprocess_env(), preexec_fn=prepare, **popen)


def _default_signals() -> None:
    """As from an interactive shell: a suite started under nohup or in the background inherits SIGHUP or
    SIGINT ignored, which siamcli rightly keeps (so the signal tests would see no signal)."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def wait_for_temporary(proc: subprocess.Popen, folder, timeout: float = 120) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = temporaries(folder, kinds=(PARTIAL,))  # the output's own, not the probe made before loading
        if found:
            return found
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.kill()
    pytest.fail("no temporary appeared")


LONG_RUNS = {  # (args after A, output name): a few seconds of work on 2 cores
    "npy": (["-m", "manhattan", "--threads", "1"], "m.npy"),
    "csv": (["-m", "euclidean"], "m.csv"),
}


@slow
@pytest.mark.parametrize("kind", list(LONG_RUNS))
@pytest.mark.parametrize("signum, code, message", [(signal.SIGINT, 130, "interrupted"),
                                                   (signal.SIGTERM, 143, "terminated"),
                                                   (signal.SIGHUP, 129, "hung up")])
def test_matrix_signal_mid_write_exits_with_one_line_and_leaves_the_old_file(data, tmp_path, kind, signum, code,
                                                                           message):
    args, name = LONG_RUNS[kind]
    source = data / "slow.npy" if kind == "npy" else data / "small.npy"
    if kind == "csv":
        np.save(tmp_path / "csv.npy", np.load(data / "slow.npy")[:2500])
        source = tmp_path / "csv.npy"
    (tmp_path / name).write_bytes(b"the previous matrix")
    proc = start("matrix", source, *args, "-o", tmp_path / name)
    wait_for_temporary(proc, tmp_path)
    assert (tmp_path / name).read_bytes() == b"the previous matrix"  # not truncated when the run starts
    proc.send_signal(signum)
    signalled = time.monotonic()
    stdout, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - signalled < 10  # worker threads do not keep it alive
    assert (proc.returncode, stdout, stderr) == (code, b"", f"Error: {message}\n".encode())
    assert (tmp_path / name).read_bytes() == b"the previous matrix"
    assert temporaries(tmp_path) == []


@slow
def test_matrix_kill_9_leaves_the_old_file_and_a_temporary_the_next_run_removes(data, tmp_path):
    (tmp_path / "m.npy").write_bytes(b"the previous matrix")
    proc = start("matrix", data / "slow.npy", *LONG_RUNS["npy"][0], "-o", tmp_path / "m.npy")
    [left] = wait_for_temporary(proc, tmp_path)
    time.sleep(0.5)
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert (tmp_path / "m.npy").read_bytes() == b"the previous matrix"  # numpy cannot mistake it for the result
    assert temporaries(tmp_path) == [left] and left.startswith(".m.npy.") and left.endswith(".siamcli-partial.npy")
    code, _, err = invoke("executable", "matrix", data / "small.npy", "-m", "euclidean", "-o", tmp_path / "m.npy")
    assert code == 0, err
    assert temporaries(tmp_path) == []  # its pid is gone: removed by the next write of the same file
    small = np.load(data / "small.npy").astype(np.float64)
    np.testing.assert_allclose(np.load(tmp_path / "m.npy"), cdist(small, small), rtol=1e-5, atol=1e-4)


@slow
def test_matrix_two_runs_writing_one_file_leave_one_whole_matrix(data, tmp_path):
    a = np.load(data / "slow.npy")[:4000]
    np.save(tmp_path / "a1.npy", a)
    np.save(tmp_path / "a2.npy", a[::-1].copy())
    expected = []
    for name in ("a1", "a2"):  # each run alone, into a file of its own
        code, _, err = invoke("executable", "matrix", tmp_path / f"{name}.npy", "-m", "manhattan", "-o",
                              tmp_path / f"{name}-alone.npy")
        assert code == 0, err
        expected.append(np.load(tmp_path / f"{name}-alone.npy"))
    both = [start("matrix", tmp_path / f"{name}.npy", "-m", "manhattan", "--threads", "1", "-o", tmp_path / "m.npy")
            for name in ("a1", "a2")]
    most = 0
    while any(proc.poll() is None for proc in both):
        most = max(most, len(temporaries(tmp_path, kinds=(PARTIAL,))))
        time.sleep(0.01)
    assert most == 2  # the two runs did write at the same time
    for proc in both:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
    got = np.load(tmp_path / "m.npy")
    same = [np.array_equal(got, e) for e in expected]
    assert sum(same) == 1  # one run's matrix exactly, not a mix of both
    as_a1 = got if same[0] else got[::-1, ::-1]  # a2 is a1 upside down
    reference = cdist(a[:50].astype(np.float64), a.astype(np.float64), "cityblock")
    np.testing.assert_allclose(as_a1[:50], reference, rtol=1e-5, atol=1e-3)
    assert temporaries(tmp_path) == []


# ---------------------------------------------------------------- full disk, file size limit


@pytest.fixture
def tiny_disk(tmp_path):
    yield from mounted_tmpfs(tmp_path / "tiny", "size=1m")


@pytest.fixture
def read_only_disk(tmp_path):
    yield from mounted_tmpfs(tmp_path / "ro", "ro,size=1m")


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("command", [["matrix", "{t}/small.npy", "-o"], ["inspect", "{t}/small.npy", "--plot"]])
def test_output_on_a_read_only_disk_exits_2_before_any_work(data, read_only_disk, entry, command):
    if command[0] == "inspect":
        pytest.importorskip("matplotlib")
    out = read_only_disk / ("m.npy" if command[0] == "matrix" else "p.png")
    code, stdout, stderr = invoke(entry, *[c.format(t=data) for c in command], out)
    assert_one_error_line(code, stdout, stderr, [f"Error: {out}: cannot write (Read-only file system)"])


@slow
@pytest.mark.parametrize("name", ["m.npy", "m.csv"])
def test_matrix_on_a_full_disk_exits_2_naming_the_path_and_leaves_nothing(data, tiny_disk, name):
    (tiny_disk / "old.txt").write_text("kept")
    code, out, err = invoke("executable", "matrix", data / "small.npy", "-o", tiny_disk / name)  # ~2 MB on 1 MiB
    assert_one_error_line(code, out, err, [f"Error: {tiny_disk / name}: cannot write (No space left on device)"])
    assert sorted(os.listdir(tiny_disk)) == ["old.txt"]


@slow
@pytest.mark.parametrize("name", ["m.npy", "m.csv"])
def test_matrix_over_the_file_size_limit_exits_2_naming_the_path(data, tmp_path, name):
    def limit():  # SIGXFSZ ignored (Python ignores it too): the write fails with EFBIG instead
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    (tmp_path / name).write_bytes(b"old")
    proc = start("matrix", data / "small.npy", "-o", tmp_path / name, preexec_fn=limit)
    stdout, stderr = proc.communicate(timeout=120)
    assert_one_error_line(proc.returncode, stdout.decode(), stderr.decode(),
                          [f"{tmp_path / name}: cannot write (File too large)"])
    assert (tmp_path / name).read_bytes() == b"old" and temporaries(tmp_path) == []


# ---------------------------------------------------------------- on a Dask cluster


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    pytest.importorskip("distributed")
    tmp = tmp_path_factory.mktemp("cluster-files")
    g = np.random.default_rng(31).standard_normal((1200, 8)).astype(np.float32)
    np.save(tmp / "g.npy", g)
    np.save(tmp / "half.npy", g[:600])
    np.save(tmp / "q.npy", g[:10])
    return tmp, g


def read_shards(folder) -> np.ndarray:
    names = sorted(os.listdir(folder))
    assert all(n.startswith("rows-") and n.endswith(".npy") for n in names), names
    return np.concatenate([np.load(os.path.join(folder, n)) for n in names])


@slow
def test_matrix_shards_replace_an_earlier_run_whole(shards, tmp_path):
    tmp, g = shards
    out = tmp_path / "rows"
    for a, memory in (("g.npy", "1M"), ("half.npy", "1M")):  # 1,200 rows in 11 shards, then 600 in 6
        result = run("matrix", tmp / a, tmp / "g.npy", "-m", "euclidean", "-o", f"{out}/", "--memory", memory,
                     "--scheduler", "local:2")
        assert result.exit_code == 0, result.stderr
    whole = read_shards(out)
    assert whole.shape == (600, 1200)  # no shard of the 1,200-row run survives
    np.testing.assert_allclose(whole, cdist(g[:600].astype(np.float64), g.astype(np.float64)), rtol=1e-5, atol=1e-5)
    assert temporaries(tmp_path) == []


@slow
@pytest.mark.parametrize("output", ["m.npy", "rows/", "m.zarr"])
def test_matrix_cluster_run_failing_on_a_full_disk_leaves_the_previous_output(shards, tiny_disk, output):
    """The first matrix (10 x 1,200) fits the 1 MiB disk, the second (1,200 x 1,200, 5.5 MiB) does
    not: the workers' writes fail part way (the .npy's reservation at once), exit 2 naming it."""
    if output.endswith(".zarr"):
        pytest.importorskip("zarr")
    tmp, g = shards
    target = f"{tiny_disk}/{output}"  # a string: "rows/" keeps its slash
    first = run("matrix", tmp / "q.npy", tmp / "g.npy", "-o", target, "--memory", "1M", "--scheduler", "local:2")
    assert first.exit_code == 0, first.stderr
    before = {p: digest(p) for p in sorted(tiny_disk.rglob("*")) if p.is_file()}
    failed = run("matrix", tmp / "g.npy", "-o", target, "--memory", "1M", "--scheduler", "local:2")
    assert_one_error_line(failed.exit_code, failed.stdout, failed.stderr,
                          [f"{target}: cannot write (No space left on device)"])
    assert {p: digest(p) for p in sorted(tiny_disk.rglob("*")) if p.is_file()} == before
    assert temporaries(tiny_disk) == []


@slow
def test_matrix_shards_sigterm_on_a_cluster_leaves_the_old_folder(shards, tmp_path):
    tmp, g = shards
    out = tmp_path / "rows"
    out.mkdir()
    np.save(out / "rows-000000000000-000000000001.npy", np.zeros((1, 1200), np.float32))
    np.save(tmp_path / "big.npy", np.tile(g, (20, 1)))
    proc = start("matrix", tmp_path / "big.npy", tmp / "g.npy", "-m", "manhattan", "--memory", "1M",
                 "-o", f"{out}/", "--scheduler", "local:2")
    wait_for_temporary(proc, tmp_path, timeout=180)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert (proc.returncode, stdout, stderr) == (143, b"", b"Error: terminated\n")
    assert sorted(os.listdir(out)) == ["rows-000000000000-000000000001.npy"]
    assert temporaries(tmp_path) == []

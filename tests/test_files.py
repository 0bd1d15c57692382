"""siamcli.files, the one place that writes files: whole or not at all, and never over an input.

Each writer is checked by what is on disk afterwards (bytes, modes, inodes, the folder's listing),
never by siamcli's own account of it.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from siamcli import files, rowwriter
from siamcli.errors import InputError, UsageError

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def listing(folder) -> list[str]:
    return sorted(os.listdir(folder))


def dead_pid() -> int:
    """The pid of a process that has ended (reaped: nothing runs under it until it is reused)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def stale_name(target, pid: int, kind: str = "partial", suffix: str = "", host: str | None = None) -> str:
    """A temporary's name as siamcli makes it: host tag (this machine's, unless given), pid."""
    folder, name = os.path.split(os.fspath(target))
    tag = host or "%04x" % (zlib.crc32(os.uname().nodename.encode()) & 0xFFFF)
    return os.path.join(folder, f".{name}.{pid}.{tag}abcd.siamcli-{kind}{suffix}")


# ---------------------------------------------------------------- files


def test_output_file_success_replaces_the_old_file_in_one_rename(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    target.chmod(0o640)
    old_inode = target.stat().st_ino
    with files.output_file(target) as temp:
        assert os.path.dirname(temp) == str(tmp_path)  # beside the target: the rename stays on one filesystem
        assert os.path.basename(temp).startswith(".out.csv.") and temp.endswith(".siamcli-partial.csv")
        with open(temp, "w") as handle:
            handle.write("new\n")
        assert target.read_text() == "old\n"  # untouched until the block ends
    assert target.read_text() == "new\n"
    assert target.stat().st_ino != old_inode  # a new file renamed over the old one, not rewritten in place
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the old file's permissions kept
    assert listing(tmp_path) == ["out.csv"]


def test_output_file_over_a_read_only_file(tmp_path):
    """Only a user who could write the file may replace it (root can: the new file stays 0o444)."""
    target = tmp_path / "m.csv"
    target.write_text("old")
    target.chmod(0o444)
    if os.geteuid() != 0:
        with pytest.raises(InputError, match=r"m\.csv: cannot write \(Permission denied\)"):
            files.write_bytes(target, b"new")
        assert target.read_text() == "old"
        return
    with files.output_file(target) as temp:
        with open(temp, "w") as handle:  # the temporary is writable while it is written
            handle.write("new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o444


def test_output_file_new_file_gets_the_umask_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        files.write_bytes(tmp_path / "plot.png", b"\x89PNG")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "plot.png").stat().st_mode) == 0o640
    assert (tmp_path / "plot.png").read_bytes() == b"\x89PNG"


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_output_file_exception_mid_write_leaves_the_old_file_and_no_temporary(tmp_path, error):
    target = tmp_path / "out.npy"
    target.write_bytes(b"old bytes")
    with pytest.raises(type(error)):
        with files.output_file(target) as temp:
            with open(temp, "wb") as handle:
                handle.write(b"half of the new")
            raise error
    assert target.read_bytes() == b"old bytes"
    assert listing(tmp_path) == ["out.npy"]


def test_output_file_os_error_is_an_input_error_naming_the_path(tmp_path):
    shown = str(tmp_path / "out.csv")
    with pytest.raises(InputError) as caught:
        with files.output_file(shown):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert str(caught.value) == f"{shown}: cannot write (No space left on device)"
    assert caught.value.__suppress_context__
    assert listing(tmp_path) == []


def test_output_file_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path):
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "scores.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    files.write_bytes(link, b"new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new"
    assert listing(tmp_path / "real") == ["scores.csv"] and listing(tmp_path) == ["link.csv", "real"]


@pytest.mark.parametrize("where, needle", [("missing", "no such folder"), ("folder", "Is a directory")])
def test_output_file_that_cannot_be_written_fails_before_a_temporary_exists(tmp_path, where, needle):
    target = tmp_path / "nowhere" / "out.csv" if where == "missing" else tmp_path / "out.csv"
    if where == "folder":
        target.mkdir()
    with pytest.raises(InputError, match=needle) as caught:
        files.check_target(target)
    assert str(target) in str(caught.value) and caught.value.__suppress_context__
    with pytest.raises(InputError, match=needle):
        files.write_bytes(target, b"x")
    assert listing(tmp_path) == ([] if where == "missing" else ["out.csv"])


def test_stale_temporaries_of_dead_processes_go_and_live_ones_stay(tmp_path):
    target = tmp_path / "out.npy"
    dead, alive = dead_pid(), os.getppid()
    other_host = "%04x" % ((zlib.crc32(os.uname().nodename.encode()) + 1) & 0xFFFF)
    gone = stale_name(target, dead, suffix=".npy")
    kept = [stale_name(target, alive, suffix=".npy"),  # a run still going
            stale_name(target, dead, suffix=".npy", host=other_host),  # another machine's pid: not known dead
            stale_name(tmp_path / "other.npy", dead)]  # another target's: not this write's business
    for path in [gone, *kept]:
        open(path, "wb").close()
    files.write_bytes(target, b"new")
    assert listing(tmp_path) == sorted([*map(os.path.basename, kept), "out.npy"])


def test_a_folder_set_aside_by_a_killed_run_goes_back_when_the_target_is_missing(tmp_path):
    target = tmp_path / "rows"
    aside = stale_name(target, dead_pid(), kind="old")
    os.mkdir(aside)
    open(os.path.join(aside, "rows-000000000000-000000000002.npy"), "wb").close()
    assert files.remove_stale(str(target)) == []
    assert listing(target) == ["rows-000000000000-000000000002.npy"] and listing(tmp_path) == ["rows"]


# ---------------------------------------------------------------- folders


def fill(folder, names):
    for name in names:
        with open(os.path.join(folder, name), "w") as handle:
            handle.write(name)


@pytest.mark.parametrize("exchange", [True, False])
def test_output_folder_replaces_the_old_folder_whole(tmp_path, monkeypatch, exchange):
    if not exchange:  # a filesystem without renameat2: set aside, rename in, remove
        monkeypatch.setattr(files, "_exchange", lambda first, second: False)
    target = tmp_path / "rows"
    target.mkdir()
    fill(target, ["a", "b", "c"])
    with files.output_folder(target) as temp:
        fill(temp, ["b", "d"])
        assert listing(target) == ["a", "b", "c"]
    assert listing(target) == ["b", "d"]  # no file of the old folder survives
    assert (target / "b").read_text() == "b"
    assert listing(tmp_path) == ["rows"]


def test_output_folder_failure_leaves_the_old_folder_as_it_was(tmp_path):
    target = tmp_path / "m.zarr"
    target.mkdir()
    fill(target, ["zarr.json"])
    with pytest.raises(ValueError):
        with files.output_folder(target) as temp:
            fill(temp, ["zarr.json", "c"])
            raise ValueError("a worker failed")
    assert listing(target) == ["zarr.json"] and listing(tmp_path) == ["m.zarr"]


def test_output_folder_refuses_a_folder_it_may_not_replace(tmp_path):
    (tmp_path / "mine").mkdir()
    fill(tmp_path / "mine", ["notes.txt"])
    with pytest.raises(InputError, match=r"mine holds notes\.txt; choose another name"):
        with files.output_folder(tmp_path / "mine", replaceable=lambda path: "holds notes.txt"):
            pass
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="exists and is not a folder"):
        files.check_target(tmp_path / "file", folder=True)
    assert listing(tmp_path / "mine") == ["notes.txt"] and sorted(listing(tmp_path)) == ["file", "mine"]


# ---------------------------------------------------------------- .npy


@SETTINGS
@given(shape=st.tuples(st.integers(0, 40), st.integers(0, 40)),
       dtype=st.sampled_from(["float16", "float32", "float64", "<f8", ">f4"]))
def test_reserve_npy_is_a_preallocated_npy_that_numpy_reads_back(tmp_path, shape, dtype):
    path = tmp_path / f"m-{shape[0]}-{shape[1]}-{dtype.replace('<', 'l').replace('>', 'b')}.npy"
    path.touch()
    values = np.arange(shape[0] * shape[1], dtype=np.float64).reshape(shape)
    files.reserve_npy(path, shape, dtype)
    out = np.lib.format.open_memmap(path, mode="r+")
    out[...] = values
    out.flush()
    del out
    back = np.load(path, allow_pickle=False)
    assert back.shape == shape and back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, values.astype(dtype))
    data_bytes = np.dtype(dtype).itemsize * shape[0] * shape[1]
    assert path.stat().st_size == 128 + data_bytes  # numpy's 128-byte header, then the data


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("rows", [16, 7])
def test_row_writer_writes_bands_at_their_offsets_whole(tmp_path, monkeypatch, direct, rows):
    """reserve_npy(align=4096) + RowWriter: bands taken from its buffers and others (copied, in
    parts) written out of order read back as the array, with O_DIRECT and without it; unaligned
    bands (7 rows of 100 bytes) go through ordinary writes."""
    if not direct:
        monkeypatch.setattr(rowwriter, "_open_direct", lambda path: None)
    path = tmp_path / "m.npy"
    path.touch()
    values = np.random.default_rng(1).normal(size=(40, 1024)).astype(np.float32)[:, :25 if rows == 7 else 1024]
    width = values.shape[1]
    start = files.reserve_npy(path, values.shape, values.dtype, align=rowwriter.DIRECT_ALIGNMENT)
    assert start == rowwriter.DIRECT_ALIGNMENT
    with rowwriter.RowWriter(path, rows * width * 4) as writer:
        if direct:
            assert writer.direct is not None  # this project's disk takes O_DIRECT
        for i0 in sorted(range(0, 40, rows), key=lambda i: (i % 3, i)):
            part = values[i0 : i0 + rows]
            if i0 % 2:
                band = writer.take(part.shape, part.dtype)
                band[...] = part
                writer.write(band, start + i0 * width * 4)
            else:
                writer.write(part, start + i0 * width * 4)
        writer.write(values[:3], start)  # larger than nothing, smaller than a buffer: copied
    np.testing.assert_array_equal(np.load(path), values)


def test_row_writer_raises_its_threads_error_in_the_caller(tmp_path, monkeypatch):
    path = tmp_path / "m.bin"
    path.write_bytes(bytes(8192))

    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rowwriter, "write_at", full)
    with pytest.raises(OSError, match="No space left"):
        with rowwriter.RowWriter(path, 4096) as writer:
            writer.write(np.zeros(1024, np.float32), 0)


@pytest.mark.parametrize("missing", [(), ("pwrite",)])
def test_write_at_without_positioned_writes(tmp_path, monkeypatch, missing):
    """Where os has no pwrite (Windows), write_at seeks, with the same result."""
    for name in missing:
        monkeypatch.delattr(os, name, raising=False)
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(400))
    values = np.arange(30, dtype=np.float32)
    fd = os.open(path, os.O_RDWR)
    try:
        rowwriter.write_at(fd, values, 40)
    finally:
        os.close(fd)
    np.testing.assert_array_equal(np.frombuffer(path.read_bytes()[40:160], np.float32), values)
    assert path.read_bytes()[:40] == bytes(40) and path.read_bytes()[160:] == bytes(240)


def test_reserve_npy_reserves_the_disk_space(tmp_path):
    path = tmp_path / "m.npy"
    path.touch()
    files.reserve_npy(path, (512, 1024), "float32")
    assert path.stat().st_blocks * 512 >= 512 * 1024 * 4  # allocated, not a sparse file


def mounted_tmpfs(folder, options: str):
    """A tmpfs mounted on `folder` (needs root and a sandbox that allows mounts; skipped otherwise)."""
    folder.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture
def tiny_tmpfs(tmp_path):
    yield from mounted_tmpfs(tmp_path / "tiny", "size=1m")


@pytest.fixture
def read_only_tmpfs(tmp_path):
    yield from mounted_tmpfs(tmp_path / "ro", "ro,size=1m")


def test_check_target_on_a_read_only_disk_says_so_before_any_work(read_only_tmpfs):
    for folder in (False, True):
        with pytest.raises(InputError, match=r"m\.npy: cannot write \(Read-only file system\)"):
            files.check_target(read_only_tmpfs / "m.npy", folder=folder)


def test_reserve_npy_on_a_full_disk_is_an_error_at_the_start_not_sigbus(tiny_tmpfs):
    (tiny_tmpfs / "old.npy").write_bytes(b"old")
    with pytest.raises(InputError, match=r"out\.npy: cannot write \(No space left on device\)"):
        with files.Output(tiny_tmpfs / "out.npy") as out:
            files.reserve_npy(out.temp, (1024, 1024), "float32")  # 4 MiB on a 1 MiB disk
    assert listing(tiny_tmpfs) == ["old.npy"] and (tiny_tmpfs / "old.npy").read_bytes() == b"old"


@pytest.mark.slow  # a subprocess
def test_reserve_npy_over_the_file_size_limit_is_an_error(tmp_path):
    """RLIMIT_FSIZE in a child process (SIGXFSZ ignored, as Python does): posix_fallocate fails
    with EFBIG before a byte of the matrix is written."""
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))\n"
        "from siamcli import files\n"
        "from siamcli.errors import InputError\n"
        "try:\n"
        "    with files.Output(sys.argv[1]) as out:\n"
        "        files.reserve_npy(out.temp, (1024, 1024), 'float32')\n"
        "except InputError as exc:\n"
        "    print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "out.npy")], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{tmp_path / 'out.npy'}: cannot write (File too large)"
    assert listing(tmp_path) == []


# ---------------------------------------------------------------- outputs never touch inputs


@pytest.fixture
def inputs(tmp_path):
    (tmp_path / "e.npy").write_bytes(b"embeddings")
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "part-0.npy").write_bytes(b"shard")
    os.symlink(tmp_path / "e.npy", tmp_path / "link.npy")
    os.link(tmp_path / "e.npy", tmp_path / "hard.npy")
    return tmp_path


@pytest.mark.parametrize("output, needle", [
    ("e.npy", "-o {t}/e.npy is the input {t}/e.npy; choose another output file"),
    ("link.npy", "-o {t}/link.npy is the input {t}/e.npy; choose another output file"),
    ("hard.npy", "-o {t}/hard.npy is the input {t}/e.npy (the same file, by another name)"),
    ("shards/../e.npy", "is the input {t}/e.npy"),
    ("shards", "is the input {t}/shards"),
    (".", "is a folder holding the input {t}/e.npy; choose another output folder"),
    ("shards/m.npy", "-o {t}/shards/m.npy is inside the input {t}/shards (a folder siamcli reads)"),
])
def test_check_outputs_refuses_an_output_that_is_or_holds_or_lies_in_an_input(inputs, output, needle):
    with pytest.raises(UsageError) as caught:
        files.check_outputs([("-o", f"{inputs}/{output}")], [("input", f"{inputs}/e.npy"), ("input", f"{inputs}/shards")])
    assert needle.format(t=inputs) in str(caught.value)


def test_check_outputs_names_the_option_of_the_input_and_reads_globs(inputs):
    with pytest.raises(UsageError, match=r"--plot .*/e\.npy is the --ids file .*/e\.npy"):
        files.check_outputs([("--plot", f"{inputs}/e.npy")], [("input", "-"), ("--ids", f"{inputs}/e.npy")])
    with pytest.raises(UsageError, match=r"is the input .*shards/part-0\.npy"):
        files.check_outputs([("-o", f"{inputs}/shards/part-0.npy")], [("input", f"{inputs}/shards/*.npy")])
    with pytest.raises(UsageError, match=r"would be read as one of the shards"):
        files.check_outputs([("-o", f"{inputs}/shards/part-9.npy")], [("input", f"{inputs}/shards/part-*.npy")])
    # none of these touches an input: stdin, a new name, a name a glob does not match, an option not given
    files.check_outputs([("-o", f"{inputs}/m.npy"), ("--plot", None)],
                        [("input", "-"), ("input", f"{inputs}/e.npy"), ("input", f"{inputs}/shards/*.npy"),
                         ("--ids", None), ("input", f"{inputs}/missing.npy")])
    files.check_outputs([("-o", f"{inputs}/shards/m.csv")], [("input", f"{inputs}/shards/*.npy")])


def test_stopped_by_a_signal_inside_a_write_removes_the_temporary(tmp_path):
    """SIGTERM as the CLI handles it (an exception in the main thread): the `with` cleans up."""
    from siamcli.cli import Stopped

    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(Stopped):
        with files.output_file(target) as temp:
            with open(temp, "w") as handle:
                handle.write("half")
            raise Stopped(signal.SIGTERM)
    assert target.read_text() == "old" and listing(tmp_path) == ["out.csv"]

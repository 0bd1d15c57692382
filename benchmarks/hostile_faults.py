"""Fault scenarios of hostile_review.py: outputs over inputs, signals, concurrent writers, full disks,
closed pipes, big tables and Dask. Each scenario is one result with its own right outcome; they run
one at a time (timing matters).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from hostile_run import MiB, Outcome, clean_error, first_line, start, status_of, wait_or_kill, stderr_problems, stderr_text

SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


def _sha(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def _cosine(a, b) -> np.ndarray:
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    return (a / np.linalg.norm(a, axis=1, keepdims=True)) @ (b / np.linalg.norm(b, axis=1, keepdims=True)).T


def _read_matrix(path: Path):
    """The matrix in an output file (npy or csv), or None when it cannot be read whole."""
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        rows = path.read_text().splitlines()[1:]
        return np.array([[float(x) if x else np.nan for x in r.split(",")[1:]] for r in rows])
    except Exception:  # noqa: BLE001 - unreadable is the answer
        return None


class Faults:
    """The scenarios' shared folder, data and the way to record one scenario."""

    def __init__(self, review):
        self.review = review
        self.folder = review.scratch / "faults"
        self.folder.mkdir()
        self.rng = np.random.default_rng(review.seed + 3)
        self.results = []
        self.notes = []

    def save(self, name, arr) -> Path:
        path = self.folder / name
        np.save(path, arr)
        return path

    def record(self, group, case, expect, argv, outcome: Outcome | None, problems, status=None):
        from hostile_review import Result, result_of  # the summary's record

        if outcome is None:
            self.results.append(Result("faults", group, case, expect, self.review.show(argv), status or "-", "-", problems))
        else:
            problems = [(k + " on stderr", first_line(stderr_text(outcome))) for k in stderr_problems(outcome)] + problems
            self.results.append(result_of("faults", group, case, expect, argv, self.review, outcome, problems))

    def run(self, argv, **kw) -> Outcome:
        return self.review.run(argv, self.folder, **kw)


def _spawn(f, argv, stdout=subprocess.DEVNULL, mem_limit=-1, env=None):
    """Start siamcli in the faults folder, stderr to a temporary file; the caller waits (_outcome_of)."""
    fd, path = tempfile.mkstemp(prefix="stderr-", dir=f.review.scratch)
    with os.fdopen(fd, "wb") as err:
        proc = start([f.review.siamcli, *argv], f.folder, mem_limit=f.review.mem_limit if mem_limit == -1 else mem_limit,
                     env=env or f.review.env, stdout=stdout, stderr=err)
    return proc, path


def _outcome_of(proc, argv, began, timeout, out_path, err_path) -> Outcome:
    code = wait_or_kill(proc, timeout)
    rss = proc.rusage.ru_maxrss * 1024 if proc.rusage is not None else 0
    out = Path(out_path).read_bytes() if out_path else b""
    err = Path(err_path).read_bytes()
    return Outcome(list(argv), code, time.perf_counter() - began, rss, out, err, len(out), timeout)


# ---------------------------------------------------------------- outputs over inputs

def over_inputs(f: Faults) -> None:
    big_rows = 2_500 if f.review.quick else 18_000
    f.save("big.npy", f.rng.standard_normal((big_rows, 1024)).astype(np.float32))  # 73.7 MiB: memory-mapped
    f.save("a.npy", f.rng.standard_normal((50, 16)))
    f.save("q.npy", f.rng.standard_normal((8, 1024)).astype(np.float32))
    f.save("q16.npy", f.rng.standard_normal((8, 16)))
    (f.folder / "a.csv").write_text("".join(",".join(f"{x:.6f}" for x in r) + "\n" for r in f.rng.standard_normal((20, 4))))
    os.symlink("a.npy", f.folder / "link_to_a.npy")
    os.link(f.folder / "a.npy", f.folder / "hard_to_a.npy")
    (f.folder / "sub").mkdir()
    for case, argv in (
        (f"memory-mapped input ({big_rows} x 1024 float32) as -o", ["matrix", "big.npy", "q.npy", "-o", "big.npy"]),
        ("same path, via sub/..", ["matrix", "big.npy", "q.npy", "-o", "sub/../big.npy"]),
        ("small .npy input as -o", ["matrix", "a.npy", "q16.npy", "-o", "a.npy"]),
        ("-o a symlink to the input", ["matrix", "a.npy", "q16.npy", "-o", "link_to_a.npy"]),
        ("-o a hard link to the input", ["matrix", "a.npy", "q16.npy", "-o", "hard_to_a.npy"]),
        ("-o the second input", ["matrix", "a.npy", "q16.npy", "-o", "q16.npy"]),
        ("CSV input as -o X.csv", ["matrix", "a.csv", "-o", "a.csv"]),
    ):
        before = {p: _sha(f.folder / p) for p in ("big.npy", "a.npy", "q.npy", "q16.npy", "a.csv")}
        names = _listing(f.folder)
        outcome = f.run(argv)
        problems = [] if clean_error(outcome) else [("output over an input not refused", f"{status_of(outcome)}: "
                                                     f"{first_line(stderr_text(outcome)) or '(no message)'}")]
        changed = [p for p, h in before.items() if _sha(f.folder / p) != h]
        if changed:
            problems.append(("input modified", ", ".join(changed) + " changed"))
        extra = _listing(f.folder) - names
        if extra:
            problems.append(("stray files left", ", ".join(sorted(extra))))
        f.record("output over input", case, "clean exit 2 before any work; inputs unchanged", argv, outcome, problems)


# ---------------------------------------------------------------- signals during -o

def _signal_sizes(quick: bool):
    return (6_000, 256) if quick else (20_000, 256), (800, 64) if quick else (3_000, 64)


def signals(f: Faults) -> None:
    (npy_n, npy_d), (csv_n, csv_d) = _signal_sizes(f.review.quick)
    f.save("sig_a.npy", f.rng.standard_normal((npy_n, npy_d)).astype(np.float32))
    f.save("sig_c.npy", f.rng.standard_normal((csv_n, csv_d)))
    for suffix, src in ((".npy", "sig_a.npy"), (".csv", "sig_c.npy")):
        target = f.folder / f"sig_out{suffix}"
        argv = ["matrix", src, "-o", target.name]
        began = time.perf_counter()
        base = f.run(argv, timeout=600)  # uninterrupted: how long a whole run takes
        whole = time.perf_counter() - began
        target.unlink(missing_ok=True)
        if base.returncode != 0:
            f.notes.append(f"signals {suffix}: the uninterrupted run failed ({status_of(base)}); scenarios skipped")
            continue
        at = max(0.5, 0.4 * whole)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            _one_signal(f, argv, target, sig, at, whole)
    _signal_stdout(f)


def _previous(target: Path) -> str:
    if target.suffix == ".npy":
        np.save(target, np.full((3, 3), 7.0))
    else:
        target.write_text("id,0,1\nx,7.0,7.0\n")
    return _sha(target)


def _one_signal(f: Faults, argv, target: Path, sig, at: float, whole: float) -> None:
    previous = _previous(target)
    names = _listing(f.folder)
    began = time.perf_counter()
    proc, err = _spawn(f, argv)
    time.sleep(at)
    finished_early = not _running(proc.pid)
    os.kill(proc.pid, sig)
    outcome = _outcome_of(proc, argv, began, 120, None, err)
    os.unlink(err)
    problems = []
    if finished_early:
        problems.append(("scenario inconclusive", f"the run ended before the signal at {at:.1f} s"))
    after = _sha(target)
    if after is None:
        problems.append(("previous file destroyed", f"{target.name} is gone"))
    elif after != previous:
        problems.append(("partial file left", f"{target.name} replaced by an interrupted run's file "
                         f"({target.stat().st_size / MiB:.1f} MiB; loads: {_read_matrix(target) is not None})"))
    extra = sorted(_listing(f.folder) - names)
    if sig != signal.SIGKILL:
        want = SIGNAL_EXIT[sig]
        lines = [s for s in stderr_text(outcome).split("\n") if s.strip()]
        if outcome.returncode not in (want, -sig) or len(lines) != 1:
            problems.append(("signal not handled", f"{status_of(outcome)} (want exit {want}), {len(lines)} stderr lines: "
                             f"{first_line(stderr_text(outcome))}"))
        if extra:
            problems.append(("stray files left", ", ".join(extra)))
    for name in extra:
        (f.folder / name).unlink(missing_ok=True) if (f.folder / name).is_file() else None
    name = signal.Signals(sig).name
    f.record("signals", f"{name} at {at:.1f} s (a whole run takes {whole:.1f} s) during matrix -o {target.name}",
             "previous file intact, no partial file; INT/TERM: exit 130/143 with one line", argv, outcome, problems)
    target.unlink(missing_ok=True)


def _signal_stdout(f: Faults) -> None:
    argv = ["matrix", "sig_c.npy", "-f", "csv"]
    for sig in (signal.SIGINT, signal.SIGTERM):
        began = time.perf_counter()
        proc, err = _spawn(f, argv)
        time.sleep(1.0)
        early = not _running(proc.pid)
        os.kill(proc.pid, sig)
        outcome = _outcome_of(proc, argv, began, 60, None, err)
        os.unlink(err)
        lines = [s for s in stderr_text(outcome).split("\n") if s.strip()]
        problems = [("scenario inconclusive", "the run ended before the signal")] if early else []
        if outcome.returncode not in (SIGNAL_EXIT[sig], -sig) or len(lines) != 1:
            problems.append(("signal not handled", f"{status_of(outcome)}, {len(lines)} stderr lines: {first_line(stderr_text(outcome))}"))
        f.record("signals", f"{signal.Signals(sig).name} at 1 s during matrix -f csv to stdout", f"exit {SIGNAL_EXIT[sig]}, one line",
                 argv, outcome, problems)


# ---------------------------------------------------------------- concurrent writers, full disks

def concurrent(f: Faults) -> None:
    n = 2_000 if f.review.quick else 8_000
    a = f.rng.standard_normal((n, 64)).astype(np.float32)
    f.save("cw_a.npy", a)
    b1, b2 = f.rng.standard_normal((n, 64)).astype(np.float32), f.rng.standard_normal((n, 64)).astype(np.float32)
    f.save("cw_b1.npy", b1)
    f.save("cw_b2.npy", b2)
    for suffix, rows in ((".npy", n), (".csv", max(300, n // 8))):
        target = f.folder / f"cw_out{suffix}"
        argvs = [["matrix", f"cw_a{'' if suffix == '.npy' else '_s'}.npy", b, "-o", target.name] for b in
                 (f"cw_b1{'' if suffix == '.npy' else '_s'}.npy", f"cw_b2{'' if suffix == '.npy' else '_s'}.npy")]
        if suffix == ".csv":
            f.save("cw_a_s.npy", a[:rows])
            f.save("cw_b1_s.npy", b1[:rows])
            f.save("cw_b2_s.npy", b2[:rows])
        wants = [_cosine(a[:rows], b[:rows]) for b in (b1, b2)]
        _previous(target)
        errs, procs, began = [], [], time.perf_counter()
        for argv in argvs:
            proc, err = _spawn(f, argv)
            procs.append(proc)
            errs.append(err)
        outcomes = [_outcome_of(p, argv, began, 300, None, e) for p, argv, e in zip(procs, argvs, errs)]
        for e in errs:
            os.unlink(e)
        got = _read_matrix(target)
        matches = [got is not None and got.shape == w.shape and np.allclose(got, w, atol=1e-5) for w in wants]
        problems = []
        for o in outcomes:
            if o.returncode != 0 and not clean_error(o):
                problems.append(("unclean failure", f"{status_of(o)}: {first_line(stderr_text(o))}"))
        if not any(matches):
            problems.append(("partial file left", f"{target.name} is neither run's whole matrix (mixed or cut; "
                             f"readable: {got is not None})"))
        f.record("concurrent writers", f"two matrix -o {target.name} at once ({rows} x {rows})",
                 "the file is one run's whole matrix; each run exits 0 or cleanly 2", argvs[0], outcomes[0], problems)
        target.unlink(missing_ok=True)


def full_disk(f: Faults) -> None:
    f.save("fd_a.npy", f.rng.standard_normal((2_000, 32)))
    for suffix in (".npy", ".csv"):
        target = f.folder / f"fd_out{suffix}"
        previous = _previous(target)
        argv = ["matrix", "fd_a.npy", "-o", target.name]
        names = _listing(f.folder)
        outcome = f.run(argv, fsize_limit=1 * MiB)
        _disk_verdict(f, "full disk", f"RLIMIT_FSIZE 1 MiB, matrix -o {target.name} of 2,000 x 2,000", argv, outcome,
                      target, previous, names)
    _tmpfs(f)


def _disk_verdict(f, group, case, argv, outcome, target, previous, names) -> None:
    problems = []
    if not clean_error(outcome):
        problems.append(("disk full not reported", f"{status_of(outcome)}: {first_line(stderr_text(outcome)) or '(no message)'}"))
    elif target.name not in stderr_text(outcome):
        problems.append(("disk full not reported", "the message does not name the output path"))
    after = _sha(target)
    if after != previous:
        problems.append(("previous file destroyed" if after is None else "partial file left",
                         f"{target.name}: {'gone' if after is None else f'{target.stat().st_size} bytes, not the previous file'}"))
    extra = sorted(_listing(target.parent) - names)
    if extra:
        problems.append(("stray files left", ", ".join(extra)))
    f.record(group, case, "clean exit 2 naming the path; previous file intact; no partial file", argv, outcome, problems)
    for name in extra:
        (target.parent / name).unlink(missing_ok=True)
    target.unlink(missing_ok=True)


def _tmpfs(f: Faults) -> None:
    mnt = f.folder / "tmpfs"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if mounted.returncode != 0:
        f.notes.append(f"full disk on a 4 MiB tmpfs: skipped (mount: {first_line(mounted.stderr) or 'not permitted'})")
        return
    try:
        for suffix in (".npy", ".csv"):
            target = mnt / f"out{suffix}"
            previous = _previous(target)
            names = _listing(mnt)
            argv = ["matrix", "fd_a.npy", "-o", str(target)]
            outcome = f.run(argv)
            _disk_verdict(f, "full disk", f"4 MiB tmpfs, matrix -o {target.name} of 2,000 x 2,000", argv, outcome, target,
                          previous, names)
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


# ---------------------------------------------------------------- closed pipes, big tables

def pipes(f: Faults) -> None:
    n = 400 if f.review.quick else 1_000
    f.save("t_big.npy", f.rng.standard_normal((n, 64)).astype(np.float32))
    for fmt in ("jsonl", "json", "csv", "tsv", "table"):
        for argv in (["compare", "t_big.npy", "--limit", "all", "-f", fmt], ["matrix", "t_big.npy", "-f", fmt]):
            _head(f, argv)


def _head(f: Faults, argv) -> None:
    began = time.perf_counter()
    # a tall terminal, so that a table is larger than the pipe's buffer and must meet the closed pipe
    proc, err = _spawn(f, argv, stdout=subprocess.PIPE, env=dict(f.review.env, COLUMNS="400", LINES="5000"))
    got = _read_some(proc.stdout, 100, 60.0)
    proc.stdout.close()  # the reader goes away, as `| head -c 100` does
    outcome = _outcome_of(proc, argv, began, 30, None, err)
    os.unlink(err)
    problems = []
    if outcome.timed_out:
        problems.append(("hang (timeout)", f"no exit within 30 s of the reader closing the pipe ({len(got)} bytes read in up to 60 s)"))
    elif outcome.returncode not in (141, -signal.SIGPIPE) or outcome.stderr.strip():
        problems.append(("closed pipe not exit 141", f"{status_of(outcome)}; stderr: {first_line(stderr_text(outcome)) or 'empty'}"))
    f.record("closed pipe", f"{' '.join(argv[:2])} {' '.join(argv[2:])} | head -c 100 (read {len(got)} bytes)",
             "exit 141, nothing on stderr (a table as tall as 5,000 lines, wider than the pipe's buffer)", argv, outcome, problems)


def _read_some(pipe, size: int, seconds: float) -> bytes:
    """Up to size bytes from a pipe, waiting at most `seconds` in all (a table may print nothing for minutes)."""
    import select

    got, deadline = b"", time.perf_counter() + seconds
    while len(got) < size:
        ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.perf_counter()))
        if not ready:
            break
        chunk = os.read(pipe.fileno(), size - len(got))
        if not chunk:
            break
        got += chunk
    return got


def big_tables(f: Faults) -> None:
    base = f.run(["compare", "t_big.npy", "--limit", "all", "-f", "jsonl", "-q"], mem_limit=f.review.mem_limit)
    base_rss = base.max_rss / MiB
    for extra in (["--limit", "all"], ["-k", "all"]):
        argv = ["compare", "t_big.npy", *extra, "-f", "table", "-q"]
        outcome = f.run(argv, timeout=60)
        rss = outcome.max_rss / MiB
        problems = []
        if outcome.timed_out:
            problems.append(("table output unbounded", f"no exit within 60 s (jsonl: {base.seconds:.1f} s)"))
        elif outcome.returncode != 0 and not clean_error(outcome):
            problems.append(("table output unbounded", f"{status_of(outcome)}: {first_line(stderr_text(outcome))}"))
        elif outcome.returncode == 0 and rss > base_rss + 512:
            problems.append(("table output unbounded", f"peak RSS {rss:.0f} MiB against {base_rss:.0f} MiB for jsonl"))
        f.record("big table", f"{' '.join(argv[1:])} (jsonl: {base.seconds:.1f} s, {base_rss:.0f} MiB)",
                 "exit 0 within 60 s and jsonl's memory + 512 MiB, or a clean exit 2", argv, outcome, problems)


# ---------------------------------------------------------------- Dask

def dask(f: Faults) -> None:
    q = f.rng.standard_normal((4, 16))
    f.save("dq.npy", q)
    f.save("emb[1].npy", q)  # literal name: every query's best match is itself, cosine 1
    f.save("emb1.npy", f.rng.standard_normal((4, 16)))  # what the glob [1] would match instead
    for case, argv, limit in (
        ("a shard glob that matches nothing", ["compare", "dq.npy", "missing/*.npy", "--scheduler", "local:1"], 3.0),
        ("a shard folder that does not exist", ["compare", "dq.npy", "missing_dir/", "--scheduler", "local:1"], 3.0),
    ):
        outcome = f.run(argv, timeout=120)
        problems = [] if clean_error(outcome) else [("bad input not refused", f"{status_of(outcome)}: {first_line(stderr_text(outcome))}")]
        if outcome.seconds > limit:
            problems.append(("slow to fail", f"{outcome.seconds:.1f} s (a cluster started before the paths were checked)"))
        f.record("dask", case, f"clean exit 2 within {limit:g} s", argv, outcome, problems)
    for case, extra in (("literal 'emb[1].npy' beside emb1.npy", []), ("literal 'emb[1].npy' beside emb1.npy, Dask", ["--scheduler", "local:1"])):
        argv = ["compare", "dq.npy", "emb[1].npy", "-k", "1", "-f", "jsonl", *extra]
        outcome = f.run(argv, timeout=120)
        problems = []
        if outcome.returncode != 0:
            problems.append(("literal path misread", f"{status_of(outcome)}: {first_line(stderr_text(outcome))}"))
        else:
            import json

            recs = [json.loads(line) for line in outcome.stdout.decode().splitlines() if line.strip()]
            if len(recs) != 4 or any(abs(r.get("score", 0) - 1) > 1e-9 or r.get("b_index") != r.get("a_index") for r in recs):
                problems.append(("literal path misread", "scores are not those of emb[1].npy (a glob read emb1.npy)"))
        f.record("dask", case, "reads the file emb[1].npy itself", argv, outcome, problems)
    if f.review.with_dask:
        _stale_shards(f)
        _worker_kills(f)
    else:
        f.notes.append("Dask stale shards and worker kills: skipped (--with-dask)")


def _stale_shards(f: Faults) -> None:
    f.save("ds_big.npy", f.rng.standard_normal((5_000, 16)).astype(np.float32))
    f.save("ds_small.npy", f.rng.standard_normal((2_500, 16)).astype(np.float32))
    first = f.run(["matrix", "ds_big.npy", "ds_big.npy", "-o", "shards/", "--scheduler", "local:1",
                   "--memory", "16M"], timeout=300)
    argv = ["matrix", "ds_small.npy", "ds_big.npy", "-o", "shards/", "--scheduler", "local:1", "--memory", "16M"]
    second = f.run(argv, timeout=300)
    problems = []
    if first.returncode != 0 or second.returncode != 0:
        problems.append(("run failed", f"first {status_of(first)}, second {status_of(second)}: {first_line(stderr_text(second))}"))
    else:
        rows = sum(np.load(p, mmap_mode="r").shape[0] for p in sorted((f.folder / "shards").glob("**/*.npy")))
        if rows != 2_500:
            problems.append(("stale output left", f"reading shards/ back gives {rows} rows for a 2,500-row matrix"))
    f.record("dask", "matrix -o shards/ twice, 5,000 then 2,500 rows", "shards/ holds only the second matrix (2,500 rows)",
             argv, second, problems)


def _worker_kills(f: Faults) -> None:
    folder = f.folder / "wk_gallery"
    folder.mkdir()
    for i in range(8):
        np.save(folder / f"s{i}.npy", f.rng.standard_normal((50_000, 128)).astype(np.float32))
    f.save("wk_q.npy", f.rng.standard_normal((500, 128)).astype(np.float32))
    argv = ["compare", "wk_q.npy", "wk_gallery/", "-k", "5", "--scheduler", "local:2", "-f", "jsonl"]
    began = time.perf_counter()
    proc, err = _spawn(f, argv, mem_limit=None)
    kills, started = 0, None
    while time.perf_counter() - began < 60 and _running(proc.pid) and started is None:
        time.sleep(0.5)  # let the cluster start: the scenario is losing workers mid-run
        started = time.perf_counter() if len(_workers(proc.pid)) >= 2 else None
    while started is not None and time.perf_counter() - started < 40 and _running(proc.pid):
        time.sleep(2.0)
        for pid in _workers(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass
    outcome = _outcome_of(proc, argv, began, 120, None, err)
    os.unlink(err)
    problems = []
    if outcome.timed_out:
        problems.append(("hang (timeout)", f"no exit within 120 s of the last of {kills} worker kills"))
    elif outcome.returncode != 0 and not clean_error(outcome):
        problems.append(("unclean failure", f"{status_of(outcome)}: {first_line(stderr_text(outcome))}"))
    f.record("dask", f"every worker process killed every 2 s for 40 s once both are up ({kills} kills)", "exit 0, or a clean exit 2 in time",
             argv, outcome, problems)


def _workers(pid: int) -> list[int]:
    """Worker processes under pid: multiprocessing leaves (not the resource tracker, not a fork server)."""
    found, below = [], _descendants(pid)
    parents = {_ppid(p) for p in below}
    for p in below:
        if p in parents:
            continue
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"resource_tracker" not in cmd and (b"spawn_main" in cmd or b"forkserver" in cmd or b"distributed" in cmd):
            found.append(p)
    return found


def _running(pid: int) -> bool:
    """Whether pid still runs (not a zombie), without reaping it: wait4 must keep its resource usage."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def section_faults(review) -> list:
    f = Faults(review)
    for step in (over_inputs, signals, concurrent, full_disk, pipes, big_tables, dask):
        began = time.perf_counter()
        try:
            step(f)
        except Exception as exc:  # noqa: BLE001 - a broken scenario is reported, the rest still run
            f.notes.append(f"{step.__name__}: harness error {type(exc).__name__}: {exc}")
        print(f"  faults: {step.__name__} done in {time.perf_counter() - began:.0f} s", file=__import__("sys").stderr)
    review.notes += f.notes
    return f.results

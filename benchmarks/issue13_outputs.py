"""Issue 13, points 1-2, before and after: each case run on an earlier revision and on this tree.

    python benchmarks/issue13_outputs.py                 # base 54c5400 (before) against this tree
    python benchmarks/issue13_outputs.py --base HEAD~4 --no-cluster

Prints one line per case and tree: the exit status(es) and what is on disk afterwards, read with
numpy (not siamcli): whether the input or the previous output is intact, whether a partial file
sits under the final name, and what temporaries are left. A full disk needs root (a 1 MiB tmpfs).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OLD = np.full((3, 3), 7.0, np.float32)  # "the previous matrix", recognisable


def tree_of(revision: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "siamcli"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def siamcli(tree: Path, *args, wait: bool = True):
    command = [sys.executable, "-m", "siamcli", *map(str, args)]
    # cwd=tree: `python -m` puts the working folder first on sys.path, before PYTHONPATH
    proc = subprocess.Popen(command, env=dict(os.environ, PYTHONPATH=str(tree)), cwd=tree,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if wait:
        proc.stderr_text = proc.communicate()[1].decode()
    return proc


def sha(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()[:12]


def state(path: Path, expected=None) -> str:
    """What a reader finds at `path`: the previous matrix, a whole new one, or something else."""
    if not path.exists():
        return "missing"
    if path.suffix == ".csv":
        text = path.read_text()
        return "previous file" if text == "previous\n" else f"csv of {text.count(chr(10))} lines"
    try:
        values = np.load(path)
    except (ValueError, OSError, EOFError) as exc:
        return f"unreadable ({type(exc).__name__})"
    if values.shape == OLD.shape and np.array_equal(values, OLD):
        return "previous file"
    if expected is not None and any(np.array_equal(values, e) for e in expected):
        return "one whole new matrix"
    zeros = float(np.mean(values == 0))
    return f"loadable {values.shape} .npy, {zeros:.0%} zeros (partial)"


def leftovers(folder: Path) -> str:
    names = [n for n in os.listdir(folder) if "siamcli-" in n or n.endswith(".partial")]
    return f"{len(names)} temporaries" if names else "no temporaries"


def case_output_is_input(tree, tmp):
    rng = np.random.default_rng(0)
    np.save(tmp / "e.npy", rng.standard_normal((70_000, 256)).astype(np.float32))  # 72 MB: memory-mapped
    np.save(tmp / "q.npy", rng.standard_normal((10, 256)).astype(np.float32))
    before = sha(tmp / "e.npy")
    proc = siamcli(tree, "matrix", tmp / "e.npy", tmp / "q.npy", "-o", tmp / "e.npy")
    return f"exit {proc.returncode}; input {'intact' if sha(tmp / 'e.npy') == before else 'DESTROYED'}"


def case_signal(signum, suffix):
    def run(tree, tmp):
        rows = 8000 if suffix == ".npy" else 2500
        np.save(tmp / "a.npy", np.random.default_rng(1).standard_normal((rows, 64)).astype(np.float32))
        out = tmp / f"m{suffix}"
        np.save(out, OLD) if suffix == ".npy" else out.write_text("previous\n")
        proc = siamcli(tree, "matrix", tmp / "a.npy", "-m", "manhattan", "--threads", "1", "-o", out, wait=False)
        time.sleep(2.0)  # as the review: a signal 2 s in
        proc.send_signal(signum)
        proc.communicate()
        return f"exit {proc.returncode}; {state(out)}; {leftovers(tmp)}"
    return run


def case_two_writers(tree, tmp):
    a = np.random.default_rng(2).standard_normal((4000, 64)).astype(np.float32)
    np.save(tmp / "a1.npy", a)
    np.save(tmp / "a2.npy", a[::-1].copy())
    expected = []
    for name in ("a1", "a2"):
        siamcli(tree, "matrix", tmp / f"{name}.npy", "-m", "manhattan", "-o", tmp / f"{name}-alone.npy")
        expected.append(np.load(tmp / f"{name}-alone.npy"))
    both = [siamcli(tree, "matrix", tmp / f"{n}.npy", "-m", "manhattan", "--threads", "1", "-o", tmp / "m.npy",
                    wait=False) for n in ("a1", "a2")]
    codes = [p.communicate() and p.returncode for p in both]
    return f"exits {codes}; {state(tmp / 'm.npy', expected)}"


def case_full_disk(suffix):
    def run(tree, tmp):
        disk = tmp / "tiny"
        disk.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True).returncode:
            return "skipped (cannot mount a tmpfs)"
        try:
            np.save(tmp / "a.npy", np.random.default_rng(3).standard_normal((700, 16)).astype(np.float32))
            proc = siamcli(tree, "matrix", tmp / "a.npy", "-o", disk / f"m{suffix}")
            message = proc.stderr_text.strip().splitlines()
            files = sorted(os.listdir(disk))
            return f"exit {proc.returncode}; {message[-1] if message else 'no message'}; files left: {files}"
        finally:
            subprocess.run(["umount", str(disk)], check=True)
    return run


def case_stale_shards(tree, tmp):
    g = np.random.default_rng(4).standard_normal((10_000, 8)).astype(np.float32)
    np.save(tmp / "g.npy", g)
    np.save(tmp / "half.npy", g[:5000])
    for a in ("g.npy", "half.npy"):
        proc = siamcli(tree, "matrix", tmp / a, tmp / "g.npy", "-o", f"{tmp / 'rows'}/", "--memory", "8M",
                       "--scheduler", "local:2")
    names = sorted(n for n in os.listdir(tmp / "rows") if n.endswith(".npy"))
    rows = sum(np.load(tmp / "rows" / n, mmap_mode="r").shape[0] for n in names)
    return f"exit {proc.returncode}; reading rows/ back gives {rows:,} rows for a 5,000-row matrix"


CASES = {
    "1 -o names a memory-mapped input": case_output_is_input,
    "2 SIGINT at 2 s, .npy": case_signal(signal.SIGINT, ".npy"),
    "2 SIGTERM at 2 s, .npy": case_signal(signal.SIGTERM, ".npy"),
    "2 SIGKILL at 2 s, .npy": case_signal(signal.SIGKILL, ".npy"),
    "2 SIGTERM at 2 s, .csv": case_signal(signal.SIGTERM, ".csv"),
    "2 two runs, one -o": case_two_writers,
    "2 full disk, .npy": case_full_disk(".npy"),
    "2 full disk, .csv": case_full_disk(".csv"),
    "2 -o DIR/ stale shards": case_stale_shards,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="54c5400", help="the revision before (default 54c5400)")
    parser.add_argument("--no-cluster", action="store_true", help="skip the case that starts a Dask cluster")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {f"before ({args.base})": tree_of(args.base, Path(tempfile.mkdtemp(dir=tmp))), "after": ROOT}
        for case, run in CASES.items():
            if args.no_cluster and "shards" in case:
                continue
            for label, tree in trees.items():
                work = Path(tempfile.mkdtemp(dir=tmp))
                print(f"{case:34} {label:18} {run(tree, work)}", flush=True)


if __name__ == "__main__":
    main()

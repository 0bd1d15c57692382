#!/usr/bin/env python3
"""Time and peak memory of siamcli's loaders on valid files and on the hostile inputs of issue 13.

    python benchmarks/loaders.py                         # the siamcli this Python imports
    python benchmarks/loaders.py --other /path/to/main   # and another checkout's, alternating per case

Each case runs in a fresh subprocess (so peak RSS, VmHWM, is the case's own): it prints the case, the
median and minimum wall time of --repeat runs, the peak resident memory of the child
and how the load ended (ok, or the exception class and the first 70 characters of its message).
Files are made once in --dir (default: a temporary folder, removed at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import hostile  # noqa: E402  (the corpus tests' builders of hostile inputs)

MiB = 2**20
CHILD = r"""
import resource, sys, time, json
limit = int(sys.argv[4])  # address space: a runaway load fails here instead of waking the OOM killer
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import siamcli.io as sio
path, kwargs, repeat = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
times, outcome = [], "ok"
for _ in range(repeat):
    start = time.perf_counter()
    try:
        loaded = sio.load_embeddings(path, **kwargs)
        outcome = f"ok {loaded.vectors.shape}"
    except BaseException as exc:
        outcome = f"{type(exc).__name__}: {str(exc).replace(path, 'FILE')[:70]}"
    times.append(time.perf_counter() - start)
    loaded = None
peak = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0]  # not ru_maxrss: it survives exec
print(json.dumps({"times": times, "outcome": outcome, "peak_mib": int(peak.split()[1]) / 1024,
                  "siamcli": sio.__file__}))
"""


def make_files(folder: Path) -> dict[str, tuple[str, dict]]:
    rng = np.random.default_rng(20240611)
    a = rng.standard_normal((20000, 384)).astype(np.float32)
    ids = np.array([f"img{i}.jpg" for i in range(len(a))])
    np.savetxt(folder / "e.csv", a, delimiter=",", fmt="%.7g")
    with open(folder / "ids.csv", "w") as f:
        f.write("id," + ",".join(f"d{j}" for j in range(a.shape[1])) + "\n")
        for i, row in enumerate(a):
            f.write(ids[i] + "," + ",".join("%.7g" % x for x in row) + "\n")
    np.save(folder / "e.npy", a)
    np.savez(folder / "e.npz", embeddings=a, ids=ids)
    np.savez_compressed(folder / "ec.npz", embeddings=a, ids=ids)
    np.save(folder / "big.npy", rng.standard_normal((200000, 384)).astype(np.float32))
    (folder / "liar.npy").write_bytes(hostile.npy_header((1_000_000, 384)) + bytes(12345))
    (folder / "liar-huge.npy").write_bytes(hostile.npy_header((10**9, 384)) + bytes(12345))
    (folder / "liar-big.npy").write_bytes(hostile.npy_header((100_000_000, 384)) + bytes(80 * MiB))
    (folder / "bomb.npz").write_bytes(hostile.npz_bomb(1_500_000, 384))  # 2.3 GB of float32 zeros
    (folder / "bomb.csv.gz").write_bytes(hostile.gzip_bomb(2_300_000_000))  # 2.3 GB of "0,0,0,0" lines
    return {
        "csv 20000x384": ("e.csv", {}),
        "csv 20000x384 ids+header": ("ids.csv", {}),
        "npy 20000x384 f32": ("e.npy", {}),
        "npy 200000x384 f32 (mmap)": ("big.npy", {}),
        "npz 20000x384 + ids": ("e.npz", {}),
        "npz compressed 20000x384 + ids": ("ec.npz", {}),
        "npy header lies (1.4 GiB declared)": ("liar.npy", {}),
        "npy header lies (1.4 TiB declared)": ("liar-huge.npy", {}),
        "npy header lies, 80 MiB file (mmap path)": ("liar-big.npy", {}),
        "npz bomb (2.3 GB member)": ("bomb.npz", {}),
        "gzip bomb (2.3 GB csv)": ("bomb.csv.gz", {}),
    }


def strict_cost(path: Path, repeat: int) -> None:
    """What the strict check of number cells costs on a CSV (siamcli >= issue 13): the one pass over
    the characters of all cells, against numpy's conversion of the same cells and the whole load."""
    import itertools

    import siamcli.io as sio
    from siamcli.io import textcells

    rows = [cells for _, cells in textcells.csv_records(path.read_text(), ",", str(path))]

    def check():
        flat = "".join(itertools.chain.from_iterable(rows))
        return not flat.encode("ascii").translate(None, textcells._NUMBER_BYTES)

    timings = {}
    for name, run in (("strict check (all cells)", check),
                      ("numpy conversion (all cells)", lambda: np.array(rows, dtype=np.float64)),
                      ("whole load_embeddings", lambda: sio.load_embeddings(path))):
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        timings[name] = statistics.median(times)
        print(f"{name:44} {timings[name]:9.3f} {min(times):8.3f}")
    share = timings["strict check (all cells)"] / timings["whole load_embeddings"]
    print(f"{'strict check / whole load':44} {share:9.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None, help="reuse (or make) the files here")
    parser.add_argument("--case", default=None, help="run only cases whose name contains this")
    parser.add_argument("--max-memory-gib", type=float, default=8.0,
                        help="address-space limit of each child (default 8): MemoryError instead of the OOM killer")
    parser.add_argument("--other", action="append", default=[], metavar="CHECKOUT",
                        help="also run each case with the siamcli of this checkout (e.g. the main branch), alternating")
    parser.add_argument("--strict-cost", action="store_true",
                        help="also time the strict check of CSV cells against the whole load (this siamcli)")
    parser.add_argument("--label", default="", help="a label printed with every line (before/after)")
    args = parser.parse_args()
    holder = None if args.dir else tempfile.TemporaryDirectory()
    folder = Path(args.dir or holder.name)
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / "made"
    cases = make_files(folder) if not marker.exists() else None
    if cases is None:
        cases = json.loads(marker.read_text())
    else:
        marker.write_text(json.dumps(cases))
    import siamcli

    sides = [("this", None)] + [(f"other {i + 1}", path) for i, path in enumerate(args.other)]
    print(f"# this: siamcli from {os.path.dirname(siamcli.__file__)} {args.label}")
    for name, path in sides[1:]:
        print(f"# {name}: siamcli from {path} (PYTHONPATH); runs alternate with this one")
    print(f"{'case':44} {'side':8} {'median s':>9} {'min s':>8} {'peak MiB':>9}  outcome")
    for name, (file, kwargs) in cases.items():
        if args.case and args.case not in name:
            continue
        repeat = 1 if "bomb" in name or "lies" in name else args.repeat
        for side, path in sides:
            env = dict(os.environ, PYTHONPATH=path) if path else None
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", CHILD, str(folder / file), json.dumps(kwargs), str(repeat),
                                   str(int(args.max_memory_gib * 2**30))],
                                  capture_output=True, text=True, timeout=900, env=env, cwd=folder)
            if done.returncode:  # e.g. -9: killed by the kernel when memory ran out
                print(f"{name:44} {side:8} {time.perf_counter() - started:9.3f} {'':8} {'':9}  child exited "
                      f"{done.returncode} {done.stderr.strip().splitlines()[-1:]}")
                continue
            got = json.loads(done.stdout)
            times = got["times"]
            print(f"{name:44} {side:8} {statistics.median(times):9.3f} {min(times):8.3f} {got['peak_mib']:9.0f}  "
                  f"{got['outcome']}", flush=True)
    if args.strict_cost:
        strict_cost(folder / "e.csv", args.repeat)
    if holder is not None:
        holder.cleanup()


if __name__ == "__main__":
    main()

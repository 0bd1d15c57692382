"""`siamcli matrix -o` of this tree against an earlier revision: what writing whole-or-nothing
costs (a temporary, its space reserved, fsync, a rename). Prints medians and their ratio.

    python benchmarks/output_files.py                       # against HEAD~1 ... this tree
    python benchmarks/output_files.py --base 54c5400 --repeat 7

Each run is a fresh `python -m siamcli` process (start-up included, the same in both), the two
trees alternating so that a busy host slows both alike; the output file exists beforehand
(the common case of a rerun). Sizes: a 10,000 x 10,000 float32 .npy (400 MB) and a
1,000 x 1,000 .csv.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CASES = {"npy 10000x10000 float32": (10_000, "m.npy"), "csv 1000x1000": (1_000, "m.csv")}


def tree_of(revision: str, into: Path) -> Path:
    """The siamcli package of `revision`, extracted into `into` (the repository is not touched)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "siamcli"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def one_run(tree: Path, source: Path, output: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree))
    start = time.perf_counter()
    # cwd=tree: `python -m` puts the working folder first on sys.path, before PYTHONPATH
    subprocess.run([sys.executable, "-m", "siamcli", "matrix", str(source), "-o", str(output), "-q"], env=env,
                   cwd=tree, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD~1", help="the revision to compare with (default HEAD~1)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per tree and case (default 5)")
    parser.add_argument("--case", choices=["npy", "csv"], default=None, help="only this case")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=ROOT / "benchmarks") as tmp:
        tmp = Path(tmp)
        base = tree_of(args.base, Path(tempfile.mkdtemp(dir=tmp)))
        trees = {f"base {args.base}": base, "this tree": ROOT}
        rng = np.random.default_rng(0)
        print(f"{'case':28} {'tree':16} {'median s':>9} {'min s':>7}   runs")
        for case, (rows, name) in CASES.items():
            if args.case and not case.startswith(args.case):
                continue
            source = tmp / f"a{rows}.npy"
            np.save(source, rng.standard_normal((rows, 128)).astype(np.float32))
            times = {label: [] for label in trees}
            for _ in range(args.repeat):
                for label, tree in trees.items():
                    times[label].append(one_run(tree, source, tmp / name))
            for label, found in times.items():
                print(f"{case:28} {label:16} {statistics.median(found):9.3f} {min(found):7.3f}   "
                      + " ".join(f"{t:.2f}" for t in found))
            ratio = statistics.median(times["this tree"]) / statistics.median(times[f"base {args.base}"])
            print(f"{case:28} {'ratio (this/base)':16} {ratio:9.3f}")


if __name__ == "__main__":
    main()

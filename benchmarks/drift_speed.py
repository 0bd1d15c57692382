"""`siamcli drift` on reference 100,000 x 384 against current 100,000 x 384 (float32 .npy): wall time
and peak RSS of the installed executable at --memory 512M, and the same work done plainly in numpy
(the full pooled kernel matrix in float64, the permutations one at a time) for the ratio.

Data: rows of a random 384-d Gaussian with a decaying spectrum (as sentence embeddings have);
current is a second draw with its centroid moved by 2% of the spread along a random direction.

    python benchmarks/drift_speed.py [--rows 100000] [--dim 384] [--folder /tmp]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_sets(rows: int, dim: int, folder: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    scales = 1.0 / np.sqrt(np.arange(1, dim + 1))
    paths = (folder / f"drift_ref_{rows}x{dim}.npy", folder / f"drift_cur_{rows}x{dim}.npy")
    shift = rng.standard_normal(dim)
    shift *= 0.02 * np.sqrt((scales ** 2).sum()) / np.linalg.norm(shift)
    for path, move in zip(paths, (0.0, 1.0)):
        if not path.exists():
            x = rng.standard_normal((rows, dim), dtype=np.float32) * scales.astype(np.float32)
            np.save(path, x + (move * shift).astype(np.float32))
    return paths


def run_cli(ref: Path, cur: Path, memory: str) -> tuple[float, float, float, str]:
    """(wall seconds, peak RSS MiB, CPU seconds, stdout) of one run of the executable in a fresh process."""
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "w = time.perf_counter() - t; "
            "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
            "print(w, u.ru_maxrss / 1024, p.returncode, u.ru_utime + u.ru_stime); "
            "sys.stdout.write(p.stdout); sys.stderr.write(p.stderr)")
    args = [sys.executable, "-c", code, "siamcli", "drift", str(ref), str(cur), "--memory", memory, "-q", "-f", "json"]
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    head, _, body = out.stdout.partition("\n")
    wall, peak, status, cpu = head.split()
    if status not in ("0", "1"):
        raise SystemExit(out.stderr)
    return float(wall), float(peak), float(cpu), body


def plain_mmd(ref: Path, cur: Path, sample: int, permutations: int) -> tuple[float, float]:
    """(seconds before the permutations, seconds per permutation) of the MMD² permutation test alone,
    done plainly: the full float64 kernel matrix from scipy's pdist, one permutation at a time."""
    from scipy.spatial.distance import pdist, squareform

    start = time.perf_counter()
    rng = np.random.default_rng(0)
    a = np.load(ref, mmap_mode="r")
    b = np.load(cur, mmap_mode="r")
    x = np.asarray(a[np.sort(rng.choice(len(a), sample, replace=False))], dtype=np.float64)
    y = np.asarray(b[np.sort(rng.choice(len(b), sample, replace=False))], dtype=np.float64)
    z = np.concatenate([x, y])
    d = pdist(z)
    s = np.median(d)
    k = squareform(np.exp(-d ** 2 / (2 * s * s)))
    del d
    np.fill_diagonal(k, 1.0)
    n = len(x)

    def mmd2(idx):
        kxx = k[np.ix_(idx[:n], idx[:n])]
        kyy = k[np.ix_(idx[n:], idx[n:])]
        kxy = k[np.ix_(idx[:n], idx[n:])]
        return ((kxx.sum() - n) / (n * (n - 1)) + (kyy.sum() - n) / (n * (n - 1)) - 2 * kxy.mean())

    observed = mmd2(np.arange(2 * n))
    ready = time.perf_counter()
    null = [mmd2(rng.permutation(2 * n)) for _ in range(permutations)]
    _ = (1 + sum(v >= observed for v in null)) / (1 + permutations)
    return ready - start, (time.perf_counter() - ready) / permutations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--folder", default=tempfile.gettempdir())
    parser.add_argument("--plain-permutations", type=int, default=20,
                        help="permutations the plain version runs (its time is scaled to 1,000)")
    args = parser.parse_args()
    ref, cur = make_sets(args.rows, args.dim, Path(args.folder))
    print(f"siamcli drift, reference {args.rows:,} x {args.dim} against current {args.rows:,} x {args.dim} (float32 .npy); "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; defaults: --sample 5000, "
          "--permutations 1000, all three tests and the shifts")
    import json

    walls = {}
    for memory in ("512M", "2G"):
        wall, peak, cpu, body = run_cli(ref, cur, memory)
        walls[memory] = wall
        f = json.loads(body)
        print(f"  siamcli drift --memory {memory}: {wall:.1f} s wall ({cpu:.1f} s CPU), peak RSS {peak:.0f} MiB; "
              f"mmd p = {f['mmd_p_value']:.3g}, knn p = {f['knn_p_value']:.3g}, classifier AUC "
              f"{f['classifier_auc']:.3f}, centroid shift {f['centroid_distance_share']:.3%} of the spread, "
              f"drift {f['drift']}")
    if args.plain_permutations:
        setup, each = plain_mmd(ref, cur, 5000, args.plain_permutations)
        plain = setup + 1000 * each
        print(f"  plain numpy, the MMD² test alone (full 10,000² float64 kernel, {args.plain_permutations} "
              f"permutations timed, one at a time): {setup:.1f} s + {each:.3f} s per permutation = {plain:.0f} s "
              f"for 1,000")
        print(f"  ratio plain MMD² alone / siamcli drift (all three tests, --memory 512M): "
              f"{plain / walls['512M']:.1f}x")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""float32 euclidean before and after the common shift (issue 19), in one run of one machine.

    git worktree add /work/wt-pre19 main        # "before": the tree without the shift
    python benchmarks/euclidean_precision.py --before /work/wt-pre19 --rounds 3

Errors: the max abs error of siamcli before, siamcli after and scikit-learn's euclidean_distances
(which computes float32 input in float64 chunks) against scipy's cdist on float64 copies, on
scikit-learn's breast_cancer, digits, iris, wine and N(0,1) + 1000 (1,000 x 384); also the largest
error over max(1, |a|, |b|) (squared for sqeuclidean), the bound the README states.
Speed: all pairs of 16,000 x 384 float32 (euclidean, sqeuclidean); all pairs of 1,000 x 384 float32
with an offset of 1000 (euclidean: before, every pair was near and recomputed exactly); top-5 of
2,000 x 64 float32 with an offset of 1000 (the screen: before, every pair was a candidate; 20,000
rows took 23 GiB and were killed); 200,000 paired rows x 384 (where the fitted shift is not used but
still fitted). Each timed in a fresh process per tree, trees alternating, best of 5 calls per
process, median and best over rounds; ratio = after / before (< 1: after is faster); the process's
peak memory beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATASETS = ["breast_cancer", "digits", "iris", "wine", "offset"]
SPEED_CASES = ["allpairs-euclidean", "allpairs-sqeuclidean", "allpairs-offset", "topk-offset", "paired"]
#: Calls per process, the best one kept: the machine is shared, and other work only ever adds time.
CALLS = 5


def dataset(name: str):
    import numpy as np

    if name == "offset":
        return (np.random.default_rng(19).normal(size=(1000, 384)) + 1000.0).astype(np.float32)
    from sklearn import datasets

    return getattr(datasets, f"load_{name}")().data.astype(np.float32)


def errors() -> dict:
    """{dataset: {metric: [max abs error, max error / scale]}} of this interpreter's siamcli."""
    import numpy as np
    from scipy.spatial.distance import cdist

    import siamcli

    found = {}
    for name in DATASETS:
        x = dataset(name)
        x64 = x.astype(np.float64)
        norms = np.linalg.norm(x64, axis=1)
        scale = np.maximum(1.0, np.maximum(norms[:, None], norms[None, :]))
        found[name] = {}
        for metric, power in (("euclidean", 1), ("sqeuclidean", 2)):
            err = np.abs(siamcli.matrix(x, metric=metric).values.astype(np.float64) - cdist(x64, x64, metric))
            found[name][metric] = [float(err.max()), float((err / scale**power).max())]
    return found


def sklearn_errors() -> dict:
    import numpy as np
    from scipy.spatial.distance import cdist
    from sklearn.metrics.pairwise import euclidean_distances

    found = {}
    for name in DATASETS:
        x = dataset(name)
        x64 = x.astype(np.float64)
        norms = np.linalg.norm(x64, axis=1)
        scale = np.maximum(1.0, np.maximum(norms[:, None], norms[None, :]))
        found[name] = {}
        for metric, power in (("euclidean", 1), ("sqeuclidean", 2)):
            got = euclidean_distances(x, x, squared=metric == "sqeuclidean").astype(np.float64)
            err = np.abs(got - cdist(x64, x64, metric))
            found[name][metric] = [float(err.max()), float((err / scale**power).max())]
    return found


def speed(case: str) -> list[float]:
    """[best seconds of CALLS calls, peak MiB of the process] of one case in this interpreter's siamcli."""
    import resource
    import time

    import numpy as np

    import siamcli

    rng = np.random.default_rng(0)
    if case == "allpairs-offset":
        a = (rng.normal(size=(1000, 384)) + 1000).astype(np.float32)
        run = lambda: siamcli.matrix(a, metric="euclidean")  # noqa: E731
    elif case.startswith("allpairs"):
        a = rng.normal(size=(16000, 384)).astype(np.float32)
        out = np.empty((16000, 16000), np.float32)
        out.fill(0)  # pages touched before timing
        run = lambda: siamcli.matrix(a, metric=case.split("-")[1], out=out)  # noqa: E731
    elif case == "topk-offset":
        a = (rng.normal(size=(2000, 64)) + 1000).astype(np.float32)
        run = lambda: siamcli.compare(a, metric="euclidean", top_k=5)  # noqa: E731
    elif case == "paired":
        a, b = (rng.normal(size=(200000, 384)).astype(np.float32) for _ in range(2))
        run = lambda: siamcli.compare(a, b, metric="euclidean", paired=True)  # noqa: E731
    elif case == "numpy-product":
        a = rng.normal(size=(16000, 384)).astype(np.float32)
        b = a.copy()  # a @ a.T itself takes numpy's syrk path, 3-5x slower here
        out = np.empty((16000, 16000), np.float32)
        out.fill(0)
        run = lambda: np.matmul(a, b.T, out=out)  # noqa: E731
    else:
        raise SystemExit(f"unknown case {case}")
    best = float("inf")
    for _ in range(CALLS):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return [best, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]


def in_tree(tree: str, *args: str) -> object:
    env = {**os.environ, "PYTHONPATH": tree}
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", *args], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: {' '.join(args)} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", help="the checkout without the shift")
    parser.add_argument("--after", default=str(HERE.parent))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        print(json.dumps(errors() if kind == "errors" else sklearn_errors() if kind == "sklearn" else speed(rest[0])))
        return
    if not args.before:
        parser.error("--before is required")
    trees = {"before": args.before, "after": args.after}
    found = {label: in_tree(tree, "errors") for label, tree in trees.items()}
    found["scikit-learn"] = in_tree(args.after, "sklearn")
    print("max abs error against scipy cdist in float64 (float32 inputs); in brackets, the largest error over")
    print("max(1, |a|, |b|) (euclidean) or its square (sqeuclidean)")
    print(f"{'data':<14} {'metric':<12} {'siamcli before':>24} {'siamcli after':>24} {'scikit-learn':>24}"
          f" {'after/before':>12} {'after/sklearn':>13}")
    for name in DATASETS:
        for metric in ("euclidean", "sqeuclidean"):
            cells = [found[label][name][metric] for label in ("before", "after", "scikit-learn")]
            text = " ".join(f"{e:>11.3g} ({s:>9.2e})" for e, s in cells)
            before, after, theirs = (c[0] for c in cells)
            ratio = after / before if before else float("nan")
            print(f"{name:<14} {metric:<12} {text} {ratio:>12.2f} {after / theirs if theirs else float('nan'):>13.2f}")
    print(flush=True)
    times: dict[tuple[str, str], list[float]] = {}
    peaks: dict[tuple[str, str], float] = {}
    for round_ in range(args.rounds):
        for case in SPEED_CASES + ["numpy-product"]:
            for label, tree in trees.items() if case != "numpy-product" else [("numpy", args.after)]:
                seconds, peak = in_tree(tree, "speed", case)
                times.setdefault((case, label), []).append(seconds)
                peaks[(case, label)] = max(peaks.get((case, label), 0.0), peak)
        print(f"round {round_ + 1}: " + ", ".join(f"{c} {lbl} {v[-1]:.3f}s" for (c, lbl), v in times.items()), flush=True)
    print("\nseconds: per process the best of 5 calls; median and best over rounds; ratio = after / before;"
          " peak MiB of the process")
    print(f"{'case':<22} {'before':>8} {'after':>8} {'ratio':>6} {'best before':>12} {'best after':>11} {'ratio':>6}"
          f" {'MiB before':>11} {'MiB after':>10}   all rounds before | after")
    for case in SPEED_CASES:
        before, after = times[(case, "before")], times[(case, "after")]
        mb, ma = statistics.median(before), statistics.median(after)
        print(f"{case:<22} {mb:>8.3f} {ma:>8.3f} {ma / mb:>6.3f} {min(before):>12.3f} {min(after):>11.3f}"
              f" {min(after) / min(before):>6.3f} {peaks[(case, 'before')]:>11.0f} {peaks[(case, 'after')]:>10.0f}   "
              f"{' '.join(f'{t:.3f}' for t in before)} | {' '.join(f'{t:.3f}' for t in after)}")
    numpy_s = min(times[("numpy-product", "numpy")])
    print(f"numpy float32 product 16,000 x 384 (a @ b.T into a given array), best: {numpy_s:.3f} s; all pairs / numpy,"
          " best over rounds: " + ", ".join(f"{c.split('-')[1]} before {min(times[(c, 'before')]) / numpy_s:.2f}x "
                                            f"after {min(times[(c, 'after')]) / numpy_s:.2f}x"
                                            for c in SPEED_CASES[:2]))

if __name__ == "__main__":
    main()

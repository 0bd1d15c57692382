#!/usr/bin/env python3
"""float32 euclidean before and after issue 19 (common shift, float64 products), in one run of one machine.

    git worktree add /work/wt-pre19 main        # "before": the tree without the shift
    python benchmarks/euclidean_precision.py --before /work/wt-pre19 --rounds 3

Errors: the max abs error of siamcli before, siamcli after and scikit-learn (euclidean_distances,
which computes float32 input in float64 chunks; for top-5, NearestNeighbors' brute kneighbors)
against scipy's cdist on float64 copies, on scikit-learn's breast_cancer, digits, iris, wine and
N(0,1) + 1000 (1,000 x 384); also the largest error over max(1, |a|, |b|) (squared for
sqeuclidean), the bound docs/precision.md states. Beside them, the best a float32 product can do
("float32 floor"): rows less siamcli's shift, multiplied in float32, norms and |a|^2 + |b|^2 - 2ab
in float64, near pairs (as siamcli flags them) exact, each score rounded once; and how far float32
products themselves err, in units of 2**-24 |a||b| (the rows less the shift), on each set.
Speed: all pairs of 16,000 x 384 float32 against itself (euclidean, sqeuclidean) and of two such
sets (euclidean); all pairs of 1,000 x 384 float32 with an offset of 1000 (euclidean: before the
shift, every pair was near and recomputed exactly); top-5 of 2,000 x 64 float32 with an offset of
1000 (the screen: before, every pair was a candidate) and of 20,000 x 384; 200,000 paired rows x
384. Peers: numpy's product of two 16,000 x 384 sets in float32 and float64, scikit-learn's
euclidean_distances of two such sets. Each timed in a fresh process per tree, trees alternating,
best of 5 calls per process, median and best over rounds; ratio = after / before (< 1: after is
faster); the process's peak memory beside it.
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
SPEED_CASES = ["allpairs-euclidean", "allpairs-sqeuclidean", "twosets-euclidean", "allpairs-offset", "topk-offset",
               "topk-euclidean", "paired"]
#: Peers, timed once per round in the "after" interpreter: the same two-set product in numpy (float32 and
#: float64) and scikit-learn's euclidean_distances.
PEER_CASES = ["numpy-product", "numpy-product64", "sklearn-twosets"]
#: Calls per process, the best one kept: the machine is shared, and other work only ever adds time.
CALLS = 5


def dataset(name: str):
    import numpy as np

    if name == "offset":
        return (np.random.default_rng(19).normal(size=(1000, 384)) + 1000.0).astype(np.float32)
    from sklearn import datasets

    return getattr(datasets, f"load_{name}")().data.astype(np.float32)


def with_scale(name: str):
    """The float32 rows of a data set, their float64 copy, and max(1, |a|, |b|) of every pair."""
    import numpy as np

    x = dataset(name)
    x64 = x.astype(np.float64)
    norms = np.linalg.norm(x64, axis=1)
    return x, x64, np.maximum(1.0, np.maximum(norms[:, None], norms[None, :]))


def errors(tool: str) -> dict:
    """{dataset: {metric: [max abs error, max error / scale]}} of this interpreter's siamcli (tool
    "siamcli") or of scikit-learn ("sklearn"): each one's (matrix(x, metric), top5(x) -> rows, cols,
    distances)."""
    import numpy as np
    from scipy.spatial.distance import cdist

    if tool == "siamcli":
        import siamcli

        matrix = lambda x, metric: siamcli.matrix(x, metric=metric).values  # noqa: E731

        def top5(x):
            ranking = siamcli.compare(x, metric="euclidean", top_k=5)
            return ranking.a_index, ranking.b_index, ranking.score
    else:
        from sklearn.metrics.pairwise import euclidean_distances
        from sklearn.neighbors import NearestNeighbors

        matrix = lambda x, metric: euclidean_distances(x, x, squared=metric == "sqeuclidean")  # noqa: E731

        def top5(x):
            distances, index = NearestNeighbors(n_neighbors=6, algorithm="brute").fit(x).kneighbors(x)
            return np.repeat(np.arange(len(x)), 6), index.ravel(), distances.ravel()

    found = {}
    for name in DATASETS:
        x, x64, scale = with_scale(name)
        found[name] = {}
        for metric, power in (("euclidean", 1), ("sqeuclidean", 2)):
            err = np.abs(matrix(x, metric).astype(np.float64) - cdist(x64, x64, metric))
            found[name][metric] = [float(err.max()), float((err / scale**power).max())]
        rows, cols, distances = top5(x)
        err = np.abs(distances.astype(np.float64) - cdist(x64, x64)[rows, cols])
        found[name]["euclidean top-5"] = [float(err.max()), float((err / scale[rows, cols]).max())]
    return found


def floor_errors() -> dict:
    """errors()'s {dataset: {metric: [max abs error, max error / scale]}} of the float32 floor (see the
    module's docstring), and under "product error" the largest |float32 ab - ab| / (2**-24 |a||b|)."""
    import numpy as np
    from scipy.spatial.distance import cdist

    from siamcli.metrics import NEAR_TOLERANCE
    from siamcli.metrics.shift import fit_shift, shifted

    found = {}
    for name in DATASETS:
        x, x64, scale = with_scale(name)
        centred = shifted(x, fit_shift([x], x.shape[1]))
        wide = centred.astype(np.float64)
        sq = np.einsum("ij,ij->i", wide, wide)
        product = centred @ centred.copy().T  # (a copy: not numpy's syrk path)
        exact_product = wide @ wide.T
        lengths = np.sqrt(sq)
        with np.errstate(divide="ignore", invalid="ignore"):
            units = np.abs(product - exact_product) / (2.0**-24 * lengths[:, None] * lengths[None, :])
        squared = sq[:, None] + sq[None, :] - 2.0 * product.astype(np.float64)
        near = squared <= NEAR_TOLERANCE[np.dtype(np.float32)] * (sq[:, None] + sq[None, :])
        rows, cols = np.nonzero(near)
        squared[rows, cols] = np.einsum("ij,ij->i", wide[rows] - wide[cols], wide[rows] - wide[cols])
        squared = np.maximum(squared, 0.0)
        found[name] = {"product error": [float(np.nanmax(units)), 0.0]}
        for metric, power, values in (("euclidean", 1, np.sqrt(squared)), ("sqeuclidean", 2, squared)):
            err = np.abs(values.astype(np.float32).astype(np.float64) - cdist(x64, x64, metric))
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
    elif case in ("twosets-euclidean", "sklearn-twosets"):
        a, b = (rng.normal(size=(16000, 384)).astype(np.float32) for _ in range(2))
        out = np.empty((16000, 16000), np.float32)
        out.fill(0)
        if case == "sklearn-twosets":
            from sklearn.metrics.pairwise import euclidean_distances

            run = lambda: euclidean_distances(a, b)  # noqa: E731  (allocates its own output)
        else:
            run = lambda: siamcli.matrix(a, b, metric="euclidean", out=out)  # noqa: E731
    elif case == "topk-euclidean":
        a = rng.normal(size=(20000, 384)).astype(np.float32)
        run = lambda: siamcli.compare(a, metric="euclidean", top_k=5)  # noqa: E731
    elif case == "topk-offset":
        a = (rng.normal(size=(2000, 64)) + 1000).astype(np.float32)
        run = lambda: siamcli.compare(a, metric="euclidean", top_k=5)  # noqa: E731
    elif case == "paired":
        a, b = (rng.normal(size=(200000, 384)).astype(np.float32) for _ in range(2))
        run = lambda: siamcli.compare(a, b, metric="euclidean", paired=True)  # noqa: E731
    elif case.startswith("numpy-product"):
        dtype = np.float64 if case.endswith("64") else np.float32
        a = rng.normal(size=(16000, 384)).astype(dtype)
        b = a.copy()  # a @ a.T itself takes numpy's syrk path, 3-5x slower here
        out = np.empty((16000, 16000), dtype)
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
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the speed cases (0: errors only)")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        print(json.dumps(floor_errors() if kind == "floor" else errors(rest[0]) if kind == "errors" else speed(rest[0])))
        return
    if not args.before:
        parser.error("--before is required")
    trees = {"before": args.before, "after": args.after}
    found = {label: in_tree(tree, "errors", "siamcli") for label, tree in trees.items()}
    found["scikit-learn"] = in_tree(args.after, "errors", "sklearn")
    print("max abs error against scipy cdist in float64 (float32 inputs); in brackets, the largest error over")
    print("max(1, |a|, |b|) (euclidean) or its square (sqeuclidean)")
    print(f"{'data':<14} {'metric':<15} {'siamcli before':>24} {'siamcli after':>24} {'scikit-learn':>24}"
          f" {'after/before':>12} {'after/sklearn':>13}")
    for name in DATASETS:
        for metric in ("euclidean", "sqeuclidean", "euclidean top-5"):
            cells = [found[label][name][metric] for label in ("before", "after", "scikit-learn")]
            text = " ".join(f"{e:>11.3g} ({s:>9.2e})" for e, s in cells)
            before, after, theirs = (c[0] for c in cells)
            ratio = after / before if before else float("nan")
            print(f"{name:<14} {metric:<15} {text} {ratio:>12.2f} {after / theirs if theirs else float('nan'):>13.2f}")
    floor = in_tree(args.after, "floor")
    print("\nthe float32 floor (rows less the shift multiplied in float32, the rest in float64, near pairs exact):")
    print(f"{'data':<14} {'metric':<12} {'float32 floor':>24} {'scikit-learn':>24} {'floor/sklearn':>13}"
          f" {'largest float32 product error':>30}")
    for name in DATASETS:
        for metric in ("euclidean", "sqeuclidean"):
            ours, theirs = floor[name][metric], found["scikit-learn"][name][metric]
            text = " ".join(f"{e:>11.3g} ({s:>9.2e})" for e, s in (ours, theirs))
            print(f"{name:<14} {metric:<12} {text} {ours[0] / theirs[0] if theirs[0] else float('nan'):>13.2f}"
                  f" {floor[name]['product error'][0]:>21.1f} x 2^-24|a||b|")
    print(flush=True)
    if args.rounds < 1:  # errors only
        return
    times: dict[tuple[str, str], list[float]] = {}
    peaks: dict[tuple[str, str], float] = {}
    for round_ in range(args.rounds):
        for case in SPEED_CASES + PEER_CASES:
            for label, tree in trees.items() if case in SPEED_CASES else [("peer", args.after)]:
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
    peers = {case: min(times[(case, "peer")]) for case in PEER_CASES}
    print("peers, best over rounds: numpy 16,000 x 384 product into a given array: float32 "
          f"{peers['numpy-product']:.3f} s, float64 {peers['numpy-product64']:.3f} s "
          f"({peers['numpy-product64'] / peers['numpy-product']:.2f}x); scikit-learn euclidean_distances of two "
          f"16,000 x 384 sets: {peers['sklearn-twosets']:.3f} s")
    for case in ("allpairs-euclidean", "allpairs-sqeuclidean", "twosets-euclidean"):
        print(f"{case}: before {min(times[(case, 'before')]) / peers['numpy-product']:.2f}x, after "
              f"{min(times[(case, 'after')]) / peers['numpy-product']:.2f}x the float32 product; after "
              f"{min(times[(case, 'after')]) / peers['sklearn-twosets']:.2f}x scikit-learn's two-set time")


if __name__ == "__main__":
    main()

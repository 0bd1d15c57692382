#!/usr/bin/env python3
"""A set compared with itself, before and after issue 19's symmetry, and faiss.knn, in one run.

    python benchmarks/self_symmetry.py --before /work/wt-pre19s         # the issue's sizes
    python benchmarks/self_symmetry.py --before DIR --rows 20000 --matrix-rows 4000 --repeat 1

`--before` is a checkout of siamcli before the change (`git worktree add DIR <commit>`); "after"
is this checkout. Every case runs in a fresh process with PYTHONPATH set to one checkout, in
rounds (before, after, peer), --repeat times; the best wall time of each is reported with its
CPU time (user + system of the process: less sensitive to other work on the machine) and the
ratios. Cases:

- self near-duplicates: siamcli.compare(X, top_k=5) on rows x 384 float32, cosine and euclidean
  (timed in the process, after loading and importing: numba too when installed, as faiss is),
  "after" as installed (with siamcli[fast] on a CPU with AMX or AVX512-BF16: its screen's
  products in bfloat16) and "after-float32" with SIAMCLI_BFLOAT16=0 (float32 products),
  against faiss.knn(X, X, 6) (the set against itself: 6 to leave out each row's own; cosine on
  rows normalised in the timed part);
- `siamcli matrix X.npy -o out.npy --dtype float32` on matrix-rows x 384 (the whole command); the
  output is checked against the two-file matrix (X against a copy of X);
- siamcli.compare(X, limit=1000) and compare(X, limit="all", threshold=0.25), cosine.

Every "after" answer is checked to be the same as "before": the same pairs, ranks and scores to
the last bit, or for euclidean (summed in float64 since issue 19) the same pairs and ranks with
the scores' largest relative difference (the matrix: equal entries counted against the two-file
matrix, with the largest difference).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
import numpy as np
case, data, out = sys.argv[1], sys.argv[2], sys.argv[3]
x = np.load(data)
if case.startswith("faiss"):
    import faiss
    start = time.perf_counter()
    if case == "faiss-cosine":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        scores, index = faiss.knn(x, x, 6, metric=faiss.METRIC_INNER_PRODUCT)
    else:
        scores, index = faiss.knn(x, x, 6)
    seconds = time.perf_counter() - start
    np.savez(out, a=np.repeat(np.arange(len(x)), 6), b=index.ravel(), score=scores.ravel())
else:
    import siamcli
    kind, metric = case.split("-")
    options = {"topk": dict(top_k=5), "limit": dict(limit=1000),
               "threshold": dict(limit="all", threshold=0.25)}[kind]
    siamcli.compare(x[:300], metric=metric, **options)  # imports and compilation out of the timing
    try:  # numba (siamcli[fast]: the self top-k's hits pass) is imported on first large use; faiss before timing too
        import numba  # noqa: F401
    except ImportError:
        pass
    start = time.perf_counter()
    r = siamcli.compare(x, metric=metric, **options)
    seconds = time.perf_counter() - start
    np.savez(out, a=r.a_index, b=r.b_index, score=r.score, rank=r.rank)
print(json.dumps({"seconds": seconds}))
"""


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(cmd: list[str], pythonpath: str, timed_inside: bool, cwd: Path, **env) -> tuple[float, float]:
    """(seconds, cpu seconds) of one process: its own timing when `timed_inside`, else the whole run.
    It runs in the data's folder: `python -c` and `-m` put the working directory first on the path."""
    env = dict(os.environ, PYTHONPATH=pythonpath, **env)
    cpu, start = cpu_of_children(), time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=cwd)
    wall, cpu = time.perf_counter() - start, cpu_of_children() - cpu
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    if timed_inside:
        wall = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    return wall, cpu


def same_ranking(x: Path, y: Path) -> str:
    """"same answers" when the pairs, ranks and scores are the same to the last bit; the pairs and
    ranks alike with scores apart (float32 euclidean scores are summed in float64 since issue 19's
    precision part): how far apart, relative; else "ANSWERS DIFFER"."""
    a, b = np.load(x), np.load(y)
    if not np.array_equal(a["a"], b["a"]):
        return "ANSWERS DIFFER"
    if all(np.array_equal(a[key], b[key]) for key in ("b", "rank")) and \
            np.array_equal(a["score"].view(np.int64), b["score"].view(np.int64)):
        return "same answers"
    # the k scores of each row, in rank order, against each other: a pair ordered differently is a tie
    # or near-tie of float32 scores (its score is then within the difference shown)
    apart = np.abs(a["score"] - b["score"]) / np.maximum(1e-300, np.abs(a["score"]))
    moved = int(np.count_nonzero(a["b"] != b["b"]))
    return (f"scores within {apart.max():.1e} relative of before's, rank by rank; {moved} of {len(a['b']):,} "
            "neighbours differ (near-ties)" if apart.max() < 1e-5 else "ANSWERS DIFFER")


def faiss_agrees(siam: Path, peer: Path, k: int = 5) -> float:
    """The share of siamcli's neighbours (self-pairs left out) that faiss also lists in its 6."""
    s, f = np.load(siam), np.load(peer)
    listed = set(zip(f["a"].tolist(), f["b"].tolist()))
    return float(np.mean([(a, b) in listed for a, b in zip(s["a"].tolist(), s["b"].tolist())]))


def report(name: str, times: dict[str, list[tuple[float, float]]], note: str) -> None:
    best = {who: min(t, key=lambda wc: wc[0]) for who, t in times.items()}
    line = "  ".join(f"{who} {w:7.2f} s (cpu {c:7.2f})" for who, (w, c) in best.items())
    before, after = best["before"], best["after"]
    ratios = f"before/after {before[0] / after[0]:.2f}x (cpu {before[1] / after[1]:.2f}x)"
    if "faiss" in best:
        ratios += f"  faiss/after {best['faiss'][0] / after[0]:.2f}x (cpu {best['faiss'][1] / after[1]:.2f}x)"
    if "after-float32" in best:
        single = best["after-float32"]
        ratios += (f"  after-float32/after {single[0] / after[0]:.2f}x  faiss/after-float32 "
                   f"{best['faiss'][0] / single[0]:.2f}x (cpu {best['faiss'][1] / single[1]:.2f}x)")
    print(f"{name:<34} {line}\n{'':<34} {ratios}  {note}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="a checkout of siamcli before the change")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--matrix-rows", type=int, default=16_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--cases", default="topk,matrix,limit", help="a comma list of topk, matrix, limit")
    args = parser.parse_args()
    paths = {"before": str(Path(args.before).resolve()), "after": str(HERE)}
    cases = args.cases.split(",")
    print(f"{args.rows:,} x {args.dim} float32 (matrix: {args.matrix_rows:,}); {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.1f} at the start; best of {args.repeat}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        x = np.random.default_rng(0).normal(size=(args.rows, args.dim)).astype(np.float32)
        data = tmp / "x.npy"
        np.save(data, x)
        small = tmp / "m.npy"
        np.save(small, x[: args.matrix_rows])
        np.save(tmp / "m-copy.npy", x[: args.matrix_rows])
        child = [sys.executable, "-c", CHILD]
        kinds = [("topk", m) for m in ("cosine", "euclidean")] if "topk" in cases else []
        kinds += [(k, "cosine") for k in ("limit", "threshold")] if "limit" in cases else []
        for kind, metric in kinds:
            times: dict[str, list] = {"before": [], "after": []}
            peer = f"faiss-{metric}" if kind == "topk" else None
            if peer:
                times["after-float32"] = []  # after with its screen's products in float32 (SIAMCLI_BFLOAT16=0)
                times["faiss"] = []
            for _ in range(args.repeat):
                for who in list(times):
                    case = peer if who == "faiss" else f"{kind}-{metric}"
                    tree = paths["before" if who == "before" else "after"]
                    times[who].append(run([*child, case, str(data), str(tmp / f"{who}.npz")], tree, True, tmp,
                                          **({"SIAMCLI_BFLOAT16": "0"} if who == "after-float32" else {})))
            note = same_ranking(tmp / "before.npz", tmp / "after.npz")
            if peer:
                note += f"; float32 screen: {same_ranking(tmp / 'after-float32.npz', tmp / 'after.npz')} as bfloat16's"
            if peer:
                note += f"; faiss lists {faiss_agrees(tmp / 'after.npz', tmp / 'faiss.npz'):.4%} of them"
            report(f"compare X {kind} {metric}", times, note)
        if "matrix" in cases:
            times = {"before": [], "after": []}
            executable = [sys.executable, "-m", "siamcli"]
            for _ in range(args.repeat):
                for who in times:
                    out = tmp / f"{who}-matrix.npy"
                    times[who].append(run([*executable, "matrix", str(small), "-o", str(out), "--dtype", "float32",
                                           "-q"], paths[who], False, tmp))
            run([*executable, "matrix", str(small), str(tmp / "m-copy.npy"), "-o", str(tmp / "two.npy"), "--dtype",
                 "float32", "-q"], paths["after"], False, tmp)
            after, two = np.load(tmp / "after-matrix.npy", mmap_mode="r"), np.load(tmp / "two.npy", mmap_mode="r")
            before = np.load(tmp / "before-matrix.npy", mmap_mode="r")
            equal = float(np.mean([np.mean(after[i : i + 1000] == two[i : i + 1000]) for i in range(0, len(two), 1000)]))
            largest = max(float(np.abs(after[i : i + 1000] - two[i : i + 1000]).max()) for i in range(0, len(two), 1000))
            symmetric = all(np.array_equal(after[i : i + 1000], after[:, i : i + 1000].T) for i in range(0, len(two), 1000))
            was = float(np.mean([np.mean(before[i : i + 1000] == two[i : i + 1000]) for i in range(0, len(two), 1000)]))
            report("matrix X -o out.npy --dtype float32", times,
                   f"after: {equal:.4%} of entries equal to the two-file matrix bit for bit (before: {was:.4%}), "
                   f"largest difference {largest:.2e}; symmetric: {symmetric}")


if __name__ == "__main__":
    main()

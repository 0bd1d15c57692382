#!/usr/bin/env python3
"""Top-k of queries against a gallery with the screen in bfloat16 and in float32, and faiss.knn, in one run.

    python benchmarks/bfloat16_screen.py                 # 2,000 x 200,000 x 384, top-10, best of 3
    python benchmarks/bfloat16_screen.py --queries 500 --gallery 50000 --repeat 1

Each run is a fresh process (imports and MKL's loading outside the timing, as faiss's): siamcli
as installed ("bfloat16": with siamcli[fast] on a CPU with AMX or AVX512-BF16) and with
SIAMCLI_BFLOAT16=0 ("float32"), and faiss.knn, in rounds; the best wall time of each is reported
with its CPU time (user + system: less sensitive to other work on the machine) and the ratios.
The two siamcli rankings are checked to be the same to the last bit, and faiss's neighbours to be
siamcli's. Self rankings are in benchmarks/self_symmetry.py.
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
who, metric, queries, gallery, k, out = sys.argv[1:7]
a, b, k = np.load(queries), np.load(gallery), int(k)
if who == "faiss":
    import faiss
    start = time.perf_counter()
    if metric == "cosine":
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        scores, index = faiss.knn(a, b, k, metric=faiss.METRIC_INNER_PRODUCT)
    else:
        scores, index = faiss.knn(a, b, k)
    seconds = time.perf_counter() - start
    np.savez(out, b=index.ravel(), score=scores.ravel())
else:
    import siamcli
    from siamcli.engine import bfloat16
    siamcli.compare(a[:50], b[:500], metric=metric, top_k=k)  # imports out of the timing
    bfloat16.gemm()  # MKL loaded and timed (None with SIAMCLI_BFLOAT16=0)
    start = time.perf_counter()
    r = siamcli.compare(a, b, metric=metric, top_k=k)
    seconds = time.perf_counter() - start
    np.savez(out, b=r.b_index, score=r.score)
print(json.dumps({"seconds": seconds}))
"""


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(args: list[str], **env) -> tuple[float, float]:
    """(seconds timed inside, cpu seconds of the whole process)."""
    cpu = cpu_of_children()
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(HERE), **env))
    if done.returncode:
        raise SystemExit(f"{args[0]} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"], cpu_of_children() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--gallery", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"top-{args.k} of {args.queries:,} queries x {args.gallery:,} gallery x {args.dim} float32; "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start; best of {args.repeat}",
          flush=True)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.save(tmp / "a.npy", rng.normal(size=(args.queries, args.dim)).astype(np.float32))
        np.save(tmp / "b.npy", rng.normal(size=(args.gallery, args.dim)).astype(np.float32))
        for metric in ("cosine", "euclidean"):
            times: dict[str, list] = {"bfloat16": [], "float32": [], "faiss": []}
            for _ in range(args.repeat):
                for who in times:
                    env = {"SIAMCLI_BFLOAT16": "0"} if who == "float32" else {}
                    times[who].append(run([who, metric, str(tmp / "a.npy"), str(tmp / "b.npy"), str(args.k),
                                           str(tmp / f"{who}.npz")], **env))
            best = {who: min(t) for who, t in times.items()}
            half, single = np.load(tmp / "bfloat16.npz"), np.load(tmp / "float32.npz")
            same = np.array_equal(half["b"], single["b"]) and np.array_equal(half["score"].view(np.int64),
                                                                              single["score"].view(np.int64))
            peer = np.load(tmp / "faiss.npz")["b"]
            agree = float(np.mean(peer == half["b"]))
            print(f"{metric:<10} " + "  ".join(f"{who} {w:6.2f} s (cpu {c:6.2f})" for who, (w, c) in best.items()))
            print(f"{'':<10} float32/bfloat16 {best['float32'][0] / best['bfloat16'][0]:.2f}x "
                  f"(cpu {best['float32'][1] / best['bfloat16'][1]:.2f}x)  faiss/bfloat16 "
                  f"{best['faiss'][0] / best['bfloat16'][0]:.2f}x (cpu {best['faiss'][1] / best['bfloat16'][1]:.2f}x)  "
                  f"faiss/float32 {best['faiss'][0] / best['float32'][0]:.2f}x  "
                  f"{'same rankings' if same else 'RANKINGS DIFFER'}; faiss lists {agree:.4%} of the same neighbours "
                  "in the same places", flush=True)


if __name__ == "__main__":
    main()

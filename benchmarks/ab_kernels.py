"""A/B timing of two siamcli checkouts in one process, old and new interleaved round by round.

    python benchmarks/ab_kernels.py --old /path/to/old/checkout [--rounds 5] [--quick]

The checkout this file lives in is "new"; the other is imported as a second package
(`siamcli_old`). Cases (float32, 384 dims, benchmarks/run.py's data): all pairs 10,000 x 10,000
cosine / euclidean / dot; top-10 of 2,000 x 200,000 cosine / euclidean; paired 1,000,000 cosine /
euclidean. Prints each case's median times, the ratio new/old per round and its median, and the
ratio of the fastest runs (least disturbed by other load); below 1: new is faster.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]


def load(name: str, root: Path):
    spec = importlib.util.spec_from_file_location(name, root / "siamcli" / "__init__.py",
                                                  submodule_search_locations=[str(root / "siamcli")])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def embeddings(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """As benchmarks/run.py: float32 rows with log-normal norms around 1."""
    x = rng.standard_normal((n, d), dtype=np.float32)
    x *= (rng.lognormal(0.0, 0.25, size=n) / math.sqrt(d)).astype(np.float32)[:, None]
    return x


def timed(fn) -> float:
    gc.collect()
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    del result
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", required=True, type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a tenth of every size")
    parser.add_argument("--extra", action="store_true",
                        help="also correlation (all pairs 2,000 x 2,000, paired 200,000) and the cdist guard "
                             "(manhattan, chebyshev 2,000 x 2,000)")
    parser.add_argument("--only", default="", help="run only the cases whose names contain this")
    args = parser.parse_args()
    new, old = load("siamcli", HERE), load("siamcli_old", args.old)
    scale = 10 if args.quick else 1
    rng = np.random.default_rng(20240611)
    d = 384
    a, b = embeddings(rng, 10_000 // scale, d), embeddings(rng, 10_000 // scale, d)
    q, g = embeddings(rng, 2_000 // scale, d), embeddings(rng, 200_000 // scale, d)
    pa = embeddings(rng, 1_000_000 // scale, d)
    pb = embeddings(rng, 1_000_000 // scale, d)
    pb += pa
    cases = []
    for metric in ("cosine", "euclidean", "dot"):
        cases.append((f"allpairs {metric}", lambda s, m=metric: s.matrix(a, b, metric=m).values))
    for metric in ("cosine", "euclidean"):
        cases.append((f"top-10 {metric}", lambda s, m=metric: s.compare(q, g, metric=m, top_k=10)))
    for metric in ("cosine", "euclidean"):
        cases.append((f"paired {metric}", lambda s, m=metric: s.compare(pa, pb, metric=m, paired=True)))
    if args.extra:
        c, e = a[: 2_000 // scale], b[: 2_000 // scale]
        cases.append(("allpairs correlation", lambda s: s.matrix(c, e, metric="correlation").values))
        cases.append(("paired correlation", lambda s: s.compare(pa[: 200_000 // scale], pb[: 200_000 // scale],
                                                                metric="correlation", paired=True)))
        for metric in ("manhattan", "chebyshev"):
            cases.append((f"nonblas {metric}", lambda s, m=metric: s.matrix(c, e, metric=m).values))
    cases = [case for case in cases if args.only in case[0]]
    print(f"numpy {np.__version__}; rounds {args.rounds}; old {args.old}; new {HERE}")
    for name, call in cases:
        for s in (old, new):  # warm-up, and the results must agree
            call(s)
        times = {"old": [], "new": []}
        for r in range(args.rounds):
            order = (("old", old), ("new", new)) if r % 2 == 0 else (("new", new), ("old", old))
            for label, s in order:
                times[label].append(timed(lambda: call(s)))
        ratios = [n / o for n, o in zip(times["new"], times["old"])]
        print(f"{name:20s} old {statistics.median(times['old']):8.3f} s  new {statistics.median(times['new']):8.3f} s  "
              f"new/old: median of rounds {statistics.median(ratios):.3f}, of minima "
              f"{min(times['new']) / min(times['old']):.3f}  (rounds: {', '.join(f'{x:.2f}' for x in ratios)})",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

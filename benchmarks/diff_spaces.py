"""Time and peak memory of `siamcli diff` (siamcli.reports.diff.diff_spaces), step by step.

    python benchmarks/diff_spaces.py [--quick]

Data: A float32 rows as benchmarks/run.py makes them; B = A times a random matrix plus noise
(a related space of another dimension). For each case and --memory budget it prints the whole
call's time and peak memory beyond the inputs (benchmarks/memwatch.py), and the time of its
steps run alone: the CKA/Procrustes products, the two exact top-k searches (the engine's,
k = 10) and the Spearman pair scores; and, for scale, one `compare -k 10` of A against itself.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memwatch import PeakMemory  # noqa: E402

from siamcli import engine  # noqa: E402
from siamcli.reports.diff import agreement, diff_spaces, neighbours  # noqa: E402
from siamcli.reports.diff.report import _comparisons  # noqa: E402


def spaces(n: int, p: int, q: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, p), dtype=np.float32)
    a *= (rng.lognormal(0.0, 0.25, size=n) / math.sqrt(p)).astype(np.float32)[:, None]
    b = a @ rng.standard_normal((p, q), dtype=np.float32) / math.sqrt(p)
    b += 0.3 * rng.standard_normal((n, q), dtype=np.float32) / math.sqrt(q)
    return a, b


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def case(n: int, p: int, q: int, memory: int) -> None:
    a, b = spaces(n, p, q)
    with PeakMemory() as peak:
        start = time.perf_counter()
        report = diff_spaces(a, b, top_k=10, memory=memory)
        whole = time.perf_counter() - start
    comps = _comparisons(a, b, "cosine", None, {}, dict(memory=memory))
    steps = {
        "products": seconds(lambda: agreement.products(a, b, memory, ("A", "B"))),
        "top-k A": seconds(lambda: neighbours.nearest(comps[0], 10)),
        "top-k B": seconds(lambda: neighbours.nearest(comps[1], 10)),
        "spearman": seconds(lambda: agreement.spearman(comps, 100_000, 0)),
        "compare -k 10 (A)": seconds(lambda: list(engine.rankings(comps[0], top_k=10))),
    }
    mib = lambda x: "?" if x is None else f"{x / 2**20:,.0f} MiB"  # noqa: E731
    print(f"n={n:,} p={p} q={q} --memory {memory / 2**20:,.0f}M: {whole:.2f} s, peak RSS {mib(peak.peak_rss)} "
          f"(anon {mib(peak.peak_anon)}); jaccard_mean {report.jaccard.mean():.4f} cka {report.cka:.4f} "
          f"rho {report.rsa_spearman:.4f}")
    print("   " + "; ".join(f"{name} {t:.2f} s" for name, t in steps.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smallest case only")
    args = parser.parse_args()
    cases = [(5_000, 64, 128)] if args.quick else [(5_000, 64, 128), (20_000, 128, 256), (50_000, 384, 384)]
    for n, p, q in cases:
        for memory in (64 * 2**20, 512 * 2**20):
            case(n, p, q, memory)


if __name__ == "__main__":
    main()

"""What finding the metrics that order pairs alike costs `evaluate --metric all` (issue 18).

    python benchmarks/same_order.py [--rows 2000] [--rounds 3]

Unit-length float32 rows (384 dims) in 20 classes, every pair (rows^2 / 2), every metric, no
bootstrap: evaluate as it is, and with orders.mark_same_order replaced by a no-op, interleaved
round by round in one process. Prints the median times and their ratio (above 1: the check costs
that much), the check alone timed on the results of the last run (the A/B ratio drowns in the
noise of a shared machine), and the groups found.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from siamcli.reports.evaluation import evaluate
from siamcli.reports.evaluation import evaluator, orders


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(18)
    x = rng.standard_normal((args.rows, 384), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    classes = rng.integers(0, 20, size=args.rows)
    x += 0.05 * np.eye(20, 384, dtype=np.float32)[classes]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    real = orders.mark_same_order
    times = {"with": [], "without": []}
    for _ in range(args.rounds):
        for case in ("with", "without"):
            evaluator.mark_same_order = real if case == "with" else (lambda results: results)
            start = time.perf_counter()
            result = evaluate(x, classes=classes, metric="all", bootstrap=0, folds=2)
            times[case].append(time.perf_counter() - start)
            if case == "with":
                groups = {r.name: r.same_order_as for r in result.results if r.same_order_as}
    evaluator.mark_same_order = real
    alone = []
    for _ in range(args.rounds):
        for r in result.results:
            r.same_order_as = None
        start = time.perf_counter()
        orders.mark_same_order(result.results)
        alone.append(time.perf_counter() - start)
    pairs = args.rows * (args.rows - 1) // 2
    print(f"evaluate --metric all, {args.rows:,} rows x 384 (float32, unit), {pairs:,} pairs, "
          f"{len(result.results)} metrics, {args.rounds} rounds")
    for case, values in times.items():
        print(f"  {case:>7} the same-order check: median {statistics.median(values):.3f} s  (runs: "
              + ", ".join(f"{v:.3f}" for v in values) + ")")
    print(f"  ratio with / without: {statistics.median(times['with']) / statistics.median(times['without']):.3f}")
    print(f"  the check alone: median {statistics.median(alone):.3f} s, "
          f"{statistics.median(alone) / statistics.median(times['with']):.1%} of the run with it")
    print(f"  grouped: {groups}")


if __name__ == "__main__":
    main()

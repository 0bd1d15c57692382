"""Calibration of `siamcli drift`'s three tests on real embeddings (the bundled digits, 540 x 32).

1. Null: random halves of one set (seeded splits): the rejection rate at alpha 0.05 per test should
   be within 0.02-0.08 (p-values uniform), and the KS distance of the p-values from uniform.
2. Class split: digits 0-4 against 5-9 must be detected.
3. Mean shift: one random half against the other shifted by delta x (the reference half's RMS
   spread) along a unit direction (the top principal axis, and a random direction): the smallest
   delta of the grid detected in at least 80% of runs, per test.
   These embeddings use about five directions (the sixth principal axis has 1% of the first's
   deviation): a random direction lies mostly outside them, where any shift stands out, so it is
   detected at far smaller deltas than a shift along the top axis.

Permutation tests use fewer permutations than the default (200, not 1,000) to keep the run short;
the p-value's resolution is then 1/201, which is fine at alpha 0.05.

    python benchmarks/drift_calibration.py [--splits 400] [--runs 50]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from siamcli.reports.drift import detect_drift

HERE = Path(__file__).resolve().parent.parent / "examples" / "siamese"
ALPHA = 0.05
PERMUTATIONS = 200
TESTS = {"mmd": "mmd_p_value", "knn": "knn_p_value", "classifier": "classifier_p_value"}
SHIFTS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6)


def p_values(a: np.ndarray, b: np.ndarray, seed: int) -> dict[str, float]:
    report = detect_drift(a, b, alpha=ALPHA, permutations=PERMUTATIONS, seed=seed)
    return {name: report.figures[key] for name, key in TESTS.items()}


def halves(x: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(10_000 + seed).permutation(len(x))
    return x[order[: len(x) // 2]], x[order[len(x) // 2:]]


def null_calibration(x: np.ndarray, splits: int) -> None:
    from scipy.stats import kstest

    found = {name: [] for name in TESTS}
    for seed in range(splits):
        for name, p in p_values(*halves(x, seed), seed).items():
            found[name].append(p)
    print(f"1. null: {splits} random halves ({len(x) // 2} vs {len(x) - len(x) // 2} rows), alpha {ALPHA}")
    for name, ps in found.items():
        ps = np.array(ps)
        rate = float((ps < ALPHA).mean())
        ok = "within" if 0.02 <= rate <= 0.08 else "OUTSIDE"
        print(f"   {name:<10} rejection rate {rate:.3f} ({ok} 0.02-0.08); rate at 0.01 {float((ps < 0.01).mean()):.3f}; "
              f"KS distance of p-values from uniform {kstest(ps, 'uniform').statistic:.3f}")


def class_split(x: np.ndarray, labels: np.ndarray) -> None:
    ps = p_values(x[labels <= 4], x[labels >= 5], 0)
    print("2. class split, digits 0-4 against 5-9 (271 vs 269 rows): "
          + ", ".join(f"{name} p = {p:.3g} ({'detected' if p < ALPHA else 'NOT detected'})" for name, p in ps.items()))


def shift_detection(x: np.ndarray, runs: int) -> None:
    print(f"3. mean shift of one random half against the other, {runs} runs per shift (the same {runs} seeded splits "
          f"for every shift, so the rates at the smallest shifts repeat those splits' null rejections); shift in "
          f"units of the reference half's RMS spread; detection rate at alpha {ALPHA}")
    for direction in ("top principal axis", "random direction"):
        rates = {name: [] for name in TESTS}
        for delta in SHIFTS:
            hits = {name: 0 for name in TESTS}
            for run in range(runs):
                a, b = halves(x, 5000 + run)
                centred = a - a.mean(axis=0)
                spread = float(np.sqrt((centred ** 2).sum(axis=1).mean()))
                if direction == "random direction":
                    u = np.random.default_rng(20_000 + run).standard_normal(x.shape[1])
                else:
                    u = np.linalg.svd(centred, full_matrices=False)[2][0]
                u /= np.linalg.norm(u)
                for name, p in p_values(a, b + delta * spread * u, run).items():
                    hits[name] += p < ALPHA
            for name in TESTS:
                rates[name].append(hits[name] / runs)
        print(f"   along the {direction}:")
        print("     shift      " + " ".join(f"{d:>6g}" for d in SHIFTS))
        for name, r in rates.items():
            smallest = next((d for d, rate in zip(SHIFTS, r) if rate >= 0.8), None)
            print(f"     {name:<10} " + " ".join(f"{v:6.2f}" for v in r)
                  + f"   smallest detected in 80%: {'none in grid' if smallest is None else smallest}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=400)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    x = np.load(HERE / "test_embeddings.npy").astype(np.float64)
    labels = np.loadtxt(HERE / "test_labels.txt", dtype=np.int64)
    print(f"siamcli drift calibration on {HERE / 'test_embeddings.npy'} ({x.shape[0]} x {x.shape[1]}); "
          f"{PERMUTATIONS} permutations per test (the default is 1,000)")
    start = time.perf_counter()
    null_calibration(x, args.splits)
    class_split(x, labels)
    shift_detection(x, args.runs)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()

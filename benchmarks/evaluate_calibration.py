"""Are evaluate's p-values and 95% intervals honest? Seeded simulations with a known answer,
through siamcli's library (`siamcli.evaluate` for the paired test, the uncertainty functions
for the intervals). Prints rates with their binomial standard errors; no verdicts.

1. The paired test under the null: two models of equal quality. Each repetition draws fresh
   items and pairs, embeds them (a same pair: two noisy views of one point; a different pair:
   two points), and makes model A and model B by adding independent noise of the same size to
   each; DeLong's paired test of AUC_A = AUC_B should reject at 0.05 about 5% of the time.
   - iid: every pair has its own two items (the test's assumption);
   - digits: the bundled trained embeddings of 540 digits with noise added, on a fresh balanced
     sample of 1,000 pairs by class (pairs share items, as real evaluations do).
   And its power: model B with 1.3x the noise.
2. Coverage, binormal scores (positives N(mu, 1), negatives N(0, 1), m positive and n negative
   pairs): true AUC = Phi(mu / sqrt 2), EER = Phi(-mu / 2), TAR at FAR x = Phi(mu - z(1 - x)),
   best accuracy = max over t of (m (1 - Phi(t - mu)) + n Phi(t)) / (m + n); how often each 95%
   interval (DeLong for the AUC, the percentile bootstrap for the rest) covers the truth.

    python benchmarks/evaluate_calibration.py                 # 1,000 repetitions each (~2 min on 2 cores)
    python benchmarks/evaluate_calibration.py --reps 200 --bootstrap 500
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.stats import norm

import siamcli
from siamcli.reports.evaluation import uncertainty as un
from siamcli.reports.evaluation import verification_report

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "siamese"


def rate(hits: int, reps: int) -> str:
    p = hits / reps
    return f"{p:6.3f} ± {math.sqrt(p * (1 - p) / reps):.3f}  ({hits}/{reps})"


def iid_models(rng, pairs: int, dim: int, noise_b: float):
    """Left and right embeddings of `pairs` independent pairs (half same) seen by two models."""
    same = np.arange(pairs) < pairs // 2
    left = rng.normal(size=(pairs, dim))
    right = np.where(same[:, None], left + rng.normal(scale=0.9, size=(pairs, dim)), rng.normal(size=(pairs, dim)))
    view = lambda x, s: x + rng.normal(scale=s, size=x.shape)  # noqa: E731
    return {"a": (view(left, 1.0), view(right, 1.0)), "b": (view(left, noise_b), view(right, noise_b))}, same


def p_value(result) -> float:
    """The paired test's p-value of the lower-ranked model."""
    return next(r.auc_p_value for r in result.results if r.auc_p_value is not None)


def null_iid(reps: int, noise_b: float = 1.0) -> int:
    hits = 0
    for seed in range(reps):
        models, same = iid_models(np.random.default_rng(seed), 1000, 16, noise_b)
        result = siamcli.evaluate(models, labels=same.astype(int), metric="cosine", bootstrap=0, folds=2)
        hits += p_value(result) < 0.05
    return hits


def null_digits(reps: int, noise_b: float = 1.0) -> int:
    emb = np.load(EXAMPLES / "test_embeddings.npy").astype(np.float64)
    classes = (EXAMPLES / "test_labels.txt").read_text().split()
    scale = 0.5 * emb.std()
    hits = 0
    for seed in range(reps):
        rng = np.random.default_rng(10_000 + seed)
        models = {"a": emb + rng.normal(scale=scale, size=emb.shape),
                  "b": emb + rng.normal(scale=scale * noise_b, size=emb.shape)}
        result = siamcli.evaluate(models, classes=classes, sample=1000, seed=seed, metric="euclidean", bootstrap=0,
                                  folds=2)
        hits += p_value(result) < 0.05
    return hits


def binormal_truth(mu: float, m: int, n: int, fars) -> dict:
    best = minimize_scalar(lambda t: -(m * norm.sf(t - mu) + n * norm.cdf(t)), bounds=(-5, mu + 5), method="bounded")
    return {"auc": norm.cdf(mu / math.sqrt(2)), "eer": norm.cdf(-mu / 2),
            "tar": [norm.cdf(mu - norm.ppf(1 - x)) for x in fars], "best_accuracy": -best.fun / (m + n)}


def coverage(reps: int, mu: float, m: int, n: int, n_resamples: int) -> dict:
    fars = [0.1, 0.01]
    truth = binormal_truth(mu, m, n, fars)
    same = np.arange(m + n) < m
    hits = {"auc": 0, "eer": 0, "best_accuracy": 0, **{f"tar@{x}": 0 for x in fars}}
    inside = lambda ci, value: ci is not None and ci[0] <= value <= ci[1]  # noqa: E731
    for seed in range(reps):
        rng = np.random.default_rng(50_000 + seed)
        scores = np.concatenate([rng.normal(mu, 1, m), rng.normal(0, 1, n)])
        report = verification_report(scores, same, True, fars=fars, folds=2)
        hits["auc"] += inside(un.auc_interval(un.auc_components(scores, same), report.auc), truth["auc"])
        boot = un.bootstrap_verification(scores, same, True, fars, n_resamples, seed)
        hits["eer"] += inside(boot["eer"], truth["eer"])
        hits["best_accuracy"] += inside(boot["best_accuracy"], truth["best_accuracy"])
        for x, ci, value in zip(fars, boot["tar_at_far"], truth["tar"]):
            hits[f"tar@{x}"] += inside(ci, value)
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=1000, help="repetitions of each simulation (default 1000)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples per interval (default 1000)")
    args = parser.parse_args()
    reps = args.reps
    started = time.perf_counter()
    print(f"siamcli {siamcli.__version__}, numpy {np.__version__}; {reps} seeded repetitions each\n")
    print("1. DeLong's paired test at 0.05 (nominal 0.05 under the null)")
    print(f"   null, iid pairs (1,000 pairs, cosine)              rejection rate {rate(null_iid(reps), reps)}")
    print(f"   null, digits + noise (1,000 sampled pairs)         rejection rate {rate(null_digits(reps), reps)}")
    print(f"   power, iid pairs, model B with 1.3x the noise      rejection rate {rate(null_iid(reps, 1.3), reps)}")
    print(f"   power, digits, model B with 1.3x the noise         rejection rate {rate(null_digits(reps, 1.3), reps)}")
    print(f"\n2. 95% interval coverage of the true value, binormal scores ({args.bootstrap} bootstrap resamples)")
    for mu, m, n in ((1.5, 200, 200), (2.5, 200, 200), (1.5, 100, 1000)):
        hits = coverage(reps, mu, m, n, args.bootstrap)
        print(f"   mu {mu}, {m} positive and {n} negative pairs (true AUC {norm.cdf(mu / math.sqrt(2)):.4f})")
        for key, count in hits.items():
            print(f"     {key:<14} coverage {rate(count, reps)}")
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

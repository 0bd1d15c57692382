"""Extreme magnitudes through a siamcli executable (issue 13, point 3): every metric but the discrete
ones and jensenshannon, with `compare -k 3`, `compare --limit 20`, `compare --paired` and `matrix`,
on 30 x 16 inputs (float32 near 1e10, 1e19, 3e38 and subnormal; float64 near 1e-300, 1e-170, 1e150,
1e300, and rows of 1e200 with rows of 1e-200). Counts exit statuses, runs that print null scores
or anything on stderr (beyond mahalanobis' note), and scores off the long double reference of
tests/test_metric_ranges.py (rounded to float64) by more than 1e-4 (absolute for cosine-like scores,
else relative) plus twice the inputs' smallest subnormal.

    python benchmarks/magnitude_sweep.py                      # the siamcli on PATH
    cd /tmp && SIAM="env PYTHONPATH=/path/to/old python -m siamcli" python /path/to/benchmarks/magnitude_sweep.py
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_metric_ranges import LD, reference  # noqa: E402

COMMAND = os.environ.get("SIAM", "siamcli").split()
METRICS = ["cosine", "cosine_distance", "angular", "dot", "euclidean", "sqeuclidean", "manhattan", "chebyshev",
           "minkowski", "mahalanobis", "correlation", "canberra", "braycurtis"]
BOUNDED = {"cosine", "cosine_distance", "angular", "correlation", "canberra", "braycurtis"}
MODES = [["compare", "-k", "3"], ["compare", "--limit", "20"], ["compare", "--paired"], ["matrix"]]


def inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    cases = {
        "f32_1e10": (rng.normal(size=(30, 16)) * 1e10).astype(np.float32),
        "f32_1e19": (rng.normal(size=(30, 16)) * 1e19).astype(np.float32),
        "f32_3e38": np.clip(rng.normal(size=(30, 16)) * 2e38, -3.4e38, 3.4e38).astype(np.float32),
        "f32_sub": (rng.normal(size=(30, 16)) * 1e-42).astype(np.float32),
        "f64_1e-170": rng.normal(size=(30, 16)) * 1e-170,
        "f64_1e-300": rng.normal(size=(30, 16)) * 1e-300,
        "f64_1e150": rng.normal(size=(30, 16)) * 1e150,
        "f64_1e300": rng.normal(size=(30, 16)) * 1e300,
        "f64_mixed": np.vstack([rng.normal(size=(15, 16)) * 1e200, rng.normal(size=(15, 16)) * 1e-200]),
    }
    for x in cases.values():
        x[x == 0] = x.flat[np.flatnonzero(x)[0]]  # subnormal scales round some values to 0: no zero rows
    return cases


def wrong_scores(x: np.ndarray, metric: str, stdout: str) -> int:
    if metric == "mahalanobis":
        return 0  # its covariance is fitted: tests/test_metric_ranges.py checks it against scipy instead
    # rounded to float64 (a dot product of 1e-170s is 0 there), within the inputs' smallest subnormal
    with np.errstate(over="ignore"):  # pairs beyond float64 (inf): a run that lists them must fail instead
        ref = reference(metric, x, x).astype(np.float64).astype(LD)
    tiny = LD(2 * float(np.finfo(x.dtype).smallest_subnormal))
    count = 0
    for line in stdout.splitlines():
        record = json.loads(line)
        if "values" in record:
            pairs = [(record["row_index"], j, v) for j, v in enumerate(record["values"])]
        else:
            pairs = [(record["a_index"], record["b_index"], record["score"])]
        for i, j, value in pairs:
            if value is None:
                continue  # counted as null
            scale = max(LD(1), abs(ref[i, j])) if metric in BOUNDED else abs(ref[i, j])
            count += not abs(LD(value) - ref[i, j]) <= LD(1e-4) * scale + tiny
    return count


def main() -> int:
    stats = collections.Counter()
    with tempfile.TemporaryDirectory() as folder:
        cases = inputs()
        for name, x in cases.items():
            np.save(Path(folder) / f"{name}.npy", x)
        for name, metric, mode in itertools.product(cases, METRICS, MODES):
            path = str(Path(folder) / f"{name}.npy")
            files = [path, path] if mode[-1] == "--paired" else [path]
            proc = subprocess.run([*COMMAND, mode[0], *files, *mode[1:], "-m", metric, "-f", "jsonl"],
                                  capture_output=True, text=True)
            stats[f"exit {proc.returncode}"] += 1
            err = [line for line in proc.stderr.splitlines() if not line.startswith("mahalanobis:")]
            if proc.returncode == 0:
                nulls = proc.stdout.count("null")
                wrong = wrong_scores(x=cases[name], metric=metric, stdout=proc.stdout)
                stats["exit 0 runs with null scores"] += nulls > 0
                stats["null scores"] += nulls
                stats["exit 0 runs with wrong scores"] += wrong > 0
                stats["wrong scores"] += wrong
                stats["exit 0 runs with stderr"] += bool(err)
            elif proc.returncode == 2:
                stats["exit 2 with one Error: line"] += len(err) == 1 and err[0].startswith("Error: ")
    for key in sorted(stats):
        print(f"{key:32s} {stats[key]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""The same top-k from a CSV and from the .npy it was written from, in one run.

    python benchmarks/text_topk.py                 # 20,000 x 384 float32, -k 10 within the set
    python benchmarks/text_topk.py --rows 5000     # a quick run

One CSV holds each float32 value as repr() of the Python float (its exact decimal), the other as
its shortest decimal (what pandas' and polars' to_csv write for a float32 frame); siamcli reads
both back as the float32 values and computes as fast as the .npy. `--dtype float64` on the CSV
shows what computing text in float64 (siamcli before issue 15) costs. Each case runs the installed
`siamcli` executable in a fresh process, --repeat times in rounds; the best wall time is reported,
with the ratio to the .npy case, and the outputs are checked to be the same neighbours.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_files(folder: Path, rows: int, dim: int) -> tuple[Path, Path, Path]:
    values = np.random.default_rng(0).normal(size=(rows, dim)).astype(np.float32)
    npy, csv, shortest = folder / "e.npy", folder / "e.csv", folder / "shortest.csv"
    np.save(npy, values)
    with open(csv, "w") as out:
        for row in values.tolist():  # float32 -> Python float -> repr: exact decimal of the float32
            out.write(",".join(map(repr, row)) + "\n")
    with open(shortest, "w") as out:  # each float32's shortest decimal, as pandas' and polars' to_csv write it
        for row in values.astype(str):
            out.write(",".join(row) + "\n")
    return npy, csv, shortest


def run(executable: str, path: Path, k: int, extra: list[str]) -> tuple[float, list]:
    start = time.perf_counter()
    out = subprocess.run([executable, "compare", str(path), "-k", str(k), "-f", "jsonl", "-q", *extra],
                         capture_output=True, text=True, check=True).stdout
    seconds = time.perf_counter() - start
    return seconds, [(r["a_index"], r["b_index"]) for r in map(json.loads, out.splitlines())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    executable = shutil.which("siamcli", path=os.path.dirname(sys.executable)) or shutil.which("siamcli")
    with tempfile.TemporaryDirectory() as tmp:
        npy, csv, shortest = write_files(Path(tmp), args.rows, args.dim)
        cases = {".npy": (npy, []), "CSV (exact decimals)": (csv, []), "CSV (shortest, as pandas)": (shortest, []),
                 "CSV --dtype float64": (csv, ["--dtype", "float64"])}
        best, answers = {name: float("inf") for name in cases}, {}
        for _ in range(args.repeat):
            for name, (path, extra) in cases.items():
                seconds, pairs = run(executable, path, args.k, extra)
                best[name] = min(best[name], seconds)
                answers[name] = pairs
    print(f"compare X -k {args.k} within {args.rows:,} x {args.dim} float32 (best of {args.repeat}, wall time)")
    for name, seconds in best.items():
        same = "same neighbours" if answers[name] == answers[".npy"] else "DIFFERENT neighbours"
        print(f"  {name:26} {seconds:8.2f} s   {seconds / best['.npy']:5.2f}x the .npy   {same}")


if __name__ == "__main__":
    main()

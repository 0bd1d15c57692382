#!/usr/bin/env python3
"""siamcli.load of objects in memory beside the line a user would write to get the array, in one run.

    python benchmarks/api_objects.py                  # 50,000 x 384 float32 (the lists take 1 GB)
    python benchmarks/api_objects.py --rows 20000     # a quick run

Each object holds the same float32 values: a numpy array, nested lists, a pandas DataFrame of 384
numeric columns and one of a column of arrays (as `df["emb"] = list(x)` makes it), a polars
DataFrame of an Array column and one of a List column. Its peer is the shortest numpy/pandas/polars
line that gives the (rows, dim) array (`np.asarray`, `df.to_numpy`, `np.stack`, `Series.to_numpy`);
siamcli.load also checks every value is finite and reads ids. Times are the best of --repeat runs in
this process (one object at a time, built before the clock starts); ratio = siamcli / peer.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        float(np.asarray(out).sum(dtype=np.float64)) if isinstance(out, np.ndarray) else None
        times.append(time.perf_counter() - start)
    return min(times)


def cases(x: np.ndarray):
    import pandas as pd
    import polars as pl

    columns = [f"e{j}" for j in range(x.shape[1])]
    yield "numpy array", lambda: x, lambda obj: np.asarray(obj)
    yield "nested lists", lambda: x.tolist(), lambda obj: np.asarray(obj, dtype=np.float64)
    yield "pandas, numeric columns", lambda: pd.DataFrame(x, columns=columns), lambda df: df.to_numpy(np.float32)
    yield "pandas, column of arrays", lambda: pd.DataFrame({"emb": list(x)}), lambda df: np.stack(df["emb"].to_numpy())
    yield "polars, Array column", lambda: pl.DataFrame({"emb": x}), lambda df: df["emb"].to_numpy()
    yield "polars, List column", lambda: pl.DataFrame({"emb": x.tolist()}, schema={"emb": pl.List(pl.Float32)}), \
        lambda df: np.stack(df["emb"].to_numpy())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import siamcli

    x = np.random.default_rng(0).normal(size=(args.rows, args.dim)).astype(np.float32)
    print(f"siamcli.load of objects in memory: {args.rows:,} x {args.dim} float32, best of {args.repeat}")
    print(f"{'object':<28}{'siamcli s':>11}{'peer s':>10}{'ratio':>8}  same values")
    for name, make, peer in cases(x):
        obj = make()
        ours = best(lambda: np.asarray(siamcli.load(obj).vectors), args.repeat)
        theirs = best(lambda: peer(obj), args.repeat)
        same = np.array_equal(np.asarray(siamcli.load(obj).vectors, dtype=np.float64), np.asarray(peer(obj), dtype=np.float64))
        print(f"{name:<28}{ours:>11.3f}{theirs:>10.3f}{ours / theirs:>8.2f}  {same}")
        del obj


if __name__ == "__main__":
    main()

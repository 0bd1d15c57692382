#!/usr/bin/env python3
"""Loading embeddings: siamcli.io.load_embeddings beside each format's own reader, in one run.

    python benchmarks/loading.py                      # 200,000 x 384 float32 (the CSV is 1.6 GB)
    python benchmarks/loading.py --rows 20000         # a quick run
    python benchmarks/loading.py --dir /tmp/bench     # keep the files there, and reuse them next time

The same float32 values are written as .npy, CSV (each value as repr() of the Python float, so the
text denotes the float32 exactly; no header), Parquet and Feather (an id column and a
fixed-size-list column, as pyarrow writes them) and HDF5 (one dataset). Each case runs in a fresh
subprocess, --repeat times (in rounds over all the cases, so that a busy spell of the machine
touches every case): the time is the best run's (each reader's module imported before the
clock starts; what a reader imports as it reads, as siamcli does pyarrow, is timed), the peak is
the largest VmHWM (peak resident memory) of the runs.
Every case ends by summing the array, so data read lazily (a memory-mapped .npy) is counted as read.
Ratios: text cases against numpy.loadtxt, binary ones against the format's own reader; the peak
against the float64 array (rows x dim x 8 bytes). A format siamcli cannot read on this checkout is
reported as not available.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

MiB = 2**20
CHILD = r"""
import json, sys, time
import numpy as np
status = lambda key: int([l for l in open("/proc/self/status") if l.startswith(key)][0].split()[1]) * 1024
base = status("VmRSS")
case, path, dim = sys.argv[1], sys.argv[2], int(sys.argv[3])
exec(compile(sys.argv[5], "setup", "exec"))  # the reader's module: imported before the clock starts
start = time.perf_counter()
exec(compile(sys.argv[4], "case", "exec"))
array = np.asarray(array)
total = float(array.sum(dtype=np.float64))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak": status("VmHWM"), "base": base, "shape": list(array.shape),
                  "dtype": str(array.dtype), "sum": total}))
"""

SIAMCLI = "array = sio.load_embeddings(path).vectors"
SIAMCLI_NUMPY_ENGINE = "fastcsv.ENGINES = ('numpy',)\narray = sio.load_embeddings(path).vectors"
#: The module each reader's code uses, imported before its clock starts.
SETUP = {"siamcli": "import siamcli.io as sio\nfrom siamcli.io import fastcsv", "pandas": "import pandas as pd",
         "pyarrow.csv": "import pyarrow.csv as pc", "pyarrow.parquet": "import pyarrow.parquet as pq",
         "pyarrow.feather": "import pyarrow.feather as pf", "h5py": "import h5py", "numpy": ""}
ARROW_TO_NUMPY = ("def flat(column, dim):\n"
                  "    values = column.combine_chunks().flatten()\n"
                  "    return values.to_numpy().reshape(-1, dim)\n")
#: (name, format, siamcli suffix, module to import first (SETUP), code that sets `array` from `path`,
#:  the case its time is compared with)
CASES = [
    ("siamcli load_embeddings", "csv", ".csv", "siamcli", SIAMCLI, "numpy.loadtxt"),
    ("siamcli, numpy engine (no pyarrow)", "csv", ".csv", "siamcli", SIAMCLI_NUMPY_ENGINE, "numpy.loadtxt"),
    ("numpy.loadtxt", "csv", None, "numpy", "array = np.loadtxt(path, delimiter=',')", "numpy.loadtxt"),
    ("pandas.read_csv (engine c)", "csv", None, "pandas",
     "array = pd.read_csv(path, header=None, engine='c').to_numpy()", "numpy.loadtxt"),
    ("pandas.read_csv (engine pyarrow)", "csv", None, "pandas",
     "array = pd.read_csv(path, header=None, engine='pyarrow').to_numpy()", "numpy.loadtxt"),
    ("pyarrow.csv.read_csv", "csv", None, "pyarrow.csv",
     "table = pc.read_csv(path, read_options=pc.ReadOptions(autogenerate_column_names=True))\n"
     "array = np.column_stack([c.to_numpy() for c in table.columns])", "numpy.loadtxt"),
    ("siamcli load_embeddings", "npy", ".npy", "siamcli", SIAMCLI, "np.load"),
    ("np.load", "npy", None, "numpy", "array = np.load(path)", "np.load"),
    ("siamcli load_embeddings", "parquet", ".parquet", "siamcli", SIAMCLI, "pyarrow.parquet.read_table"),
    ("pyarrow.parquet.read_table", "parquet", None, "pyarrow.parquet",
     ARROW_TO_NUMPY + "array = flat(pq.read_table(path, columns=['embedding']).column(0), dim)",
     "pyarrow.parquet.read_table"),
    ("siamcli load_embeddings", "feather", ".feather", "siamcli", SIAMCLI, "pyarrow.feather.read_table"),
    ("pyarrow.feather.read_table", "feather", None, "pyarrow.feather",
     ARROW_TO_NUMPY + "array = flat(pf.read_table(path, columns=['embedding']).column(0), dim)",
     "pyarrow.feather.read_table"),
    ("siamcli load_embeddings", "hdf5", ".h5", "siamcli", SIAMCLI, "h5py dataset[:]"),
    ("h5py dataset[:]", "hdf5", None, "h5py", "with h5py.File(path, 'r') as f:\n    array = f['embeddings'][:]",
     "h5py dataset[:]"),
]
FILES = {"csv": "e.csv", "npy": "e.npy", "parquet": "e.parquet", "feather": "e.feather", "hdf5": "e.h5"}


def make_files(folder: Path, rows: int, dim: int) -> dict[str, str]:
    """The same float32 values in every format (kept and reused when `folder` has them for this size)."""
    stamp = folder / "size.json"
    if stamp.exists() and json.loads(stamp.read_text()) == [rows, dim]:
        return {fmt: str(folder / name) for fmt, name in FILES.items()}
    array = (np.random.default_rng(15).standard_normal((rows, dim)) * 0.05).astype(np.float32)
    np.save(folder / FILES["npy"], array)
    with open(folder / FILES["csv"], "w") as out:
        for start in range(0, rows, 10_000):
            out.write("".join(",".join(map(repr, row)) + "\n" for row in array[start : start + 10_000].tolist()))
    try:
        import pyarrow as pa
        import pyarrow.feather as pf
        import pyarrow.parquet as pq

        values = pa.FixedSizeListArray.from_arrays(pa.array(array.reshape(-1)), dim)
        table = pa.table({"id": [f"doc{i}" for i in range(rows)], "embedding": values})
        pq.write_table(table, folder / FILES["parquet"])
        pf.write_feather(table, folder / FILES["feather"])
    except ImportError:
        print("pyarrow is not installed: no Parquet or Feather cases", file=sys.stderr)
    try:
        import h5py

        with h5py.File(folder / FILES["hdf5"], "w") as f:
            f.create_dataset("embeddings", data=array)
    except ImportError:
        print("h5py is not installed: no HDF5 cases", file=sys.stderr)
    stamp.write_text(json.dumps([rows, dim]))
    return {fmt: str(folder / name) for fmt, name in FILES.items()}


def siamcli_reads(suffix: str) -> bool:
    from siamcli.io.formats import suffixes

    return suffix in suffixes()


def run_once(code: str, setup: str, path: str, dim: int, name: str) -> dict | str:
    done = subprocess.run([sys.executable, "-c", CHILD, name, path, str(dim), code, setup],
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return f"failed: {last[:70]}"
    return json.loads(done.stdout)


def best_of(runs: list[dict]) -> dict:
    """The fastest run, with the largest peak and the smallest base of all."""
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["peak"] = max(r["peak"] for r in runs)
    best["base"] = min(r["base"] for r in runs)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", help="where the files are made (default: a temporary folder, removed after)")
    parser.add_argument("--only", help="formats to run, comma-separated (csv,npy,parquet,feather,hdf5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.dir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        files = make_files(folder, args.rows, args.dim)
        f64 = args.rows * args.dim * 8
        print(f"{args.rows:,} x {args.dim} float32 values; float64 array {f64 / MiB:,.0f} MiB; "
              f"CSV {os.path.getsize(files['csv']) / MiB:,.0f} MiB; best of {args.repeat}, fresh process each")
        only = set(args.only.split(",")) if args.only else None
        cases = [case for case in CASES if not only or case[1] in only]
        results: dict = {}
        for name, fmt, suffix, _, _, _ in cases:
            if not os.path.exists(files[fmt]):
                results[(name, fmt)] = "not available (no file: its writer is not installed)"
            elif suffix is not None and not siamcli_reads(suffix):
                results[(name, fmt)] = f"not available (siamcli reads no {suffix} on this checkout)"
        runs: dict = {}
        for round_ in range(args.repeat):  # rounds over every case: a busy spell of the machine touches them all
            for name, fmt, _, lib, code, _ in cases:
                if (name, fmt) in results:
                    continue
                outcome = run_once(code, SETUP[lib], files[fmt], args.dim, name)
                if isinstance(outcome, str):
                    results[(name, fmt)] = outcome
                    continue
                runs.setdefault((name, fmt), []).append(outcome)
                print(f"  round {round_ + 1}: {name} ({fmt}): {outcome['seconds']:.2f} s", file=sys.stderr, flush=True)
        for key, found in runs.items():
            results.setdefault(key, best_of(found))
        print_table(results, f64)


def print_table(results: dict, f64: int) -> None:
    print(f"{'case':38} {'format':8} {'seconds':>8} {'ratio':>6} {'peak MiB':>9} {'over base':>9} "
          f"{'peak/f64':>8}  dtype")
    for name, fmt, _, _, _, reference in CASES:
        outcome = results.get((name, fmt))
        if outcome is None:
            continue
        if isinstance(outcome, str):
            print(f"{name:38} {fmt:8} {outcome}")
            continue
        ref = results.get((reference, fmt))
        ratio = f"{outcome['seconds'] / ref['seconds']:6.2f}" if isinstance(ref, dict) else "     -"
        print(f"{name:38} {fmt:8} {outcome['seconds']:8.2f} {ratio} {outcome['peak'] / MiB:9,.0f} "
              f"{(outcome['peak'] - outcome['base']) / MiB:9,.0f} {outcome['peak'] / f64:8.2f}  {outcome['dtype']}")
    print("ratio: seconds against numpy.loadtxt (csv) or the format's own reader; peak/f64: peak resident "
          "memory of the process over the size of the float64 array; over base: the peak less the memory "
          "of the process before the case")


if __name__ == "__main__":
    main()

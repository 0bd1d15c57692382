#!/usr/bin/env python3
"""Time and peak memory of siamcli's loaders on valid files and on the hostile inputs of issue 13.

    python benchmarks/loaders.py                   # the siamcli this Python imports
    PYTHONPATH=/path/to/other/checkout python benchmarks/loaders.py --label before

Each case runs in a fresh subprocess (so peak RSS, VmHWM, is the case's own): it prints the case, the
median and minimum wall time of --repeat runs, the peak resident memory of the child
and how the load ended (ok, or the exception class and the first 70 characters of its message).
Files are made once in --dir (default: a temporary folder, removed at the end).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

MiB = 2**20
CHILD = r"""
import resource, sys, time, json
limit = int(sys.argv[4])  # address space: a runaway load fails here instead of waking the OOM killer
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import siamcli.io as sio
path, kwargs, repeat = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
times, outcome = [], "ok"
for _ in range(repeat):
    start = time.perf_counter()
    try:
        loaded = sio.load_embeddings(path, **kwargs)
        outcome = f"ok {loaded.vectors.shape}"
    except BaseException as exc:
        outcome = f"{type(exc).__name__}: {str(exc).replace(path, 'FILE')[:70]}"
    times.append(time.perf_counter() - start)
    loaded = None
peak = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0]  # not ru_maxrss: it survives exec
print(json.dumps({"times": times, "outcome": outcome, "peak_mib": int(peak.split()[1]) / 1024}))
"""


def deflate_zeros(total: int, block: int = 4 * MiB) -> tuple[bytes, int]:
    """A raw deflate stream of `total` zero bytes built from one repeated full-flush block
    (fast to make at any size), and the CRC-32 of those zeros."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    unit = comp.compress(bytes(block)) + comp.flush(zlib.Z_FULL_FLUSH)
    count, rest = divmod(total, block)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    end = tail.compress(bytes(rest)) + tail.flush()
    crc, zeros = 0, bytes(block)
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(bytes(rest), crc)
    return unit * count + end, crc


def npz_bomb(path: Path, rows: int, dim: int) -> None:
    """An .npz whose only member is a float32 (rows, dim) array of zeros, deflated: a few MB on disk."""
    header = _npy_header(rows, dim)
    body_size = rows * dim * 4
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    head_part = comp.compress(header) + comp.flush(zlib.Z_FULL_FLUSH)
    zeros, crc = deflate_zeros(body_size)
    data = head_part + zeros
    crc = zlib.crc32(header)  # crc of header then zeros
    block = bytes(4 * MiB)
    left = body_size
    while left:
        step = min(left, len(block))
        crc = zlib.crc32(block[:step], crc)
        left -= step
    size = len(header) + body_size
    name = b"embeddings.npy"
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), size, len(name), 0) + name
    central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(data), size,
                          len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    path.write_bytes(local + data + central + end)


def gzip_bomb(path: Path, total: int, line: bytes = b"0,0,0,0\n") -> None:
    """A gzip file of `total` bytes of repeated `line` (valid CSV), a few MB on disk."""
    block = line * (4 * MiB // len(line))
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    unit = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    count = total // len(block)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    head = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    path.write_bytes(head + unit * count + end + struct.pack("<II", crc, (count * len(block)) & 0xFFFFFFFF))


def _npy_header(rows: int, dim: int) -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (rows, dim)})
    return buf.getvalue()


def make_files(folder: Path) -> dict[str, tuple[str, dict]]:
    rng = np.random.default_rng(20240611)
    a = rng.standard_normal((20000, 384)).astype(np.float32)
    ids = np.array([f"img{i}.jpg" for i in range(len(a))])
    np.savetxt(folder / "e.csv", a, delimiter=",", fmt="%.7g")
    with open(folder / "ids.csv", "w") as f:
        f.write("id," + ",".join(f"d{j}" for j in range(a.shape[1])) + "\n")
        for i, row in enumerate(a):
            f.write(ids[i] + "," + ",".join("%.7g" % x for x in row) + "\n")
    np.save(folder / "e.npy", a)
    np.savez(folder / "e.npz", embeddings=a, ids=ids)
    np.savez_compressed(folder / "ec.npz", embeddings=a, ids=ids)
    np.save(folder / "big.npy", rng.standard_normal((200000, 384)).astype(np.float32))
    (folder / "liar.npy").write_bytes(_npy_header(1_000_000, 384) + bytes(12345))
    (folder / "liar-huge.npy").write_bytes(_npy_header(10**9, 384) + bytes(12345))
    (folder / "liar-big.npy").write_bytes(_npy_header(100_000_000, 384) + bytes(80 * MiB))
    npz_bomb(folder / "bomb.npz", 1_500_000, 384)  # 2.3 GB of float32 zeros
    gzip_bomb(folder / "bomb.csv.gz", 2_300_000_000)
    return {
        "csv 20000x384": ("e.csv", {}),
        "csv 20000x384 ids+header": ("ids.csv", {}),
        "npy 20000x384 f32": ("e.npy", {}),
        "npy 200000x384 f32 (mmap)": ("big.npy", {}),
        "npz 20000x384 + ids": ("e.npz", {}),
        "npz compressed 20000x384 + ids": ("ec.npz", {}),
        "npy header lies (1.4 GiB declared)": ("liar.npy", {}),
        "npy header lies (1.4 TiB declared)": ("liar-huge.npy", {}),
        "npy header lies, 80 MiB file (mmap path)": ("liar-big.npy", {}),
        "npz bomb (2.3 GB member)": ("bomb.npz", {}),
        "gzip bomb (2.3 GB csv)": ("bomb.csv.gz", {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None, help="reuse (or make) the files here")
    parser.add_argument("--case", default=None, help="run only cases whose name contains this")
    parser.add_argument("--max-memory-gib", type=float, default=8.0,
                        help="address-space limit of each child (default 8): MemoryError instead of the OOM killer")
    parser.add_argument("--label", default="", help="a label printed with every line (before/after)")
    args = parser.parse_args()
    holder = None if args.dir else tempfile.TemporaryDirectory()
    folder = Path(args.dir or holder.name)
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / "made"
    cases = make_files(folder) if not marker.exists() else None
    if cases is None:
        cases = json.loads(marker.read_text())
    else:
        marker.write_text(json.dumps(cases))
    import siamcli

    print(f"# siamcli from {os.path.dirname(siamcli.__file__)} {args.label}")
    print(f"{'case':44} {'median s':>9} {'min s':>8} {'peak MiB':>9}  outcome")
    for name, (file, kwargs) in cases.items():
        if args.case and args.case not in name:
            continue
        repeat = 1 if "bomb" in name or "lies" in name else args.repeat
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", CHILD, str(folder / file), json.dumps(kwargs), str(repeat),
                               str(int(args.max_memory_gib * 2**30))],
                              capture_output=True, text=True, timeout=600)
        if done.returncode:  # e.g. -9: killed by the kernel when memory ran out
            print(f"{name:44} {time.perf_counter() - started:9.3f} {'':8} {'':9}  child exited {done.returncode} "
                  f"{done.stderr.strip().splitlines()[-1:]}")
            continue
        got = json.loads(done.stdout)
        times = got["times"]
        print(f"{name:44} {statistics.median(times):9.3f} {min(times):8.3f} {got['peak_mib']:9.0f}  {got['outcome']}")
    if holder is not None:
        holder.cleanup()


if __name__ == "__main__":
    main()

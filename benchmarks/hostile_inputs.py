"""The generated inputs of hostile_review.py: seeded files, each with what siamcli should make of it.

Every input says what a correct siamcli does with it (`expect`): "ok" (read it: `values` holds the
numbers it must read, as float64, and `precision` the tolerance class of the computation), "error"
(a clean exit 2), or "either" (a clean exit 2, or read correctly). Groups: numeric extremes,
malformed containers, text edge cases, hostile ids, special files.
"""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

GROUPS = ("numeric", "container", "text", "ids", "special")
BOMB_RSS_MIB = 1024  # a 2 MB file expanding to 2 GiB must be refused before this much is resident
SINGLE_READ = ("compare", "matrix", "evaluate", "inspect", "contrastive", "matrix-o")  # name the input once


@dataclass
class Input:
    """One generated input and what siamcli should make of it."""

    name: str  # path relative to the inputs folder (or '-', or an absolute special path)
    group: str
    note: str
    expect: str = "ok"  # ok | error | either
    values: np.ndarray | None = None  # float64 numbers siamcli must read (expect ok/either)
    precision: str = "f64"  # f64 | f32: tolerance class of the computation
    ids: list[str] | None = None  # row ids siamcli must keep (hostile ids)
    args: list[str] = field(default_factory=list)  # extra arguments, e.g. --input-format
    stdin: bytes | None = None  # fed on stdin (name '-')
    fifo: bytes | None = None  # written into the FIFO at name, for each run
    commands: tuple | None = None  # only these commands (None: all eight)
    max_rss_mib: int = 0  # a bomb: peak RSS above this means memory was spent before a size check

    @property
    def rows(self) -> int:
        return 12 if self.values is None else (1 if self.values.ndim == 1 else self.values.shape[0])

    @property
    def zero_rows(self) -> int:
        if self.values is None:
            return 0
        v = np.atleast_2d(self.values)
        return int(np.sum(~np.any(v != 0, axis=1)))


F32 = {np.float32, np.float16, np.bool_, np.int8, np.int16, np.uint8, np.uint16}


def precision_of(dtype) -> str:
    """float64 (and int32/int64, which float32 cannot hold) compute in float64; ints are given float32's tolerance."""
    return "f64" if np.dtype(dtype).type is np.float64 else "f32"


class Maker:
    """Writes inputs into one folder and collects their records."""

    def __init__(self, folder: Path, seed: int, quick: bool):
        self.folder, self.quick = folder, quick
        self.rng = np.random.default_rng(seed)
        self.inputs: list[Input] = []

    def base(self, n=12, d=8) -> np.ndarray:
        return self.rng.standard_normal((n, d))

    def add(self, inp: Input) -> Input:
        self.inputs.append(inp)
        return inp

    def npy(self, name, arr, group="numeric", note="", expect=None, values=None, **kw) -> Input:
        np.save(self.folder / name, arr, allow_pickle=False)
        exp = expect or ("ok" if np.all(np.isfinite(np.asarray(arr, dtype=np.float64))) else "error")
        vals = values if values is not None else (np.asarray(arr, dtype=np.float64) if exp != "error" else None)
        return self.add(Input(name, group, note or name, exp, vals, precision_of(arr.dtype), **kw))

    def raw(self, name, data: bytes, group, note, expect="error", values=None, precision="f64", **kw) -> Input:
        (self.folder / name).write_bytes(data)
        return self.add(Input(name, group, note, expect, values, precision, **kw))

    def text(self, name, text: str, group, note, expect="error", values=None, **kw) -> Input:
        return self.raw(name, text.encode("utf-8"), group, note, expect, values, "f64", **kw)


def _csv(values: np.ndarray, sep=",", ids=None, header=None) -> str:
    lines = [sep.join(header)] if header else []
    for i, row in enumerate(np.atleast_2d(values)):
        cells = [repr(float(x)) for x in row]
        lines.append(sep.join(([ids[i]] if ids else []) + cells))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- numeric extremes

def numeric(m: Maker) -> None:
    b = m.base()
    for label in ("1e-320", "1e-300", "1e-200", "1e-170", "1e-150", "1e-100", "1e-20", "1", "1e20", "1e100", "1e150", "1e170",
                  "1e200", "1e300"):
        m.npy(f"f64_{label}.npy", b * float(label), note=f"float64 x {label}" + (" (subnormal)" if label == "1e-320" else ""))
    m.npy("f64_nearmax.npy", b / np.abs(b).max() * 1.7e308, note="float64, largest value 1.7e308")
    m.npy("f64_minnormal.npy", b / np.abs(b).max() * 2.3e-308, note="float64, values at the smallest normal")
    for label in ("1e-45", "1e-40", "1e-38", "1e-30", "1e-20", "1e-19", "1e-10", "1", "1e5", "4.3e9", "1e10", "1e15", "1e19", "1e20",
                  "1e25", "1e30", "1e37", "1e38"):
        scale = float(label)
        arr = (np.clip(b, -3, 3) * scale).astype(np.float32)  # 3e38 < float32's max
        m.npy(f"f32_{label}.npy", arr, note=f"float32 x {label}" + (" (subnormal)" if scale < 1.2e-38 else ""))
    m.npy("f32_nearmax.npy", (b / np.abs(b).max() * 3.4e38).astype(np.float32), note="float32, largest value 3.4e38")
    for scale, label in ((1.0, "1"), (1e-5, "subnormal"), (6e4 / 3, "near max 65504"), (1e-8, "underflow")):
        m.npy(f"f16_{label.split()[0]}.npy", (np.clip(b, -3, 3) * scale).astype(np.float16), note=f"float16 {label}")
    mixed64 = b * 10.0 ** np.linspace(-300, 300, 12)[:, None]
    m.npy("mixed_f64_rows.npy", mixed64, note="float64 rows from 1e-300 to 1e300")
    m.npy("mixed_f32_rows.npy", (b * 10.0 ** np.linspace(-40, 38, 12)[:, None]).astype(np.float32), note="float32 rows from 1e-40 to 1e38")
    one_big = b.copy()
    one_big[3] *= 1e300
    m.npy("mixed_f64_onebig.npy", one_big, note="float64, one row x 1e300")
    cols = b * 10.0 ** np.linspace(-150, 150, 8)[None, :]
    m.npy("mixed_f64_cols.npy", cols, note="float64 columns from 1e-150 to 1e150")
    m.npy("mixed_f32_cols.npy", (b * 10.0 ** np.linspace(-20, 20, 8)[None, :]).astype(np.float32), note="float32 columns from 1e-20 to 1e20")
    _shapes_and_types(m, b)


def _shapes_and_types(m: Maker, b: np.ndarray) -> None:
    m.npy("zeros.npy", np.zeros((12, 8)), note="all zeros")
    z = b.copy()
    z[4] = 0
    m.npy("zero_row_f64.npy", z, note="one zero row (float64)")
    m.npy("zero_row_f32.npy", z.astype(np.float32), note="one zero row (float32)")
    m.npy("constant_rows.npy", np.repeat(np.arange(1, 13, dtype=np.float64)[:, None], 8, axis=1), note="constant rows")
    m.npy("negative.npy", -np.abs(b), note="all negative")
    m.npy("duplicates.npy", np.repeat(b[:1], 12, axis=0), note="12 identical rows")
    near = np.repeat(b[:1], 12, axis=0)
    near[1::2] = np.nextafter(near[1::2], np.inf)
    m.npy("near_dup_f64.npy", near, note="rows 1 ulp apart (float64)")
    near32 = np.repeat(b[:1], 12, axis=0).astype(np.float32)
    near32[1::2] = np.nextafter(near32[1::2], np.float32(np.inf))
    m.npy("near_dup_f32.npy", near32, note="rows 1 ulp apart (float32)")
    m.npy("parallel.npy", b[:1] * np.linspace(1e-3, 1e3, 12)[:, None], note="parallel rows of very different lengths")
    ints = m.rng.integers(-100, 100, (12, 8))
    ints[ints == 0] = 1
    for dt in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
        arr = (np.abs(ints) if dt.startswith("u") else ints).astype(dt)
        m.npy(f"{dt}.npy", arr, note=dt)
    m.npy("int64_huge.npy", (np.sign(ints) * (2**62 + np.abs(ints) * 2**55)).astype(np.int64), note="int64 near 2**62")
    m.npy("uint64_huge.npy", (np.uint64(2**63) + np.abs(ints).astype(np.uint64) * np.uint64(2**56)), note="uint64 above 2**63")
    bools = m.rng.random((12, 8)) > 0.5
    bools[:, 0] = True
    m.npy("bool.npy", bools, note="bool")
    m.npy("f32_be.npy", b.astype(">f4"), note="big-endian float32")
    m.npy("f64_be.npy", b.astype(">f8"), note="big-endian float64")
    m.npy("i4_be.npy", ints.astype(">i4"), note="big-endian int32")
    m.npy("fortran_f64.npy", np.asfortranarray(b), note="Fortran order float64")
    m.npy("fortran_f32.npy", np.asfortranarray(b.astype(np.float32)), note="Fortran order float32")
    m.npy("one_row.npy", b[:1], note="1 row")
    m.npy("one_vector.npy", b[0], note="a 1-D array (one vector)")
    m.npy("two_rows.npy", b[:2], note="2 rows")
    m.npy("one_dim.npy", b[:, :1], note="1 dimension")
    m.npy("tall_600.npy", m.base(600, 16).astype(np.float32), note="600 x 16 float32")
    m.npy("wide_100k.npy", m.base(10, 100_000).astype(np.float32), note="10 x 100,000 float32")
    if not m.quick:
        m.npy("wide_1m.npy", m.base(4, 1_000_000).astype(np.float32), note="4 x 1,000,000 float32")
    m.npy("longdouble.npy", b.astype(np.longdouble), expect="either", values=b, note="float128 (longdouble)")
    for name, bad in (("nan", np.nan), ("inf", np.inf), ("neginf", -np.inf)):
        arr = b.copy()
        arr[5, 3] = bad
        m.npy(f"f64_{name}.npy", arr, note=f"one {name} value")
    arr = b.astype(np.float32)
    arr[7, 2] = np.nan
    m.npy("f32_nan.npy", arr, note="float32 with a NaN")


# ---------------------------------------------------------------- malformed containers

def _npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _npy_header(shape, descr="<f8", version=1) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)}).encode() + b" "
    pre = 10 if version == 1 else 12
    header += b" " * ((64 - (pre + len(header) + 1) % 64) % 64) + b"\n"
    size = struct.pack("<H" if version == 1 else "<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + size + header


def containers(m: Maker) -> None:
    b = m.base()
    good = _npy_bytes(b)
    c = "container"
    m.raw("npy_truncated.npy", good[: len(good) // 2], c, ".npy cut in half")
    m.raw("npy_header_only.npy", good[:128], c, ".npy header without data")
    m.raw("npy_claims_1e6_rows.npy", _npy_header((10**6, 8)) + b.tobytes(), c, "header says 1,000,000 x 8, file has 12 rows")
    m.raw("npy_claims_2e40_rows.npy", _npy_header((2**40, 8)) + b.tobytes(), c, "header says 2**40 x 8")
    m.raw("npy_negative_shape.npy", _npy_header((-1, 8)) + b.tobytes(), c, "header shape (-1, 8)")
    m.raw("npy_bad_magic.npy", b"\x93NUMPX" + good[6:], c, "bad magic")
    m.raw("npy_empty_file.npy", b"", c, "0-byte .npy")
    m.raw("npy_v2.npy", _npy_header(b.shape, version=2) + b.tobytes(), c, ".npy format 2.0 (valid)", "ok", b)
    m.raw("npy_trailing_bytes.npy", good + b"garbage", c, "valid .npy with 7 bytes after the data", "either", b)
    m.raw("npy_header_code.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", 118)
          + b"{'descr': '<f8', 'fortran_order': False, 'shape': (12, 8), 'x': __import__('os').getcwd()}".ljust(117) + b"\n"
          + b.tobytes(), c, "header dict with a function call")
    obj = np.empty(3, dtype=object)
    obj[:] = [1, "a", None]
    buf = io.BytesIO()
    np.save(buf, obj, allow_pickle=True)
    m.raw("npy_pickled_object.npy", buf.getvalue(), c, "pickled object array")
    for name, arr in (("structured", np.zeros(12, dtype=[("a", "f4"), ("b", "f4")])),
                      ("complex64", (b + 1j).astype(np.complex64)), ("complex128", b + 1j),
                      ("0d", np.array(3.0)), ("3d", np.ones((2, 3, 4))), ("0_rows", np.zeros((0, 8))),
                      ("0_dims", np.zeros((8, 0))), ("unicode", np.array([["1", "2"], ["3", "4"]])),
                      ("datetime", np.array(["2020-01-01"] * 4, dtype="datetime64[D]").reshape(2, 2)),
                      ("void", np.zeros((4, 2), dtype="V8"))):
        m.raw(f"npy_{name}.npy", _npy_bytes(arr), c, f".npy of dtype/shape {name}")
    _npz(m, b)
    _gz(m, b)


def _zip(entries) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def _npz(m: Maker, b: np.ndarray) -> None:
    c = "container"
    ids = [f"r{i}" for i in range(12)]
    m.raw("npz_empty.npz", _zip([]), c, "empty .npz")
    m.raw("npz_text_member.npz", _zip([("readme.txt", b"hello")]), c, ".npz whose only member is text")
    m.raw("npz_garbage_member.npz", _zip([("embeddings.npy", b"not an array")]), c, "'embeddings.npy' member that is not an array")
    m.raw("npz_two_arrays.npz", _zip([("x.npy", _npy_bytes(b)), ("y.npy", _npy_bytes(b))]), c, "two arrays, none named embeddings")
    m.raw("npz_with_ids.npz", _zip([("embeddings.npy", _npy_bytes(b)), ("ids.npy", _npy_bytes(np.array(ids)))]), c,
          "embeddings and ids (valid)", "ok", b, ids=ids)
    m.raw("npz_ids_wrong_length.npz", _zip([("embeddings.npy", _npy_bytes(b)), ("ids.npy", _npy_bytes(np.array(ids[:5])))]),
          c, "5 ids for 12 rows")
    good = _zip([("embeddings.npy", _npy_bytes(b))])
    m.raw("npz_truncated.npz", good[: len(good) // 2], c, ".npz cut in half")
    flipped = bytearray(good)
    flipped[len(good) // 3] ^= 0xFF
    m.raw("npz_flipped_byte.npz", bytes(flipped), c, ".npz with one byte flipped in the data")
    obj = np.empty(2, dtype=object)
    buf = io.BytesIO()
    np.save(buf, obj, allow_pickle=True)
    m.raw("npz_pickled_member.npz", _zip([("embeddings.npy", buf.getvalue())]), c, "pickled object member")
    m.raw("npz_3d.npz", _zip([("embeddings.npy", _npy_bytes(np.ones((2, 2, 2))))]), c, "3-d member")
    m.raw("npz_f32_1e20.npz", _zip([("embeddings.npy", _npy_bytes((b * 1e20).astype(np.float32)))]), c,
          "float32 x 1e20 in .npz", "ok", (b * 1e20).astype(np.float32).astype(np.float64), "f32")
    m.raw("npz_bomb.npz", _deflate_bomb_zip(_npy_header((2**18, 2**10)), 2**31), c,
          "npz bomb: 2 MB holding a 2 GiB array of zeros", max_rss_mib=BOMB_RSS_MIB)


def _deflate_bomb(prefix: bytes, zeros: int, chunk=16 * 2**20):
    """Raw deflate of prefix + `zeros` zero bytes, built from one compressed chunk repeated (fast)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = comp.compress(prefix) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(bytes(chunk)) + comp.flush(zlib.Z_FULL_FLUSH)
    count = zeros // chunk
    tail = comp.flush(zlib.Z_FINISH)
    crc = zlib.crc32(prefix)
    zero_chunk = bytes(chunk)
    for _ in range(count):
        crc = zlib.crc32(zero_chunk, crc)
    return head + block * count + tail, crc, len(prefix) + count * chunk


def _deflate_bomb_zip(prefix: bytes, zeros: int) -> bytes:
    data, crc, size = _deflate_bomb(prefix, zeros)
    name = b"embeddings.npy"
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), size, len(name), 0) + name
    central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(data), size,
                          len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    return local + data + central + end


def _gzip_bomb(line: bytes, total: int) -> bytes:
    chunk = line * (2**24 // len(line))
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    count = total // len(chunk)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    body = block * count + comp.flush(zlib.Z_FINISH)
    size = (len(chunk) * count) & 0xFFFFFFFF
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + body + struct.pack("<II", crc, size)


def _gz(m: Maker, b: np.ndarray) -> None:
    c = "container"
    text = _csv(b)
    m.raw("gz_valid.csv.gz", gzip.compress(text.encode(), mtime=0), c, "gzipped CSV (valid)", "ok", b)
    m.raw("gz_valid.npy.gz", gzip.compress(_npy_bytes(b), mtime=0), c, "gzipped .npy (valid)", "ok", b)
    m.raw("gz_truncated.csv.gz", gzip.compress(text.encode(), mtime=0)[:-30], c, "gzipped CSV cut short")
    m.raw("gz_not_gzip.csv.gz", text.encode(), c, "plain text named .csv.gz")
    m.raw("gz_empty.csv.gz", gzip.compress(b"", mtime=0), c, "gzip of nothing")
    two = gzip.compress(_csv(b[:6]).encode(), mtime=0) + gzip.compress(_csv(b[6:]).encode(), mtime=0)
    m.raw("gz_two_members.csv.gz", two, c, "two concatenated gzip members (valid gzip)", "either", b)
    m.raw("gz_bomb.csv.gz", _gzip_bomb(b"1,2,3,4\n", 2**31), c, "gzip bomb: 2 MB of CSV expanding to 2 GiB",
          max_rss_mib=BOMB_RSS_MIB)
    m.raw("gz_bomb_zeros.npy.gz", _npy_gz_bomb(), c, "gzip bomb: .npy of 2 GiB zeros", max_rss_mib=BOMB_RSS_MIB)


def _npy_gz_bomb() -> bytes:
    data, crc, size = _deflate_bomb(_npy_header((2**18, 2**10)), 2**31)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + data + struct.pack("<II", crc, size & 0xFFFFFFFF)

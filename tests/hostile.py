"""Builders of hostile inputs (issue 13), shared by the corpus tests and benchmarks/loaders.py.

Bombs are made from one repeated full-flush deflate block, so a 2.3 GB bomb takes a moment to
build and a few MB on disk.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np

MiB = 2**20


def npy_header(shape: tuple[int, ...], descr: str = "<f4", fortran: bool = False) -> bytes:
    """The header numpy writes for an array of `shape` and `descr`, with no data after it."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": fortran, "shape": shape})
    return buffer.getvalue()


def _deflated(prefix: bytes, unit: bytes, count: int, crc: bool = True) -> tuple[bytes, int, int]:
    """(raw deflate of prefix + unit * count, its CRC-32 (0 unless `crc`: it takes a pass over
    every byte), its size), made in time ~ len(unit)."""
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = head.compress(prefix) + head.flush(zlib.Z_FULL_FLUSH)
    body = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = body.compress(unit) + body.flush(zlib.Z_FULL_FLUSH)  # context-free after a full flush
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    check = zlib.crc32(prefix)
    for _ in range(count if crc else 0):
        check = zlib.crc32(unit, check)
    return start + block * count + end, check if crc else 0, len(prefix) + len(unit) * count


def zip_member(name: str, payload_deflated: bytes, crc: int, size: int, declared: int | None = None) -> bytes:
    """A one-member zip archive holding an already deflated payload; `declared` overrides the
    uncompressed size its headers state (a lying archive)."""
    stated = size if declared is None else declared
    raw = name.encode()
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(payload_deflated), stated,
                        len(raw), 0) + raw
    central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(payload_deflated),
                          stated, len(raw), 0, 0, 0, 0, 0, 0) + raw
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(payload_deflated), 0)
    return local + payload_deflated + central + end


def npz_bomb(rows: int, dim: int = 384, declared: int | None = None, exact_crc: bool = True) -> bytes:
    """An .npz whose 'embeddings' member is a (rows, dim) float32 array of zeros, deflated
    (`exact_crc=False`: a wrong CRC, quicker to make; a loader must refuse the bomb before it checks)."""
    header = npy_header((rows, dim))
    unit = bytes(4 * MiB)
    total = rows * dim * 4
    count, rest = divmod(total, len(unit))
    data, crc, size = _deflated(header, unit, count, exact_crc)
    if rest:  # whole blocks only: the tail goes into the prefix-free end
        tail = zlib.compressobj(9, zlib.DEFLATED, -15)
        data = data[: -len(zlib.compressobj(9, zlib.DEFLATED, -15).flush())]
        data += tail.compress(bytes(rest)) + tail.flush()
        crc = zlib.crc32(bytes(rest), crc) if exact_crc else 0
        size += rest
    return zip_member("embeddings.npy", data, crc, size, declared)


def gzip_bomb(total: int, line: bytes = b"0,0,0,0\n", exact_crc: bool = True) -> bytes:
    """A gzip stream of about `total` bytes of valid CSV (repeated `line`), a few MB."""
    unit = line * (4 * MiB // len(line))
    count = max(1, total // len(unit))
    data, crc, size = _deflated(b"", unit, count, exact_crc)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + data + struct.pack("<II", crc, size & 0xFFFFFFFF)


def npz_with_member(name: str, payload: bytes) -> bytes:
    """An .npz (a zip) with one member of any bytes."""
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, payload)
    return buffer.getvalue()

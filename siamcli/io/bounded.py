"""Input bytes under a ceiling: files, pipes, devices, stdin and gzip streams, and numpy's .npy
and .npz containers checked from their headers before any memory is spent on their data.

Every byte stream read into memory whose size no checked header bounds (stdin, pipes, devices,
decompressed gzip and .npz members, text files) stops with an InputError past `limit` bytes.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from typing import BinaryIO, Callable, Iterator

import numpy as np

from ..errors import InputError, UsageError, mention

#: The default ceiling of --max-input-size: bytes one input may bring into memory.
DEFAULT_MAX_INPUT_BYTES = 2 * 2**30
_CHUNK = 2**20
GZIP_MAGIC = b"\x1f\x8b"
NPY_MAGIC = b"\x93NUMPY"
#: .npy header versions numpy writes; 3.0 differs from 2.0 only by a UTF-8 header (structured names).
_NPY_VERSIONS = {(1, 0), (2, 0), (3, 0)}


class DiskFile(str):
    """The path of a regular file not read yet: a binary reader may memory-map it (npy) or read it.
    (A str, not a pathlib.Path: importing pathlib costs the command's start-up 5 ms.)"""

    def size(self) -> int:
        return os.stat(self).st_size

    def read_bytes(self, count: int = -1) -> bytes:
        with open(self, "rb") as file:
            return file.read(count)


class Folder(DiskFile):
    """The path of a folder a format reads as one input (a Hugging Face dataset, .npy shards)."""

    def size(self) -> int:
        total = 0
        for root, _, files in os.walk(self):
            total += sum(os.stat(os.path.join(root, f)).st_size for f in files)
        return total


def human_size(count: int) -> str:
    """'12,345 bytes', '1.4 GiB'."""
    if count < 1024:
        return f"{count:,} byte{'s' if count != 1 else ''}"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        value /= 1024
        if value < 1024 or unit == "EiB":
            break
    return f"{value:,.1f} {unit}"


def limit_text(limit: int) -> str:
    """A ceiling as --max-input-size takes it: '2G', '512M', else its size."""
    for unit, size in (("T", 2**40), ("G", 2**30), ("M", 2**20), ("K", 2**10)):
        if limit >= size and limit % size == 0:
            return f"{limit // size}{unit}"
    return human_size(limit)


def too_large(source: str, what: str, limit: int) -> InputError:
    return InputError(f"{source}: {what} more than {limit_text(limit)} ({mention('max_input_size')})")


# ---------------------------------------------------------------- opening and reading under the ceiling


def open_path(path: str, source: str) -> tuple[BinaryIO, os.stat_result]:
    """An open binary handle and its stat; a clear InputError for what cannot be read as a file."""
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"{source}: is a directory, not a file")
        if stat.S_ISSOCK(info.st_mode):
            raise InputError(f"{source}: is a socket, not a file")
        handle = open(path, "rb")  # a FIFO waits here for its writer, as `<(command)` needs
        return handle, os.fstat(handle.fileno())
    except FileNotFoundError:
        raise InputError(f"{source}: no such file") from None
    except PermissionError:
        raise InputError(f"{source}: cannot read (permission denied)") from None
    except OSError as exc:
        raise InputError(f"{source}: cannot read ({exc.strerror or exc})") from None


def chunks(handle: BinaryIO, source: str) -> Iterator[bytes]:
    """The bytes of a handle in pieces of at most 1 MiB; read errors become InputErrors."""
    while True:
        try:
            piece = handle.read(_CHUNK)
        except OSError as exc:
            raise InputError(f"{source}: cannot read ({exc.strerror or exc})") from None
        if not piece:
            return
        yield piece


def collect(pieces: Iterator[bytes], source: str, limit: int, what: str = "holds",
            check: Callable[[bytes], None] | None = None) -> bytearray:
    """The pieces joined (a bytearray: no second copy), stopping past `limit` bytes. `check`
    sees the first bytes (at least 8 when there are) and may refuse them before more is read."""
    data = bytearray()
    checked = check is None
    for piece in pieces:
        data += piece
        if len(data) > limit:
            raise too_large(source, what, limit)
        if not checked and len(data) >= 8:
            check(bytes(data[:8]))
            checked = True
    if not checked and data:
        check(bytes(data[:8]))
    return data


def gunzip(pieces: Iterator[bytes], source: str, limit: int) -> Iterator[bytes]:
    """Decompressed pieces of a gzip stream (several members allowed, as gzip writes them), never
    more than 1 MiB at a time, so a bomb stops at the ceiling instead of filling memory."""
    import zlib

    decoder = None  # None: between members, where only another member or zero padding may follow
    produced, members, carry = 0, 0, b""
    for piece in _with_end(pieces):
        data, carry = carry + (piece or b""), b""
        while True:
            if decoder is None:
                if len(data) < 2 and piece is not None and (not data or data == GZIP_MAGIC[:1]):
                    carry = data  # a member's magic split between reads
                    break
                if data.startswith(GZIP_MAGIC):
                    decoder, members = zlib.decompressobj(16 + zlib.MAX_WBITS), members + 1
                elif not members:
                    raise InputError(f"{source}: not a valid gzip file (no gzip header)")
                elif data.strip(b"\0"):
                    raise InputError(f"{source}: not a valid gzip file (data after the end of the stream)")
                else:
                    break  # zero padding
            try:
                out = decoder.decompress(data, _CHUNK)
            except zlib.error as exc:
                raise InputError(f"{source}: not a valid gzip file ({exc})") from None
            produced += len(out)
            if produced > limit:
                raise too_large(source, "decompresses to", limit)
            if out:
                yield out
            if decoder.eof:
                data, decoder = decoder.unused_data, None
                continue
            data = decoder.unconsumed_tail
            if not data and not out:  # everything given is decoded: the next read goes on
                break
    if not members:
        raise InputError(f"{source}: not a valid gzip file (no gzip header)")
    if decoder is not None:
        raise InputError(f"{source}: not a valid gzip file (truncated: the stream ends early)")


def _with_end(pieces: Iterator[bytes]) -> Iterator[bytes | None]:
    yield from pieces
    yield None


def read_stream(handle: BinaryIO, source: str, limit: int, gz: bool | None,
                check: Callable[[bytes], None] | None = None) -> bytearray:
    """All the bytes of a stream of unknown size (stdin, a pipe, a device), decompressed when
    `gz` (None: when they start with the gzip magic), under the ceiling."""
    pieces = chunks(handle, source)
    if gz is None:
        first = next(pieces, b"")
        while len(first) < 2:  # a pipe may give one byte at a time
            more = next(pieces, b"")
            if not more:
                break
            first += more
        gz = first.startswith(GZIP_MAGIC)
        pieces = _prepend(first, pieces)
    if gz:
        return collect(gunzip(pieces, source, limit), source, limit, "decompresses to", check)
    return collect(pieces, source, limit, "holds", check)


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def stdin_stream(stdin) -> BinaryIO:
    return stdin if stdin is not None else sys.stdin.buffer


# ---------------------------------------------------------------- .npy: the header first


def npy_magic_check(source: str) -> Callable[[bytes], None]:
    def check(head: bytes) -> None:
        if not head.startswith(NPY_MAGIC[: len(head)]) or len(head) < len(NPY_MAGIC):
            raise InputError(f"{source}: not a .npy file (no NumPy header)")

    return check


def npy_header(head: bytes, source: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran order, dtype, data offset) from the first bytes of a .npy (its header
    is at most 10,000 bytes, numpy's own ceiling); numpy's parser, without reading any data."""
    from numpy.lib import format as npformat

    stream = io.BytesIO(head)
    try:
        version = npformat.read_magic(stream)
        if version not in _NPY_VERSIONS:
            raise ValueError(f"unsupported .npy version {version[0]}.{version[1]}")
        read = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
        shape, fortran, dtype = read(stream)
    except Exception as exc:  # numpy's header parser on junk: ValueError, SyntaxError, tokenize's TokenError...
        raise InputError(f"{source}: not a valid .npy file ({_short(exc)})") from None
    if any(d < 0 for d in shape):
        raise InputError(f"{source}: not a valid .npy file (negative shape {shape})")
    return shape, fortran, dtype, stream.tell()


def declared_bytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    count = 1
    for d in shape:
        count *= d
    return count * dtype.itemsize


def check_declared(source: str, shape, dtype: np.dtype, held: int, where: str = "the file") -> None:
    """Refuse a header that declares more data than `held` bytes (before anything is allocated)."""
    needed = declared_bytes(shape, dtype)
    if needed > held:
        described = " x ".join(str(d) for d in shape) or "one"
        raise InputError(f"{source}: the header declares {described} {dtype} ({human_size(needed)}) "
                         f"but {where} holds {held:,} bytes of data")


def array_from_buffer(buffer, offset: int, shape, fortran: bool, dtype: np.dtype) -> np.ndarray:
    """The array a checked header describes, viewed in `buffer` (no copy)."""
    count = 1
    for d in shape:
        count *= d
    if count == 0:
        return np.zeros(shape, dtype=dtype)
    flat = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset)
    if fortran:
        return flat.reshape(shape[::-1]).transpose()
    return flat.reshape(shape)


#: dtype kinds an embedding array may have, and those of an ids or labels array.
NUMERIC_KINDS = "fiub"
LABEL_KINDS = "fiubUS"
_HEADER_BYTES = 10_016  # magic, version, length and numpy's longest header (10,000)


def dtype_problem(dtype: np.dtype, kinds: str = NUMERIC_KINDS) -> str | None:
    """Why an array of `dtype` cannot be read (as embeddings when `kinds` is numeric), or None."""
    if dtype.hasobject:
        return "holds pickled Python objects; siamcli never unpickles files (save a numeric array instead)"
    if dtype.names is not None or dtype.kind == "V":
        return "holds records, not numbers"
    if dtype.subdtype is not None or dtype.itemsize == 0:
        return f"unsupported dtype {dtype}"
    if dtype.kind in kinds:
        return None
    if dtype.kind in "US":
        return "holds text, not numbers"
    if dtype.kind == "c":
        return "holds complex numbers; embeddings must be real"
    return f"unsupported dtype {dtype}"


def npy_array(buffer, source: str, kinds: str = NUMERIC_KINDS, max_ndim: int = 2,
              holder: str = "the file") -> np.ndarray:
    """The array of a .npy held in `buffer` (bytes or a bytearray), viewed without a copy after
    its header is checked: magic, dtype, dimensions and the bytes it declares."""
    if bytes(buffer[: len(NPY_MAGIC)]) != NPY_MAGIC:
        raise InputError(f"{source}: not a .npy file (no NumPy header)")
    shape, fortran, dtype, offset = npy_header(bytes(buffer[:_HEADER_BYTES]), source)
    check_layout(source, shape, dtype, kinds, max_ndim)
    check_declared(source, shape, dtype, len(buffer) - offset, holder)
    return array_from_buffer(buffer, offset, shape, fortran, dtype)


def check_layout(source: str, shape, dtype: np.dtype, kinds: str, max_ndim: int) -> None:
    problem = dtype_problem(dtype, kinds)
    if problem is not None:
        raise InputError(f"{source}: {problem}")
    if len(shape) > max_ndim:
        described = " x ".join(str(d) for d in shape)
        expected = "one vector or a 2-D array of rows" if max_ndim == 2 else "a 1-D array"
        raise InputError(f"{source}: is a {len(shape)}-D array ({described}); expected {expected}")


def npy_from_disk(path: str, source: str, mmap_above: int) -> np.ndarray:
    """A regular .npy file's array: read into memory, or memory-mapped when the file is larger
    than `mmap_above` bytes; either way only after its header is checked against its size."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size <= mmap_above:
                buffer = bytearray(size)
                view, filled = memoryview(buffer), 0
                while filled < size:
                    got = handle.readinto(view[filled:])
                    if not got:
                        break
                    filled += got
                return npy_array(buffer if filled == size else buffer[:filled], source)
            head = handle.read(_HEADER_BYTES)
    except OSError as exc:
        raise InputError(f"{source}: cannot read ({exc.strerror or exc})") from None
    if head[: len(NPY_MAGIC)] != NPY_MAGIC:
        raise InputError(f"{source}: not a .npy file (no NumPy header)")
    shape, fortran, dtype, offset = npy_header(head, source)
    check_layout(source, shape, dtype, NUMERIC_KINDS, 2)
    check_declared(source, shape, dtype, size - offset)
    if declared_bytes(shape, dtype) == 0 or not shape:
        return npy_array(DiskFile(path).read_bytes(offset + dtype.itemsize), source)
    try:
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")
    except (OSError, ValueError) as exc:
        raise InputError(f"{source}: cannot be memory-mapped ({exc})") from None


# ---------------------------------------------------------------- .npz: the directory first


def open_npz(handle, source: str):
    """A zipfile.ZipFile of an .npz, and {array name: member} as np.load names them ('x.npy' -> 'x')."""
    import zipfile

    try:
        archive = zipfile.ZipFile(handle)
        members = {}
        for info in archive.infolist():
            members.setdefault(info.filename[:-4] if info.filename.endswith(".npy") else info.filename, info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError,
            UnicodeDecodeError) as exc:
        raise InputError(f"{source}: not a valid .npz archive ({_short(exc)})") from None
    return archive, members


def npz_member(archive, info, source: str, name: str, limit: int, kinds: str = NUMERIC_KINDS,
               max_ndim: int = 2) -> np.ndarray:
    """The array of one .npz member, its declared size checked against the ceiling before it
    is decompressed, and decompression stopped at the ceiling whatever the archive says."""
    where = f"{source}[{name}]"
    if info.file_size > limit:
        raise InputError(f"{where}: decompresses to {human_size(info.file_size)}, more than "
                         f"{limit_text(limit)} ({mention('max_input_size')})")
    try:
        with archive.open(info) as member:
            data = _read_declared(member, info.file_size)
    except Exception as exc:  # zipfile's and its codecs' many ways of saying "damaged"
        raise InputError(f"{source}: the .npz archive is damaged ({_short(exc)})") from None
    if bytes(data[: len(NPY_MAGIC)]) != NPY_MAGIC:
        raise InputError(f"{source}: member {name!r} is not a .npy array")
    return npy_array(data, where, kinds, max_ndim, holder="the member")


def _read_declared(member, size: int) -> bytearray:
    """The `size` bytes a zip member declares (checked against the ceiling), read into one buffer
    made up front; zipfile never returns more than the declared size, and checks the CRC at its end."""
    buffer = bytearray(size)
    view, filled = memoryview(buffer), 0
    while filled < size:
        piece = member.read(min(_CHUNK, size - filled))
        if not piece:
            break
        view[filled : filled + len(piece)] = piece
        filled += len(piece)
    member.read(1)  # at the declared end: lets zipfile check the CRC of what it gave
    view.release()
    return buffer if filled == size else buffer[:filled]


def _short(exc: Exception) -> str:
    """An exception's message for ours: one line, at most 80 characters, control characters escaped."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = text if len(text) <= 80 else text[:77] + "..."
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# ---------------------------------------------------------------- what a reader gets

STDIN = "-"


def input_bytes(path: str, source: str, binary: bool, gz: bool | None, limit: int, stdin=None,
                check: Callable[[bytes], None] | None = None):
    """What a reader gets: a DiskFile for a regular file of a `binary` format (its header bounds
    it), else its bytes (a bytearray), decompressed when `gz` (None: sniffed), read under the
    ceiling. `check` sees the first bytes of a stream and may refuse them before more is read."""
    if path == STDIN:
        data = read_stream(stdin_stream(stdin), source, limit, gz, check)
    else:
        handle, info = open_path(path, source)
        with handle:
            if not stat.S_ISREG(info.st_mode):  # a pipe or a device (`<(command)`): its size says nothing
                data = read_stream(handle, source, limit, gz, check)
            elif info.st_size == 0:
                raise InputError(f"{source}: is empty")
            elif gz:
                data = collect(gunzip(chunks(handle, source), source, limit), source, limit, "decompresses to", check)
            elif binary:
                return DiskFile(path)
            elif info.st_size > limit:
                raise InputError(f"{source}: holds {human_size(info.st_size)} of text, more than "
                                 f"{limit_text(limit)} ({mention('max_input_size')})")
            else:
                data = collect(chunks(handle, source), source, limit)
    if not data:
        raise InputError(f"{source}: is empty")
    return data


def decode(data, source: str) -> str:
    """UTF-8 text (a BOM dropped), or an InputError naming the first byte that is not."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: byte {exc.start} is not UTF-8 text (is it a binary file?)") from None


def read_text(path, limit: int = DEFAULT_MAX_INPUT_BYTES) -> tuple[str, str]:
    """(text, source name) of a text file such as an ids or pairs list (never decompressed)."""
    from .textcells import printable

    path = os.fspath(path)
    source = printable(path)
    return decode(input_bytes(path, source, False, False, limit), source), source


def max_bytes(value) -> int:
    """A ceiling in bytes from an int or a size such as '2G'."""
    if isinstance(value, str):
        from ..engine import parse_size

        return parse_size(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{mention('max_input_size')} must be a positive number of bytes or a size such as "
                         f"'2G', got {value!r}")
    return value

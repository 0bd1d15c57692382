"""Readers of tensor containers: safetensors (its layout read directly: an 8-byte little-endian
header length, a JSON header of dtype, shape and data offsets, then the raw bytes) and PyTorch
files (torch.load with weights only: never unpickles code). bfloat16 and other narrow floats are
widened exactly to float32; a tensor is picked by `key`, else the only 2-D one (choose_key)."""

from __future__ import annotations

import json

import numpy as np

from ..errors import counted, InputError, mention
from . import arrays, bounded
from .bounded import DiskFile
from .embeddings import Parsed, ReadOptions
from .textcells import excerpt, listed

# ---------------------------------------------------------------- picking a tensor (shared with hdf5.py)


def describe_shape(shape) -> str:
    """'3 x 4' (at most about 40 characters: a hostile header may declare a million dimensions)."""
    text = " x ".join(str(d) for d in shape[:8]) + (" x ..." if len(shape) > 8 else "")
    return excerpt(text, 40)[1:-1] if text else "a single number"


def member(source: str, name: str) -> str:
    """Where a message points at one tensor or dataset of a file: 'file[name]'."""
    return f"{source}[{excerpt(name, 40)[1:-1]}]"


def choose_key(shapes: dict[str, tuple], key: str | None, source: str, what: str = "tensor") -> str:
    """The name among `shapes` ({name: shape}) holding the vectors: `key`, else the only 2-D one,
    else the only one when it is 1-D (one vector); otherwise an error listing them."""
    if key is not None:
        if key not in shapes:
            raise InputError(f"{source}: no {what} named {excerpt(key)} ({what}s: {listed(shapes, 8)})")
        return key
    two_d = [name for name, shape in shapes.items() if len(shape) == 2]
    if len(two_d) == 1:
        return two_d[0]
    if two_d:
        raise InputError(f"{source}: holds several 2-D {what}s ({listed(two_d, 8)}); choose one with {mention('key')}")
    if len(shapes) == 1 and len(next(iter(shapes.values()))) == 1:
        return next(iter(shapes))
    held = ", ".join(f"{listed([name])} ({describe_shape(shape)})" for name, shape in list(shapes.items())[:8])
    more = f" and {len(shapes) - 8} more" if len(shapes) > 8 else ""
    raise InputError(f"{source}: holds no 2-D {what} of rows ({what}s: {held or 'none'}{more}); "
                     f"choose one with {mention('key')}")


def check_ndim(where: str, shape, what: str = "tensor") -> None:
    if len(shape) > 2:
        raise InputError(f"{where}: is a {len(shape)}-D {what} ({describe_shape(shape)}); "
                         "expected one vector or a 2-D array of rows")


def no_labels(options: ReadOptions, source: str, holds: str) -> None:
    if options.labels is not None:
        raise InputError(f"{source}: {holds}, so no {excerpt(options.labels)} column; "
                         "give the labels as a file of their own")


def widened_bfloat16(bits: np.ndarray) -> np.ndarray:
    """bfloat16 values held as uint16 bit patterns, as float32 (exact: bfloat16 is float32's top half)."""
    wide = np.asarray(bits, dtype=np.uint32)
    wide <<= 16
    return wide.view(np.float32)


# ---------------------------------------------------------------- safetensors

#: The most header bytes a safetensors file may declare (the reference implementation's ceiling).
SAFETENSORS_MAX_HEADER = 100_000_000
#: Bits per element of every dtype the format defines (the offsets of all are checked).
SAFETENSORS_BITS = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16,
                    "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64, "U64": 64,
                    "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}
#: The numpy dtype each readable safetensors dtype is stored as (always little-endian); BF16 as its bits.
SAFETENSORS_NUMPY = {"BOOL": "?", "U8": "u1", "I8": "i1", "I16": "<i2", "U16": "<u2", "F16": "<f2", "BF16": "<u2",
                     "I32": "<i4", "U32": "<u4", "F32": "<f4", "F64": "<f8", "I64": "<i8", "U64": "<u8"}


def read_safetensors(data, source: str, options: ReadOptions) -> Parsed:
    """The tensor `options.key` (else the only 2-D one) of a safetensors file, memory-mapped when
    large; the header is checked against the file's size before any data is read."""
    no_labels(options, source, "a safetensors file holds tensors only")
    header, start = _safetensors_header(data, source)
    name = choose_key({n: entry[1] for n, entry in header.items()}, options.key, source)
    return Parsed(_safetensors_tensor(data, start, header[name], member(source, name)))


def _safetensors_header(data, source: str) -> tuple[dict, int]:
    """({name: (dtype, shape, begin, end)}, offset of the data) of a checked safetensors header."""
    size = data.size() if isinstance(data, DiskFile) else len(data)
    head = data.read_bytes(8) if isinstance(data, DiskFile) else bytes(data[:8])
    if len(head) < 8:
        raise InputError(f"{source}: not a safetensors file (shorter than its 8-byte header length)")
    length = int.from_bytes(head, "little")
    if length > min(size - 8, SAFETENSORS_MAX_HEADER):
        raise InputError(f"{source}: not a safetensors file (its header length, {length:,} bytes, "
                         f"{'exceeds 100 MB' if length > SAFETENSORS_MAX_HEADER else 'runs past its end'})")
    raw = data.read_bytes(8 + length)[8:] if isinstance(data, DiskFile) else bytes(data[8 : 8 + length])
    try:
        parsed = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InputError(f"{source}: not a safetensors file (its header is not valid JSON: "
                         f"{bounded._short(exc)})") from None
    if not isinstance(parsed, dict):
        raise InputError(f"{source}: not a safetensors file (its header is not a JSON object)")
    parsed.pop("__metadata__", None)
    header = {name: _safetensors_entry(name, entry, source) for name, entry in parsed.items()}
    _check_offsets(header, size - 8 - length, source)
    return header, 8 + length


def _safetensors_entry(name: str, entry, source: str) -> tuple[str, tuple[int, ...], int, int]:
    """(dtype, shape, begin, end) of one header entry, each field checked for its type."""
    where = member(source, name)
    if not isinstance(entry, dict):
        raise InputError(f"{where}: not a valid safetensors entry (expected dtype, shape and data_offsets)")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in SAFETENSORS_BITS:
        raise InputError(f"{where}: unknown safetensors dtype {excerpt(str(dtype), 20)}")
    if not _naturals(shape) or not _naturals(offsets) or len(offsets) != 2 or offsets[0] > offsets[1]:
        raise InputError(f"{where}: not a valid safetensors entry (shape and data_offsets must be "
                         "non-negative integers, offsets a [begin, end] pair)")
    return dtype, tuple(shape), offsets[0], offsets[1]


def _naturals(values) -> bool:
    return isinstance(values, list) and all(type(v) is int and v >= 0 for v in values)


def _check_offsets(header: dict, held: int, source: str) -> None:
    """Each tensor's bytes match its dtype and shape, and the tensors tile the data exactly (as the
    reference implementation demands), all within the `held` bytes after the header."""
    end = 0
    for name, (dtype, shape, begin, stop) in sorted(header.items(), key=lambda item: item[1][2:]):
        bits = SAFETENSORS_BITS[dtype]
        for d in shape:
            bits *= d
        where = member(source, name)
        if bits != (stop - begin) * 8:
            raise InputError(f"{where}: its shape ({describe_shape(shape)}) of {dtype} does not match its "
                             f"data_offsets ({stop - begin:,} bytes)")
        if begin != end:
            raise InputError(f"{where}: its data starts at byte {begin:,} of the data, expected {end:,} "
                             "(tensors must follow one another)")
        end = stop
    if end != held:
        raise InputError(f"{source}: its tensors end at byte {end:,} of the data but the file holds {held:,} "
                         "bytes of data (truncated or damaged)")


def _safetensors_tensor(data, start: int, entry, where: str) -> np.ndarray:
    """One tensor's array: memory-mapped from a large regular file, else read (or viewed in bytes)."""
    dtype, shape, begin, stop = entry
    if dtype not in SAFETENSORS_NUMPY:
        raise InputError(f"{where}: holds {dtype} values, which siamcli does not read "
                         "(float64/32/16, bfloat16 and integers it does)")
    check_ndim(where, shape)
    stored = np.dtype(SAFETENSORS_NUMPY[dtype])
    count = (stop - begin) // stored.itemsize
    if count == 0:
        array = np.zeros(shape, dtype=stored)
    elif not isinstance(data, DiskFile):
        array = np.frombuffer(data, dtype=stored, count=count, offset=start + begin).reshape(shape)
    elif stop - begin > arrays.MMAP_THRESHOLD_BYTES:
        array = np.memmap(data, dtype=stored, mode="r", offset=start + begin, shape=shape)
    else:
        array = np.fromfile(data, dtype=stored, count=count, offset=start + begin)
        if array.size != count:
            raise InputError(f"{where}: the file ends inside the tensor (was it changed while being read?)")
        array = array.reshape(shape)
    return widened_bfloat16(array) if dtype == "BF16" else array


def looks_like_safetensors(head: bytes) -> bool:
    """Whether unnamed bytes start like a safetensors file: a header length whose high bytes are
    zero, then '{"'. (`head` has lost leading whitespace bytes: see formats._text_head.)"""
    at = head.find(b'{"', 0, 10)
    return 0 < at <= 8 and head[at - 1] == 0


# ---------------------------------------------------------------- PyTorch

#: The first bytes of a file of torch.save's legacy (pre-zip) layout: a pickled magic number.
TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."


def looks_like_torch(head: bytes) -> bool:
    """Whether unnamed bytes are a torch.save file: a zip whose first member is '.../data.pkl', or
    the legacy layout (an .npz is a zip too: of '.npy' members)."""
    if head.startswith(b"PK\x03\x04") and len(head) >= 30:
        name_length = int.from_bytes(head[26:28], "little")
        return head[30 : 30 + name_length].endswith(b"data.pkl")
    return head.startswith(TORCH_LEGACY_MAGIC)


def read_pytorch(data, source: str, options: ReadOptions) -> Parsed:
    """A tensor, or the tensor `options.key` (else the only 2-D one) of a dict of tensors saved with
    torch.save, loaded with torch's weights-only unpickler; an 'ids' list beside it gives row ids."""
    no_labels(options, source, "a PyTorch file holds tensors only here")
    import torch

    loaded = _torch_load(torch, data, source, options.limit)
    if isinstance(loaded, torch.Tensor):
        if options.key is not None:
            raise InputError(f"{source}: holds one tensor, not a dict of tensors, so no {excerpt(options.key)}")
        return Parsed(_torch_array(torch, loaded, source))
    if not isinstance(loaded, dict):
        raise InputError(f"{source}: holds a {type(loaded).__name__}, not a tensor or a dict of tensors")
    tensors = dict(_named_tensors(torch, loaded))
    name = choose_key({n: tuple(t.shape) for n, t in tensors.items()}, options.key, source)
    array = _torch_array(torch, tensors[name], member(source, name))
    return Parsed(array, _torch_ids(loaded.get("ids"), array, name, source))


def _torch_load(torch, data, source: str, limit: int):
    """torch.load(weights_only=True) of a path (memory-mapped when torch can: a zip layout) or bytes;
    whatever it refuses is an InputError naming the file."""
    import io
    import pickle
    import warnings

    mmap = isinstance(data, DiskFile) and data.read_bytes(4) == b"PK\x03\x04"
    if isinstance(data, DiskFile) and not mmap and data.size() > limit:
        raise bounded.too_large(source, "holds", limit)  # the legacy layout is read into memory
    try:
        with warnings.catch_warnings():  # torch's advice to its own users is no message of ours
            warnings.simplefilter("ignore")
            return torch.load(str(data) if isinstance(data, DiskFile) else io.BytesIO(data),
                              map_location="cpu", weights_only=True, mmap=mmap)
    except MemoryError:
        raise
    except pickle.UnpicklingError as exc:
        _refuse_unpickling(str(exc), source)
    except Exception as exc:  # torch reports a damaged file as RuntimeError, EOFError, ValueError, KeyError...
        raise InputError(f"{source}: not a valid PyTorch file ({_torch_reason(exc)})") from None


def _refuse_unpickling(message: str, source: str):
    """The InputError for what torch's weights-only unpickler refused: a Python object (a class or
    function it names), else bytes that are no pickle it reads."""
    import re

    found = re.search(r"GLOBAL ([\w.]+)", message)  # 'Unsupported global: GLOBAL m.C', 'unsupported GLOBAL m.f whose...'
    if found:
        raise InputError(f"{source}: holds Python objects torch's weights_only loader refuses (unsupported global "
                         f"{excerpt(found.group(1), 60)[1:-1]}); siamcli never unpickles code") from None
    found = re.search(r"WeightsUnpickler error:\s*([^\n]+)", message)
    reason = bounded._short(ValueError(found.group(1) if found else message))
    raise InputError(f"{source}: not a valid PyTorch file, or one holding what torch's weights_only loader "
                     f"refuses ({reason})") from None


def _torch_reason(exc: Exception) -> str:
    """The first sentence of torch's message (the rest is advice for torch.save's users)."""
    return bounded._short(ValueError(str(exc).split(". ")[0].strip() or type(exc).__name__))


def _named_tensors(torch, tree: dict, prefix: str = "", depth: int = 0):
    """(name, tensor) of a dict's tensors, nested dicts' as 'outer/inner' (a checkpoint's 'model')."""
    for name, value in tree.items():
        if not isinstance(name, (str, int)) or (not prefix and name == "ids"):
            continue
        if isinstance(value, torch.Tensor):
            yield f"{prefix}{name}", value
        elif isinstance(value, dict) and depth < 4:
            yield from _named_tensors(torch, value, f"{prefix}{name}/", depth + 1)


def _torch_array(torch, tensor, where: str) -> np.ndarray:
    """A tensor as a numpy array (shared, not copied); floats numpy lacks (bfloat16, float8) widened exactly."""
    if tensor.layout != torch.strided:
        raise InputError(f"{where}: is a sparse tensor ({tensor.layout}); save a dense one")
    check_ndim(where, tuple(tensor.shape))
    if tensor.is_complex():
        raise InputError(f"{where}: holds complex numbers; embeddings must be real")
    tensor = tensor.detach()
    if tensor.is_floating_point() and tensor.dtype not in (torch.float16, torch.float32, torch.float64):
        tensor = tensor.to(torch.float32)
    try:
        return tensor.resolve_conj().resolve_neg().numpy()
    except (TypeError, RuntimeError):
        raise InputError(f"{where}: holds {tensor.dtype} values, which siamcli does not read") from None


def _torch_ids(values, array: np.ndarray, name: str, source: str) -> list[str] | None:
    """Row ids from an 'ids' list (or 1-D tensor) saved beside the tensor: one per row."""
    if values is None or name == "ids":
        return None
    if hasattr(values, "tolist"):
        values = values.tolist()
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, (str, int)) for v in values):
        raise InputError(f"{source}: 'ids' must be a list of strings or integers, one per row")
    rows = array.shape[0] if array.ndim == 2 else 1
    if len(values) != rows:
        raise InputError(f"{source}: has {counted(len(values), 'id')} but {rows} rows")
    return [str(v) for v in values]

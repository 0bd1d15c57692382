"""HDF5 reader (h5py): a dataset by path (`key`), else the only 2-D numeric dataset of the file;
an 'ids' dataset beside it gives row ids. A contiguous, uncompressed dataset of a regular file is
memory-mapped (so a file larger than memory works); a chunked or compressed one is read in row
blocks into one array made up front, under the input ceiling."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from . import arrays, bounded
from .bounded import DiskFile
from .embeddings import Parsed, ReadOptions
from .tensors import check_ndim, choose_key, member
from .textcells import excerpt, listed

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Bytes read at a time from a chunked or compressed dataset.
BLOCK_BYTES = 2**26
#: What h5py and the HDF5 library raise for a damaged file (OverflowError: an address past what a
#: file object can seek to, from h5py's driver for bytes).
_H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, OverflowError)


def read_hdf5(data, source: str, options: ReadOptions) -> Parsed:
    """The dataset `options.key` (else the only 2-D numeric one) of an HDF5 file, with the 'ids'
    (and, asked for, the labels) dataset beside it."""
    import h5py

    head = data.read_bytes(len(HDF5_SIGNATURE)) if isinstance(data, DiskFile) else bytes(data[:8])
    if head != HDF5_SIGNATURE:
        raise InputError(f"{source}: not an HDF5 file (no HDF5 signature at its start)")
    try:
        with _open(h5py, data) as file:
            path, dataset = _dataset(h5py, file, options.key, source)
            where = member(source, path)
            array = _read(dataset, data, where, options.limit)
            rows = array.shape[0] if array.ndim == 2 else 1
            ids = _beside(h5py, dataset, "ids", rows, where, options.limit, required=False)
            labels = None
            if options.labels is not None:
                labels = arrays.label_array(_beside(h5py, dataset, options.labels, rows, where, options.limit),
                                            member(source, options.labels))
    except _H5_ERRORS as exc:
        raise InputError(f"{source}: not a valid HDF5 file, or a damaged one ({bounded._short(exc)})") from None
    return Parsed(array, None if ids is None else arrays.as_text(ids), labels=labels)


def _open(h5py, data):
    import io

    # locking=False: a notebook that still holds the file open for writing must not stop a reader
    return h5py.File(str(data) if isinstance(data, DiskFile) else io.BytesIO(data), "r", locking=False)


def _numeric_datasets(h5py, file) -> dict[str, tuple]:
    """{path: shape} of every numeric dataset (groups walked), in the order HDF5 lists them."""
    found = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.shape is not None and obj.dtype.kind in bounded.NUMERIC_KINDS \
                and obj.dtype.names is None and name.rsplit("/", 1)[-1] != "ids":
            found["/" + name] = obj.shape

    file.visititems(visit)
    return found


def _dataset(h5py, file, key: str | None, source: str):
    """(path, dataset) holding the vectors: `key`, else the only 2-D numeric dataset."""
    if key is None:
        path = choose_key(_numeric_datasets(h5py, file), None, source, "dataset")
        return path, file[path]
    try:
        found = file.get(key)
    except _H5_ERRORS:
        found = None
    if not isinstance(found, h5py.Dataset):
        what = "a group, not a dataset" if isinstance(found, h5py.Group) else "not there"
        raise InputError(f"{source}: {excerpt(key)} is {what} (numeric datasets: "
                         f"{listed(_numeric_datasets(h5py, file), 8)})")
    return (key if key.startswith("/") else "/" + key), found


def _read(dataset, data, where: str, limit: int) -> np.ndarray:
    """The dataset's array: memory-mapped when it lies contiguous and uncompressed in a large regular
    file, else read in row blocks (bounded by `limit`)."""
    shape, dtype = dataset.shape, dataset.dtype
    if shape is None:
        raise InputError(f"{where}: is an empty dataset (no dataspace)")
    if dtype.kind in "OSU":
        raise InputError(f"{where}: holds text, not numbers")
    problem = bounded.dtype_problem(dtype)
    if problem is not None:
        raise InputError(f"{where}: {problem}")
    check_ndim(where, shape, "dataset")
    nbytes = bounded.declared_bytes(shape, dtype)
    if isinstance(data, DiskFile) and nbytes > arrays.MMAP_THRESHOLD_BYTES and dtype.byteorder in "<=|" \
            and np.little_endian:
        offset = _contiguous_offset(dataset)
        if offset is not None:
            if offset + nbytes > data.size():
                raise InputError(f"{where}: its data runs past the end of the file (truncated?)")
            return np.memmap(data, dtype=dtype, mode="r", offset=offset, shape=shape)
    if nbytes > limit:
        raise bounded.too_large(where, "decompresses to" if dataset.compression else "holds", limit)
    return _read_blocks(dataset, where)


def _contiguous_offset(dataset) -> int | None:
    """Where a dataset's raw data starts in its file, when it lies there whole (contiguous, not
    compressed, not external, allocated); else None."""
    if dataset.chunks is not None or dataset.external:
        return None
    try:
        return dataset.id.get_offset()
    except _H5_ERRORS:
        return None


def _read_blocks(dataset, where: str) -> np.ndarray:
    """A dataset read into one array made up front, some rows at a time (whole chunks per block)."""
    out = np.empty(dataset.shape, dtype=dataset.dtype.newbyteorder("="))
    if out.size == 0:
        return out
    if out.ndim == 0:
        dataset.read_direct(out)
        return out
    row_bytes = max(1, out.itemsize * (out.size // out.shape[0]))
    step = max(1, BLOCK_BYTES // row_bytes)
    if dataset.chunks:
        step = max(dataset.chunks[0], step - step % dataset.chunks[0])
    try:
        for start in range(0, out.shape[0], step):
            block = np.s_[start : start + step]
            dataset.read_direct(out, block, block)
    except _H5_ERRORS as exc:
        raise InputError(f"{where}: cannot be read ({bounded._short(exc)}); is the file damaged?") from None
    return out


def _beside(h5py, dataset, name: str, rows: int, where: str, limit: int, required: bool = True):
    """The 1-D dataset `name` in the same group as `dataset`, one value per row (None when absent
    and not `required`); text as str."""
    try:
        found = dataset.parent.get(name)
    except _H5_ERRORS:
        found = None
    if not isinstance(found, h5py.Dataset):
        if not required:
            return None
        raise InputError(f"{where}: no dataset {excerpt(name)} beside it (for the labels)")
    if found.shape is None or len(found.shape) != 1:
        raise InputError(f"{where}: the {excerpt(name)} dataset beside it must be 1-D, got shape {found.shape}")
    if found.shape[0] != rows:
        raise InputError(f"{where}: has {found.shape[0]} {name} but {rows} rows")
    if found.dtype.itemsize * rows > limit:
        raise bounded.too_large(where, f"has {name}", limit)
    if h5py.check_string_dtype(found.dtype) is not None:
        return found.asstr(errors="replace")[()]
    problem = bounded.dtype_problem(found.dtype, bounded.LABEL_KINDS)
    if problem is not None:
        raise InputError(f"{where}: the {excerpt(name)} dataset beside it {problem}")
    return found[()]

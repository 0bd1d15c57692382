"""HDF5 reader (h5py): a dataset by path (`key`), else the only 2-D numeric dataset of the file;
an 'ids' dataset beside it gives row ids. A contiguous, uncompressed dataset of a regular file is
memory-mapped (so a file larger than memory works); a chunked or compressed one is read in row
blocks into one array made up front, under the input ceiling."""

from __future__ import annotations

import numpy as np

from ..errors import InputError, mention
from . import arrays, bounded
from .bounded import DiskFile
from .embeddings import Parsed, ReadOptions
from .tensors import check_ndim, choose_key, member
from .textcells import excerpt, listed

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Bytes read at a time from a chunked or compressed dataset.
BLOCK_BYTES = 2**26
#: The most links walked looking for the dataset when no key names it.
MAX_WALKED = 100_000
#: What h5py and the HDF5 library raise for a damaged file (OverflowError: an address past what a
#: file object can seek to, from h5py's driver for bytes; TypeError: a datatype h5py cannot map).
_H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, OverflowError, TypeError)


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
            ids = _beside(h5py, dataset, data, "ids", rows, where, options.limit, required=False)
            labels = None
            if options.labels is not None:
                labels = arrays.label_array(_beside(h5py, dataset, data, options.labels, rows, where, options.limit),
                                            member(source, options.labels))
    except _H5_ERRORS as exc:
        raise InputError(f"{source}: not a valid HDF5 file, or a damaged one ({bounded._short(exc)})") from None
    return Parsed(array, None if ids is None else arrays.as_text(ids), labels=labels)


def _open(h5py, data):
    import io

    # locking=False: a notebook that still holds the file open for writing must not stop a reader
    return h5py.File(str(data) if isinstance(data, DiskFile) else io.BytesIO(data), "r", locking=False)


def _numeric_datasets(h5py, file, source: str) -> dict[str, object]:
    """{path: dataset} of every numeric dataset, groups walked depth first in name order.

    Walked here rather than with visititems: HDF5's own visit loops forever on some damaged files
    (found by fuzzing) where listing a group's links fails cleanly; hard links only, each group
    once (a link back to an ancestor is legal), at most MAX_WALKED links."""
    found, seen, walked = {}, set(), 0

    def walk(group, prefix: str, depth: int) -> None:
        nonlocal walked
        for name in group:
            walked += 1
            if walked > MAX_WALKED:
                raise InputError(f"{source}: holds more than {MAX_WALKED:,} objects; name the dataset with "
                                 f"{mention('key')}")
            if not isinstance(group.get(name, getlink=True), h5py.HardLink):
                continue  # soft and external links: their targets are walked where they live, or not at all
            item = group.get(name)
            path = f"{prefix}/{name.decode('utf-8', 'replace') if isinstance(name, bytes) else name}"
            if isinstance(item, h5py.Group) and depth < 64 and _identity(item) not in seen:
                seen.add(_identity(item))
                walk(item, path, depth + 1)
            elif isinstance(item, h5py.Dataset) and item.shape is not None and not item.dtype.names \
                    and item.dtype.kind in bounded.NUMERIC_KINDS and path.rsplit("/", 1)[-1] != "ids":
                found[path] = item

    seen.update((None, _identity(file["/"])))  # None: a group too damaged to say which it is is not walked
    walk(file, "", 0)
    return found


def _identity(group):
    """Which object a group is (its file and address), or None when HDF5 cannot say."""
    try:
        return hash(group.id)
    except (TypeError, *_H5_ERRORS):
        return None


def _dataset(h5py, file, key: str | None, source: str):
    """(path, dataset) holding the vectors: `key`, else the only 2-D numeric dataset."""
    if key is None:
        datasets = _numeric_datasets(h5py, file, source)
        path = choose_key({name: d.shape for name, d in datasets.items()}, None, source, "dataset")
        return path, datasets[path]
    try:
        found = file.get(key)
    except _H5_ERRORS:
        found = None
    if not isinstance(found, h5py.Dataset):
        what = "a group, not a dataset" if isinstance(found, h5py.Group) else "not there"
        raise InputError(f"{source}: {excerpt(key)} is {what} (numeric datasets: "
                         f"{listed(_numeric_datasets(h5py, file, source), 8)})")
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


def _beside(h5py, dataset, data, name: str, rows: int, where: str, limit: int, required: bool = True):
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
    if found.dtype.kind == "O":  # variable-length: its values sit in the file's global heaps
        _check_global_heaps(found, data, name, where)
    if h5py.check_string_dtype(found.dtype) is not None:
        return found.asstr(errors="replace")[()]
    problem = bounded.dtype_problem(found.dtype, bounded.LABEL_KINDS)
    if problem is not None:
        raise InputError(f"{where}: the {excerpt(name)} dataset beside it {problem}")
    return found[()]


def _check_global_heaps(dataset, data, name: str, where: str) -> None:
    """Refuse a variable-length dataset kept in a global heap collection that HDF5 would walk
    forever (an object of index 0 and size 0, or one running past the collection's end: found by
    fuzzing HDF5 1.14), before HDF5 reads it. Checked where the dataset lies contiguous (h5py's
    default for ids); elsewhere HDF5 is left to read it as it does."""
    offset = _contiguous_offset(dataset)
    if offset is None or not dataset.shape:
        return
    sizeof_addr, sizeof_size = dataset.file.id.get_create_plist().get_sizes()
    step = 4 + sizeof_addr + 4  # on disk: a sequence length, then its heap collection's address and an index
    refs = _read_at(data, offset, step * dataset.shape[0])
    addresses = {int.from_bytes(refs[at + 4 : at + 4 + sizeof_addr], "little")
                 for at in range(0, len(refs) - step + 1, step) if refs[at : at + 4] != bytes(4)}
    for address in sorted(addresses):
        if not _heap_ends(data, address, sizeof_size):
            raise InputError(f"{where}: the {excerpt(name)} dataset beside it lies in a damaged global heap "
                             "(HDF5 would read it forever)")


def _read_at(data, offset: int, count: int) -> bytes:
    """At most `count` bytes of the input from `offset`."""
    if not isinstance(data, DiskFile):
        return bytes(data[offset : offset + count])
    with open(data, "rb") as file:
        file.seek(offset)
        return file.read(count)


def _heap_ends(data, address: int, sizeof_size: int) -> bool:
    """Whether HDF5's walk over the objects of the global heap collection at `address` ends (as
    H5HG__cache_heap_deserialize walks it). A collection HDF5 refuses anyway (no 'GCOL' signature,
    past the end of the file) passes: HDF5 says so itself."""
    header = _align8(8 + sizeof_size)  # a collection's header and an object's header are both this long
    head = _read_at(data, address, 8 + sizeof_size)
    if len(head) < 8 + sizeof_size or head[:4] != b"GCOL":
        return True
    size = int.from_bytes(head[8:], "little")
    heap = _read_at(data, address, size)
    if len(heap) < size:
        return True
    at = header
    while at < size:
        if at + header > size:
            return True  # too little room left for an object: free space, where the walk ends
        index = int.from_bytes(heap[at : at + 2], "little")
        length = int.from_bytes(heap[at + 8 : at + 8 + sizeof_size], "little")
        need = header + _align8(length) if index else length
        if need == 0 or need > size - at:
            return False
        at += need
    return True


def _align8(count: int) -> int:
    return (count + 7) // 8 * 8

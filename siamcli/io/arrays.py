"""Readers of numpy's containers: .npy (memory-mapped when large) and .npz (an array by name, with
'ids' and a labels array beside it). Headers are checked before any data is read (bounded.py)."""

from __future__ import annotations

import os

import numpy as np

from ..errors import counted, InputError, mention
from . import bounded
from .bounded import DiskFile
from .embeddings import Parsed, ReadOptions
from .textcells import excerpt, listed

#: .npy files larger than this are memory-mapped instead of read into memory.
MMAP_THRESHOLD_BYTES = 64 * 2**20


def read_npy(data, source: str, options: ReadOptions) -> Parsed:
    labels = options.labels
    if labels is not None:
        raise InputError(f"{source}: a .npy file holds one array, so no '{labels}' column; "
                         f"give the labels as a file of their own, or use an .npz with a '{labels}' array")
    if isinstance(data, DiskFile):
        return Parsed(bounded.npy_from_disk(data, source, MMAP_THRESHOLD_BYTES))
    return Parsed(bounded.npy_array(data, source))


def npy_shards(folder: str) -> list[str]:
    """The .npy files of a folder, sorted by name (the order the cluster reads them in too)."""
    import glob

    return sorted(f for f in glob.glob(os.path.join(glob.escape(folder), "*.npy")) if os.path.isfile(f))


def read_npy_folder(data, source: str, options: ReadOptions) -> Parsed:
    """The .npy shards of a folder as one array, rows in file-name order; a row's id is 'shard:row'
    (the file name without .npy), as when a cluster reads them."""
    if options.labels is not None:
        raise InputError(f"{source}: a folder of .npy shards holds no '{options.labels}' column; "
                         "give the labels as a file of their own")
    parts, ids = [], []
    for path in npy_shards(data):
        shown = f"{source}/{os.path.basename(path)}"
        array = bounded.npy_from_disk(path, shown, MMAP_THRESHOLD_BYTES)
        if array.ndim != 2:
            raise InputError(f"{shown}: a shard must be a 2-D array of rows, got shape {array.shape}")
        if parts and array.shape[1] != parts[0][1].shape[1]:
            raise InputError(f"{shown}: has {counted(array.shape[1], 'dimension')} but {parts[0][0]} has {parts[0][1].shape[1]}")
        parts.append((shown, array))
        name = os.path.basename(path)[:-4]
        ids.extend(f"{name}:{r}" for r in range(array.shape[0]))
    if not parts:
        raise InputError(f"{source}: the folder holds no .npy file")
    dtype = np.result_type(*[a.dtype for _, a in parts])
    array = np.concatenate([np.asarray(a, dtype=dtype) for _, a in parts]) if len(parts) > 1 else parts[0][1]
    return Parsed(array, ids)


def npy_labels(data, source: str, column: str | None, limit: int) -> list[str]:
    """A label per row from a 1-D .npy of numbers, booleans or text (`column` has no meaning here)."""
    if isinstance(data, DiskFile):
        if data.size() > limit:
            raise bounded.too_large(source, "holds", limit)
        data = data.read_bytes()
    return label_array(bounded.npy_array(data, source, bounded.LABEL_KINDS, max_ndim=1), source)


def _npz(data):
    import io

    return open(data, "rb") if isinstance(data, DiskFile) else io.BytesIO(data)


def read_npz(data, source: str, options: ReadOptions) -> Parsed:
    key, labels, limit = options.key, options.labels, options.limit
    with _npz(data) as handle:
        archive, members = bounded.open_npz(handle, source)
        with archive:
            key = _npz_key(members, key, labels, source)
            array = bounded.npz_member(archive, members[key], source, key, limit)
            rows = array.shape[0] if array.ndim == 2 else 1
            ids = None
            if "ids" in members and key != "ids":
                ids = as_text(_npz_per_row(archive, members, "ids", rows, source, limit))
            label_values = None
            if labels is not None:
                _npz_named(members, labels, source)
                label_values = label_array(_npz_per_row(archive, members, labels, rows, source, limit),
                                           f"{source}[{labels}]")
    return Parsed(array, ids, labels=label_values)


def npz_labels(data, source: str, column: str | None, limit: int) -> list[str]:
    """The labels array of an .npz: `column`, else 'labels'."""
    name = column or "labels"
    with _npz(data) as handle:
        archive, members = bounded.open_npz(handle, source)
        with archive:
            _npz_named(members, name, source)
            values = bounded.npz_member(archive, members[name], source, name, limit, bounded.LABEL_KINDS, max_ndim=1)
            return label_array(values, f"{source}[{name}]")


def _npz_named(members: dict, name: str, source: str) -> None:
    if name not in members:
        raise InputError(f"{source}: no array named {excerpt(name)} (arrays: {listed(members)})")


def _npz_per_row(archive, members, name: str, rows: int, source: str, limit: int) -> np.ndarray:
    """A 1-D member with a value per row (ids, labels), its length checked before it becomes text."""
    values = bounded.npz_member(archive, members[name], source, name, limit, bounded.LABEL_KINDS, max_ndim=1)
    if values.ndim != 1:
        raise InputError(f"{source}: the '{name}' array must be 1-D, got shape {values.shape}")
    if len(values) != rows:
        raise InputError(f"{source}: has {len(values)} {name} but {rows} rows")
    return values


def _npz_key(members: dict, key: str | None, labels: str | None, source: str) -> str:
    """The member holding the embeddings: `key`, else 'embeddings', else the only other one."""
    if key is not None:
        _npz_named(members, key, source)
        return key
    if "embeddings" in members:
        return "embeddings"
    candidates = [n for n in members if n not in ("ids", labels)]
    if len(candidates) != 1:
        raise InputError(
            f"{source}: holds several arrays ({listed(members)}); choose one with {mention('key')}"
            if candidates
            else f"{source}: holds no embedding array (arrays: {listed(members)})"
        )
    return candidates[0]


def as_text(values: np.ndarray) -> list[str]:
    return [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in values.tolist()]


def label_array(array: np.ndarray, source: str) -> list[str]:
    """Labels from a 1-D array of numbers, booleans or text, as text ('1', 'True', 'same')."""
    if array.ndim != 1:
        raise InputError(f"{source}: labels must be a 1-D array, got shape {array.shape}")
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)) \
            and np.all(np.abs(array) < 2**63):
        array = array.astype(np.int64)  # 1.0 and 1 are the same label
    return as_text(array)

"""Saving a score matrix, for every backend: .npy (block by block), .csv (with ids), and on a
backend that writes folders, a folder of .npy shards of rows (DIR/) or a zarr array (X.zarr).
Every file appears whole or not at all, never over an input (see siamcli.files)."""

from __future__ import annotations

import os

import numpy as np

from ..errors import UsageError, mention
from .dask.inputs import is_zarr

#: The single files a matrix is saved as, by any backend.
MATRIX_SUFFIXES = (".npy", ".csv")


def matrix_format(path: str, dtype=None, *, folders: bool = False) -> str:
    """How a matrix is saved at `path`: "npy", "csv", or with `folders` "shards" (a directory,
    or a name ending in /) and "zarr"; a UsageError for any other path, or a `dtype` for csv."""
    if is_zarr(path) and not folders:
        raise UsageError(f"{mention('output')} {path}: a .zarr matrix is written by the workers of a Dask cluster: "
                         f"add {mention('scheduler')} (local[:N] starts one here)")
    kind = ("zarr" if is_zarr(path) else "shards" if folders and (path.endswith(("/", os.sep)) or os.path.isdir(path))
            else path.lower().rpartition(".")[2] if path.lower().endswith(MATRIX_SUFFIXES) else None)
    if kind is None:
        raise UsageError(f"{mention('output')} {path}: the matrix can be saved as .npy or .csv (or, with "
                         f"{mention('scheduler')}, as .npy shards in a directory: {mention('output')} DIR/, or as a "
                         f"zarr array: {mention('output')} X.zarr)")
    check_dtype(kind, dtype)
    if kind == "zarr":
        from .dask.cluster import require_zarr

        require_zarr()
    return kind


def check_dtype(kind: str | None, dtype) -> None:
    """A `dtype` applies only to a matrix saved block by block (kind npy, shards or zarr)."""
    if dtype is not None and kind not in ("npy", "shards", "zarr"):
        raise UsageError(f"{mention('dtype')} applies to a matrix saved with {mention('output')} FILE.npy "
                         "(or X.zarr, DIR/)")


def folder_problem(kind: str):
    """The check of an existing folder a new matrix of this kind would replace (see files.check_target)."""
    if kind == "shards":
        from .dask.ops import shard_folder_problem

        return shard_folder_problem
    if kind == "zarr":
        from .dask.ops import zarr_folder_problem

        return zarr_folder_problem
    return None


def check_matrix_target(path: str, kind: str) -> None:
    """Before any work: `path` can be written (a folder for shards and zarr)."""
    from ..files import check_target

    check_target(path, folder=kind in ("shards", "zarr"), replaceable=folder_problem(kind))


def save_matrix(backend, comp, path: str, dtype=None) -> list[str] | None:
    """The matrix of a prepared comparison saved at `path` by `backend`; the shards' paths for a
    folder of shards, else None."""
    kind = matrix_format(path, dtype, folders=backend.writes_folders)
    written = backend.write(comp, path, kind, dtype)
    if written is not NotImplemented:
        return written
    from ..files import Output

    with Output(path) as out:
        if kind == "npy":
            write_npy(out.temp, comp, backend, np.dtype(dtype or comp.dtype))
        else:
            write_csv(out.temp, comp, backend.matrix_rows(comp))
    return None


def write_npy(path: str, comp, backend, dtype: np.dtype) -> None:
    """The matrix as .npy at `path` (an empty temporary), its space reserved first, written band of
    rows by band in row order, each band sent to disk while the next is computed; a self-comparison
    reads the bands above back for their mirrored blocks (they are still in the page cache)."""
    from ..files import read_at, reserve_npy, write_at, writing_behind

    start = reserve_npy(path, (len(comp.a), len(comp.b)), dtype)
    row_bytes = len(comp.b) * dtype.itemsize
    with open(path, "r+b", buffering=0) as handle, writing_behind(handle.fileno()) as sent:
        fd = handle.fileno()

        def read_back(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
            block = np.empty((r1 - r0, c1 - c0), dtype)
            for r in range(r0, r1):
                read_at(fd, block[r - r0], start + r * row_bytes + c0 * dtype.itemsize)
            return block

        for i0, rows in backend.matrix_rows(comp, read_back, dtype):
            write_at(fd, np.ascontiguousarray(rows), start + i0 * row_bytes)
            sent(start + i0 * row_bytes, rows.nbytes)


def write_csv(path: str, comp, row_blocks) -> None:
    """The matrix as CSV with ids (a header of B's ids, a row per row of A), from (first row,
    block of rows) in row order."""
    from ..output import write_matrix_rows

    with open(path, "w", newline="", encoding="utf-8") as handle:
        rows = ((comp.a.id_of(i), row) for i0, block in row_blocks
                for i, row in enumerate(block.astype(np.float64).tolist(), i0))
        write_matrix_rows(handle, comp.b.row_ids(), rows)

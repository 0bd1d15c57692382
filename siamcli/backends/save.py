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
    """The matrix as .npy at `path` (an empty temporary): its space reserved first, then bands of
    whole rows in row order, each computed into one of the writer's buffers while the other is
    written (rowwriter.RowWriter)."""
    from ..engine import matrix_row_blocks
    from ..files import reserve_npy
    from ..metrics import kernels
    from ..rowwriter import DIRECT_ALIGNMENT, RowWriter

    shape = (len(comp.a), len(comp.b))
    start = reserve_npy(path, shape, dtype, align=DIRECT_ALIGNMENT)
    row_bytes = shape[1] * dtype.itemsize
    bands = matrix_row_blocks(comp, max(kernels.PRODUCT_TILE[0], _WRITER_BAND_BYTES // max(1, row_bytes)))
    with RowWriter(path, max((i1 - i0 for i0, i1 in bands), default=1) * row_bytes) as writer:
        into = lambda i0, i1: writer.take((i1 - i0, shape[1]), dtype)  # noqa: E731
        for i0, rows in backend.matrix_rows(comp, dtype, into, bands):
            writer.write(rows, start + i0 * row_bytes)


#: Bands of rows a file is written by hold about this many bytes, or one product tile of rows if
#: more (the budget may make them smaller): two of them are the writer's buffers, and memory first
#: touched is slow to come by (16,000 x 16,000 float32: bands of 1,024 rows, 64 MiB, where the
#: budget allowed 2,048).
_WRITER_BAND_BYTES = 2**25


def write_csv(path: str, comp, row_blocks) -> None:
    """The matrix as CSV with ids (a header of B's ids, a row per row of A), from (first row,
    block of rows) in row order."""
    from ..output import write_matrix_rows

    with open(path, "w", newline="", encoding="utf-8") as handle:
        rows = ((comp.a.id_of(i), row) for i0, block in row_blocks
                for i, row in enumerate(block.astype(np.float64).tolist(), i0))
        write_matrix_rows(handle, comp.b.row_ids(), rows)

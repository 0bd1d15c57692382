"""EmbeddingSet, what a reader returns (Parsed), and the checks every input passes: numeric, 2-D
rows, finite. One place turns what a user passes (a path, a set, an array) into an EmbeddingSet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..errors import InputError
from . import bounded


@dataclass(eq=False)  # arrays: == would be elementwise, so records compare by identity
class EmbeddingSet:
    """Vectors as rows of a 2-D array (possibly memory-mapped), their ids, and where they came from."""

    vectors: np.ndarray
    ids: Sequence[str] | None
    source: str
    single: bool = False  # the file held one vector (a 1-D array or a single row)
    labels: Sequence[str] | None = None  # a label per row, when read from the same file (load_embeddings)

    def __len__(self) -> int:
        return self.vectors.shape[0]

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def id_of(self, index: int) -> str:
        return str(self.ids[index]) if self.ids is not None else str(index)

    def row_ids(self) -> list[str]:
        return [self.id_of(i) for i in range(len(self))]


@dataclass(eq=False)
class Parsed:
    """What a reader found: an array, optional ids, and the file line of each row (text formats)."""

    array: np.ndarray
    ids: list[str] | None = None
    locate: Callable[[int, int], str] | None = None  # (row, column) -> "line 3, column 4"
    labels: list | None = None  # a label per row, when asked for (a column, field or array of the file)


def as_embedding_set(x, name: str = "<array>", **load_options) -> EmbeddingSet:
    """An EmbeddingSet from what a user passes: a set (as it is), an array, list or tuple (checked
    as a loaded file is), or a path (loaded with `load_options`)."""
    if isinstance(x, EmbeddingSet):
        return x
    if isinstance(x, (np.ndarray, list, tuple)):
        return validated(Parsed(np.asarray(x)), name)
    from .loading import load_embeddings

    return load_embeddings(x, **load_options)


def embeddings_from_array(array, source: str = "<array>") -> EmbeddingSet:
    """An EmbeddingSet from an in-memory array, checked as a loaded file would be."""
    return validated(Parsed(np.asarray(array)), source)


def validated(parsed: Parsed, source: str) -> EmbeddingSet:
    """The EmbeddingSet of what a reader parsed: numeric, one vector or 2-D rows, finite."""
    array = parsed.array
    kind = array.dtype.kind
    if kind == "O":
        raise InputError(f"{source}: holds Python objects, not numbers")
    problem = bounded.dtype_problem(array.dtype)
    if problem is not None:
        raise InputError(f"{source}: {problem}")
    if array.ndim == 0:
        raise InputError(f"{source}: holds a single number (a 0-D array), not a vector")
    if array.ndim > 2:
        shape = " x ".join(map(str, array.shape))
        raise InputError(f"{source}: is a {array.ndim}-D array ({shape}); expected one vector or a 2-D array of rows")
    single = array.ndim == 1 or array.shape[0] == 1
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.shape[0] == 0:
        raise InputError(f"{source}: has no rows")
    if array.shape[1] == 0:
        raise InputError(f"{source}: has rows with no values")
    if kind == "f" and array.dtype.itemsize > 8:
        array = array.astype(np.float64)
    if kind == "f":
        check_finite(array, source, parsed.locate)
    if parsed.ids is not None and len(parsed.ids) != array.shape[0]:
        raise InputError(f"{source}: has {len(parsed.ids)} ids but {array.shape[0]} rows")
    if parsed.labels is not None and len(parsed.labels) != array.shape[0]:
        raise InputError(f"{source}: has {len(parsed.labels)} labels but {array.shape[0]} rows")
    return EmbeddingSet(array, parsed.ids, source, single, parsed.labels)


def check_finite(array: np.ndarray, source: str, locate: Callable[[int, int], str] | None = None,
                 tally: bool = True) -> None:
    """Raise naming the first NaN or infinite value of 2-D rows (`locate` says where a (row, column)
    is in the file; default 'row r, column c') and, with `tally`, how many more there are (not for
    a part of an input: the count would be the part's); reads the array (memory-mapped ones too) in
    chunks, on the worker threads when it is large."""
    from ..metrics import kernels

    def scan(start: int, stop: int):
        chunk = np.asarray(array[start:stop])
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(chunk.sum()):  # NaN and inf propagate into a sum: one fast pass suffices
                return None
        bad = ~np.isfinite(chunk)
        if not bad.any():
            return None
        row, col = (int(x) for x in np.argwhere(bad)[0])
        return int(bad.sum()), (start + row, col, "NaN" if np.isnan(chunk[row, col]) else "infinite")

    step = max(1, 2**22 // max(1, array.shape[1]))
    found = [f for f in kernels.chunks_in_threads(scan, array.shape[0], step, array.size) if f]
    if found:
        total = sum(count for count, _ in found)
        row, col, value = found[0][1]
        where = locate(row, col) if locate else f"row {row}, column {col}"
        more = f" ({total - 1} more non-finite values)" if total > 1 and tally else ""
        raise InputError(f"{source}: {where} is {value}; embeddings must be finite{more}")


def stack_embeddings(sets: Sequence[EmbeddingSet]) -> EmbeddingSet:
    """Several files as one set, rows in file order; an id says its file ('file' for a file of
    one vector, 'file:id' otherwise), so one run scores a whole folder."""
    if len(sets) == 1:
        return sets[0]
    first = sets[0]
    for s in sets[1:]:
        if s.dim != first.dim:
            raise InputError(f"{s.source} has {s.dim} dimensions but {first.source} has {first.dim}")
    ids = []
    for s in sets:
        ids.extend([s.source] if len(s) == 1 else [f"{s.source}:{s.id_of(i)}" for i in range(len(s))])
    dtype = np.result_type(*[s.vectors.dtype for s in sets])
    vectors = np.concatenate([np.asarray(s.vectors, dtype=dtype) for s in sets])
    return EmbeddingSet(vectors, ids, f"{first.source} and {len(sets) - 1} more files", False)

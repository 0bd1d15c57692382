"""EmbeddingSet, what a reader returns (Parsed), and the checks every input passes: numeric, 2-D
rows, finite. One place turns what a user passes (a path, a set, an array) into an EmbeddingSet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..errors import counted, InputError, UsageError, mention
from . import bounded


@dataclass(eq=False)  # arrays: == would be elementwise, so records compare by identity
class EmbeddingSet:
    """Vectors as rows of a 2-D array (possibly memory-mapped), their ids, and where they came from.

    >>> import numpy as np, siamcli
    >>> s = siamcli.load(np.zeros((2, 3), dtype=np.float32), dtype="float64")
    >>> s, len(s), s.dim, s.row_ids()
    (EmbeddingSet('<array>', 2 x 3 float64), 2, 3, ['0', '1'])
    """

    vectors: np.ndarray
    ids: Sequence[str] | None
    source: str
    single: bool = False  # the file held one vector (a 1-D array or a single row)
    labels: Sequence[str] | None = None  # a label per row, when read from the same file (load_embeddings)
    fields: dict[str, Sequence[str]] | None = None  # text per row shown with results (--show): {'text': [...]}
    format: str | None = None  # the input format it was read as (load_embeddings)

    def __len__(self) -> int:
        return self.vectors.shape[0]

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def id_of(self, index: int) -> str:
        return str(self.ids[index]) if self.ids is not None else str(index)

    def row_ids(self) -> list[str]:
        return [self.id_of(i) for i in range(len(self))]

    def __repr__(self) -> str:
        """One line: where from, rows x dimensions and type, the first ids; never the vectors."""
        source = self.source if len(self.source) <= 40 else "..." + self.source[-37:]
        parts = [repr(source), f"{len(self)} x {self.dim} {self.vectors.dtype}"]
        if self.ids is not None:
            first = ", ".join(repr(self.id_of(i)[:12]) for i in range(min(3, len(self))))
            parts.append(f"ids=[{first}{', ...' if len(self) > 3 else ''}]")
        if self.labels is not None:
            parts.append(f"labels={len(set(map(str, self.labels)))} distinct")
        if self.fields:
            parts.append(f"fields={sorted(self.fields)}")
        return f"EmbeddingSet({', '.join(parts)})"


@dataclass(frozen=True)
class ReadOptions:
    """What a reader is asked for beyond the bytes. A format lists in Format.options the ones it
    reads (key, column, columns, id_column, fields); giving another is an error naming it.

    key: the array, tensor or dataset path of a container of several (npz, safetensors, HDF5, pt).
    column: the list column holding the vectors (Parquet, Arrow, datasets, list cells of CSV).
    columns: the numeric columns making the vector, a comma list or a prefix pattern ('e*').
    id_column: the column of row ids (default: one named 'id' when present).
    labels: a column, field or array of the same file read as a label per row, not as a dimension.
    fields: text columns kept beside the vectors (--show), as Parsed.fields.
    dtype: 'float32' or 'float64' to compute in; None: the file's float type, and for text the
        narrowest float that holds every value exactly (loading narrows text with exact_float32).
    limit: the most bytes the input may bring into memory (--max-input-size).
    """

    key: str | None = None
    column: str | None = None
    columns: str | None = None
    id_column: str | None = None
    labels: str | None = None
    fields: tuple[str, ...] = ()
    dtype: str | None = None
    limit: int = bounded.DEFAULT_MAX_INPUT_BYTES

    def given(self) -> list[str]:
        """The names of the format-specific options set (labels and limit are every format's)."""
        return [name for name in ("key", "column", "columns", "id_column", "fields") if getattr(self, name)]


@dataclass(eq=False)
class Parsed:
    """What a reader found: an array, optional ids, and the file line of each row (text formats)."""

    array: np.ndarray
    ids: list[str] | None = None
    locate: Callable[[int, int], str] | None = None  # (row, column) -> "line 3, column 4"
    labels: list | None = None  # a label per row, when asked for (a column, field or array of the file)
    fields: dict[str, list[str]] | None = None  # the text columns asked for (ReadOptions.fields)


def as_embedding_set(x, name: str | None = "<array>", **load_options) -> EmbeddingSet:
    """An EmbeddingSet from what a user passes: a set (as it is), a path (loaded with
    `load_options`), or an object in memory named `name` (an array, list, tensor or DataFrame,
    checked as a loaded file is: objects.from_object; None: named by its kind)."""
    if isinstance(x, EmbeddingSet):
        return x
    from .loading import load_embeddings
    from .objects import from_object, is_path

    return load_embeddings(x, **load_options) if is_path(x) else from_object(x, name=name)


def embeddings_from_array(array, source: str = "<array>") -> EmbeddingSet:
    """An EmbeddingSet from an in-memory array, checked as a loaded file would be."""
    return validated(Parsed(np.asarray(array)), source)


#: --dtype's choices: the float types siamcli computes in.
DTYPES = ("float32", "float64")


def validated(parsed: Parsed, source: str, dtype: str | None = None) -> EmbeddingSet:
    """The EmbeddingSet of what a reader parsed: numeric, one vector or 2-D rows, finite; in
    `dtype` when given (float16 and bfloat16 always compute in float32)."""
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
    array = _in_dtype(array, dtype, source, parsed.locate)
    if parsed.ids is not None and len(parsed.ids) != array.shape[0]:
        raise InputError(f"{source}: has {counted(len(parsed.ids), 'id')} but {array.shape[0]} rows")
    if parsed.labels is not None and len(parsed.labels) != array.shape[0]:
        raise InputError(f"{source}: has {counted(len(parsed.labels), 'label')} but {array.shape[0]} rows")
    for name, values in (parsed.fields or {}).items():
        if len(values) != array.shape[0]:
            raise InputError(f"{source}: has {counted(len(values), 'value')} of {name!r} but {array.shape[0]} rows")
    return EmbeddingSet(array, parsed.ids, source, single, parsed.labels, parsed.fields or None)


def exact_float32(array: np.ndarray) -> np.ndarray:
    """Float64 values parsed from text as float32 when every one of them is written from a float32
    (see denotes_float32), else unchanged: nothing loses precision, and the text computes as fast
    as the .npy it was written from. Checked in row chunks (no full copy besides the result)."""
    if array.dtype != np.float64 or array.ndim != 2:
        return array
    narrowed = np.empty(array.shape, dtype=np.float32)
    step = max(1, 2**22 // max(1, array.shape[1]))
    with np.errstate(over="ignore"):
        for start in range(0, array.shape[0], step):
            chunk = array[start : start + step]
            narrowed[start : start + step] = chunk
            if not denotes_float32(chunk, narrowed[start : start + step]):
                return array
    return narrowed


#: Powers of ten exact in float64.
_POW10 = 10.0 ** np.arange(23)


def denotes_float32(wide: np.ndarray, narrow: np.ndarray) -> bool:
    """Whether each value parsed from text (`wide`, float64) is its float32 (`narrow`) as text
    writes a float32: exactly (numpy.savetxt's %.18e, repr of the widened value), as its shortest
    round-trip decimal (numpy, pandas, polars, JSON) or rounded to 9 significant digits (C's
    %.9g). Text with more digits than that (float64 data) is not: computing it in float32 would
    lose them."""
    wide, narrow = wide.reshape(-1), narrow.reshape(-1)
    step = 1 << 16
    return all(_denotes_float32(wide[i : i + step], narrow[i : i + step]) for i in range(0, wide.size, step))


def _denotes_float32(value: np.ndarray, single: np.ndarray) -> bool:
    with np.errstate(all="ignore"):
        differ = np.flatnonzero(single != value)
        if differ.size == 0:
            return True
        value, single = value[differ], single[differ]
        widened = single.astype(np.float64)
        if not np.isfinite(widened).all():
            return False
        exponent = np.floor(np.log10(np.abs(widened))).astype(np.int64)
        far = (exponent < -14) | (exponent > 13)  # where 10**k is not exact: the slow way, value by value
        if far.any():
            if any(float(str(s)) != v and float(f"{s:.9g}") != v for s, v in zip(single[far], value[far])):
                return False
            near = ~far
            value, single, widened, exponent = value[near], single[near], widened[near], exponent[near]
        pending, written = np.ones(value.size, bool), np.zeros(value.size, bool)
        for digits in (6, 7, 8, 9):  # a decimal of d <= 6 digits is also the value rounded to 6 digits
            k = digits - 1 - exponent
            scale = _POW10[np.abs(k)]
            rounded = np.where(k >= 0, np.rint(widened * scale) / scale, np.rint(widened / scale) * scale)
            same = rounded == value
            shortest = pending & (rounded.astype(np.float32) == single)
            written |= (shortest | (digits == 9)) & same
            pending &= ~shortest
        return bool(written.all())


def _in_dtype(array: np.ndarray, dtype: str | None, source: str, locate) -> np.ndarray:
    """The finite rows in the float type asked for: float16 as float32; float32 from wider data only
    when every value fits (a value past float32's range is an error naming it, never an infinity)."""
    if dtype is None:
        return array.astype(np.float32) if array.dtype == np.float16 else array
    if dtype not in DTYPES:
        raise UsageError(f"{mention('dtype')} must be {' or '.join(DTYPES)}, got {dtype!r}")
    target = np.dtype(dtype)
    if array.dtype == target:
        return array
    if target == np.float32 and array.dtype.kind in "fiu" and array.dtype.itemsize >= 4:
        with np.errstate(over="ignore"):
            narrowed = np.asarray(array, dtype=np.float32)
        if not np.isfinite(narrowed.sum(dtype=np.float64)):
            bad = np.argwhere(~np.isfinite(narrowed))[0]
            where = locate(*map(int, bad)) if locate else f"row {bad[0]}, column {bad[1]}"
            raise InputError(f"{source}: {where} is too large for float32 ({mention('dtype')} float64 keeps it)")
        return narrowed
    return np.asarray(array, dtype=target)


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
            raise InputError(f"{s.source} has {counted(s.dim, 'dimension')} but {first.source} has {first.dim}")
    ids = []
    for s in sets:
        ids.extend([s.source] if len(s) == 1 else [f"{s.source}:{s.id_of(i)}" for i in range(len(s))])
    dtype = np.result_type(*[s.vectors.dtype for s in sets])
    vectors = np.concatenate([np.asarray(s.vectors, dtype=dtype) for s in sets])
    return EmbeddingSet(vectors, ids, f"{first.source} and {counted(len(sets) - 1, 'more file')}", False)

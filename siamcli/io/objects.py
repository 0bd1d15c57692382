"""Embeddings already in memory: numpy arrays (and anything with `__array__`), nested lists, torch
tensors, pandas and polars DataFrames. Each passes the checks a loaded file passes
(embeddings.validated); a DataFrame's columns follow a Parquet table's rules (columnar.plan_columns:
one column of numeric lists, or the numeric columns; an 'id' column, or a pandas index of that
name, gives the ids). torch, pandas
and polars are recognised by their type's module, so none of them is imported to find out."""

from __future__ import annotations

import os
import sys

import numpy as np

from ..errors import InputError, UsageError, mention
from .embeddings import EmbeddingSet, Parsed, ReadOptions, validated

#: What each kind of object is called in messages, and the source name of its set.
KINDS = {"array": "<array>", "list": "<list>", "tensor": "<tensor>", "pandas": "<DataFrame>", "polars": "<DataFrame>"}
_ARTICLES = {"array": "an array", "list": "a list", "tensor": "a tensor"}
#: The options a DataFrame takes (a table's); an array, list or tensor takes none of them.
FRAME_OPTIONS = ("column", "columns", "id_column", "fields", "labels")
ACCEPTED = "a path, a numpy array, a list of rows, a torch tensor or a pandas or polars DataFrame"


def is_path(x) -> bool:
    return isinstance(x, (str, os.PathLike))


def _made_by(x, package: str, name: str) -> bool:
    """Whether x is an instance of a class `name` of `package` (or a subclass: torch's Parameter)."""
    return any(c.__name__ == name and c.__module__.split(".")[0] == package for c in type(x).__mro__)


def object_kind(x) -> str | None:
    """'array', 'list', 'tensor', 'pandas' or 'polars', or None for an object siamcli cannot read."""
    if isinstance(x, np.ndarray):
        return "array"
    if isinstance(x, (list, tuple)):
        return "list"
    if _made_by(x, "torch", "Tensor"):
        return "tensor"
    if _made_by(x, "pandas", "DataFrame"):
        return "pandas"
    if _made_by(x, "polars", "DataFrame"):
        return "polars"
    if hasattr(x, "__array__") and not isinstance(x, (str, bytes, dict)):  # jax, xarray, a pandas Series
        return "array"
    return None


def from_object(x, options: ReadOptions = ReadOptions(), name: str | None = None) -> EmbeddingSet:
    """The EmbeddingSet of an object in memory, checked as a file is; `name` (default '<array>',
    '<list>', '<tensor>' or '<DataFrame>') names it in messages. A DataFrame takes the table options
    (column, columns, id_column, fields, labels); an array, list or tensor none."""
    if isinstance(x, EmbeddingSet):
        return x
    kind = object_kind(x)
    if kind is None:
        kind_name = f"{type(x).__module__}.{type(x).__qualname__}".removeprefix("builtins.")
        raise InputError(f"cannot read embeddings from a {kind_name}; give {ACCEPTED}")
    source = name or KINDS[kind]
    takes = FRAME_OPTIONS if kind in ("pandas", "polars") else ()
    for option in options.given() + (["labels"] if options.labels else []):
        if option not in takes:
            raise UsageError(f"{mention(option)} applies to files and DataFrames, not to {_ARTICLES[kind]}")
    if kind in ("pandas", "polars"):
        parsed = _frame(x, kind, options, source)
    elif kind == "tensor":
        parsed = Parsed(_tensor_array(x, source))
    else:
        parsed = Parsed(_array(x, source))
    embeddings = validated(parsed, source, options.dtype)
    embeddings.format = kind
    return embeddings


def _array(x, source: str) -> np.ndarray:
    """np.asarray(x), with rows of different lengths named rather than numpy's complaint."""
    if isinstance(x, (list, tuple)) and not x:
        raise InputError(f"{source}: is empty")
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as exc:
        if isinstance(x, (list, tuple)) and x and all(hasattr(row, "__len__") for row in x):
            lengths = [len(row) for row in x]
            row = next((i for i, n in enumerate(lengths) if n != lengths[0]), None)
            if row is not None:
                raise InputError(f"{source}: row {row} holds {lengths[row]} value{'s' * (lengths[row] != 1)} but row 0 "
                                 f"holds {lengths[0]}; "
                                 "every vector must have the same length") from None
        raise InputError(f"{source}: is not rows of numbers ({type(exc).__name__}: {str(exc)[:120]})") from None


def _tensor_array(x, source: str) -> np.ndarray:
    """A torch tensor's values on the CPU as numpy (detached; bfloat16 widened exactly), as the .pt
    reader reads them."""
    from .tensors import _torch_array

    torch = sys.modules["torch"]  # the tensor's own module is loaded: this imports nothing
    return _torch_array(torch, x.detach().cpu(), source)


def _frame(x, kind: str, options: ReadOptions, source: str) -> Parsed:
    """A DataFrame as Arrow (no copy of numeric columns where Arrow allows), read by a table's rules."""
    from .columnar import gather, plan_columns, pyarrow_module

    try:
        pa = pyarrow_module()
    except ImportError:
        raise InputError(f"{source}: reading a {kind} DataFrame needs pyarrow; pip install 'siamcli[parquet]'") from None
    if kind == "pandas" and x.index.name == (options.id_column or "id") and x.index.name not in x.columns:
        x = x.reset_index()  # ids set as the index (df.set_index("id")); any other index is not read
    try:
        parsed = _pandas_columns(pa, x, options, source) if kind == "pandas" else None
        if parsed is not None:
            return parsed
        table = pa.Table.from_pandas(x, preserve_index=False) if kind == "pandas" else x.to_arrow()
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InputError(f"{source}: cannot be read as a table ({type(exc).__name__}: {str(exc)[:120]})") from None
    plan = plan_columns(pa, table.schema, options, source)
    return gather(table.to_batches(), table.num_rows, plan, source)


def _stacked(cells: np.ndarray, dtype: np.dtype) -> np.ndarray | None:
    """A column of equally long numeric arrays or lists (`df["emb"] = list(x)`) as rows in one
    copy; None for anything else (a missing cell, ragged rows, text), which Arrow reads and names."""
    try:
        rows = np.stack(cells)
    except (ValueError, TypeError):
        return None
    return rows.astype(dtype, copy=False) if rows.ndim == 2 and rows.dtype.kind in "fiu" else None


def _pandas_columns(pa, x, options: ReadOptions, source: str) -> Parsed | None:
    """A pandas DataFrame's vectors copied once from pandas (its numeric columns, or a column of
    arrays stacked: Arrow would convert cell by cell), and its id, label and text columns through
    Arrow; None when the column of lists is not a plain one (Arrow reads it, naming what is wrong)."""
    from dataclasses import replace

    from .columnar import gather, plan_columns

    schema = pa.Schema.from_pandas(x.iloc[:64], preserve_index=False)  # the types, from the first rows
    names = schema.names  # pandas' labels as text (0 is '0'), in column order
    plan = plan_columns(pa, schema, options, source)
    if plan.listed:
        vectors = _stacked(x.iloc[:, names.index(plan.vectors[0])].to_numpy(), plan.dtype)
        if vectors is None:
            return None
    else:
        vectors = x.iloc[:, [names.index(name) for name in plan.vectors]].to_numpy(dtype=plan.dtype, na_value=np.nan)
    if not plan.text_columns():
        return Parsed(vectors, locate=plan.locate)
    texts = pa.Table.from_pandas(x.iloc[:, [names.index(name) for name in plan.text_columns()]], preserve_index=False)
    parsed = gather(texts.to_batches(), len(x), replace(plan, vectors=[], listed=False), source)
    parsed.array, parsed.locate = vectors, plan.locate
    return parsed

"""Readers of Arrow's containers: Parquet files and Arrow IPC files and streams (Feather v2 is the
IPC file format). pyarrow (the 'parquet' extra) is imported inside the readers only, so that the
command's start-up never pays for it; a missing pyarrow reaches loading.parse as an ImportError.

The vectors are one column of numeric lists (list, large_list or fixed_size_list), or several
numeric columns, a dimension each. Batches (Parquet row groups read in slices, IPC record batches)
are copied one at a time into one preallocated array, so memory stays near the size of the result;
a single batch already in the right type (an uncompressed, memory-mapped Feather file) is used as
it is. Rows are 0-based, as the numpy formats give them; hfdataset.py reads Hugging Face folders."""

from __future__ import annotations

import fnmatch
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from ..errors import counted, InputError, UsageError, mention
from .arrays import label_array
from .bounded import DiskFile
from .embeddings import Parsed, ReadOptions
from .textcells import excerpt, listed

PARQUET_MAGIC = b"PAR1"
ARROW_FILE_MAGIC = b"ARROW1"
ARROW_STREAM_MAGIC = b"\xff\xff\xff\xff"  # an IPC stream's first message opens with the continuation marker
#: Values decoded at a time from a Parquet file (a slice of a row group, so none is held whole):
#: pyarrow's buffers for a slice (values, levels, pages) come to about four times its values.
PARQUET_BATCH_VALUES = 2**20
#: Parquet column chunks are read in pieces this large instead of whole.
PARQUET_READ_BUFFER = 2**20
#: The ReadOptions a table (Parquet, Arrow, a datasets folder) takes.
COLUMN_OPTIONS = ("column", "columns", "id_column", "fields")
#: Most column names a message lists.
SHOWN_COLUMNS = 8
#: Columns pandas writes for a DataFrame's index: never a dimension.
_PANDAS_INDEX = re.compile(r"__index_level_\d+__")


def pyarrow_module():
    """pyarrow, imported when a reader first needs it."""
    import pyarrow

    return pyarrow


def looks_like_arrow(head: bytes) -> bool:
    """Whether unnamed bytes open like an Arrow IPC file or stream."""
    return head.startswith((ARROW_FILE_MAGIC, ARROW_STREAM_MAGIC))


@contextmanager
def invalid_as_input_error(source: str, kind: str):
    """pyarrow's complaints about a damaged or foreign file as one InputError naming it."""
    pa = pyarrow_module()
    try:
        yield
    except pa.ArrowMemoryError:
        raise  # a MemoryError: load_embeddings says what did not fit
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:  # the last: names that are not UTF-8
        raise InputError(f"{source}: not a valid {kind} ({excerpt(str(exc).strip())[1:-1]})") from None


def _head(data, count: int) -> bytes:
    return data.read_bytes(count) if isinstance(data, DiskFile) else bytes(data[:count])


def _input_of(pa, data, mapped: bool):
    """A pyarrow input over a file (memory-mapped, or read as asked) or over bytes (stdin, gzip)."""
    if isinstance(data, DiskFile):
        return pa.memory_map(data) if mapped else pa.OSFile(data)
    return pa.BufferReader(pa.py_buffer(data))


# ---------------------------------------------------------------- which columns hold what


@dataclass
class Plan:
    """The columns of a table a reader reads, and what each gives."""

    vectors: list[str]  # the column of numeric lists, or the numeric columns (a dimension each)
    listed: bool  # whether vectors[0] is a column of lists
    dtype: np.dtype  # what the values are read as
    ids: str | None = None
    labels: str | None = None
    fields: tuple[str, ...] = ()

    def columns(self) -> list[str]:
        """Every column read, each once, vectors first."""
        return list(dict.fromkeys([*self.vectors, *self.text_columns()]))

    def text_columns(self) -> list[str]:
        return list(dict.fromkeys([c for c in (self.ids, self.labels) if c is not None] + list(self.fields)))

    def locate(self, row: int, col: int) -> str:
        if self.listed:
            return f"row {row}, element {col} of column {excerpt(self.vectors[0])}"
        return f"row {row}, column {excerpt(self.vectors[col])}"


def _float_dtype(pa, t) -> np.dtype | None:
    """The float type numbers of Arrow type `t` are read as (None: not numbers)."""
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return np.dtype(np.float32)
    if pa.types.is_float64(t) or pa.types.is_integer(t):
        return np.dtype(np.float64)
    return None


def _is_list(pa, t) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _is_text(pa, t) -> bool:
    string_view = getattr(pa.types, "is_string_view", lambda _: False)  # pyarrow >= 16
    return pa.types.is_string(t) or pa.types.is_large_string(t) or string_view(t)


def shown_type(t) -> str:
    """An Arrow type for a message (a struct's type names its fields: at most 60 characters of it)."""
    text = str(t)
    return text if len(text) <= 60 else text[:57] + "..."


def _holds(pa, t) -> str:
    """What a column of type `t` holds, for a message."""
    if _is_text(pa, t) or pa.types.is_dictionary(t) and _is_text(pa, t.value_type):
        return f"text ({shown_type(t)})"
    if _is_list(pa, t):
        return f"lists of {_holds(pa, t.value_type).split(' (')[0]} ({shown_type(t)})"
    return f"numbers ({shown_type(t)})" if _float_dtype(pa, t) is not None else f"{shown_type(t)} values"


def plan_columns(pa, schema, options: ReadOptions, source: str) -> Plan:
    """Which columns hold the vectors, ids, labels and fields, from the options and the schema."""
    names = schema.names
    types = dict(zip(names, schema.types))

    def named(name: str) -> str:
        if name not in types:
            raise InputError(f"{source}: has no column {excerpt(name)} (columns: {listed(names, SHOWN_COLUMNS)})")
        return name

    if options.column and options.columns:
        raise UsageError(f"give {mention('column')} or {mention('columns')}, not both")
    ids = named(options.id_column) if options.id_column else \
        "id" if "id" in types and not _is_list(pa, types["id"]) else None
    labels = named(options.labels) if options.labels else None
    fields = tuple(named(f) for f in options.fields)
    if options.columns:
        vectors, listed_ = _chosen_columns(pa, types, options.columns, named, source), False
    elif options.column:
        vectors, listed_ = [named(options.column)], True
        value_type = types[options.column]
        if not _is_list(pa, value_type) or _float_dtype(pa, value_type.value_type) is None:
            hint = f"; name numeric columns with {mention('columns')}" if _float_dtype(pa, value_type) else ""
            raise InputError(f"{source}: column {excerpt(options.column)} holds {_holds(pa, value_type)}, "
                             f"not lists of numbers{hint}")
    else:
        vectors, listed_ = _found_columns(pa, types, {ids, labels, *fields}, source)
    value_types = [types[vectors[0]].value_type] if listed_ else [types[v] for v in vectors]
    dtype = np.result_type(*[_float_dtype(pa, t) for t in value_types])
    plan = Plan(vectors, listed_, dtype, ids, labels, fields)
    for name in plan.columns():
        if names.count(name) > 1:
            raise InputError(f"{source}: has {counted(names.count(name), 'column')} named {excerpt(name)}")
    return plan


def _chosen_columns(pa, types: dict, spec: str, named: Callable[[str], str], source: str) -> list[str]:
    """The numeric columns `spec` names: a comma list of names, each may be a pattern ('e*') that
    takes the matching columns in file order."""
    chosen: list[str] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        if any(c in item for c in "*?["):
            matched = [name for name in types if fnmatch.fnmatchcase(name, item)]
            if not matched:
                raise InputError(f"{source}: no column matches {excerpt(item)} "
                                 f"(columns: {listed(types, SHOWN_COLUMNS)})")
        else:
            matched = [named(item)]
        chosen += [name for name in matched if name not in chosen]
    for name in chosen:
        if _float_dtype(pa, types[name]) is None:
            raise InputError(f"{source}: column {excerpt(name)} holds {_holds(pa, types[name])}, not numbers")
    if not chosen:
        raise InputError(f"{source}: {mention('columns')} names no column")
    return chosen


def _found_columns(pa, types: dict, taken: set, source: str) -> tuple[list[str], bool]:
    """The only column of numeric lists, else every numeric column (but ids, labels, fields and
    pandas' index)."""
    free = {name: t for name, t in types.items() if name not in taken}
    lists = [name for name, t in free.items() if _is_list(pa, t) and _float_dtype(pa, t.value_type) is not None]
    if len(lists) == 1:
        return lists, True
    if lists:
        raise InputError(f"{source}: holds several columns of numeric lists ({listed(lists, SHOWN_COLUMNS)}); "
                         f"choose one with {mention('column')}")
    numeric = [name for name, t in free.items() if _float_dtype(pa, t) is not None and not _PANDAS_INDEX.fullmatch(name)]
    if numeric:
        return numeric, False
    raise InputError(f"{source}: holds no column of numeric lists and no numeric column "
                     f"(columns: {listed(types, SHOWN_COLUMNS)})")


# ---------------------------------------------------------------- batches into one array


def _first_null(array) -> int:
    return array.is_null().to_pylist().index(True)  # only on the way to an error


#: numpy's names of Arrow's numeric types where they differ.
_NUMPY_NAMES = {"halffloat": "float16", "float": "float32", "double": "float64"}


def _numpy(array) -> np.ndarray:
    """The values of a numeric array without nulls as a numpy view of its buffer (Array.to_numpy
    would import pandas, a third of a second, when it is installed)."""
    dtype = np.dtype(_NUMPY_NAMES.get(str(array.type), str(array.type)))
    if not len(array):
        return np.empty(0, dtype)
    return np.frombuffer(array.buffers()[1], dtype, count=len(array), offset=array.offset * dtype.itemsize)


def _list_values(pa, array, name: str, first: int, dim: int | None, source: str) -> np.ndarray:
    """The (rows, dim) values of one batch of a column of numeric lists (a view where Arrow allows);
    `dim`: the length of every list (None: this batch's first row says)."""
    if array.null_count:
        raise InputError(f"{source}: row {first + _first_null(array)}: column {excerpt(name)} is null; "
                         "every row needs a vector")
    rows = len(array)
    if pa.types.is_fixed_size_list(array.type):
        lengths = np.full(rows, array.type.list_size)
    else:
        lengths = np.diff(_numpy(array.offsets))
    dim = int(lengths[0]) if dim is None else dim
    wrong = np.flatnonzero(lengths != dim)
    if wrong.size:
        row = int(wrong[0])
        count = int(lengths[row])
        raise InputError(f"{source}: row {first + row}: column {excerpt(name)} holds {count} value{'s' * (count != 1)} "
                         f"but row 0 holds {dim}; every vector must have the same length")
    flat = array.flatten()  # the values of these rows only (a slice, not a copy)
    if flat.null_count:
        row, element = divmod(_first_null(flat), dim)
        raise InputError(f"{source}: row {first + row}, element {element} of column {excerpt(name)} is null")
    return _numpy(flat).reshape(rows, dim)


def _put_lists(pa, batch, plan: Plan, first: int, rows: int, out: np.ndarray | None, source: str) -> np.ndarray:
    """Copies one batch of a column of lists into rows first... of `out`, made at the first batch
    (or the batch's values themselves when they are the whole table in the right type)."""
    name = plan.vectors[0]
    values = _list_values(pa, batch.column(name), name, first, None if out is None else out.shape[1], source)
    if out is None:
        if len(values) == rows and values.dtype == plan.dtype:
            return values
        out = _allocated(rows, values.shape[1], plan.dtype, source)
    out[first:first + len(values)] = values
    return out


def _put_columns(batch, plan: Plan, first: int, out: np.ndarray, source: str) -> None:
    """Copies one batch of numeric columns into `out`, its rows of the whole array."""
    for j, name in enumerate(plan.vectors):
        column = batch.column(name)
        if column.null_count:
            raise InputError(f"{source}: row {first + _first_null(column)}: column {excerpt(name)} is null")
        out[:, j] = _numpy(column)


def _allocated(rows: int, dim: int, dtype: np.dtype, source: str) -> np.ndarray:
    try:
        return np.empty((rows, dim), dtype)
    except ValueError:  # more than numpy can index, or fewer than none: a damaged header
        raise InputError(f"{source}: claims {rows:,} rows of {dim:,} values, which cannot be") from None


def _texts(pa, chunk, name: str, first: int, source: str, as_labels: bool) -> list[str]:
    """A text per row of one batch of an id, label or field column."""
    if pa.types.is_dictionary(chunk.type):  # pandas' categoricals
        chunk = chunk.dictionary_decode()
    if chunk.null_count:
        raise InputError(f"{source}: row {first + _first_null(chunk)}: column {excerpt(name)} is null")
    t = chunk.type
    if _is_text(pa, t):
        return chunk.to_pylist()
    numeric = pa.types.is_integer(t) or pa.types.is_floating(t)
    if as_labels and (numeric or pa.types.is_boolean(t)):  # as an .npz gives them: 1.0 is '1'
        return label_array(_numpy(chunk) if numeric else np.array(chunk.to_pylist()), source)
    if numeric or pa.types.is_boolean(t) or pa.types.is_decimal(t) or pa.types.is_temporal(t):
        return chunk.cast(pa.string()).to_pylist()
    raise InputError(f"{source}: column {excerpt(name)} holds {_holds(pa, t)}, not text or numbers")


def gather(batches: Iterable, rows: int, plan: Plan, source: str) -> Parsed:
    """The Parsed of a table of `rows` rows read as `batches` (each with num_rows and column(name)):
    vectors copied into one array (or the only batch's values themselves, when already of
    plan.dtype), ids, labels, fields."""
    pa = pyarrow_module()
    out = None if plan.listed else _allocated(rows, len(plan.vectors), plan.dtype, source)
    first = 0
    texts: dict[str, list[str]] = {name: [] for name in plan.text_columns()}
    for batch in batches:
        count = batch.num_rows
        if first + count > rows:
            raise InputError(f"{source}: holds more rows than the {rows:,} its metadata says")
        if count and plan.listed:
            out = _put_lists(pa, batch, plan, first, rows, out, source)
        elif count:
            _put_columns(batch, plan, first, out[first:first + count], source)
        for name, found in texts.items():
            found += _texts(pa, batch.column(name), name, first, source, as_labels=name == plan.labels)
        first += count
        del batch  # not held while the next one is read
    if first != rows:
        raise InputError(f"{source}: holds {first:,} rows but its metadata says {rows:,}")
    if out is None:
        out = np.empty((0, 0), plan.dtype)
    return Parsed(out, texts[plan.ids] if plan.ids else None, plan.locate,
                  labels=texts[plan.labels] if plan.labels else None,
                  fields={name: list(texts[name]) for name in plan.fields} or None)


def checked(batches: Iterable) -> Iterator:
    """Batches fully validated: a damaged file is refused before its offsets are followed."""
    for batch in batches:
        batch.validate(full=True)
        yield batch
        del batch  # not held while the next one is read (a decompressed batch can be large)


# ---------------------------------------------------------------- Parquet


def read_parquet(data, source: str, options: ReadOptions) -> Parsed:
    """A Parquet file (pandas, polars, pyarrow, Spark): a column of lists read in slices of row
    groups; numeric columns read a column of a row group at a time."""
    pa = pyarrow_module()
    import pyarrow.parquet as pq

    if not _head(data, 4).startswith(PARQUET_MAGIC):
        raise InputError(f"{source}: not a Parquet file (no PAR1 header)")
    with invalid_as_input_error(source, "Parquet file"):
        with pq.ParquetFile(_input_of(pa, data, mapped=False)) as probe:
            metadata, plan = probe.metadata, plan_columns(pa, probe.schema_arrow, options, source)
        # buffered (unbuffered, a whole column chunk is read at once: a row group's vectors), a
        # buffer per column read; not memory-mapped, so only what is decoded is in memory
        buffer = min(PARQUET_READ_BUFFER, max(2**16, 2**24 // len(plan.columns())))
        with pq.ParquetFile(_input_of(pa, data, mapped=False), metadata=metadata, buffer_size=buffer,
                            pre_buffer=False) as reader:
            if plan.listed:
                batches = checked(reader.iter_batches(batch_size=_batch_rows(reader, plan), columns=plan.columns(),
                                                      use_threads=False))  # threads: slower here, more memory
            else:
                batches = (RowGroupColumns(reader, group, source) for group in range(metadata.num_row_groups))
            return gather(batches, metadata.num_rows, plan, source)


class RowGroupColumns:
    """A Parquet row group whose columns are decoded one at a time, when asked for (decoding a
    wide table's row group whole holds every column, and each one's dictionary, at once)."""

    def __init__(self, reader, group: int, source: str):
        self.reader, self.group, self.source = reader, group, source
        self.num_rows = reader.metadata.row_group(group).num_rows

    def column(self, name: str):
        array = self.reader.read_row_group(self.group, columns=[name], use_threads=False).column(0).combine_chunks()
        array.validate(full=True)
        if len(array) != self.num_rows:
            raise InputError(f"{self.source}: row group {self.group} holds {len(array):,} values of column "
                             f"{excerpt(name)} but {self.num_rows:,} rows")
        return array


def _batch_rows(reader, plan: Plan) -> int:
    """Rows per Parquet batch so that one holds about PARQUET_BATCH_VALUES values (a list's length:
    its fixed size, else the first rows' mean; never the row groups' column metadata, which pyarrow
    does not check against a damaged file)."""
    per_row = len(plan.vectors)
    if plan.listed:
        list_type = reader.schema_arrow.field(plan.vectors[0]).type
        if pyarrow_module().types.is_fixed_size_list(list_type):
            per_row = list_type.list_size
        else:
            probe = next(checked(reader.iter_batches(batch_size=64, columns=plan.vectors, use_threads=False)), None)
            lists = probe.column(0) if probe is not None else []
            per_row = len(lists.flatten()) / len(lists) if len(lists) else 1
    return int(min(65536, max(16, PARQUET_BATCH_VALUES // max(1, per_row))))


# ---------------------------------------------------------------- Arrow IPC (Feather v2)


@dataclass
class IpcInput:
    """An Arrow IPC file or stream, opened anew for each pass over its batches."""

    data: object  # a DiskFile (memory-mapped) or bytes
    source: str
    stream: bool
    schema: object = None

    @property
    def kind(self) -> str:
        return "Arrow IPC stream" if self.stream else "Arrow IPC file"

    def reader(self):
        """A reader of its batches: every column, since pyarrow copies what it reads of a memory-mapped
        file when asked for some columns only (IpcReadOptions.included_fields)."""
        pa = pyarrow_module()
        open_ = pa.ipc.open_stream if self.stream else pa.ipc.open_file
        return open_(_input_of(pa, self.data, mapped=True))

    def rows(self) -> int:
        """How many rows it holds (a stream is read through once to count them)."""
        with invalid_as_input_error(self.source, self.kind):
            reader = self.reader()
            if self.stream:
                return sum(batch.num_rows for batch in reader)
            if hasattr(reader, "count_rows"):  # newer pyarrow: from the batches' metadata alone
                return reader.count_rows()
            return sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))

    def batches(self) -> Iterator:
        """Its record batches, read as they are asked for."""
        with invalid_as_input_error(self.source, self.kind):
            reader = self.reader()
            found = reader if self.stream else (reader.get_batch(i) for i in range(reader.num_record_batches))
            yield from checked(found)


def open_ipc(data, source: str) -> IpcInput:
    """An Arrow IPC file or stream, its schema read."""
    head = _head(data, len(ARROW_FILE_MAGIC))
    if not looks_like_arrow(head):
        raise InputError(f"{source}: not an Arrow IPC file or stream (no ARROW1 or stream header)")
    ipc = IpcInput(data, source, stream=not head.startswith(ARROW_FILE_MAGIC))
    with invalid_as_input_error(source, ipc.kind):
        ipc.schema = ipc.reader().schema
    return ipc


def read_arrow(data, source: str, options: ReadOptions) -> Parsed:
    """An Arrow IPC file (Feather v2; memory-mapped) or stream: its record batches."""
    ipc = open_ipc(data, source)
    with invalid_as_input_error(source, ipc.kind):
        plan = plan_columns(pyarrow_module(), ipc.schema, options, source)
        return gather(ipc.batches(), ipc.rows(), plan, source)

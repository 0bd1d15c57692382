"""load_embeddings: a file (or stdin) through the table of formats into a checked EmbeddingSet.

Every loader, given any bytes, returns its result or raises InputError: sizes are checked
before memory is spent (bounded.py), text is parsed strictly (textcells.py)."""

from __future__ import annotations

import os
from contextlib import contextmanager

from typing import Sequence

from ..errors import InputError, SiamError, UsageError, mention
from . import bounded
from .bounded import DEFAULT_MAX_INPUT_BYTES, STDIN, DiskFile, Folder
from .embeddings import EmbeddingSet, Parsed, ReadOptions, exact_float32, validated
from .formats import FORMATS, Format, format_for, named_format, sniff_format
from .objects import from_object, is_path
from .textcells import printable

#: load_embeddings turns an unexpected exception of a reader into an InputError naming the file
#: (a last line of defence); the fuzz tests switch this off so that they find such bugs instead.
CATCH_READER_ERRORS = True


def load_embeddings(
    path, *, input_format: str | None = None, key: str | None = None, ids_path: str | os.PathLike | None = None,
    stdin=None, labels: str | None = None, max_input_size: int | str = DEFAULT_MAX_INPUT_BYTES,
    column: str | None = None, columns: str | None = None, id_column: str | None = None, fields: Sequence[str] = (),
    dtype: str | None = None, unused_options: str = "error",
) -> EmbeddingSet:
    """Load embeddings and check they are finite numeric rows.

    Parameters
    ----------
    path : str, path, array_like, torch.Tensor or DataFrame
        A file, a folder (a Hugging Face dataset, .npy shards) or ``"-"`` (stdin); or vectors in
        memory: a numpy array, nested lists, a torch tensor, a pandas or polars DataFrame.
    input_format : str, optional
        The file's format when its suffix does not say (``siamcli.io.FORMATS``).
    key : str, optional
        The array, tensor or dataset of a container of several (npz, safetensors, HDF5, pt).
    ids_path : path, optional
        A file of row ids, one per row.
    labels : str, optional
        A column, field or array of the same input holding a label per row (into ``.labels``).
    max_input_size : int or str
        The most one input may bring into memory, in bytes or as a size (``"2G"``).
    column, columns : str, optional
        A table's (DataFrame's) column of vectors, or its numeric columns (``"e1,e2"``, ``"e*"``).
    id_column : str, optional
        A table's column of row ids (default: one named ``id``; a pandas index so named too).
    fields : sequence of str
        A table's text columns kept beside the vectors (``.fields``), shown with results.
    dtype : {"float32", "float64"}, optional
        The float type to compute in (default: the input's; text in float32 when exact).
    stdin, unused_options
        The stream ``"-"`` reads; ``"ignore"`` leaves an option the format does not take unrefused.

    Returns
    -------
    EmbeddingSet
        ``.vectors`` (rows, dim), ``.ids``, ``.labels``, ``.source``.

    Examples
    --------
    >>> import numpy as np, siamcli
    >>> siamcli.load(np.eye(3, dtype=np.float32))
    EmbeddingSet('<array>', 3 x 3 float32)
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"id": ["x", "y"], "e1": [0.5, 1.0], "e2": [0.25, 0.0]})
    >>> siamcli.load(frame).ids, siamcli.load(frame).vectors.tolist()
    (['x', 'y'], [[0.5, 0.25], [1.0, 0.0]])
    """
    options = ReadOptions(key=key, column=column, columns=columns, id_column=id_column, labels=labels,
                          fields=tuple(fields or ()), dtype=dtype, limit=bounded.max_bytes(max_input_size))
    if is_path(path):
        embeddings = _from_file(os.fspath(path), input_format, options, stdin, unused_options == "error")
    elif input_format is not None:
        raise UsageError(f"{mention('input_format')} applies to files, not to objects in memory")
    else:
        embeddings = from_object(path, options)
    return embeddings if ids_path is None else _with_ids(embeddings, ids_path, options.limit)


def _from_file(path: str, input_format: str | None, options: ReadOptions, stdin, strict: bool) -> EmbeddingSet:
    """A file, folder or stdin through the table of formats (load_embeddings)."""
    if input_format is not None:
        named_format(input_format)
    source, fmt, gz = input_format_of(path, input_format)
    with guard(source, fmt.name if fmt else "embeddings") as reading:
        data = Folder(path) if fmt is not None and fmt.folder is not None else \
            read_input(path, source, fmt, gz, options.limit, stdin, undecoded=True)
        fmt = fmt or sniff_format(data)
        size = data.size() if isinstance(data, DiskFile) else len(data)
        reading.update(kind=fmt.name, what=f"{bounded.human_size(size)} of {'data' if fmt.binary else 'text'}")
        check_options(fmt, options, strict)
        parsed = parse(fmt, data, source, options)
        if not fmt.binary and options.dtype is None:  # decimal text: float32 when every value is one
            parsed.array = exact_float32(parsed.array)
        embeddings = validated(parsed, source, options.dtype)
    embeddings.format = fmt.name
    return embeddings


def _with_ids(embeddings: EmbeddingSet, ids_path, limit: int) -> EmbeddingSet:
    """The set with its ids read from a file (one per row)."""
    from .labels import read_ids

    embeddings.ids = read_ids(ids_path, len(embeddings), max_input_size=limit)
    return embeddings


def input_format_of(path: str, input_format: str | None) -> tuple[str, Format | None, bool | None]:
    """(source name, format, gzip-compressed) of an input path before anything is read: by
    --input-format, else a folder's contents or the suffix; stdin's (None, None) are sniffed later."""
    if path == STDIN:
        fmt = named_format(input_format) if input_format else None
        if fmt is not None and fmt.folder is not None:
            raise UsageError(f"{fmt.name} is read from a directory, not from stdin")
        return "<stdin>", fmt, None
    source = printable(path)
    fmt, gz = folder_format(path, source, input_format) if os.path.isdir(path) else format_for(path, input_format)
    if fmt.folder is not None and not os.path.isdir(path):
        raise InputError(f"{source}: is not a directory, and {fmt.name} is read from one")
    return source, fmt, gz


def check_options(fmt: Format, options: ReadOptions, strict: bool) -> None:
    """Refuses (when `strict`) an option `fmt` does not read, saying which formats do; --show
    (fields) is never refused here: a format without text columns simply has none to show."""
    if not strict:
        return
    for name in options.given():
        if name != "fields" and name not in fmt.options:
            takers = [f.name for f in FORMATS.values() if name in f.options]
            raise UsageError(f"{mention(name)} does not apply to {fmt.name} files "
                             f"(it does to {', '.join(takers) or 'no format'})")


def folder_format(path: str, source: str, input_format: str | None) -> tuple[Format, bool]:
    """The format of a folder: the one named, else the first whose `folder` test it passes."""
    candidates = [named_format(input_format)] if input_format else list(FORMATS.values())
    for fmt in candidates:
        if fmt.folder is not None and fmt.folder(path):
            return fmt, False
    holds = [f.folder_holds for f in candidates if f.folder is not None]
    raise InputError(f"{source}: is a directory that holds no {' and no '.join(holds)}"
                     if holds else f"{source}: is a directory, not a {candidates[0].name} file")


def read_input(path: str, source: str, fmt: Format | None, gz: bool | None, limit: int, stdin=None,
               undecoded: bool = False):
    """The bytes (or DiskFile) of an input of format `fmt` (None: not known yet), its magic checked
    early; a regular file of an `undecoded` text format as a DiskFile when the caller takes one."""
    check = fmt.magic_check(source) if fmt is not None else None
    as_file = fmt is not None and (fmt.binary or (undecoded and fmt.undecoded))
    return bounded.input_bytes(path, source, as_file, gz, limit, stdin, check)


def parse(fmt: Format, data, source: str, options: ReadOptions) -> Parsed:
    """What `fmt`'s reader makes of the bytes (binary formats) or of their text; a reader whose
    optional dependency is missing says which extra to install."""
    if not fmt.binary and not fmt.undecoded:
        data = bounded.decode(data, source)
        if not data.strip():
            raise InputError(f"{source}: is empty")
    try:
        return fmt.read(data, source, options)
    except ImportError as exc:
        if fmt.extra is None:
            raise
        raise InputError(f"{source}: reading {fmt.name} files needs {exc.name or 'an optional package'}; "
                         f"pip install 'siamcli[{fmt.extra}]'") from None


@contextmanager
def guard(source: str, kind: str):
    """A reader's unexpected failures as InputErrors: a MemoryError says what did not fit; any other
    exception (a bug) names the file, unless CATCH_READER_ERRORS is off (the fuzz tests). The body
    may update the dict it gets: kind (the format) and what (the size being read)."""
    from .textcells import excerpt

    reading = {"kind": kind, "what": "it"}
    try:
        yield reading
    except SiamError:
        raise
    except MemoryError:
        raise InputError(f"{source}: not enough memory to read {reading['what']}") from None
    except Exception as exc:
        if not CATCH_READER_ERRORS:
            raise
        raise InputError(f"{source}: cannot be read as {reading['kind']} "
                         f"({type(exc).__name__}: {excerpt(str(exc))[1:-1]})") from exc

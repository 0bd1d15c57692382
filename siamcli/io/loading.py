"""load_embeddings: a file (or stdin) through the table of formats into a checked EmbeddingSet.

Every loader, given any bytes, returns its result or raises InputError: sizes are checked
before memory is spent (bounded.py), text is parsed strictly (textcells.py)."""

from __future__ import annotations

import os
from contextlib import contextmanager

from ..errors import InputError, SiamError
from . import bounded
from .bounded import DEFAULT_MAX_INPUT_BYTES, STDIN, DiskFile
from .embeddings import EmbeddingSet, Parsed, validated
from .formats import Format, format_for, named_format, sniff_format
from .textcells import printable

#: load_embeddings turns an unexpected exception of a reader into an InputError naming the file
#: (a last line of defence); the fuzz tests switch this off so that they find such bugs instead.
CATCH_READER_ERRORS = True


def load_embeddings(
    path: str | os.PathLike,
    *,
    input_format: str | None = None,
    key: str | None = None,
    ids_path: str | os.PathLike | None = None,
    stdin=None,
    labels: str | None = None,
    max_input_size: int | str = DEFAULT_MAX_INPUT_BYTES,
) -> EmbeddingSet:
    """Load vectors from a file (`-` for stdin) and check they are finite numeric rows.

    `labels` names a column (CSV/TSV/TXT header), field (JSON) or array (.npz) of the same file
    holding a label per row: it is read into `.labels`, not used as a dimension.
    `max_input_size` (bytes, or '2G') bounds what one input may bring into memory: stdin, pipes,
    text files, decompressed gzip and .npz members (a regular .npy is bounded by its header).

    >>> load_embeddings("examples/queries.csv").vectors.shape
    (10, 64)
    """
    path = os.fspath(path)
    if input_format is not None:
        named_format(input_format)
    limit = bounded.max_bytes(max_input_size)
    if path == STDIN:
        source, gz = "<stdin>", None
        fmt = named_format(input_format) if input_format else None
    else:
        source = printable(path)
        fmt, gz = format_for(path, input_format)  # the suffix first: nothing is read for an unknown one
    with guard(source, fmt.name if fmt else "embeddings") as reading:
        data = read_input(path, source, fmt, gz, limit, stdin)
        fmt = fmt or sniff_format(data)
        size = data.size() if isinstance(data, DiskFile) else len(data)
        reading.update(kind=fmt.name, what=f"{bounded.human_size(size)} of {'data' if fmt.binary else 'text'}")
        embeddings = validated(parse(fmt, data, source, key, labels, limit), source)
    if ids_path is not None:
        from .labels import read_ids

        embeddings.ids = read_ids(ids_path, len(embeddings), max_input_size=limit)
    return embeddings


def read_input(path: str, source: str, fmt: Format | None, gz: bool | None, limit: int, stdin=None):
    """The bytes (or DiskFile) of an input of format `fmt` (None: not known yet), its magic checked early."""
    check = fmt.magic_check(source) if fmt is not None else None
    return bounded.input_bytes(path, source, fmt is not None and fmt.binary, gz, limit, stdin, check)


def parse(fmt: Format, data, source: str, key: str | None, labels: str | None, limit: int) -> Parsed:
    """What `fmt`'s reader makes of the bytes (binary formats) or of their text; a reader whose
    optional dependency is missing says which extra to install."""
    if not fmt.binary:
        data = bounded.decode(data, source)
        if not data.strip():
            raise InputError(f"{source}: is empty")
    try:
        return fmt.read(data, source, key=key, labels=labels, limit=limit)
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

"""Tables of delimited text parsed at C speed: pyarrow's CSV reader when it is installed (and the
input large enough to repay its import), else numpy.loadtxt, a block of records at a time, so
memory stays near the size of the array.

These engines only parse: delimited.py decides what each column is, checks what they return, and
reads the text again carefully, to name the line and column, whenever an engine fails. An engine
returns None for anything it cannot parse exactly as the careful reader would.
"""

from __future__ import annotations

import io
from typing import Iterator

import numpy as np

from ..errors import InputError, mention
from .bounded import DiskFile, decode, human_size, limit_text
from .embeddings import denotes_float32

#: The first bytes of a large input, whose records decide its layout; smaller inputs are read carefully.
HEAD_BYTES = 1 << 20
#: The largest head read to find its first records (longer records are left to the careful reader).
HEAD_LIMIT = 64 << 20
#: Below this size pyarrow's import (0.15 s) costs more than its parser saves (numpy.loadtxt reads
#: about 60 MB/s of float text, pyarrow's reader 300 MB/s on two cores).
ARROW_MIN_BYTES = 8 << 20
#: Text parsed at a time by numpy's engine.
BLOCK_BYTES = 8 << 20
#: Text per batch of pyarrow's reader (a record longer than this is left to the careful reader).
ARROW_BLOCK_BYTES = 8 << 20
#: The engines tried, in order ("arrow" is skipped when pyarrow is not installed).
ENGINES = ("arrow", "numpy")
_BOM = b"\xef\xbb\xbf"


class RawText:
    """Undecoded text: a regular file (DiskFile) or bytes; `start` is past a UTF-8 BOM."""

    def __init__(self, data):
        self.path = data if isinstance(data, DiskFile) else None
        self.obj = data if self.path is None else None  # bytes or a bytearray
        self.data = memoryview(data) if self.path is None else None
        self.size = self.path.size() if self.path is not None else len(data)
        self.start = len(_BOM) if self.read(0, len(_BOM)) == _BOM else 0

    def read(self, offset: int, count: int) -> bytes:
        if self.path is None:
            return bytes(self.data[offset : offset + count])
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            return handle.read(count)


def check_size(data, source: str, limit: int) -> None:
    """A text file on disk larger than the ceiling is refused before it is read, as any text input is."""
    if isinstance(data, DiskFile) and data.size() > limit:
        raise InputError(f"{source}: holds {human_size(data.size())} of text, more than {limit_text(limit)} "
                         f"({mention('max_input_size')})")


def whole_text(data, source: str) -> str:
    """The decoded text of bytes or a DiskFile (a BOM dropped); whitespace alone is empty."""
    text = decode(data.read_bytes() if isinstance(data, DiskFile) else data, source)
    if not text.strip():
        raise InputError(f"{source}: is empty")
    return text


def head(raw: RawText, rows_of, least: int = 2) -> tuple[list, bytes] | None:
    """(records, their bytes) of the first complete records of a large input: at least `least`
    of them, the last one read dropped (it may go on past the head). None for a small input, or
    when the head is no text `rows_of` (text -> records) can read."""
    size = HEAD_BYTES
    while raw.start + size < raw.size and size <= HEAD_LIMIT:
        chunk = raw.read(raw.start, size)
        chunk = chunk[: chunk.rfind(b"\n") + 1]
        try:
            rows = rows_of(chunk.decode("utf-8"))[:-1]
        except (UnicodeDecodeError, InputError):
            return None
        if len(rows) >= least:
            return rows, chunk
        size *= 2
    return None


def line_offset(chunk: bytes, line: int) -> int:
    """The byte offset in `chunk` where its 1-based `line` starts (lines end at CR, LF or CRLF)."""
    import re

    offset = 0
    for number, match in enumerate(re.finditer(rb"[^\r\n]*(?:\r\n|\r|\n)", chunk), 1):
        if number == line:
            return offset
        offset = match.end()
    return offset


class Narrowing:
    """Float64 blocks kept as float32 while every value is written from a float32 (dtype None:
    embeddings.denotes_float32) or as asked; False from add() for a block holding NaN or infinity
    (the careful reader names it), or when a block must widen earlier blocks kept as the float32
    of their decimals (the careful reader reads the file in float64)."""

    def __init__(self, dtype: str | None):
        self.blocks: list[np.ndarray] = []
        self.wide = dtype == "float64"
        self.exact = dtype is None  # float32 only when nothing is lost
        self.decimal = False  # a block kept in float32 was not exactly its float32 (a shortest decimal)

    def add(self, block: np.ndarray) -> bool:
        with np.errstate(invalid="ignore", over="ignore"):
            if not np.isfinite(block.sum()) and not np.isfinite(block).all():  # one fast pass on the common path
                return False
            narrow = None if self.wide else block.astype(np.float32)
        exact = narrow is not None and self.exact and np.array_equal(narrow, block)
        if narrow is not None and (exact or (denotes_float32(block, narrow) if self.exact else np.isfinite(narrow).all())):
            self.blocks.append(narrow)
            self.decimal = self.decimal or not exact
            return True
        if not self.wide:
            if self.decimal:  # blocks kept as the float32 their decimals denote: their float64 parse is gone
                return False
            self.wide = True  # values so far were exact float32: widening them loses nothing
            self.blocks = [b.astype(np.float64) for b in self.blocks]
        self.blocks.append(block)
        return True

    def array(self, width: int) -> np.ndarray:
        """The blocks as one array, each block freed once copied (the peak: about one array, not two)."""
        if len(self.blocks) == 1:
            return self.blocks.pop()
        dtype = np.float64 if self.wide else np.float32
        array = np.empty((sum(len(b) for b in self.blocks), width), dtype=dtype)
        at = 0
        for i, block in enumerate(self.blocks):
            array[at : at + len(block)] = block
            at += len(block)
            self.blocks[i] = block = None
        self.blocks = []
        return array


def parse_table(raw: RawText, offset: int, delimiter: str | None, width: int, floats: list[int],
                strings: list[int], dtype: str | None) -> tuple[np.ndarray, dict[int, list[str]]] | None:
    """(the `floats` columns as an array, the cells of the `strings` columns) of the records of
    `width` cells from byte `offset` on; None when an engine cannot read them exactly."""
    for engine in ENGINES:
        if engine == "arrow":
            if delimiter is None or raw.size < ARROW_MIN_BYTES:
                continue
            try:
                import pyarrow.csv  # noqa: F401  (the optional dependency)
            except ImportError:
                continue
        collect = Narrowing(dtype)
        read = _arrow_table if engine == "arrow" else _numpy_table
        strings_read = read(raw, offset, delimiter, width, floats, strings, collect)
        if strings_read is not None:
            return collect.array(len(floats)), strings_read
        return None  # a failure: not for another engine, for the careful reader
    return None


def _arrow_table(raw, offset, delimiter, width, floats, strings, collect):
    import pyarrow as pa
    import pyarrow.csv as pc

    names = [str(c) for c in range(width)]
    types = {**{names[c]: pa.float64() for c in floats}, **{names[c]: pa.string() for c in strings}}
    texts = {c: [] for c in strings}
    stream = None
    try:
        stream = pa.BufferReader(raw.data[offset:]) if raw.path is None else pa.OSFile(raw.path)
        stream.seek(0 if raw.path is None else offset)
        reader = pc.open_csv(
            stream, read_options=pc.ReadOptions(column_names=names, block_size=ARROW_BLOCK_BYTES),
            parse_options=pc.ParseOptions(delimiter=delimiter, quote_char='"', double_quote=True, escape_char=False,
                                          newlines_in_values=True, ignore_empty_lines=True),
            convert_options=pc.ConvertOptions(column_types=types, include_columns=[names[c] for c in floats + strings],
                                              null_values=[], true_values=[], false_values=[],
                                              strings_can_be_null=False, quoted_strings_can_be_null=False))
        for batch in reader:
            if floats:
                block = np.empty((batch.num_rows, len(floats)))
                for j, c in enumerate(floats):
                    block[:, j] = _arrow_values(batch.column(names[c]), np.float64)
                if not collect.add(block):
                    return None
            for c in strings:
                texts[c].extend(_arrow_texts(batch.column(names[c])))
    except (pa.ArrowException, OSError, ValueError):
        return None
    finally:
        if stream is not None:
            stream.close()
    return texts


def _arrow_values(column, dtype) -> np.ndarray:
    """The values of an arrow array without nulls, viewed in its buffer (to_numpy() imports pandas)."""
    if column.null_count:
        raise ValueError("a null")
    return np.frombuffer(column.buffers()[1], dtype=dtype, count=len(column), offset=column.offset * np.dtype(dtype).itemsize)


def _arrow_texts(column) -> list[str]:
    """The strings of an arrow string array (to_pylist() imports pandas)."""
    if column.null_count:
        raise ValueError("a null")
    ends = np.frombuffer(column.buffers()[1], dtype=np.int32, count=len(column) + 1, offset=column.offset * 4).tolist()
    data = column.buffers()[2]
    data = b"" if data is None else data.to_pybytes()
    return [data[ends[i] : ends[i + 1]].decode("utf-8") for i in range(len(column))]


def _numpy_table(raw, offset, delimiter, width, floats, strings, collect):
    texts = {c: [] for c in strings}
    quote = '"' if delimiter is not None else None
    numbers_only = floats == list(range(width)) and not strings  # numpy checks every row's width itself
    for block in record_blocks(raw, offset, quote):
        if block is None:
            return None
        if numbers_only and block.isascii():  # ASCII: read as bytes, without decoding or splitting it here
            rows, text = None, block
        else:
            try:
                text = block.decode("utf-8")
            except UnicodeDecodeError:
                return None
            rows = string_rows(text, delimiter, width, max(strings, default=width - 1))
            if rows is None:
                return None
        if floats:
            values = loadtxt(text, delimiter, quote, None if numbers_only else floats)
            if values is None or values.shape[1] != len(floats) or (rows is not None and len(rows) != len(values)):
                return None
            if not collect.add(values):
                return None
        for c in strings:
            texts[c].extend(row[c] for row in rows)
    return texts


def loadtxt(text: str | bytes, delimiter: str | None, quote: str | None, usecols) -> np.ndarray | None:
    """numpy.loadtxt of a block of records (None when it refuses them): ASCII bytes as a stream
    (numpy reads it fastest), text as its lines when no quote can join lines into one record,
    else as a stream."""
    import warnings

    if isinstance(text, bytes):
        lines, encoding = io.BytesIO(text), "latin1"
        quote = quote if quote is not None and quote.encode() in text else None
    else:
        quote = quote if quote is not None and quote in text else None  # numpy is faster without quotes to handle
        lines, encoding = io.StringIO(text) if quote is not None else text.split("\n"), None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a block of blank lines: numpy warns of an empty input
            return np.loadtxt(lines, dtype=np.float64, delimiter=delimiter, quotechar=quote, comments=None,
                              usecols=usecols, ndmin=2, encoding=encoding)
    except (ValueError, IndexError, OverflowError):
        return None


def string_rows(text: str, delimiter: str | None, width: int, last: int) -> list[list[str]] | None:
    """The stripped cells (up to column `last`) of each record, as numpy.loadtxt splits them
    (blank lines skipped); None for a record of another width, or quoting it cannot vouch for."""
    if "\r" in text and "\r" in text.replace("\r\n", ""):
        return None  # a line ending in CR alone: the careful reader counts lines as it does
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if delimiter is None:
        rows = [line.split() for line in lines]
        rows = [cells for cells in rows if cells]
        return rows if all(len(cells) == width for cells in rows) else None
    if '"' in text:
        import csv

        rows = [cells for cells in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if cells]
        if any(len(cells) != width or any('"' in c for c in cells[: last + 1]) for cells in rows):
            return None  # a quote kept in a cell: quoting the block boundaries may have cut wrong
        return [[c.strip() for c in cells[: last + 1]] for cells in rows]
    rows = []
    for line in lines:
        if line.rstrip("\r"):
            if line.count(delimiter) != width - 1:
                return None
            rows.append([c.strip() for c in line.split(delimiter, last + 1)[: last + 1]])
    return rows


def record_blocks(raw: RawText, offset: int, quote: str | None) -> Iterator[bytes | None]:
    """Blocks of whole records from `offset` on, each cut after a line end outside quotes (an
    even number of quote characters before it); a file is read again from the cut, not carried
    over. None when no such line end comes in 64 blocks."""
    handle = open(raw.path, "rb") if raw.path is not None else None
    try:
        at, size = offset, BLOCK_BYTES
        while at < raw.size:
            if handle is not None:
                handle.seek(at)
                buffer, start = handle.read(size), 0
            else:
                buffer, start = raw.obj, at
            end = min(start + size, len(buffer))
            cut = end if at + (end - start) >= raw.size else _record_end(buffer, start, end, quote)
            if cut <= start:
                if size >= 64 * BLOCK_BYTES:
                    yield None
                    return
                size *= 2
                continue
            yield bytes(buffer[start:cut]) if start or cut < len(buffer) or not isinstance(buffer, bytes) else buffer
            at, size = at + cut - start, BLOCK_BYTES
    finally:
        if handle is not None:
            handle.close()


def _record_end(buffer, start: int, end: int, quote: str | None) -> int:
    cut = buffer.rfind(b"\n", start, end) + 1
    if quote is None or buffer.find(b'"', start, cut) < 0:
        return cut
    for _ in range(64):
        if cut <= start or buffer.count(b'"', start, cut) % 2 == 0:
            return cut
        cut = buffer.rfind(b"\n", start, cut - 1) + 1
    return start


def list_array(cells: list[str], dtype: str | None) -> np.ndarray | None:
    """Float64 rows of list cells ('[0.1, 0.2]' or numpy's '[0.1 0.2]') all of one length, parsed
    as a table of their insides; None when they are anything else (the careful reader names it)."""
    from .textcells import list_elements

    first = list_elements(cells[0]) if cells else None
    if not first:
        return None
    insides = []
    for cell in cells:
        cell = cell.strip()
        if cell[:1] != "[" or cell[-1:] != "]":
            return None
        insides.append(cell[1:-1].replace("\n", " ").replace("\r", " "))
    delimiter = "," if "," in insides[0] else None
    text = "\n".join(insides) + "\n"
    if "\n\n" in text or text.startswith("\n"):
        return None  # an empty list: for the careful reader to name
    raw = RawText(text.encode("utf-8"))
    found = parse_table(raw, 0, delimiter, len(first), list(range(len(first))), [], dtype)
    if found is None or len(found[0]) != len(cells):
        return None
    return found[0]

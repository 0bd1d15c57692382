"""Loading embedding files: one table of formats, each returning an EmbeddingSet.

Positions in error messages: text formats give 1-based line and column numbers as an editor
shows them; arrays (.npy, .npz) give 0-based row and column indices as numpy does.

Every loader, given any bytes, returns its result or raises InputError: sizes are checked
before memory is spent (see bounded.py), text is parsed strictly (see textcells.py).
"""

from __future__ import annotations

import json
import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from . import bounded
from .bounded import DEFAULT_MAX_INPUT_BYTES, DiskFile
from .errors import InputError, SiamError, UsageError
from .textcells import (cell_problem, csv_records, excerpt, first_non_finite, first_overflow, is_number,
                        numbers_only, parse_numbers, printable, whitespace_records)
from .textcells import lines as text_lines

#: .npy files larger than this are memory-mapped instead of read into memory.
MMAP_THRESHOLD_BYTES = 64 * 2**20
#: Names of a leading column (in a header) that holds row ids even when its values look numeric.
ID_COLUMN_NAMES = {"", "id", "ids", "name", "key", "filename", "file", "path", "index"}
#: Field names a JSON object may use for its id and its vector, in order of preference.
JSON_ID_FIELDS = ("id", "name", "key")
JSON_VECTOR_FIELDS = ("embedding", "vector", "embeddings", "values")
STDIN = "-"
#: load_embeddings turns an unexpected exception of a reader into an InputError naming the file
#: (a last line of defence); the fuzz tests switch this off so that they find such bugs instead.
CATCH_READER_ERRORS = True


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


@dataclass(frozen=True, eq=False)
class Format:
    name: str
    suffixes: tuple[str, ...]
    binary: bool  # True: reader gets bytes or a path; False: reader gets decoded text
    read: Callable[..., Parsed]
    summary: str


# ---------------------------------------------------------------- binary formats


def read_npy(data, source: str, key: str | None = None, labels: str | None = None,
             limit: int = DEFAULT_MAX_INPUT_BYTES) -> Parsed:
    if labels is not None:
        raise InputError(f"{source}: a .npy file holds one array, so no '{labels}' column; "
                         f"give the labels as a file of their own, or use an .npz with a '{labels}' array")
    if isinstance(data, DiskFile):
        return Parsed(bounded.npy_from_disk(data, source, MMAP_THRESHOLD_BYTES))
    return Parsed(bounded.npy_array(data, source))


def read_npz(data, source: str, key: str | None = None, labels: str | None = None,
             limit: int = DEFAULT_MAX_INPUT_BYTES) -> Parsed:
    import io

    with open(data, "rb") if isinstance(data, DiskFile) else io.BytesIO(data) as handle:
        archive, members = bounded.open_npz(handle, source)
        with archive:
            key = _npz_key(members, key, labels, source)
            array = bounded.npz_member(archive, members[key], source, key, limit)
            rows = array.shape[0] if array.ndim == 2 else 1
            ids = None
            if "ids" in members and key != "ids":
                ids = _as_text(_npz_per_row(archive, members, "ids", rows, source, limit))
            label_values = None
            if labels is not None:
                if labels not in members:
                    raise InputError(f"{source}: no array named {excerpt(labels)} (arrays: {_listed(members)})")
                label_values = label_array(_npz_per_row(archive, members, labels, rows, source, limit),
                                           f"{source}[{labels}]")
    return Parsed(array, ids, labels=label_values)


def _npz_per_row(archive, members, name: str, rows: int, source: str, limit: int) -> np.ndarray:
    """A 1-D member with a value per row (ids, labels), its length checked before it becomes text."""
    values = bounded.npz_member(archive, members[name], source, name, limit, bounded.LABEL_KINDS, max_ndim=1)
    if values.ndim != 1:
        raise InputError(f"{source}: the '{name}' array must be 1-D, got shape {values.shape}")
    if len(values) != rows:
        raise InputError(f"{source}: has {len(values)} {name} but {rows} rows")
    return values


def _npz_key(members: dict, key: str | None, labels: str | None, source: str) -> str:
    """The member holding the embeddings: --key, else 'embeddings', else the only other one."""
    if key is not None:
        if key not in members:
            raise InputError(f"{source}: no array named {excerpt(key)} (arrays: {_listed(members)})")
        return key
    if "embeddings" in members:
        return "embeddings"
    candidates = [n for n in members if n not in ("ids", labels)]
    if len(candidates) != 1:
        raise InputError(
            f"{source}: holds several arrays ({_listed(members)}); choose one with --key"
            if candidates
            else f"{source}: holds no embedding array (arrays: {_listed(members)})"
        )
    return candidates[0]


def _listed(names, most: int = 12) -> str:
    """Names for a message: each quoted when it needs to be, at most `most` of them."""
    names = list(names)
    shown = [name if name.isprintable() and len(name) <= 40 else excerpt(name, 40) for name in names[:most]]
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return (", ".join(shown) or "none") + more


def _as_text(values: np.ndarray) -> list[str]:
    return [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in values.tolist()]


def label_array(array: np.ndarray, source: str) -> list[str]:
    """Labels from a 1-D array of numbers, booleans or text, as text ('1', 'True', 'same')."""
    if array.ndim != 1:
        raise InputError(f"{source}: labels must be a 1-D array, got shape {array.shape}")
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)) \
            and np.all(np.abs(array) < 2**63):
        array = array.astype(np.int64)  # 1.0 and 1 are the same label
    return _as_text(array)


# ---------------------------------------------------------------- text formats


def _delimited_rows(text: str, delimiter: str | None, source: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) for every non-blank, non-comment record."""
    return whitespace_records(text) if delimiter is None else csv_records(text, delimiter, source)


def _is_header(first: list[str]) -> bool:
    """A header only when no cell of the first row is a number, or pandas' positional column
    names: `,0,1,2,...` (its index column first) or, written with index=False, `0,1,2,...` (at
    least three: a data row of exactly 0, 1, 2, ... written as integers is not an embedding)."""
    if not any(is_number(c) for c in first):
        return True
    if len(first) >= 3 and first == [str(j) for j in range(len(first))]:
        return True
    return (len(first) > 1 and first[0].lower() in ID_COLUMN_NAMES
            and first[1:] == [str(j) for j in range(len(first) - 1)])


def _id_like(cell: str) -> bool:
    """Whether a first cell makes a leading id column: text that is not a number, nor a number
    written in a way we refuse ('1_000', '١٢', which float() takes), nor empty or invisible."""
    if is_number(cell) or not any(c.isprintable() and not c.isspace() for c in cell):
        return False
    try:
        float(cell)
    except ValueError:
        return True
    return False


def _drop_column(rows, exclude: str, source: str):
    """(rows without the `exclude` column, its values after the header, its 0-based file column)."""
    if exclude not in rows[0][1]:
        raise InputError(f"{source}: has no column named {excerpt(exclude)} in its header line "
                         f"(columns: {_listed(rows[0][1], 8)})")
    dropped = rows[0][1].index(exclude)
    for lineno, cells in rows[1:]:
        if len(cells) <= dropped:
            raise InputError(f"{source}: line {lineno} has no {excerpt(exclude)} column (column {dropped + 1})")
    labels = [cells[dropped] for _, cells in rows[1:]]
    return [(lineno, cells[:dropped] + cells[dropped + 1 :]) for lineno, cells in rows], labels, dropped


def _read_delimited(text: str, source: str, delimiter: str | None, exclude: str | None = None) -> Parsed:
    rows = _delimited_rows(text, delimiter, source)
    if not rows:
        raise InputError(f"{source}: no data rows")
    dropped = labels = None  # file column (0-based) of `exclude`, read as labels rather than as a dimension
    if exclude is not None:
        rows, labels, dropped = _drop_column(rows, exclude, source)
    extra = dropped is not None

    def file_column(col: int) -> int:  # 1-based column after the drop -> 1-based column in the file
        return col + 1 if extra and col > dropped else col

    header = rows[0][1] if exclude is not None or _is_header(rows[0][1]) else None
    if header is not None:
        rows = rows[1:]
        if not rows:
            raise InputError(f"{source}: has a header but no data rows")
    data_first = rows[0][1]
    if header is not None and len(header) > 1 and header[0].lower() in ID_COLUMN_NAMES:
        has_ids = True
    else:
        has_ids = len(data_first) > 1 and _id_like(data_first[0])
    width = len(data_first)
    if header is not None and len(header) != width:
        raise InputError(f"{source}: line {rows[0][0]} has {width + extra} columns but the header has "
                         f"{len(header) + extra}")
    for lineno, cells in rows:
        if len(cells) != width:
            raise InputError(f"{source}: line {lineno} has {len(cells) + extra} columns, "
                             f"expected {width + extra} (as on line {rows[0][0]})")
    start = 1 if has_ids else 0
    cells = [r[1][start:] for r in rows] if start else [r[1] for r in rows]
    array, bad = parse_numbers(cells, known_clean=header is None and not has_ids and numbers_only(text, delimiter))
    too_large = False
    if bad is None:  # every cell a number: one may still be past float64's range ('1e400')
        bad = first_overflow(array, cells)
        too_large = bad is not None
    if bad is not None:
        cell = cells[bad[0]][bad[1]]
        problem = f"{excerpt(cell)} is too large for float64" if too_large else cell_problem(cell)
        raise InputError(f"{source}: line {rows[bad[0]][0]}, column {file_column(bad[1] + start + 1)}: {problem}")
    ids = [r[1][0] for r in rows] if has_ids else None
    lines = [r[0] for r in rows]
    return Parsed(array, ids, lambda row, col: f"line {lines[row]}, column {file_column(col + start + 1)}", labels)


def read_csv(text: str, source: str, key: str | None = None, labels: str | None = None) -> Parsed:
    return _read_delimited(text, source, ",", labels)


def read_tsv(text: str, source: str, key: str | None = None, labels: str | None = None) -> Parsed:
    return _read_delimited(text, source, "\t", labels)


def read_txt(text: str, source: str, key: str | None = None, labels: str | None = None) -> Parsed:
    return _read_delimited(text, source, None, labels)


class _TooLarge(str):
    """An integer in JSON longer than Python converts (4,300 digits): kept as text to be refused by name."""


class _JsonConstant(float):
    """NaN or Infinity written as such, told apart from a number that overflowed to infinity."""


def _json_int(text: str):
    try:
        return int(text)
    except ValueError:
        return _TooLarge(text)


def _json_loads(text: str, source: str, where: str | None, marked: bool = False, long_ints: bool = False):
    """json.loads with every failure an InputError saying where (`where`, else the line of the
    document). `marked`: NaN/Infinity come back as _JsonConstant; `long_ints`: integers past
    Python's digit limit come back as _TooLarge (retried so only when there is one)."""
    hooks = {"parse_constant": lambda name: _JsonConstant(name)} if marked else {}
    if long_ints:
        hooks["parse_int"] = _json_int
    try:
        return json.loads(text, **hooks)
    except json.JSONDecodeError as exc:
        place = f"{where}, column {exc.colno}" if where else f"line {exc.lineno}, column {exc.colno}"
        raise InputError(f"{source}: {place}: invalid JSON ({exc.msg})") from None
    except RecursionError:
        raise InputError(f"{source}: {where or f'line {_deep_line(text)}'}: nested too deeply") from None
    except ValueError as exc:  # an integer past Python's digit limit: find it again, to name its element
        if long_ints:
            raise InputError(f"{source}: {where or 'the document'}: invalid JSON ({excerpt(str(exc))})") from None
        return _json_loads(text, source, where, marked, long_ints=True)


def _deep_line(text: str, depth: int = 64) -> int:
    """The line where brackets first nest more than `depth` deep (strings skipped)."""
    import re

    level = 0
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        token = match.group()
        if token in ("[", "{"):
            level += 1
            if level > depth:
                return text.count("\n", 0, match.start()) + 1
        elif token in ("]", "}"):
            level -= 1
    return 1


def _json_shown(value) -> str:
    """A JSON value for a message, short: containers by kind, text cut at 80 characters."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return json.dumps(value[:80]) + ("..." if len(value) > 80 else "")
    return json.dumps(value)


def _json_record(value, source: str, where: str) -> tuple[str | None, list]:
    """(id or None, vector list) from one JSON value: an object with a vector field, or a bare list."""
    ident = None
    if isinstance(value, dict):
        for field in JSON_ID_FIELDS:
            if field in value:
                if isinstance(value[field], (dict, list)):
                    raise InputError(f"{source}: {where}: the id ('{field}') must be text or a number, "
                                     f"got {_json_shown(value[field])}")
                ident = str(value[field])
                break
        for field in JSON_VECTOR_FIELDS:
            if field in value:
                value = value[field]
                break
        else:
            raise InputError(
                f"{source}: {where}: object has no {' / '.join(repr(f) for f in JSON_VECTOR_FIELDS[:2])} field"
            )
    if not isinstance(value, list):
        raise InputError(f"{source}: {where}: expected a list of numbers, got {type(value).__name__}")
    for col, x in enumerate(value, 1):
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            if isinstance(x, _TooLarge):
                raise InputError(f"{source}: {where}, element {col}: an integer of {len(x.lstrip('-'))} digits "
                                 "is too large for float64")
            raise InputError(f"{source}: {where}, element {col}: {_json_shown(x)} is not a number")
    return ident, value


def _records_to_parsed(records: list[tuple[int, str | None, list]], source: str, unit: str) -> Parsed:
    if not records:
        raise InputError(f"{source}: no data rows")
    width = len(records[0][2])
    for pos, _, vec in records:
        if len(vec) != width:
            raise InputError(
                f"{source}: {unit} {pos} has {len(vec)} values, expected {width} (as in {unit} {records[0][0]})"
            )
    with_id = [r[1] is not None for r in records]
    if any(with_id) and not all(with_id):
        missing = records[with_id.index(False)][0]
        raise InputError(f"{source}: {unit} {missing} has no id while other {unit}s do")
    try:
        array = np.array([r[2] for r in records], dtype=np.float64)
    except OverflowError:
        for pos, _, vec in records:
            for col, x in enumerate(vec, 1):
                if isinstance(x, int) and abs(x) > 1e308:
                    raise InputError(f"{source}: {unit} {pos}, element {col}: an integer of {len(str(abs(x)))} "
                                     "digits is too large for float64") from None
        raise
    ids = [r[1] for r in records] if all(with_id) else None
    positions = [r[0] for r in records]
    return Parsed(array, ids, lambda row, col: f"{unit} {positions[row]}, element {col + 1}")


def _json_label(value, field: str | None, source: str, where: str):
    if field is None:
        return None
    if not isinstance(value, dict) or field not in value:
        raise InputError(f"{source}: {where}: has no {excerpt(field)} field")
    label = value[field]
    if isinstance(label, (dict, list)) or label is None:
        raise InputError(f"{source}: {where}: {excerpt(field)} must be a number, text or true/false, "
                         f"got {_json_shown(label)}")
    return json.dumps(label) if isinstance(label, bool) else str(label)


def _lines(text: str) -> list[str]:
    """JSONL lines: split at LF (and CRLF) only, since a JSON string may hold U+2028 or a CR escape."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _json_values(text: str, source: str, lines: bool, marked: bool = False) -> list[tuple[str, int, object]]:
    """(unit, position, value) of each record: a line of JSONL, an item of a JSON document."""
    if lines:
        return [("line", n, _json_loads(line, source, f"line {n}", marked))
                for n, line in enumerate(_lines(text), 1) if line.strip()]
    doc = _json_loads(text, source, None, marked)
    if isinstance(doc, dict) and any(f in doc for f in JSON_VECTOR_FIELDS):
        doc = [doc]
    if not isinstance(doc, list):
        raise InputError(f"{source}: expected a JSON list of vectors or of objects")
    if doc and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in doc):
        doc = [doc]  # one bare vector
    return [("item", i, value) for i, value in enumerate(doc, 1)]


def _read_json_text(text: str, source: str, labels: str | None, lines: bool) -> Parsed:
    unit = "line" if lines else "item"
    values = _json_values(text, source, lines)
    records = [(pos, *_json_record(value, source, f"{unit} {pos}")) for _, pos, value in values]
    label_values = [_json_label(value, labels, source, f"{unit} {pos}") for _, pos, value in values]
    parsed = _records_to_parsed(records, source, unit)
    first = first_non_finite(parsed.array)
    if first is not None:  # NaN/Infinity written as such, or a number past float64 ('1e400'): parse again to tell
        row, col = first
        marked = _json_values(text, source, lines, marked=True)
        if not isinstance(_json_record(marked[row][2], source, "")[1][col], _JsonConstant):
            raise InputError(f"{source}: {unit} {records[row][0]}, element {col + 1}: a number too large for float64")
    parsed.labels = label_values if labels is not None else None
    return parsed


def read_jsonl(text: str, source: str, key: str | None = None, labels: str | None = None) -> Parsed:
    return _read_json_text(text, source, labels, lines=True)


def read_json(text: str, source: str, key: str | None = None, labels: str | None = None) -> Parsed:
    return _read_json_text(text, source, labels, lines=False)


#: The one table of input formats. Add a format here and every command accepts it.
FORMATS: dict[str, Format] = {
    f.name: f
    for f in [
        Format("npy", (".npy",), True, read_npy, "numpy array, memory-mapped when large; never unpickled"),
        Format("npz", (".npz",), True, read_npz, "numpy archive: --key, else the only array or 'embeddings'; 'ids' gives row ids"),
        Format("csv", (".csv",), False, read_csv, "comma-separated; header row and leading id column detected"),
        Format("tsv", (".tsv", ".tab"), False, read_tsv, "tab-separated; header row and leading id column detected"),
        Format("txt", (".txt",), False, read_txt, "whitespace-separated; header row and leading id column detected"),
        Format("jsonl", (".jsonl", ".ndjson"), False, read_jsonl, "one JSON object per line (id + embedding/vector) or a bare list"),
        Format("json", (".json",), False, read_json, "a JSON list of vectors or of objects like jsonl's"),
    ]
}
SUFFIXES = {suffix: f for f in FORMATS.values() for suffix in f.suffixes}


def _format_for(path: str, input_format: str | None) -> tuple[Format, bool]:
    """The format of a path and whether it is gzip-compressed."""
    name = path.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    if input_format is not None:
        return FORMATS[input_format], gz
    suffix = os.path.splitext(name)[1]
    if suffix in SUFFIXES:
        return SUFFIXES[suffix], gz
    known = ", ".join(sorted(SUFFIXES)) + " (and .gz of each)"
    shown = excerpt(suffix, 20) if suffix else "no suffix"
    raise InputError(f"{printable(path)}: unknown file type ({shown}); known: {known}; "
                     "or name one with --input-format")


def _sniff_format(data: bytes) -> Format:
    """Guess the format of unnamed bytes (stdin) from their first bytes."""
    if data.startswith(b"\x93NUMPY"):
        return FORMATS["npy"]
    if data.startswith(b"PK"):
        return FORMATS["npz"]
    head = data[:65536]
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    head = head.lstrip()
    while head.startswith(b"#"):  # comment lines tell nothing about the format
        head = head.split(b"\n", 1)[1].lstrip() if b"\n" in head else b""
    if head.startswith(b"{"):
        return FORMATS["jsonl"]
    if head.startswith(b"["):
        rest = head[1:].lstrip()
        return FORMATS["json"] if rest.startswith((b"[", b"{")) else FORMATS["jsonl"]
    first_line = head.split(b"\n", 1)[0]
    if b"\t" in first_line:
        return FORMATS["tsv"]
    if b"," in first_line:
        return FORMATS["csv"]
    return FORMATS["txt"]


def _early_check(fmt: Format | None, source: str) -> Callable[[bytes], None] | None:
    """A check of a stream's first bytes that refuses a wrong binary format before more is read."""
    if fmt is None or not fmt.binary:
        return None
    if fmt.name == "npy":
        return bounded.npy_magic_check(source)

    def zip_check(head: bytes) -> None:
        if not head.startswith(b"PK"):
            raise InputError(f"{source}: not a valid .npz archive (no zip header)")

    return zip_check


def _input_bytes(path: str, source: str, fmt: Format | None, gz: bool | None, limit: int, stdin=None):
    """What a reader gets: a DiskFile for a regular binary file (its header bounds it), else its
    bytes (a bytearray), decompressed when `gz` (None: sniffed), read under the ceiling."""
    check = _early_check(fmt, source)
    if path == STDIN:
        data = bounded.read_stream(bounded.stdin_stream(stdin), source, limit, gz, check)
    else:
        handle, info = bounded.open_path(path, source)
        with handle:
            if not stat.S_ISREG(info.st_mode):  # a pipe or a device (`<(command)`): its size says nothing
                data = bounded.read_stream(handle, source, limit, gz, check)
            elif info.st_size == 0:
                raise InputError(f"{source}: is empty")
            elif gz:
                pieces = bounded.gunzip(bounded.chunks(handle, source), source, limit)
                data = bounded.collect(pieces, source, limit, "decompresses to", check)
            elif fmt is not None and fmt.binary:
                return DiskFile(path)
            elif info.st_size > limit:
                raise InputError(f"{source}: holds {bounded.human_size(info.st_size)} of text, more than "
                                 f"{bounded.limit_text(limit)} (--max-input-size)")
            else:
                data = bounded.collect(bounded.chunks(handle, source), source, limit)
    if not data:
        raise InputError(f"{source}: is empty")
    return data


def _read_text(path: str | os.PathLike, limit: int = DEFAULT_MAX_INPUT_BYTES) -> tuple[str, str]:
    """(text, source name) of a text file such as an ids or pairs list."""
    path = os.fspath(path)
    source = printable(path)
    return _decode(_input_bytes(path, source, None, False, limit), source), source


def _decode(data, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: byte {exc.start} is not UTF-8 text (is it a binary file?)") from None


def _max_bytes(value) -> int:
    """A ceiling in bytes from an int or a size such as '2G'."""
    if isinstance(value, str):
        from .engine import parse_size

        return parse_size(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"max_input_size must be a positive number of bytes or a size such as '2G', got {value!r}")
    return value


@contextmanager
def _guard(source: str, kind: str):
    """A reader's unexpected failures as InputErrors: a MemoryError says what did not fit; any other
    exception (a bug) names the file, unless CATCH_READER_ERRORS is off (the fuzz tests). The body
    may update the dict it gets: kind (the format) and what (the size being read)."""
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


def _parse(fmt: Format, data, source: str, key: str | None, labels: str | None, limit: int) -> Parsed:
    if fmt.binary:
        return fmt.read(data, source, key, labels, limit)
    text = _decode(data, source)
    if not text.strip():
        raise InputError(f"{source}: is empty")
    return fmt.read(text, source, key, labels)


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
    if input_format is not None and input_format not in FORMATS:
        raise InputError(f"unknown input format {excerpt(input_format, 20)}; known: {', '.join(FORMATS)}")
    limit = _max_bytes(max_input_size)
    if path == STDIN:
        source, gz = "<stdin>", None
        fmt = FORMATS[input_format] if input_format else None
    else:
        source = printable(path)
        fmt, gz = _format_for(path, input_format)  # the suffix first: nothing is read for an unknown one
    with _guard(source, fmt.name if fmt else "embeddings") as reading:
        data = _input_bytes(path, source, fmt, gz, limit, stdin)
        fmt = fmt or _sniff_format(data)
        size = data.size() if isinstance(data, DiskFile) else len(data)
        reading.update(kind=fmt.name, what=f"{bounded.human_size(size)} of {'data' if fmt.binary else 'text'}")
        embeddings = _validated(_parse(fmt, data, source, key, labels, limit), source)
    if ids_path is not None:
        embeddings.ids = read_ids(ids_path, len(embeddings), max_input_size=limit)
    return embeddings


def embeddings_from_array(array, source: str = "<array>") -> EmbeddingSet:
    """An EmbeddingSet from an in-memory array, checked as a loaded file would be."""
    return _validated(Parsed(np.asarray(array)), source)


def read_ids(path: str | os.PathLike, expected: int, *, max_input_size: int | str = DEFAULT_MAX_INPUT_BYTES) -> list[str]:
    """Row ids from a text file, one per line (CR, LF or CRLF); the count must match the rows."""
    source = printable(os.fspath(path))
    with _guard(source, "a list of ids"):
        text, source = _read_text(path, _max_bytes(max_input_size))
        ids = text_lines(text)
        while ids and not ids[-1].strip():
            ids.pop()
    if len(ids) != expected:
        raise InputError(f"{source}: has {len(ids)} ids but the embeddings have {expected} rows")
    return ids


#: Header names recognised as the label column of a labels file or a pairs file.
LABEL_COLUMN_NAMES = ("label", "labels", "class", "classes", "y", "target", "is_same")


def read_labels(path: str | os.PathLike, expected: int, column: str | None = None, *,
                max_input_size: int | str = DEFAULT_MAX_INPUT_BYTES) -> list[str]:
    """A label per row from a file: one per line; a column of a CSV/TSV (by header name, or
    the one named label/class/...); a JSON field; a 1-D .npy; an .npz array. As text."""
    path = os.fspath(path)
    source = printable(path)
    limit = _max_bytes(max_input_size)
    fmt, gz = _format_for(path, None)
    with _guard(source, "labels"):
        if fmt.name == "npy":
            data = _input_bytes(path, source, fmt, gz, limit)
            if isinstance(data, DiskFile):
                if data.size() > limit:
                    raise bounded.too_large(source, "holds", limit)
                data = data.read_bytes()
            labels = label_array(bounded.npy_array(data, source, bounded.LABEL_KINDS, max_ndim=1), source)
        elif fmt.name in ("npz", "jsonl", "json"):
            labels = load_embeddings_labels(path, column or ("labels" if fmt.name == "npz" else "label"),
                                            max_input_size=limit)
        else:
            text, source = _read_text(path, limit)
            labels = _text_labels(text, source, column)
    if len(labels) != expected:
        raise InputError(f"{source}: has {len(labels)} labels but the embeddings have {expected} rows")
    return labels


def load_embeddings_labels(path: str, field: str, *, max_input_size: int | str = DEFAULT_MAX_INPUT_BYTES) -> list[str]:
    """The `field` of every record of a JSON/JSONL file, or the `field` array of an .npz."""
    import io

    source = printable(path)
    limit = _max_bytes(max_input_size)
    fmt, gz = _format_for(path, None)
    with _guard(source, "labels"):
        data = _input_bytes(path, source, fmt, gz, limit)
        if fmt.name == "npz":
            with open(data, "rb") if isinstance(data, DiskFile) else io.BytesIO(data) as handle:
                archive, members = bounded.open_npz(handle, source)
                with archive:
                    if field not in members:
                        raise InputError(f"{source}: no array named {excerpt(field)} (arrays: {_listed(members)})")
                    values = bounded.npz_member(archive, members[field], source, field, limit,
                                                bounded.LABEL_KINDS, max_ndim=1)
                    return label_array(values, f"{source}[{field}]")
        if fmt.name not in ("json", "jsonl"):
            raise InputError(f"{source}: labels come from a JSON field or an .npz array, not from a .{fmt.name} file")
        labels = []
        for unit, pos, value in _json_values(_decode(data, source), source, lines=fmt.name == "jsonl"):
            if not isinstance(value, dict):  # a bare label per line
                value = {field: value}
            labels.append(_json_label(value, field, source, f"{unit} {pos}"))
        return labels


def _text_labels(text: str, source: str, column: str | None) -> list[str]:
    first_line = text_lines(text.lstrip())[:1]
    first_line = first_line[0] if first_line else ""
    delimiter = "\t" if "\t" in first_line else "," if "," in first_line else None
    if delimiter is None and column is None:  # one label per line; a first line naming the column is a header
        labels = [line.strip() for line in text_lines(text) if line.strip() and not line.lstrip().startswith("#")]
        if labels and labels[0].lower() in LABEL_COLUMN_NAMES:
            labels = labels[1:]
        return labels
    rows = _delimited_rows(text, delimiter, source)
    if not rows:
        raise InputError(f"{source}: holds no labels")
    header = rows[0][1]
    if column is None:
        named = [i for i, name in enumerate(header) if name.lower() in LABEL_COLUMN_NAMES]
        if len(header) == 1:
            named = [0]
        if len(named) != 1:
            raise InputError(f"{source}: has columns {_listed(header, 8)}; say which holds the labels "
                             "(--labels-column NAME)")
        index = named[0]
    elif column in header:
        index = header.index(column)
    else:
        raise InputError(f"{source}: has no column named {excerpt(column)} (columns: {_listed(header, 8)})")
    labels = []
    for lineno, cells in rows[1:]:
        if len(cells) <= index:
            raise InputError(f"{source}: line {lineno} has no column {index + 1} ({excerpt(header[index])})")
        labels.append(cells[index])
    return labels


def read_labelled_pairs(path: str | os.PathLike, a: EmbeddingSet, b: EmbeddingSet | None = None, *,
                        max_input_size: int | str = DEFAULT_MAX_INPUT_BYTES) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(left rows, right rows, labels) from a pairs file with columns left, right, label (as
    LFW's pair lists): ids or row numbers; a first line that names neither is a header."""
    left, right, rest = _pairs_table(path, a, b if b is not None else a, 3, _max_bytes(max_input_size))
    return left, right, [cells[0] for cells in rest]


def _validated(parsed: Parsed, source: str) -> EmbeddingSet:
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
        _check_finite(array, source, parsed.locate)
    if parsed.ids is not None and len(parsed.ids) != array.shape[0]:
        raise InputError(f"{source}: has {len(parsed.ids)} ids but {array.shape[0]} rows")
    if parsed.labels is not None and len(parsed.labels) != array.shape[0]:
        raise InputError(f"{source}: has {len(parsed.labels)} labels but {array.shape[0]} rows")
    return EmbeddingSet(array, parsed.ids, source, single, parsed.labels)


def _check_finite(array: np.ndarray, source: str, locate: Callable[[int, int], str] | None) -> None:
    """Raise naming the first NaN or infinite value; reads the array (memory-mapped ones too) in
    chunks, on the worker threads when it is large."""
    from .metrics import kernels

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

    found = [f for f in kernels.chunks_in_threads(scan, array.shape[0], max(1, 2**22 // array.shape[1]), array.size) if f]
    if found:
        total = sum(count for count, _ in found)
        row, col, value = found[0][1]
        where = locate(row, col) if locate else f"row {row}, column {col}"
        more = f" ({total - 1} more non-finite values)" if total > 1 else ""
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


def read_pairs(path: str | os.PathLike, a: EmbeddingSet, b: EmbeddingSet, *,
               max_input_size: int | str = DEFAULT_MAX_INPUT_BYTES) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the (a, b) pairs listed in a file: two columns (more are ignored), each
    an id of that set or a row number; a first line that names neither is a header."""
    left, right, _ = _pairs_table(path, a, b, 2, _max_bytes(max_input_size))
    return left, right


def _pairs_table(path, a: EmbeddingSet, b: EmbeddingSet, min_columns: int, limit: int):
    """(a rows, b rows, the cells after the first two of each line) of a pairs file."""
    source = printable(os.fspath(path))
    with _guard(source, "a list of pairs"):
        text, source = _read_text(path, limit)
        first_line = (text_lines(text.lstrip()) or [""])[0]
        delimiter = "\t" if "\t" in first_line else "," if "," in first_line else None
        rows = _delimited_rows(text, delimiter, source)
    if not rows:
        raise InputError(f"{source}: lists no pairs")
    lookups = [_row_lookup(a), _row_lookup(b)]
    pairs, rest = [], []
    needed = "two (a, b)" if min_columns == 2 else "three (left, right, label)"
    for position, (lineno, cells) in enumerate(rows):
        if len(cells) < min_columns:
            raise InputError(f"{source}: line {lineno} has {len(cells)} column{'s' if len(cells) != 1 else ''}; "
                             f"a pair needs {needed}")
        resolved = [lookup(cell) for lookup, cell in zip(lookups, cells[:2])]
        if None in resolved:
            if position == 0 and resolved == [None, None] and not any(is_number(c) for c in cells[:2]):
                continue  # a header
            side = "A" if resolved[0] is None else "B"
            column = 1 if resolved[0] is None else 2
            raise InputError(f"{source}: line {lineno}, column {column}: {excerpt(cells[column - 1])} is neither "
                             f"an id nor a row number of {side}")
        pairs.append(resolved)
        rest.append(cells[2:])
    if not pairs:
        raise InputError(f"{source}: lists no pairs")
    index = np.array(pairs, dtype=np.intp)
    return index[:, 0], index[:, 1], rest


def _row_lookup(s: EmbeddingSet) -> Callable[[str], int | None]:
    by_id = {} if s.ids is None else {str(x): i for i, x in reversed(list(enumerate(s.ids)))}

    def lookup(cell: str) -> int | None:
        if cell in by_id:
            return by_id[cell]
        if not (cell.isascii() and cell.isdigit() and len(cell) <= 18):  # row numbers: ASCII digits only
            return None
        row = int(cell)
        return row if row < len(s) else None

    return lookup

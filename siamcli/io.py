"""Loading embedding files: one table of formats, each returning an EmbeddingSet.

Positions in error messages: text formats give 1-based line and column numbers as an editor
shows them; arrays (.npy, .npz) give 0-based row and column indices as numpy does.
"""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .errors import InputError

#: .npy files larger than this are memory-mapped instead of read into memory.
MMAP_THRESHOLD_BYTES = 64 * 2**20
#: Names of a leading column (in a header) that holds row ids even when its values look numeric.
ID_COLUMN_NAMES = {"", "id", "ids", "name", "key", "filename", "file", "path", "index"}
#: Field names a JSON object may use for its id and its vector, in order of preference.
JSON_ID_FIELDS = ("id", "name", "key")
JSON_VECTOR_FIELDS = ("embedding", "vector", "embeddings", "values")
STDIN = "-"


class DiskFile(str):
    """The path of a regular file not read yet: a binary reader may memory-map it (npy) or read it.
    (A str, not a pathlib.Path: importing pathlib costs the command's start-up 5 ms.)"""

    def size(self) -> int:
        return os.stat(self).st_size

    def read_bytes(self, count: int = -1) -> bytes:
        with open(self, "rb") as file:
            return file.read(count)


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


def _npy_error(source: str, exc: Exception) -> InputError:
    text = str(exc)
    if "allow_pickle" in text or "Object arrays" in text or "Python objects" in text:
        return InputError(
            f"{source}: holds pickled Python objects; siamcli never unpickles files "
            "(save a numeric array instead)"
        )
    return InputError(f"{source}: not a valid .npy file ({text.splitlines()[0] if text else exc.__class__.__name__})")


def read_npy(data: bytes | DiskFile, source: str, key: str | None = None, labels: str | None = None) -> Parsed:
    if labels is not None:
        raise InputError(f"{source}: a .npy file holds one array, so no '{labels}' column; "
                         f"give the labels as a file of their own, or use an .npz with a '{labels}' array")
    head = data[:6] if isinstance(data, bytes) else data.read_bytes(6)
    if head != b"\x93NUMPY":
        raise InputError(f"{source}: not a .npy file (no NumPy header)")
    try:
        if isinstance(data, DiskFile) and data.size() > MMAP_THRESHOLD_BYTES:
            array = np.load(data, mmap_mode="r", allow_pickle=False)
        else:
            array = np.load(io.BytesIO(_bytes(data)), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise _npy_error(source, exc) from exc
    if not isinstance(array, np.ndarray):
        raise InputError(f"{source}: not a .npy array")
    return Parsed(array)


def read_npz(data: bytes | DiskFile, source: str, key: str | None = None, labels: str | None = None) -> Parsed:
    # opened here, not by numpy, which leaves its own handle open when the archive is damaged
    with open(data, "rb") if isinstance(data, DiskFile) else io.BytesIO(data) as handle:
        return _read_npz_archive(handle, source, key, labels)


def _read_npz_archive(handle, source: str, key: str | None, labels: str | None) -> Parsed:
    import zipfile
    import zlib

    try:
        archive = np.load(handle, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        if isinstance(exc, zipfile.BadZipFile):
            raise InputError(f"{source}: not a valid .npz archive ({exc})") from None
        raise _npy_error(source, exc) from exc
    if not hasattr(archive, "files"):
        raise InputError(f"{source}: not a .npz archive")
    with archive:
        names = list(archive.files)
        if key is None:
            if "embeddings" in names:
                key = "embeddings"
            else:
                candidates = [n for n in names if n not in ("ids", labels)]
                if len(candidates) != 1:
                    listed = ", ".join(names) or "none"
                    raise InputError(
                        f"{source}: holds several arrays ({listed}); choose one with --key"
                        if candidates
                        else f"{source}: holds no embedding array (arrays: {listed})"
                    )
                key = candidates[0]
        elif key not in names:
            raise InputError(f"{source}: no array named '{key}' (arrays: {', '.join(names)})")
        try:
            array = archive[key]
            ids = None
            if "ids" in names and key != "ids":
                raw_ids = archive["ids"]
                if raw_ids.ndim != 1:
                    raise InputError(f"{source}: the 'ids' array must be 1-D, got shape {raw_ids.shape}")
                ids = [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in raw_ids.tolist()]
            label_values = None
            if labels is not None:
                if labels not in names:
                    raise InputError(f"{source}: no array named '{labels}' (arrays: {', '.join(names)})")
                label_values = label_array(archive[labels], f"{source}[{labels}]")
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise InputError(f"{source}: the .npz archive is damaged ({exc})") from None
        except ValueError as exc:
            raise _npy_error(f"{source}[{key}]", exc) from exc
    return Parsed(array, ids, labels=label_values)


def label_array(array: np.ndarray, source: str) -> list[str]:
    """Labels from a 1-D array of numbers, booleans or text, as text ('1', 'True', 'same')."""
    if array.ndim != 1:
        raise InputError(f"{source}: labels must be a 1-D array, got shape {array.shape}")
    if array.dtype.kind == "f" and np.all(array == np.round(array)):
        array = array.astype(np.int64)  # 1.0 and 1 are the same label
    return [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in array.tolist()]


# ---------------------------------------------------------------- text formats


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _lines(text: str) -> list[str]:
    """Lines split at \n (and \r\n) only: JSON text may hold U+2028 and other separators."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _delimited_rows(text: str, delimiter: str | None) -> list[tuple[int, list[str]]]:
    """(line number, cells) for every non-blank, non-comment line."""
    lines = _lines(text)
    rows = []
    if delimiter is None:
        for lineno, line in enumerate(lines, 1):
            if line.strip() and not line.lstrip().startswith("#"):
                rows.append((lineno, line.split()))
        return rows
    current = [0]

    def data_lines():  # comments go before the csv parser, so a quote in one cannot swallow rows
        for lineno, line in enumerate(lines, 1):
            if not line.lstrip().startswith("#"):
                current[0] = lineno
                yield line

    import csv  # loaded for CSV/TSV input only

    for cells in csv.reader(data_lines(), delimiter=delimiter):
        if cells and any(c.strip() for c in cells):
            rows.append((current[0], [c.strip() for c in cells]))
    return rows


def _read_delimited(text: str, source: str, delimiter: str | None, exclude: str | None = None) -> Parsed:
    rows = _delimited_rows(text, delimiter)
    if not rows:
        raise InputError(f"{source}: no data rows")
    dropped = None  # file column (0-based) of `exclude`, read as labels rather than as a dimension
    labels = None
    if exclude is not None:
        if exclude not in rows[0][1]:
            raise InputError(f"{source}: has no column named '{exclude}' in its header line "
                             f"(columns: {', '.join(rows[0][1][:8])})")
        dropped = rows[0][1].index(exclude)
        for lineno, cells in rows[1:]:
            if len(cells) <= dropped:
                raise InputError(f"{source}: line {lineno} has no '{exclude}' column (column {dropped + 1})")
        labels = [cells[dropped] for _, cells in rows[1:]]
        rows = [(lineno, cells[:dropped] + cells[dropped + 1 :]) for lineno, cells in rows]

    def file_column(col: int) -> int:  # 1-based column after the drop -> 1-based column in the file
        return col + 1 if dropped is not None and col > dropped else col

    first = rows[0][1]
    header = None
    if len(first) == 1:
        if not _is_number(first[0]):
            header = first
    elif not all(_is_number(c) for c in first[1:]) or first[0].lower() in ID_COLUMN_NAMES:
        header = first
    if exclude is not None:
        header = first
    if header is not None:
        rows = rows[1:]
        if not rows:
            raise InputError(f"{source}: has a header but no data rows")
    data_first = rows[0][1]
    has_ids = len(data_first) > 1 and (
        not _is_number(data_first[0]) or (header is not None and header[0].lower() in ID_COLUMN_NAMES)
    )
    width = len(data_first)
    if header is not None and len(header) != width:
        raise InputError(
            f"{source}: line {rows[0][0]} has {width + (dropped is not None)} columns but the header has "
            f"{len(header) + (dropped is not None)}"
        )
    for lineno, cells in rows:
        if len(cells) != width:
            raise InputError(
                f"{source}: line {lineno} has {len(cells) + (dropped is not None)} columns, "
                f"expected {width + (dropped is not None)} (as on line {rows[0][0]})"
            )
    start = 1 if has_ids else 0
    cells = [r[1][start:] for r in rows]
    try:
        array = np.array(cells, dtype=np.float64)
    except ValueError:
        for lineno, row in rows:
            for col, cell in enumerate(row[start:], start + 1):
                if not _is_number(cell):
                    shown = repr(cell) if cell else "an empty cell"
                    raise InputError(f"{source}: line {lineno}, column {file_column(col)}: {shown} is not a number")
        raise
    ids = [r[1][0] for r in rows] if has_ids else None
    lines = [r[0] for r in rows]
    return Parsed(array, ids, lambda row, col: f"line {lines[row]}, column {file_column(col + start + 1)}", labels)


def read_csv(text: str, source: str, key: str | None = None, labels: str | None = None) -> Parsed:
    return _read_delimited(text, source, ",", labels)


def read_tsv(text: str, source: str, key: str | None = None, labels: str | None = None) -> Parsed:
    return _read_delimited(text, source, "\t", labels)


def read_txt(text: str, source: str, key: str | None = None, labels: str | None = None) -> Parsed:
    return _read_delimited(text, source, None, labels)


def _json_record(value, source: str, where: str) -> tuple[str | None, list]:
    """(id or None, vector list) from one JSON value: an object with a vector field, or a bare list."""
    ident = None
    if isinstance(value, dict):
        for field in JSON_ID_FIELDS:
            if field in value:
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
            raise InputError(f"{source}: {where}, element {col}: {json.dumps(x)} is not a number")
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
                    raise InputError(f"{source}: {unit} {pos}, element {col}: {str(x)[:20]}... is too large for a float") from None
        raise
    ids = [r[1] for r in records] if all(with_id) else None
    positions = [r[0] for r in records]
    return Parsed(array, ids, lambda row, col: f"{unit} {positions[row]}, element {col + 1}")


def _json_label(value, field: str | None, source: str, where: str):
    if field is None:
        return None
    if not isinstance(value, dict) or field not in value:
        raise InputError(f"{source}: {where}: has no '{field}' field")
    label = value[field]
    if isinstance(label, (dict, list)) or label is None:
        raise InputError(f"{source}: {where}: '{field}' must be a number, text or true/false, got {json.dumps(label)}")
    return json.dumps(label) if isinstance(label, bool) else str(label)


def read_jsonl(text: str, source: str, key: str | None = None, labels: str | None = None) -> Parsed:
    records = []
    label_values = []
    for lineno, line in enumerate(_lines(text), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}: line {lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from None
        ident, vec = _json_record(value, source, f"line {lineno}")
        records.append((lineno, ident, vec))
        label_values.append(_json_label(value, labels, source, f"line {lineno}"))
    parsed = _records_to_parsed(records, source, "line")
    parsed.labels = label_values if labels is not None else None
    return parsed


def read_json(text: str, source: str, key: str | None = None, labels: str | None = None) -> Parsed:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source}: line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from None
    if isinstance(doc, dict) and any(f in doc for f in JSON_VECTOR_FIELDS):
        doc = [doc]
    if not isinstance(doc, list):
        raise InputError(f"{source}: expected a JSON list of vectors or of objects")
    if doc and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in doc):
        doc = [doc]  # one bare vector
    records = []
    label_values = []
    for i, value in enumerate(doc, 1):
        ident, vec = _json_record(value, source, f"item {i}")
        records.append((i, ident, vec))
        label_values.append(_json_label(value, labels, source, f"item {i}"))
    parsed = _records_to_parsed(records, source, "item")
    parsed.labels = label_values if labels is not None else None
    return parsed


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
    shown = f"'{suffix}'" if suffix else "no suffix"
    raise InputError(f"{path}: unknown file type ({shown}); known: {known}; or name one with --input-format")


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


def _bytes(data: bytes | DiskFile) -> bytes:
    """The content of what _read_source gave: a path still to read, or bytes already read."""
    return data.read_bytes() if isinstance(data, DiskFile) else data


def _read_text(path: str | os.PathLike) -> tuple[str, str]:
    """(text, source name) of a small text file such as an ids or pairs list."""
    data, source = _read_source(os.fspath(path), None)
    return _decode(_bytes(data), source), source


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: byte {exc.start} is not UTF-8 text (is it a binary file?)") from None


def _gunzip(data: bytes, source: str) -> bytes:
    import gzip
    import zlib

    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{source}: not a valid gzip file ({exc})") from None


def _read_source(path: str, stdin) -> tuple[bytes | DiskFile, str]:
    if path == STDIN:
        stream = stdin if stdin is not None else sys.stdin.buffer
        return stream.read(), "<stdin>"
    try:
        if os.path.isdir(path):
            raise InputError(f"{path}: is a directory, not a file")
        with open(path, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                return file.read(), path  # a pipe or a device (`<(command)`): its size says nothing
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except PermissionError:
        raise InputError(f"{path}: cannot read (permission denied)") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return DiskFile(path), path


def load_embeddings(
    path: str | os.PathLike,
    *,
    input_format: str | None = None,
    key: str | None = None,
    ids_path: str | os.PathLike | None = None,
    stdin=None,
    labels: str | None = None,
) -> EmbeddingSet:
    """Load vectors from a file (`-` for stdin) and check they are finite numeric rows.

    `labels` names a column (CSV/TSV/TXT header), field (JSON) or array (.npz) of the same file
    holding a label per row: it is read into `.labels`, not used as a dimension.

    >>> load_embeddings("examples/queries.csv").vectors.shape
    (10, 64)
    """
    path = os.fspath(path)
    if input_format is not None and input_format not in FORMATS:
        raise InputError(f"unknown input format '{input_format}'; known: {', '.join(FORMATS)}")
    data, source = _read_source(path, stdin)
    if path == STDIN:
        if not data:
            raise InputError("<stdin>: is empty")
        gz = data.startswith(b"\x1f\x8b")
        if gz:
            data = _gunzip(data, source)
        fmt = FORMATS[input_format] if input_format else _sniff_format(data)
    else:
        fmt, gz = _format_for(path, input_format)
        if (data.size() if isinstance(data, DiskFile) else len(data)) == 0:
            raise InputError(f"{source}: is empty")
        if gz:
            data = _gunzip(_bytes(data), source)
    if fmt.binary:
        parsed = fmt.read(data, source, key, labels)
    else:
        text = _decode(_bytes(data), source)
        if not text.strip():
            raise InputError(f"{source}: is empty")
        parsed = fmt.read(text, source, key, labels)
    embeddings = _validated(parsed, source)
    if ids_path is not None:
        embeddings.ids = read_ids(ids_path, len(embeddings))
    return embeddings


def embeddings_from_array(array, source: str = "<array>") -> EmbeddingSet:
    """An EmbeddingSet from an in-memory array, checked as a loaded file would be."""
    return _validated(Parsed(np.asarray(array)), source)


def read_ids(path: str | os.PathLike, expected: int) -> list[str]:
    """Row ids from a text file, one per line; the count must match the rows."""
    text, source = _read_text(path)
    ids = _lines(text)
    while ids and not ids[-1].strip():
        ids.pop()
    if len(ids) != expected:
        raise InputError(f"{source}: has {len(ids)} ids but the embeddings have {expected} rows")
    return ids


#: Header names recognised as the label column of a labels file or a pairs file.
LABEL_COLUMN_NAMES = ("label", "labels", "class", "classes", "y", "target", "is_same")


def read_labels(path: str | os.PathLike, expected: int, column: str | None = None) -> list[str]:
    """A label per row from a file: one per line; a column of a CSV/TSV (by header name, or
    the one named label/class/...); a JSON field; a 1-D .npy; an .npz array. As text."""
    path = os.fspath(path)
    fmt, _ = _format_for(path, None)
    if fmt.name in ("npy", "npz", "jsonl", "json"):
        if fmt.name == "npy":
            data, source = _read_source(path, None)
            try:
                array = np.load(io.BytesIO(_bytes(data)), allow_pickle=False)
            except (ValueError, OSError, EOFError) as exc:
                raise _npy_error(source, exc) from exc
            labels = label_array(array, source)
        else:
            labels = load_embeddings_labels(path, column or ("labels" if fmt.name == "npz" else "label"))
        source = path
    else:
        text, source = _read_text(path)
        labels = _text_labels(text, source, column)
    if len(labels) != expected:
        raise InputError(f"{source}: has {len(labels)} labels but the embeddings have {expected} rows")
    return labels


def load_embeddings_labels(path: str, field: str) -> list[str]:
    """The `field` of every record of a JSON/JSONL file, or the `field` array of an .npz."""
    fmt, gz = _format_for(path, None)
    data, source = _read_source(path, None)
    raw = _gunzip(_bytes(data), source) if gz else data
    if fmt.name == "npz":
        import zipfile

        try:
            with np.load(raw if isinstance(raw, DiskFile) else io.BytesIO(raw), allow_pickle=False) as archive:
                if field not in archive.files:
                    raise InputError(f"{source}: no array named '{field}' (arrays: {', '.join(archive.files)})")
                return label_array(archive[field], f"{source}[{field}]")
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise InputError(f"{source}: not a valid .npz archive ({exc})") from None
    text = _decode(_bytes(raw), source)
    if fmt.name == "jsonl":
        values = [(f"line {n}", line) for n, line in enumerate(_lines(text), 1) if line.strip()]
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}: line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from None
        values = [(f"item {i}", json.dumps(v)) for i, v in enumerate(doc if isinstance(doc, list) else [doc], 1)]
    labels = []
    for where, line in values:
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}: {where}, column {exc.colno}: invalid JSON ({exc.msg})") from None
        if not isinstance(value, dict):  # a bare label per line
            value = {field: value}
        labels.append(_json_label(value, field, source, where))
    return labels


def _text_labels(text: str, source: str, column: str | None) -> list[str]:
    first_line = text.lstrip().split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line else "," if "," in first_line else None
    if delimiter is None and column is None:  # one label per line; a first line naming the column is a header
        labels = [line.strip() for line in _lines(text) if line.strip() and not line.lstrip().startswith("#")]
        if labels and labels[0].lower() in LABEL_COLUMN_NAMES:
            labels = labels[1:]
        return labels
    rows = _delimited_rows(text, delimiter)
    if not rows:
        raise InputError(f"{source}: holds no labels")
    header = rows[0][1]
    if column is None:
        named = [i for i, name in enumerate(header) if name.lower() in LABEL_COLUMN_NAMES]
        if len(header) == 1:
            named = [0]
        if len(named) != 1:
            raise InputError(f"{source}: has columns {', '.join(header[:8])}; say which holds the labels "
                             "(--labels-column NAME)")
        index = named[0]
    elif column in header:
        index = header.index(column)
    else:
        raise InputError(f"{source}: has no column named '{column}' (columns: {', '.join(header[:8])})")
    labels = []
    for lineno, cells in rows[1:]:
        if len(cells) <= index:
            raise InputError(f"{source}: line {lineno} has no column {index + 1} ('{header[index]}')")
        labels.append(cells[index])
    return labels


def read_labelled_pairs(path: str | os.PathLike, a: EmbeddingSet,
                        b: EmbeddingSet | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(left rows, right rows, labels) from a pairs file with columns left, right, label (as
    LFW's pair lists): ids or row numbers; a first line that names neither is a header."""
    left, right, rest = _pairs_table(path, a, b if b is not None else a, min_columns=3)
    return left, right, [cells[0] for cells in rest]


def _validated(parsed: Parsed, source: str) -> EmbeddingSet:
    array = parsed.array
    kind = array.dtype.kind
    if kind == "O":
        raise InputError(f"{source}: holds Python objects, not numbers")
    if kind in "USV":
        raise InputError(f"{source}: holds {'text' if kind in 'US' else 'records'}, not numbers")
    if kind == "c":
        raise InputError(f"{source}: holds complex numbers; embeddings must be real")
    if kind not in "fiub":
        raise InputError(f"{source}: unsupported dtype {array.dtype}")
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
    from . import kernels

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


def read_pairs(path: str | os.PathLike, a: EmbeddingSet, b: EmbeddingSet) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the (a, b) pairs listed in a file: two columns (more are ignored), each
    an id of that set or a row number; a first line that names neither is a header."""
    left, right, _ = _pairs_table(path, a, b)
    return left, right


def _pairs_table(path, a: EmbeddingSet, b: EmbeddingSet, min_columns: int = 2):
    """(a rows, b rows, the cells after the first two of each line) of a pairs file."""
    text, source = _read_text(path)
    first_line = text.lstrip().split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line else "," if "," in first_line else None
    rows = _delimited_rows(text, delimiter)
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
            if position == 0 and resolved == [None, None] and not any(_is_number(c) for c in cells[:2]):
                continue  # a header
            side = "A" if resolved[0] is None else "B"
            column = 1 if resolved[0] is None else 2
            raise InputError(
                f"{source}: line {lineno}, column {column}: '{cells[column - 1]}' is neither an id nor a row number of {side}"
            )
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
        try:
            row = int(cell)
        except ValueError:
            return None
        return row if 0 <= row < len(s) else None

    return lookup

"""JSON readers: JSONL (one record per line) and a JSON document (a list of vectors or records). A
record is a bare list of numbers or an object with an id field and a vector field; a labels field
may sit beside them. NaN/Infinity and numbers past float64 are told apart, to be named."""

from __future__ import annotations

import json

import numpy as np

from ..errors import counted, InputError
from .embeddings import Parsed, ReadOptions
from .textcells import excerpt, first_non_finite

#: Field names a JSON object may use for its id and its vector, in order of preference.
JSON_ID_FIELDS = ("id", "name", "key")
JSON_VECTOR_FIELDS = ("embedding", "vector", "embeddings", "values")


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
                f"{source}: {unit} {pos} has {counted(len(vec), 'value')}, expected {width} (as in {unit} {records[0][0]})"
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


def _read_json_text(text: str, source: str, options: ReadOptions, lines: bool) -> Parsed:
    unit = "line" if lines else "item"
    values = _json_values(text, source, lines)
    records = [(pos, *_json_record(value, source, f"{unit} {pos}")) for _, pos, value in values]
    labels = options.labels
    label_values = [_json_label(value, labels, source, f"{unit} {pos}") for _, pos, value in values]
    fields = {name: [_json_label(value, name, source, f"{unit} {pos}") for _, pos, value in values]
              for name in options.fields}
    parsed = _records_to_parsed(records, source, unit)
    first = first_non_finite(parsed.array)
    if first is not None:  # NaN/Infinity written as such, or a number past float64 ('1e400'): parse again to tell
        row, col = first
        marked = _json_values(text, source, lines, marked=True)
        if not isinstance(_json_record(marked[row][2], source, "")[1][col], _JsonConstant):
            raise InputError(f"{source}: {unit} {records[row][0]}, element {col + 1}: a number too large for float64")
    parsed.labels = label_values if labels is not None else None
    parsed.fields = fields or None
    return parsed


def read_jsonl(text: str, source: str, options: ReadOptions) -> Parsed:
    return _read_json_text(text, source, options, lines=True)


def read_json(text: str, source: str, options: ReadOptions) -> Parsed:
    return _read_json_text(text, source, options, lines=False)


def _labels(text: str, source: str, field: str | None, lines: bool) -> list[str]:
    """The `field` (default 'label') of every record, or the record itself when it is a bare label."""
    field = field or "label"
    labels = []
    for unit, pos, value in _json_values(text, source, lines=lines):
        if not isinstance(value, dict):  # a bare label per line
            value = {field: value}
        labels.append(_json_label(value, field, source, f"{unit} {pos}"))
    return labels


def jsonl_labels(text: str, source: str, column: str | None = None, limit: int = 0) -> list[str]:
    return _labels(text, source, column, lines=True)


def json_labels(text: str, source: str, column: str | None = None, limit: int = 0) -> list[str]:
    return _labels(text, source, column, lines=False)

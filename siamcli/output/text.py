"""Text made safe for what reads it, and numbers as tables show them.

Tables show control characters escaped (`\\x1b`, `\\u202e`), JSON escapes the characters that
split lines or act on a terminal, and CSV/TSV quote every field that a reader could split or
take for a comment.
"""

from __future__ import annotations

import json
import math
import re
from typing import Iterable

from ..results import plain

#: Characters a terminal acts on instead of showing them: C0 and C1 controls, DEL, the line and
#: paragraph separators (they split lines for many readers) and the bidirectional overrides and
#: isolates (they reorder what follows: an id can make a score read backwards).
_UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
#: Of those, what json.dumps leaves raw with ensure_ascii=False (it escapes C0 itself).
_UNSAFE_JSON = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape_char(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: str) -> str:
    """Text fit for a terminal: control characters shown as escapes.

    >>> safe_text("id\\x1b[2J\\u202e")
    'id\\\\x1b[2J\\\\u202e'
    """
    if text.isascii() and text.isprintable():  # the common case, 10x faster than the regex
        return text
    return _UNSAFE_TEXT.sub(_escape_char, text)


def _json_escape(match: re.Match) -> str:
    return f"\\u{ord(match.group()):04x}"


def dumps(obj) -> str:
    """Strict JSON on one line: non-ASCII text stays readable, but nothing that splits lines
    (U+2028, U+2029, NEL) or acts on a terminal is left raw."""
    text = json.dumps(obj, allow_nan=False, ensure_ascii=False)
    if text.isascii() and "\x7f" not in text:  # the common case, 10x faster than the regex
        return text
    return _UNSAFE_JSON.sub(_json_escape, text)


def cell(value) -> str:
    """A record value as one CSV/TSV cell: full precision, empty for None, NaN and inf."""
    if value is None:
        return ""
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return dumps(plain(value))  # a list of objects (per-class rows) as compact JSON
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, list):
        return ";".join(cell(v) for v in value)
    return str(value)


#: A CSV/TSV field needs quotes when it holds the separator, a quote, CR or LF (Python's csv
#: writer leaves a bare CR unquoted), starts or ends with white space (readers that trim would
#: lose it) or starts with '#' (readers that skip comment lines, siamcli's own among them).
_NEEDS_QUOTES = {sep: re.compile(f'[{sep}"\\r\\n]|^[\\s#]|\\s$') for sep in (",", "\t")}


def field(text: str, sep: str) -> str:
    """One CSV/TSV field, quoted (quotes doubled) when a reader could misread it bare."""
    if _NEEDS_QUOTES[sep].search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def line(cells: Iterable, sep: str) -> str:
    """One CSV/TSV line of record values."""
    return sep.join(field(cell(value), sep) for value in cells) + "\n"


def format_number(value: float, precision: int) -> str:
    """Fixed decimals; scientific when a nonzero value would round to zero; 'nan', 'inf', '-inf'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value != 0 and abs(value) < 0.5 * 10.0**-precision:
        return f"{value:.{max(precision - 1, 1)}e}"
    return f"{value:.{precision}f}"


def figure(value, precision: int) -> str:
    """A figure of a report: format_number, or '-' when there is none (None)."""
    return "-" if value is None else format_number(float(value), precision)


def count(value: int) -> str:
    """A count with thousands separators: 12,345."""
    return f"{value:,}"


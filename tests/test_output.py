"""The formatters: safe text, strict JSON lines, CSV/TSV that read back, streamed ranking tables.

References are independent of siamcli's output code: unicodedata for what a control character
is, json/csv/pandas for reading back, and rich's own Table for how a ranking table looks.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tracemalloc
import unicodedata

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siamcli import engine, output
from siamcli.io import EmbeddingSet
from siamcli.results import RANKING_FIELDS, MatrixResult, Ranking, Verdicts

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: What must never reach a terminal raw: C0, DEL and C1 (category Cc), the bidirectional embeddings,
#: overrides and isolates, and the line and paragraph separators (they split lines).
BIDI = {chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]}


def is_unsafe(char: str) -> bool:
    return unicodedata.category(char) == "Cc" or char in BIDI or char in "\u2028\u2029"


#: What str.splitlines() splits at beyond "\n": a JSON or table line must hold none of them.
LINE_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"

#: Ids a hostile review used: separators, quotes, line breaks, escape sequences, edge spaces, ...
HOSTILE_IDS = ["plain", "a,b", "tab\there", 'say "hi"', "cr\ronly", "lf\nonly", "crlf\r\nboth", "line\u2028sep",
               "\x1b[2J\x1b]0;title\x07", "\x1b[8mhidden", " lead", "trail ", "", "#comment", "naïve 東京",
               "rtl\u202eevil", "del\x7f", "nel\x85", '"', "nan", "\x00nul"]

ids_strategy = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


def _set(vectors, ids, name="set") -> EmbeddingSet:
    return EmbeddingSet(np.asarray(vectors, dtype=np.float64), ids, name)


def _render(parts, fmt, precision=4) -> str:
    out = io.StringIO()
    output.write(parts, fmt, out, output.OutputOptions(precision=precision))
    return out.getvalue()


def _ranking(ids_a, ids_b, seed=0, **kwargs) -> list[Ranking]:
    """compare's stream of Ranking chunks over random vectors with the given ids."""
    rng = np.random.default_rng(seed)
    a = _set(rng.normal(size=(len(ids_a), 3)), ids_a, "a")
    b = _set(rng.normal(size=(len(ids_b), 3)), ids_b, "b")
    comp = engine.prepare(a, b)
    return list(engine.results(comp, **kwargs))


# ---------------------------------------------------------------- safe text


def test_safe_text_escapes_every_control_and_nothing_else():
    for code in range(0x3000):
        char = chr(code)
        if 0xD800 <= code < 0xE000:
            continue
        shown = output.safe_text(char)
        if is_unsafe(char):
            assert shown == (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            assert shown == char
    assert output.safe_text("id\x1b[2J, \\n stays") == "id\\x1b[2J, \\n stays"


@SETTINGS
@given(ids_strategy)
def test_safe_text_leaves_no_unsafe_character(text):
    shown = output.safe_text(text)
    assert not any(is_unsafe(c) for c in shown)
    assert shown.splitlines() == ([shown] if shown else [])


# ---------------------------------------------------------------- JSON


def _strict(text: str):
    return json.loads(text, parse_constant=lambda token: pytest.fail(f"not strict JSON: {token}"))


def _assert_json_lines(text: str, document: bool = False) -> list:
    """Strict JSON split at "\\n" only, holding no line break or terminal control raw: every line
    one value (jsonl), or the whole text one document (json)."""
    assert text.endswith("\n")
    lines = text[:-1].split("\n")
    assert text.splitlines() == lines
    assert not any(is_unsafe(c) for c in text.replace("\n", ""))
    return _strict(text) if document else [_strict(line) for line in lines]


def test_jsonl_escapes_line_separators_and_controls_and_keeps_the_ids():
    parts = _ranking(HOSTILE_IDS, HOSTILE_IDS[::-1], top_k=2)
    text = _render(parts, "jsonl")
    records = _assert_json_lines(text)
    assert [(r["a_id"], r["b_id"]) for r in records] == [(HOSTILE_IDS[r["a_index"]], HOSTILE_IDS[::-1][r["b_index"]])
                                                         for r in records]
    for raw in ("\u2028", "\u2029", "\x85", "\x7f", "\u202e"):
        assert raw not in text
    assert "\\u2028" in text and "\\u202e" in text and "naïve 東京" in text  # other text stays readable


def test_json_document_and_matrix_are_strict_and_keep_the_ids():
    ids = HOSTILE_IDS[:8]
    records = _assert_json_lines(_render(_ranking(ids, ids, top_k=1), "json"), document=True)
    assert sorted(r["a_id"] for r in records) == sorted(ids)
    a = _set(np.eye(3)[[0, 1, 2, 0]], ["x\u2028", "y\x85", "z\x1b", "w"])
    b = _set(np.eye(3), ["\u2029", "\x9b", "c"])
    values = np.array([[1.0, np.nan, 0.5], [np.inf, 0.0, -1.0], [1e-300, 2.0, 3.0], [4.0, 5.0, 6.0]])
    (doc,) = _assert_json_lines(_render(MatrixResult(engine.get_metric("cosine"), a, b, values), "json"))
    assert doc["row_ids"] == a.ids and doc["col_ids"] == b.ids
    assert doc["values"] == [[1.0, None, 0.5], [None, 0.0, -1.0], [1e-300, 2.0, 3.0], [4.0, 5.0, 6.0]]
    plain = json.dumps({"metric": "cosine", "higher_is_better": True, "row_ids": ["w"], "col_ids": ["c"],
                        "values": [[0.25]]})  # as json.dumps writes it, though written a row at a time
    one = MatrixResult(engine.get_metric("cosine"), _set([[1.0]], ["w"]), _set([[1.0]], ["c"]), np.array([[0.25]]))
    assert _render(one, "json") == plain + "\n"


@SETTINGS
@given(st.lists(ids_strategy, min_size=1, max_size=6), st.lists(ids_strategy, min_size=1, max_size=6))
def test_json_lines_parse_and_split_only_at_newlines_for_any_ids(ids_a, ids_b):
    parts = _ranking(ids_a, ids_b, top_k=None)
    for fmt in ("jsonl", "json"):
        records = _assert_json_lines(_render(parts, fmt), document=fmt == "json")
        assert len(records) == len(ids_a) * len(ids_b)
        assert all(r["a_id"] == ids_a[r["a_index"]] and r["b_id"] == ids_b[r["b_index"]] for r in records)


# ---------------------------------------------------------------- CSV and TSV


def _read_back(text: str, sep: str) -> tuple[list[list[str]], list[list[str]]]:
    """The rows as Python's csv module and as pandas read them (every field text, nothing NA)."""
    pd = pytest.importorskip("pandas")
    by_csv = list(csv.reader(io.StringIO(text, newline=""), delimiter=sep))
    frame = pd.read_csv(io.StringIO(text), sep=sep, header=None, dtype=str, keep_default_na=False)
    return by_csv, frame.values.tolist()


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_csv_ranking_reads_back_the_hostile_ids_exactly(fmt):
    sep = "," if fmt == "csv" else "\t"
    ids_b = [f"b{i}{x}" for i, x in enumerate(HOSTILE_IDS)]
    parts = _ranking(HOSTILE_IDS, ids_b, top_k=3)
    records = [r for p in parts for r in p.records()]
    for rows in _read_back(_render(parts, fmt), sep):
        assert rows[0] == list(RANKING_FIELDS)
        assert [(row[3], row[5]) for row in rows[1:]] == [(r["a_id"], r["b_id"]) for r in records]
        assert [float(row[6]) for row in rows[1:]] == [r["score"] for r in records]  # full precision


@pytest.mark.parametrize("sep", [",", "\t"])
def test_matrix_rows_read_back_the_hostile_ids_exactly(sep):
    out = io.StringIO()
    values = np.arange(len(HOSTILE_IDS) ** 2, dtype=np.float64).reshape(len(HOSTILE_IDS), -1) / 7
    output.write_matrix_rows(out, HOSTILE_IDS, ((i, row.tolist()) for i, row in zip(HOSTILE_IDS, values)), sep)
    for rows in _read_back(out.getvalue(), sep):
        assert rows[0] == ["id", *HOSTILE_IDS]
        assert [row[0] for row in rows[1:]] == HOSTILE_IDS
        assert np.array([[float(x) for x in row[1:]] for row in rows[1:]]).tolist() == values.tolist()


def test_csv_quotes_only_fields_a_reader_could_misread():
    line = output.text.line(["id", "a,b", "a\tb", "cr\r", 'q"', " s", "s ", "#c", "x#", "naïve", 1.5, None, True], ",")
    assert line == 'id,"a,b",a\tb,"cr\r","q"""," s","s ","#c",x#,naïve,1.5,,true\n'


@SETTINGS
@given(st.lists(ids_strategy, min_size=1, max_size=6), st.sampled_from([",", "\t"]))
def test_csv_and_pandas_read_back_any_ids(ids, sep):
    out = io.StringIO()
    output.write_matrix_rows(out, ids, ((i, [0.5] * len(ids)) for i in ids), sep)
    for rows in _read_back(out.getvalue(), sep):
        assert rows[0] == ["id", *ids]
        assert [row[0] for row in rows[1:]] == ids
        assert all(row[1:] == ["0.5"] * len(ids) for row in rows[1:])


# ---------------------------------------------------------------- tables


def _number(value: float, precision: int) -> str:
    """The README's rule for table numbers: fixed decimals, scientific when a nonzero value would
    show as zero."""
    if value != 0 and abs(value) < 0.5 * 10.0**-precision:
        return f"{value:.{max(precision - 1, 1)}e}"
    return f"{value:.{precision}f}"


def _rich_reference(parts, precision=4) -> str:
    """The ranking as rich's own Table draws it (what siamcli printed before it streamed tables)."""
    from rich.console import Console
    from rich.table import Table

    first = parts[0]
    columns = output.ranking._RANKING_COLUMNS[first.grouping] + (("match",) if isinstance(first, Verdicts) else ())
    table = Table(show_edge=False, pad_edge=False)
    for name in columns:
        table.add_column(name, justify="right" if name in ("rank", "score") else "left")
    previous = None
    for record in (r for p in parts for r in p.records()):
        cells = {"a": record["a_id"], "b": record["b_id"], "rank": str(record["rank"]),
                 "score": _number(record["score"], precision), "match": "same" if record.get("match") else "different"}
        if first.grouping == "row":
            if previous is not None and record["a_index"] != previous:
                table.rows[-1].end_section = True
            if record["a_index"] == previous:
                cells["a"] = ""
            previous = record["a_index"]
        table.add_row(*(cells[c] for c in columns))
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None, markup=False, highlight=False, emoji=False)
    console.print(table)
    return out.getvalue()


def _verdicts(ids_a, ids_b, threshold):
    rng = np.random.default_rng(5)
    comp = engine.prepare(_set(rng.normal(size=(len(ids_a), 3)), ids_a), _set(rng.normal(size=(len(ids_b), 3)), ids_b))
    return list(engine.verify(comp, threshold, paired=True, block_rows=3))


@pytest.mark.parametrize("case", ["top-k", "all per row", "overall", "paired", "verdicts", "precision 0"])
@pytest.mark.parametrize("group", [2, 1024])
def test_ranking_table_is_drawn_as_rich_draws_it(monkeypatch, case, group):
    """Rows written in groups, across chunk boundaries, give rich's table to the character."""
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr(output.ranking, "TABLE_ROW_GROUP", group)
    ids_a, ids_b = ["q1", "query-two", "q3", "é東", "q5"], ["g1", "g2", "gallery-3", "g4", "[b]g5[/b]"]
    precision = 0 if case == "precision 0" else 4
    parts = {"top-k": lambda: _ranking(ids_a, ids_b, top_k=5, block_rows=2),
             "all per row": lambda: _ranking(ids_a, ids_b, top_k=None, block_rows=2),
             "precision 0": lambda: _ranking(ids_a, ids_b, top_k=None, block_rows=2),
             "overall": lambda: _ranking(ids_a, ids_b, limit="all"),
             "paired": lambda: _ranking(ids_a, ids_b, paired=True, block_rows=2),
             "verdicts": lambda: _verdicts(ids_a, ids_b, 0.1)}[case]()
    assert len(parts) > 1 or case == "overall"
    text = _render(parts, "table", precision)
    body, footer = text.rsplit("\n", 2)[0] + "\n", text.rsplit("\n", 2)[1]
    assert body == _rich_reference(parts, precision)
    assert footer.startswith("cosine: higher is closer")


def test_ranking_table_cuts_long_ids_and_fits_the_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    long_a, long_b = "a" * 100, "東" * 60
    text = _render(_ranking([long_a, "short"], [long_b, "b"], top_k=2), "table")
    lines = text.splitlines()
    from rich.cells import cell_len

    assert all(cell_len(line) <= 60 for line in lines)
    assert len({cell_len(line) for line in lines[:-1]}) == 1, "every row as wide as the header"
    cut_a = [line.split("│")[0].strip() for line in lines[2:-1] if "─" not in line and line.split("│")[0].strip()]
    assert cut_a and all(a == "short" or (a.endswith("…") and long_a.startswith(a[:-1])) for a in cut_a)
    assert any("東…" in line or "東 …" in line for line in lines)


def test_ranking_table_widens_a_column_for_a_later_wider_score(monkeypatch):
    monkeypatch.setattr(output.ranking, "TABLE_ROW_GROUP", 2)
    metric = engine.get_metric("euclidean")
    a, b = _set(np.zeros((4, 1)), None), _set(np.zeros((1, 1)), None)
    scores = np.array([1.0, 2.0, 12345.5, 3.0])
    part = Ranking(metric, a, b, np.arange(4), np.zeros(4, np.int64), scores, np.ones(4, np.int64), "paired")
    first = Ranking(metric, a, b, np.arange(2), np.zeros(2, np.int64), scores[:2], np.ones(2, np.int64), "paired")
    rest = Ranking(metric, a, b, np.arange(2, 4), np.zeros(2, np.int64), scores[2:], np.ones(2, np.int64), "paired")
    whole = _render([part], "table", 1).splitlines()
    streamed = _render([first, rest], "table", 1).splitlines()
    assert [line.split("│")[-1].strip() for line in streamed[2:-1]] == ["1.0", "2.0", "12345.5", "3.0"]
    assert streamed[2].endswith("│   1.0") and streamed[4].endswith("│ 12345.5"), "grows from there on"
    assert whole[2].endswith("│     1.0"), "a wide value in the first part sets the width up front"


@SETTINGS
@given(st.lists(ids_strategy, min_size=1, max_size=5), st.lists(ids_strategy, min_size=1, max_size=5))
def test_table_lines_hold_no_raw_control_for_any_ids(ids_a, ids_b):
    parts = _ranking(ids_a, ids_b, top_k=None)
    a, b = _set(np.eye(len(ids_a), 3), ids_a), _set(np.eye(len(ids_b), 3), ids_b)
    matrix = MatrixResult(engine.get_metric("cosine"), a, b, np.zeros((len(ids_a), len(ids_b))))
    for text in (_render(parts, "table"), _render(matrix, "table")):
        assert text.splitlines() == text[:-1].split("\n")
        assert not any(is_unsafe(c) for c in text.replace("\n", ""))
    shown = _render(parts, "table")
    for ident in ids_a + ids_b:
        escaped = output.safe_text(ident)
        if len(escaped) < output.ranking._MIN_ID_WIDTH and escaped.isascii() and escaped.strip() == escaped and escaped:
            assert escaped in shown


class _Sink(io.TextIOBase):
    """A text stream that keeps nothing (so memory measures the formatter, not the output)."""

    def __init__(self):
        self.chars = self.lines = 0

    def writable(self):
        return True

    def write(self, text):
        self.chars += len(text)
        self.lines += text.count("\n")
        return len(text)


def _synthetic_chunks(rows: int, chunk: int = 10_000):
    """A per-row ranking of `rows` rows streamed in chunks, made lazily as the engine makes them."""
    metric = engine.get_metric("cosine")
    a = _set(np.zeros((rows // 10 + 1, 1)), [f"query-{i}" for i in range(rows // 10 + 1)])
    b = _set(np.zeros((10, 1)), [f"gallery-{j}" for j in range(10)])
    for start in range(0, rows, chunk):
        index = np.arange(start, min(rows, start + chunk))
        yield Ranking(metric, a, b, index // 10, index % 10, np.cos(index.astype(np.float64)), index % 10 + 1, "row")


@pytest.mark.parametrize("rows", [10_000, pytest.param(200_000, marks=pytest.mark.slow)])
def test_ranking_table_memory_does_not_grow_with_the_rows(rows):
    sink = _Sink()
    tracemalloc.start()
    try:
        output.write(_synthetic_chunks(rows), "table", sink)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sink.lines == 2 + rows + rows // 10 - 1 + 1  # header, rule, rows, a rule per row of A, the footer
    # a chunk's arrays (10,000 rows) and one group of lines; rich's Table held every row (hundreds of MB)
    assert peak < 6 * 2**20, f"{peak / 2**20:.1f} MiB"


# ---------------------------------------------------------------- what output knows


def test_output_imports_no_domain_module():
    """output/ knows results only through siamcli.results: no import of a domain module (issue 14)."""
    import ast
    import pathlib

    domain = {"io", "engine", "metrics", "kernels", "evaluation", "inspection", "losses", "plots", "distributed",
              "files", "bounded", "textcells", "cli", "reports", "backends"}
    package = pathlib.Path(output.__file__).parent
    sources = sorted(package.glob("*.py"))
    assert len(sources) >= 3
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else [f"{'.' * node.level}{node.module or ''}"]
                names += [f"{names[0]}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                parts = [p for p in name.replace("siamcli.", ".").split(".") if p]
                assert not domain & set(parts[:2]), f"{source.name} imports {name}"


def test_output_renders_a_new_result_kind_through_renderers(monkeypatch):
    """A result kind unknown to output is refused with a clear TypeError until RENDERERS has it."""

    class Tally:
        def records(self):
            yield {"n": 3}

    with pytest.raises(TypeError, match="no renderer for Tally"):
        _render(Tally(), "table")
    assert _render(Tally(), "jsonl") == '{"n": 3}\n'  # records need no entry
    monkeypatch.setitem(output.RENDERERS, Tally, output.Renderer(table=lambda parts, out, options: out.write("3 things\n")))
    assert _render(Tally(), "table") == "3 things\n"
    assert _render(Tally(), "json") == '[\n{"n": 3}\n]\n'

"""CSV, TSV and whitespace text: the C-speed path (pyarrow's CSV reader, numpy.loadtxt) against
the careful reader, float32 when exact, list cells, text columns (fields) and column options, and
short error messages.

The careful reader is the definition: the fast path must give the same array (bit for bit, same
dtype), ids, labels and fields, or decline. References are numpy/pandas writers and float().
"""

from __future__ import annotations

import gzip
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import siamcli.io as sio
from siamcli.errors import InputError, UsageError
from siamcli.io import delimited, fastcsv
from siamcli.io.bounded import DiskFile
from siamcli.io.embeddings import ReadOptions, denotes_float32, exact_float32

from test_cli import invoke, parse_jsonl, reference_matrix
from test_fuzz_loaders import SEEDS, mutated, reader_bugs_raised

try:
    import pyarrow.csv  # noqa: F401
    ENGINES = ["numpy", "arrow"]
except ImportError:  # the arrow engine is tested where pyarrow is installed
    ENGINES = ["numpy"]
DELIMITERS = {"csv": ",", "tsv": "\t", "txt": None}
SEPARATOR = {"csv": ",", "tsv": "\t", "txt": " "}


def use_engine(monkeypatch, name: str) -> str:
    """Every input, however small, parsed by one engine (the head: a few records), or carefully."""
    if name == "careful":
        monkeypatch.setattr(fastcsv, "HEAD_BYTES", 1 << 40)
        return name
    monkeypatch.setattr(fastcsv, "HEAD_BYTES", 16)
    monkeypatch.setattr(fastcsv, "ARROW_MIN_BYTES", 0)
    monkeypatch.setattr(fastcsv, "ENGINES", (name, "numpy"))  # numpy's for what pyarrow cannot split
    return name


@pytest.fixture(params=ENGINES)
def engine(request, monkeypatch):
    return use_engine(monkeypatch, request.param)


@pytest.fixture(params=["careful", *ENGINES])
def reader(request, monkeypatch):
    return use_engine(monkeypatch, request.param)


def fast(data: bytes, fmt: str, **options):
    """What the fast path makes of `data` (None: it declines), the engine fixture active."""
    return delimited.read_fast(data, "x", DELIMITERS[fmt], ReadOptions(**options))


def careful_read(data: bytes, fmt: str, **options):
    """The careful reader's Parsed, or the InputError it raises."""
    try:
        parsed = delimited.read_delimited(data.decode("utf-8-sig"), "x", DELIMITERS[fmt], options=ReadOptions(**options))
    except InputError as exc:
        return exc
    if options.get("dtype") is None:  # as loading does for text: float32 when every value is one
        parsed.array = exact_float32(parsed.array)
    return parsed


def assert_same_parsed(got, expected) -> None:
    assert not isinstance(expected, Exception), f"the fast path read what the careful reader refuses: {expected}"
    assert got.array.dtype == expected.array.dtype and got.array.shape == expected.array.shape
    np.testing.assert_array_equal(got.array, expected.array)
    np.testing.assert_array_equal(np.signbit(got.array), np.signbit(expected.array))
    assert got.ids == expected.ids and got.labels == expected.labels and got.fields == expected.fields


def table(rows, sep=",", header=None, end="\n") -> bytes:
    lines = ([sep.join(header)] if header else []) + [sep.join(map(str, row)) for row in rows]
    return (end.join(lines) + end).encode()


def float32_matrix(n=9, d=5, seed=0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((n, d)) * 0.05).astype(np.float32)


def repr_rows(array) -> list[list[str]]:
    """Cells as repr() of each value as a Python float: the decimal denotes the value exactly."""
    return [[repr(x) for x in row] for row in np.asarray(array).tolist()]


# ---------------------------------------------------------------- the fast path reads what the careful reader reads


@pytest.mark.parametrize("fmt", sorted(DELIMITERS))
@pytest.mark.parametrize("ids", [False, True])
@pytest.mark.parametrize("header", [False, True])
def test_read_fast_gives_the_careful_readers_result_on_plain_tables(engine, fmt, ids, header):
    array = float32_matrix()
    rows = [([f"r{i}"] if ids else []) + cells for i, cells in enumerate(repr_rows(array))]
    names = (["id"] if ids else []) + [f"e{j}" for j in range(array.shape[1])] if header else None
    data = table(rows, SEPARATOR[fmt], names)
    got = fast(data, fmt)
    assert got is not None, "the fast path declined a plain table"
    assert_same_parsed(got, careful_read(data, fmt))
    assert got.array.dtype == np.float32
    np.testing.assert_array_equal(got.array, array)
    assert got.ids == ([f"r{i}" for i in range(len(array))] if ids else None)


CELLS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(width=32, allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["0", "-0.0", "1e-320", "1e400", "-1e400", "nan", "inf", "1_0", " 1", "1 ", "+1", ".5", "5.",
                     "1e", "", "x", "#1", '"2"', '"3', "\u0661", "0x1F", "1d5", "nan(1)", "1.5f", "[1, 2]", "[1 2]"]),
)
GOOD = st.floats(width=32, allow_nan=False, allow_infinity=False).map(repr)
IDS = st.one_of(st.from_regex(r"[a-z][a-z0-9]{0,3}", fullmatch=True),
                st.sampled_from(["a,b", 'say "hi"', "#c", " d ", "e\nf", "12", "id", "é"]))


def quoted(cell: str, sep: str) -> str:
    needs = sep in cell or any(c in cell for c in '"\r\n') or cell != cell.strip()
    return '"' + cell.replace('"', '""') + '"' if needs and sep != " " else cell


@st.composite
def tables(draw, fmt):
    """A table that is mostly good: ids, a header, a text column, odd cells, line ends, blank
    lines, comments and a BOM, each now and then."""
    sep = SEPARATOR[fmt]
    n, d = draw(st.integers(4, 9)), draw(st.integers(1, 4))
    with_ids, header = draw(st.booleans()), draw(st.booleans())
    with_text = header and fmt != "txt" and draw(st.booleans())
    odd = draw(st.floats(0, 0.3))
    rows = []
    for i in range(n):
        cells = [draw(CELLS if draw(st.floats(0, 1)) < odd else GOOD) for _ in range(d)]
        if with_text:
            cells.insert(0, quoted(draw(st.text("ab ,\"x1", max_size=6)), sep))
        if with_ids:
            ident = draw(IDS) if draw(st.floats(0, 1)) < odd else f"r{i}"
            cells.insert(0, quoted(ident, sep) if sep != " " else ident.replace(" ", "_").replace("\n", "_") or "z")
        rows.append(sep.join(cells))
    if header:
        names = (["id"] if with_ids else []) + (["text"] if with_text else []) + [f"e{j}" for j in range(d)]
        rows.insert(0, sep.join(names))
    for _ in range(draw(st.integers(0, 2))):
        rows.insert(draw(st.integers(0, len(rows))), draw(st.sampled_from(["", "   ", "# note", "#,x", sep * d])))
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = end.join(rows) + draw(st.sampled_from([end, ""]))
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text.encode()


@pytest.mark.parametrize("fmt", sorted(DELIMITERS))
@settings(max_examples=150, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_read_fast_agrees_with_the_careful_reader_or_declines(engine, fmt, data):
    raw = data.draw(tables(fmt))
    fields = data.draw(st.sampled_from([(), ("text",)]))
    expected = careful_read(raw, fmt, fields=fields)
    if isinstance(expected, InputError) and "no column named" in str(expected):
        return  # asked for a text column the drawn table lacks
    for data_of in (bytes, bytearray):
        got = fast(data_of(raw), fmt, fields=fields)
        if got is not None:
            assert_same_parsed(got, expected)


@pytest.mark.parametrize("fmt", sorted(DELIMITERS))
@settings(max_examples=60, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_load_embeddings_fast_path_loads_or_refuses_any_mutation(engine, tmp_path_factory, fmt, data):
    """Any bytes near a good table: the same result through the fast path as through the careful reader."""
    raw = data.draw(mutated(SEEDS[fmt] * 3))
    path = tmp_path_factory.mktemp("mut") / f"m.{fmt}"
    path.write_bytes(raw)

    def outcome():
        try:
            loaded = sio.load_embeddings(path, labels="label" if b"label" in raw[:80] else None)
            return loaded.vectors.dtype, loaded.vectors.tobytes(), loaded.ids, loaded.labels
        except InputError as exc:
            return str(exc)

    with pytest.MonkeyPatch.context() as patch:
        with reader_bugs_raised():
            got = outcome()
            patch.setattr(fastcsv, "HEAD_BYTES", 1 << 40)
            assert got == outcome()


def test_read_fast_declines_a_comment_line_among_the_records(engine):
    data = b"id,x\na,1\nb,2\n# c,3\nd,4\ne,5\n"
    assert fast(data, "csv") is None
    assert careful_read(data, "csv").ids == ["a", "b", "d", "e"]


def test_read_fast_declines_a_text_column_that_turns_to_numbers(engine, monkeypatch):
    """Most of 'kind' is text in the first records but numbers over the whole file: only the
    careful reader, which counts every row, can tell (here: a column of numbers with bad cells)."""
    rows = [["a", "x", "1"], ["b", "y", "2"], ["c", "z", "3"]] + [[f"r{i}", str(i), str(i)] for i in range(40)]
    data = table(rows, ",", ["id", "kind", "e0"])
    monkeypatch.setattr(fastcsv, "HEAD_BYTES", len(table(rows[:4], ",", ["id", "kind", "e0"])))  # the head: 3 text rows
    assert delimited.plan(delimited.delimited_rows(table(rows[:3], ",", ["id", "kind", "e0"]).decode(), ",", "x"),
                          "x", ReadOptions()).text == [1]
    assert fast(data, "csv") is None
    assert "line 2, column 2: 'x' is not a number" in str(careful_read(data, "csv"))


def test_read_fast_names_a_bad_cell_far_from_the_head_through_the_careful_reader(engine, tmp_path):
    rows = repr_rows(float32_matrix(400, 3))
    rows[321][2] = "0.5x"
    path = tmp_path / "e.csv"
    path.write_bytes(table(rows))
    with pytest.raises(InputError, match=r"line 322, column 3: '0.5x' is not a number$"):
        sio.load_embeddings(path)


def test_read_fast_locates_a_value_too_large_for_float32_when_asked(engine, tmp_path):
    rows = [["r", "1", "2"], ["s", "3", "1e300"], ["t", "4", "5"], ["u", "6", "7"]]
    path = tmp_path / "e.csv"
    path.write_bytes(b"\n# note\n" + table(rows, ",", ["id", "a", "b"]))
    with pytest.raises(InputError, match=r"line 5, column 3 is too large for float32"):
        sio.load_embeddings(path, dtype="float32")


def test_read_fast_reads_gzip_and_stdin_and_keeps_the_size_ceiling(engine, tmp_path):
    array = float32_matrix(50, 4)
    data = table(repr_rows(array))
    (tmp_path / "e.csv.gz").write_bytes(gzip.compress(data))
    (tmp_path / "e.csv").write_bytes(data)
    for loaded in (sio.load_embeddings(tmp_path / "e.csv.gz"), sio.load_embeddings("-", stdin=io.BytesIO(data)),
                   sio.load_embeddings(tmp_path / "e.csv")):
        assert loaded.vectors.dtype == np.float32
        np.testing.assert_array_equal(loaded.vectors, array)
    with pytest.raises(InputError, match=r"e\.csv: holds .* of text, more than 1K \(max_input_size\)"):
        sio.load_embeddings(tmp_path / "e.csv", max_input_size=1024)


def test_read_fast_reads_a_large_file_in_blocks(engine, monkeypatch, tmp_path):
    """Records cut into blocks (a quoted id holding a line end among them) read as one table."""
    monkeypatch.setattr(fastcsv, "BLOCK_BYTES", 97)
    array = float32_matrix(60, 3)
    ids = [f"r{i}" if i != 17 else "two\nlines, quoted" for i in range(60)]
    rows = [[quoted(ident, ",")] + cells for ident, cells in zip(ids, repr_rows(array))]
    data = table(rows, ",", ["id", "a", "b", "c"])
    got = fast(data, "csv")
    expected = careful_read(data, "csv")
    assert expected.ids == ids
    if got is not None:  # the numpy engine may decline a quote it cannot place
        assert_same_parsed(got, expected)
    assert engine == "numpy" or got is not None


# ---------------------------------------------------------------- float32 when every value is exactly a float32


@pytest.mark.parametrize("fmt", sorted(DELIMITERS))
def test_load_embeddings_text_written_from_float32_with_repr_is_float32_bit_for_bit(engine, tmp_path, fmt):
    array = float32_matrix(30, 6)
    array[0, 0], array[1, 1], array[2, 2] = np.float32(1e-45), np.float32(3.4028235e38), np.float32(-0.0)
    path = tmp_path / f"e.{fmt}"
    path.write_bytes(table(repr_rows(array), SEPARATOR[fmt]))
    loaded = sio.load_embeddings(path)
    assert loaded.vectors.dtype == np.float32
    assert loaded.vectors.tobytes() == array.tobytes()


FLOAT64_DIGITS = "0.12345678901234566"  # float64 data's repr: more digits than a float32 carries


def test_load_embeddings_text_with_float64_digits_stays_float64(tmp_path, reader):
    """One value with float64's digits: computing in float32 would lose them, so the file keeps float64."""
    array = float32_matrix(30, 4)
    rows = repr_rows(array)
    rows[20][3] = FLOAT64_DIGITS
    path = tmp_path / "e.csv"
    path.write_bytes(table(rows))
    expected = array.astype(np.float64)
    expected[20, 3] = float(FLOAT64_DIGITS)
    loaded = sio.load_embeddings(path)
    assert loaded.vectors.dtype == np.float64
    np.testing.assert_array_equal(loaded.vectors, expected)


def test_load_embeddings_float64_digits_after_many_shortest_decimals_reads_every_value_in_float64(tmp_path, engine):
    """Blocks of float32 shortest decimals kept as float32, then a block with float64 digits: the
    whole file is the float64 parse of its text, as numpy.loadtxt gives it."""
    array = float32_matrix(3000, 8)
    rows = [[str(v) for v in row] for row in array]  # numpy's shortest float32 decimals
    rows[-1][0] = FLOAT64_DIGITS
    path = tmp_path / "e.csv"
    path.write_bytes(table(rows))
    loaded = sio.load_embeddings(path)
    assert loaded.vectors.dtype == np.float64
    np.testing.assert_array_equal(loaded.vectors, np.loadtxt(path, delimiter=",", dtype=np.float64))


def test_load_embeddings_dtype_overrides_the_choice(tmp_path, reader):
    array = float32_matrix(30, 4)
    rows = repr_rows(array)
    rows[3][1] = FLOAT64_DIGITS
    (tmp_path / "exact.csv").write_bytes(table(repr_rows(array)))
    (tmp_path / "not.csv").write_bytes(table(rows))
    wide = sio.load_embeddings(tmp_path / "exact.csv", dtype="float64")
    assert wide.vectors.dtype == np.float64 and np.array_equal(wide.vectors, array.astype(np.float64))
    narrow = sio.load_embeddings(tmp_path / "not.csv", dtype="float32")
    assert narrow.vectors.dtype == np.float32 and narrow.vectors[3, 1] == np.float32(float(FLOAT64_DIGITS))


@pytest.mark.parametrize("writer", ["pandas", "polars", "savetxt %.9g", "savetxt default", "numpy str"])
def test_load_embeddings_text_as_libraries_write_float32_is_float32_bit_for_bit(tmp_path, writer):
    """pandas and polars write a float32 frame as shortest decimals ('0.1'), C's %.9g as 9 digits,
    savetxt's default %.18e exactly: each denotes the float32 array, which is what is computed."""
    array = float32_matrix(200, 16)
    array[0, :4] = [0.1, 1e-40, 3.4028235e38, -1.5e-20]
    path = tmp_path / "e.csv"
    if writer in ("pandas", "polars"):
        frame = pytest.importorskip(writer).DataFrame(array)
        frame.to_csv(path, index=False) if writer == "pandas" else frame.write_csv(path)
    elif writer == "numpy str":
        path.write_bytes(table([[str(v) for v in row] for row in array]))
    else:
        np.savetxt(path, array, delimiter=",", **({"fmt": "%.9g"} if writer.endswith("9g") else {}))
    loaded = sio.load_embeddings(path)
    assert loaded.vectors.dtype == np.float32
    assert loaded.vectors.tobytes() == array.tobytes()


@given(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=1, max_size=40),
       st.sampled_from(["shortest", "9 digits", "exact"]))
def test_denotes_float32_is_true_for_text_written_from_float32(values, style):
    single = np.array(values, dtype=np.float32)
    text = {"shortest": lambda v: str(v), "9 digits": lambda v: f"{v:.9g}", "exact": lambda v: repr(float(v))}[style]
    wide = np.array([float(text(v)) for v in single])
    assert denotes_float32(wide, wide.astype(np.float32))


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e30, max_value=1e30))
def test_denotes_float32_is_false_for_float64_digits_beyond_nine(value):
    """A float64 that is no float32 and whose repr needs more than 9 significant digits."""
    digits = len(repr(abs(value)).split("e")[0].replace(".", "").strip("0"))
    assume(digits > 9 and np.float64(np.float32(value)) != value)
    wide = np.array([value, 0.5])
    assert not denotes_float32(wide, wide.astype(np.float32))


# ---------------------------------------------------------------- list cells


def list_frame_csv(path: Path, array, style: str) -> Path:
    """An id, a text and a list column written by pandas' to_csv, as people save a DataFrame."""
    pd = pytest.importorskip("pandas")
    cells = [row.tolist() for row in array] if style == "list" else list(array)  # numpy arrays print as [a b c]
    frame = pd.DataFrame({"id": [f"doc{i}" for i in range(len(array))],
                          "text": [f"sentence {i}, with a comma" for i in range(len(array))], "embedding": cells})
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("style", ["list", "numpy"])
def test_load_embeddings_reads_a_list_column_as_pandas_writes_it(tmp_path, reader, style):
    array = float32_matrix(12, 40).astype(np.float64)
    path = list_frame_csv(tmp_path / "frame.csv", array, style)
    loaded = sio.load_embeddings(path, fields=["text"])
    if style == "list":
        np.testing.assert_array_equal(loaded.vectors, array)
    else:  # numpy prints 8 significant digits: as numpy reads that text back (in float32 when it denotes one)
        parsed = np.array([np.array(c[1:-1].split(), dtype=float) for c in
                           [np.array2string(r, max_line_width=10**6) for r in array]])
        np.testing.assert_array_equal(loaded.vectors, parsed.astype(loaded.vectors.dtype))
    assert loaded.ids == [f"doc{i}" for i in range(12)]
    assert loaded.fields == {"text": [f"sentence {i}, with a comma" for i in range(12)]}


def test_load_embeddings_list_column_chosen_by_name_among_several(tmp_path):
    text = 'id,a,b\nx,"[1, 2]","[3, 4, 5]"\ny,"[6, 7]","[8, 9, 10]"\n'
    (tmp_path / "two.csv").write_text(text)
    with pytest.raises(InputError, match=r"columns a, b all hold lists; say which holds the vectors \(column NAME\)"):
        sio.load_embeddings(tmp_path / "two.csv")
    np.testing.assert_array_equal(sio.load_embeddings(tmp_path / "two.csv", column="b").vectors, [[3, 4, 5], [8, 9, 10]])
    with pytest.raises(InputError, match=r"no column named 'c' in its header line \(columns: id, a, b\)"):
        sio.load_embeddings(tmp_path / "two.csv", column="c")
    with pytest.raises(UsageError, match="cannot both be given"):
        sio.load_embeddings(tmp_path / "two.csv", column="a", columns="b")


@pytest.mark.parametrize("cell, message", [
    ('"[1, 2]"', r"line 3, column 2: the list has 2 values, expected 3 \(as on line 2\)"),
    ('"[1, x, 3]"', r"line 3, column 2, element 2: 'x' is not a number"),
    ('"[1, 2, nan]"', r"line 3, column 2, element 3 is NaN"),
    ('"[1, 2, 1e999]"', r"line 3, column 2, element 3: '1e999' is too large for float64"),
    ("[]", r"line 3, column 2: '\[\]' is not a list|line 3, column 2: the list has 0 values"),
    ("seven", r"line 3, column 2: 'seven' is not a list of numbers such as \[0.1, 0.2\]"),
])
def test_load_embeddings_bad_list_cells_name_line_column_and_element(tmp_path, reader, cell, message):
    good = [f'r{i},"[{i}, 1, 2]"' for i in range(5)]
    path = tmp_path / "e.csv"
    path.write_text("id,emb\n" + good[0] + "\n" + f"b,{cell}\n" + "\n".join(good[1:]) + "\n")
    with pytest.raises(InputError, match=message):
        sio.load_embeddings(path)


# ---------------------------------------------------------------- text columns (fields) and column options


@pytest.fixture
def mixed(tmp_path):
    """id, a text column, a source column and four numeric columns (written by pandas)."""
    pd = pytest.importorskip("pandas")
    array = float32_matrix(10, 4).astype(np.float64)
    frame = pd.DataFrame(array, columns=[f"e{j}" for j in range(4)])
    frame.insert(0, "source", ["web" if i % 2 else "book" for i in range(10)])
    frame.insert(0, "text", [f"text {i}, \"quoted\"" for i in range(10)])
    frame.insert(0, "id", [f"doc{i}" for i in range(10)])
    frame.to_csv(tmp_path / "m.csv", index=False)
    return tmp_path / "m.csv", array, frame


def test_load_embeddings_keeps_text_columns_and_returns_the_fields_asked_for(mixed, reader):
    path, array, frame = mixed
    loaded = sio.load_embeddings(path)
    np.testing.assert_array_equal(loaded.vectors, array)
    assert loaded.ids == list(frame["id"]) and loaded.fields is None
    shown = sio.load_embeddings(path, fields=["text", "source"])
    assert shown.fields == {"text": list(frame["text"]), "source": list(frame["source"])}
    with pytest.raises(InputError, match=r"no column named 'title' in its header line \(columns: id, text, source, e0"):
        sio.load_embeddings(path, fields=["title"])


def test_load_embeddings_columns_and_id_column_choose_what_is_read(mixed, reader):
    path, array, frame = mixed
    np.testing.assert_array_equal(sio.load_embeddings(path, columns="e*").vectors, array)
    np.testing.assert_array_equal(sio.load_embeddings(path, columns="e3, e1").vectors, array[:, [3, 1]])
    by_source = sio.load_embeddings(path, id_column="source", columns="e0,e1")
    assert by_source.ids == list(frame["source"])
    with pytest.raises(InputError, match=r"no column matches 'x\*'"):
        sio.load_embeddings(path, columns="x*")
    with pytest.raises(InputError, match=r"line 2, column 2: 'text 0, \"quoted\"' is not a number"):
        sio.load_embeddings(path, columns="text,e0")


def test_load_embeddings_numeric_column_with_a_few_bad_cells_is_an_error_not_a_field(tmp_path, reader):
    rows = [[f"r{i}", repr(0.5 * i), repr(1.5 * i)] for i in range(8)]
    rows[5][2] = "n/a"
    path = tmp_path / "e.csv"
    path.write_bytes(table(rows, ",", ["id", "a", "b"]))
    with pytest.raises(InputError, match=r"line 7, column 3: 'n/a' is not a number"):
        sio.load_embeddings(path)


def test_load_embeddings_field_may_name_a_column_of_numbers(reader, tmp_path):
    rows = [[f"r{i}", repr(0.5 * i), repr(1.5 * i)] for i in range(8)]
    path = tmp_path / "e.csv"
    path.write_bytes(table(rows, ",", ["id", "a", "b"]))
    loaded = sio.load_embeddings(path, fields=["b"])
    assert loaded.fields == {"b": [row[2] for row in rows]}
    np.testing.assert_array_equal(loaded.vectors, [[0.5 * i, 1.5 * i] for i in range(8)])


def test_load_embeddings_fields_need_a_header(tmp_path):
    (tmp_path / "e.csv").write_text("a,1,2\nb,3,4\n")
    with pytest.raises(InputError, match="no column named 'text' in its header line"):
        sio.load_embeddings(tmp_path / "e.csv", fields=["text"])


def test_formats_csv_tsv_txt_take_the_table_options():
    for name in DELIMITERS:
        assert sio.FORMATS[name].options == ("column", "columns", "id_column", "fields")


# ---------------------------------------------------------------- messages quote at most ~80 characters


LONG = "w" * 10_000


def long_inputs(tmp: Path) -> dict[str, tuple[Path, dict]]:
    lines = {
        "number cell": ("e.csv", f"1,2\n3,{LONG}\n", {}),
        "guessed id": ("e.csv", f"{LONG},2\n1,2\n3,4\n", {}),
        "list cell": ("e.csv", f'id,emb\na,"[1, 2]"\nb,"[{LONG}, 2]"\n', {}),
        "not a list": ("e.csv", f'id,emb\na,"[1, 2]"\nb,"{LONG}"\n', {}),
        "ragged list": ("e.csv", 'id,emb\na,"[1, 2]"\nb,"[' + ", ".join(["1"] * 3000) + ']"\n', {}),
        "missing column": ("e.csv", "x,y\n1,2\n", {"column": LONG}),
        "missing field": ("e.csv", "x,y\n1,2\n", {"fields": [LONG]}),
        "missing labels": ("e.csv", "x,y\n1,2\n", {"labels": LONG}),
        "long header": ("e.csv", f"{LONG},y\n1,2\n", {"fields": ["z"]}),
        "short row with labels": ("e.csv", f"x,{LONG}\n1\n", {"labels": LONG}),
        "txt cell": ("e.txt", f"{LONG} 1 2\n{LONG}x 3 y{LONG}\n", {}),
        "jsonl element": ("e.jsonl", json.dumps({"id": LONG, "embedding": [1, LONG]}) + "\n", {}),
        "jsonl id": ("e.jsonl", json.dumps({"id": [LONG], "embedding": [1]}) + "\n", {}),
        "jsonl label": ("e.jsonl", json.dumps({"id": "a", "embedding": [1], "label": [LONG]}) + "\n", {"labels": "label"}),
        "json invalid": ("e.json", f'[["{LONG}" 1]]', {}),
        "tsv width": ("e.tsv", f"id\ta\n{LONG}\t1\t2\n", {}),
    }
    out = {}
    for name, (file, text, options) in lines.items():
        path = tmp / name.replace(" ", "-") / file
        path.parent.mkdir()
        path.write_text(text)
        out[name] = path, options
    return out


def test_error_messages_never_echo_more_than_80_characters_of_a_cell_line_or_id(tmp_path, reader):
    for name, (path, options) in long_inputs(tmp_path).items():
        with pytest.raises(InputError) as info:
            sio.load_embeddings(path, **options)
        message = str(info.value).replace(str(path), "FILE")
        runs = [len(run) for run in re.findall(r"w+", message)]
        assert max(runs, default=0) <= 80 and len(message) < 600, f"{name}: {message[:300]}"


# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_cli_compare_a_list_column_csv_scores_as_its_npy(tmp_path, entry):
    array = float32_matrix(8, 16).astype(np.float64)
    path = list_frame_csv(tmp_path / "frame.csv", array, "list")
    code, out, err = invoke(entry, "compare", path, path, "-k", "2", "-f", "jsonl")
    assert code == 0, err
    records = parse_jsonl(out)
    expected = reference_matrix(array, array, "cosine")
    for record in records:
        assert record["a_id"] == f"doc{record['a_index']}" and record["b_id"] == f"doc{record['b_index']}"
        # the text denotes float32 values exactly, so it is computed in float32, as the .npy would be
        assert record["score"] == pytest.approx(expected[record["a_index"], record["b_index"]], abs=1e-6)
    assert len(records) == 16


@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_cli_bad_list_cell_is_one_short_error_line(tmp_path, entry):
    path = tmp_path / "e.csv"
    path.write_text(f'id,emb\na,"[1]"\nb,"[{LONG}]"\n')
    code, out, err = invoke(entry, "compare", path, path)
    assert code == 2 and out == ""
    assert err.startswith(f"Error: {path}: line 3, column 2, element 1: 'www") and err.count("\n") == 1
    assert len(err) - len(str(path)) < 150

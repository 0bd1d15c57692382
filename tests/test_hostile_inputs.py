"""The hostile inputs of issue 13 as a corpus: each is refused by the library with an InputError
naming the file (and line/column where one applies), and by the CLI with exit 2, one `Error:`
line, empty stdout and no traceback; in bounded time and memory. A few run through the installed
executable too (slow: they spawn processes).

Expected positions and sizes are computed here from how each input was built.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import siamcli.io as sio
from siamcli.cli import cli, flag_name
from siamcli.errors import InputError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hostile  # noqa: E402  (next to this file)

MiB = 2**20


@dataclass
class Case:
    """A hostile input: its path, load_embeddings keywords (and the same as CLI flags), and the
    fragments the error must hold besides the file name."""

    path: Path
    fragments: tuple[str, ...]
    kwargs: dict = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    seconds: float = 2.0  # generous on a loaded 2-core machine; the bombs took 10 s to minutes before
    peak_mib: float = 64.0  # Python-traced peak (tracemalloc: numpy's buffers included)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def lines(path: Path, rows: list[str], end: str = "\n") -> Path:
    return write(path, (end.join(rows) + end).encode())


# ---------------------------------------------------------------- the corpus


def header_lies(tmp: Path) -> Case:
    held = 12_345
    path = write(tmp / "liar.npy", hostile.npy_header((1_000_000, 384)) + bytes(held))
    return Case(path, ("the header declares 1000000 x 384 float32 (1.4 GiB)", f"holds {held:,} bytes"))


def header_lies_past_memory(tmp: Path) -> Case:
    path = write(tmp / "liar-tib.npy", hostile.npy_header((10**9, 384)) + bytes(100))
    return Case(path, ("the header declares 1000000000 x 384 float32 (1.4 TiB)", "holds 100 bytes"))


def header_lies_memory_mapped(tmp: Path, monkeypatch) -> Case:
    monkeypatch.setattr(sio.arrays, "MMAP_THRESHOLD_BYTES", 1024)  # this 4 KiB file takes the memory-mapped path
    path = write(tmp / "liar-mmap.npy", hostile.npy_header((10_000, 384), "<f8") + bytes(4096))
    return Case(path, ("declares 10000 x 384 float64 (29.3 MiB)", "holds 4,096 bytes"))


def object_header(tmp: Path) -> Case:
    path = write(tmp / "objects.npy", hostile.npy_header((10**9,), "|O") + b"\x80\x04")
    return Case(path, ("pickle",))


def structured_header(tmp: Path) -> Case:
    header = hostile.npy_header((10**9,), [("a", "<f4"), ("b", "<i4")])
    return Case(write(tmp / "records.npy", header + bytes(8)), ("records",))


def negative_shape(tmp: Path) -> Case:
    header = hostile.npy_header((3, 4)).replace(b"(3, 4)", b"(-3, 4)")
    return Case(write(tmp / "negative.npy", header + bytes(48)), ("negative",))


def npz_bomb(tmp: Path) -> Case:
    path = write(tmp / "bomb.npz", hostile.npz_bomb(1_500_000, exact_crc=False))  # 2.3 GB of zeros
    return Case(path, ("decompresses to 2.1 GiB", "more than 2G (--max-input-size)"), seconds=1.0)


def npz_bomb_under_a_lower_ceiling(tmp: Path) -> Case:
    path = write(tmp / "small-bomb.npz", hostile.npz_bomb(10_000, exact_crc=False))  # 15 MB of zeros
    return Case(path, ("more than 1M (--max-input-size)",), {"max_input_size": MiB}, ("--max-input-size", "1M"))


def npz_lying_about_its_size(tmp: Path) -> Case:
    """The directory says 1 KiB; the stream holds 15 MB: decompression stops at what was declared."""
    path = write(tmp / "liar.npz", hostile.npz_bomb(10_000, declared=1024, exact_crc=False))
    return Case(path, ("damaged",))


def npz_member_not_an_array(tmp: Path) -> Case:
    path = write(tmp / "text-member.npz", hostile.npz_with_member("embeddings.npy", b"just some text"))
    return Case(path, ("member 'embeddings' is not a .npy array",))


def npz_only_member_is_text(tmp: Path) -> Case:
    path = write(tmp / "readme.npz", hostile.npz_with_member("readme.txt", b"hello"))
    return Case(path, ("member 'readme.txt' is not a .npy array",))


def gzip_bomb(tmp: Path) -> Case:
    path = write(tmp / "bomb.csv.gz", hostile.gzip_bomb(64 * MiB, exact_crc=False))
    return Case(path, ("decompresses to more than 1M (--max-input-size)",), {"max_input_size": MiB},
                ("--max-input-size", "1M"))


def gzip_truncated(tmp: Path) -> Case:
    data = gzip.compress(b"1,2,3\n" * 10_000)
    return Case(write(tmp / "cut.csv.gz", data[: len(data) // 2]), ("gzip", "truncated"))


def gzip_trailing_garbage(tmp: Path) -> Case:
    return Case(write(tmp / "tail.csv.gz", gzip.compress(b"1,2\n") + b"garbage"), ("gzip", "after the end"))


def text_over_the_ceiling(tmp: Path) -> Case:
    path = lines(tmp / "large.csv", ["1.0,2.0,3.0,4.0"] * 80_000)  # 1.2 MiB
    return Case(path, ("holds 1.2 MiB of text, more than 1M (--max-input-size)",), {"max_input_size": MiB},
                ("--max-input-size", "1M"))


def dev_zero_without_a_suffix(tmp: Path) -> Case:
    return Case(Path("/dev/zero"), ("unknown file type (no suffix)",), seconds=1.0)


def dev_zero_as_npy(tmp: Path) -> Case:
    return Case(Path("/dev/zero"), ("not a .npy file",), {"input_format": "npy"}, ("--input-format", "npy"))


def dev_zero_as_csv(tmp: Path) -> Case:
    # refused on its first bytes, under the default ceiling (it read 2 GiB of zeros up to the ceiling before)
    return Case(Path("/dev/zero"), ("byte 0 is a NUL byte, which csv text never holds",),
                {"input_format": "csv"}, ("--input-format", "csv"), seconds=1.0)


def endless_fifo(tmp: Path) -> Case:
    """A named pipe whose writer never stops: read up to the ceiling, then refused."""
    pipe = tmp / "endless.csv"
    os.mkfifo(pipe)

    def writer():
        try:
            with open(pipe, "wb") as out:
                while True:
                    out.write(b"1.0,2.0,3.0\n" * 4096)
        except (BrokenPipeError, OSError):
            pass  # the reader went away: done

    threading.Thread(target=writer, daemon=True).start()
    return Case(pipe, ("holds more than 1M (--max-input-size)",), {"max_input_size": MiB}, ("--max-input-size", "1M"))


def a_socket(tmp: Path) -> Case:
    path = tmp / "sock.csv"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()
    return Case(path, ("is a socket, not a file",))


def first_row_with_text(tmp: Path) -> Case:
    return Case(lines(tmp / "x.csv", ["1,2,x", "3,4,5", "6,7,8"]), ("line 1, column 3: 'x' is not a number",))


#: Cells Python's float() (or a glance) might take for numbers, which the loaders refuse by name.
ODD_CELLS = {"underscore": "1_000", "arabic-indic": "\u0661\u0662", "full-width": "\uff11\uff12", "hex": "0x1F",
             "nul": "\x00", "space": "1 2", "empty": "", "two-exponents": "1e5e5", "two-signs": "--1"}
#: Of those, the ones that in a first column read as an id (text), not as a number written oddly.
ID_LIKE = {"hex", "space", "two-exponents", "two-signs"}


def odd_cell_in_first_row(tmp: Path, cell: str) -> Case:
    shown = "an empty cell" if cell == "" else repr(cell)
    return Case(lines(tmp / "odd.csv", [f"1,{cell},3", "4,5,6"]), (f"line 1, column 2: {shown} is not a number",))


def odd_cell_later(tmp: Path, cell: str) -> Case:
    shown = "an empty cell" if cell == "" else repr(cell)
    path = lines(tmp / "odd-later.csv", ["# comment", "id,a,b", "r1,1,2", "r2,3," + cell])
    return Case(path, (f"line 4, column 3: {shown} is not a number",))


def odd_cell_first_column(tmp: Path, cell: str) -> Case:
    """A number written oddly in the first column is not taken for an id: it is refused."""
    shown = "an empty cell" if cell == "" else repr(cell)
    return Case(lines(tmp / "odd-first.csv", [f"{cell},2,3", "4,5,6"]), (f"line 1, column 1: {shown} is not a number",))


def number_past_float64(tmp: Path) -> Case:
    return Case(lines(tmp / "huge.tsv", ["1\t2", "3\t1e400"]), ("line 2, column 2: '1e400' is too large for float64",))


def five_thousand_digits_csv(tmp: Path) -> Case:
    path = lines(tmp / "digits.csv", ["1,2", "3," + "9" * 5000])
    return Case(path, ("line 2, column 2:", "...' is too large for float64"))


def five_thousand_digits_json(tmp: Path) -> Case:
    path = write(tmp / "digits.json", ("[[1, 2], [3, " + "9" * 5000 + "]]").encode())
    return Case(path, ("item 2, element 2: an integer of 5000 digits is too large for float64",))


def five_thousand_digits_jsonl(tmp: Path) -> Case:
    path = lines(tmp / "digits.jsonl", ["[1, 2]", '{"id": "b", "embedding": [3, -' + "9" * 5000 + "]}"])
    return Case(path, ("line 2, element 2: an integer of 5000 digits is too large for float64",))


def float_past_float64_json(tmp: Path) -> Case:
    path = lines(tmp / "huge.jsonl", ["[1, 2]", "[3, 4]", "[Infinity, 1]", "[5, 1e400]"])
    return Case(path, ("line 3, element 1 is infinite",))  # the literal first: it is what the file says


def float_past_float64_json_alone(tmp: Path) -> Case:
    path = lines(tmp / "huge2.jsonl", ["[1, 2]", "[5, 1e400]"])
    return Case(path, ("line 2, element 2: a number too large for float64",))


def deeply_nested_json(tmp: Path) -> Case:
    depth = 100_000
    path = write(tmp / "deep.json", ("[\n[1, 2],\n" + "[" * depth + "]" * depth + "\n]").encode())
    return Case(path, ("line 3: nested too deeply",))


def deeply_nested_jsonl(tmp: Path) -> Case:
    path = lines(tmp / "deep.jsonl", ["[1, 2]", '{"embedding": ' + "[" * 50_000 + "]" * 50_000 + "}"])
    return Case(path, ("line 2: nested too deeply",))


def long_escape_cell(tmp: Path) -> Case:
    """A cell of 10,000 characters with terminal escapes: shown short, its escapes escaped."""
    cell = "\x1b]0;pwned\x07\x1b[2J" + "x" * 10_000
    return Case(lines(tmp / "escape.csv", ["1,2", f"3,{cell}"]), ("line 2, column 2: '\\x1b]0;pwned\\x07\\x1b[2J", "...'"))


def stray_cr(tmp: Path) -> Case:
    """A CR ends a line (as csv reads with newline=''): a stray one splits its row."""
    path = write(tmp / "cr.csv", b"1,2,3\n4,5\r,6\n7,8,9\n")
    return Case(path, ("line 2 has 2 columns, expected 3",))


ALL = [header_lies, header_lies_past_memory, object_header, structured_header, negative_shape, npz_bomb,
       npz_bomb_under_a_lower_ceiling, npz_lying_about_its_size, npz_member_not_an_array, npz_only_member_is_text,
       gzip_bomb, gzip_truncated, gzip_trailing_garbage, text_over_the_ceiling, dev_zero_without_a_suffix,
       dev_zero_as_npy, dev_zero_as_csv, endless_fifo, a_socket, first_row_with_text, number_past_float64,
       five_thousand_digits_csv, five_thousand_digits_json, five_thousand_digits_jsonl, float_past_float64_json,
       float_past_float64_json_alone, deeply_nested_json, deeply_nested_jsonl, long_escape_cell, stray_cr]
WITH_CELL = [pytest.param(builder, cell, id=f"{builder.__name__}-{name}")
             for builder in (odd_cell_in_first_row, odd_cell_later, odd_cell_first_column)
             for name, cell in ODD_CELLS.items() if not (builder is odd_cell_first_column and name in ID_LIKE)]


def _build(builder, tmp_path, monkeypatch, cell=None) -> Case:
    if builder in (endless_fifo, a_socket) and not hasattr(os, "mkfifo"):
        pytest.skip("POSIX only")
    if builder is header_lies_memory_mapped:
        return builder(tmp_path, monkeypatch)
    return builder(tmp_path, cell) if cell is not None else builder(tmp_path)


def _check_message(message: str, case: Case) -> None:
    assert str(case.path) in message
    for fragment in case.fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "\x1b" not in message and "\x00" not in message and "\x07" not in message
    assert len(message) < len(str(case.path)) * 2 + 300, message  # excerpts, never whole cells or lines


def assert_refused(case: Case) -> str:
    """Load the case in the library: an InputError in bounded time and traced memory."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(InputError) as info:
            sio.load_embeddings(case.path, **case.kwargs)
    finally:
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < case.seconds, f"took {elapsed:.2f} s"
    assert peak < case.peak_mib * MiB, f"peak {peak / MiB:.1f} MiB"
    message = info.value.render(flag_name)  # as the CLI shows it: the library names the parameter
    if any("(--max-input-size)" in fragment for fragment in case.fragments):
        assert "(max_input_size)" in str(info.value) and info.value.param == "max_input_size"
    _check_message(message, case)
    return message


def assert_cli_refused(case: Case) -> None:
    result = CliRunner().invoke(cli, ["inspect", str(case.path), *case.flags])
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    error_lines = result.stderr.splitlines()
    assert len(error_lines) == 1 and error_lines[0].startswith("Error: "), result.stderr
    _check_message(error_lines[0], case)


@pytest.mark.parametrize("builder", ALL, ids=lambda b: b.__name__)
def test_load_embeddings_refuses_hostile_input(tmp_path, monkeypatch, builder):
    assert_refused(_build(builder, tmp_path, monkeypatch))


def test_load_embeddings_refuses_a_lying_header_on_the_memory_mapped_path(tmp_path, monkeypatch):
    assert_refused(header_lies_memory_mapped(tmp_path, monkeypatch))


@pytest.mark.parametrize("builder, odd_cell", WITH_CELL)
def test_load_embeddings_refuses_numbers_python_would_accept(tmp_path, monkeypatch, builder, odd_cell):
    assert_refused(_build(builder, tmp_path, monkeypatch, odd_cell))


@pytest.mark.parametrize("builder", ALL, ids=lambda b: b.__name__)
def test_cli_inspect_refuses_hostile_input_with_exit_2(tmp_path, monkeypatch, builder):
    assert_cli_refused(_build(builder, tmp_path, monkeypatch))


@pytest.mark.parametrize("builder, odd_cell", WITH_CELL)
def test_cli_inspect_refuses_odd_numbers_with_exit_2(tmp_path, monkeypatch, builder, odd_cell):
    assert_cli_refused(_build(builder, tmp_path, monkeypatch, odd_cell))


# ---------------------------------------------------------------- the same through the installed executable


def siamcli_executable() -> str:
    import shutil

    found = shutil.which("siamcli", path=os.path.dirname(sys.executable)) or shutil.which("siamcli")
    assert found, "the siamcli console script is not installed next to this Python"
    return found


@pytest.mark.slow
@pytest.mark.parametrize("builder", [npz_bomb, gzip_bomb, dev_zero_without_a_suffix, dev_zero_as_npy,
                                     dev_zero_as_csv, endless_fifo, deeply_nested_json, first_row_with_text,
                                     five_thousand_digits_json, header_lies_past_memory],
                         ids=lambda b: b.__name__)
@pytest.mark.parametrize("command", ["inspect", "compare"])
def test_siamcli_executable_refuses_hostile_input_with_exit_2(tmp_path, monkeypatch, builder, command):
    case = _build(builder, tmp_path, monkeypatch)
    started = time.perf_counter()
    done = subprocess.run([siamcli_executable(), command, str(case.path), *case.flags], capture_output=True,
                          text=True, timeout=60)
    assert time.perf_counter() - started < 10 + case.seconds  # start-up included
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("Error: "), done.stderr
    _check_message(done.stderr.strip(), case)


@pytest.mark.slow
def test_load_embeddings_gzip_bomb_stops_at_the_default_ceiling(tmp_path):
    """2.3 GB of CSV in 2 MB of gzip: decompression stops at 2G, having held about that much."""
    path = write(tmp_path / "big-bomb.csv.gz", hostile.gzip_bomb(2_300_000_000, exact_crc=False))
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=r"decompresses to more than 2G \(max_input_size\)") as info:
            sio.load_embeddings(path)
        assert info.value.param == "max_input_size"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 2**30 * 1.13 + 16 * MiB  # the ceiling, and a bytearray's growth slack (1/8)


# ---------------------------------------------------------------- hostile but valid: read right


def test_load_embeddings_reads_csv_fields_longer_than_csvs_limit(tmp_path):
    ident = "a" * 200_000  # csv refuses fields over 131,072 characters by default
    path = lines(tmp_path / "long.csv", [f"{ident},1,2", "b,3,4"])
    loaded = sio.load_embeddings(path)
    assert loaded.ids == [ident, "b"]
    np.testing.assert_array_equal(loaded.vectors, [[1, 2], [3, 4]])
    import csv

    assert csv.field_size_limit() == 131_072  # the limit is lifted only while parsing


@pytest.mark.parametrize("end", ["\r", "\r\n", "\n"], ids=["cr", "crlf", "lf"])
@pytest.mark.parametrize("fmt, sep", [("csv", ","), ("tsv", "\t"), ("txt", " ")])
def test_load_embeddings_reads_every_line_end(tmp_path, fmt, sep, end):
    rows = [["a", "1.5", "2"], ["b", "3", "-4e-3"]]
    path = write(tmp_path / f"ends.{fmt}", end.join(sep.join(r) for r in rows).encode() + end.encode())
    loaded = sio.load_embeddings(path)
    assert loaded.ids == ["a", "b"]
    # '-4e-3' is what a float32 prints: the text is computed in float32 (as it was written, most likely)
    assert loaded.vectors.dtype == np.float32
    np.testing.assert_array_equal(loaded.vectors, np.array([[1.5, 2.0], [3.0, -4e-3]], dtype=np.float32))


def test_load_embeddings_reads_quoted_ids_spanning_lines(tmp_path):
    """siamcli's own CSV output quotes an id holding a line end; it reads back whole."""
    import csv

    ids = ["two\nlines", "cr\rinside", 'quote " and, comma', "id\n# a line of the id, not a comment"]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    for i, ident in enumerate(ids):
        writer.writerow([ident, i, -i])
    path = write(tmp_path / "quoted.csv", ("# a comment first\n" + buffer.getvalue()).encode())
    loaded = sio.load_embeddings(path)
    assert loaded.ids == ids
    np.testing.assert_array_equal(loaded.vectors, [[i, -i] for i in range(len(ids))])


def test_load_embeddings_quoted_hash_starts_data_and_a_bare_one_a_comment(tmp_path):
    path = write(tmp_path / "hash.csv", b'"#1",1,2\n#2,3,4\n"#3",5,6\n')
    loaded = sio.load_embeddings(path)
    assert loaded.ids == ["#1", "#3"]
    np.testing.assert_array_equal(loaded.vectors, [[1, 2], [5, 6]])


def test_load_embeddings_names_the_line_where_a_spanning_record_starts(tmp_path):
    path = write(tmp_path / "span.csv", b'a,1,2\n"b\nc",3,oops\nd,5,6\n')
    with pytest.raises(InputError, match=r"line 2, column 3: 'oops' is not a number"):
        sio.load_embeddings(path)


@pytest.mark.parametrize("mmap", [False, True], ids=["read", "mmap"])
def test_load_embeddings_reads_fortran_order_npy(tmp_path, monkeypatch, mmap):
    array = np.asfortranarray(np.arange(24.0).reshape(4, 6) ** 1.5)
    path = tmp_path / "fortran.npy"
    np.save(path, array)
    assert b"'fortran_order': True" in path.read_bytes()[:128]
    if mmap:
        monkeypatch.setattr(sio.arrays, "MMAP_THRESHOLD_BYTES", 64)
    loaded = sio.load_embeddings(path)
    assert isinstance(loaded.vectors, np.memmap) is mmap
    np.testing.assert_array_equal(loaded.vectors, array)


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_load_embeddings_reads_every_npy_header_version(tmp_path, version):
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=version)
    assert buffer.getvalue()[6:8] == bytes(version)
    np.testing.assert_array_equal(sio.load_embeddings(write(tmp_path / "v.npy", buffer.getvalue())).vectors, array)


def test_load_embeddings_header_first_row_of_pandas_is_a_header(tmp_path):
    """pandas writes `,0,1,2` (index, then positional names): a header although the names are numbers."""
    path = lines(tmp_path / "pandas.csv", [",0,1,2", "r0,1.5,2,3", "r1,4,5,6"])
    loaded = sio.load_embeddings(path)
    assert loaded.ids == ["r0", "r1"] and loaded.vectors.shape == (2, 3)


@pytest.mark.parametrize("name", sorted(ID_LIKE))
def test_load_embeddings_text_in_the_first_column_is_an_id(tmp_path, name):
    loaded = sio.load_embeddings(lines(tmp_path / "ids.csv", [f"{ODD_CELLS[name]},2,3", "b,5,6"]))
    assert loaded.ids == [ODD_CELLS[name], "b"]
    np.testing.assert_array_equal(loaded.vectors, [[2, 3], [5, 6]])


def test_load_embeddings_first_row_of_numbers_with_an_id_is_data(tmp_path):
    loaded = sio.load_embeddings(lines(tmp_path / "ids.csv", ["img1.jpg,0.1,0.2", "img2.jpg,0.3,0.4"]))
    assert loaded.ids == ["img1.jpg", "img2.jpg"]
    np.testing.assert_array_equal(loaded.vectors, np.array([[0.1, 0.2], [0.3, 0.4]], dtype=np.float32))


def test_load_embeddings_json_id_with_a_huge_integer_is_text(tmp_path):
    big = "7" * 5000
    path = write(tmp_path / "big-id.json", f'[{{"id": {big}, "embedding": [1, 2]}}]'.encode())
    assert sio.load_embeddings(path).ids == [big]


def test_load_embeddings_stdin_gzip_bomb_stops_at_the_ceiling():
    data = hostile.gzip_bomb(64 * MiB, exact_crc=False)
    with pytest.raises(InputError, match=r"<stdin>: decompresses to more than 1M \(max_input_size\)") as info:
        sio.load_embeddings("-", stdin=io.BytesIO(data), max_input_size=MiB)
    assert info.value.render(flag_name).endswith("(--max-input-size)")


def test_load_embeddings_stdin_lying_npy_header():
    data = hostile.npy_header((1000, 1000), "<f8") + bytes(80)
    with pytest.raises(InputError, match=r"<stdin>: the header declares 1000 x 1000 float64 \(7.6 MiB\) but the "
                                         r"file holds 80 bytes of data"):
        sio.load_embeddings("-", stdin=io.BytesIO(data))


def test_load_embeddings_out_of_memory_says_what_did_not_fit(tmp_path, monkeypatch):
    path = lines(tmp_path / "e.csv", ["1,2", "3,4"])

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(sio.delimited, "parse_numbers", no_memory)
    with pytest.raises(InputError, match=rf"{path}: not enough memory to read 8 bytes of text"):
        sio.load_embeddings(path)


def test_load_embeddings_turns_a_reader_bug_into_an_input_error(tmp_path, monkeypatch):
    """The last line of defence: on by default, off in the fuzz tests so they see the bug."""
    path = lines(tmp_path / "e.csv", ["1,2", "3,4"])

    def buggy(*args, **kwargs):
        return 1 / 0

    monkeypatch.setattr(sio.delimited, "parse_numbers", buggy)
    with pytest.raises(InputError, match=rf"{path}: cannot be read as csv \(ZeroDivisionError: division by zero\)"):
        sio.load_embeddings(path)
    monkeypatch.setattr(sio.loading, "CATCH_READER_ERRORS", False)
    with pytest.raises(ZeroDivisionError):
        sio.load_embeddings(path)


# ---------------------------------------------------------------- ids, labels and pairs files


def test_read_ids_and_labels_and_pairs_respect_the_ceiling(tmp_path):
    s = sio.embeddings_from_array(np.eye(3))
    big = lines(tmp_path / "big.txt", ["x" * 100] * 20_000)  # 2 MB
    for read in (lambda: sio.read_ids(big, 3, max_input_size=MiB),
                 lambda: sio.read_labels(big, 3, max_input_size=MiB),
                 lambda: sio.read_pairs(big, s, s, max_input_size=MiB),
                 lambda: sio.read_labelled_pairs(big, s, max_input_size=MiB)):
        with pytest.raises(InputError, match=rf"{big}: holds 1.9 MiB of text, more than 1M"):
            read()


def test_read_pairs_takes_ascii_row_numbers_only(tmp_path):
    s = sio.embeddings_from_array(np.eye(20))
    (tmp_path / "p.csv").write_text("1,2\n\u0661\u0662,3\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 2, column 1: '١٢' is neither an id nor a row number of A"):
        sio.read_pairs(tmp_path / "p.csv", s, s)


def test_read_ids_splits_at_cr_and_escapes_nothing_away(tmp_path):
    path = write(tmp_path / "ids.txt", b"a\rb\r\nc\x1b[2J\n")
    assert sio.read_ids(path, 3) == ["a", "b", "c\x1b[2J"]  # ids are data: kept as they are


def test_read_labels_npy_refuses_pickles_and_lying_headers(tmp_path):
    objects = write(tmp_path / "o.npy", hostile.npy_header((5,), "|O") + b"\x80")
    with pytest.raises(InputError, match="pickle"):
        sio.read_labels(objects, 5)
    liar = write(tmp_path / "l.npy", hostile.npy_header((10**6,), "<i8") + bytes(16))
    with pytest.raises(InputError, match=r"declares 1000000 int64 \(7.6 MiB\) but the file holds 16 bytes"):
        sio.read_labels(liar, 10**6)


def test_npz_labels_member_over_the_ceiling_is_refused(tmp_path):
    path = write(tmp_path / "labels.npz", hostile.npz_bomb(10_000, exact_crc=False))
    with pytest.raises(InputError, match=r"labels.npz\[embeddings\]: decompresses to 14.6 MiB, more than 1M"):
        sio.read_labels(path, 10_000, "embeddings", max_input_size=MiB)


# ---------------------------------------------------------------- the option on every command


READING_COMMANDS = {
    "compare": lambda bomb, good: ["compare", bomb, good],
    "verify": lambda bomb, good: ["verify", bomb, good, "-t", "0.5"],
    "matrix": lambda bomb, good: ["matrix", bomb, good],
    "evaluate": lambda bomb, good: ["evaluate", bomb, good, "--labels", good],
    "inspect": lambda bomb, good: ["inspect", bomb],
    "loss contrastive": lambda bomb, good: ["loss", "contrastive", bomb, good, "--labels", good],
    "loss triplet": lambda bomb, good: ["loss", "triplet", bomb, good, good],
}


@pytest.mark.parametrize("command", sorted(READING_COMMANDS))
def test_cli_max_input_size_applies_to_every_command_that_reads_files(tmp_path, command):
    bomb = write(tmp_path / "bomb.csv.gz", hostile.gzip_bomb(8 * MiB, exact_crc=False))
    good = lines(tmp_path / "good.csv", ["1,2,3,4"])
    args = READING_COMMANDS[command](str(bomb), str(good))
    limited = CliRunner().invoke(cli, [*args, "--max-input-size", "1M"])
    assert limited.exit_code == 2 and limited.stdout == ""
    assert limited.stderr == f"Error: {bomb}: decompresses to more than 1M (--max-input-size)\n"
    help_text = CliRunner().invoke(cli, [*args[: 2 if command.startswith("loss") else 1], "--help"]).stdout
    assert "--max-input-size" in help_text and "default 2G" in " ".join(help_text.split())


def test_cli_max_input_size_refuses_a_bad_size():
    result = CliRunner().invoke(cli, ["inspect", "x.csv", "--max-input-size", "nan"])
    assert result.exit_code == 2 and "--max-input-size" in result.stderr


def test_cli_max_input_size_lets_the_same_file_through_when_larger(tmp_path):
    path = write(tmp_path / "ok.csv.gz", gzip.compress(b"1,2,3\n4,5,6\n" * 100_000))  # 1.1 MiB of text
    assert CliRunner().invoke(cli, ["inspect", str(path), "--max-input-size", "1M"]).exit_code == 2
    result = CliRunner().invoke(cli, ["inspect", str(path), "-f", "json", "--max-input-size", "2M"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["n"] == 200_000


@pytest.mark.parametrize("index", [True, False])
def test_load_embeddings_csv_written_by_pandas_reads_back_the_array(tmp_path, index):
    """pandas' to_csv with or without its index: the positional header `0,1,...` is never a data row."""
    import pandas as pd

    array = np.random.default_rng(3).standard_normal((4, 5))
    pd.DataFrame(array).to_csv(tmp_path / "p.csv", index=index)
    loaded = sio.load_embeddings(tmp_path / "p.csv")
    np.testing.assert_array_equal(loaded.vectors, array)
    assert loaded.ids == (["0", "1", "2", "3"] if index else None)


def test_load_embeddings_two_column_first_row_0_1_stays_data(tmp_path):
    loaded = sio.load_embeddings(lines(tmp_path / "two.csv", ["0,1", "2,3"]))
    np.testing.assert_array_equal(loaded.vectors, [[0, 1], [2, 3]])

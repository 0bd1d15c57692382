"""The table of input formats: adding a format is one entry. A toy `.vec` format (word2vec's text
layout: a '<count> <dimensions>' line, then an id and its values per line) is registered at run time
and read by load_embeddings and by `siamcli compare`, by its suffix and by --input-format."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.spatial.distance import cdist

import siamcli.io as sio
from siamcli.cli import cli
from siamcli.errors import InputError
from siamcli.io.textcells import excerpt, parse_numbers

VECTORS = np.array([[0.5, -1.25, 3.0], [2.0, 0.0, -0.75], [1.5, 1.5, 0.25], [-3.0, 0.125, 1.0]])
IDS = ["cat", "dog", "emu", "yak"]


def read_vec(text: str, source: str, options: sio.ReadOptions) -> sio.Parsed:
    """word2vec text: '<count> <dimensions>', then '<id> <values...>' per line."""
    lines = text.splitlines()
    header = lines[0].split()
    if len(header) != 2 or not all(cell.isdigit() for cell in header):
        raise InputError(f"{source}: line 1: expected '<count> <dimensions>', got {excerpt(lines[0])}")
    count, dim = int(header[0]), int(header[1])
    rows = [line.split() for line in lines[1:] if line.strip()]
    for lineno, cells in enumerate(rows, 2):
        if len(cells) != dim + 1:
            raise InputError(f"{source}: line {lineno} has {len(cells) - 1} values, expected {dim}")
    if len(rows) != count:
        raise InputError(f"{source}: line 1 announces {count} vectors, the file holds {len(rows)}")
    array, bad = parse_numbers([cells[1:] for cells in rows])
    if bad is not None:
        raise InputError(f"{source}: line {bad[0] + 2}, column {bad[1] + 2}: "
                         f"{excerpt(rows[bad[0]][bad[1] + 1])} is not a number")
    return sio.Parsed(array, [cells[0] for cells in rows], lambda row, col: f"line {row + 2}, column {col + 2}")


@pytest.fixture
def vec_format():
    """The `.vec` format, registered for one test and removed after it."""
    assert "vec" not in sio.FORMATS
    fmt = sio.register_format(sio.Format("vec", (".vec",), read_vec, "word2vec text: a count line, then id + values"))
    yield fmt
    del sio.FORMATS["vec"]


def vec_text(vectors=VECTORS, ids=IDS) -> str:
    rows = [" ".join([name, *(repr(float(x)) for x in row)]) for name, row in zip(ids, vectors)]
    return f"{len(rows)} {vectors.shape[1]}\n" + "\n".join(rows) + "\n"


def test_register_format_loads_by_suffix_and_gzip(vec_format, tmp_path):
    (tmp_path / "w.vec").write_text(vec_text())
    loaded = sio.load_embeddings(tmp_path / "w.vec")
    np.testing.assert_array_equal(loaded.vectors, VECTORS)
    assert loaded.ids == IDS and loaded.source == str(tmp_path / "w.vec")
    (tmp_path / "w.vec.gz").write_bytes(gzip.compress(vec_text().encode()))
    np.testing.assert_array_equal(sio.load_embeddings(tmp_path / "w.vec.gz").vectors, VECTORS)


def test_register_format_checks_finite_as_every_format(vec_format, tmp_path):
    bad = VECTORS.copy()
    bad[2, 1] = np.inf
    (tmp_path / "w.vec").write_text(vec_text(bad))
    with pytest.raises(InputError, match=r"w\.vec: line 4, column 3 is infinite; embeddings must be finite"):
        sio.load_embeddings(tmp_path / "w.vec")


def test_unregistered_format_is_unknown(tmp_path):
    (tmp_path / "w.vec").write_text(vec_text())
    with pytest.raises(InputError, match=r"unknown file type \('\.vec'\)"):
        sio.load_embeddings(tmp_path / "w.vec")
    result = CliRunner().invoke(cli, ["compare", str(tmp_path / "w.vec"), str(tmp_path / "w.vec"), "--input-format", "vec"])
    assert result.exit_code == 2 and "'vec' is not one of" in result.stderr


@pytest.mark.parametrize("name, flags", [("w.vec", []), ("w.data", ["--input-format", "vec"])])
def test_register_format_compare_cli(vec_format, tmp_path, name, flags):
    (tmp_path / name).write_text(vec_text())
    path = str(tmp_path / name)
    result = CliRunner().invoke(cli, ["compare", path, path, "-k", "2", "-m", "euclidean", "-f", "json", *flags])
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)
    expected = cdist(VECTORS, VECTORS)  # independent oracle: scipy
    for record in records:  # text whose values are all float32 values computes in float32
        assert record["a_id"] == IDS[record["a_index"]] and record["b_id"] == IDS[record["b_index"]]
        assert record["score"] == pytest.approx(expected[record["a_index"], record["b_index"]], rel=1e-6, abs=1e-6)
    for i in range(len(IDS)):
        nearest = [r["b_index"] for r in sorted((r for r in records if r["a_index"] == i), key=lambda r: r["rank"])]
        assert nearest == list(np.argsort(expected[i], kind="stable")[:2])


@pytest.mark.parametrize("content, message", [
    ("4 3\ncat 1 2\n", "line 2 has 2 values, expected 3"),
    ("four three\ncat 1 2 3\n", "line 1: expected '<count> <dimensions>', got 'four three'"),
    ("1 3\ncat 1 x 3\n", "line 2, column 3: 'x' is not a number"),
    ("", "is empty"),
])
def test_register_format_bad_content_is_one_error_line(vec_format, tmp_path, content, message):
    path = tmp_path / "bad.vec"
    path.write_text(content)
    result = CliRunner().invoke(cli, ["compare", str(path), str(path), "-k", "1"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"Error: {path}: {message}\n"


def test_register_format_without_labels_reader_refuses_labels(vec_format, tmp_path):
    (tmp_path / "l.vec").write_text(vec_text())
    with pytest.raises(InputError, match=r"l\.vec: a \.vec file cannot give labels"):
        sio.read_labels(tmp_path / "l.vec", 4)


def test_formats_every_suffix_names_one_format():
    suffixes = [suffix for fmt in sio.FORMATS.values() for suffix in fmt.suffixes]
    assert len(suffixes) == len(set(suffixes)) and all(s.startswith(".") and s == s.lower() for s in suffixes)


def test_register_format_missing_extra_says_what_to_install(tmp_path):
    def read_needing_a_package(data, source, options):
        import siamcli_no_such_package  # noqa: F401  (the optional dependency, not installed)

    fmt = sio.Format("toy", (".toy",), read_needing_a_package, "needs an extra", binary=True, extra="toy")
    sio.register_format(fmt)
    try:
        (tmp_path / "a.toy").write_bytes(b"\x00\x01")
        result = CliRunner().invoke(cli, ["compare", str(tmp_path / "a.toy"), str(tmp_path / "a.toy")])
    finally:
        del sio.FORMATS["toy"]
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (f"Error: {tmp_path / 'a.toy'}: reading toy files needs siamcli_no_such_package; "
                             "pip install 'siamcli[toy]'\n")


def test_register_format_gives_vectors_labels_and_pairs_from_one_entry(tmp_path):
    """A pipe-separated format: one entry gives embeddings, a labels file and a pairs table."""
    from siamcli.io.delimited import read_delimited
    from siamcli.io.textcells import csv_records

    def labels_psv(text, source, column, limit):
        return [cells[0] for _, cells in csv_records(text, "|", source)]

    fmt = sio.Format("psv", (".psv",), lambda text, source, options:
                     read_delimited(text, source, "|", options.labels),
                     "pipe-separated", labels=labels_psv, table=lambda text, source: csv_records(text, "|", source))
    sio.register_format(fmt)
    try:
        (tmp_path / "e.psv").write_text("id|x|y|kind\nu|1|0|a\nv|0|1|b\nw|1|1|a\n")
        (tmp_path / "l.psv").write_text("a\nb\na\n")
        (tmp_path / "p.psv").write_text("u|w|1\nv|u|0\n")  # commas nowhere: the table reader, not a sniff
        loaded = sio.load_embeddings(tmp_path / "e.psv", labels="kind")
        labels = sio.read_labels(tmp_path / "l.psv", 3)
        left, right, same = sio.read_labelled_pairs(tmp_path / "p.psv", loaded)
    finally:
        del sio.FORMATS["psv"]
    np.testing.assert_array_equal(loaded.vectors, [[1, 0], [0, 1], [1, 1]])
    assert loaded.ids == ["u", "v", "w"] and loaded.labels == ["a", "b", "a"] and labels == ["a", "b", "a"]
    assert left.tolist() == [0, 1] and right.tolist() == [2, 0] and same == ["1", "0"]

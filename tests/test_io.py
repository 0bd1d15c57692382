"""Every input format of siamcli.io: what loads, exact round trips, and every bad input (library and CLI).

Expected values and error positions are computed here from how each file was built, never copied
from the loader. Positions: text formats use 1-based line/column (as an editor shows them), arrays
use 0-based row/column (as numpy indexes them), as io.py's docstring promises.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import siamcli.io as sio
from siamcli.cli import cli
from siamcli.errors import InputError
from siamcli.io import FORMATS, embeddings_from_array, load_embeddings, read_labelled_pairs, read_labels

# ---------------------------------------------------------------- writers, one per format

DELIMITERS = {"csv": ",", "tsv": "\t", "txt": " "}


def delimited_text(array, ids=None, *, sep=",", header=False, comments=False) -> str:
    """Rows of repr()-formatted floats (exact round trip), optional id column, header and comments."""
    lines = ["# written by test_io", ""] if comments else []
    if header:
        names = [f"d{j}" for j in range(array.shape[1])]
        lines.append(sep.join((["id"] if ids is not None else []) + names))
    for i, row in enumerate(np.asarray(array).tolist()):
        cells = [repr(float(x)) for x in row]
        lines.append(sep.join(([ids[i]] if ids is not None else []) + cells))
        if comments:
            lines.append("")
    return "\n".join(lines) + "\n"


def json_records(array, ids=None, field="embedding") -> list:
    rows = np.asarray(array).tolist()
    if ids is None:
        return rows
    return [{"id": ident, field: row} for ident, row in zip(ids, rows)]


def encode(fmt: str, array, ids=None, *, header=False, field="embedding") -> bytes:
    """The bytes of `array` (and `ids`) in format `fmt`; a KeyError here means a new format needs a writer."""
    if fmt == "npy":
        buf = io.BytesIO()
        np.save(buf, np.asarray(array))
        return buf.getvalue()
    if fmt == "npz":
        buf = io.BytesIO()
        extra = {} if ids is None else {"ids": np.array(ids)}
        np.savez(buf, embeddings=np.asarray(array), **extra)
        return buf.getvalue()
    if fmt in DELIMITERS:
        return delimited_text(array, ids, sep=DELIMITERS[fmt], header=header).encode()
    if fmt == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in json_records(array, ids, field)).encode()
    if fmt == "json":
        return json.dumps(json_records(array, ids, field)).encode()
    if fmt == "parquet":  # as pandas writes a frame with an id column and a list column
        import pandas as pd

        frame = pd.DataFrame({"embedding": list(np.asarray(array))})
        if ids is not None:
            frame.insert(0, "id", ids)
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        return buf.getvalue()
    if fmt == "arrow":  # Feather v2 (an Arrow IPC file) of a fixed-size-list column, as pyarrow writes it
        import pyarrow as pa
        import pyarrow.feather as feather

        array = np.asarray(array)
        columns = {} if ids is None else {"id": pa.array(ids, pa.string())}
        columns["embedding"] = pa.FixedSizeListArray.from_arrays(pa.array(array.ravel()), array.shape[1])
        sink = pa.BufferOutputStream()
        feather.write_feather(pa.table(columns), sink)
        return sink.getvalue().to_pybytes()
    if fmt == "safetensors":  # tensors only: no ids
        from safetensors.numpy import save

        return save({"embeddings": np.ascontiguousarray(array)})
    if fmt == "hdf5":
        return hdf5_bytes(array, ids)
    if fmt == "pytorch":
        import torch

        buf = io.BytesIO()
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        torch.save(tensor if ids is None else {"embeddings": tensor, "ids": list(ids)}, buf)
        return buf.getvalue()
    raise KeyError(f"no test writer for format {fmt!r}")


def hdf5_bytes(array, ids=None) -> bytes:
    """An HDF5 file written by h5py: the array in a group, its ids (UTF-8 strings) beside it."""
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as file:
        group = file.create_group("embeddings")
        group["vectors"] = np.asarray(array)
        if ids is not None:
            group.create_dataset("ids", data=list(ids), dtype=h5py.string_dtype())
    return buf.getvalue()


def write_bytes(path: Path, data: bytes) -> Path:
    """Write `data`, gzip-compressed when the name ends in .gz."""
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def write_text(path: Path, text: str) -> Path:
    return write_bytes(path, text.encode())


def write_embeddings(path: Path, fmt: str, array, ids=None, **options) -> Path:
    return write_bytes(path, encode(fmt, array, ids, **options))


def write_npy(path: Path, array) -> Path:
    np.save(path, array)
    return path


def assert_reads_back(loaded, array) -> None:
    """The values read are the array's, bit for bit; or, for text computed in float32, the float32
    each value's text denotes, when every value is one a float32 prints (exactly, as its shortest
    decimal, or to 9 digits), so that nothing written is lost."""
    array = np.asarray(array)
    if loaded.vectors.dtype == np.float32 and array.dtype == np.float64:
        single = array.astype(np.float32)
        for value, f in zip(array.ravel().tolist(), single.ravel()):
            assert value in (float(f), float(str(f)), float(f"{f:.9g}")), value
        assert_same_floats(loaded.vectors, single)
    else:
        assert_same_floats(loaded.vectors, array)


def assert_same_floats(actual, expected) -> None:
    """Same shape and bit-for-bit the same values (the sign of zero included)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)
    np.testing.assert_array_equal(np.signbit(actual), np.signbit(expected))


def load_error(path, **kwargs) -> str:
    """The message of the InputError that loading `path` must raise."""
    with pytest.raises(InputError) as info:
        load_embeddings(path, **kwargs)
    return str(info.value)


def looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


#: Formats whose reader needs a package the test extra leaves out (torch: several GB of wheels);
#: tested wherever it is installed (and, without it, test_io_tensors checks the message saying so).
UNTESTABLE = set() if importlib.util.find_spec("torch") else {"pytorch"}
#: (format name, file suffix) for every suffix in the one FORMATS table, plus the .gz of each.
PLAIN_SUFFIXES = [(f.name, s) for f in FORMATS.values() for s in f.suffixes if f.name not in UNTESTABLE]
ALL_SUFFIXES = PLAIN_SUFFIXES + [(name, s + ".gz") for name, s in PLAIN_SUFFIXES]
TEXT_SUFFIXES = [(name, s) for name, s in ALL_SUFFIXES if not FORMATS[name].binary]
ID_FORMATS = {"npz", "csv", "tsv", "txt", "jsonl", "json", "parquet", "arrow", "hdf5", "pytorch"}  # formats that can carry their own ids
#: Formats read from a stream of bytes (a file or stdin); the others are read from a folder.
STREAM_FORMATS = sorted(name for name, f in FORMATS.items() if f.folder is None and name not in UNTESTABLE)
FOLDER_FORMATS = sorted(name for name, f in FORMATS.items() if f.folder is not None)


def write_folder(path: Path, fmt: str, array, ids=None) -> Path:
    """A folder input of format `fmt` holding `array` (the test writer of each folder format)."""
    path.mkdir()
    if fmt == "npy-folder":  # two shards whose names sort in row order (10 after 9: names, not numbers)
        half = len(array) // 2
        np.save(path / "part-00.npy", np.asarray(array)[:half])
        np.save(path / "part-01.npy", np.asarray(array)[half:])
        return path
    if fmt == "hf-dataset":  # as datasets saves a Dataset: two Arrow stream shards and state.json
        import datasets

        columns = {"embedding": np.asarray(array)} if ids is None else {"id": list(ids), "embedding": np.asarray(array)}
        datasets.disable_progress_bars()
        datasets.Dataset.from_dict(columns).save_to_disk(str(path), num_shards=min(2, len(array)))
        return path
    raise KeyError(f"no test writer for folder format {fmt!r}")


def _case_id(case) -> str:
    return case[1].lstrip(".")


VALUES = np.array([[0.5, -1.25, 3.0, 1e-300], [2.0, 0.0, -0.0, 7.75], [1e300, -2.5, 4.0, 0.125]])
IDS = ["alpha", "beta", "gamma"]


# ---------------------------------------------------------------- 1. every format loads


def test_formats_table_has_a_test_writer_for_every_format(tmp_path):
    for name in STREAM_FORMATS:
        assert encode(name, VALUES)  # a new format in FORMATS fails here until a writer is added
    for name in FOLDER_FORMATS:
        assert_same_floats(load_embeddings(write_folder(tmp_path / name, name, VALUES)).vectors, VALUES)


@pytest.mark.parametrize("case", ALL_SUFFIXES, ids=_case_id)
def test_load_embeddings_reads_every_suffix(tmp_path, case):
    fmt, suffix = case
    path = write_embeddings(tmp_path / f"data{suffix}", fmt, VALUES)
    loaded = load_embeddings(path)
    assert_same_floats(loaded.vectors, VALUES)
    assert loaded.ids is None
    assert loaded.single is False
    assert loaded.source == str(path)
    assert (len(loaded), loaded.dim) == VALUES.shape


@pytest.mark.parametrize("case", [c for c in ALL_SUFFIXES if c[0] in ID_FORMATS], ids=_case_id)
def test_load_embeddings_reads_ids_written_in_the_file(tmp_path, case):
    fmt, suffix = case
    path = write_embeddings(tmp_path / f"data{suffix}", fmt, VALUES, IDS)
    loaded = load_embeddings(path)
    assert_same_floats(loaded.vectors, VALUES)
    assert list(loaded.ids) == IDS
    assert loaded.row_ids() == IDS


def test_load_embeddings_suffix_is_case_insensitive(tmp_path):
    path = write_embeddings(tmp_path / "DATA.CSV", "csv", VALUES)
    assert_same_floats(load_embeddings(path).vectors, VALUES)


def test_load_embeddings_input_format_overrides_the_suffix(tmp_path):
    path = write_embeddings(tmp_path / "data.dat", "csv", VALUES)
    assert_same_floats(load_embeddings(path, input_format="csv").vectors, VALUES)


def test_load_embeddings_unknown_input_format_lists_the_known_ones(tmp_path):
    path = write_embeddings(tmp_path / "data.csv", "csv", VALUES)
    message = load_error(path, input_format="xlsx")
    assert "xlsx" in message
    for name in FORMATS:
        assert name in message


# ------------------------------------------------ .npy


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool"])
def test_load_embeddings_npy_keeps_values_of_every_numeric_dtype(tmp_path, dtype):
    array = (np.arange(12).reshape(3, 4) % 5).astype(dtype)
    loaded = load_embeddings(write_npy(tmp_path / "a.npy", array))
    assert loaded.vectors.shape == (3, 4)
    np.testing.assert_array_equal(loaded.vectors, array)
    assert loaded.single is False


def test_load_embeddings_npy_1d_array_is_one_single_vector(tmp_path):
    loaded = load_embeddings(write_npy(tmp_path / "v.npy", np.array([1.0, 2.0, 3.0])))
    assert loaded.vectors.shape == (1, 3)
    np.testing.assert_array_equal(loaded.vectors[0], [1.0, 2.0, 3.0])
    assert loaded.single is True


def test_load_embeddings_npy_single_row_is_single(tmp_path):
    loaded = load_embeddings(write_npy(tmp_path / "v.npy", np.array([[1.0, 2.0, 3.0]])))
    assert loaded.vectors.shape == (1, 3)
    assert loaded.single is True


@pytest.mark.parametrize("array", [np.arange(24.0).reshape(6, 4), np.arange(5.0), np.arange(8.0).reshape(4, 2).T],
                         ids=["2d", "1d", "fortran-order"])
def test_load_embeddings_large_npy_is_memory_mapped(tmp_path, monkeypatch, array):
    path = write_npy(tmp_path / "big.npy", array)
    monkeypatch.setattr(sio.arrays, "MMAP_THRESHOLD_BYTES", 16)
    loaded = load_embeddings(path)
    assert isinstance(loaded.vectors, np.memmap)
    np.testing.assert_array_equal(loaded.vectors, np.atleast_2d(array))
    assert loaded.single is (array.ndim == 1)


def test_load_embeddings_small_npy_is_read_into_memory(tmp_path, monkeypatch):
    path = write_npy(tmp_path / "small.npy", VALUES)
    monkeypatch.setattr(sio.arrays, "MMAP_THRESHOLD_BYTES", path.stat().st_size)  # not larger than: not mapped
    assert not isinstance(load_embeddings(path).vectors, np.memmap)


# ------------------------------------------------ .npz


def test_load_embeddings_npz_uses_the_only_array(tmp_path):
    np.savez(tmp_path / "a.npz", vecs=VALUES)
    loaded = load_embeddings(tmp_path / "a.npz")
    assert_same_floats(loaded.vectors, VALUES)
    assert loaded.ids is None


def test_load_embeddings_npz_prefers_embeddings_among_several(tmp_path):
    np.savez(tmp_path / "a.npz", other=np.zeros((2, 2)), embeddings=VALUES)
    assert_same_floats(load_embeddings(tmp_path / "a.npz").vectors, VALUES)


def test_load_embeddings_npz_key_selects_the_array(tmp_path):
    np.savez(tmp_path / "a.npz", first=np.zeros((2, 2)), second=VALUES, embeddings=np.ones((5, 5)))
    assert_same_floats(load_embeddings(tmp_path / "a.npz", key="second").vectors, VALUES)


def test_load_embeddings_npz_ids_array_gives_string_row_ids(tmp_path):
    np.savez(tmp_path / "a.npz", vecs=VALUES, ids=np.array([10, 20, 30]))
    loaded = load_embeddings(tmp_path / "a.npz")
    assert_same_floats(loaded.vectors, VALUES)  # 'ids' is not taken as a second candidate array
    assert list(loaded.ids) == ["10", "20", "30"]


def test_load_embeddings_npz_several_arrays_without_key_lists_their_names(tmp_path):
    np.savez(tmp_path / "a.npz", left=VALUES, right=VALUES)
    message = load_error(tmp_path / "a.npz")
    assert str(tmp_path / "a.npz") in message
    assert "left" in message and "right" in message
    assert "choose one with key" in message  # the parameter; the CLI shows its flag
    assert CliRunner().invoke(cli, ["inspect", str(tmp_path / "a.npz")]).stderr.endswith("choose one with --key\n")


def test_load_embeddings_npz_unknown_key_names_key_and_arrays(tmp_path):
    np.savez(tmp_path / "a.npz", left=VALUES, right=VALUES)
    message = load_error(tmp_path / "a.npz", key="middle")
    assert str(tmp_path / "a.npz") in message
    assert "middle" in message and "left" in message and "right" in message


def test_load_embeddings_npz_with_only_ids_has_no_embedding_array(tmp_path):
    np.savez(tmp_path / "a.npz", ids=np.array(["a", "b"]))
    assert str(tmp_path / "a.npz") in load_error(tmp_path / "a.npz")


def test_load_embeddings_npz_ids_count_must_match_rows(tmp_path):
    np.savez(tmp_path / "a.npz", embeddings=VALUES, ids=np.array(["a", "b"]))
    message = load_error(tmp_path / "a.npz")
    assert str(tmp_path / "a.npz") in message
    assert "2" in message and str(len(VALUES)) in message


# ------------------------------------------------ delimited text: .csv .tsv .txt


@pytest.mark.parametrize("fmt", sorted(DELIMITERS))
@pytest.mark.parametrize("header", [False, True], ids=["no-header", "header"])
@pytest.mark.parametrize("with_ids", [False, True], ids=["no-ids", "ids"])
def test_load_embeddings_delimited_header_and_id_column(tmp_path, fmt, header, with_ids):
    ids = IDS if with_ids else None
    text = delimited_text(VALUES, ids, sep=DELIMITERS[fmt], header=header)
    loaded = load_embeddings(write_text(tmp_path / f"data.{fmt}", text))
    assert_same_floats(loaded.vectors, VALUES)
    assert (list(loaded.ids) if loaded.ids is not None else None) == ids


@pytest.mark.parametrize("fmt", sorted(DELIMITERS))
def test_load_embeddings_delimited_skips_comments_and_blank_lines(tmp_path, fmt):
    text = delimited_text(VALUES, IDS, sep=DELIMITERS[fmt], header=True, comments=True)
    text = "\n   \n" + text + "  # trailing comment\n\n"
    loaded = load_embeddings(write_text(tmp_path / f"data.{fmt}", text))
    assert_same_floats(loaded.vectors, VALUES)
    assert list(loaded.ids) == IDS


@pytest.mark.parametrize("fmt", sorted(DELIMITERS))
def test_load_embeddings_delimited_id_header_keeps_numeric_ids(tmp_path, fmt):
    sep = DELIMITERS[fmt]
    numeric_ids = ["101", "202", "303"]
    text = delimited_text(VALUES, numeric_ids, sep=sep, header=True)
    assert text.startswith(f"id{sep}")
    loaded = load_embeddings(write_text(tmp_path / f"data.{fmt}", text))
    assert_same_floats(loaded.vectors, VALUES)
    assert list(loaded.ids) == numeric_ids


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_load_embeddings_pandas_header_with_empty_first_cell(tmp_path, fmt):
    sep = DELIMITERS[fmt]
    lines = [sep.join([""] + [str(j) for j in range(VALUES.shape[1])])]  # like DataFrame.to_csv()
    lines += [sep.join([str(i)] + [repr(x) for x in row]) for i, row in enumerate(VALUES.tolist())]
    loaded = load_embeddings(write_text(tmp_path / f"data.{fmt}", "\n".join(lines) + "\n"))
    assert_same_floats(loaded.vectors, VALUES)
    assert list(loaded.ids) == ["0", "1", "2"]


def test_load_embeddings_csv_single_column(tmp_path):
    loaded = load_embeddings(write_text(tmp_path / "a.csv", "1.5\n-2.5\n"))
    assert_same_floats(loaded.vectors, [[1.5], [-2.5]])


def test_load_embeddings_csv_quoted_ids_and_crlf(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b'id,x,y\r\n"Smith, J",1.0,2.0\r\n"Doe, A",3.0,4.0\r\n')
    loaded = load_embeddings(path)
    assert_same_floats(loaded.vectors, [[1.0, 2.0], [3.0, 4.0]])
    assert list(loaded.ids) == ["Smith, J", "Doe, A"]


def test_load_embeddings_csv_with_utf8_bom(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes("\ufeffid,x,y\na,1.0,2.0\n".encode())
    loaded = load_embeddings(path)
    assert_same_floats(loaded.vectors, [[1.0, 2.0]])
    assert list(loaded.ids) == ["a"]


# ------------------------------------------------ .jsonl .ndjson .json


@pytest.mark.parametrize("field", ["embedding", "vector"])
@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_load_embeddings_jsonl_objects_with_id(tmp_path, suffix, field):
    lines = [json.dumps(r) for r in json_records(VALUES, IDS, field)]
    loaded = load_embeddings(write_text(tmp_path / f"a{suffix}", "\n\n".join(lines) + "\n"))  # blank lines skipped
    assert_same_floats(loaded.vectors, VALUES)
    assert list(loaded.ids) == IDS


def test_load_embeddings_jsonl_bare_lists(tmp_path):
    loaded = load_embeddings(write_embeddings(tmp_path / "a.jsonl", "jsonl", VALUES))
    assert_same_floats(loaded.vectors, VALUES)
    assert loaded.ids is None


@pytest.mark.parametrize("with_ids", [False, True], ids=["lists", "objects"])
def test_load_embeddings_json_list(tmp_path, with_ids):
    ids = IDS if with_ids else None
    path = write_text(tmp_path / "a.json", json.dumps(json_records(VALUES, ids), indent=2))
    loaded = load_embeddings(path)
    assert_same_floats(loaded.vectors, VALUES)
    assert (list(loaded.ids) if loaded.ids is not None else None) == ids


def test_load_embeddings_json_single_bare_vector_is_single(tmp_path):
    loaded = load_embeddings(write_text(tmp_path / "a.json", "[1.0, 2.0, 3.0]"))
    assert_same_floats(loaded.vectors, [[1.0, 2.0, 3.0]])
    assert loaded.single is True


def test_load_embeddings_json_numeric_ids_become_strings(tmp_path):
    doc = [{"id": 7, "vector": [1.0, 2.0]}, {"id": 8, "vector": [3.0, 4.0]}]
    loaded = load_embeddings(write_text(tmp_path / "a.json", json.dumps(doc)))
    assert list(loaded.ids) == ["7", "8"]


# ------------------------------------------------ stdin


@pytest.mark.parametrize("fmt", STREAM_FORMATS)
def test_load_embeddings_stdin_with_explicit_format(fmt):
    ids = IDS if fmt in ID_FORMATS else None
    loaded = load_embeddings("-", input_format=fmt, stdin=io.BytesIO(encode(fmt, VALUES, ids)))
    assert_same_floats(loaded.vectors, VALUES)
    assert loaded.source == "<stdin>"
    assert (list(loaded.ids) if loaded.ids is not None else None) == ids


SNIFFED = {
    "npy": lambda: encode("npy", VALUES),
    "npz": lambda: encode("npz", VALUES, IDS),
    "csv": lambda: encode("csv", VALUES, IDS, header=True),
    "csv-no-header": lambda: encode("csv", VALUES),
    "tsv": lambda: encode("tsv", VALUES, IDS),
    "txt": lambda: encode("txt", VALUES, IDS),
    "jsonl-objects": lambda: encode("jsonl", VALUES, IDS),
    "jsonl-lists": lambda: encode("jsonl", VALUES),
    "json-lists": lambda: encode("json", VALUES),
    "json-objects": lambda: json.dumps(json_records(VALUES, IDS), indent=2).encode(),
    "csv-gzip": lambda: gzip.compress(encode("csv", VALUES, IDS)),
    "jsonl-gzip": lambda: gzip.compress(encode("jsonl", VALUES, IDS)),
    "leading-blank-lines": lambda: b"\n\n  \n" + encode("jsonl", VALUES, IDS),
}


@pytest.mark.parametrize("name", sorted(SNIFFED))
def test_load_embeddings_stdin_sniffs_the_format(name):
    data = SNIFFED[name]()
    loaded = load_embeddings("-", stdin=io.BytesIO(data))
    assert_same_floats(loaded.vectors, VALUES)
    has_ids = name not in {"npy", "csv-no-header", "jsonl-lists", "json-lists"}
    assert (list(loaded.ids) if loaded.ids is not None else None) == (IDS if has_ids else None)


def test_load_embeddings_empty_stdin_is_an_input_error():
    assert "<stdin>" in load_error("-", stdin=io.BytesIO(b""))


# ------------------------------------------------ ids file


def test_load_embeddings_ids_path_sets_the_ids(tmp_path):
    path = write_npy(tmp_path / "a.npy", VALUES)
    (tmp_path / "ids.txt").write_text("\n".join(IDS) + "\n\n")  # trailing blank lines are not ids
    loaded = load_embeddings(path, ids_path=tmp_path / "ids.txt")
    assert list(loaded.ids) == IDS
    assert loaded.id_of(2) == IDS[2]


def test_load_embeddings_ids_path_overrides_ids_in_the_file(tmp_path):
    path = write_embeddings(tmp_path / "a.csv", "csv", VALUES, IDS)
    other = ["x", "y", "z"]
    (tmp_path / "ids.txt").write_text("\n".join(other))
    assert list(load_embeddings(path, ids_path=tmp_path / "ids.txt").ids) == other


@pytest.mark.parametrize("count", [len(VALUES) - 1, len(VALUES) + 1])
def test_load_embeddings_ids_path_count_mismatch(tmp_path, count):
    path = write_npy(tmp_path / "a.npy", VALUES)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(f"r{i}" for i in range(count)) + "\n")
    message = load_error(path, ids_path=ids_file)
    assert str(ids_file) in message
    assert str(count) in message and str(len(VALUES)) in message


def test_load_embeddings_missing_ids_path(tmp_path):
    path = write_npy(tmp_path / "a.npy", VALUES)
    assert str(tmp_path / "nope.txt") in load_error(path, ids_path=tmp_path / "nope.txt")


# ---------------------------------------------------------------- 2. exact round trips (hypothesis)

FINITE_ARRAYS = arrays(
    np.float64,
    st.tuples(st.integers(1, 20), st.integers(1, 12)),
    elements=st.floats(allow_nan=False, allow_infinity=False, width=64),  # subnormals to 1.8e308
)
#: Ids a delimited file can hold unquoted and that cannot be mistaken for a number or a header cell
#: (a first row starting with e.g. 'name' or 'nan' is, by design, a header or a numeric row).
PLAIN_IDS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.:-]{0,8}", fullmatch=True).filter(
    lambda s: not looks_numeric(s) and s.lower() not in sio.ID_COLUMN_NAMES
)
#: Ids for formats that store strings natively (JSON, npz): any text but lone surrogates and NUL.
ANY_IDS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)


@pytest.mark.parametrize("case", ALL_SUFFIXES, ids=_case_id)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_load_embeddings_round_trips_random_arrays_exactly(case, data):
    fmt, suffix = case
    array = data.draw(FINITE_ARRAYS, label="array")
    n = array.shape[0]
    options = {}
    ids = None
    if fmt in DELIMITERS:
        options["header"] = data.draw(st.booleans(), label="header")
        if data.draw(st.booleans(), label="with ids"):
            ids = data.draw(st.lists(PLAIN_IDS, min_size=n, max_size=n), label="ids")
    elif fmt in {"json", "jsonl"}:
        options["field"] = data.draw(st.sampled_from(["embedding", "vector"]), label="field")
        if data.draw(st.booleans(), label="with ids"):
            ids = data.draw(st.lists(ANY_IDS, min_size=n, max_size=n), label="ids")
    elif fmt in {"npz", "parquet", "arrow"} and data.draw(st.booleans(), label="with ids"):
        ids = data.draw(st.lists(ANY_IDS, min_size=n, max_size=n), label="ids")
    ids_file_ids = None
    if fmt == "npy" and data.draw(st.booleans(), label="with ids file"):
        ids_file_ids = data.draw(st.lists(PLAIN_IDS, min_size=n, max_size=n), label="ids file")

    with tempfile.TemporaryDirectory() as tmp:
        path = write_embeddings(Path(tmp) / f"data{suffix}", fmt, array, ids, **options)
        ids_path = None
        if ids_file_ids is not None:
            ids_path = Path(tmp) / "ids.txt"
            ids_path.write_text("\n".join(ids_file_ids) + "\n", encoding="utf-8")
        loaded = load_embeddings(path, ids_path=ids_path)

    assert_reads_back(loaded, array)
    expected_ids = ids if ids is not None else ids_file_ids
    assert (list(loaded.ids) if loaded.ids is not None else None) == expected_ids
    assert loaded.single is (n == 1)


@pytest.mark.parametrize("fmt", STREAM_FORMATS)
@settings(max_examples=20, deadline=None)
@given(array=FINITE_ARRAYS)
def test_load_embeddings_round_trips_random_arrays_from_stdin(fmt, array):
    loaded = load_embeddings("-", stdin=io.BytesIO(encode(fmt, array)))  # format sniffed
    assert_reads_back(loaded, array)


# ---------------------------------------------------------------- 3. bad inputs: InputError naming file and place


@dataclass
class Bad:
    """A bad input file and the fragments its error message must contain besides the file name."""

    path: Path
    fragments: tuple[str, ...] = ()


def lines_file(path: Path, lines: list[str]) -> Path:
    return write_text(path, "\n".join(lines) + "\n")


def line_of(lines: list[str], marker: str) -> int:
    """1-based number of the line that is exactly `marker`."""
    return lines.index(marker) + 1


def bad_missing(tmp: Path) -> Bad:
    return Bad(tmp / "missing.npy", ("no such file",))


def bad_directory(tmp: Path) -> Bad:
    folder = tmp / "folder.csv"
    folder.mkdir()
    return Bad(folder, ("directory",))


def bad_unreadable(tmp: Path) -> Bad:
    if os.geteuid() == 0:
        pytest.skip("root can read a chmod 000 file")
    path = write_embeddings(tmp / "locked.csv", "csv", VALUES)
    path.chmod(0)
    return Bad(path, ("permission",))


def bad_empty_npy(tmp: Path) -> Bad:
    return Bad(write_bytes(tmp / "empty.npy", b""), ("empty",))


def bad_empty_csv(tmp: Path) -> Bad:
    return Bad(write_bytes(tmp / "empty.csv", b""), ("empty",))


def bad_whitespace_txt(tmp: Path) -> Bad:
    return Bad(write_text(tmp / "blank.txt", "  \n\t\n\n"), ("empty",))


def bad_unknown_suffix(tmp: Path) -> Bad:
    return Bad(write_embeddings(tmp / "data.xyz", "csv", VALUES), (".xyz", ".npy", ".csv", ".jsonl"))


def bad_pickled_npy(tmp: Path) -> Bad:
    path = tmp / "objects.npy"
    np.save(path, np.array([{"a": 1}, [2, 3]], dtype=object), allow_pickle=True)
    return Bad(path, ("pickle",))


def bad_pickled_npz(tmp: Path) -> Bad:
    path = tmp / "objects.npz"
    np.savez(path, embeddings=np.array([{"a": 1}, [2, 3]], dtype=object))
    return Bad(path, ("pickle",))


def bad_0d(tmp: Path) -> Bad:
    return Bad(write_npy(tmp / "scalar.npy", np.array(3.5)), ("0-D",))


def bad_3d(tmp: Path) -> Bad:
    return Bad(write_npy(tmp / "cube.npy", np.zeros((2, 3, 4))), ("3-D", "2 x 3 x 4"))


def bad_string_array(tmp: Path) -> Bad:
    return Bad(write_npy(tmp / "words.npy", np.array([["a", "b"], ["c", "d"]])), ("text",))


def bad_complex_array(tmp: Path) -> Bad:
    return Bad(write_npy(tmp / "complex.npy", np.ones((2, 3), dtype=complex)), ("complex",))


def bad_string_npz(tmp: Path) -> Bad:
    path = tmp / "words.npz"
    np.savez(path, embeddings=np.array([["a", "b"]]))
    return Bad(path, ("text",))


def bad_npz_no_rows(tmp: Path) -> Bad:
    path = tmp / "norows.npz"
    np.savez(path, embeddings=np.zeros((0, 4)))
    return Bad(path, ("no rows",))


def bad_nan_npy(tmp: Path) -> Bad:
    array = np.ones((5, 6))
    row, col = 3, 4
    array[row, col] = np.nan
    return Bad(write_npy(tmp / "nan.npy", array), (f"row {row}, column {col}", "NaN"))


def bad_inf_npy(tmp: Path) -> Bad:
    array = np.ones((5, 6), dtype=np.float32)
    row, col = 1, 0
    array[row, col] = -np.inf
    array[4, 5] = np.nan  # later in row-major order: not the one reported
    return Bad(write_npy(tmp / "inf.npy", array), (f"row {row}, column {col}", "infinite", "1 more"))


def bad_ragged_csv(tmp: Path) -> Bad:
    lines = ["# a comment", "id,x,y,z", "", "a,1,2,3", "b,4,5", "c,6,7,8"]
    bad_line = line_of(lines, "b,4,5")
    return Bad(lines_file(tmp / "ragged.csv", lines), (f"line {bad_line} ",))


def bad_ragged_jsonl(tmp: Path) -> Bad:
    lines = ['{"id": "a", "embedding": [1, 2, 3]}', "", '{"id": "b", "embedding": [1, 2]}']
    return Bad(lines_file(tmp / "ragged.jsonl", lines), (f"line {line_of(lines, lines[2])} ",))


def bad_cell_csv(tmp: Path) -> Bad:
    lines = ["x,y,z", "1,2,3", "4,oops,6"]
    column = lines[2].split(",").index("oops") + 1
    return Bad(lines_file(tmp / "cell.csv", lines), (f"line {line_of(lines, lines[2])}, column {column}", "oops"))


def bad_cell_csv_after_id(tmp: Path) -> Bad:
    lines = ["# comment", "a,1,2,3", "", "b,4,5,six"]
    column = lines[3].split(",").index("six") + 1  # file columns: the id column counts
    return Bad(lines_file(tmp / "cell.csv", lines), (f"line {line_of(lines, lines[3])}, column {column}", "six"))


def bad_cell_tsv_empty(tmp: Path) -> Bad:
    lines = ["1\t2\t3", "4\t\t6"]
    column = lines[1].split("\t").index("") + 1
    return Bad(lines_file(tmp / "cell.tsv", lines), (f"line {line_of(lines, lines[1])}, column {column}",))


def bad_cell_txt(tmp: Path) -> Bad:
    lines = ["w1 0.1 0.2", "w2 0.3 x0.4"]
    column = lines[1].split().index("x0.4") + 1
    return Bad(lines_file(tmp / "cell.txt", lines), (f"line {line_of(lines, lines[1])}, column {column}",))


def bad_nan_csv(tmp: Path) -> Bad:
    lines = ["id,x,y,z", "a,1,2,3", "b,4,nan,6"]
    column = lines[2].split(",").index("nan") + 1
    return Bad(lines_file(tmp / "nan.csv", lines), (f"line {line_of(lines, lines[2])}, column {column}", "NaN"))


def bad_overflow_csv(tmp: Path) -> Bad:
    lines = ["1,2", "", "3,1e999"]
    column = lines[2].split(",").index("1e999") + 1
    # a number past float64 is too large, not "infinite": the file does not say inf (issue 13)
    return Bad(lines_file(tmp / "huge.csv", lines), (f"line {line_of(lines, lines[2])}, column {column}", "too large"))


def bad_element_jsonl(tmp: Path) -> Bad:
    vector = [4, "five", 6]
    lines = ["[1, 2, 3]", json.dumps({"id": "b", "embedding": vector})]
    element = vector.index("five") + 1
    return Bad(lines_file(tmp / "elem.jsonl", lines), (f"line {line_of(lines, lines[1])}", f"element {element}"))


def bad_nan_jsonl(tmp: Path) -> Bad:
    lines = ["[1, 2, 3]", "", "[4, 5, NaN]"]
    return Bad(lines_file(tmp / "nan.jsonl", lines), (f"line {line_of(lines, lines[2])}", "element 3", "NaN"))


def bad_invalid_json_line(tmp: Path) -> Bad:
    lines = ["[1, 2]", '{"id": "b", "embedding": [3, 4]', "[5, 6]"]
    try:
        json.loads(lines[1])
    except json.JSONDecodeError as exc:
        column = exc.colno
    return Bad(lines_file(tmp / "broken.jsonl", lines), (f"line {line_of(lines, lines[1])}, column {column}",))


def bad_json_object_without_vector(tmp: Path) -> Bad:
    doc = [{"id": "a", "embedding": [1, 2]}, {"id": "b", "emb": [3, 4]}]
    return Bad(write_text(tmp / "fields.json", json.dumps(doc)), ("item 2",))


def bad_not_utf8(tmp: Path) -> Bad:
    return Bad(write_bytes(tmp / "binary.csv", b"1,2\n\xff\xfe,3\n"), ("UTF-8",))


def bad_not_gzip(tmp: Path) -> Bad:
    path = tmp / "fake.csv.gz"
    path.write_bytes(b"1,2,3\n")  # named .gz but not compressed
    return Bad(path, ("gzip",))


def bad_corrupt_gzip(tmp: Path) -> Bad:
    data = bytearray(gzip.compress(b"1.0,2.0,3.0\n" * 200))
    for i in range(12, len(data) - 8):  # keep the gzip header and trailer, garble the deflate stream
        data[i] ^= 0xFF
    path = tmp / "corrupt.csv.gz"
    path.write_bytes(bytes(data))
    return Bad(path, ("gzip",))


def bad_truncated_npz(tmp: Path) -> Bad:
    data = encode("npz", VALUES)
    path = tmp / "truncated.npz"
    path.write_bytes(data[: len(data) // 2])  # a download cut off half way
    return Bad(path)


def bad_corrupt_npz_member(tmp: Path) -> Bad:
    data = bytearray(encode("npz", np.arange(400.0).reshape(100, 4)))
    start = data.index(b"\x93NUMPY") + 200
    data[start : start + 60] = bytes(60)  # the zip directory is intact, the member's CRC is not
    path = tmp / "crc.npz"
    path.write_bytes(bytes(data))
    return Bad(path)


def bad_json_huge_integer(tmp: Path) -> Bad:
    return Bad(write_text(tmp / "bigint.json", "[[1, " + "9" * 400 + "]]"), ("item 1",))



BAD_INPUTS = [
    pytest.param(bad_missing, id="missing"),
    pytest.param(bad_directory, id="directory"),
    pytest.param(bad_unreadable, id="unreadable"),
    pytest.param(bad_empty_npy, id="empty-npy"),
    pytest.param(bad_empty_csv, id="empty-csv"),
    pytest.param(bad_whitespace_txt, id="whitespace-txt"),
    pytest.param(bad_unknown_suffix, id="unknown-suffix"),
    pytest.param(bad_pickled_npy, id="pickled-npy"),
    pytest.param(bad_pickled_npz, id="pickled-npz"),
    pytest.param(bad_0d, id="0d-array"),
    pytest.param(bad_3d, id="3d-array"),
    pytest.param(bad_string_array, id="string-array"),
    pytest.param(bad_complex_array, id="complex-array"),
    pytest.param(bad_string_npz, id="string-npz"),
    pytest.param(bad_npz_no_rows, id="npz-no-rows"),
    pytest.param(bad_nan_npy, id="nan-npy"),
    pytest.param(bad_inf_npy, id="inf-npy"),
    pytest.param(bad_ragged_csv, id="ragged-csv"),
    pytest.param(bad_ragged_jsonl, id="ragged-jsonl"),
    pytest.param(bad_cell_csv, id="non-numeric-csv"),
    pytest.param(bad_cell_csv_after_id, id="non-numeric-csv-with-ids"),
    pytest.param(bad_cell_tsv_empty, id="empty-cell-tsv"),
    pytest.param(bad_cell_txt, id="non-numeric-txt"),
    pytest.param(bad_nan_csv, id="nan-csv"),
    pytest.param(bad_overflow_csv, id="overflow-csv"),
    pytest.param(bad_element_jsonl, id="non-numeric-jsonl"),
    pytest.param(bad_nan_jsonl, id="nan-jsonl"),
    pytest.param(bad_invalid_json_line, id="invalid-json-line"),
    pytest.param(bad_json_object_without_vector, id="json-no-vector-field"),
    pytest.param(bad_not_utf8, id="not-utf8"),
    pytest.param(bad_not_gzip, id="not-gzip"),
    pytest.param(bad_corrupt_gzip, id="corrupt-gzip"),
    pytest.param(bad_truncated_npz, id="truncated-npz"),
    pytest.param(bad_corrupt_npz_member, id="corrupt-npz-member"),
    pytest.param(bad_json_huge_integer, id="json-huge-integer"),
]


@pytest.mark.parametrize("build", BAD_INPUTS)
def test_load_embeddings_bad_input_raises_input_error_naming_file_and_place(tmp_path, build):
    bad = build(tmp_path)
    message = load_error(bad.path)
    assert str(bad.path) in message
    for fragment in bad.fragments:
        assert fragment.lower() in message.lower(), f"{fragment!r} not in {message!r}"


@pytest.mark.parametrize("case", ALL_SUFFIXES, ids=_case_id)
def test_load_embeddings_empty_file_of_every_suffix(tmp_path, case):
    path = tmp_path / f"empty{case[1]}"
    path.write_bytes(b"")  # 0 bytes, even for .gz
    message = load_error(path)
    assert str(path) in message and "empty" in message


@pytest.mark.parametrize("case", TEXT_SUFFIXES, ids=_case_id)
def test_load_embeddings_whitespace_only_text_of_every_suffix(tmp_path, case):
    path = write_text(tmp_path / f"blank{case[1]}", " \n\t\r\n   \n")
    message = load_error(path)
    assert str(path) in message and "empty" in message


@pytest.mark.parametrize("fmt", ["csv", "tsv", "txt"])
def test_load_embeddings_comments_only_has_no_data_rows(tmp_path, fmt):
    path = write_text(tmp_path / f"c.{fmt}", "# only\n# comments\n")
    assert str(path) in load_error(path)


def test_load_embeddings_unknown_suffix_lists_every_known_suffix(tmp_path):
    path = write_embeddings(tmp_path / "data.xlsx", "csv", VALUES)
    message = load_error(path)
    assert str(path) in message and ".xlsx" in message
    for _, suffix in PLAIN_SUFFIXES:
        assert suffix in message


def test_load_embeddings_header_only_csv(tmp_path):
    path = write_text(tmp_path / "h.csv", "id,x,y\n")
    assert str(path) in load_error(path)


def test_load_embeddings_header_width_differs_from_rows(tmp_path):
    lines = ["id,x,y,z", "a,1,2"]
    path = lines_file(tmp_path / "h.csv", lines)
    message = load_error(path)
    assert str(path) in message and f"line {line_of(lines, 'a,1,2')}" in message


def test_load_embeddings_json_mixed_ids_names_the_item(tmp_path):
    doc = [{"id": "a", "vector": [1, 2]}, [3, 4]]
    path = write_text(tmp_path / "m.json", json.dumps(doc))
    message = load_error(path)
    assert str(path) in message and "item 2" in message


def test_load_embeddings_invalid_json_document_names_line_and_column(tmp_path):
    text = "[\n  [1, 2],\n  [3, 4]\n  [5, 6]\n]\n"  # missing comma after line 3
    path = write_text(tmp_path / "b.json", text)
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        expected = f"line {exc.lineno}, column {exc.colno}"
    message = load_error(path)
    assert str(path) in message and expected in message


# ---------------------------------------------------------------- 4. the same bad inputs through the CLI


@pytest.fixture
def good_npy(tmp_path) -> Path:
    return write_npy(tmp_path / "good.npy", np.ones((3, 4)))


def run_cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_one_error_line(result, *names) -> str:
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.stderr
    for name in names:
        assert str(name) in lines[0]
    return lines[0]


@pytest.mark.parametrize("build", BAD_INPUTS)
def test_cli_compare_bad_a_is_one_error_line_exit_2(tmp_path, good_npy, build):
    bad = build(tmp_path)
    line = assert_one_error_line(run_cli("compare", bad.path, good_npy), bad.path)
    for fragment in bad.fragments:
        assert fragment.lower() in line.lower()


@pytest.mark.parametrize("build", [bad_missing, bad_ragged_csv, bad_nan_npy], ids=["missing", "ragged-csv", "nan-npy"])
def test_cli_compare_bad_b_is_one_error_line_exit_2(tmp_path, good_npy, build):
    bad = build(tmp_path)
    assert_one_error_line(run_cli("compare", good_npy, bad.path), bad.path)


@pytest.mark.parametrize("build", [bad_missing, bad_cell_csv, bad_pickled_npy], ids=["missing", "non-numeric-csv", "pickled-npy"])
def test_cli_compare_debug_shows_the_traceback(tmp_path, good_npy, build):
    bad = build(tmp_path)
    result = run_cli("compare", bad.path, good_npy, "--debug")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Traceback" in result.stderr
    assert "InputError" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("Error: ")
    assert str(bad.path) in result.stderr.splitlines()[-1]


def test_cli_compare_dimension_mismatch_names_both_files(tmp_path):
    a = write_npy(tmp_path / "four.npy", np.ones((3, 4)))
    b = write_embeddings(tmp_path / "five.csv", "csv", np.ones((2, 5)))
    line = assert_one_error_line(run_cli("compare", a, b), a, b)
    assert "4" in line and "5" in line


def test_cli_compare_ids_count_mismatch_names_the_ids_file(tmp_path, good_npy):
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("only\ntwo\n")
    assert_one_error_line(run_cli("compare", good_npy, good_npy, "--ids", ids_file), ids_file)


def test_cli_compare_good_inputs_exit_0(tmp_path, good_npy):
    other = write_embeddings(tmp_path / "other.csv", "csv", VALUES[:, :4], IDS)
    result = run_cli("compare", good_npy, other, "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() and "Error" not in result.stderr


# ---------------------------------------------------------------- 5. never unpickles


class MarkerPayload:
    """Unpickling this creates a directory: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def pickled_npy_bytes(marker: Path) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.array([MarkerPayload(marker), 1.0], dtype=object), allow_pickle=True)
    return buf.getvalue()


def pickled_npz_bytes(marker: Path) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, embeddings=np.array([MarkerPayload(marker), 1.0], dtype=object))
    return buf.getvalue()


def raw_pickle_bytes(marker: Path) -> bytes:
    return pickle.dumps(MarkerPayload(marker))  # not an .npy at all: np.load would unpickle it


PAYLOADS = {
    "npy": (pickled_npy_bytes, ".npy", lambda data: np.load(io.BytesIO(data), allow_pickle=True)),
    "npz": (pickled_npz_bytes, ".npz", lambda data: np.load(io.BytesIO(data), allow_pickle=True)["embeddings"]),
    "raw-pickle": (raw_pickle_bytes, ".npy", lambda data: np.load(io.BytesIO(data), allow_pickle=True)),
    "npy-gzip": (pickled_npy_bytes, ".npy.gz", lambda data: np.load(io.BytesIO(gzip.decompress(data)), allow_pickle=True)),
}


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_payload_runs_code_when_unpickled(tmp_path, name):
    """The payloads below are live: numpy with allow_pickle=True does run them."""
    make, suffix, unsafe_load = PAYLOADS[name]
    marker = tmp_path / "ran"
    data = make(marker)
    if suffix.endswith(".gz"):
        data = gzip.compress(data)
    unsafe_load(data)
    assert marker.exists()


@pytest.mark.parametrize("mmap", [False, True], ids=["read", "mmap"])
@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_load_embeddings_never_unpickles(tmp_path, monkeypatch, name, mmap):
    make, suffix, _ = PAYLOADS[name]
    marker = tmp_path / "ran"
    path = write_bytes(tmp_path / f"payload{suffix}", make(marker))
    if mmap:
        monkeypatch.setattr(sio.arrays, "MMAP_THRESHOLD_BYTES", 1)
    message = load_error(path)
    assert str(path) in message
    assert not marker.exists()


def test_load_embeddings_stdin_never_unpickles(tmp_path):
    marker = tmp_path / "ran"
    for data in (pickled_npy_bytes(marker), pickled_npz_bytes(marker), raw_pickle_bytes(marker)):
        assert "<stdin>" in load_error("-", stdin=io.BytesIO(data))
        assert "<stdin>" in load_error("-", input_format="npy", stdin=io.BytesIO(data))
    assert not marker.exists()


def test_cli_compare_never_unpickles(tmp_path, good_npy):
    marker = tmp_path / "ran"
    path = write_bytes(tmp_path / "payload.npy", pickled_npy_bytes(marker))
    assert_one_error_line(run_cli("compare", path, good_npy), path)
    assert not marker.exists()


# ---------------------------------------------------------------- bugs found while writing these tests


def test_load_embeddings_stdin_sniffs_jsonl_after_utf8_bom():
    data = "\ufeff".encode() + encode("jsonl", VALUES, IDS)
    loaded = load_embeddings("-", stdin=io.BytesIO(data))
    assert_same_floats(loaded.vectors, VALUES)
    assert list(loaded.ids) == IDS


@pytest.mark.parametrize("fmt, comment", [("csv", "# exported by test_io"), ("tsv", "# exported by test_io, v2")])
def test_load_embeddings_stdin_sniffs_delimited_after_comment_line(fmt, comment):
    data = comment.encode() + b"\n" + encode(fmt, VALUES, IDS)
    loaded = load_embeddings("-", stdin=io.BytesIO(data))
    assert_same_floats(loaded.vectors, VALUES)
    assert list(loaded.ids) == IDS


def test_load_embeddings_jsonl_id_with_unicode_line_separator(tmp_path):
    ids = ["a\u2028b", "c\x85d", "e"]
    text = "".join(json.dumps({"id": i, "embedding": row}, ensure_ascii=False) + "\n" for i, row in zip(ids, VALUES.tolist()))
    loaded = load_embeddings(write_text(tmp_path / "u.jsonl", text))
    assert list(loaded.ids) == ids


def test_load_embeddings_npz_bytes_ids_become_plain_strings(tmp_path):
    np.savez(tmp_path / "a.npz", embeddings=VALUES, ids=np.array([s.encode() for s in IDS]))
    assert list(load_embeddings(tmp_path / "a.npz").ids) == IDS


def test_load_embeddings_text_named_npy_is_not_called_pickled(tmp_path):
    path = write_embeddings(tmp_path / "really.npy", "csv", VALUES)
    message = load_error(path)
    assert str(path) in message
    assert "pickle" not in message.lower()


def test_load_embeddings_large_pickled_npy_says_pickled(tmp_path, monkeypatch):
    bad = bad_pickled_npy(tmp_path)
    monkeypatch.setattr(sio.arrays, "MMAP_THRESHOLD_BYTES", 1)
    assert "pickle" in load_error(bad.path).lower()


def test_load_embeddings_csv_comment_with_quote_is_skipped(tmp_path):
    text = '# exported by tool,"v2\n' + delimited_text(VALUES, IDS)
    loaded = load_embeddings(write_text(tmp_path / "q.csv", text))
    assert_same_floats(loaded.vectors, VALUES)


def test_load_embeddings_unreadable_file_even_as_root(tmp_path, monkeypatch):
    """The permission branch, reached for any user by making the open itself fail as chmod 000 would."""
    import builtins

    path = write_embeddings(tmp_path / "locked.csv", "csv", VALUES)
    real_open = builtins.open

    def refusing_open(file, *args, **kwargs):
        if os.fspath(file) == os.fspath(path):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    with pytest.raises(InputError) as err:
        load_embeddings(path)
    assert str(path) in str(err.value) and "permission" in str(err.value)


# ---------------------------------------------------------------- labels


def test_labels_column_of_a_csv_is_read_and_not_a_dimension(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("id,x,label,y\na,1,cat,2\nb,3,dog,4\n")
    s = load_embeddings(path, labels="label")
    np.testing.assert_array_equal(s.vectors, [[1.0, 2.0], [3.0, 4.0]])
    assert s.ids == ["a", "b"] and list(s.labels) == ["cat", "dog"]


def test_labels_column_keeps_error_positions_of_the_file(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("x,label,y\n1,cat,2\n3,dog,oops\n")
    with pytest.raises(InputError, match=r"line 3, column 3: 'oops'"):
        load_embeddings(path, labels="label")
    path.write_text("x,label,y\n1,cat,2\n3,dog,nan\n")
    with pytest.raises(InputError, match=r"line 3, column 3 is NaN"):
        load_embeddings(path, labels="label")


def test_labels_column_missing_is_named(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("x,y\n1,2\n")
    with pytest.raises(InputError, match="no column named 'label'"):
        load_embeddings(path, labels="label")


def test_labels_field_of_jsonl_and_array_of_npz(tmp_path):
    (tmp_path / "e.jsonl").write_text('{"embedding": [1, 2], "label": 1}\n{"embedding": [3, 4], "label": true}\n')
    assert list(load_embeddings(tmp_path / "e.jsonl", labels="label").labels) == ["1", "true"]
    np.savez(tmp_path / "e.npz", embeddings=np.eye(3), labels=np.array([1.0, 0.0, 1.0]))
    s = load_embeddings(tmp_path / "e.npz", labels="labels")
    assert list(s.labels) == ["1", "0", "1"] and s.vectors.shape == (3, 3)
    np.save(tmp_path / "e.npy", np.eye(2))
    with pytest.raises(InputError, match="file of their own"):
        load_embeddings(tmp_path / "e.npy", labels="label")


@pytest.mark.parametrize("name, text, column, expected", [
    ("one.txt", "1\n0\n1\n", None, ["1", "0", "1"]),
    ("header.txt", "label\nsame\nsame\ndifferent\n", None, ["same", "same", "different"]),
    ("values-like-names.txt", "same\ndifferent\nsame\n", None, ["same", "different", "same"]),
    ("table.csv", "id,class,score\na,3,0.1\nb,4,0.2\nc,3,0.3\n", None, ["3", "4", "3"]),
    ("table.tsv", "id\tperson\nx\tann\ny\tbob\nz\tann\n", "person", ["ann", "bob", "ann"]),
])
def test_read_labels_from_text_files(tmp_path, name, text, column, expected):
    (tmp_path / name).write_text(text)
    assert read_labels(tmp_path / name, 3, column) == expected


def test_read_labels_checks_the_count_and_the_column(tmp_path):
    (tmp_path / "l.txt").write_text("1\n0\n")
    with pytest.raises(InputError, match="has 2 labels but the embeddings have 3 rows"):
        read_labels(tmp_path / "l.txt", 3)
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="say which holds the labels"):
        read_labels(tmp_path / "t.csv", 1)
    np.save(tmp_path / "l.npy", np.array([1, 0, 1]))
    assert read_labels(tmp_path / "l.npy", 3) == ["1", "0", "1"]


def test_read_labelled_pairs_by_id_and_row(tmp_path):
    s = embeddings_from_array(np.eye(3))
    s.ids = ["a", "b", "c"]
    (tmp_path / "p.csv").write_text("left,right,label\na,b,1\n2,0,0\n")
    left, right, labels = read_labelled_pairs(tmp_path / "p.csv", s)
    assert left.tolist() == [0, 2] and right.tolist() == [1, 0] and labels == ["1", "0"]
    (tmp_path / "bad.csv").write_text("a,b\n")
    with pytest.raises(InputError, match="three"):
        read_labelled_pairs(tmp_path / "bad.csv", s)


def test_a_large_array_names_its_first_non_finite_value_whichever_thread_finds_it():
    """Arrays this large are checked in chunks on the worker threads: the report is still the
    first bad value in row-major order, with every other one counted."""
    array = np.ones((300_000, 32), dtype=np.float32)  # 9.6M values: three chunks of 2^22
    array[290_000, 3] = np.nan  # third chunk
    array[150_000, 7] = np.inf  # second chunk: the first in row-major order
    array[150_001, 0] = -np.inf
    with pytest.raises(InputError, match=r"row 150000, column 7 is infinite; .*\(2 more non-finite values\)"):
        sio.embeddings_from_array(array, "big")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_is_read_as_it_comes(tmp_path):
    """`siamcli compare <(command) ...`: a pipe has no size to trust, so it is read at once."""
    import threading

    pipe = tmp_path / "vectors.csv"
    os.mkfifo(pipe)
    writer = threading.Thread(target=lambda: pipe.write_text("a,1,2\nb,3,4\n"))
    writer.start()
    loaded = sio.load_embeddings(str(pipe))
    writer.join()
    np.testing.assert_array_equal(loaded.vectors, [[1.0, 2.0], [3.0, 4.0]])
    assert list(loaded.ids) == ["a", "b"]


def test_io_errors_name_parameters_and_the_cli_shows_flags(tmp_path):
    """The library's messages mention a parameter (labels_column, input_format); the CLI shows its flag."""
    (tmp_path / "lab.csv").write_text("a,b\n1,2\n3,4\n")
    (tmp_path / "e.csv").write_text("1,0\n0,1\n")
    (tmp_path / "e.foo").write_text("1 2\n")
    with pytest.raises(InputError) as labels_error:
        read_labels(tmp_path / "lab.csv", 2)
    assert labels_error.value.param == "labels_column" and str(labels_error.value).endswith("(labels_column NAME)")
    with pytest.raises(InputError) as format_error:
        load_embeddings(tmp_path / "e.foo")
    assert format_error.value.param == "input_format" and str(format_error.value).endswith("or name one with input_format")
    labels_cli = CliRunner().invoke(cli, ["evaluate", str(tmp_path / "e.csv"), "--labels", str(tmp_path / "lab.csv")])
    assert labels_cli.exit_code == 2 and labels_cli.stdout == ""
    assert labels_cli.stderr == f"Error: {tmp_path / 'lab.csv'}: has columns a, b; say which holds the labels (--labels-column NAME)\n"
    format_cli = CliRunner().invoke(cli, ["compare", str(tmp_path / "e.foo"), str(tmp_path / "e.foo")])
    assert format_cli.exit_code == 2 and format_cli.stderr.startswith(
        f"Error: {tmp_path / 'e.foo'}: unknown file type ('.foo'); known: ")
    assert format_cli.stderr.endswith("; or name one with --input-format\n")
    for fmt in FORMATS.values():  # every format: its suffixes, or its name for a folder format
        assert all(f" {s} " in format_cli.stderr or f" {s}" in format_cli.stderr for s in fmt.suffixes)
        assert fmt.folder is None or fmt.name in format_cli.stderr


@pytest.mark.parametrize("first", ["0x1F", "abc", "1e"])
def test_read_csv_one_text_cell_over_a_column_of_numbers_is_an_error_naming_it(tmp_path, first):
    path = tmp_path / "e.csv"
    path.write_text(f"{first},2,3\n1,2,3\n4,5,6\n")
    with pytest.raises(InputError, match=r"line 1, column 1: .* is not a number, and column 1 holds numbers"):
        sio.load_embeddings(path)
    (tmp_path / "ids.csv").write_text(f"id,x,y\n{first},2,3\n1,2,3\n4,5,6\n")  # named in a header: ids
    loaded = sio.load_embeddings(tmp_path / "ids.csv")
    assert loaded.ids == [first, "1", "4"] and loaded.vectors.tolist() == [[2, 3], [2, 3], [5, 6]]
    (tmp_path / "text.csv").write_text(f"{first},2,3\nb,2,3\n")  # text ids throughout
    assert sio.load_embeddings(tmp_path / "text.csv").ids == [first, "b"]

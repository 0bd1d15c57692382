"""Parquet, Arrow IPC / Feather and Hugging Face `datasets` folders, written by the libraries people
use (pandas, polars, pyarrow, datasets) and checked bit for bit against the .npy of the same values.

Positions: rows are 0-based, as numpy formats give them; element numbers are 0-based within a list.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from siamcli.errors import InputError, UsageError
from siamcli.io import load_embeddings

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
feather = pytest.importorskip("pyarrow.feather")
pd = pytest.importorskip("pandas")

from test_cli import invoke, strict_json  # noqa: E402  (after the skips: test_cli needs nothing of them)

ROWS, DIM = 40, 16
VECTORS = np.random.default_rng(15).standard_normal((ROWS, DIM)).astype(np.float32)
IDS = [f"doc-{i}" for i in range(ROWS)]
TEXTS = [f"sentence number {i}" for i in range(ROWS)]
LABELS = [i % 3 for i in range(ROWS)]


def assert_bits(actual: np.ndarray, expected: np.ndarray) -> None:
    """Same type, shape and bits (the sign of zero and every NaN payload included)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    assert actual.tobytes() == expected.tobytes()


def npy_twin(tmp: Path, array: np.ndarray) -> np.ndarray:
    """The array as siamcli reads its .npy: the reference every container must equal."""
    np.save(tmp / "twin.npy", array)
    return load_embeddings(tmp / "twin.npy").vectors


def error_of(path, **options) -> str:
    with pytest.raises(InputError) as info:
        load_embeddings(path, **options)
    return str(info.value)


def table(vectors=VECTORS, ids=None, **columns) -> "pa.Table":
    """id (default: IDS), a fixed-size-list 'embedding' column of `vectors` and any other columns."""
    flat = pa.array(np.ascontiguousarray(vectors).ravel())
    ids = IDS[: len(vectors)] if ids is None else ids
    return pa.table({"id": ids, "embedding": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]), **columns})


def write_ipc(path: Path, data: "pa.Table", *, stream: bool, rows_per_batch: int = 7) -> Path:
    """An Arrow IPC file or stream of several record batches (the last one short)."""
    with pa.OSFile(str(path), "wb") as sink:
        opener = pa.ipc.new_stream if stream else pa.ipc.new_file
        with opener(sink, data.schema) as writer:
            writer.write_table(data, max_chunksize=rows_per_batch)
    return path


# ---------------------------------------------------------------- what people write, read back exactly


def test_read_parquet_pandas_list_column_gives_the_npy_vectors_ids_labels_and_fields(tmp_path):
    frame = pd.DataFrame({"id": IDS, "embedding": list(VECTORS), "text": TEXTS, "label": LABELS})
    frame.to_parquet(tmp_path / "docs.parquet", index=False)
    loaded = load_embeddings(tmp_path / "docs.parquet", labels="label", fields=("text",))
    assert_bits(loaded.vectors, npy_twin(tmp_path, VECTORS))
    assert list(loaded.ids) == IDS
    assert list(loaded.labels) == [str(x) for x in LABELS]
    assert loaded.fields == {"text": TEXTS}
    assert loaded.format == "parquet"


def test_read_parquet_pandas_numeric_columns_are_the_dimensions_and_id_is_not(tmp_path):
    frame = pd.DataFrame(VECTORS.astype(np.float64), columns=[f"e{j}" for j in range(DIM)])
    frame.insert(0, "id", np.arange(100, 100 + ROWS))  # integer ids become text
    frame["text"] = TEXTS
    frame.to_parquet(tmp_path / "wide.parquet")
    loaded = load_embeddings(tmp_path / "wide.parquet")
    assert_bits(loaded.vectors, npy_twin(tmp_path, VECTORS.astype(np.float64)))
    assert list(loaded.ids) == [str(i) for i in range(100, 100 + ROWS)]


def test_read_parquet_pandas_index_column_is_not_a_dimension(tmp_path):
    frame = pd.DataFrame(VECTORS, columns=[f"e{j}" for j in range(DIM)], index=[f"i{k}" for k in range(ROWS)])
    frame.to_parquet(tmp_path / "indexed.parquet")  # the index is written as '__index_level_0__'
    assert "__index_level_0__" in pq.read_schema(tmp_path / "indexed.parquet").names
    assert_bits(load_embeddings(tmp_path / "indexed.parquet").vectors, npy_twin(tmp_path, VECTORS))


def test_read_parquet_columns_by_pattern_in_file_order_and_by_list_in_given_order(tmp_path):
    frame = pd.DataFrame(VECTORS[:, :4], columns=["e1", "x", "e0", "e2"])
    frame.to_parquet(tmp_path / "mixed.parquet")
    assert_bits(load_embeddings(tmp_path / "mixed.parquet", columns="e*").vectors, VECTORS[:, [0, 2, 3]])
    assert_bits(load_embeddings(tmp_path / "mixed.parquet", columns="e2, x").vectors, VECTORS[:, [3, 1]])


@pytest.mark.parametrize("polars_type", ["array", "list"])
def test_read_parquet_written_by_polars(tmp_path, polars_type):
    pl = pytest.importorskip("polars")
    column = pl.Series("emb", VECTORS) if polars_type == "array" else \
        pl.Series("emb", VECTORS.tolist(), dtype=pl.List(pl.Float32))
    pl.DataFrame({"id": IDS, "emb": column, "text": TEXTS}).write_parquet(tmp_path / "polars.parquet")
    loaded = load_embeddings(tmp_path / "polars.parquet", fields=("text",))
    assert_bits(loaded.vectors, npy_twin(tmp_path, VECTORS))
    assert list(loaded.ids) == IDS and loaded.fields == {"text": TEXTS}


@pytest.mark.parametrize("value_type, expected_dtype", [
    ("float16", np.float32), ("float32", np.float32), ("float64", np.float64), ("int16", np.float64),
    ("uint64", np.float64)])
def test_read_parquet_list_values_in_their_natural_float_type(tmp_path, value_type, expected_dtype):
    values = (np.abs(VECTORS) * 100).astype(value_type)
    data = pa.table({"embedding": pa.array(list(values), pa.list_(pa.from_numpy_dtype(np.dtype(value_type))))})
    pq.write_table(data, tmp_path / "typed.parquet")
    loaded = load_embeddings(tmp_path / "typed.parquet")
    assert_bits(loaded.vectors, values.astype(expected_dtype))  # every value exact in the wider type


def test_read_parquet_many_row_groups_and_large_lists(tmp_path):
    data = pa.table({"id": IDS, "embedding": pa.array(list(VECTORS), pa.large_list(pa.float32()))})
    pq.write_table(data, tmp_path / "groups.parquet", row_group_size=3)
    assert pq.ParquetFile(tmp_path / "groups.parquet").metadata.num_row_groups == 14
    loaded = load_embeddings(tmp_path / "groups.parquet")
    assert_bits(loaded.vectors, VECTORS)
    assert list(loaded.ids) == IDS


def test_read_parquet_categorical_ids_and_labels(tmp_path):
    frame = pd.DataFrame({"id": pd.Categorical(IDS), "embedding": list(VECTORS),
                          "label": pd.Categorical(["cat", "dog"] * (ROWS // 2))})
    frame.to_parquet(tmp_path / "cat.parquet", index=False)
    loaded = load_embeddings(tmp_path / "cat.parquet", labels="label")
    assert list(loaded.ids) == IDS and list(loaded.labels) == ["cat", "dog"] * (ROWS // 2)


def test_read_parquet_id_column_option_names_the_ids(tmp_path):
    pq.write_table(table(key=[f"k{i}" for i in range(ROWS)]), tmp_path / "keys.parquet")
    assert list(load_embeddings(tmp_path / "keys.parquet", id_column="key").ids) == [f"k{i}" for i in range(ROWS)]


@pytest.mark.parametrize("compression", ["lz4", "zstd", "uncompressed"])
def test_read_feather_written_by_pyarrow(tmp_path, compression):
    feather.write_feather(table(text=TEXTS), tmp_path / "docs.feather", compression=compression)
    loaded = load_embeddings(tmp_path / "docs.feather", fields=("text",))
    assert_bits(loaded.vectors, npy_twin(tmp_path, VECTORS))
    assert list(loaded.ids) == IDS and loaded.fields == {"text": TEXTS}
    assert loaded.format == "arrow"


def test_read_feather_uncompressed_single_batch_is_the_mapped_file_itself(tmp_path):
    feather.write_feather(table(), tmp_path / "mapped.feather", compression="uncompressed")
    vectors = load_embeddings(tmp_path / "mapped.feather").vectors
    assert not vectors.flags.owndata and not vectors.flags.writeable  # a view of the memory map, not a copy
    assert_bits(vectors, VECTORS)


@pytest.mark.parametrize("stream", [False, True], ids=["file", "stream"])
def test_read_arrow_ipc_of_several_batches(tmp_path, stream):
    path = write_ipc(tmp_path / "batches.arrow", table(label=LABELS), stream=stream)
    assert path.read_bytes().startswith(b"\xff\xff\xff\xff" if stream else b"ARROW1")
    loaded = load_embeddings(path, labels="label")
    assert_bits(loaded.vectors, npy_twin(tmp_path, VECTORS))
    assert list(loaded.ids) == IDS and list(loaded.labels) == [str(x) for x in LABELS]


def test_read_arrow_wide_numeric_columns(tmp_path):
    columns = {f"d{j}": VECTORS[:, j] for j in range(DIM)}
    write_ipc(tmp_path / "wide.arrow", pa.table({"id": IDS, **columns}), stream=False)
    assert_bits(load_embeddings(tmp_path / "wide.arrow").vectors, VECTORS)


def parquet_bytes(data) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(data, sink)
    return sink.getvalue().to_pybytes()


def ipc_bytes(data, stream: bool) -> bytes:
    sink = pa.BufferOutputStream()
    with (pa.ipc.new_stream if stream else pa.ipc.new_file)(sink, data.schema) as writer:
        writer.write_table(data, max_chunksize=9)
    return sink.getvalue().to_pybytes()


ENCODED = {
    "parquet": lambda: parquet_bytes(table()),
    "arrow-file": lambda: ipc_bytes(table(), stream=False),
    "arrow-stream": lambda: ipc_bytes(table(), stream=True),
}


@pytest.mark.parametrize("kind", sorted(ENCODED))
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_read_columnar_from_stdin_is_sniffed(kind, gz):
    data = ENCODED[kind]()
    loaded = load_embeddings("-", stdin=io.BytesIO(gzip.compress(data) if gz else data))
    assert_bits(loaded.vectors, VECTORS)
    assert list(loaded.ids) == IDS
    assert loaded.format == ("parquet" if kind == "parquet" else "arrow")


@pytest.mark.parametrize("kind, suffix", [("parquet", ".parquet.gz"), ("arrow-stream", ".arrow.gz")])
def test_read_columnar_gzip_files(tmp_path, kind, suffix):
    path = tmp_path / f"data{suffix}"
    path.write_bytes(gzip.compress(ENCODED[kind]()))
    assert_bits(load_embeddings(path).vectors, VECTORS)


# ---------------------------------------------------------------- Hugging Face datasets folders


def save_dataset(path: Path, shards: int = 3, **columns) -> Path:
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    datasets.Dataset.from_dict({"id": IDS, "embedding": VECTORS, **columns}).save_to_disk(str(path), num_shards=shards)
    return path


def test_read_hf_dataset_saved_by_datasets(tmp_path):
    path = save_dataset(tmp_path / "ds", text=TEXTS, label=LABELS)
    assert len(list(path.glob("data-*.arrow"))) == 3
    loaded = load_embeddings(path, labels="label", fields=("text",))
    assert_bits(loaded.vectors, npy_twin(tmp_path, VECTORS))
    assert list(loaded.ids) == IDS and loaded.fields == {"text": TEXTS}
    assert list(loaded.labels) == [str(x) for x in LABELS]
    assert loaded.format == "hf-dataset"


def test_read_hf_dataset_fixed_length_sequence_feature(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    features = datasets.Features({"id": datasets.Value("string"),
                                  "embedding": datasets.Sequence(datasets.Value("float32"), length=DIM)})
    datasets.Dataset.from_dict({"id": IDS, "embedding": VECTORS}, features=features).save_to_disk(str(tmp_path / "ds"))
    assert_bits(load_embeddings(tmp_path / "ds").vectors, VECTORS)


def test_read_hf_dataset_follows_the_order_state_json_lists(tmp_path):
    path = save_dataset(tmp_path / "ds", shards=2)
    state = json.loads((path / "state.json").read_text())
    state["_data_files"].reverse()  # the second shard's rows first
    (path / "state.json").write_text(json.dumps(state))
    half = ROWS // 2
    loaded = load_embeddings(path)
    assert_bits(loaded.vectors, np.concatenate([VECTORS[half:], VECTORS[:half]]))
    assert list(loaded.ids) == IDS[half:] + IDS[:half]


def test_read_hf_dataset_without_state_json_reads_shards_by_name_and_skips_cache_files(tmp_path):
    folder = tmp_path / "layout"
    folder.mkdir()
    (folder / "dataset_info.json").write_text(json.dumps({"features": {}}))
    write_ipc(folder / "data-00001-of-00002.arrow", table(VECTORS[20:], IDS[20:]), stream=True)
    write_ipc(folder / "data-00000-of-00002.arrow", table(VECTORS[:20]), stream=True)
    write_ipc(folder / "cache-0123abcd.arrow", table(VECTORS[:3] + 1), stream=True)  # left by .map()
    loaded = load_embeddings(folder)
    assert_bits(loaded.vectors, VECTORS)
    assert list(loaded.ids) == IDS


def test_read_hf_dataset_dict_names_its_splits(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    part = datasets.Dataset.from_dict({"embedding": VECTORS})
    datasets.DatasetDict(train=part, test=part).save_to_disk(str(tmp_path / "dd"))
    message = error_of(tmp_path / "dd")
    assert message == (f"{tmp_path / 'dd'}: is a Hugging Face DatasetDict of splits train, test; "
                       f"give the folder of one split (e.g. {tmp_path / 'dd' / 'train'})")
    assert_bits(load_embeddings(tmp_path / "dd" / "train").vectors, VECTORS.astype(np.float32))


def test_read_hf_dataset_shard_with_another_column_type_is_named(tmp_path):
    path = save_dataset(tmp_path / "ds", shards=2)
    shard = sorted(path.glob("data-*.arrow"))[1]
    write_ipc(shard, table(VECTORS[20:].astype(np.float64), IDS[20:]), stream=True)
    message = error_of(path)
    assert str(shard) in message and "'embedding'" in message and "double" in message


def test_read_hf_dataset_state_json_naming_a_missing_shard_is_named(tmp_path):
    path = save_dataset(tmp_path / "ds", shards=2)
    os.remove(sorted(path.glob("data-*.arrow"))[1])
    message = error_of(path)
    assert str(path) in message and "data-00001-of-00002.arrow" in message and "not in the folder" in message


def test_folder_of_arrow_files_without_dataset_files_is_not_a_dataset(tmp_path):
    (tmp_path / "loose").mkdir()
    write_ipc(tmp_path / "loose" / "a.arrow", table(), stream=False)
    message = error_of(tmp_path / "loose")
    assert "Hugging Face dataset (state.json and .arrow files)" in message


# ---------------------------------------------------------------- the command line gives the .npy's answers


@pytest.fixture
def twins(tmp_path):
    """The same vectors and ids as .npy (+ ids file), Parquet (pandas), Feather and a datasets folder."""
    np.save(tmp_path / "x.npy", VECTORS)
    (tmp_path / "ids.txt").write_text("\n".join(IDS) + "\n")
    pd.DataFrame({"id": IDS, "embedding": list(VECTORS)}).to_parquet(tmp_path / "x.parquet", index=False)
    feather.write_feather(table(), tmp_path / "x.feather")
    save_dataset(tmp_path / "x-dataset", shards=2)
    return tmp_path


@pytest.mark.parametrize("entry", ["runner", "executable"])
@pytest.mark.parametrize("name", ["x.parquet", "x.feather", "x-dataset"])
def test_cli_compare_columnar_input_answers_as_the_npy(twins, entry, name):
    expected = invoke(entry, "compare", twins / "x.npy", twins / "x.npy", "--ids", twins / "ids.txt",
                      "--b-ids", twins / "ids.txt", "-k", "3", "-f", "json")
    got = invoke(entry, "compare", twins / name, twins / "x.npy", "--b-ids", twins / "ids.txt", "-k", "3", "-f", "json")
    assert expected[0] == 0 and got == expected
    assert [r["a_id"] for r in strict_json(got[1])][::3] == IDS


BAD_ERRORS = {
    # name: (file builder, load options, fragments the one error line holds besides the file name)
    "no-numeric-column": (lambda p: pq.write_table(pa.table({"id": IDS, "text": TEXTS}), p), {},
                          ["no column of numeric lists and no numeric column", "columns: id, text"]),
    "ragged": (lambda p: pq.write_table(pa.table({"embedding": [[1.0, 2.0]] * 17 + [[1.0]] + [[3.0, 4.0]] * 2}), p),
               {}, ["row 17", "'embedding'", "holds 1 value but row 0 holds 2"]),
    "null-list": (lambda p: pq.write_table(pa.table({"embedding": [[1.0, 2.0]] * 5 + [None] + [[3.0, 4.0]]}), p),
                  {}, ["row 5", "'embedding' is null"]),
    "null-element": (lambda p: pq.write_table(pa.table({"embedding": [[1.0, 2.0]] * 3 + [[1.0, None]]}), p),
                     {}, ["row 3, element 1 of column 'embedding' is null"]),
    "null-in-column": (lambda p: pq.write_table(pa.table({"a": [1.0, 2.0, None], "b": [1.0, 2.0, 3.0]}), p),
                       {}, ["row 2", "'a' is null"]),
    "nan": (lambda p: pq.write_table(pa.table({"embedding": [[1.0, 2.0], [float("nan"), 1.0]]}), p),
            {}, ["row 1, element 0 of column 'embedding' is NaN"]),
    "text-column": (lambda p: pq.write_table(table(text=TEXTS), p), {"column": "text"},
                    ["column 'text' holds text", "not lists of numbers"]),
    "text-in-columns": (lambda p: pq.write_table(pa.table({"a": [1.0], "text": ["x"]}), p), {"columns": "a,text"},
                        ["column 'text' holds text"]),
    "several-lists": (lambda p: pq.write_table(table(other=list(VECTORS[:, :2])), p), {},
                      ["several columns of numeric lists (embedding, other)", "column"]),
    "missing-id-column": (lambda p: pq.write_table(table(), p), {"id_column": "doc"},
                          ["no column 'doc'", "columns: id, embedding"]),
    "missing-field": (lambda p: pq.write_table(pa.table({f"c{i}": [1.0] for i in range(12)}), p),
                      {"fields": ("title",)}, ["no column 'title'", "c0, c1, c2, c3, c4, c5, c6, c7 and 4 more"]),
    "no-match": (lambda p: pq.write_table(table(), p), {"columns": "z*"}, ["no column matches 'z*'"]),
    "null-id": (lambda p: pq.write_table(pa.table({"id": ["a", None], "embedding": [[1.0], [2.0]]}), p),
                {}, ["row 1", "'id' is null"]),
}


@pytest.mark.parametrize("name", sorted(BAD_ERRORS))
def test_read_parquet_bad_table_is_one_error_naming_file_row_and_column(tmp_path, name):
    build, options, fragments = BAD_ERRORS[name]
    path = tmp_path / f"{name}.parquet"
    build(path)
    message = error_of(path, **options)
    assert message.startswith(f"{path}: ") and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_read_parquet_column_and_columns_together_are_a_usage_error(tmp_path):
    pq.write_table(table(), tmp_path / "t.parquet")
    with pytest.raises(UsageError):
        load_embeddings(tmp_path / "t.parquet", column="embedding", columns="e*")


def test_read_parquet_numeric_column_named_as_list_column_points_to_columns(tmp_path):
    pq.write_table(pa.table({"a": [1.0, 2.0], "b": [3.0, 4.0]}), tmp_path / "t.parquet")
    assert "holds numbers (double), not lists of numbers; name numeric columns with columns" in \
        error_of(tmp_path / "t.parquet", column="a")


def test_read_parquet_error_quotes_at_most_80_characters_of_a_name(tmp_path):
    long = "n" * 500
    pq.write_table(pa.table({long: ["x"]}), tmp_path / "t.parquet")
    assert long[:100] not in error_of(tmp_path / "t.parquet", column=long)


def truncated(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


TRUNCATED = {
    "parquet": (".parquet", lambda: truncated(parquet_bytes(table())), "not a valid Parquet file ("),
    "feather": (".feather", lambda: truncated(ipc_bytes(table(), stream=False)), "not a valid Arrow IPC file ("),
    "stream": (".arrow", lambda: truncated(ipc_bytes(table(), stream=True)), "not a valid Arrow IPC stream ("),
    "not-parquet": (".parquet", lambda: b"id,x\n1,2\n", "not a Parquet file (no PAR1 header)"),
    "not-arrow": (".feather", lambda: b"PAR1" + bytes(64), "not an Arrow IPC file or stream"),
}


@pytest.mark.parametrize("entry", ["runner", "executable"])
@pytest.mark.parametrize("name", sorted(TRUNCATED))
def test_cli_damaged_columnar_file_is_one_error_line(tmp_path, entry, name):
    suffix, make, fragment = TRUNCATED[name]
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(make())
    code, out, err = invoke(entry, "compare", path, path, "-f", "json")
    assert (code, out) == (2, "")
    assert err.startswith(f"Error: {path}: {fragment}") and err.endswith("\n") and err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_cli_bad_parquet_table_is_one_error_line(tmp_path, entry):
    path = tmp_path / "ragged.parquet"
    BAD_ERRORS["ragged"][0](path)
    code, out, err = invoke(entry, "compare", path, path)
    assert (code, out) == (2, "")
    assert err == (f"Error: {path}: row 17: column 'embedding' holds 1 value but row 0 holds 2; "
                   "every vector must have the same length\n")


# ---------------------------------------------------------------- without pyarrow


@pytest.mark.parametrize("kind", ["parquet", "feather", "dataset"])
def test_read_columnar_without_pyarrow_names_the_extra(tmp_path, monkeypatch, kind):
    path = {"parquet": tmp_path / "x.parquet", "feather": tmp_path / "x.feather", "dataset": tmp_path / "ds"}[kind]
    if kind == "parquet":
        pq.write_table(table(), path)
    elif kind == "feather":
        feather.write_feather(table(), path)
    else:
        path.mkdir()
        (path / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
        write_ipc(path / "data-00000-of-00001.arrow", table(), stream=True)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` now raises ImportError(name='pyarrow')
    name = {"parquet": "parquet", "feather": "arrow", "dataset": "hf-dataset"}[kind]
    assert error_of(path) == f"{path}: reading {name} files needs pyarrow; pip install 'siamcli[parquet]'"


@pytest.mark.slow
def test_cli_start_up_does_not_import_pyarrow():
    code = "import sys, siamcli.cli, siamcli.io; assert 'pyarrow' not in sys.modules, 'pyarrow imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ---------------------------------------------------------------- exact round trips (hypothesis)

FLOATS = st.sampled_from([np.float32, np.float64]).flatmap(lambda dtype: arrays(
    dtype, st.tuples(st.integers(1, 12), st.integers(1, 9)),
    elements=st.floats(allow_nan=False, allow_infinity=False, width=np.dtype(dtype).itemsize * 8)))


@settings(max_examples=40, deadline=None)
@given(array=FLOATS, writer=st.sampled_from(["pandas-parquet", "wide-parquet", "feather", "stream"]))
def test_read_columnar_round_trips_random_arrays_bit_for_bit(array, writer):
    sink = io.BytesIO()
    data = pa.table({"embedding": pa.FixedSizeListArray.from_arrays(pa.array(array.ravel()), array.shape[1])})
    if writer == "pandas-parquet":
        pd.DataFrame({"embedding": list(array)}).to_parquet(sink, index=False)
    elif writer == "wide-parquet":
        pd.DataFrame(array, columns=[f"e{j}" for j in range(array.shape[1])]).to_parquet(sink)
    elif writer == "feather":
        feather.write_feather(data, sink)
    else:
        sink.write(ipc_bytes(data, stream=True))
    loaded = load_embeddings("-", stdin=io.BytesIO(sink.getvalue()))
    assert_bits(loaded.vectors, array)


# ---------------------------------------------------------------- memory

MEMORY_PROBE = textwrap.dedent("""
    import json, sys, tracemalloc
    import pyarrow as pa
    from siamcli.io import load_embeddings
    tracemalloc.start()
    vectors = load_embeddings(sys.argv[1]).vectors
    print(json.dumps({"bytes": vectors.nbytes, "numpy_peak": tracemalloc.get_traced_memory()[1],
                      "arrow_peak": pa.default_memory_pool().max_memory()}))
""")


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["list", "wide"])
def test_read_parquet_50000_x_384_float32_allocates_at_most_twice_the_array(tmp_path, layout):
    """numpy's peak (tracemalloc) plus pyarrow's (its memory pool; tracemalloc does not see it) in a
    fresh process, for a file of one row group (pandas' default), the worst case for memory."""
    vectors = np.random.default_rng(0).standard_normal((50_000, 384)).astype(np.float32)
    if layout == "list":
        frame = pd.DataFrame({"id": [f"r{i}" for i in range(len(vectors))], "embedding": list(vectors)})
    else:
        frame = pd.DataFrame(vectors, columns=[f"e{j}" for j in range(384)])
    frame.to_parquet(tmp_path / "big.parquet", index=False)
    assert pq.ParquetFile(tmp_path / "big.parquet").metadata.num_row_groups == 1
    done = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(tmp_path / "big.parquet")],
                          capture_output=True, text=True, timeout=300, check=True)
    figures = json.loads(done.stdout)
    assert figures["bytes"] == vectors.nbytes
    assert figures["numpy_peak"] + figures["arrow_peak"] <= 2 * vectors.nbytes, figures


def test_gather_reads_sliced_batches_of_lists_and_columns():
    """pyarrow may hand over arrays that are slices of larger buffers (an offset into them)."""
    from siamcli.io import columnar
    from siamcli.io.embeddings import ReadOptions

    lists = pa.table({"id": IDS, "embedding": pa.array(list(VECTORS), pa.list_(pa.float32()))})
    wide = pa.table({"id": IDS, **{f"e{j}": VECTORS[:, j] for j in range(DIM)}})
    for data in (lists, wide):
        batches = [data.slice(start, 9).to_batches()[0] for start in range(0, ROWS, 9)]
        assert batches[1].column(1).offset == 9  # slices, not copies
        plan = columnar.plan_columns(pa, data.schema, ReadOptions(), "t")
        parsed = columnar.gather(batches, ROWS, plan, "t")
        assert_bits(parsed.array, VECTORS)
        assert parsed.ids == IDS


@pytest.mark.parametrize("kind", sorted(ENCODED))
def test_read_columnar_column_name_that_is_not_utf8_is_an_input_error(tmp_path, kind):
    """Names are UTF-8 in both formats; pyarrow raises UnicodeDecodeError on one that is not."""
    data = pa.table({"\u00e9mbedding": pa.array(list(VECTORS), pa.list_(pa.float32()))})
    encoded = parquet_bytes(data) if kind == "parquet" else ipc_bytes(data, stream=kind == "arrow-stream")
    assert b"\xc3\xa9mbedding" in encoded
    path = tmp_path / ("bad.parquet" if kind == "parquet" else "bad.arrow")
    path.write_bytes(encoded.replace(b"\xc3\xa9mbedding", b"\x94\xa9mbedding"))
    message = error_of(path)
    assert message.startswith(f"{path}: not a valid ") and "\n" not in message

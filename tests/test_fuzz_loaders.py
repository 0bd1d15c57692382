"""Fuzzing the loaders: given any bytes, every loader returns its result or raises InputError.

Runs with load_embeddings' safety net off (CATCH_READER_ERRORS), so a reader's own bug shows as
the exception it is instead of a polite InputError. Hypothesis with a fixed budget
(derandomize: the same examples every run): random bytes, and mutations of a valid file of each
format (truncated, bytes flipped, delimiters, quotes, CR, NUL and huge numbers inserted). A larger
budget and an atheris run per format are marked slow.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import siamcli.io as sio
from siamcli.errors import InputError

FAST = settings(max_examples=25, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW = settings(max_examples=1500, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LIMIT = 2**20  # a 1 MiB ceiling: decompression bombs made by mutation stop early


@contextlib.contextmanager
def reader_bugs_raised():
    """Switch off load_embeddings' safety net (a context manager: hypothesis and function fixtures do not mix)."""
    saved = sio.loading.CATCH_READER_ERRORS
    sio.loading.CATCH_READER_ERRORS = False
    try:
        yield
    finally:
        sio.loading.CATCH_READER_ERRORS = saved


def seed_files() -> dict[str, bytes]:
    """A small valid file of each format, with ids, a header, quoting and comments where it has them."""
    values = np.array([[0.5, -1.25, 3.0], [1e-300, 2.5e10, -0.0]])
    ids = np.array(["a", "b,c"])
    npy, npz = io.BytesIO(), io.BytesIO()
    np.save(npy, values)
    np.savez_compressed(npz, embeddings=values, ids=ids, labels=np.array([1, 0]))
    return {
        "npy": npy.getvalue(),
        "npz": npz.getvalue(),
        "csv": b'# comment, "quoted\nid,x,y,z,label\na,0.5,-1.25,3.0,1\n"b,c",1e-300,2.5e10,-0.0,0\n',
        "tsv": b"id\tx\ty\tz\tlabel\r\na\t0.5\t-1.25\t3\t1\r\nb\t1e-300\t2.5e10\t-0\t0\r\n",
        "txt": b"# comment\nx y z label\n0.5 -1.25 3.0 1\n1e-300 2.5e10 -0.0 0\n",
        "jsonl": b'{"id": "a", "embedding": [0.5, -1.25, 3.0], "label": 1}\n'
                 b'{"id": "b", "embedding": [1e-300, 2.5e10, -0.0], "label": 0}\n',
        "json": json.dumps([{"id": "a", "vector": [0.5, -1.25, 3.0], "label": 1},
                            {"id": "b", "vector": [1e-300, 2.5e10, -0.0], "label": 0}]).encode(),
        **arrow_seeds(values, ids),
        "safetensors": safetensors_seed(values),
        "hdf5": hdf5_seed(values, ids),
        "pytorch": (Path(__file__).resolve().parent / "data" / "torch" / "dict.pt").read_bytes(),  # torch.save's
    }


def safetensors_seed(values) -> bytes:
    """Tensors of several dtypes and shapes, with metadata, as safetensors' numpy API writes them."""
    from safetensors.numpy import save

    return save({"embeddings": values, "half": np.array([0.5, -1.25, 3.0], dtype=np.float16), "counts": np.arange(4, dtype=np.int32)},
                metadata={"model": "seed"})


def hdf5_seed(values, ids) -> bytes:
    """A contiguous 2-D dataset with ids and labels beside it, and a chunked gzip-compressed one."""
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as file:
        group = file.create_group("emb")
        group["vectors"] = values
        group.create_dataset("ids", data=list(ids), dtype=h5py.string_dtype())
        group["label"] = np.array([1, 0])
        file.create_dataset("extra", data=np.arange(40.0), chunks=(8,), compression="gzip")
    return buf.getvalue()


def arrow_seeds(values: np.ndarray, ids: np.ndarray) -> dict[str, bytes]:
    """Parquet and Arrow IPC (an uncompressed file: mutations then reach the data, not lz4's checks)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"id": ids, "embedding": pa.array(values.tolist(), pa.list_(pa.float64())),
                      "label": [1, 0], "text": ["x", None]})
    parquet, arrow = pa.BufferOutputStream(), pa.BufferOutputStream()
    pq.write_table(table, parquet, row_group_size=1)
    with pa.ipc.new_file(arrow, table.schema) as writer:
        writer.write_table(table, max_chunksize=1)
    return {"parquet": parquet.getvalue().to_pybytes(), "arrow": arrow.getvalue().to_pybytes()}


SEEDS = seed_files()
FORMAT_NAMES = sorted(name for name, f in sio.FORMATS.items() if f.folder is None)  # byte streams
TOKENS = [b",", b"\t", b" ", b'"', b"'", b"\r", b"\n", b"\r\n", b"\x00", b"#", b"[", b"]", b"{", b"}", b":",
          b"1e400", b"-1e-400", b"9" * 400, b"9" * 5000, b"nan", b"Infinity", b"1_0", "\u0661".encode(), b"0x1F",
          b"\xff\xfe", b"\xef\xbb\xbf", b"PK\x03\x04", b"\x93NUMPY", b"\x1f\x8b", b"[" * 3000, b'"id"', b"null",
          b"true", b"-", b".", b"e"]


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """`data` with a few random edits: truncation, flipped bytes, inserted tokens, deleted or repeated runs."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        edit = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "repeat"]))
        at = draw(st.integers(0, len(data))) if data else 0
        if edit == "truncate":
            del data[at:]
        elif edit == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        elif edit == "insert":
            data[at:at] = draw(st.sampled_from(TOKENS) | st.binary(min_size=1, max_size=8))
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif edit == "repeat":
            run = bytes(data[at : at + draw(st.integers(1, 32))])
            data[at:at] = run * draw(st.integers(1, 50))
    return bytes(data)


def inputs(fmt: str):
    """Random bytes, or a mutation of the format's seed (plain, or gzipped before or after the edits)."""
    seed = SEEDS[fmt]
    return st.one_of(
        st.binary(max_size=512),
        mutated(seed),
        mutated(gzip.compress(seed, mtime=0)),
        mutated(seed).map(lambda data: gzip.compress(data, mtime=0)),
    )


def must_load_or_refuse(load) -> None:
    with reader_bugs_raised():
        try:
            result = load()
        except InputError as exc:
            message = str(exc)
            assert message and "\x1b" not in message and "\x00" not in message
            return
    vectors = result.vectors if hasattr(result, "vectors") else None
    if vectors is not None:
        assert vectors.ndim == 2 and vectors.shape[0] >= 1 and vectors.shape[1] >= 1
        assert np.isfinite(np.asarray(vectors, dtype=np.float64)).all()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _path_for(folder: Path, fmt: str, data: bytes) -> Path:
    suffix = sio.FORMATS[fmt].suffixes[0] + (".gz" if data.startswith(b"\x1f\x8b") else "")
    path = folder / f"input{suffix}"
    path.write_bytes(data)
    return path


def run_stdin(fmt: str, data: bytes) -> None:
    must_load_or_refuse(lambda: sio.load_embeddings("-", input_format=fmt, stdin=io.BytesIO(data),
                                                    max_input_size=LIMIT))


def run_path(folder: Path, fmt: str, data: bytes, mapped: bool = False) -> None:
    """From a file named for `fmt` (gzipped when `data` is), asking for its labels where it can
    hold them; `mapped`: every .npy takes the memory-mapped path."""
    path = _path_for(folder, fmt, data)
    labels = None if fmt == "npy" else "labels" if fmt == "npz" else "label"
    saved = sio.arrays.MMAP_THRESHOLD_BYTES
    sio.arrays.MMAP_THRESHOLD_BYTES = 0 if mapped else saved
    try:
        must_load_or_refuse(lambda: sio.load_embeddings(path, max_input_size=LIMIT, labels=labels))
        must_load_or_refuse(lambda: sio.load_embeddings(path, max_input_size=LIMIT))
    finally:
        sio.arrays.MMAP_THRESHOLD_BYTES = saved


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@FAST
@given(data=st.data())
def test_load_embeddings_from_stdin_loads_or_refuses_any_bytes(fmt, data):
    run_stdin(fmt, data.draw(inputs(fmt)))


@FAST
@given(data=st.data())
def test_load_embeddings_sniffing_stdin_loads_or_refuses_any_bytes(data):
    fmt = data.draw(st.sampled_from(FORMAT_NAMES))
    raw = data.draw(inputs(fmt))
    must_load_or_refuse(lambda: sio.load_embeddings("-", stdin=io.BytesIO(raw), max_input_size=LIMIT))


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@FAST
@given(data=st.data())
def test_load_embeddings_from_a_path_loads_or_refuses_any_bytes(folder, fmt, data):
    run_path(folder, fmt, data.draw(inputs(fmt)), mapped=data.draw(st.booleans()))


SIDE_FILES = {
    "ids": lambda path: sio.read_ids(path, 2, max_input_size=LIMIT),
    "labels-txt": lambda path: sio.read_labels(path, 2, max_input_size=LIMIT),
    "labels-column": lambda path: sio.read_labels(path, 2, "label", max_input_size=LIMIT),
    "pairs": lambda path: sio.read_pairs(path, PAIR_SET, PAIR_SET, max_input_size=LIMIT),
    "labelled-pairs": lambda path: sio.read_labelled_pairs(path, PAIR_SET, max_input_size=LIMIT),
}
SIDE_SUFFIXES = {"ids": ".txt", "labels-txt": ".txt", "labels-column": ".csv", "pairs": ".csv",
                 "labelled-pairs": ".tsv"}
PAIR_SET = sio.EmbeddingSet(np.eye(3), ["a", "b", "c"], "pairs-set")
SIDE_SEEDS = {"ids": b"a\nb\n", "labels-txt": b"label\nsame\ndifferent\n", "labels-column": b"id,label\na,1\nb,0\n",
              "pairs": b"left,right\na,b\n2,0\n", "labelled-pairs": b"left\tright\tlabel\na\tb\t1\n2\t0\t0\n"}


@pytest.mark.parametrize("kind", sorted(SIDE_FILES))
@FAST
@given(data=st.data())
def test_side_file_readers_load_or_refuse_any_bytes(folder, kind, data):
    raw = data.draw(st.one_of(st.binary(max_size=256), mutated(SIDE_SEEDS[kind])))
    path = folder / f"side{SIDE_SUFFIXES[kind]}"
    path.write_bytes(raw)
    with reader_bugs_raised():
        try:
            SIDE_FILES[kind](path)
        except InputError:
            pass


@pytest.mark.parametrize("fmt", ["npy", "npz", "json", "jsonl"])
@FAST
@given(data=st.data())
def test_label_files_of_binary_and_json_formats_load_or_refuse_any_bytes(folder, fmt, data):
    path = _path_for(folder, fmt, data.draw(inputs(fmt)))
    with reader_bugs_raised():
        try:
            sio.read_labels(path, 2, max_input_size=LIMIT)
        except InputError:
            pass


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@SLOW
@given(data=st.data())
def test_load_embeddings_loads_or_refuses_any_bytes_large_budget(folder, fmt, data):
    raw = data.draw(inputs(fmt))
    run_stdin(fmt, raw)
    run_path(folder, fmt, raw, mapped=data.draw(st.booleans()))


# ---------------------------------------------------------------- atheris (coverage-guided), where it installs

ATHERIS_RUNS = 3000


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_atheris_finds_no_exception_but_input_error(tmp_path, fmt):
    pytest.importorskip("atheris")
    target = Path(__file__).resolve().parent / "fuzz_loaders_atheris.py"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "seed").write_bytes(SEEDS[fmt])
    done = subprocess.run([sys.executable, str(target), fmt, f"-runs={ATHERIS_RUNS}", "-seed=1",
                           "-max_len=4096", "-rss_limit_mb=4096", str(corpus)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env=dict(os.environ, PYTHONWARNINGS="error"))
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"Done {ATHERIS_RUNS} runs" in done.stderr

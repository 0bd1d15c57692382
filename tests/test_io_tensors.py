"""Tensor containers: safetensors, HDF5 and PyTorch files, written with the libraries people use
(safetensors' numpy API, h5py, torch.save), read back bit for bit; narrow floats (float16, bfloat16)
widened exactly; every bad container one InputError naming the file (and the tensor or dataset).

Expected values come from the arrays the files were written from, from safetensors' own reader,
or from bit patterns widened here by hand, never from siamcli. The PyTorch fixtures in
tests/data/torch were written by tests/data/torch/make_fixtures.py (torch is not in the test
extra: reading them is tested where torch is installed, the message saying it is needed elsewhere).
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from safetensors.numpy import load_file, save_file
from scipy.spatial.distance import cdist

import siamcli.io as sio
from siamcli.errors import InputError
from siamcli.io import load_embeddings
from test_cli import invoke, strict_json

TORCH_DATA = Path(__file__).resolve().parent / "data" / "torch"
#: The rows every fixture of make_fixtures.py holds: arange(12) / 8 - 0.5 (exact in bfloat16 too).
FIXTURE_VALUES = np.array([[-0.5, -0.375, -0.25, -0.125], [0.0, 0.125, 0.25, 0.375], [0.5, 0.625, 0.75, 0.875]])
ROWS = np.random.default_rng(15).standard_normal((10, 6))


def load_error(path, **options) -> str:
    with pytest.raises(InputError) as info:
        load_embeddings(path, **options)
    return str(info.value)


def assert_bits(actual, expected) -> None:
    """Same dtype, shape and bits (the sign of zero included)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    assert actual.tobytes() == expected.tobytes()


def raw_safetensors(tensors: dict, header: dict | None = None) -> bytes:
    """The safetensors layout written by hand: {name: (dtype, shape, data bytes)}, tensors one after
    another; `header` replaces the header written (hostile files)."""
    entries, offset = {}, 0
    for name, (dtype, shape, blob) in tensors.items():
        entries[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
    text = json.dumps(header if header is not None else entries).encode()
    text += b" " * (-(8 + len(text)) % 8)  # the reference writer aligns the data to 8 bytes
    return len(text).to_bytes(8, "little") + text + b"".join(blob for _, _, blob in tensors.values())


def bfloat16_as_float32(patterns) -> np.ndarray:
    """bfloat16 bit patterns as the float32 whose top half they are, built from bytes with struct."""
    return np.array([struct.unpack("<f", b"\0\0" + int(p).to_bytes(2, "little"))[0] for p in patterns],
                    dtype=np.float32)


# ---------------------------------------------------------------- safetensors


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "uint16", "int64", "bool"])
@pytest.mark.parametrize("mapped", [False, True])
def test_safetensors_reads_what_safetensors_reads(tmp_path, monkeypatch, dtype, mapped):
    array = (ROWS * 40).astype(dtype)
    path = tmp_path / "e.safetensors"
    save_file({"bias": np.ones(6, dtype=np.float32), "embeddings": array}, path, metadata={"model": "m"})
    monkeypatch.setattr(sio.arrays, "MMAP_THRESHOLD_BYTES", 0 if mapped else 2**30)
    loaded = load_embeddings(path)
    assert_bits(loaded.vectors, load_file(path)["embeddings"])
    assert isinstance(loaded.vectors, np.memmap) is mapped
    assert loaded.ids is None and loaded.format == "safetensors"


def test_safetensors_float16_is_widened_exactly_to_float32(tmp_path):
    half = np.array([[0.0, -0.0, 65504.0, 6e-8], [1 / 3, -2.5, 1e-4, 7.0]], dtype=np.float16)
    save_file({"e": half}, tmp_path / "h.safetensors")
    assert_bits(load_embeddings(tmp_path / "h.safetensors").vectors, half.astype(np.float32))


def test_safetensors_bfloat16_is_widened_exactly_to_float32(tmp_path):
    rng = np.random.default_rng(3)
    patterns = rng.integers(0, 2**16, size=60, dtype=np.uint16)
    patterns = patterns[(patterns & 0x7F80) != 0x7F80][:48]  # finite: exponent not all ones
    patterns[:4] = [0x0000, 0x8000, 0x0001, 0x807F]  # zeros and subnormals
    blob = patterns.astype("<u2").tobytes()
    (tmp_path / "b.safetensors").write_bytes(raw_safetensors({"e": ("BF16", (8, 6), blob)}))
    expected = bfloat16_as_float32(patterns).reshape(8, 6)
    assert_bits(load_embeddings(tmp_path / "b.safetensors").vectors, expected)
    assert_bits(load_embeddings("-", input_format="safetensors", stdin=io.BytesIO(
        (tmp_path / "b.safetensors").read_bytes())).vectors, expected)


def test_safetensors_bfloat16_written_by_torch_reads_as_torch_widens_it(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file as save_torch

    tensor = torch.from_numpy(ROWS).to(torch.bfloat16)
    save_torch({"e": tensor}, tmp_path / "t.safetensors")
    assert_bits(load_embeddings(tmp_path / "t.safetensors").vectors, tensor.float().numpy())


def test_safetensors_key_chooses_a_tensor_and_a_lone_1d_tensor_is_one_vector(tmp_path):
    save_file({"query": ROWS[:3], "gallery": ROWS[3:], "bias": ROWS[0]}, tmp_path / "two.safetensors")
    assert_bits(load_embeddings(tmp_path / "two.safetensors", key="gallery").vectors, ROWS[3:])
    message = load_error(tmp_path / "two.safetensors")
    assert message.startswith(f"{tmp_path / 'two.safetensors'}: holds several 2-D tensors")
    assert "gallery" in message and "query" in message and "bias" not in message and "key" in message
    save_file({"v": ROWS[0]}, tmp_path / "one.safetensors")
    loaded = load_embeddings(tmp_path / "one.safetensors")
    assert loaded.single and loaded.vectors.shape == (1, 6)
    assert_bits(loaded.vectors[0], ROWS[0])


@pytest.mark.parametrize("tensors, key, fragments", [
    ({"a": np.zeros(3), "b": np.zeros(4)}, None, ["holds no 2-D tensor", "a (3)", "b (4)", "key"]),
    ({"cube": np.zeros((2, 3, 4))}, None, ["holds no 2-D tensor", "cube (2 x 3 x 4)"]),
    ({"cube": np.zeros((2, 3, 4)), "e": np.zeros((2, 2))}, "cube", ["[cube]: is a 3-D tensor (2 x 3 x 4)"]),
    ({"e": np.zeros((2, 2))}, "missing", ["no tensor named 'missing'", "tensors: e"]),
    ({"e": np.array([[1.0, np.nan]])}, None, ["row 0, column 1 is NaN"]),
])
def test_safetensors_wrong_tensors_name_the_file_and_tensor(tmp_path, tensors, key, fragments):
    path = tmp_path / "w.safetensors"
    save_file(tensors, path)
    message = load_error(path, key=key)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message


def test_safetensors_labels_go_in_a_file_of_their_own(tmp_path):
    save_file({"e": ROWS}, tmp_path / "e.safetensors")
    assert "give the labels as a file of their own" in load_error(tmp_path / "e.safetensors", labels="label")


GOOD_BLOB = np.arange(8, dtype="<f4").tobytes()
HOSTILE = {
    "offsets past the end": ({"e": {"dtype": "F32", "shape": [2, 4], "data_offsets": [0, 4096]}},
                             "does not match its data_offsets"),
    "a 2^40 shape": ({"e": {"dtype": "F32", "shape": [2**40, 4], "data_offsets": [0, 32]}},
                     "(1099511627776 x 4) of F32 does not match"),
    "a 2^40 shape and offsets to match": ({"e": {"dtype": "F32", "shape": [2**40, 4], "data_offsets": [0, 2**44]}},
                                          "tensors end at byte 17,592,186,044,416 of the data but the file holds 32"),
    "overlapping tensors": ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                             "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, "must follow one another"),
    "a negative offset": ({"e": {"dtype": "F32", "shape": [8], "data_offsets": [-8, 24]}}, "non-negative integers"),
    "a float shape": ({"e": {"dtype": "F32", "shape": [2.0, 4], "data_offsets": [0, 32]}}, "non-negative integers"),
    "an unknown dtype": ({"e": {"dtype": "F7", "shape": [8], "data_offsets": [0, 32]}}, "unknown safetensors dtype 'F7'"),
    "a list for a header": ([1, 2], "header is not a JSON object"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_safetensors_hostile_header_is_refused_before_any_allocation(tmp_path, name):
    header, fragment = HOSTILE[name]
    path = tmp_path / "h.safetensors"
    path.write_bytes(raw_safetensors({"e": ("F32", (8,), GOOD_BLOB)}, header=header))
    tracemalloc.start()
    try:
        message = load_error(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message.startswith(str(path)) and fragment in message, message
    assert peak < 2**20


@pytest.mark.parametrize("data, fragment", [
    (b"\x10\x00", "shorter than its 8-byte header length"),
    ((2**64 - 1).to_bytes(8, "little") + b'{"e": 1}', "exceeds 100 MB"),
    ((4096).to_bytes(8, "little") + b'{"e": 1}', "runs past its end"),
    ((8).to_bytes(8, "little") + b'{"e":   ', "its header is not valid JSON"),
    ((8).to_bytes(8, "little") + b"\xff\xfe{}    ", "its header is not valid JSON"),
    ((8).to_bytes(8, "little") + b"[1, 2]  ", "its header is not a JSON object"),
])
def test_safetensors_damaged_file_is_one_error_naming_it(tmp_path, data, fragment):
    path = tmp_path / "d.safetensors"
    path.write_bytes(data)
    message = load_error(path)
    assert message.startswith(f"{path}: not a safetensors file") and fragment in message


def test_safetensors_truncated_file_says_so(tmp_path):
    save_file({"e": ROWS}, tmp_path / "t.safetensors")
    data = (tmp_path / "t.safetensors").read_bytes()
    (tmp_path / "t.safetensors").write_bytes(data[:-5])
    assert "truncated or damaged" in load_error(tmp_path / "t.safetensors")


# ---------------------------------------------------------------- HDF5


def write_h5(path: Path, datasets: dict, **options) -> Path:
    """An HDF5 file of {path: array} (groups made as needed), `options` for every dataset."""
    with h5py.File(path, "w") as file:
        for name, array in datasets.items():
            file.create_dataset(name, data=array, **options)
    return path


@pytest.mark.parametrize("mapped", [False, True])
def test_hdf5_contiguous_dataset_is_memory_mapped_when_large(tmp_path, monkeypatch, mapped):
    path = write_h5(tmp_path / "c.h5", {"emb/vectors": ROWS, "emb/norms": np.linalg.norm(ROWS, axis=1)})
    monkeypatch.setattr(sio.arrays, "MMAP_THRESHOLD_BYTES", 0 if mapped else 2**30)
    loaded = load_embeddings(path)
    assert isinstance(loaded.vectors, np.memmap) is mapped
    assert_bits(loaded.vectors, ROWS)
    assert loaded.format == "hdf5"


def test_hdf5_chunked_compressed_dataset_in_a_nested_group_is_read_in_blocks(tmp_path, monkeypatch):
    rows = ROWS.astype(np.float32)
    path = write_h5(tmp_path / "z.hdf5", {"model/layer/out": rows}, chunks=(3, 6), compression="gzip", shuffle=True)
    monkeypatch.setattr(sio.hdf5, "BLOCK_BYTES", 1)  # one chunk of rows per block: 3, 3, 3, then 1
    monkeypatch.setattr(sio.arrays, "MMAP_THRESHOLD_BYTES", 0)  # compressed: never mapped
    loaded = load_embeddings(path)
    assert not isinstance(loaded.vectors, np.memmap)
    assert_bits(loaded.vectors, rows)


@pytest.mark.parametrize("ids, expected", [
    (np.array([f"r{i}".encode() for i in range(10)]), [f"r{i}" for i in range(10)]),  # fixed-length bytes
    (np.array(["é", "日本"] + [f"x{i}" for i in range(8)], dtype=h5py.string_dtype()), ["é", "日本"] + [f"x{i}" for i in range(8)]),
    (np.arange(100, 110), [str(i) for i in range(100, 110)]),
])
def test_hdf5_ids_beside_the_dataset_are_row_ids(tmp_path, ids, expected):
    path = write_h5(tmp_path / "i.h5", {"emb/vectors": ROWS, "emb/ids": ids})
    loaded = load_embeddings(path)
    assert list(loaded.ids) == expected
    assert_bits(loaded.vectors, ROWS)


def test_hdf5_ids_of_another_length_are_an_error(tmp_path):
    path = write_h5(tmp_path / "i.h5", {"vectors": ROWS, "ids": np.arange(4)})
    assert load_error(path) == f"{path}[/vectors]: has 4 ids but 10 rows"


@pytest.mark.slow  # a child process
def test_hdf5_ids_in_a_global_heap_hdf5_would_walk_forever_are_refused(tmp_path):
    """An object of index 0 and size 0 in the heap holding the ids: HDF5 1.14 loops on it forever,
    so siamcli checks the heap first (in a child process with a timeout: a regression must not hang)."""
    path = write_h5(tmp_path / "heap.h5", {"vectors": ROWS, "ids": np.array([f"row{i}" for i in range(10)],
                                                                             dtype=h5py.string_dtype())})
    data = bytearray(path.read_bytes())
    heap = data.index(b"GCOL")
    data[heap + 16 : heap + 18] = bytes(2)  # the first object's index: 0 (free space)
    data[heap + 24 : heap + 32] = bytes(8)  # its size: 0
    path.write_bytes(bytes(data))
    code = "import siamcli.io as s, sys\ntry: s.load_embeddings(sys.argv[1])\nexcept s.loading.InputError as e: print(e)"
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert done.stdout == (f"{path}[/vectors]: the 'ids' dataset beside it lies in a damaged global heap "
                           "(HDF5 would read it forever)\n"), done.stderr


def test_hdf5_labels_dataset_beside_the_vectors(tmp_path):
    path = write_h5(tmp_path / "l.h5", {"vectors": ROWS, "same": np.array([1, 0] * 5)})
    assert load_embeddings(path, labels="same").labels == ["1", "0"] * 5
    assert "no dataset 'other' beside it" in load_error(path, labels="other")


def test_hdf5_key_is_a_dataset_path_with_or_without_its_slash(tmp_path):
    path = write_h5(tmp_path / "k.h5", {"a/q": ROWS[:4], "a/g": ROWS[4:]})
    assert_bits(load_embeddings(path, key="/a/g").vectors, ROWS[4:])
    assert_bits(load_embeddings(path, key="a/q").vectors, ROWS[:4])


def test_hdf5_walk_follows_each_group_once_and_no_soft_link(tmp_path):
    with h5py.File(tmp_path / "cycle.h5", "w") as file:
        file["emb/vectors"] = ROWS
        file["emb/back"] = file["/"]  # a hard link to the root: a cycle HDF5 allows
        file["alias"] = h5py.SoftLink("/emb/vectors")
        file["elsewhere"] = h5py.ExternalLink("other.h5", "/v")
    loaded = load_embeddings(tmp_path / "cycle.h5")
    assert_bits(loaded.vectors, ROWS)


def test_hdf5_several_2d_datasets_list_the_first_eight_and_name_key(tmp_path):
    path = write_h5(tmp_path / "s.h5", {f"d{i:02}": ROWS for i in range(10)})
    message = load_error(path)
    assert message == (f"{path}: holds several 2-D datasets (/d00, /d01, /d02, /d03, /d04, /d05, /d06, /d07 "
                       "and 2 more); choose one with key")


@pytest.mark.parametrize("datasets, key, fragment", [
    ({"a/v": ROWS}, "a", "'a' is a group, not a dataset (numeric datasets: /a/v)"),
    ({"a/v": ROWS}, "/b", "'/b' is not there (numeric datasets: /a/v)"),
    ({"v": ROWS, "names": np.array([b"x", b"y"])}, "names", "[/names]: holds text, not numbers"),
    ({"cube": np.zeros((2, 3, 4))}, "cube", "[/cube]: is a 3-D dataset (2 x 3 x 4)"),
    ({"cube": np.zeros((2, 3, 4))}, None, "holds no 2-D dataset of rows (datasets: /cube (2 x 3 x 4))"),
    ({"c": np.ones((2, 2), dtype=np.complex64)}, "c", "holds complex numbers"),
])
def test_hdf5_wrong_dataset_names_file_and_dataset(tmp_path, datasets, key, fragment):
    path = write_h5(tmp_path / "w.h5", datasets)
    message = load_error(path, key=key)
    assert message.startswith(str(path)) and fragment in message, message


def test_hdf5_big_endian_and_float16_datasets_read_exactly(tmp_path, monkeypatch):
    monkeypatch.setattr(sio.arrays, "MMAP_THRESHOLD_BYTES", 0)
    path = write_h5(tmp_path / "b.h5", {"be": ROWS.astype(">f8"), "half": ROWS.astype(np.float16)})
    assert_bits(load_embeddings(path, key="be").vectors, ROWS)
    assert_bits(load_embeddings(path, key="half").vectors, ROWS.astype(np.float16).astype(np.float32))


def test_hdf5_truncated_or_foreign_file_is_one_error_naming_it(tmp_path):
    data = write_h5(tmp_path / "full.h5", {"v": ROWS}).read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    assert load_error(tmp_path / "cut.h5").startswith(f"{tmp_path / 'cut.h5'}: not a valid HDF5 file, or a damaged one (")
    (tmp_path / "npy.h5").write_bytes(b"\x93NUMPY" + bytes(100))
    assert load_error(tmp_path / "npy.h5") == f"{tmp_path / 'npy.h5'}: not an HDF5 file (no HDF5 signature at its start)"


def test_hdf5_damaged_compressed_chunk_names_the_dataset(tmp_path):
    path = write_h5(tmp_path / "d.h5", {"v": ROWS}, chunks=(5, 6), compression="gzip")
    with h5py.File(path, "r") as file:
        chunk = file["v"].id.get_chunk_info(0)
    data = bytearray(path.read_bytes())
    data[chunk.byte_offset + 4 : chunk.byte_offset + 12] = b"\xff" * 8
    path.write_bytes(bytes(data))
    message = load_error(path)
    assert message.startswith(f"{path}[/v]: cannot be read (") and message.endswith("is the file damaged?")


def test_hdf5_compressed_dataset_larger_than_the_ceiling_is_refused(tmp_path):
    path = write_h5(tmp_path / "big.h5", {"v": np.zeros((1000, 100))}, chunks=(100, 100), compression="gzip")
    message = load_error(path, max_input_size=100_000)
    assert message.startswith(f"{path}[/v]: decompresses to more than") and "max_input_size" in message


# ---------------------------------------------------------------- PyTorch


def test_pytorch_without_torch_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` fails as when it is not installed
    path = TORCH_DATA / "tensor.pt"
    assert load_error(path) == f"{path}: reading pytorch files needs torch; pip install 'siamcli[torch]'"


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("name, dtype", [("tensor.pt", np.float32), ("bfloat16.pt", np.float32),
                                         ("legacy.pt", np.float32), ("dict.pt", np.float64)])
def test_pytorch_fixtures_read_exactly(torch, name, dtype):
    loaded = load_embeddings(TORCH_DATA / name)
    assert_bits(loaded.vectors, FIXTURE_VALUES.astype(dtype))
    assert loaded.ids == (["a", "b", "c"] if name == "dict.pt" else None)


@pytest.mark.parametrize("name, key, message", [
    ("two_matrices.pt", None, "holds several 2-D tensors (query, gallery); choose one with key"),
    ("two_matrices.pt", "other", "no tensor named 'other' (tensors: query, gallery)"),
    ("tensor.pt", "embeddings", "holds one tensor, not a dict of tensors, so no 'embeddings'"),
    ("pickled_object.pt", None, "holds Python objects torch's weights_only loader refuses "
                                "(unsupported global __main__.Point); siamcli never unpickles code"),
])
def test_pytorch_wrong_contents_name_file_and_tensor(torch, name, key, message):
    path = TORCH_DATA / name
    assert load_error(path, key=key) == f"{path}: {message}"


def test_pytorch_file_that_would_run_code_is_refused_without_running_it(torch, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the pickled command would touch a file here
    message = load_error(TORCH_DATA / "runs_code.pt")
    assert "weights_only loader refuses (unsupported global posix.system)" in message
    assert not (tmp_path / "siamcli_ran_unpickled_code").exists()


def test_pytorch_key_chooses_from_a_dict_and_nested_dicts(torch, tmp_path):
    rows = torch.from_numpy(ROWS)
    torch.save({"model": {"q": rows[:4], "g": rows[4:]}, "epoch": 3}, tmp_path / "c.pth")
    assert_bits(load_embeddings(tmp_path / "c.pth", key="model/g").vectors, ROWS[4:])
    torch.save({"cube": rows.reshape(2, 5, 6)}, tmp_path / "cube.pt")
    assert load_error(tmp_path / "cube.pt", key="cube") == \
        f"{tmp_path / 'cube.pt'}[cube]: is a 3-D tensor (2 x 5 x 6); expected one vector or a 2-D array of rows"


def test_pytorch_bfloat16_and_float8_widen_as_torch_does(torch, tmp_path):
    for dtype in (torch.bfloat16, torch.float8_e4m3fn):
        tensor = torch.from_numpy(ROWS).to(dtype)
        torch.save(tensor, tmp_path / "n.pt")
        assert_bits(load_embeddings(tmp_path / "n.pt").vectors, tensor.float().numpy())


def test_pytorch_truncated_or_foreign_file_is_one_error_naming_it(torch, tmp_path):
    data = (TORCH_DATA / "tensor.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    assert load_error(tmp_path / "cut.pt").startswith(f"{tmp_path / 'cut.pt'}: not a valid PyTorch file (")
    (tmp_path / "text.pt").write_text("1,2,3\n")
    assert load_error(tmp_path / "text.pt").startswith(f"{tmp_path / 'text.pt'}: not a valid PyTorch file, or one "
                                                       "holding what torch's weights_only loader refuses (")
    torch.save([torch.ones(3)], tmp_path / "list.pt")
    assert load_error(tmp_path / "list.pt") == f"{tmp_path / 'list.pt'}: holds a list, not a tensor or a dict of tensors"


# ---------------------------------------------------------------- round trips (hypothesis)

FINITE = arrays(st.sampled_from([np.float32, np.float64]), st.tuples(st.integers(1, 12), st.integers(1, 9)),
                elements=st.floats(allow_nan=False, allow_infinity=False, width=32))


def loaded_back(write, mapped: bool) -> np.ndarray:
    """The vectors of the file `write(folder)` makes, memory-mapped or not (a context of its own:
    hypothesis and function-scoped fixtures do not mix)."""
    saved = sio.arrays.MMAP_THRESHOLD_BYTES
    sio.arrays.MMAP_THRESHOLD_BYTES = 0 if mapped else saved
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return np.array(load_embeddings(write(Path(tmp))).vectors)
    finally:
        sio.arrays.MMAP_THRESHOLD_BYTES = saved


@settings(max_examples=40, deadline=None)
@given(array=FINITE, mapped=st.booleans())
def test_safetensors_round_trips_random_arrays_bit_for_bit(array, mapped):
    def write(folder: Path) -> Path:
        save_file({"embeddings": array}, folder / "r.safetensors")
        return folder / "r.safetensors"

    assert_bits(loaded_back(write, mapped), array)


@settings(max_examples=40, deadline=None)
@given(array=FINITE, chunked=st.booleans(), mapped=st.booleans())
def test_hdf5_round_trips_random_arrays_bit_for_bit(array, chunked, mapped):
    options = {"chunks": (min(3, array.shape[0]), array.shape[1]), "compression": "gzip"} if chunked else {}
    assert_bits(loaded_back(lambda folder: write_h5(folder / "r.h5", {"g/vectors": array}, **options), mapped), array)


# ---------------------------------------------------------------- the command line


def containers(tmp_path: Path) -> dict[str, tuple[Path, np.ndarray]]:
    """Each container holding ROWS (as float32 where it narrows), and the values it holds."""
    made = {}
    save_file({"embeddings": ROWS}, tmp_path / "e.safetensors")
    made["safetensors"] = (tmp_path / "e.safetensors", ROWS)
    patterns = (ROWS.astype(np.float32).view(np.uint32) >> 16).astype("<u2")
    (tmp_path / "b.safetensors").write_bytes(raw_safetensors({"e": ("BF16", ROWS.shape, patterns.tobytes())}))
    made["bfloat16"] = (tmp_path / "b.safetensors", bfloat16_as_float32(patterns.ravel()).reshape(ROWS.shape))
    made["hdf5"] = (write_h5(tmp_path / "c.h5", {"emb/v": ROWS}, chunks=(4, 6), compression="gzip"), ROWS)
    return made


@pytest.mark.parametrize("entry", ["runner", "executable"])
@pytest.mark.parametrize("kind", ["safetensors", "bfloat16", "hdf5"])
def test_cli_compare_a_container_answers_as_its_npy(tmp_path, entry, kind):
    path, values = containers(tmp_path)[kind]
    np.save(tmp_path / "same.npy", values)
    args = ["-k", "3", "-m", "euclidean", "-f", "json"]
    status, out, err = invoke(entry, "compare", path, tmp_path / "same.npy", *args)
    assert status == 0, err
    reference = invoke(entry, "compare", tmp_path / "same.npy", tmp_path / "same.npy", *args)
    assert (status, out) == reference[:2]
    records = strict_json(out)
    distances = cdist(values.astype(np.float64), values.astype(np.float64))  # independent oracle
    assert all(r["score"] == pytest.approx(distances[r["a_index"], r["b_index"]], abs=1e-5) for r in records)


def test_cli_compare_a_pytorch_file_answers_as_its_npy(torch, tmp_path):
    np.save(tmp_path / "same.npy", FIXTURE_VALUES.astype(np.float32))
    args = ["-k", "2", "-f", "json"]
    for name in ("tensor.pt", "bfloat16.pt"):
        got = invoke("runner", "compare", TORCH_DATA / name, tmp_path / "same.npy", *args)
        assert got[0] == 0 and got[1] == invoke("runner", "compare", tmp_path / "same.npy", tmp_path / "same.npy", *args)[1]


def bad_containers(tmp_path: Path) -> dict[str, Path]:
    save_file({"q": ROWS, "g": ROWS}, tmp_path / "two.safetensors")
    (tmp_path / "cut.safetensors").write_bytes((tmp_path / "two.safetensors").read_bytes()[:100])
    (tmp_path / "hostile.safetensors").write_bytes(raw_safetensors(
        {"e": ("F32", (8,), GOOD_BLOB)}, header={"e": {"dtype": "F32", "shape": [2**40], "data_offsets": [0, 2**42]}}))
    data = write_h5(tmp_path / "full.h5", {"v": ROWS}).read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[:1000])
    save_file({"cube": np.zeros((2, 3, 4))}, tmp_path / "cube.safetensors")
    return {name: tmp_path / name for name in ["two.safetensors", "cut.safetensors", "hostile.safetensors",
                                               "cut.h5", "cube.safetensors"]}


@pytest.mark.parametrize("entry", ["runner", "executable"])
@pytest.mark.parametrize("name", ["two.safetensors", "cut.safetensors", "hostile.safetensors", "cut.h5",
                                  "cube.safetensors", "pickled_object.pt", "two_matrices.pt"])
def test_cli_bad_container_is_one_error_line_naming_it(tmp_path, entry, name):
    path = TORCH_DATA / name if name.endswith(".pt") else bad_containers(tmp_path)[name]
    status, out, err = invoke(entry, "compare", path, path)
    assert status == 2 and out == ""
    assert err.startswith(f"Error: {path}") and err.count("\n") == 1 and "Traceback" not in err, err

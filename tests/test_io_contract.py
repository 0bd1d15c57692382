"""The contract of the table of input formats: every format (read from io.FORMATS, so a new one is
checked the moment it is registered) gives the same answers as the .npy of the same values — the
same vectors, bit for bit, the same dtype, the same ids where the format carries them, and the
same compare and matrix output through the CLI. Each format's test writer is test_io's `encode`
(or `write_folder`): a format without one fails here."""

from __future__ import annotations

import json

import numpy as np
import pytest

from siamcli.io import FORMATS, load_embeddings
from test_cli import invoke, parse_jsonl
from test_io import ID_FORMATS, STREAM_FORMATS, UNTESTABLE, encode, write_folder

#: float32 values (embeddings are written from float32): every format keeps them exactly and
#: computes in float32, so every score equals the .npy's bit for bit.
VALUES = np.random.default_rng(15).normal(size=(12, 5)).astype(np.float32)
VALUES[3] *= 1e4
VALUES[7] *= 1e-4
IDS = [f"item-{i}" for i in range(len(VALUES))]


def _write(tmp_path, fmt: str, ids=None):
    if fmt in UNTESTABLE:
        pytest.skip(f"the test writer of {fmt} needs a package the test extra leaves out")
    if fmt in STREAM_FORMATS:
        path = tmp_path / f"data{FORMATS[fmt].suffixes[0]}"
        path.write_bytes(encode(fmt, VALUES, ids))
        return path
    return write_folder(tmp_path / f"data-{fmt}", fmt, VALUES, ids)


def _npy(tmp_path):
    path = tmp_path / "reference.npy"
    np.save(path, VALUES)
    return path


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_loads_the_npy_values_bit_for_bit_in_float32(tmp_path, fmt):
    loaded = load_embeddings(_write(tmp_path, fmt))
    assert loaded.vectors.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(loaded.vectors), VALUES)


@pytest.mark.parametrize("fmt", sorted(ID_FORMATS & set(FORMATS)))
def test_every_format_with_ids_gives_them_back(tmp_path, fmt):
    assert list(load_embeddings(_write(tmp_path, fmt, IDS)).ids) == IDS


@pytest.mark.parametrize("entry", ["runner", "executable"])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_gives_the_npy_answers_of_compare_and_matrix(tmp_path, fmt, entry):
    path, reference = _write(tmp_path, fmt), _npy(tmp_path)
    for args in (["compare", "{x}", "-k", "3", "-m", "euclidean"], ["compare", "{x}", "{ref}", "-k", "2"],
                 ["matrix", "{x}", "-m", "cosine"]):
        runs = []
        for x in (path, reference):
            code, out, err = invoke(entry, *[str(x) if a == "{x}" else str(reference) if a == "{ref}" else a
                                             for a in args], "-f", "jsonl")
            assert code == 0, err
            runs.append([{k: v for k, v in r.items() if not k.endswith("_id") and k != "row_id"}
                         for r in parse_jsonl(out)])
        assert runs[0] == runs[1], (fmt, args)
        assert runs[0]


def test_json_of_every_format_is_the_same_document(tmp_path):
    """One strict JSON document from each format: identical, ids aside."""
    documents = set()
    for fmt in sorted(set(FORMATS) - UNTESTABLE):
        folder = tmp_path / fmt
        folder.mkdir()
        code, out, err = invoke("runner", "matrix", _write(folder, fmt), "-m", "euclidean", "-f", "json")
        assert code == 0, (fmt, err)
        doc = json.loads(out)
        documents.add(json.dumps(doc["values"]))
    assert len(documents) == 1

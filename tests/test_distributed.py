"""The engine on a Dask LocalCluster (2 worker processes): results identical to the local engine,
sharded inputs, errors, a worker killed mid-run, and the bytes the client receives."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("distributed")

import siamcli  # noqa: E402
from siamcli import distributed as dist  # noqa: E402
from siamcli.backends.dask import cluster as dcluster, inputs as dinputs, tasks as dtasks  # noqa: E402
from siamcli.errors import ClusterError, InputError, ShapeError, UsageError  # noqa: E402

RNG = np.random.default_rng(5)
QUERIES = RNG.normal(size=(30, 16)).astype(np.float32)
GALLERY = RNG.normal(size=(500, 16)).astype(np.float32)
GALLERY[300:320] = GALLERY[0:20]  # exact ties across gallery blocks: broken by column index
GALLERY[450] = QUERIES[3]  # a perfect match
SMALL_BLOCKS = 64  # 8 gallery blocks


@pytest.fixture(scope="module")
def client():
    c = dist.connect("local:2")
    yield c
    c.close()


def assert_same_ranking(got, expected):
    assert got.grouping == expected.grouping
    np.testing.assert_array_equal(got.a_index, expected.a_index)
    np.testing.assert_array_equal(got.b_index, expected.b_index)
    np.testing.assert_array_equal(got.rank, expected.rank)
    # bit for bit, not approximately
    np.testing.assert_array_equal(got.score.view(np.int64), expected.score.view(np.int64))


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["cosine", "euclidean", "manhattan"])
def test_topk_two_sets_identical_to_local_engine(client, metric):
    expected = siamcli.compare(QUERIES, GALLERY, metric=metric, top_k=7)
    got = dist.topk(client, QUERIES, GALLERY, metric=metric, k=7, block_rows=SMALL_BLOCKS)
    assert_same_ranking(got, expected)
    assert len(got) == len(QUERIES) * 7


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["cosine", "euclidean", "manhattan"])
def test_topk_self_comparison_excludes_self_pairs_like_local_engine(client, metric):
    expected = siamcli.compare(GALLERY, metric=metric, top_k=4)
    got = dist.topk(client, GALLERY, None, metric=metric, k=4, block_rows=SMALL_BLOCKS)
    assert_same_ranking(got, expected)
    assert not np.any(got.a_index == got.b_index)
    # the duplicated rows find each other first, whatever block they are in
    assert set(got.b_index[(got.a_index == 5) & (got.rank == 1)]) == {305}


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["cosine", "euclidean", "manhattan"])
def test_topk_with_threshold_identical_to_local_engine(client, metric):
    threshold = float(np.median(siamcli.compare(QUERIES, GALLERY, metric=metric, top_k=6).score))
    expected = siamcli.compare(QUERIES, GALLERY, metric=metric, top_k=6, threshold=threshold)
    got = dist.topk(client, QUERIES, GALLERY, metric=metric, k=6, threshold=threshold, block_rows=SMALL_BLOCKS)
    assert_same_ranking(got, expected)
    assert 0 < len(got) < len(QUERIES) * 6  # the threshold removed some, not all


@pytest.mark.slow
def test_topk_zero_vector_policy_ranks_unscreened_like_local_engine_with_same_blocks(client):
    gallery = GALLERY.copy()
    gallery[77] = 0.0  # cosine undefined there: rankings are not screened, scores come from the matrix product
    got = dist.topk(client, QUERIES, gallery, metric="cosine", k=5, zero_vector="nan", block_rows=SMALL_BLOCKS)
    # a matrix product's last bit depends on its blocks (the local engine's own --memory shows it), so
    # identical to the local engine run with the same blocks, and within float32 rounding of its default
    same_blocks = siamcli.compare(QUERIES, gallery, metric="cosine", top_k=5, zero_vector="nan", block_rows=SMALL_BLOCKS)
    assert_same_ranking(got, same_blocks)
    default = siamcli.compare(QUERIES, gallery, metric="cosine", top_k=5, zero_vector="nan")
    np.testing.assert_allclose(got.score, default.score, rtol=0, atol=1e-6)
    assert 77 not in set(got.b_index)  # NaN scores rank last


@pytest.mark.slow
def test_topk_every_column_when_k_is_none(client):
    expected = siamcli.compare(QUERIES[:5], GALLERY[:100], metric="euclidean", top_k=None)
    got = dist.topk(client, QUERIES[:5], GALLERY[:100], metric="euclidean", k=None, block_rows=30)
    assert_same_ranking(got, expected)
    assert len(got) == 5 * 100


@pytest.mark.slow
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**16), n=st.integers(1, 12), m=st.integers(2, 90), k=st.integers(1, 8),
       block=st.integers(3, 40), metric=st.sampled_from(["cosine", "euclidean", "manhattan"]),
       self_compare=st.booleans())
def test_topk_any_blocks_identical_to_local_engine_on_tied_data(client, seed, n, m, k, block, metric, self_compare):
    rng = np.random.default_rng(seed)
    # small integers: many exact ties and duplicate rows, split across blocks of any size
    gallery = rng.integers(-2, 3, size=(m, 4)).astype(np.float32)
    gallery[np.all(gallery == 0, axis=1)] = 1.0  # cosine is undefined for zero rows
    queries = None if self_compare else gallery[rng.integers(0, m, size=n)] + rng.integers(-1, 2, size=(n, 4))
    if queries is not None:
        queries[np.all(queries == 0, axis=1)] = 1.0
    a, b = (gallery, None) if self_compare else (queries, gallery)
    expected = siamcli.compare(a, b, metric=metric, top_k=k)
    got = dist.topk(client, a, b, metric=metric, k=k, block_rows=block)
    assert_same_ranking(got, expected)


@pytest.mark.slow
def test_topk_client_receives_queries_times_k_not_the_gallery(client):
    stats = dist.RunStats()
    gallery = np.tile(GALLERY, (8, 1))  # 4,000 rows in 63 blocks
    submitted = []
    dist.topk(client, QUERIES, gallery, metric="cosine", k=3, block_rows=SMALL_BLOCKS, stats=stats,
              on_submit=submitted.extend)
    assert len(submitted) == 1  # one merged result per block of queries is all the client asks for
    per_entry = 8 + 8 + 8 + 8  # row, column, score, rank
    assert stats.received_bytes <= len(QUERIES) * 3 * per_entry
    assert stats.received_bytes < len(QUERIES) * len(gallery) * 8 / 100
    assert stats.tasks > 63  # the gallery blocks, their loads and the merges


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["cosine", "manhattan"])
def test_paired_identical_to_local_engine(client, metric):
    b = GALLERY[: len(QUERIES)] + 0.5
    expected = siamcli.compare(QUERIES, b, metric=metric, paired=True, threshold=None)
    got = dist.paired(client, QUERIES, b, metric=metric, block_rows=7)
    assert_same_ranking(got, expected)


@pytest.mark.slow
def test_paired_needs_equal_row_counts(client):
    with pytest.raises(ShapeError, match="same number of rows"):
        dist.paired(client, QUERIES, GALLERY, metric="cosine")


@pytest.mark.slow
def test_matrix_to_npy_pairwise_kernel_identical_to_local_engine(client, tmp_path):
    expected = siamcli.matrix(QUERIES, GALLERY, metric="manhattan").values
    result = dist.matrix_to_npy(client, QUERIES, GALLERY, metric="manhattan", path=tmp_path / "m.npy",
                                block_rows=SMALL_BLOCKS)
    on_disk = np.load(tmp_path / "m.npy")
    assert on_disk.dtype == expected.dtype
    np.testing.assert_array_equal(on_disk, expected)
    np.testing.assert_array_equal(result.values, expected)


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_matrix_to_npy_product_kernel_identical_to_local_engine_with_same_blocks(client, tmp_path, metric):
    dist.matrix_to_npy(client, QUERIES, GALLERY, metric=metric, path=tmp_path / "m.npy", block_rows=SMALL_BLOCKS)
    on_disk = np.load(tmp_path / "m.npy")
    np.testing.assert_array_equal(on_disk, siamcli.matrix(QUERIES, GALLERY, metric=metric, block_rows=SMALL_BLOCKS).values)
    default = siamcli.matrix(QUERIES, GALLERY, metric=metric).values  # other blocks: the last float32 bit may differ
    np.testing.assert_allclose(on_disk, default, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["cosine", "euclidean", "mahalanobis"])
def test_matrix_and_best_pairs_of_blocks_larger_than_a_tile_identical_to_local_engine_default(client, tmp_path, metric):
    """Chunks of at least a product tile become blocks of whole tiles: every score is the local
    engine's own, to the last bit (no tolerance), though the workers' BLAS runs one thread."""
    import dask.array as da

    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(2500, 16)).astype(np.float32), rng.normal(size=(4500, 16)).astype(np.float32)
    b[4000] = a[7]  # an exact duplicate across blocks: its score is exact too
    expected = siamcli.matrix(a, b, metric=metric).values
    dask_b = da.from_array(b, chunks=(2100, 16))  # edges at 2,100 and 4,200 move to 2,048 and 4,096
    assert [r0 for r0, _ in dtasks._bounds(dinputs._as_set(dask_b, "B", None), None)] == [0, 2048, 4096]
    dist.matrix_to_npy(client, da.from_array(a, chunks=(2300, 16)), dask_b, metric=metric, path=tmp_path / "m.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "m.npy"), expected)
    best = dist.best_overall(client, a, b, metric=metric, limit=8, block_rows=2048)
    local = siamcli.compare(a, b, metric=metric, top_k=None, limit=8)
    assert_same_ranking(best, local)
    assert (best.a_index[0], best.b_index[0]) == (7, 4000)


@pytest.mark.slow
def test_matrix_shards_and_zarr_hold_at_most_the_memory_budget_per_task(client, tmp_path):
    """Blocks of whole rows (shards) or of one gallery block (zarr) are split so one task's
    scores fit in --memory: 2 x 500 scores x 8 bytes (manhattan sums in float64) x 10 rows here."""
    expected = siamcli.matrix(QUERIES, GALLERY, metric="manhattan").values
    paths = dist.matrix_to_shards(client, QUERIES, GALLERY, metric="manhattan", directory=tmp_path / "rows",
                                  memory=80_000)
    assert [np.load(p).shape for p in sorted(paths)] == [(10, 500)] * 3
    np.testing.assert_array_equal(np.concatenate([np.load(p) for p in sorted(paths)]), expected)
    pytest.importorskip("zarr")
    result = dist.matrix_to_zarr(client, GALLERY, None, metric="manhattan", path=tmp_path / "m.zarr",
                                 block_rows=250, memory=2 * 250 * 8 * 40)
    assert result.values.chunks[0] <= 40
    np.testing.assert_array_equal(result.values[:], siamcli.matrix(GALLERY, metric="manhattan").values)


@pytest.mark.slow
def test_class_pair_scores_of_row_blocks_larger_than_a_tile_identical_to_local_pass(client):
    """evaluate --classes on the cluster: the same blocks of whole rows as the local pass (here
    split by the budget into whole tiles), so the same pair scores to the last bit."""
    from siamcli.reports.evaluation import class_pair_scores

    rng = np.random.default_rng(9)
    vectors = rng.normal(size=(2500, 16)).astype(np.float32)
    codes = rng.integers(0, 5, size=2500)
    comp = siamcli.engine.prepare(vectors, None, metric="cosine", memory=16 * 2500 * 1500)
    assert siamcli.engine.matrix_row_blocks(comp)[:2] == [(0, 1024), (1024, 2048)]
    here = class_pair_scores(comp, codes, (1, 5), all_pairs=True)
    there = dist.class_pair_scores(client, comp, codes, (1, 5), all_pairs=True)
    np.testing.assert_array_equal(there[0], here[0])
    np.testing.assert_array_equal(there[1], here[1])
    assert len(there[2]) == len(here[2]) == 3


@pytest.mark.slow
def test_matrix_to_npy_self_comparison_and_dtype(client, tmp_path):
    expected = siamcli.matrix(GALLERY[:200], metric="manhattan").values.astype(np.float16)
    dist.matrix_to_npy(client, GALLERY[:200], None, metric="manhattan", path=tmp_path / "m.npy", dtype="float16",
                       block_rows=SMALL_BLOCKS)
    on_disk = np.load(tmp_path / "m.npy")
    assert on_disk.dtype == np.float16
    np.testing.assert_array_equal(on_disk, expected)


def write_shards(folder, array, sizes):
    folder.mkdir()
    start = 0
    for n, size in enumerate(sizes):
        np.save(folder / f"part-{n:03d}.npy", array[start : start + size])
        start += size
    return folder


def test_load_shards_ids_and_rows_in_shard_order(tmp_path):
    folder = write_shards(tmp_path / "g", GALLERY, [200, 100, 200])
    vectors, ids = dist.load_shards(folder, block_rows=150)
    np.testing.assert_array_equal(vectors.compute(), GALLERY)
    assert len(ids) == len(GALLERY)
    assert ids[0] == "part-000:0" and ids[199] == "part-000:199" and ids[200] == "part-001:0" and ids[-1] == "part-002:199"
    assert vectors.chunks[0] == (150, 50, 100, 150, 50)


def test_load_shards_glob_selects_files(tmp_path):
    folder = write_shards(tmp_path / "g", GALLERY, [200, 100, 200])
    vectors, ids = dist.load_shards(str(folder / "part-00[02].npy"))
    assert vectors.shape == (400, 16)
    assert ids[200] == "part-002:0"


def test_load_shards_dimension_mismatch_names_both_files(tmp_path):
    folder = write_shards(tmp_path / "g", GALLERY, [200])
    np.save(folder / "part-001.npy", np.zeros((3, 8), np.float32))
    with pytest.raises(ShapeError, match=r"part-001\.npy has 8 dimensions but .*part-000\.npy has 16"):
        dist.load_shards(folder)


def test_load_shards_empty_folder_is_an_input_error(tmp_path):
    (tmp_path / "none").mkdir()
    with pytest.raises(InputError, match="no .npy shards"):
        dist.load_shards(tmp_path / "none")


def test_shard_paths_existing_name_with_glob_characters_is_that_file(tmp_path):
    np.save(tmp_path / "emb[1].npy", GALLERY[:5])
    np.save(tmp_path / "emb1.npy", GALLERY[5:9])  # what the name matches as a glob
    literal = str(tmp_path / "emb[1].npy")
    assert dist.shard_paths(literal) == [literal]
    assert not dist.is_lazy_input(literal)  # an existing file is loaded, not read as shards
    vectors, ids = dist.load_shards(literal)
    np.testing.assert_array_equal(vectors.compute(scheduler="sync"), GALLERY[:5])
    assert ids[0] == "emb[1]:0"
    pattern = str(tmp_path / "emb[0-9].npy")  # no such file: a glob
    assert dist.is_lazy_input(pattern) and dist.shard_paths(pattern) == [str(tmp_path / "emb1.npy")]


def test_shard_paths_directory_with_glob_characters_lists_its_own_shards(tmp_path):
    write_shards(tmp_path / "runs[2]", GALLERY, [100, 50])
    write_shards(tmp_path / "runs2", QUERIES, [30])  # what "runs[2]" matches as a glob
    assert dist.is_lazy_input(tmp_path / "runs[2]")
    vectors, ids = dist.load_shards(tmp_path / "runs[2]")
    np.testing.assert_array_equal(vectors.compute(scheduler="sync"), GALLERY[:150])
    assert len(ids) == 150


@pytest.mark.parametrize("name, needle", [("missing/*.npy", "no file matches the pattern"),
                                          ("missing", "no such file or directory")])
def test_shard_paths_nothing_found_says_why(tmp_path, name, needle):
    with pytest.raises(InputError, match=f"no .npy shards found \\({needle}\\)"):
        dist.shard_paths(str(tmp_path / name))


def test_load_shards_fifo_is_refused_not_read(tmp_path):
    write_shards(tmp_path / "g", GALLERY, [10])
    os.mkfifo(tmp_path / "g" / "pipe.npy")  # reading it would wait for a writer for ever
    with pytest.raises(InputError, match=r"pipe\.npy: not a regular file"):
        dist.load_shards(tmp_path / "g")


def _npy_bytes(array) -> bytes:
    import io

    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


VALID_SHARD = _npy_bytes(np.arange(24, dtype=np.float32).reshape(6, 4))


@settings(max_examples=150, deadline=None)
@given(cut=st.integers(0, len(VALID_SHARD)), flips=st.lists(st.tuples(st.integers(0, len(VALID_SHARD) - 1),
                                                                      st.integers(0, 255)), max_size=4),
       tail=st.binary(max_size=40))
def test_load_shards_any_bytes_give_rows_or_an_input_error(cut, flips, tail):
    """A shard damaged anywhere (cut, bytes changed, bytes added) is read as rows of its header's
    shape, or refused with an InputError naming it: never another exception."""
    import tempfile

    data = bytearray(VALID_SHARD[:cut] + tail)
    for at, value in flips:
        if at < len(data):
            data[at] = value
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "s.npy")
        with open(path, "wb") as handle:
            handle.write(bytes(data))
        try:
            vectors, ids = dist.load_shards(path)
            rows = vectors.compute(scheduler="sync")
        except InputError as exc:
            assert "s.npy" in str(exc)
            return
        expected = np.load(path, allow_pickle=False)  # numpy's own reading of the same bytes
        np.testing.assert_array_equal(rows, expected)
        assert len(ids) == len(expected) and rows.ndim == 2


@pytest.mark.parametrize("text, seconds", [(None, 30.0), ("", 30.0), ("2.5", 2.5), (" 10 ", 10.0)])
def test_no_workers_timeout_comes_from_the_environment(monkeypatch, text, seconds):
    if text is None:
        monkeypatch.delenv(dist.NO_WORKERS_ENV, raising=False)
    else:
        monkeypatch.setenv(dist.NO_WORKERS_ENV, text)
    assert dist.no_workers_timeout() == seconds


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "1e400", "30s", "abc"])
def test_no_workers_timeout_bad_value_is_a_usage_error(monkeypatch, text):
    monkeypatch.setenv(dist.NO_WORKERS_ENV, text)
    with pytest.raises(UsageError, match=f"SIAMCLI_NO_WORKERS_TIMEOUT must be a number of seconds > 0, got '{text}'"):
        dist.no_workers_timeout()


def test_check_opens_and_checks_inputs_without_a_cluster(tmp_path, monkeypatch):
    monkeypatch.setattr(dcluster, "connect", None)  # any use of a cluster would fail
    folder = write_shards(tmp_path / "g", GALLERY, [200, 300])
    a, b = dist.check(QUERIES, str(folder), "cosine")
    assert dist.is_dask_array(b.vectors) and b.vectors.shape == GALLERY.shape and len(a) == len(QUERIES)
    with pytest.raises(ShapeError, match="16 dimensions but .* has 8"):
        dist.check(str(folder), np.ones((3, 8), np.float32), "cosine")
    with pytest.raises(UsageError, match="p applies to minkowski only"):
        dist.check(QUERIES, str(folder), "cosine", p=3)
    zero = QUERIES.copy()
    zero[4] = 0
    with pytest.raises(InputError, match="cosine is undefined for zero vectors"):  # rows here are checked here
        dist.check(zero, str(folder), "cosine")
    dist.check(QUERIES, str(folder), "mahalanobis")  # fitted to the data in the run, not here


@pytest.mark.slow
def test_topk_on_shards_identical_to_local_engine_with_shard_ids(client, tmp_path):
    folder = write_shards(tmp_path / "g", GALLERY, [120, 180, 200])
    expected = siamcli.compare(QUERIES, GALLERY, metric="cosine", top_k=5)
    got = dist.topk(client, QUERIES, str(folder), metric="cosine", k=5)
    assert_same_ranking(got, expected)
    ids = [f"part-000:{i}" for i in range(120)] + [f"part-001:{i}" for i in range(180)] + \
          [f"part-002:{i}" for i in range(200)]
    assert [r["b_id"] for r in got.records()] == [ids[j] for j in got.b_index]


@pytest.mark.slow
def test_topk_on_shards_does_not_read_the_gallery_on_the_client(client, tmp_path, monkeypatch):
    folder = write_shards(tmp_path / "g", GALLERY, [250, 250])
    original = siamcli.engine.comparison.scan_rows

    def scan_in_memory_only(s, test):
        assert not dist.is_dask_array(s.vectors), "the client scanned a sharded input"
        return original(s, test)

    monkeypatch.setattr(siamcli.engine.comparison, "scan_rows", scan_in_memory_only)
    got = dist.topk(client, QUERIES, str(folder), metric="cosine", k=3)
    assert_same_ranking(got, siamcli.compare(QUERIES, GALLERY, metric="cosine", top_k=3))


@pytest.mark.slow
def test_shard_with_zero_row_gets_the_local_engine_error_with_its_id(client, tmp_path):
    gallery = GALLERY.copy()
    gallery[130] = 0.0
    folder = write_shards(tmp_path / "g", gallery, [120, 380])
    with pytest.raises(InputError, match=r"cosine is undefined for zero vectors: .* row 130 \(part-001:10\)"):
        dist.topk(client, QUERIES, str(folder), metric="cosine", k=3)
    got = dist.topk(client, QUERIES, str(folder), metric="cosine", k=3, zero_vector="nan", block_rows=SMALL_BLOCKS)
    expected = siamcli.compare(QUERIES, gallery, metric="cosine", top_k=3, zero_vector="nan")
    np.testing.assert_array_equal(got.b_index, expected.b_index)  # scores: see the unscreened test above


@pytest.mark.slow
def test_topk_options_are_checked_as_by_the_local_engine(client, tmp_path):
    folder = write_shards(tmp_path / "g", GALLERY, [250, 250])
    with pytest.raises(UsageError, match="zero_vector must be one of"):
        dist.topk(client, QUERIES, str(folder), metric="cosine", k=3, zero_vector="maybe")
    with pytest.raises(ShapeError, match="16 dimensions but .* has 8"):
        dist.topk(client, QUERIES, np.ones((4, 8), np.float32), metric="cosine", k=3)
    with pytest.raises(UsageError, match="top_k must be at least 1"):
        dist.topk(client, QUERIES, str(folder), k=0)


@pytest.mark.slow
def test_topk_mahalanobis_fits_on_the_whole_inputs_like_local_engine(client, tmp_path):
    folder = write_shards(tmp_path / "g", GALLERY, [250, 250])
    got = dist.topk(client, QUERIES, str(folder), metric="mahalanobis", k=3)
    assert_same_ranking(got, siamcli.compare(QUERIES, GALLERY, metric="mahalanobis", top_k=3))


@pytest.mark.slow
def test_shard_with_nan_is_reported_by_file_and_row(client, tmp_path):
    gallery = GALLERY.copy()
    gallery[130, 2] = np.nan
    folder = write_shards(tmp_path / "g", gallery, [120, 380])
    with pytest.raises(InputError, match=r"part-001\.npy: row 10, column 2 is NaN"):
        dist.topk(client, QUERIES, str(folder), metric="euclidean", k=3)


def write_zarr(path, array, chunk_rows):
    zarr = pytest.importorskip("zarr")
    out = zarr.open_array(str(path), mode="w", shape=array.shape, chunks=(chunk_rows,) + array.shape[1:],
                          dtype=array.dtype)
    out[...] = array
    return str(path)


def test_load_zarr_blocks_are_its_row_chunks_and_ids_name_array_and_row(tmp_path):
    path = write_zarr(tmp_path / "gallery.zarr", GALLERY, 120)
    vectors, ids = dist.load_zarr(path + "/")
    np.testing.assert_array_equal(vectors.compute(), GALLERY)
    assert vectors.chunks[0] == (120, 120, 120, 120, 20)
    assert ids[:2] == ["gallery:0", "gallery:1"] and ids[-1] == "gallery:499" and len(ids) == len(GALLERY)
    assert dist.load_zarr(path, block_rows=200)[0].chunks[0] == (200, 200, 100)


@pytest.mark.slow
def test_topk_on_zarr_identical_to_local_engine_with_array_ids(client, tmp_path):
    path = write_zarr(tmp_path / "g.zarr", GALLERY, 120)
    got = dist.topk(client, QUERIES, path, metric="cosine", k=5)
    assert_same_ranking(got, siamcli.compare(QUERIES, GALLERY, metric="cosine", top_k=5))
    assert [r["b_id"] for r in got.records()] == [f"g:{j}" for j in got.b_index]


@pytest.mark.slow
def test_matrix_to_zarr_chunks_are_the_blocks_and_the_client_receives_a_count_per_block(client, tmp_path):
    zarr = pytest.importorskip("zarr")
    stats = dist.RunStats()
    result = dist.matrix_to_zarr(client, write_zarr(tmp_path / "g.zarr", GALLERY, 120), QUERIES,
                                 metric="euclidean", path=tmp_path / "m.zarr", stats=stats)
    out = zarr.open_array(str(tmp_path / "m.zarr"), mode="r")
    assert out.shape == (500, 30) and out.chunks == (120, 30) and out.dtype == np.float32
    assert dict(out.attrs) == {"metric": "euclidean", "higher_is_better": False}
    np.testing.assert_allclose(out[...], siamcli.matrix(GALLERY, QUERIES, metric="euclidean").values,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(result.values[...], out[...])
    assert stats.received_bytes == 5 * 8  # one int per block, never a block's scores
    assert sorted(os.listdir(tmp_path)) == ["g.zarr", "m.zarr"]  # no .partial left


@pytest.mark.slow
def test_matrix_to_zarr_of_uneven_shards_self_comparison_and_dtype(client, tmp_path):
    zarr = pytest.importorskip("zarr")
    folder = write_shards(tmp_path / "g", GALLERY, [120, 180, 200])
    dist.matrix_to_zarr(client, str(folder), None, metric="manhattan", path=tmp_path / "m.zarr", dtype="float64")
    out = zarr.open_array(str(tmp_path / "m.zarr"), mode="r")
    assert out.chunks == (200, 200) and out.dtype == np.float64  # uneven shards: even blocks, one per chunk
    np.testing.assert_array_equal(out[...], siamcli.matrix(GALLERY, metric="manhattan").values.astype(np.float64))


@pytest.mark.slow
def test_matrix_to_zarr_failed_run_leaves_the_older_array_and_no_partial_one(client, tmp_path):
    zarr = pytest.importorskip("zarr")
    first = dist.matrix_to_zarr(client, QUERIES, GALLERY, metric="manhattan", path=tmp_path / "m.zarr").values[...]
    gallery = GALLERY.copy()
    gallery[430, 1] = np.inf
    with pytest.raises(InputError, match=r"g\.zarr: row 430, column 1 is infinite"):
        dist.matrix_to_zarr(client, QUERIES, write_zarr(tmp_path / "g.zarr", gallery, 100), metric="manhattan",
                            path=tmp_path / "m.zarr")
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "m.zarr"), mode="r")[...], first)
    assert sorted(os.listdir(tmp_path)) == ["g.zarr", "m.zarr"]  # no temporary folder left
    (tmp_path / "notes.zarr").mkdir()
    (tmp_path / "notes.zarr" / "todo.txt").write_text("mine")
    with pytest.raises(InputError, match=r"notes\.zarr exists and is not a zarr array"):
        dist.matrix_to_zarr(client, QUERIES, GALLERY, path=tmp_path / "notes.zarr")


@pytest.mark.parametrize("array, needle", [
    (np.zeros((4, 3, 2), np.float32), r"must hold a 2-D numeric array, not 3-D float32"),
    (np.zeros((4, 3), bool), r"must hold a 2-D numeric array, not 2-D bool"),
    (np.zeros((0, 3), np.float32), r"the array holds no rows"),
    (None, r"not a zarr array"),
])
def test_load_zarr_bad_array_is_an_input_error_naming_it(tmp_path, array, needle):
    path = str(tmp_path / "bad.zarr")
    if array is not None:
        write_zarr(path, array, max(1, len(array)))
    with pytest.raises(InputError, match=r"bad\.zarr: .*" + needle):
        dist.load_zarr(path)


def test_zarr_without_the_extra_names_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "zarr", None)  # import zarr raises ImportError
    with pytest.raises(UsageError, match=re.escape("pip install 'siamcli[zarr]'")):
        dist.load_zarr(tmp_path / "g.zarr")
    with pytest.raises(UsageError, match=re.escape("pip install 'siamcli[zarr]'")):
        dist.matrix_to_zarr(None, QUERIES, GALLERY, path=tmp_path / "m.zarr")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is


def test_connect_unreachable_scheduler_is_an_input_error_naming_it():
    address = f"tcp://127.0.0.1:{closed_port()}"
    start = time.monotonic()
    with pytest.raises(InputError, match=f"cannot reach the Dask scheduler at {address}"):
        dist.connect(address, timeout=2)
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("address", ["local:0", "local:two"])
def test_connect_bad_local_worker_count_is_a_usage_error(address):
    with pytest.raises(UsageError, match="local:N"):
        dist.connect(address)


def test_scheduler_from_env(monkeypatch):
    """The CLI's one place for the scheduler (distributed.scheduler_from_env was never used)."""
    from siamcli.cli import scheduler_address

    monkeypatch.setenv("SIAMCLI_SCHEDULER", "tcp://10.0.0.1:8786")
    assert scheduler_address(None) == "tcp://10.0.0.1:8786"
    assert scheduler_address("local:2") == "local:2"  # --scheduler wins
    monkeypatch.delenv("SIAMCLI_SCHEDULER")
    assert scheduler_address(None) is None


def test_module_imports_without_dask_and_names_the_extra():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('dask', 'distributed'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "import siamcli.distributed as d\n"
        "assert not {'dask', 'distributed', 'zarr'} & set(sys.modules)\n"
        "sys.meta_path.insert(0, Block())\n"
        "try:\n"
        "    d.connect('local')\n"
        "except d.UsageError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "pip install 'siamcli[dask]'" in done.stdout


@pytest.fixture
def own_cluster():
    """make(n_workers, default, **config): a LocalCluster of its own (Dask `config` while it starts) and a
    client of it (the default client with `default`)."""
    import dask
    from distributed import Client, LocalCluster

    made = []

    def make(n_workers: int, default: bool = False, **config):
        with dask.config.set(config):
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=n_workers > 0,
                                   dashboard_address="127.0.0.1:0")
        made.append(cluster)
        made.append(Client(cluster, set_as_default=default))
        return made[-1]

    yield make
    for thing in reversed(made):
        thing.close()


@pytest.mark.slow
def test_compute_without_workers_fails_after_the_timeout_and_releases_its_tasks(own_cluster, monkeypatch):
    import dask

    monkeypatch.setenv(dist.NO_WORKERS_ENV, "1.5")
    client = own_cluster(0)  # a scheduler with no worker: Dask alone would wait for ever
    start = time.monotonic()
    with pytest.raises(ClusterError, match=r"the Dask cluster at \S+ has had no workers for 1\.5 s: its workers died, "
                                           r"or none reached the scheduler \(\$SIAMCLI_NO_WORKERS_TIMEOUT sets"):
        dcluster._compute(client, [dask.delayed(sum)([1, 2])], None)
    assert 1.5 <= time.monotonic() - start < 1.5 + 5
    deadline = time.monotonic() + 10
    while client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) == 0  # released


@pytest.mark.slow
def test_covariance_fit_on_shards_without_workers_fails_after_the_timeout(own_cluster, monkeypatch, tmp_path):
    """mahalanobis fits its covariance to the shards through engine.prepare, outside _compute: the
    scheduler's own no-workers-timeout (which connect sets for a local cluster) ends it."""
    monkeypatch.setenv(dist.NO_WORKERS_ENV, "1")
    client = own_cluster(0, default=True, **{"distributed.scheduler.no-workers-timeout": "1s"})
    folder = write_shards(tmp_path / "g", GALLERY, [250, 250])
    with pytest.raises(ClusterError, match=r"has had no workers for 1 s"):
        dist.topk(client, QUERIES, str(folder), metric="mahalanobis", k=3)


@pytest.mark.slow
def test_compute_task_whose_workers_die_is_a_cluster_error(own_cluster):
    import dask

    client = own_cluster(1, **{"distributed.scheduler.allowed-failures": 0})
    with pytest.raises(ClusterError, match=r"workers of the Dask cluster at tcp://\S+ died 1 time while running "
                                           r"exit \(killed, or out of memory"):
        dcluster._compute(client, [dask.delayed(os._exit, pure=False)(1)], None)


@pytest.mark.slow
@pytest.mark.parametrize("quiet", [True, False])
def test_connect_local_workers_ignore_ctrl_c_and_are_silent_when_quiet(quiet):
    client = dist.connect("local:1", quiet=quiet)
    try:
        [(ignored, level)] = client.run(lambda: (__import__("signal").getsignal(2) == __import__("signal").SIG_IGN,
                                                 __import__("logging").getLogger("distributed").level)).values()
    finally:
        client.close()
    assert ignored  # Ctrl-C is the client's to answer
    assert (level > 50) == quiet  # above CRITICAL: nothing logged, unless --debug


def _task_progress(dask_scheduler, prefix):
    """(finished, not yet finished) tasks whose key starts with prefix, on the scheduler."""
    states = [ts.state for ts in dask_scheduler.tasks.values() if str(ts.key).startswith(prefix)]
    return states.count("memory"), sum(s in ("waiting", "queued", "processing", "no-worker") for s in states)


class KillMidRun:
    """SIGKILLs one worker once `after` tasks named `prefix` have finished and more are pending,
    from a thread, while the `with` block runs; `seen` holds (finished, pending) at the kill."""

    def __init__(self, client, prefix: str, after: int):
        self.client, self.prefix, self.after, self.seen = client, prefix, after, None
        client.wait_for_workers(2, timeout=30)
        self.victim = sorted(client.scheduler_info()["workers"])[0]
        self.pid = client.run(os.getpid, workers=[self.victim])[self.victim]

    def _watch(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done, pending = self.client.run_on_scheduler(_task_progress, prefix=self.prefix)
            if done >= self.after and pending:
                self.seen = (done, pending)
                os.kill(self.pid, signal.SIGKILL)
                return
            time.sleep(0.01)

    def __enter__(self):
        self.thread = threading.Thread(target=self._watch)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.thread.join()
        return False


@pytest.mark.slow
def test_topk_survives_a_worker_killed_mid_run(client):
    # runs last: its worker is restarted by its nanny
    gallery = np.tile(GALLERY, (6, 1))  # 3,000 rows in 94 blocks of 32
    expected = siamcli.compare(QUERIES, gallery, metric="euclidean", top_k=5)
    with KillMidRun(client, "_topk_block", after=3) as kill:
        got = dist.topk(client, QUERIES, gallery, metric="euclidean", k=5, block_rows=32)
    assert kill.seen is not None
    assert kill.seen[1] > 0  # the kill came mid-run, with block tasks still to run
    assert_same_ranking(got, expected)
    client.wait_for_workers(2, timeout=30)
    assert kill.victim not in set(client.scheduler_info()["workers"])  # the victim did die


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["paired", "shards"])
def test_paired_and_matrix_shards_survive_a_worker_killed_mid_run(client, kind, tmp_path):
    left, right = np.tile(GALLERY, (6, 1)), np.tile(GALLERY[::-1], (6, 1))
    prefix = "_paired_block" if kind == "paired" else "_matrix_part"
    with KillMidRun(client, prefix, after=2) as kill:
        if kind == "paired":
            got = dist.paired(client, left, right, metric="cosine", block_rows=32)
        else:
            paths = dist.matrix_to_shards(client, left[:600], right, metric="euclidean", directory=tmp_path,
                                          block_rows=32)
    if kind == "paired":
        expected = siamcli.compare(left, right, metric="cosine", paired=True)
        np.testing.assert_array_equal(got.score, expected.score)  # per pair: identical to the last bit
    else:
        whole = np.concatenate([np.load(p) for p in sorted(paths)])
        np.testing.assert_allclose(whole, siamcli.matrix(left[:600], right, metric="euclidean").values,
                                   rtol=1e-6, atol=1e-6)
        assert not list(tmp_path.glob("*.partial.npy"))  # no half-written shard left behind
    assert kill.seen is not None and kill.seen[1] > 0  # the kill came mid-run
    client.wait_for_workers(2, timeout=30)


@pytest.mark.slow
def test_evaluate_survives_a_worker_killed_mid_run(client):
    from siamcli.reports.evaluation import evaluate

    left, right = np.tile(GALLERY, (6, 1)), np.tile(GALLERY[::-1], (6, 1))
    labels = (np.arange(len(left)) % 3 == 0).astype(int)
    with KillMidRun(client, "_paired_block", after=2) as kill:
        there = evaluate(left, right, labels=labels, metric="cosine", folds=3,
                         pair_scores=lambda comp, a, b: dist.pair_scores(client, comp, a, b, block_rows=32))
    here = evaluate(left, right, labels=labels, metric="cosine", folds=3)
    assert kill.seen is not None and kill.seen[1] > 0
    assert next(there.records()) == next(here.records())  # the whole report, to the last bit
    client.wait_for_workers(2, timeout=30)


@pytest.mark.slow
def test_library_compare_and_matrix_take_a_dask_backend_with_the_local_results():
    from siamcli.backends import get_backend

    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(20, 8)), rng.normal(size=(30, 8))
    with get_backend("local:1") as backend:
        on_cluster = siamcli.compare(a, b, top_k=3, backend=backend)
        matrix = siamcli.matrix(a, b, metric="euclidean", backend=backend)
        files = siamcli.compare("examples/queries.csv", "examples/gallery.npz", top_k=2, backend=backend)
    here = siamcli.compare(a, b, top_k=3)
    assert np.array_equal(on_cluster.b_index, here.b_index) and np.array_equal(on_cluster.score, here.score)
    from scipy.spatial.distance import cdist

    assert np.allclose(matrix.values, cdist(a, b), rtol=1e-12, atol=1e-12)
    local_files = siamcli.compare("examples/queries.csv", "examples/gallery.npz", top_k=2)
    assert np.array_equal(files.b_index, local_files.b_index) and np.array_equal(files.score, local_files.score)


@pytest.mark.parametrize("metric", ["euclidean", "mahalanobis"])
def test_prepare_on_cluster_fits_on_the_rows_of_dask_arrays_as_the_local_engine(client, metric):
    """A metric fitted to the data (euclidean's shift, mahalanobis' covariance) gets the local
    engine's fit from inputs the workers hold, with no row scanned on the client when none is flagged."""
    import dask.array as da

    offset_q, offset_g = QUERIES + 100, GALLERY + 100
    here = siamcli.engine.prepare(offset_q, offset_g, metric=metric).params
    there = dinputs.prepare_on_cluster(da.from_array(offset_q, chunks=(7, 16)), da.from_array(offset_g, chunks=(64, 16)),
                                       metric=metric).params
    for name in ("shift",) if metric == "euclidean" else ("whitener", "center"):
        np.testing.assert_array_equal(getattr(there, name), getattr(here, name))


def _kl_divergence(a, b, params):
    return (a[:, None, :] * np.log(a[:, None, :] / b[None, :, :])).sum(axis=2)


def test_an_asymmetric_metric_on_a_cluster_lists_and_fills_every_ordered_pair(client, tmp_path):
    """A metric record that does not say it is symmetric (KL divergence) is never mirrored on a
    cluster either: the best pairs of a set with itself are ordered pairs, as brute force finds them,
    and its matrix is the whole asymmetric one."""
    from siamcli.metrics import Metric

    kl = Metric("kl_test", "distance", _kl_divergence, lambda a, b, params: (a * np.log(a / b)).sum(axis=1),
                lambda u, v, params: float(np.sum(np.multiply(u, np.log(np.divide(u, v))))), "KL (test)")
    x = np.random.default_rng(6).dirichlet(np.ones(5), size=40)
    brute = np.array([[float(np.sum(u * np.log(u / v))) for v in x] for u in x])
    rows, cols = np.nonzero(~np.eye(len(x), dtype=bool))
    order = np.lexsort((cols, rows, brute[rows, cols]))[:15]
    best = dist.best_overall(client, x, None, metric=kl, limit=15, block_rows=9)
    np.testing.assert_array_equal(best.a_index, rows[order])
    np.testing.assert_array_equal(best.b_index, cols[order])
    np.testing.assert_allclose(best.score, brute[rows, cols][order], rtol=1e-12)
    dist.matrix_to_npy(client, x, None, metric=kl, path=tmp_path / "kl.npy", block_rows=9)
    np.testing.assert_allclose(np.load(tmp_path / "kl.npy"), brute, rtol=1e-12, atol=1e-15)

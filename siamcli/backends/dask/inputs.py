"""Inputs the workers read (.npy shards, .zarr arrays, dask arrays), and prepare for them:
checked here without a cluster, their rows looked at by the workers."""

from __future__ import annotations

import glob
import os
from dataclasses import replace
from typing import Callable

import numpy as np

from ...engine import Comparison, scan_rows, as_embedding_set, prepare
from ...errors import counted, ClusterError, InputError, ShapeError
from ...io import EmbeddingSet, check_finite, load_embeddings
from ...metrics import Metric, get_metric, zero_rows
from .cluster import _address, _cluster_failure, _compute, require_dask, require_zarr


def shard_paths(pattern_or_dir: str | os.PathLike) -> list[str]:
    """The .npy shards of a directory, or the files a glob matches, sorted by name. A path that
    exists is taken literally (`emb[1].npy` is that file, `runs[2]/` that directory); only one
    that does not is a glob."""
    path = os.fspath(pattern_or_dir)
    if os.path.isdir(path):
        files = glob.glob(os.path.join(glob.escape(path), "*.npy"))
    elif os.path.exists(path):
        files = [path]
    else:
        files = glob.glob(path)
    files = sorted(f for f in files if not os.path.isdir(f))
    for f in files:
        if not os.path.isfile(f):  # a FIFO or device would be read for ever
            raise InputError(f"{f}: not a regular file; a shard must be an .npy file")
    if not files:
        why = ("the directory holds no .npy file" if os.path.isdir(path)
               else "no file matches the pattern" if glob.has_magic(path) else "no such file or directory")
        raise InputError(f"{path}: no .npy shards found ({why})")
    return files


def is_zarr(path: str | os.PathLike) -> bool:
    """Whether path names a zarr array: its name ends in .zarr."""
    return os.fspath(path).rstrip("/" + os.sep).lower().endswith(".zarr")


def is_lazy_input(path: str | os.PathLike) -> bool:
    """Whether the workers read `path` (a .zarr array, a directory of .npy shards, or a glob of
    them) rather than this process: a path that exists is a glob only if it is a directory."""
    path = os.fspath(path)
    if os.path.isdir(path) and not is_zarr(path):  # a folder of shards; a dataset folder is read here
        from ...io import FORMATS

        return not any(f.folder is not None and f.name != "npy-folder" and f.folder(path) for f in FORMATS.values())
    return is_zarr(path) or (glob.has_magic(path) and not os.path.exists(path))


def open_input(path: str | os.PathLike, block_rows: int | None = None, **load_options) -> EmbeddingSet:
    """An input as the cluster reads it, checked here without a cluster: a .zarr array or shards
    opened lazily (every shard's header read: 2-D, numeric, one dimension), else the loaded
    file (`load_options` go to load_embeddings)."""
    path = os.fspath(path)
    if is_zarr(path):
        vectors, ids = load_zarr(path, block_rows)
    elif is_lazy_input(path):
        vectors, ids = load_shards(path, block_rows)
    else:
        return load_embeddings(path, **load_options)
    return EmbeddingSet(vectors, ids, path)


def _open_zarr(path: str, mode: str = "r"):
    import zarr

    try:
        return zarr.open_array(path, mode=mode)
    except (OSError, ValueError) as exc:  # zarr's own errors are ValueErrors or OSErrors
        raise InputError(f"{path}: not a zarr array ({exc})") from None


def _read_rows(path: str, r0: int, r1: int) -> np.ndarray:
    """Rows r0:r1 of a .npy shard or a .zarr array, checked finite as a loaded file is (run by a worker)."""
    source = _open_zarr(path) if is_zarr(path) else np.load(path, mmap_mode="r", allow_pickle=False)
    rows = np.array(source[r0:r1])
    check_finite(rows, path, lambda row, col: f"row {r0 + row}, column {col}", tally=False)
    return rows


def _lazy_rows(path: str, shape: tuple[int, int], dtype, step: int) -> list:
    """The rows of a shard or zarr array as dask blocks of `step` rows, each read by a worker."""
    import dask
    import dask.array as da

    parts = []
    for r0 in range(0, shape[0], step):
        r1 = min(shape[0], r0 + step)
        load = dask.delayed(_read_rows, pure=True)(path, r0, r1)
        parts.append(da.from_delayed(load, shape=(r1 - r0, shape[1]), dtype=dtype))
    return parts


def load_shards(pattern_or_dir: str | os.PathLike, block_rows: int | None = None):
    """(dask array, ids) of .npy shards read lazily, rows in shard order; the id of a row is
    'shard:row' (the shard's file name without .npy). Each shard is one block, or blocks of
    `block_rows` rows.

    >>> vectors, ids = load_shards("gallery/")     # doctest: +SKIP
    >>> ids[:2]                                    # doctest: +SKIP
    ['part-000:0', 'part-000:1']
    """
    heads = [(path, _shard_header(path)) for path in shard_paths(pattern_or_dir)]  # no Dask yet: fails fast
    first, (_, dim, _) = heads[0]
    for path, (_, other, _) in heads[1:]:
        if other != dim:
            raise ShapeError(f"{path} has {counted(other, 'dimension')} but {first} has {dim}; every shard must have the same")
    if not any(rows for _, (rows, _, _) in heads):
        raise InputError(f"{os.fspath(pattern_or_dir)}: the shards hold no rows")
    require_dask()
    import dask.array as da

    parts, ids = [], []
    for path, (rows, dim, dtype) in heads:
        parts.extend(_lazy_rows(path, (rows, dim), dtype, max(1, block_rows or rows)))
        name = os.path.basename(path).removesuffix(".npy")
        ids.extend(f"{name}:{r}" for r in range(rows))
    return da.concatenate(parts), ids


def _shard_header(path: str) -> tuple[int, int, np.dtype]:
    """(rows, dims, dtype) of a .npy shard, from its header, checked: 2-D, numeric, and the file
    holds the bytes its header declares (a memory map of them is made, not read)."""
    try:
        head = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # a damaged header raises ValueError, SyntaxError, tokenize.TokenError...
        raise InputError(f"{path}: not a valid .npy shard ({type(exc).__name__}: {exc})") from None
    if head.ndim != 2 or head.dtype.kind not in "iuf":
        raise InputError(f"{path}: a shard must hold a 2-D numeric array, not {head.ndim}-D {head.dtype}")
    return head.shape[0], head.shape[1], head.dtype


def load_zarr(path: str | os.PathLike, block_rows: int | None = None):
    """(dask array, ids) of a 2-D numeric zarr array read lazily, one block per chunk of rows (or
    blocks of `block_rows` rows), each read by the worker that needs it; the id of a row is
    'name:row' as a shard's (the array's name without .zarr), so ids say where a row is.

    >>> vectors, ids = load_zarr("gallery.zarr")   # doctest: +SKIP
    >>> ids[:2]                                    # doctest: +SKIP
    ['gallery:0', 'gallery:1']
    """
    require_dask()
    require_zarr()
    import dask.array as da

    path = os.fspath(path).rstrip("/" + os.sep)
    array = _open_zarr(path)
    if array.ndim != 2 or array.dtype.kind not in "iuf":
        raise InputError(f"{path}: a .zarr input must hold a 2-D numeric array, not {array.ndim}-D {array.dtype}")
    if array.shape[0] == 0:
        raise InputError(f"{path}: the array holds no rows")
    parts = _lazy_rows(path, array.shape, array.dtype, max(1, block_rows or array.chunks[0]))
    name = os.path.basename(path)[: -len(".zarr")]
    return da.concatenate(parts), [f"{name}:{r}" for r in range(array.shape[0])]


def is_dask_array(x) -> bool:
    return type(x).__module__.startswith("dask.array")


def _as_set(x, name: str, block_rows: int | None) -> EmbeddingSet:
    """An EmbeddingSet whose vectors may be a dask array: a .zarr array, shards (a directory or a
    glob), a dask array, or anything the local engine accepts (a set, an array, a file)."""
    if isinstance(x, (str, os.PathLike)):
        return open_input(x, block_rows)
    if is_dask_array(x):
        if x.ndim != 2:
            raise InputError(f"{name}: a dask array of vectors must be 2-D, not {x.ndim}-D")
        return EmbeddingSet(x, None, name)
    return as_embedding_set(x, name)


def _rows_to_look_at(metric: Metric, normalize: bool) -> Callable[[np.ndarray], np.ndarray]:
    """A row test true where engine.prepare would report or mask a row: the metric undefined
    there, a zero row to normalise, a negative value for a metric of non-negative vectors."""

    def test(rows: np.ndarray) -> np.ndarray:
        flagged = np.zeros(rows.shape[0], dtype=bool)
        if metric.undefined_rows is not None:
            flagged |= metric.undefined_rows(rows)
        if normalize:
            flagged |= zero_rows(rows)
        if metric.domain == "nonnegative":
            flagged |= (rows < 0).any(axis=1)
        return flagged

    return test


def _any_row(s: EmbeddingSet, test) -> bool:
    """Whether test holds for a row of s: on the cluster for a dask array (one bool comes back;
    the run's client is the default one), watched as every run is (_compute)."""
    if is_dask_array(s.vectors):
        from distributed import default_client

        [found] = _compute(default_client(), [s.vectors.map_blocks(test, drop_axis=1, dtype=bool).any()], None)
        return bool(found)
    return bool(scan_rows(s, test).any())


def _stand_in(s: EmbeddingSet) -> EmbeddingSet:
    """Two equal rows 1, 2, ..., d of s's dims and dtype: non-zero, non-constant, non-negative,
    so engine.prepare flags no row of them."""
    return EmbeddingSet(np.tile(np.arange(1, s.dim + 1, dtype=s.vectors.dtype), (2, 1)), None, s.source)


def check(a, b=None, metric="cosine", *, block_rows: int | None = None, **options) -> tuple:
    """(A, B) opened and checked as a run on the cluster would check them, without a cluster, so
    that a bad input fails at once: shards and .zarr arrays opened (headers read), dimensions,
    the metric and its options; the rows of an input in memory too. What needs the workers (the
    rows of shards, a covariance fitted to the data) is checked in the run.

    >>> a, b = check("queries.npy", "shards/", "cosine")   # doctest: +SKIP
    """
    a_set = _as_set(a, "A", block_rows)
    b_set = None if b is None else _as_set(b, "B", block_rows)
    m = get_metric(metric)
    here = [s if not is_dask_array(s.vectors) else _stand_in(s) for s in (a_set, b_set) if s is not None]
    prepare(*here, metric=replace(m, prepare=None), **{**options, "notify": None})
    return a_set, b_set


def _prepare_lazy(a: EmbeddingSet, b: EmbeddingSet | None, metric, options, fit=prepare) -> Comparison:
    """engine.prepare (or `fit`, which takes the same arguments) over inputs the workers read (rows
    to report, a covariance to fit): its reads run on the default client, outside _compute's watch;
    a local cluster's scheduler fails them when it has had no worker for no_workers_timeout() (see
    connect), a ClusterError here."""
    from distributed import default_client

    address = _address(default_client())
    try:
        return fit(a, b, metric=metric, **options)
    except Exception as exc:
        failure = _cluster_failure(exc, address)
        if failure is None:
            raise
        raise ClusterError(failure) from None


def prepare_on_cluster(a, b=None, metric="cosine", *, block_rows: int | None = None, **options) -> Comparison:
    """engine.prepare for the whole inputs, without reading a sharded input on the client.

    engine.prepare reads every row where it checks rows (cosine's zero rows, ...). Instead the
    workers look for such rows; when there are none (the usual case), engine.prepare runs on
    two-row stand-ins of the same dims and dtype, which checks the options exactly as it would,
    and the comparison gets the real inputs with no row masked; a metric that fits parameters to
    the data (mahalanobis' covariance, euclidean's shift) fits them to the real inputs. When a row
    is flagged, engine.prepare runs on the whole inputs.
    """
    a_set = _as_set(a, "A", block_rows)
    b_set = None if b is None else _as_set(b, "B", block_rows)
    sets = [a_set] if b_set is None else [a_set, b_set]
    m = get_metric(metric)
    lazy = any(is_dask_array(s.vectors) for s in sets)
    if not lazy:
        return prepare(a_set, b_set, metric=metric, **options)
    test = _rows_to_look_at(m, options.get("normalize", False))
    if a_set.dim < 2 or any(_any_row(s, test) for s in sets):
        return _prepare_lazy(a_set, b_set, metric, options)  # the engine's report (or masks) of those rows
    if m.prepare is not None:  # a fit to the data (mahalanobis' covariance, euclidean's shift): on the real rows
        return _prepare_lazy(a_set, b_set, m, options, fit=_fitted_on_stand_ins)
    return _on_stand_ins(a_set, b_set, metric, options)


def _on_stand_ins(a_set: EmbeddingSet, b_set: EmbeddingSet | None, metric, options) -> Comparison:
    """engine.prepare's checks on two-row stand-ins of the inputs, which then take their place."""
    comp = prepare(_stand_in(a_set), None if b_set is None else _stand_in(b_set), metric=metric, **options)
    b_set = a_set if b_set is None else b_set
    return replace(comp, a=a_set, b=b_set, undefined_a=np.zeros(len(a_set), dtype=bool),
                   undefined_b=np.zeros(len(b_set), dtype=bool))


def _fitted_on_stand_ins(a_set: EmbeddingSet, b_set: EmbeddingSet | None, metric: Metric, **options) -> Comparison:
    """_on_stand_ins with the metric's parameters fitted to the real inputs: when the workers found
    no row to report, the fit is all that needs the rows (euclidean's shift reads a sample of them)."""
    from ...engine.comparison import fit_params

    comp = _on_stand_ins(a_set, b_set, replace(metric, prepare=None), options)
    inputs = [a_set] if b_set is None else [a_set, b_set]
    params = fit_params(metric, comp.params, inputs, options.get("normalize", False))
    notify = options.get("notify")
    for note in params.notes if notify is not None else ():
        notify(note)
    return replace(comp, metric=metric, params=params)

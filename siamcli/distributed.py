"""Run the engine on a Dask cluster: top-k, paired scores and whole matrices, computed in blocks
by the workers with the local engine's own kernels, with the local engine's results.

Each task runs the local engine (`iter_topk`, `iter_paired`, `fill_matrix`) on a block of A
against a block of B; top-k lists are merged in a tree with the engine's tie rule (key, then
column index), so the client receives O(queries x k) values, never O(queries x gallery).
Dask is an optional extra (``pip install 'siamcli[dask]'``), and so is zarr for .zarr arrays
(``pip install 'siamcli[zarr]'``); this module imports them only inside functions, so
``import siamcli.distributed`` works without them.

>>> client = connect("local:2")                        # doctest: +SKIP
>>> topk(client, "queries.npy", "shards/", k=10)       # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import time
import warnings
from dataclasses import dataclass, replace
from functools import partial
from typing import Callable

import numpy as np

from .engine import (
    Comparison,
    best_per_row_index,
    best_pairs,
    can_screen,
    scan_rows,
    whole_tiles,
    as_embedding_set,
    check_counts,
    fill_matrix,
    iter_paired,
    iter_topk,
    matrix_row_blocks,
    prepare,
)
from . import kernels
from .errors import ClusterError, InputError, ShapeError, UsageError, mention
from .io import EmbeddingSet, load_embeddings
from .metrics import Metric, get_metric
from .results import MatrixResult, Ranking

EXTRA = "pip install 'siamcli[dask]'"
ZARR_EXTRA = "pip install 'siamcli[zarr]'"
#: Rows per block of an in-memory input (a sharded input keeps its shards' blocks).
DEFAULT_BLOCK_ROWS = 65536
#: Partial top-k lists merged per reduction task.
FAN_IN = 4
DEFAULT_LOCAL_WORKERS = 2
#: Seconds a run waits while its cluster has no worker at all before it fails.
NO_WORKERS_TIMEOUT = 30.0
#: The environment variable that changes NO_WORKERS_TIMEOUT (seconds).
NO_WORKERS_ENV = "SIAMCLI_NO_WORKERS_TIMEOUT"
#: Seconds between two looks at a running cluster (are there workers? has a task failed?).
_POLL_SECONDS = 0.5
#: The loggers of Dask and of what it runs on, silenced unless --debug.
_DASK_LOGGERS = ("distributed", "dask", "tornado", "asyncio", "bokeh")
#: The warnings they raise: by the module that warns, or (raised at the caller) by message.
_DASK_MODULES = r"(dask|distributed|tornado|bokeh|zarr)(\.|$)"
_DASK_MESSAGES = r"Sending large graph|Port \d+ is already in use|Creating scratch directories"
#: A key of the Dask config a local cluster hands to its workers: silence their logs.
_QUIET_KEY = "siamcli-quiet-workers"


@dataclass
class RunStats:
    """What one distributed run did: tasks in its graph and bytes of results sent to the client."""

    tasks: int = 0
    received_bytes: int = 0


# ---------------------------------------------------------------- the cluster


def require_dask() -> None:
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise UsageError(f"running on a Dask cluster needs Dask: {EXTRA}") from None


def require_zarr() -> None:
    try:
        import zarr  # noqa: F401
    except ImportError:
        raise UsageError(f"a .zarr array needs zarr: {ZARR_EXTRA}") from None


def no_workers_timeout() -> float:
    """Seconds a run may go on without any worker before it fails: $SIAMCLI_NO_WORKERS_TIMEOUT,
    else NO_WORKERS_TIMEOUT (30)."""
    text = os.environ.get(NO_WORKERS_ENV, "").strip()
    if not text:
        return NO_WORKERS_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise UsageError(f"${NO_WORKERS_ENV} must be a number of seconds > 0, got '{text}'")
    return seconds


def connect(address: str | None = "local", timeout: float = 10.0, *, quiet: bool = False):
    """A dask.distributed Client: "local" or "local:N" starts a LocalCluster of N worker
    processes (default 2, one thread each) on this machine; anything else is a scheduler
    address such as tcp://host:8786, reached within `timeout` seconds. Local workers are new
    processes: a script that starts them needs the `if __name__ == "__main__":` guard; they
    ignore Ctrl-C (closing the client stops them) and, with `quiet`, log nothing.

    A scheduler is trusted like code: Dask sends pickled functions and data both ways, so the
    scheduler (or anyone who can reach its port) can run code in this process and on the workers."""
    require_dask()
    from distributed import Client

    address = address or "local"
    if address == "local" or address.startswith("local:"):
        count = address.partition(":")[2] or str(DEFAULT_LOCAL_WORKERS)
        if not count.isdigit() or int(count) < 1:
            raise UsageError(f"{mention('scheduler')} local:N needs a number of workers N >= 1, got '{address}'")
        # the client owns the cluster it starts: closing the client stops the workers. Each worker
        # runs dask_setup below first (a preload); `config` reaches it, and restarted workers too.
        import dask

        try:
            # the scheduler fails tasks once it has had no worker for that long: reads that
            # engine.prepare makes outside _compute's watch (see _prepare_lazy)
            wait = {"distributed.scheduler.no-workers-timeout": f"{no_workers_timeout()}s"}
            with _sigint_deferred() as pressed, dask.config.set(wait):
                _fork_server_ignoring_sigint()
                # the scheduler listens on loopback only (Dask's default); so does a dashboard, made
                # only when not quiet (with bokeh installed): quiet, nobody would learn its port
                client = Client(n_workers=int(count), threads_per_worker=1, processes=True,
                                dashboard_address=None if quiet else "127.0.0.1:0",
                                silence_logs=logging.CRITICAL if quiet else logging.WARNING,
                                preload=[__name__], config={_QUIET_KEY: quiet})
                if pressed:
                    client.close()
            return client
        except RuntimeError as exc:  # "Nanny failed to start": a worker process died as it started
            raise ClusterError(f"the local Dask cluster ({address}) did not start: {exc}") from None
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def _fork_server_ignoring_sigint() -> None:
    """Makes Dask fork local workers from multiprocessing's fork server (unless this process chose
    another way than Dask's default, spawn), started here with SIGINT ignored: it keeps ignoring
    it, and so does every worker it forks, from its first instruction (a spawned worker takes
    Ctrl-C while it imports, with a traceback); and a restarted worker is up in a moment, its
    modules already imported. (A press in the few milliseconds it takes to start is lost.)"""
    import multiprocessing
    import signal
    import threading

    import dask
    from distributed.utils import get_mp_context

    method = "distributed.worker.multiprocessing-method"
    if dask.config.get(method) != "spawn" or "forkserver" not in multiprocessing.get_all_start_methods():
        return  # (Windows has no fork server)
    from multiprocessing import forkserver

    dask.config.set({method: "forkserver"})  # for this process: restarted workers too
    get_mp_context()  # Dask's modules to preload in the server, which its workers then share
    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _sigint_deferred():
    """Within: Ctrl-C waits (the list yielded says whether it came). A local cluster interrupted as
    it starts is left half made, and Dask can neither use nor close it (a traceback at exit, a
    worker left running); so the interrupt is delivered on the way out, once the client is made
    and closed again."""
    import signal
    import threading

    pressed: list[int] = []
    if threading.current_thread() is not threading.main_thread():  # only there can handlers be set
        yield pressed
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)
        if pressed:
            signal.raise_signal(signal.SIGINT)  # to the handler there was: KeyboardInterrupt by default


def dask_setup(worker) -> None:
    """Prepares each worker process of a cluster `connect` starts (Dask runs it: a preload).
    Ctrl-C in a terminal reaches the whole process group, workers included, but only the client
    answers it (closing the cluster): a worker ignores SIGINT, so it prints no traceback; and
    without --debug it logs nothing."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():  # where a handler can be set
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    import dask

    if dask.config.get(_QUIET_KEY, default=False):
        _silence_dask()


def _silence_dask() -> list:
    """Silences Dask's loggers and warnings in this process; returns what to restore. Each logger
    is silenced, not only the top ones: Dask gives some their own levels (distributed.client)."""
    names = [name for name in logging.root.manager.loggerDict
             if name.split(".")[0] in _DASK_LOGGERS] + list(_DASK_LOGGERS)
    saved = [(name, logging.getLogger(name).level) for name in dict.fromkeys(names)]
    for name, _ in saved:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    warnings.filterwarnings("ignore", module=_DASK_MODULES)
    warnings.filterwarnings("ignore", message=_DASK_MESSAGES)
    return saved


@contextlib.contextmanager
def quiet_dask(quiet: bool = True):
    """Within: Dask's logs and warnings in this process (the client's, and the scheduler's and
    nannies' of a local cluster) are silenced, with `quiet`; siamcli's own messages stay."""
    if not quiet:
        yield
        return
    with warnings.catch_warnings():
        saved = _silence_dask()
        try:
            yield
        finally:
            for name, level in saved:
                logging.getLogger(name).setLevel(level)


# ---------------------------------------------------------------- sharded inputs


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
    return is_zarr(path) or os.path.isdir(path) or (glob.has_magic(path) and not os.path.exists(path))


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
    if not np.isfinite(rows).all():
        row, col = (int(x) for x in np.argwhere(~np.isfinite(rows))[0])
        value = "NaN" if np.isnan(rows[row, col]) else "infinite"
        raise InputError(f"{path}: row {r0 + row}, column {col} is {value}; embeddings must be finite")
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
            raise ShapeError(f"{path} has {other} dimensions but {first} has {dim}; every shard must have the same")
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


def _is_dask_array(x) -> bool:
    return type(x).__module__.startswith("dask.array")


def _as_set(x, name: str, block_rows: int | None) -> EmbeddingSet:
    """An EmbeddingSet whose vectors may be a dask array: a .zarr array, shards (a directory or a
    glob), a dask array, or anything the local engine accepts (a set, an array, a file)."""
    if isinstance(x, (str, os.PathLike)):
        return open_input(x, block_rows)
    if _is_dask_array(x):
        if x.ndim != 2:
            raise InputError(f"{name}: a dask array of vectors must be 2-D, not {x.ndim}-D")
        return EmbeddingSet(x, None, name)
    return as_embedding_set(x, name)


# ---------------------------------------------------------------- blocks and tasks


def _bounds(s: EmbeddingSet, block_rows: int | None, tiled: bool = True) -> list[tuple[int, int]]:
    """Row ranges of the blocks of s: a dask array's own chunks, else `block_rows` rows each.
    `tiled`, without `block_rows`: chunks of at least a product tile's width have each edge
    between them moved down to a multiple of it, so every block's tiles are the local engine's and
    so are scores from matrix products, to the last bit (smaller chunks stay: blocks of fewer rows
    than a tile). Not needed where scores come from the paired kernel (screened rankings): blocks
    across shard edges cost a copy of each block."""
    if _is_dask_array(s.vectors):
        sizes = tuple(s.vectors.chunks[0])
        ends = np.cumsum((0,) + sizes)
        tile = max(kernels.PRODUCT_TILE)
        if tiled and block_rows is None and min(sizes[:-1], default=0) >= tile:
            ends = np.unique(np.concatenate([[0], ends[1:-1] - ends[1:-1] % tile, ends[-1:]]))
        return [(int(r0), int(r1)) for r0, r1 in zip(ends[:-1], ends[1:]) if r1 > r0]
    step = max(1, block_rows or DEFAULT_BLOCK_ROWS)
    return [(r0, min(len(s), r0 + step)) for r0 in range(0, len(s), step)]


def _blocks(s: EmbeddingSet, bounds: list[tuple[int, int]]) -> list:
    """One dask Delayed per row range: a chunk of a dask array (loaded by the worker that needs
    it), or the rows of an in-memory array placed in the graph (so a lost block is recomputed
    from the graph when a worker dies, which scattered data would not be)."""
    import dask

    if _is_dask_array(s.vectors):
        chunks = tuple(r1 - r0 for r0, r1 in bounds)
        vectors = s.vectors.rechunk((chunks, -1))
        return list(vectors.to_delayed()[:, 0])
    return [dask.delayed(np.ascontiguousarray(s.vectors[r0:r1]), pure=True) for r0, r1 in bounds]


def _grid(comp: Comparison, block_rows: int | None, tiled: bool = True):
    """Row ranges and row blocks of A and of B (a self-comparison's B is its A, block for block)."""
    a_bounds = _bounds(comp.a, block_rows, tiled)
    a_blocks = _blocks(comp.a, a_bounds)
    if comp.same:
        return a_bounds, a_blocks, a_bounds, a_blocks
    b_bounds = _bounds(comp.b, block_rows, tiled)
    return a_bounds, a_blocks, b_bounds, _blocks(comp.b, b_bounds)


def _matrix_grid(comp: Comparison, block_rows: int | None, whole_rows: bool):
    """_grid for writing the matrix, A's blocks split so that the scores one task holds (its block,
    or with `whole_rows` its rows of the whole matrix) stay within the memory budget: blocks of
    65,536 x 65,536 would be 16 GiB. Splits fall on whole product tiles when the budget holds one."""
    a_bounds = _bounds(comp.a, block_rows)
    b_bounds = a_bounds if comp.same else _bounds(comp.b, block_rows)
    width = len(comp.b) if whole_rows else max(j1 - j0 for j0, j1 in b_bounds)
    step = whole_tiles(comp.memory // (2 * width * comp.dtype.itemsize), len(comp.a), 0)
    split = [(r, min(r1, r + step)) for r0, r1 in a_bounds for r in range(r0, r1, step)]
    b_blocks = _blocks(comp.b, b_bounds)
    return split, _blocks(comp.a, split), b_bounds, b_blocks


def _block_pairs(comp: Comparison, grid):
    """(undefined rows of the A block and of the B block, i0, j0, A block, B block, diagonal) for
    every pair of blocks of a grid; `diagonal`: the same rows of a self-comparison on both sides."""
    a_bounds, a_blocks, b_bounds, b_blocks = grid
    for (i0, i1), ab in zip(a_bounds, a_blocks):
        for (j0, j1), bb in zip(b_bounds, b_blocks):
            yield (comp.undefined_a[i0:i1], comp.undefined_b[j0:j1], i0, j0, ab, bb,
                   comp.same and (i0, i1) == (j0, j1))


def _template(comp: Comparison, k: int | None = None) -> Comparison:
    """The comparison's options without its data, shipped to every task. When the whole
    ranking is not screened (a row under the --zero-vector policy, or a large k), no block is:
    every block then ranks by the same kernel as the local engine would."""
    metric = comp.metric
    if k is not None and metric.screen is not None and not can_screen(comp, k):
        metric = replace(metric, screen=None)
    return replace(comp, metric=metric, a=None, b=None, undefined_a=None, undefined_b=None, progress=None)


def _one_thread_per_task() -> None:
    """Dask runs one task per worker thread and starts workers with BLAS limited to one thread;
    the engine's own kernels (row chunks in threads, numba) follow, so cores are not oversubscribed.
    (Per-pair results do not depend on the thread count.)"""
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return  # not in a Dask worker
    kernels.set_threads(1)


def _block_comparison(template: Comparison, a_rows, b_rows, undefined_a, undefined_b, diagonal: bool) -> Comparison:
    """The comparison of one block of A with one block of B. A diagonal block of a
    self-comparison (the same rows on both sides) keeps `same`, so self-pairs are excluded."""
    _one_thread_per_task()
    a = EmbeddingSet(a_rows, None, "A block")
    b = a if diagonal else EmbeddingSet(b_rows, None, "B block")
    return replace(template, a=a, b=b, same=diagonal, undefined_a=undefined_a,
                   undefined_b=undefined_a if diagonal else undefined_b)


def _topk_block(template, a_rows, b_rows, undefined_a, undefined_b, i0, j0, k, threshold, diagonal):
    """(rows, cols, scores) of each row's k best in one block, in global indices (a task)."""
    comp = _block_comparison(template, a_rows, b_rows, undefined_a, undefined_b, diagonal)
    parts = list(iter_topk(comp, k, threshold))
    ranking = Ranking.concat(parts, comp.metric, comp.a, comp.b, "row")
    return ranking.a_index + i0, ranking.b_index + j0, ranking.score


def _merge_topk(k: int, higher: bool, *parts):
    """The k best per row of several partial lists, with the engine's tie rule: key (smaller
    is better; NaN last), then column index. Returns (rows, cols, scores, ranks)."""
    rows = np.concatenate([p[0] for p in parts])
    cols = np.concatenate([p[1] for p in parts])
    scores = np.concatenate([p[2] for p in parts])
    keys = np.negative(scores) if higher else scores.copy()  # as Comparison.keys
    keys[np.isnan(keys)] = np.inf
    order, rank = best_per_row_index(rows, cols, keys, k)
    return rows[order], cols[order], scores[order], rank


def _tree(parts: list, merge: Callable) -> object:
    """A tree reduction of Delayed parts, FAN_IN at a time (at least one merge, which ranks)."""
    import dask

    while True:
        parts = [dask.delayed(merge, pure=False)(*parts[i : i + FAN_IN]) for i in range(0, len(parts), FAN_IN)]
        if len(parts) == 1:
            return parts[0]


def _paired_block(template, a_rows, b_rows, undefined_a, undefined_b, i0, threshold, diagonal):
    comp = _block_comparison(template, a_rows, b_rows, undefined_a, undefined_b, diagonal)
    ranking = Ranking.concat(list(iter_paired(comp, threshold)), comp.metric, comp.a, comp.b, "paired")
    return ranking.a_index + i0, ranking.score


def _matrix_block(template, a_rows, b_rows, undefined_a, undefined_b, i0, j0, path, diagonal) -> int:
    """Writes one block of the matrix into the .npy at `path` (opened r+), returns its pairs."""
    comp = _block_comparison(template, a_rows, b_rows, undefined_a, undefined_b, diagonal)
    out = np.load(path, mmap_mode="r+")
    fill_matrix(comp, out[i0 : i0 + len(comp.a), j0 : j0 + len(comp.b)])
    out.flush()
    return len(comp.a) * len(comp.b)


def _compute(client, graph: list, stats: RunStats | None, on_submit: Callable[[list], None] | None = None) -> list:
    """Results of Delayed objects computed on the cluster (Dask retries tasks of a lost worker).
    `on_submit(futures)` is called once they run, e.g. to show Dask's progress on stderr.
    Fails (ClusterError) when the cluster has no worker for no_workers_timeout() seconds, or when
    workers died running one task too often; the futures are released when it fails."""
    with warnings.catch_warnings():
        # in-memory inputs are placed in the graph on purpose (see _blocks): Dask's advice to load
        # them with Dask is what shards do
        warnings.filterwarnings("ignore", message="Sending large graph")
        futures = client.compute(graph)
    address = _address(client)
    try:
        if on_submit is not None:
            on_submit(futures)
        _wait_while_workers(client, futures, no_workers_timeout())
        found = client.gather(futures)
    except BaseException as exc:
        with contextlib.suppress(Exception):  # a broken connection: closing the client releases them
            client.cancel(futures)
        failure = _cluster_failure(exc, address)
        if failure is not None:
            raise ClusterError(failure) from None
        raise
    if stats is not None:
        tasks = {}
        for part in graph:
            tasks.update(dict(part.__dask_graph__()))
        stats.tasks = len(tasks)
        stats.received_bytes = sum(np.asarray(x).nbytes for r in found for x in (r if isinstance(r, tuple) else (r,)))
    return found


def _wait_while_workers(client, futures: list, timeout: float, clock=time.monotonic) -> None:
    """Returns once every future is finished or one has failed; raises ClusterError once the
    cluster has had no worker for `timeout` seconds (Dask would wait for one forever)."""
    import asyncio

    from distributed import wait

    pending, alone_since = list(futures), None
    while pending:
        try:
            with client.as_current():
                wait(pending, timeout=_POLL_SECONDS)
            return
        except (TimeoutError, asyncio.TimeoutError):
            pass
        if any(f.status == "error" for f in pending):
            return  # gather raises it
        pending = [f for f in pending if not f.done()]
        if _worker_count(client) > 0:
            alone_since = None
        elif alone_since is None:
            alone_since = clock()
        elif clock() - alone_since >= timeout:
            raise ClusterError(_no_workers_message(_address(client), timeout))


def _worker_count(client) -> int:
    """The workers the scheduler knows (0 when it cannot be asked)."""
    try:
        info = client.scheduler_info(n_workers=0)
    except TypeError:  # older distributed: no n_workers
        info = client.scheduler_info()
    except (OSError, TimeoutError):
        return 0
    return int(info.get("n_workers", len(info.get("workers", ()))))


def _address(client) -> str:
    return getattr(client.scheduler, "address", None) or "?"


def _no_workers_message(address: str, timeout: float) -> str:
    return (f"the Dask cluster at {address} has had no workers for {timeout:g} s: its workers died, or "
            f"none reached the scheduler (${NO_WORKERS_ENV} sets this wait)")


def _cluster_failure(exc: BaseException, address: str) -> str | None:
    """What went wrong, when `exc` is the cluster failing rather than siamcli or its input."""
    from dask.utils import key_split
    from distributed import KilledWorker
    from distributed.client import FutureCancelledError

    if type(exc).__name__ in ("NoWorkerError", "NoValidWorkerError"):  # the scheduler's no-workers-timeout
        return _no_workers_message(address, no_workers_timeout())
    if isinstance(exc, KilledWorker):
        tries = getattr(exc, "allowed_failures", None)
        times = f"{tries + 1} time{'s' if tries else ''} " if isinstance(tries, int) else ""
        return (f"workers of the Dask cluster at {address} died {times}while running {key_split(exc.task)} "
                f"(killed, or out of memory: try a smaller {mention('memory')}, or workers with more memory)")
    groups = getattr(exc, "error_groups", None)  # FuturesCancelledError (newer Dask)
    if isinstance(exc, FutureCancelledError) or groups is not None:
        reasons = sorted({g.reason for g in groups} if groups is not None else {exc.reason})
        if "scheduler-connection-lost" in reasons:
            return f"lost the connection to the Dask scheduler at {address} (it stopped, or the network failed)"
        return f"the Dask scheduler at {address} cancelled the run ({', '.join(reasons)})"
    return None


def _rows_to_look_at(metric: Metric, normalize: bool) -> Callable[[np.ndarray], np.ndarray]:
    """A row test true where engine.prepare would report or mask a row: the metric undefined
    there, a zero row to normalise, a negative value for a metric of non-negative vectors."""

    def test(rows: np.ndarray) -> np.ndarray:
        flagged = np.zeros(rows.shape[0], dtype=bool)
        if metric.undefined_rows is not None:
            flagged |= metric.undefined_rows(rows)
        if normalize:
            flagged |= ~np.any(rows != 0, axis=1)
        if metric.domain == "nonnegative":
            flagged |= (rows < 0).any(axis=1)
        return flagged

    return test


def _any_row(s: EmbeddingSet, test) -> bool:
    """Whether test holds for a row of s: on the cluster for a dask array (one bool comes back;
    the run's client is the default one), watched as every run is (_compute)."""
    if _is_dask_array(s.vectors):
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
    here = [s if not _is_dask_array(s.vectors) else _stand_in(s) for s in (a_set, b_set) if s is not None]
    prepare(*here, metric=replace(m, prepare=None), **{**options, "notify": None})
    return a_set, b_set


def _prepare_lazy(a: EmbeddingSet, b: EmbeddingSet | None, metric, options) -> Comparison:
    """engine.prepare over inputs the workers read (rows to report, a covariance to fit): its reads
    run on the default client, outside _compute's watch; a local cluster's scheduler fails them
    when it has had no worker for no_workers_timeout() (see connect), a ClusterError here."""
    from distributed import default_client

    address = _address(default_client())
    try:
        return prepare(a, b, metric=metric, **options)
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
    and the comparison gets the real inputs with no row masked. When a row is flagged, or the
    metric fits parameters to the data (mahalanobis), engine.prepare runs on the whole inputs.
    """
    a_set = _as_set(a, "A", block_rows)
    b_set = None if b is None else _as_set(b, "B", block_rows)
    sets = [a_set] if b_set is None else [a_set, b_set]
    m = get_metric(metric)
    lazy = any(_is_dask_array(s.vectors) for s in sets)
    if not lazy:
        return prepare(a_set, b_set, metric=metric, **options)
    test = _rows_to_look_at(m, options.get("normalize", False))
    if m.prepare is not None or a_set.dim < 2 or any(_any_row(s, test) for s in sets):
        return _prepare_lazy(a_set, b_set, metric, options)  # the engine's report (or masks) of those rows

    comp = prepare(_stand_in(a_set), None if b_set is None else _stand_in(b_set), metric=metric, **options)
    b_set = a_set if b_set is None else b_set
    return replace(comp, a=a_set, b=b_set, undefined_a=np.zeros(len(a_set), dtype=bool),
                   undefined_b=np.zeros(len(b_set), dtype=bool))


# ---------------------------------------------------------------- the public API


def topk(client, a, b=None, metric="cosine", k: int | None = 5, threshold: float | None = None, *,
         block_rows: int | None = None, stats: RunStats | None = None,
         on_submit: Callable[[list], None] | None = None, **options) -> Ranking:
    """For each row of A, its k best rows of B (B None: of A, without self-pairs), computed on
    the cluster; the same Ranking as `siamcli.compare(a, b, metric=..., top_k=k)`.

    a, b: anything `compare` takes, a dask array, or .npy shards (a directory or a glob).
    `options` go to `engine.prepare` (p, cov_from, normalize, zero_vector, memory), which runs
    on the client over the whole inputs: its checks and fitted parameters (mahalanobis) are the
    local engine's. `block_rows`: rows per block of an in-memory input (shards keep theirs).
    `stats`, if given, is filled in (tasks, bytes received); `on_submit(futures)` is called once
    the work is submitted (a progress display).
    """
    require_dask()
    check_counts(k, None)
    comp = prepare_on_cluster(a, b, metric, block_rows=block_rows, **options)
    return topk_of(client, comp, k, threshold, block_rows=block_rows, stats=stats, on_submit=on_submit)


def topk_of(client, comp: Comparison, k: int | None = 5, threshold: float | None = None, *,
            block_rows: int | None = None, stats: RunStats | None = None,
            on_submit: Callable[[list], None] | None = None) -> Ranking:
    """`topk` of a prepared comparison (prepare_on_cluster)."""
    m = len(comp.b)
    template = _template(comp, m if k is None else k)
    a_bounds, a_blocks, b_bounds, b_blocks = _grid(comp, block_rows, tiled=template.metric.screen is None)
    merge = partial(_merge_topk, m if k is None else k, comp.metric.higher_is_better)

    import dask

    template = dask.delayed(template, traverse=False)  # one copy in the graph, not one per task
    task = dask.delayed(_topk_block, pure=False)
    finals = []
    for i, ((i0, i1), a_rows) in enumerate(zip(a_bounds, a_blocks)):
        parts = [task(template, a_rows, b_rows, comp.undefined_a[i0:i1], comp.undefined_b[j0:j1], i0, j0,
                      k, threshold, comp.same and i == j)
                 for j, ((j0, j1), b_rows) in enumerate(zip(b_bounds, b_blocks))]
        finals.append(_tree(parts, merge))
    found = _compute(client, finals, stats, on_submit)
    rows, cols, scores, ranks = (np.concatenate([f[n] for f in found]) for n in range(4))
    return Ranking(comp.metric, comp.a, comp.b, rows.astype(np.int64), cols.astype(np.int64),
                   scores.astype(np.float64), ranks.astype(np.int64), "row")


def paired(client, a, b=None, metric="cosine", threshold: float | None = None, *,
           block_rows: int | None = None, stats: RunStats | None = None,
           on_submit: Callable[[list], None] | None = None, **options) -> Ranking:
    """Row i of A against row i of B, in row blocks on the cluster; the same Ranking as
    `siamcli.compare(a, b, metric=..., paired=True)`."""
    require_dask()
    comp = prepare_on_cluster(a, b, metric, block_rows=block_rows, **options)
    return paired_of(client, comp, threshold, block_rows=block_rows, stats=stats, on_submit=on_submit)


def paired_of(client, comp: Comparison, threshold: float | None = None, *, block_rows: int | None = None,
              stats: RunStats | None = None, on_submit: Callable[[list], None] | None = None) -> Ranking:
    """`paired` of a prepared comparison (prepare_on_cluster)."""
    if len(comp.b) != len(comp.a):
        raise ShapeError(f"{mention('paired')} needs the same number of rows: {comp.a.source} has {len(comp.a)}, "
                         f"{comp.b.source} has {len(comp.b)}")
    template = _template(comp)
    bounds = _bounds(comp.a, block_rows)
    a_blocks = _blocks(comp.a, bounds)
    b_blocks = a_blocks if comp.same else _blocks(comp.b, bounds)

    import dask

    template = dask.delayed(template, traverse=False)
    task = dask.delayed(_paired_block, pure=False)
    graph = [task(template, ab, bb, comp.undefined_a[i0:i1], comp.undefined_b[i0:i1], i0, threshold, comp.same)
             for (i0, i1), ab, bb in zip(bounds, a_blocks, b_blocks)]
    found = _compute(client, graph, stats, on_submit)
    rows = np.concatenate([f[0] for f in found]).astype(np.int64)
    scores = np.concatenate([f[1] for f in found]).astype(np.float64)
    return Ranking(comp.metric, comp.a, comp.b, rows, rows.copy(), scores, np.ones(len(rows), np.int64), "paired")


#: After a failed or interrupted write, how long to wait for the workers' running tasks to end
#: before the temporary they write into is removed (a task is one block: seconds at most).
WRITERS_STOP_SECONDS = 60.0


def _executing_keys(dask_worker) -> list:
    """The keys of the tasks a worker is running now, cancelled ones included (run by client.run)."""
    state = dask_worker.state
    return [ts.key for ts in (*getattr(state, "executing", ()), *getattr(state, "long_running", ()))]


def _compute_writes(client, graph: list, stats: RunStats | None, on_submit) -> list:
    """_compute for tasks that write into a temporary file or folder. On failure (or a signal)
    the rest are cancelled, and this returns only once no worker still runs one (Dask cannot stop
    a running task): none writes after the temporary is removed (a zarr chunk write would make
    its folders again)."""
    import time

    submitted = []

    def keep(futures):
        submitted.extend(futures)
        if on_submit is not None:
            on_submit(futures)

    try:
        return _compute(client, graph, stats, keep)
    except BaseException:
        keys = {f.key for f in submitted}
        deadline = time.monotonic() + WRITERS_STOP_SECONDS
        try:
            client.cancel(submitted)
            while keys and time.monotonic() < deadline:
                running = client.run(_executing_keys)
                if not keys.intersection(k for found in running.values() for k in found):
                    break
                time.sleep(0.05)
        except Exception:  # the cluster is gone: so are its tasks
            pass
        raise


def _check_output(path: str, a, b, options: dict, folder: bool = False, replaceable=None) -> None:
    """Before any work: `path` can be written and is none of the inputs given as paths."""
    from .files import check_outputs, check_target

    check_target(path, folder=folder, replaceable=replaceable)
    inputs = [("input", x) for x in (a, b) if isinstance(x, (str, os.PathLike))]
    check_outputs([("path", path)], [(label, os.fspath(x)) for label, x in inputs]
                  + [("cov_from", options.get("cov_from"))])


def matrix_to_npy(client, a, b=None, metric="cosine", *, path: str | os.PathLike, dtype=None,
                  block_rows: int | None = None, stats: RunStats | None = None,
                  on_submit: Callable[[list], None] | None = None, **options) -> MatrixResult:
    """The score matrix of A against B (or A against itself) written into a .npy file by the
    workers, block by block; the client never holds it. The file is made here under a temporary
    name beside `path` (its space reserved: a full disk fails here), written by every worker (they
    must share its filesystem: one machine, or a shared disk whose memory maps are coherent), and
    renamed to `path` once every block is in (see siamcli.files): a failed run leaves the old file.
    Returns a MatrixResult over the file (memory-mapped, read-only).
    `dtype`: the file's dtype (default: the compute dtype, as `siamcli matrix -o x.npy`)."""
    require_dask()
    _check_output(os.fspath(path), a, b, options)
    comp = prepare_on_cluster(a, b, metric, block_rows=block_rows, **options)
    return matrix_to_npy_of(client, comp, path=path, dtype=dtype, block_rows=block_rows, stats=stats,
                            on_submit=on_submit)


def matrix_to_npy_of(client, comp: Comparison, *, path: str | os.PathLike, dtype=None, block_rows: int | None = None,
                     stats: RunStats | None = None, on_submit: Callable[[list], None] | None = None) -> MatrixResult:
    """`matrix_to_npy` of a prepared comparison; `path` is checked by the caller (files.check_target)."""
    from .files import Output, new_npy

    import dask

    with Output(path) as out:  # out.temp: an absolute path, the same for every worker
        reserved = new_npy(out.temp, (len(comp.a), len(comp.b)), np.dtype(dtype or comp.dtype))
        del reserved  # the file is written by the workers, not through this map
        template = dask.delayed(_template(comp), traverse=False)
        task = dask.delayed(_matrix_block, pure=False)
        graph = [task(template, ab, bb, ua, ub, i0, j0, out.temp, diagonal)
                 for ua, ub, i0, j0, ab, bb, diagonal in _block_pairs(comp, _grid(comp, block_rows))]
        _compute_writes(client, graph, stats, on_submit)
    return MatrixResult(comp.metric, comp.a, comp.b, np.load(out.target, mmap_mode="r"))


def pair_scores(client, comp: Comparison, left=None, right=None, *, block_rows: int | None = None,
                on_submit: Callable[[list], None] | None = None) -> np.ndarray:
    """`engine.pair_scores` on the cluster: each block of the listed pairs (row i with row i when
    none are listed) is gathered here and scored by a worker with the comparison's own paired
    kernel, so the float64 scores are the local engine's, bit for bit (the kernel works row by
    row). For `siamcli evaluate --scheduler`: `comp` is prepared here, on the whole inputs."""
    require_dask()
    n = len(comp.a) if left is None else len(left)
    step = block_rows or max(1, comp.memory // (comp.a.dim * 32))

    import dask

    template = dask.delayed(_template(comp), traverse=False)
    task = dask.delayed(_paired_block, pure=False)
    graph = []
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        ai = np.arange(i0, i1) if left is None else np.asarray(left[i0:i1])
        bi = ai if right is None else np.asarray(right[i0:i1])
        graph.append(task(template, np.asarray(comp.a.vectors[ai]), np.asarray(comp.b.vectors[bi]),
                          comp.undefined_a[ai], comp.undefined_b[bi], i0, None, False))
    found = _compute(client, graph, None, on_submit)
    return np.concatenate([f[1] for f in found]).astype(np.float64) if found else np.empty(0)


def _class_block(template: Comparison, vectors, undefined, codes, ks, i0: int, i1: int, all_pairs: bool):
    """Rows i0:i1 of a self-comparison's matrix, as iter_matrix_rows makes them: the pairs i < j
    among them (scores) and their retrieval tallies (a task)."""
    from .engine import fill_matrix, upper_triangle
    from .evaluation import retrieval_counts

    _one_thread_per_task()
    s = EmbeddingSet(vectors, None, "A")
    comp = replace(template, a=s, b=s, same=True, undefined_a=undefined, undefined_b=undefined)
    block = fill_matrix(comp, row_range=(i0, i1))
    values = upper_triangle(i0, block)[2] if all_pairs else None
    return values, retrieval_counts([(i0, block)], codes, comp.metric.higher_is_better, ks)


def class_pair_scores(client, comp: Comparison, codes: np.ndarray, ks, all_pairs: bool,
                      on_submit: Callable[[list], None] | None = None):
    """`evaluation.class_pair_scores` on the cluster: each block of whole matrix rows (the blocks
    iter_matrix_rows makes) computed by a worker, which returns its pairs' scores and retrieval
    tallies, never the block; the same figures as the local pass, bit for bit."""
    require_dask()
    n = len(comp.a)
    blocks = matrix_row_blocks(comp)

    import dask

    template = dask.delayed(_template(comp), traverse=False)
    vectors = dask.delayed(np.asarray(comp.a.vectors), traverse=False)
    undefined = dask.delayed(comp.undefined_a, traverse=False)
    shared_codes = dask.delayed(np.asarray(codes), traverse=False)
    task = dask.delayed(_class_block, pure=False)
    graph = [task(template, vectors, undefined, shared_codes, tuple(ks), i0, i1, all_pairs) for i0, i1 in blocks]
    found = _compute(client, graph, None, on_submit)
    tallies = [f[1] for f in found]
    if not all_pairs:
        return None, None, tallies
    same = []
    for i0, i1 in blocks:  # the same pair order as engine.upper_triangle: row by row, j > i
        r, c = np.nonzero(np.arange(n)[None, :] > np.arange(i0, i1)[:, None])
        same.append(codes[r + i0] == codes[c])
    return np.concatenate([f[0] for f in found]), np.concatenate(same), tallies


def _matrix_part(template, a_rows, b_rows, undefined_a, undefined_b, diagonal) -> np.ndarray:
    """One block of the matrix (a task)."""
    return fill_matrix(_block_comparison(template, a_rows, b_rows, undefined_a, undefined_b, diagonal))


#: The name of a shard of rows i0:i1 of a matrix written with `matrix_to_shards`.
SHARD_NAME = re.compile(r"rows-\d{12}-\d{12}\.npy")


def _write_rows(directory: str, i0: int, i1: int, dtype, *parts) -> str:
    """Rows i0:i1 of the matrix, from its blocks in column order, saved as one .npy shard (a task).
    Written under a temporary name and renamed, so a retried task never leaves half a file."""
    from .files import save_npy

    path = os.path.join(directory, f"rows-{i0:012d}-{i1:012d}.npy")
    partial_path = path + ".partial.npy"
    save_npy(partial_path, np.concatenate(parts, axis=1).astype(dtype, copy=False))
    os.replace(partial_path, path)
    return path


def shard_folder_problem(path: str) -> str | None:
    """Why the folder at `path` must not be replaced by a new folder of shards (it holds files
    that are not matrix shards, which would be lost), or None."""
    try:
        others = sorted(name for name in os.listdir(path) if not SHARD_NAME.fullmatch(name))
    except OSError:
        return None  # the write itself says what is wrong
    if others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        return f"holds files that are not matrix shards ({shown}), which a new matrix would replace"
    return None


def matrix_to_shards(client, a, b=None, metric="cosine", *, directory: str | os.PathLike, dtype=None,
                     block_rows: int | None = None, stats: RunStats | None = None,
                     on_submit: Callable[[list], None] | None = None, **options) -> list[str]:
    """The score matrix of A against B (or A against itself) as .npy shards of whole rows,
    `rows-<first>-<end>.npy` in `directory`, each written by the worker that assembled it from
    its blocks; `load_shards` reads them back in row order. The workers fill a new folder beside
    `directory` (they must share its filesystem), which replaces `directory` whole once every
    shard is in (see siamcli.files): no shard of an earlier run survives, and a failed run leaves
    the old folder as it was. A folder holding other files is refused. Returns the shards' paths."""
    require_dask()
    _check_output(os.fspath(directory), a, b, options, folder=True, replaceable=shard_folder_problem)
    comp = prepare_on_cluster(a, b, metric, block_rows=block_rows, **options)
    return matrix_to_shards_of(client, comp, directory=directory, dtype=dtype, block_rows=block_rows, stats=stats,
                               on_submit=on_submit)


def matrix_to_shards_of(client, comp: Comparison, *, directory: str | os.PathLike, dtype=None,
                        block_rows: int | None = None, stats: RunStats | None = None,
                        on_submit: Callable[[list], None] | None = None) -> list[str]:
    """`matrix_to_shards` of a prepared comparison; `directory` is checked by the caller."""
    from .files import Output

    dtype = np.dtype(dtype or comp.dtype)
    template = _template(comp)
    a_bounds, a_blocks, b_bounds, b_blocks = _matrix_grid(comp, block_rows, whole_rows=True)

    import dask

    template = dask.delayed(template, traverse=False)
    part = dask.delayed(_matrix_part, pure=False)
    write = dask.delayed(_write_rows, pure=False)
    with Output(directory, folder=True, replaceable=shard_folder_problem) as out:
        graph = [write(out.temp, i0, i1, dtype,
                       *[part(template, ab, bb, comp.undefined_a[i0:i1], comp.undefined_b[j0:j1],
                              comp.same and (i0, i1) == (j0, j1))
                         for (j0, j1), bb in zip(b_bounds, b_blocks)])
                 for (i0, i1), ab in zip(a_bounds, a_blocks)]
        written = _compute_writes(client, graph, stats, on_submit)
    return [os.path.join(os.path.abspath(directory), os.path.basename(p)) for p in written]


def _even_rows(s: EmbeddingSet) -> EmbeddingSet:
    """s with a dask array's row chunks made equal (the last may be shorter): the largest chunk,
    down to a multiple of a product tile when it holds one, so `_bounds` keeps them as they are
    and they can be a zarr array's (regular) chunks."""
    if not _is_dask_array(s.vectors):
        return s
    step = max(s.vectors.chunks[0])
    tile = max(kernels.PRODUCT_TILE)
    step -= step % tile if step >= tile else 0
    return replace(s, vectors=s.vectors.rechunk((step, -1)))


def _chunk_length(bounds: list[tuple[int, int]]) -> int:
    """The longest chunk that no two blocks share: the gcd of the blocks' edges, which is the
    blocks' length when they are equal (the last may be shorter)."""
    starts = [r0 for r0, _ in bounds[1:]]
    return int(np.gcd.reduce(starts)) if starts else max(1, bounds[0][1] if bounds else 1)


def _zarr_block(template, a_rows, b_rows, undefined_a, undefined_b, i0, j0, path, diagonal) -> int:
    """Computes one block of the matrix and writes it into the zarr array at `path`, whose chunks
    no other block touches (a task); returns its pairs."""
    values = _matrix_part(template, a_rows, b_rows, undefined_a, undefined_b, diagonal)
    out = _open_zarr(path, mode="r+")
    out[i0 : i0 + values.shape[0], j0 : j0 + values.shape[1]] = values.astype(out.dtype, copy=False)
    return values.size


def zarr_folder_problem(path: str) -> str | None:
    """Why the folder at `path` must not be replaced by a new zarr array (it is not one), or None."""
    if not any(os.path.isfile(os.path.join(path, name)) for name in ("zarr.json", ".zarray")):
        return "exists and is not a zarr array"
    return None


def matrix_to_zarr(client, a, b=None, metric="cosine", *, path: str | os.PathLike, dtype=None,
                   block_rows: int | None = None, stats: RunStats | None = None,
                   on_submit: Callable[[list], None] | None = None, **options) -> MatrixResult:
    """The score matrix of A against B (or A against itself) as a zarr array at `path` whose
    chunks are the blocks, each written by the worker that computed it (the workers share the
    filesystem of `path`); the client receives a count per block. Its attributes name the metric.

    The array is built in a new folder beside `path` and replaces the zarr array there whole once
    every block is in (see siamcli.files): a failed run leaves the old array (or none) at `path`.
    Returns a MatrixResult over the new array (read-only). `dtype`: a float type (default: the
    compute dtype)."""
    require_dask()
    require_zarr()
    _check_output(os.fspath(path), a, b, options, folder=True, replaceable=zarr_folder_problem)
    comp = prepare_on_cluster(a, b, metric, block_rows=block_rows, **options)
    return matrix_to_zarr_of(client, comp, path=path, dtype=dtype, block_rows=block_rows, stats=stats,
                             on_submit=on_submit)


def matrix_to_zarr_of(client, comp: Comparison, *, path: str | os.PathLike, dtype=None, block_rows: int | None = None,
                      stats: RunStats | None = None, on_submit: Callable[[list], None] | None = None) -> MatrixResult:
    """`matrix_to_zarr` of a prepared comparison; `path` is checked by the caller."""
    from .files import Output

    require_zarr()
    import zarr

    even_a = _even_rows(comp.a)
    comp = replace(comp, a=even_a, b=even_a if comp.same else _even_rows(comp.b))
    grid = _matrix_grid(comp, block_rows, whole_rows=False)

    import dask

    template = dask.delayed(_template(comp), traverse=False)
    task = dask.delayed(_zarr_block, pure=False)
    with Output(path, folder=True, replaceable=zarr_folder_problem) as built:
        out = zarr.open_array(built.temp, mode="w", shape=(len(comp.a), len(comp.b)),
                              chunks=(_chunk_length(grid[0]), _chunk_length(grid[2])),
                              dtype=np.dtype(dtype or comp.dtype), fill_value=np.nan)
        out.attrs.update(metric=comp.metric.name, higher_is_better=comp.metric.higher_is_better)
        graph = [task(template, ab, bb, ua, ub, i0, j0, built.temp, diagonal)
                 for ua, ub, i0, j0, ab, bb, diagonal in _block_pairs(comp, grid)]
        _compute_writes(client, graph, stats, on_submit)
    return MatrixResult(comp.metric, comp.a, comp.b, _open_zarr(built.target))


def _best_block(template, a_rows, b_rows, undefined_a, undefined_b, i0, j0, limit, threshold, diagonal):
    """(a, b, scores) of the `limit` best pairs of one block, in global indices (a task); a
    diagonal block of a self-comparison lists each unordered pair once, as best_pairs does."""
    comp = _block_comparison(template, a_rows, b_rows, undefined_a, undefined_b, diagonal)
    ranking = best_pairs(comp, limit, threshold)
    return ranking.a_index + i0, ranking.b_index + j0, ranking.score


def _merge_best(limit, higher: bool, *parts):
    """The `limit` best of several partial lists: key (NaN last), then a index, then b index."""
    a = np.concatenate([p[0] for p in parts])
    b = np.concatenate([p[1] for p in parts])
    scores = np.concatenate([p[2] for p in parts])
    keys = np.negative(scores) if higher else scores.copy()
    keys[np.isnan(keys)] = np.inf
    order = np.lexsort((b, a, keys))[:limit]
    return a[order], b[order], scores[order]


def best_overall(client, a, b=None, metric="cosine", limit: int | None = None, threshold: float | None = None, *,
                 block_rows: int | None = None, stats: RunStats | None = None,
                 on_submit: Callable[[list], None] | None = None, **options) -> Ranking:
    """The `limit` best pairs overall (None: all), as `siamcli.compare(a, b, limit=...)`: each
    block's best on a worker, merged in a tree; a self-comparison lists each unordered pair once
    (blocks below the diagonal are skipped)."""
    require_dask()
    check_counts(None, limit)
    comp = prepare_on_cluster(a, b, metric, block_rows=block_rows, **options)
    return best_overall_of(client, comp, limit, threshold, block_rows=block_rows, stats=stats, on_submit=on_submit)


def best_overall_of(client, comp: Comparison, limit: int | None = None, threshold: float | None = None, *,
                    block_rows: int | None = None, stats: RunStats | None = None,
                    on_submit: Callable[[list], None] | None = None) -> Ranking:
    """`best_overall` of a prepared comparison (prepare_on_cluster)."""
    import dask

    template = dask.delayed(_template(comp), traverse=False)
    task = dask.delayed(_best_block, pure=False)
    parts = [task(template, ab, bb, ua, ub, i0, j0, limit, threshold, diagonal)
             for ua, ub, i0, j0, ab, bb, diagonal in _block_pairs(comp, _grid(comp, block_rows))
             if not (comp.same and j0 < i0)]
    [found] = _compute(client, [_tree(parts, partial(_merge_best, limit, comp.metric.higher_is_better))],
                       stats, on_submit)
    a_index, b_index, scores = found
    return Ranking(comp.metric, comp.a, comp.b, a_index.astype(np.int64), b_index.astype(np.int64),
                   scores.astype(np.float64), np.arange(1, len(scores) + 1), "overall")



def matrix_of(client, comp: Comparison, *, block_rows: int | None = None, stats: RunStats | None = None,
              on_submit: Callable[[list], None] | None = None) -> np.ndarray:
    """The whole score matrix of a prepared comparison, its blocks computed by the workers and
    gathered here (for a matrix printed, or saved as .csv): the blocks of `matrix_to_zarr`, so the
    local engine's scores to the last bit."""
    require_dask()
    grid = _matrix_grid(comp, block_rows, whole_rows=False)

    import dask

    template = dask.delayed(_template(comp), traverse=False)
    part = dask.delayed(_matrix_part, pure=False)
    places, graph = [], []
    for ua, ub, i0, j0, ab, bb, diagonal in _block_pairs(comp, grid):
        places.append((i0, j0))
        graph.append(part(template, ab, bb, ua, ub, diagonal))
    out = np.empty((len(comp.a), len(comp.b)), dtype=comp.dtype)
    for (i0, j0), block in zip(places, _compute(client, graph, stats, on_submit)):
        out[i0 : i0 + block.shape[0], j0 : j0 + block.shape[1]] = block
    return out

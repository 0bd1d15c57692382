"""How the work runs on the cores: compiled kernels for metrics with no matrix-product form,
matrix products in fixed tiles (`tiled_product`), and the worker threads they share.

With numba installed (`pip install 'siamcli[fast]'`), manhattan and chebyshev run as
compiled loops over both cores: measured 5.2x and 5.0x faster than scipy's cdist on 2 cores
(see benchmarks/README.md). Without numba, scipy's cdist runs on row chunks in threads (it releases
the GIL). The compiled kernels are used only when the work is large enough to repay compiling
(cached on disk after the first run).
"""

from __future__ import annotations

import contextlib
import os
import threading

import numpy as np

#: Below this many element operations (rows x rows x dims), scipy is used: no compile wait.
COMPILED_MIN_WORK = 2 * 10**8
_threads = os.cpu_count() or 1
_compiled: dict | None = None


def set_threads(count: int) -> None:
    """Worker threads for these kernels (and numba's pool, when numba is loaded)."""
    global _threads
    _threads = max(1, count)
    if _compiled:
        import numba

        numba.set_num_threads(min(_threads, numba.config.NUMBA_NUM_THREADS))


def threads() -> int:
    return _threads


def _compile() -> dict:
    """The numba kernels, compiled on first use; {} when numba is not installed."""
    global _compiled
    if _compiled is not None:
        return _compiled
    try:
        import numba
    except ImportError:
        _compiled = {}
        return _compiled

    @numba.njit(parallel=True, fastmath=True, boundscheck=False, cache=True)
    def manhattan(a, bt, out):  # pragma: no cover - compiled
        n, d = a.shape
        m = bt.shape[1]
        for i in numba.prange(n):
            acc = np.zeros(m, np.float64)
            for k in range(d):
                x = np.float64(a[i, k])
                row = bt[k]
                for j in range(m):
                    acc[j] += abs(x - row[j])
            for j in range(m):
                out[i, j] = acc[j]

    @numba.njit(parallel=True, fastmath=True, boundscheck=False, cache=True)
    def chebyshev(a, bt, out):  # pragma: no cover - compiled
        n, d = a.shape
        m = bt.shape[1]
        half = a.dtype.type(0.5)
        for i in numba.prange(n):
            acc = np.zeros(m, a.dtype)
            for k in range(d):
                x = a[i, k]
                row = bt[k]
                for j in range(m):
                    v = abs(x - row[j])
                    # max(acc, v) as arithmetic, which vectorises; exact when either is 0
                    acc[j] = half * (acc[j] + v + abs(acc[j] - v))
            for j in range(m):
                out[i, j] = acc[j]

    _compiled = {"manhattan": manhattan, "chebyshev": chebyshev}
    numba.set_num_threads(min(_threads, numba.config.NUMBA_NUM_THREADS))
    return _compiled


def compiled_matrix(name: str, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray | None:
    """The compiled kernel's (n, m) result (float64; chebyshev's max may also be written into an
    output of the input's type), into `out` if given; None when the kernel does not apply."""
    if a.shape[0] * b.shape[0] * a.shape[1] < COMPILED_MIN_WORK:
        return None
    kernel = _compile().get(name)
    if kernel is None:
        return None
    a = np.ascontiguousarray(a)
    # manhattan sums in float64 (exact to 1e-5 on large sums); chebyshev's max is exact in any type
    bt = np.ascontiguousarray(b.T, dtype=np.float64 if name == "manhattan" else a.dtype)
    shape = (a.shape[0], b.shape[0])
    fits = (out is not None and out.shape == shape and out.flags.c_contiguous
            and (out.dtype == np.float64 or (name == "chebyshev" and out.dtype == a.dtype)))
    target = out if fits else np.empty(shape, dtype=np.float64)
    kernel(a, bt, target)
    if out is not None and target is not out:
        out[...] = target
        return out
    return target


#: Matrix products run in tiles of this many rows x columns, each one thread's single-threaded
#: BLAS call, followed by its post-processing while the tile is in cache. Two reasons: a float32
#: GEMM's last bit depends on how BLAS splits the work (over threads, and at tile edges), so fixed
#: tiles make every score the same for any thread count, memory budget or Dask cluster (blocks are
#: whole tiles); and on 2 cores two concurrent single-threaded tiles are as fast as one
#: two-threaded product of the whole matrix (0.99x in the harness; benchmarks/README.md).
PRODUCT_TILE = (1024, 2048)
#: OpenBLAS computes products of at most this many multiply-adds in one thread anyway.
_ONE_THREAD_WORK = 65536 * 4
_pool = None
_blas_lock = threading.Lock()
_blas_users = 0
_blas_controller = None
_blas_saved = None


@contextlib.contextmanager
def one_blas_thread():
    """BLAS limited to one thread while any caller is inside (the limit is process-wide, so nested
    and concurrent users are counted: the last one out restores the previous setting)."""
    global _blas_users, _blas_controller, _blas_saved
    with _blas_lock:
        if _blas_users == 0:
            if _blas_controller is None:
                from threadpoolctl import ThreadpoolController

                _blas_controller = ThreadpoolController()
            _blas_saved = _blas_controller.limit(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                _blas_saved.restore_original_limits()


def one_blas_thread_for(rows: int, cols: int, dim: int):
    """one_blas_thread() for products of rows x cols x dim that BLAS would split over threads,
    else a no-op (small products never load threadpoolctl: start-up stays fast)."""
    if rows * cols * dim <= _ONE_THREAD_WORK:
        return contextlib.nullcontext()
    return one_blas_thread()


def tiled_product(left: np.ndarray, right: np.ndarray, out: np.ndarray | None = None, post=None,
                  scratch: bool = False) -> np.ndarray:
    """left @ right.T (into `out` if given) in PRODUCT_TILE tiles shared among the threads, with
    post(r0, c0, tile, dest) run on each tile by the thread that computed it; dest is the tile's
    place in `out`. With `scratch`, each thread computes its tiles into one buffer of its own,
    which stays in cache, and post must write dest (a post that rewrites every value anyway, such
    as a square root, then reads the product from cache and writes `out` once)."""
    n, m = left.shape[0], right.shape[0]
    if out is None:
        out = np.empty((n, m), dtype=np.result_type(left, right))
    tile_rows, tile_cols = PRODUCT_TILE
    # column by column: the threads' concurrent tiles share their rows of `right` in cache (as a
    # threaded BLAS shares its packed panel), and write to different rows of `out`
    tiles = [(r0, c0) for c0 in range(0, m, tile_cols) for r0 in range(0, n, tile_rows)]
    buffers: dict[int, np.ndarray] = {}  # a tile's worth per thread, for this call only
    buffer_size = min(tile_rows, n) * min(tile_cols, m)

    def run(t):
        r0, c0 = tiles[t]
        dest = out[r0 : r0 + tile_rows, c0 : c0 + tile_cols]
        tile = dest
        if scratch:
            buffer = buffers.get(threading.get_ident())
            if buffer is None:
                buffer = buffers[threading.get_ident()] = np.empty(buffer_size, np.result_type(left, right))
            tile = buffer[: dest.size].reshape(dest.shape)
        np.matmul(left[r0 : r0 + tile_rows], right[c0 : c0 + tile_cols].T, out=tile)
        if post is not None:
            post(r0, c0, tile, dest)

    with one_blas_thread_for(min(n, tile_rows), min(m, tile_cols), left.shape[1]):
        start_each(run, len(tiles))()
    return out


def _shared_pool():
    """The worker threads, or None where they would not help: one thread, or called from one of
    them (never wait on our own pool)."""
    global _pool
    if _threads == 1 or threading.current_thread().name.startswith("siamcli"):
        return None
    if _pool is None or _pool._max_workers != _threads:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(_threads, thread_name_prefix="siamcli")
    return _pool


def start_each(fn, count: int, threaded: bool = True):
    """Starts fn(i) for i in range(count) in the threads, each taking the next i as it finishes
    one; returns a function that waits and gives the results in order (the caller can work
    meanwhile). Without threads (or `threaded`), the calls run when the results are asked for."""
    pool = _shared_pool() if count > 1 and threaded else None
    if pool is None:
        return lambda: [fn(i) for i in range(count)]
    futures = [pool.submit(fn, i) for i in range(count)]
    return lambda: [f.result() for f in futures]


#: Inputs with fewer values than this prepare their operands in the calling thread: small calls
#: never start the worker threads (start-up stays fast).
_PARALLEL_MIN_VALUES = 2**20


def operands(make_left, a: np.ndarray, make_right, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(make_left(a), make_right(b)) for a product, made at the same time on two threads when the
    inputs are large (normalising two 10,000 x 384 inputs takes 14 ms in one thread)."""
    if a is b and make_left is make_right:
        left = make_left(a)
        return left, left
    calls = (lambda: make_left(a), lambda: make_right(b))
    made = start_each(lambda i: calls[i](), 2, threaded=a.size + b.size >= _PARALLEL_MIN_VALUES)()
    return made[0], made[1]


def chunks_in_threads(fn, rows: int, step: int, values: int) -> list:
    """[fn(start, stop) for each chunk of `step` rows out of `rows`], in order; computed in the
    worker threads when the data (`values` numbers) is large enough to repay them."""
    starts = range(0, rows, step)
    return start_each(lambda i: fn(starts[i], min(rows, starts[i] + step)), len(starts),
                      threaded=values >= _PARALLEL_MIN_VALUES)()


def pairs_in_threads(fn, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """fn(a, b) for paired rows (row i of a with row i of b, one value each), computed on row
    chunks of both in the worker threads when they are large (fn must release the GIL)."""
    workers = min(_threads, max(1, (a.size + b.size) // _PARALLEL_MIN_VALUES))
    if workers == 1:
        return fn(a, b)
    bounds = np.linspace(0, a.shape[0], workers + 1).astype(int)
    return np.concatenate(start_each(lambda s: fn(a[bounds[s] : bounds[s + 1]], b[bounds[s] : bounds[s + 1]]), workers)())


#: Bytes of one row chunk of a kernel's own result before it is copied into the output.
_ROWS_CHUNK_BYTES = 2**22


def rows_into(fn, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """fn(a_rows, b, out_rows) on row chunks of a and of `out` in the worker threads (fn must
    release the GIL); chunks are small enough that a result fn makes before copying it into
    out_rows stays small (_ROWS_CHUNK_BYTES)."""
    n = a.shape[0]
    step = max(1, min(-(-n // _threads), _ROWS_CHUNK_BYTES // max(1, 8 * b.shape[0])))
    chunks_in_threads(lambda i0, i1: fn(a[i0:i1], b, out[i0:i1]), n, step, n * b.shape[0] * max(1, a.shape[1]))
    return out

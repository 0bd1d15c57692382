"""Screen products in bfloat16, where the CPU multiplies them fast.

Rankings screen most pairs by a matrix product and score the few candidates left exactly (see
metrics.record.Screen), so the screen's product need not be exact: only its error must be bounded.
On CPUs with AMX or AVX512-BF16 (Intel Sapphire Rapids and later, AMD Zen 4), Intel MKL's
`cblas_gemm_bf16bf16f32` multiplies bfloat16 operands into float32 about 3.4 times as fast as a
float32 product (480 against 143 GFLOPS a core, 1000 x 4000 x 384, Sapphire Rapids). With the
`fast` extra (`pip install 'siamcli[fast]'`, which brings MKL's wheel on x86-64) the screen of a
large top-k ranking (selfscreen, ranking._screened_topk) uses it; the rankings are the same to the
last bit, since every candidate is still scored exactly. It is used only where a first timing
shows it at least 1.5 times as fast as numpy's float32 product (one thread each), and where a
probe of the data shows its wider bound keeps few more candidates (pays); SIAMCLI_BFLOAT16=0
turns it off, SIAMCLI_BFLOAT16=1 on for any size, untimed.

The bound: rounding to bfloat16 (8 significant bits) changes a value by at most 2^-8 of it, and
the change of each row is measured when it is rounded, so by Cauchy-Schwarz the product of rows i
and j moves by at most |l'_i - l_i| |r'_j| + |l_i| |r'_j - r_j| (see bounds): on random rows about
0.8 x 2^-8 |l_i| |r_j|. The products of bfloat16 values are exact in float32 and summed in float32,
which the screen's float32 slack covers; products and sums below 2^-126 may be flushed to zero.
Columns a screen lays out exactly (euclidean's squared norms, split into two parts: see
metrics.record.Half) are left out of the norms and bounded by the screen. Operands with subnormal
values, or values too large for bfloat16, stay float32.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from typing import NamedTuple

import numpy as np

#: Products smaller than this many multiply-adds stay float32: loading the rounding pass and a first
#: timing cost about half a second once, about what bfloat16 saves on a product this large (1 s of
#: float32 product on 2 cores: 27,000 rows of 384 dimensions against themselves, 2,000 against 180,000).
MIN_WORK = 2**37
#: The bfloat16 screen is taken only when its wider bound keeps at most k / 2 + 1 more candidates a
#: row than the float32 screen's, on PROBE_ROWS rows against a block of rows strided over the other
#: set (see pays). 20,000 x 384 cosine top-5, bfloat16 against float32: 3.3 more a row, 0.83
#: against 1.07 s; 6.2, 0.93 against 0.97 s; 12, 1.27 against 1.02 s; top-15: 6.8, 1.24 against
#: 1.39 s; 9.4, 1.46 against 1.36 s.
PROBE_ROWS = 256
#: Bytes a bfloat16 copy adds to each value of a float32 operand (2, and room for a layout two columns wider).
EXTRA_BYTES = 3
#: bfloat16 is used when its product takes at most this share of the float32 product's time.
_FASTER = 1 / 1.5

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_state: dict = {}
_lock = threading.Lock()


def gemm():
    """MKL's bfloat16 product (see product_of_mkl) when it and numba (which rounds the operands)
    are installed, it is not turned off and is faster here (loaded and timed on first use; with
    SIAMCLI_BFLOAT16=1, not timed); else None."""
    setting = os.environ.get("SIAMCLI_BFLOAT16", "")
    if setting == "0":
        return None
    if setting == "1":
        return product_of_mkl() if _compiled() is not None else None
    with _lock:
        if "gemm" not in _state:
            product = product_of_mkl() if _compiled() is not None else None
            _state["gemm"] = product if product is not None and _faster(product) else None
        return _state["gemm"]


def usable(screen, dtype, work: int) -> bool:
    """Whether a screen multiplies in bfloat16: float32 operands, a screen that allows it
    (Screen.half), a product of at least MIN_WORK multiply-adds (any, with SIAMCLI_BFLOAT16=1),
    and gemm() here."""
    large = work >= MIN_WORK or os.environ.get("SIAMCLI_BFLOAT16", "") == "1"
    return dtype == np.float32 and screen.half is not None and large and gemm() is not None


def pays(comp, screen, k: int, good_threshold, width: int) -> bool:
    """Whether bfloat16's wider bound keeps few more candidates than float32's (at most k / 2 + 1 a
    row on average), judged on PROBE_ROWS rows of A against `width` rows strided over B, with the
    k-th best of each among them. Rows whose values spread less than the rounding's bound
    (embeddings that all point one way: cosines within 0.001 of one another, the bound about 0.01)
    would make nearly every pair a candidate: 8,000 x 384 cosine top-5, 499 s and 2.6 GiB for a
    budget of 256 MiB, against 1.7 s and 85 MiB in float32."""
    from .comparison import _gather

    sign = 1.0 if screen.higher else -1.0
    a_index = np.unique(np.linspace(0, len(comp.a) - 1, min(len(comp.a), PROBE_ROWS)).astype(np.intp))
    b_index = np.unique(np.linspace(0, len(comp.b) - 1, min(len(comp.b), width)).astype(np.intp))
    if len(b_index) <= k + 1:
        return True
    count = max(1, min(len(a_index), comp.memory // (64 * len(b_index) * comp.dtype.itemsize)))
    a_index = a_index[np.linspace(0, len(a_index) - 1, count).astype(np.intp)]
    left = screen.left(_gather(comp.a, a_index, comp.dtype, comp.normalize))
    right = screen.right(_gather(comp.b, b_index, comp.dtype, comp.normalize))
    half = screen.half
    left16, right16 = operand(half.left(left), half.tail), operand(half.right(right), half.tail)
    if left16 is None or right16 is None:  # (these rows stay float32 whatever the answer)
        return True
    good = sign * (left @ right.T).astype(np.float64)
    if comp.same:  # self-pairs never rank
        good[a_index[:, None] == b_index[None, :]] = -np.inf
    good[np.isnan(good)] = -np.inf
    limit = np.partition(good, -k, axis=1)[:, -k]
    if good_threshold is not None:
        limit = np.maximum(limit, good_threshold)
    single = screen.slack(left, right)
    widened = single + rounding(half, left16, right16, left, right)[0]
    wide = np.count_nonzero(good >= (limit - 2.0 * widened)[:, None])
    return wide - np.count_nonzero(good >= (limit - 2.0 * single)[:, None]) <= (k / 2 + 1) * count


def product_of_mkl():
    """product(left, right, out): out = left @ right.T of bfloat16 operands (uint16 rows, C order)
    into float32 `out` (rows C order) by MKL, one thread; None without MKL or the CPU's bfloat16
    instructions (loaded once)."""
    if "product" not in _state:
        _state["product"] = _load()
    return _state["product"]


def _load():
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy 1
        from numpy.core._multiarray_umath import __cpu_features__ as features
    if not features.get("AVX512BF16"):
        return None
    library = _mkl()
    if library is None:
        return None
    library.MKL_Set_Threading_Layer(1)  # sequential: the engine runs its own threads
    function = library.cblas_gemm_bf16bf16f32
    function.restype = None
    function.argtypes = [ctypes.c_int] * 6 + [ctypes.c_float, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                              ctypes.c_int, ctypes.c_float, ctypes.c_void_p, ctypes.c_int]
    one_thread = library.MKL_Set_Num_Threads_Local
    one_thread.restype = ctypes.c_int
    one_thread.argtypes = [ctypes.c_int]

    def product(left: np.ndarray, right: np.ndarray, out: np.ndarray) -> None:
        m, n, k = left.shape[0], right.shape[0], left.shape[1]
        if not (left.dtype == right.dtype == np.uint16 and out.dtype == np.float32 and right.shape[1] == k
                and out.shape == (m, n) and left.flags.c_contiguous and right.flags.c_contiguous
                and out.strides[1] == out.itemsize and out.strides[0] >= n * out.itemsize):
            raise ValueError("bfloat16 product: operands or output of the wrong type, shape or layout")
        one_thread(1)
        function(_ROW_MAJOR, _NO_TRANS, _TRANS, m, n, k, 1.0, left.ctypes.data, k, right.ctypes.data, k, 0.0,
                 out.ctypes.data, out.strides[0] // out.itemsize)

    return product


def _mkl():
    """MKL's runtime library from the `mkl` wheel (or one already on the library path), or None."""
    windows = sys.platform == "win32"
    names = ("mkl_rt.2.dll", "mkl_rt.dll") if windows else ("libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.so")
    candidates = []
    try:
        from importlib import metadata

        files = metadata.distribution("mkl").files or []
        candidates = [str(metadata.distribution("mkl").locate_file(f)) for f in files if f.name in names]
    except Exception:  # not installed (or no record of its files)
        pass
    for path in [*candidates, *names]:
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def _faster(product) -> bool:
    """Whether the bfloat16 product is clearly faster than numpy's float32 one here, both on one
    thread as the engine runs them (each tile one BLAS call in its own thread); thread CPU time,
    best of 3."""
    from ..metrics import kernels

    rng = np.random.default_rng(0)
    left32, right32 = rng.standard_normal((512, 384), np.float32), rng.standard_normal((2048, 384), np.float32)
    left16, right16 = operand(left32).bits, operand(right32).bits
    out = np.empty((512, 2048), np.float32)

    def best(run) -> float:
        times = []
        for _ in range(3):
            start = time.thread_time()
            run()
            times.append(time.thread_time() - start)
        return min(times)

    half = best(lambda: product(left16, right16, out))
    with kernels.one_blas_thread():
        single = best(lambda: np.matmul(left32, right32.T, out=out))
    return half <= _FASTER * single


class Rounded(NamedTuple):
    """An operand rounded to bfloat16: its bits (uint16, C order) and, per row over its first
    `cross` columns, the norm of the rounding's change (residual) and of the float32 row (size),
    with the largest residual and the largest size + residual (a bound on a rounded row's norm)."""

    bits: np.ndarray
    residual: np.ndarray
    size: np.ndarray
    largest_residual: float
    largest_size: float


def operand(x: np.ndarray, tail: int = 0) -> Rounded | None:
    """The rows of float32 `x` rounded to bfloat16 (nearest, ties to even), with the norms of the
    change over all but the last `tail` columns; None when a value is infinite, rounds to infinity
    or is subnormal (such operands stay float32). NaN (cosine's zero vectors) becomes a quiet NaN
    and counts as 0 in the norms. Needs numba (gemm is None without it)."""
    if x.dtype != np.float32 or x.ndim != 2:
        return None
    x = np.ascontiguousarray(x)
    cross = x.shape[1] - tail
    bits = np.empty(x.shape, np.uint16)
    residual, size = np.zeros(len(x)), np.zeros(len(x))
    if not _compiled()(x, x.view(np.uint32), bits, cross, residual, size):
        return None
    residual *= 1 + 2.0**-20  # (the norms' own rounding in float64)
    size *= 1 + 2.0**-20
    largest_residual = float(residual.max(initial=0.0))
    return Rounded(bits, residual, size, largest_residual, float((size + residual).max(initial=0.0)))


def _compiled():
    """The one-pass rounding (numba, from the same `fast` extra), or None without numba."""
    if "round" not in _state:
        try:
            import numba
        except ImportError:
            _state["round"] = None
        else:  # sums may be reordered (vector instructions); nothing else of fast math
            _state["round"] = numba.njit(nogil=True, cache=True, boundscheck=False,
                                         fastmath={"reassoc", "contract"})(_round)
    return _state["round"]


def _round(x, bits, out, cross, residual, size):  # pragma: no cover - compiled
    """operand's rounding of float32 `x` (`bits`: the same memory as uint32) into `out`, the norms
    into `residual` and `size`; False where operand gives None. The change of a value that drops
    its low 16 bits `low` is low ulps, or 2^16 - low when it rounds up: |x| (that) / (its 24-bit
    significand)."""
    bad = 0
    for i in range(x.shape[0]):
        change = 0.0
        total = 0.0
        for j in range(x.shape[1]):
            b = bits[i, j]
            magnitude = b & np.uint32(0x7FFFFFFF)
            nan = magnitude > np.uint32(0x7F800000)
            subnormal = (magnitude != np.uint32(0)) & (magnitude < np.uint32(0x00800000))
            bad += (~nan & (magnitude > np.uint32(0x7F7F7FFF))) | subnormal
            kept = b >> np.uint32(16)
            rounded = (b + (np.uint32(0x7FFF) + (kept & np.uint32(1)))) >> np.uint32(16)
            out[i, j] = np.uint16(0x7FC0) if nan else np.uint16(rounded)
            low = np.float64(b & np.uint32(0xFFFF))
            moved = 65536.0 - low if rounded != kept else low
            value = 0.0 if nan or j >= cross else abs(np.float64(x[i, j]))
            change += (value * moved / np.float64(np.uint32(0x800000) | (b & np.uint32(0x7FFFFF)))) ** 2
            total += value * value
        residual[i] = np.sqrt(change)
        size[i] = np.sqrt(total)
    return bad == 0


def bounds(left: Rounded, right: Rounded) -> tuple[np.ndarray, np.ndarray]:
    """(per row of left, per row of right) bounds on how far the bfloat16 product of the two
    differs from their float32 operands' over the first columns, by Cauchy-Schwarz: for rows i, j,
    |l'_i r'_j - l_i r_j| <= |l'_i - l_i| |r'_j| + |l_i| |r'_j - r_j|; with what flushing products
    and partial sums below 2^-126 to zero can lose."""
    flush = 2 * (left.bits.shape[1] + 2) * 2.0**-126
    rows = left.residual * right.largest_size + left.size * right.largest_residual + flush
    columns = left.largest_residual * (right.size + right.residual) + float(left.size.max(initial=0.0)) * right.residual
    return rows, columns + flush


def rounding(half, left16: Rounded, right16: Rounded, left: np.ndarray, right: np.ndarray,
             transposed: tuple[np.ndarray, np.ndarray] | None = None):
    """bounds() with the screen's Half.tail_error added: per row of `left` (its float32 operands
    `left` against `right`) and, given `transposed` (the right rows' own left operand, the left
    rows' own right operand: the values' other orientation), per row of `right`, else None."""
    rows, columns = bounds(left16, right16)
    if half.tail_error is not None:
        rows += half.tail_error(left, right)
        if transposed is not None:
            columns += half.tail_error(*transposed)
    return rows, columns if transposed is not None else None

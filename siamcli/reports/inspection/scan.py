"""Reading the rows: one chunked pass over every row (norms, column sums, row hashes), exact
duplicates, the covariance spectrum of every row or a sample, and cosines of sampled pairs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ...errors import InputError
from .findings import LOW_VARIANCE_RATIO

#: The spectrum's matrix is at most this many rows and columns: the covariance (d x d) of inputs up
#: to this width; wider inputs use the Gram matrix of a row sample, whose eigenvalues are the
#: sample covariance's nonzero ones (a 1,000,000-dimension covariance would take 8 TB).
MAX_SPECTRUM_SIDE = 4096
#: Rows gathered for a sampled figure (spectrum, pairs, projection) hold at most this many values
#: together: very wide inputs sample fewer rows (at least 2), which the report's row counts show.
SAMPLE_VALUES = 2**25
#: Rows are read in chunks of about this many bytes.
_CHUNK_BYTES = 2**24
#: Rows per block of pairwise scores within the sample.
PAIR_BLOCK_ROWS = 256


def _step(x: np.ndarray) -> int:
    return max(1, _CHUNK_BYTES // max(1, x.shape[1] * x.itemsize))


def gather(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    """x[index], read in ascending row order (kind to memory-mapped files), returned in index order."""
    order = np.argsort(index, kind="stable")
    out = np.empty((len(index), x.shape[1]), dtype=x.dtype)
    out[order] = x[index[order]]
    return out


def _chunks(x: np.ndarray, index: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """Rows of x in chunks: all of them, or the listed (ascending) rows."""
    step = _step(x)
    if index is None:
        for start in range(0, x.shape[0], step):
            yield np.asarray(x[start : start + step])
    else:
        for start in range(0, len(index), step):
            yield np.asarray(x[index[start : start + step]])


class Scaled:
    """Rows of x times 2**-exponent, read on demand (exact: a power of two), for data so large or so
    small that squares and sums of squares would overflow or underflow the compute type."""

    def __init__(self, x: np.ndarray, exponent: int):
        self.x, self.exponent = x, exponent
        self.shape, self.dtype, self.itemsize = x.shape, x.dtype, x.itemsize

    def __getitem__(self, key) -> np.ndarray:
        return np.ldexp(np.asarray(self.x[key]), -self.exponent)


#: Peak magnitudes whose squares, summed over many rows and columns, stay well inside each type.
_SAFE_PEAKS = {np.dtype(np.float32): (2.0**-40, 2.0**40), np.dtype(np.float64): (2.0**-400, 2.0**400)}


def scale_exponent(scan: "Scan", cdtype: np.dtype) -> int:
    """0 when the finite values' peak magnitude is safe, else the power of two that brings it near 1."""
    if not scan.finite.any():
        return 0
    peak = float(max(np.abs(scan.col_min).max(), np.abs(scan.col_max).max()))
    low, high = _SAFE_PEAKS.get(np.dtype(cdtype), _SAFE_PEAKS[np.dtype(np.float64)])
    return 0 if peak == 0 or low <= peak <= high else int(np.frexp(peak)[1])


def unscaled(values, exponent: int, what: str, source: str):
    """Figures of scaled rows brought back to the data's scale; an InputError when float64 cannot hold one."""
    if values is None or not exponent:
        return values
    with np.errstate(over="ignore"):
        out = np.ldexp(np.asarray(values, dtype=np.float64), exponent)
    if not np.all(np.isfinite(out)):
        raise InputError(f"{source}: {what} exceeds the float64 range (about 1.8e308); scale the vectors down")
    return out if np.ndim(out) else float(out)


# ---------------------------------------------------------------- the pass over every row


@dataclass
class Scan:
    finite: np.ndarray  # row mask
    norms: np.ndarray  # float64, NaN on non-finite rows
    zero: np.ndarray  # row mask: every value 0
    col_min: np.ndarray
    col_max: np.ndarray
    shift: np.ndarray  # subtracted before summing squares, so variances do not cancel
    col_sum: np.ndarray  # of (x - shift) over finite rows
    col_sq: np.ndarray  # of (x - shift)^2
    hashes: np.ndarray  # uint64 per row: equal rows, equal hashes


#: Odd 64-bit multipliers for the row hash (fixed: the hash never changes a result, only its speed).
_HASH_KEYS = np.random.default_rng(0x5EED).integers(0, 2**63, size=4096, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def _row_hashes(rows: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's bytes: sum of (word x odd key) mod 2^64.

    Equal rows always get equal hashes (-0.0 is made +0.0 first); unequal rows may collide, so
    duplicates are confirmed by comparing values.
    """
    # C order for the byte view: chunks of a Fortran-order file are Fortran-ordered
    data = np.ascontiguousarray(rows + rows.dtype.type(0) if rows.dtype.kind == "f" else rows)
    width = data.shape[1] * data.itemsize
    if width % 8:
        padded = np.zeros((data.shape[0], width + (-width) % 8), np.uint8)
        padded[:, :width] = data.view(np.uint8).reshape(data.shape[0], width)
        data = padded
    words = data.view(np.uint64)
    keys = np.resize(_HASH_KEYS, words.shape[1])  # repeats only beyond 32 KiB rows
    return (words * keys).sum(axis=1, dtype=np.uint64)


def _safe_norms(rows: np.ndarray) -> np.ndarray:
    """Euclidean norms in float64 for rows whose sums of squares overflow or underflow."""
    x = rows.astype(np.float64)
    scale = np.abs(x).max(axis=1)
    scale[scale == 0] = 1.0
    with np.errstate(over="ignore"):  # a norm past float64: the scan is redone on scaled rows (Scaled)
        return scale * np.sqrt(np.einsum("ij,ij->i", x / scale[:, None], x / scale[:, None]))


def scan_all(x: np.ndarray, cdtype: np.dtype) -> Scan:
    n, d = x.shape
    finite = np.ones(n, dtype=bool)
    norms = np.empty(n)
    zero = np.zeros(n, dtype=bool)
    hashes = np.empty(n, dtype=np.uint64)
    col_min = np.full(d, np.inf)
    col_max = np.full(d, -np.inf)
    col_sum, col_sq = np.zeros(d), np.zeros(d)
    shift = None
    start = 0
    for raw in _chunks(x):
        stop = start + raw.shape[0]
        rows = raw.astype(cdtype, copy=False)
        with np.errstate(over="ignore", invalid="ignore"):
            sq = np.einsum("ij,ij->i", rows, rows)
        norms[start:stop] = np.sqrt(sq)
        bad = np.flatnonzero(~np.isfinite(sq))
        if len(bad):  # NaN/inf, or finite values whose squares overflow
            ok = np.isfinite(rows[bad]).all(axis=1)
            finite[start + bad[~ok]] = False
            norms[start + bad[ok]] = _safe_norms(rows[bad[ok]])
        maybe_zero = np.flatnonzero(sq < np.finfo(cdtype).tiny)  # squares may underflow: check the values
        if len(maybe_zero):
            tiny = np.any(rows[maybe_zero] != 0, axis=1)
            zero[start + maybe_zero[~tiny]] = True
            norms[start + maybe_zero[tiny]] = _safe_norms(rows[maybe_zero[tiny]])
        hashes[start:stop] = _row_hashes(raw)
        good = rows if len(bad) == 0 or finite[start:stop].all() else rows[finite[start:stop]]
        if len(good):
            np.minimum(col_min, good.min(axis=0), out=col_min)
            np.maximum(col_max, good.max(axis=0), out=col_max)
            if shift is None:
                with np.errstate(over="ignore"):  # values near the type's limit: rescanned scaled (Scaled)
                    shift = good.mean(axis=0, dtype=np.float64).astype(cdtype)
            with np.errstate(over="ignore", invalid="ignore"):
                centred = good - shift
                col_sum += centred.sum(axis=0, dtype=np.float64)
                np.square(centred, out=centred)
                col_sq += centred.sum(axis=0, dtype=np.float64)
        start = stop
    if shift is None:
        shift = np.zeros(d, dtype=cdtype)
    return Scan(finite, norms, zero, col_min, col_max, shift, col_sum, col_sq, hashes)


def exact_duplicates(x: np.ndarray, rows: np.ndarray, hashes: np.ndarray) -> int:
    """How many of `rows` equal an earlier one of them: rows sharing a hash are compared by value."""
    order = np.argsort(hashes, kind="stable")
    sorted_hashes = hashes[order]
    repeat = sorted_hashes[1:] == sorted_hashes[:-1]
    if not repeat.any():
        return 0
    grouped = np.zeros(len(order), dtype=bool)
    grouped[1:] |= repeat
    grouped[:-1] |= repeat
    candidates = rows[order[grouped]]
    group_hash = sorted_hashes[grouped]
    first = np.r_[True, group_hash[1:] != group_hash[:-1]]
    group = np.cumsum(first) - 1
    representative = candidates[first][group]
    # Compare each candidate with its group's first row; rows that differ (hash collisions,
    # expected never) are told apart exactly by their values.
    distinct = int(first.sum())
    odd: set[tuple[int, bytes]] = set()
    step = _step(x)
    for s in range(0, len(candidates), step):
        a = gather(x, candidates[s : s + step])
        b = gather(x, representative[s : s + step])
        differ = np.flatnonzero(~(a == b).all(axis=1))
        for i in differ:
            row = a[i] + a.dtype.type(0) if a.dtype.kind == "f" else a[i]
            odd.add((int(group[s + i]), row.tobytes()))
    return len(candidates) - distinct - len(odd)


# ---------------------------------------------------------------- spectrum


def _covariance(x: np.ndarray, index: np.ndarray | None, shift: np.ndarray) -> tuple[np.ndarray, int]:
    """Covariance (ddof=1) of all rows or the listed rows, accumulated in float64 chunk by chunk."""
    d = x.shape[1]
    scatter, total, count = np.zeros((d, d)), np.zeros(d), 0
    with np.errstate(over="ignore", invalid="ignore"):  # values near the dtype's limit: figures become None
        for raw in _chunks(x, index):
            centred = raw.astype(shift.dtype, copy=False) - shift
            scatter += centred.T @ centred
            total += centred.sum(axis=0, dtype=np.float64)
            count += raw.shape[0]
    return (scatter - np.outer(total, total) / count) / (count - 1), count


def _spectrum_figures(eigenvalues: np.ndarray) -> tuple[float, float, int]:
    """Effective rank, participation ratio and components for 90% of the variance."""
    values = np.clip(eigenvalues, 0.0, None)[::-1]  # descending
    total = values.sum()
    if total <= 0:
        return 0.0, 0.0, 0
    share = values / total  # ratios of shares: squares of tiny eigenvalues would underflow
    p = share[share > 0]
    effective_rank = float(np.exp(-(p * np.log(p)).sum()))
    participation = float(1.0 / (share**2).sum())
    explained = np.cumsum(values) / total
    components = int(np.searchsorted(explained, 0.9 - 1e-12) + 1)  # 1e-12: a sum that rounds just below 0.9
    return effective_rank, participation, min(components, len(values))


def _top_shares(eigenvalues: np.ndarray, k: int) -> np.ndarray | None:
    """The share of the total variance along each of the top `k` principal axes (None: no variance)."""
    values = np.clip(eigenvalues, 0.0, None)[::-1]
    total = values.sum()
    return values[:k] / total if total > 0 else None


# ---------------------------------------------------------------- pairwise figures on the sample


def cosine_values(rows: np.ndarray) -> np.ndarray:
    """Cosines of every distinct pair of the (non-zero) rows, in float64."""
    rows = rows / np.abs(rows).max(axis=1)[:, None]  # scaled first: squares of tiny values underflow
    unit = rows / np.linalg.norm(rows, axis=1)[:, None]
    k = len(unit)
    out = np.empty(k * (k - 1) // 2)
    at = 0
    for i0 in range(0, k, PAIR_BLOCK_ROWS):
        i1 = min(k, i0 + PAIR_BLOCK_ROWS)
        block = unit[i0:i1] @ unit[i0:].T
        upper = block[np.triu_indices(i1 - i0, k=1, m=k - i0)]
        out[at : at + len(upper)] = upper
        at += len(upper)
    return np.clip(out, -1.0, 1.0)



def variance_figures(scan: Scan, n_finite: int) -> tuple[np.ndarray | None, int | None, int | None]:
    """Per-dimension variances (ddof=1), dead (constant) and low-variance dimension counts."""
    if n_finite < 2:
        return None, None, None
    variance = np.maximum(scan.col_sq - scan.col_sum**2 / n_finite, 0.0) / (n_finite - 1)
    constant = scan.col_min == scan.col_max  # exact, unlike a variance summed in floating point
    variance[constant] = 0.0
    low = ~constant & (variance < LOW_VARIANCE_RATIO * float(np.median(variance)))
    return variance, int(constant.sum()), int(low.sum())


def rows_within_budget(dim: int) -> int:
    """How many rows of `dim` values a sampled figure may gather (SAMPLE_VALUES; at least 2)."""
    return max(2, SAMPLE_VALUES // dim)


def spectrum(x, scan: Scan, finite_rows: np.ndarray, spectrum_rows: int | None, rng):
    """(rows used, effective rank, participation ratio, components for 90%, top two principal axes,
    their shares of the total variance)."""
    n_finite = len(finite_rows)
    if x.shape[1] > MAX_SPECTRUM_SIDE:
        return _wide_spectrum(x, finite_rows, spectrum_rows, rng)
    if spectrum_rows is None or n_finite <= spectrum_rows:
        index = None if n_finite == x.shape[0] else finite_rows
    else:
        index = np.sort(finite_rows[rng.choice(n_finite, size=spectrum_rows, replace=False)])
    cov, count = _covariance(x, index, scan.shift)
    if not np.isfinite(cov).all():  # values near the dtype's limit overflowed
        return count, None, None, None, None, None
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    axes = eigenvectors[:, ::-1][:, :2]
    # Deterministic signs: the largest component of each axis is positive (as scikit-learn's svd_flip).
    axes = axes * np.sign(axes[np.argmax(np.abs(axes), axis=0), np.arange(axes.shape[1])])
    return (count, *_spectrum_figures(eigenvalues), axes, _top_shares(eigenvalues, axes.shape[1]))


def _wide_spectrum(x, finite_rows: np.ndarray, spectrum_rows: int | None, rng):
    """spectrum for inputs wider than MAX_SPECTRUM_SIDE, from the Gram matrix of a row sample:
    with centred sample rows C (r x d, r < d), C C^T / (r - 1) has the nonzero eigenvalues of the
    sample covariance, and C^T u gives the principal axis of each eigenvector u."""
    count = min(len(finite_rows), MAX_SPECTRUM_SIDE, rows_within_budget(x.shape[1]), spectrum_rows or len(finite_rows))
    index = np.sort(finite_rows[rng.choice(len(finite_rows), size=count, replace=False)])
    with np.errstate(over="ignore", invalid="ignore"):  # values near the dtype's limit: figures become None
        rows = gather(x, index).astype(np.float64)
        rows -= rows.mean(axis=0)
        gram = rows @ rows.T / (count - 1)
    if not np.isfinite(gram).all():
        return count, None, None, None, None, None
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    axes = rows.T @ eigenvectors[:, ::-1][:, :2]
    lengths = np.linalg.norm(axes, axis=0)
    axes = axes[:, lengths > 0] / lengths[lengths > 0]
    axes = axes * np.sign(axes[np.argmax(np.abs(axes), axis=0), np.arange(axes.shape[1])])
    return (count, *_spectrum_figures(eigenvalues), axes, _top_shares(eigenvalues, axes.shape[1]))


"""What mahalanobis fits from the data: a covariance (Ledoit-Wolf shrunk when it cannot be
inverted) and the whitener W with W W' = S^-1."""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from ..errors import counted, UsageError, mention
from .record import Params

# ---------------------------------------------------------------- mahalanobis covariance


#: Data whose largest magnitude lies outside this range is scaled by a power of two for the
#: covariance: its fourth moments (Ledoit-Wolf) must neither overflow nor underflow float64.
_COVARIANCE_PEAKS = (2.0**-200, 2.0**200)


def _covariance(chunks: Callable[[], Iterable[np.ndarray]], dim: int):
    """Mean, unbiased covariance, Ledoit-Wolf terms and row count, in two passes over chunks, of
    the data times 2**-shift (0 for ordinary magnitudes; a third pass otherwise); also shift."""
    n, total, peak = 0, np.zeros(dim), 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for x in chunks():
            n += x.shape[0]
            total += x.sum(axis=0, dtype=np.float64)
            if x.size:
                peak = max(peak, float(np.max(x)), -float(np.min(x)))
    lo, hi = _COVARIANCE_PEAKS
    shift = 0 if peak == 0 or lo <= peak <= hi else int(np.frexp(peak)[1])
    if shift:
        total = np.zeros(dim)
        for x in chunks():
            total += np.ldexp(x.astype(np.float64), -shift).sum(axis=0)
    mean = total / max(n, 1)
    scatter, fourth = np.zeros((dim, dim)), 0.0
    for x in chunks():
        xc = np.ldexp(x.astype(np.float64), -shift) - mean
        scatter += xc.T @ xc
        x2 = xc**2
        fourth += float((x2.T @ x2).sum())
    return n, mean, scatter, fourth, shift


def _ledoit_wolf(n: int, scatter: np.ndarray, fourth: float) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf shrunk covariance (as scikit-learn's `ledoit_wolf`) and its coefficient."""
    dim = scatter.shape[0]
    emp = scatter / n
    trace = np.trace(emp)
    mu = trace / dim
    delta_ = float((emp**2).sum())
    beta = (fourth / n - delta_) / (dim * n)
    delta = (delta_ - 2.0 * mu * trace + dim * mu**2) / dim
    beta = min(beta, delta)
    shrinkage = 0.0 if beta == 0 else beta / delta
    shrunk = (1.0 - shrinkage) * emp
    shrunk.flat[:: dim + 1] += shrinkage * mu
    return shrunk, shrinkage


def whitener_from_covariance(cov: np.ndarray) -> tuple[np.ndarray, int]:
    """W with W @ W.T = pinv(cov); also how many directions were kept (rank)."""
    values, vectors = np.linalg.eigh(cov)
    cutoff = max(values.max(initial=0.0), 0.0) * cov.shape[0] * np.finfo(np.float64).eps
    keep = values > cutoff
    return vectors[:, keep] / np.sqrt(values[keep]), int(keep.sum())


def prepare_mahalanobis(rows, dim: int, params: Params) -> Params:
    """The whitener of the covariance of the compared rows, or of `cov_from`'s rows when given."""
    source = params.get("cov_from")
    chunks = rows if source is None else (lambda: rows(source))
    n, mean, scatter, fourth, shift = _covariance(chunks, dim)
    if n < 2:
        raise UsageError(f"mahalanobis needs at least 2 rows to estimate a covariance (or {mention('cov_from')} FILE)")
    cov = scatter / (n - 1)
    values = np.linalg.eigvalsh(cov)
    well_conditioned = n > dim and values.min() > values.max() * 1e-10
    if well_conditioned:
        whitener, _ = whitener_from_covariance(cov)
        note = f"mahalanobis: inverse covariance of {counted(n, 'row')} in {counted(dim, 'dimension')}"
    else:
        shrunk, coefficient = _ledoit_wolf(n, scatter, fourth)
        whitener, rank = whitener_from_covariance(shrunk)
        reason = f"only {counted(n, 'row')} for {counted(dim, 'dimension')}" if n <= dim else "it is singular"
        if rank == dim:
            note = (f"mahalanobis: covariance cannot be inverted ({reason}); "
                    f"using Ledoit-Wolf shrinkage (coefficient {coefficient:.3g})")
        else:
            note = (f"mahalanobis: covariance cannot be inverted ({reason}) and shrinkage does not help; "
                    f"using the pseudo-inverse (rank {rank} of {dim})")
    # the covariance is of the data times 2**-shift: W of the data itself is W_scaled * 2**-shift
    return params.with_values((note,), whitener=np.ldexp(whitener, -shift), center=np.ldexp(mean, shift))

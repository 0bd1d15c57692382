"""The common shift euclidean distances are computed from: |a - b| = |(a - s) - (b - s)| for any s,
and with s near the data's mean the product form |a|^2 + |b|^2 - 2ab no longer cancels the offset
the rows share (float32 data of values near 1,000 lost three digits to it).

The shift is fitted once per comparison from both inputs (`prepare_shift`, the metric's prepare),
so every block and every worker of a cluster subtracts the same one and a score does not depend
on how the work is cut; kernels called on their own fit it from the rows they are given (`shift_of`).
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from .record import Params

#: The shift is the mean rounded to a multiple of 2**-SHIFT_BITS of its column's range (a power of
#: two): a short number, so differences from it are exact in float32 for data on a grid as coarse
#: (integers, pixel values) and for data far from zero relative to its spread.
SHIFT_BITS = 6
#: Rows of each input the shift is fitted on (evenly spaced): the mean of a sample this size lies well
#: within the data's spread of the whole mean, which is all the shift needs, and costs a few
#: milliseconds (a comparison fits it whether or not a product needs it: paired scores do not).
SHIFT_SAMPLE_ROWS = 1024


def _rounded_mean(total: np.ndarray, low: np.ndarray, high: np.ndarray, n: int) -> np.ndarray:
    """The mean total/n of each column rounded to a multiple of a power of two at most its range
    (high - low) / 2**SHIFT_BITS; a column of one value (or a range too small for that): its lowest
    value. Where the mean is not finite (a sum beyond float64), 0: no shift."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        mean = total / max(n, 1)
        spread = high - low
        unit = np.where(spread > 0, np.ldexp(1.0, np.frexp(spread)[1] - 1 - SHIFT_BITS), 0.0)
        rounded = np.round(mean / np.where(unit > 0, unit, 1.0)) * unit
        shift = np.where(unit > 0, rounded, low)
    return np.where(np.isfinite(shift), shift, 0.0)


def fit_shift(chunks: Iterable[np.ndarray], dim: int) -> np.ndarray:
    """The shift of the rows in `chunks` (float64 or float32 row blocks), in one pass."""
    n, total = 0, np.zeros(dim)
    low, high = np.full(dim, np.inf), np.full(dim, -np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        for x in chunks:
            if not len(x):
                continue
            n += x.shape[0]
            total += x.sum(axis=0, dtype=np.float64)
            np.minimum(low, x.min(axis=0), out=low)
            np.maximum(high, x.max(axis=0), out=high)
    if n == 0:
        return np.zeros(dim)
    return _rounded_mean(total, low, high, n)


def prepare_shift(rows: Callable[..., Iterable[np.ndarray]], dim: int, params: Params) -> Params:
    """The metric's prepare: the shift of the compared rows (a sample of each input), as `params.shift`."""
    return params.with_values(shift=fit_shift(rows(sample=SHIFT_SAMPLE_ROWS), dim))


def shift_of(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The shift of the rows of a and b, for a kernel called without a fitted one."""
    return fit_shift([a] if a is b else [a, b], a.shape[1])


def shifted(x: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """x - shift in x's type: one rounding per value (none where the difference fits the type)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.subtract(x, shift.astype(x.dtype))

"""A health report of one embedding set: size, norms, used dimensions, anisotropy, duplicates,
collapse, and (given class labels) how well the classes separate.

Whatever needs every row (norms, per-dimension variance, exact duplicates) is read in row
chunks, so a memory-mapped array of millions of rows is fine; pairwise figures use a random
sample of rows, so nothing is ever n x n. Rows holding NaN or inf are counted and left out of
every other figure. Definitions and thresholds are the module constants below.

>>> import numpy as np
>>> from siamcli.io import EmbeddingSet
>>> x = np.random.default_rng(0).standard_normal((500, 16))
>>> report = inspect_embeddings(EmbeddingSet(x, None, "x"))
>>> report.summary[0], report.collapsed
('500 vectors of 16 dimensions (float64)', False)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from .engine import compute_dtype, prepare
from .evaluation import check_seed
from .errors import InputError, ShapeError, UsageError
from .io import EmbeddingSet
from .metrics import get_metric
from .results import Column, Document, Grid, key_value_grid, plain

#: Quantiles reported for norms and cosines; record keys are "1%", "5%", ...
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
#: L2-normalised: every norm lies within this of 1.
NORMALIZED_TOLERANCE = 1e-3
#: A non-constant dimension whose variance is below this times the median dimension's variance.
LOW_VARIANCE_RATIO = 1e-6
#: Two sampled vectors with a cosine above this are near-duplicates (within about 0.8 degrees).
NEAR_DUPLICATE_COSINE = 0.9999
#: Collapse rule 1: the RMS distance between two rows is below this fraction of the RMS norm.
COLLAPSE_SPREAD = 0.05
#: Collapse rule 2: more than COLLAPSE_PAIR_FRACTION of sampled pairs have cosine > COLLAPSE_COSINE.
COLLAPSE_COSINE = 0.95
COLLAPSE_PAIR_FRACTION = 0.9
#: Warn when the effective rank is below this fraction of the rank the data could have.
LOW_RANK_FRACTION = 0.1
#: Warn that vectors are not normalised when the std of the norms exceeds this fraction of their mean.
NORM_SPREAD_WARNING = 0.05
#: Largest pairwise sample: pairwise figures grow with its square.
MAX_SAMPLE = 5000
#: The covariance spectrum uses every row up to this many, a uniform random sample beyond.
SPECTRUM_ROWS = 100_000
#: The spectrum's matrix is at most this many rows and columns: the covariance (d x d) of inputs up
#: to this width; wider inputs use the Gram matrix of a row sample, whose eigenvalues are the
#: sample covariance's nonzero ones (a 1,000,000-dimension covariance would take 8 TB).
MAX_SPECTRUM_SIDE = 4096
#: Rows gathered for a sampled figure (spectrum, pairs, projection) hold at most this many values
#: together: very wide inputs sample fewer rows (at least 2), which the report's row counts show.
SAMPLE_VALUES = 2**25
#: Arrays kept for plots: norms (a random subset beyond this) and a 2-D PCA projection of sampled rows.
NORMS_KEPT = 100_000
PROJECTION_ROWS = 5000
#: Rows are read in chunks of about this many bytes.
_CHUNK_BYTES = 2**24
#: Rows per block of pairwise scores within the sample.
_PAIR_BLOCK_ROWS = 256


@dataclass
class ClassRow:
    """One class: its size, and how close its sampled rows are to each other and to other classes."""

    label: object
    count: int  # rows with this label in the whole set
    sampled: int  # of them in the pairwise sample
    intra_mean: float | None  # mean score between two of its sampled rows
    inter_mean: float | None  # mean score between one of its sampled rows and a sampled row of another class
    nearest_class: object | None  # the other class whose sampled rows are closest on average
    nearest_mean: float | None  # the mean score to that class
    separated: bool | None  # intra_mean is closer than nearest_mean


@dataclass
class ClassSeparation:
    """Same-class against different-class scores over the sampled rows, under one metric.

    separation is the decidability index d' (Daugman) signed so that positive means same-class
    pairs are closer: (mean_inter - mean_intra) / sqrt((var_intra + var_inter) / 2) for a
    distance, the negative of that for a similarity. separated_fraction: of the classes with at
    least two sampled rows, the fraction whose rows are closer to each other on average than to
    the rows of their nearest other class.
    """

    metric: str
    higher_is_better: bool
    n_classes: int
    sampled_rows: int
    intra_pairs: int
    inter_pairs: int
    intra_mean: float | None
    intra_std: float | None
    inter_mean: float | None
    inter_std: float | None
    separation: float | None
    separated_fraction: float | None
    rows: list[ClassRow]

    def record(self) -> dict:
        out = {name: getattr(self, name) for name in (
            "metric", "higher_is_better", "n_classes", "sampled_rows", "intra_pairs", "inter_pairs",
            "intra_mean", "intra_std", "inter_mean", "inter_std", "separation", "separated_fraction")}
        out["per_class"] = [
            {"class": r.label, "count": r.count, "sampled": r.sampled, "intra_mean": r.intra_mean,
             "inter_mean": r.inter_mean, "nearest_class": r.nearest_class, "nearest_mean": r.nearest_mean,
             "separated": r.separated}
            for r in self.rows
        ]
        return plain(out)


@dataclass
class InspectionReport(Document):
    """What `inspect_embeddings` found: plain-language `summary` and `warnings`, then the figures.

    Figures that cannot be computed (too few rows, every row zero) are None. The arrays at the
    end are for plots and are left out of `record()`.
    """

    source: str
    n: int
    dim: int
    dtype: str
    nonfinite_rows: int  # rows holding NaN or inf; left out of every figure below
    zero_rows: int
    norm_min: float | None
    norm_mean: float | None
    norm_std: float | None
    norm_quantiles: dict[str, float] | None
    norm_max: float | None
    normalized: bool  # every norm within NORMALIZED_TOLERANCE of 1
    variance_min: float | None  # per-dimension variances (ddof=1)
    variance_median: float | None
    variance_max: float | None
    dead_dimensions: int | None  # constant over every finite row
    low_variance_dimensions: int | None  # not constant, variance < LOW_VARIANCE_RATIO x the median
    effective_rank: float | None  # exp(entropy of the normalised covariance eigenvalues), Roy & Vetterli 2007
    participation_ratio: float | None  # (sum of eigenvalues)^2 / sum of squared eigenvalues
    explained_variance_90: int | None  # fewest principal components explaining >= 90% of the variance
    spectrum_rows: int  # rows the covariance spectrum was computed from
    spread_ratio: float | None  # RMS distance between two rows / RMS norm; in [0, sqrt 2]
    sampled_rows: int  # rows in the pairwise sample
    sampled_pairs: int  # distinct pairs of non-zero sampled rows behind the cosine figures
    mean_cosine: float | None
    std_cosine: float | None
    cosine_quantiles: dict[str, float] | None
    high_cosine_fraction: float | None  # of sampled pairs with cosine > COLLAPSE_COSINE
    exact_duplicate_rows: int  # rows equal to an earlier row
    near_duplicate_pairs: int  # sampled pairs with cosine > NEAR_DUPLICATE_COSINE (exact duplicates too)
    collapsed: bool
    verdict: str
    warnings: list[str]
    summary: list[str]
    classes: ClassSeparation | None = None
    norms_sample: np.ndarray = field(default=None, repr=False)  # norms of (up to NORMS_KEPT) finite rows
    projection: np.ndarray = field(default=None, repr=False)  # (rows, 2): sampled rows on the top two principal axes
    projection_rows: np.ndarray = field(default=None, repr=False)  # their row indices
    projection_labels: np.ndarray | None = field(default=None, repr=False)  # their class labels, given classes

    #: Keys of `record()` in order, before "classes".
    fields = (
        "source", "n", "dim", "dtype", "nonfinite_rows", "zero_rows", "norm_min", "norm_mean", "norm_std",
        "norm_quantiles", "norm_max", "normalized", "variance_min", "variance_median", "variance_max",
        "dead_dimensions", "low_variance_dimensions", "effective_rank", "participation_ratio",
        "explained_variance_90", "spectrum_rows", "spread_ratio", "sampled_rows", "sampled_pairs",
        "mean_cosine", "std_cosine", "cosine_quantiles", "high_cosine_fraction", "exact_duplicate_rows",
        "near_duplicate_pairs", "collapsed", "verdict", "warnings", "summary",
    )

    def record(self) -> dict:
        """Plain, strict-JSON values (NaN and inf become None); plot arrays left out."""
        out = {name: getattr(self, name) for name in self.fields}
        out["classes"] = None if self.classes is None else self.classes.record()
        return plain(out)

    def table_layout(self, precision: int) -> list:
        """Plain language first (summary, findings), then the figures, then the classes."""
        return _inspection_layout(self.record(), precision)


def _quantile_keys() -> list[str]:
    return [f"{q * 100:g}%" for q in QUANTILES]


def _quantiles(values: np.ndarray) -> dict[str, float]:
    return dict(zip(_quantile_keys(), np.quantile(values, QUANTILES).tolist()))


# ---------------------------------------------------------------- reading rows


def _step(x: np.ndarray) -> int:
    return max(1, _CHUNK_BYTES // max(1, x.shape[1] * x.itemsize))


def _gather(x: np.ndarray, index: np.ndarray) -> np.ndarray:
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


class _Scaled:
    """Rows of x times 2**-exponent, read on demand (exact: a power of two), for data so large or so
    small that squares and sums of squares would overflow or underflow the compute type."""

    def __init__(self, x: np.ndarray, exponent: int):
        self.x, self.exponent = x, exponent
        self.shape, self.dtype, self.itemsize = x.shape, x.dtype, x.itemsize

    def __getitem__(self, key) -> np.ndarray:
        return np.ldexp(np.asarray(self.x[key]), -self.exponent)


#: Peak magnitudes whose squares, summed over many rows and columns, stay well inside each type.
_SAFE_PEAKS = {np.dtype(np.float32): (2.0**-40, 2.0**40), np.dtype(np.float64): (2.0**-400, 2.0**400)}


def _scale_exponent(scan: "_Scan", cdtype: np.dtype) -> int:
    """0 when the finite values' peak magnitude is safe, else the power of two that brings it near 1."""
    if not scan.finite.any():
        return 0
    peak = float(max(np.abs(scan.col_min).max(), np.abs(scan.col_max).max()))
    low, high = _SAFE_PEAKS.get(np.dtype(cdtype), _SAFE_PEAKS[np.dtype(np.float64)])
    return 0 if peak == 0 or low <= peak <= high else int(np.frexp(peak)[1])


def _unscaled(values, exponent: int, what: str, source: str):
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
class _Scan:
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
    with np.errstate(over="ignore"):  # a norm past float64: the scan is redone on scaled rows (_Scaled)
        return scale * np.sqrt(np.einsum("ij,ij->i", x / scale[:, None], x / scale[:, None]))


def _scan(x: np.ndarray, cdtype: np.dtype) -> _Scan:
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
                with np.errstate(over="ignore"):  # values near the type's limit: rescanned scaled (_Scaled)
                    shift = good.mean(axis=0, dtype=np.float64).astype(cdtype)
            with np.errstate(over="ignore", invalid="ignore"):
                centred = good - shift
                col_sum += centred.sum(axis=0, dtype=np.float64)
                np.square(centred, out=centred)
                col_sq += centred.sum(axis=0, dtype=np.float64)
        start = stop
    if shift is None:
        shift = np.zeros(d, dtype=cdtype)
    return _Scan(finite, norms, zero, col_min, col_max, shift, col_sum, col_sq, hashes)


def _exact_duplicates(x: np.ndarray, rows: np.ndarray, hashes: np.ndarray) -> int:
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
        a = _gather(x, candidates[s : s + step])
        b = _gather(x, representative[s : s + step])
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


# ---------------------------------------------------------------- pairwise figures on the sample


def _cosine_values(rows: np.ndarray) -> np.ndarray:
    """Cosines of every distinct pair of the (non-zero) rows, in float64."""
    rows = rows / np.abs(rows).max(axis=1)[:, None]  # scaled first: squares of tiny values underflow
    unit = rows / np.linalg.norm(rows, axis=1)[:, None]
    k = len(unit)
    out = np.empty(k * (k - 1) // 2)
    at = 0
    for i0 in range(0, k, _PAIR_BLOCK_ROWS):
        i1 = min(k, i0 + _PAIR_BLOCK_ROWS)
        block = unit[i0:i1] @ unit[i0:].T
        upper = block[np.triu_indices(i1 - i0, k=1, m=k - i0)]
        out[at : at + len(upper)] = upper
        at += len(upper)
    return np.clip(out, -1.0, 1.0)


def _class_separation(rows: np.ndarray, labels: np.ndarray, label_values: np.ndarray, counts: np.ndarray,
                      metric: str, source: str) -> ClassSeparation:
    """Same-class and different-class scores among the sampled rows (codes index label_values)."""
    order = np.argsort(labels, kind="stable")
    codes = labels[order]
    present, starts = np.unique(codes, return_index=True)  # classes in the sample, where each begins
    position = np.searchsorted(present, codes)  # code -> column of the class sums
    comp = prepare(EmbeddingSet(rows[order], None, f"{source} (sample)"), metric=metric, zero_vector="nan")
    higher = comp.metric.higher_is_better
    k = len(codes)

    per_class: dict[int, tuple[float | None, float | None, int | None, float | None]] = {}
    sums = {"intra": [0.0, 0.0, 0], "inter": [0.0, 0.0, 0]}  # sum, sum of squares, ordered pairs

    def finish(code_index: int, class_sums: np.ndarray, class_counts: np.ndarray) -> None:
        own = present[code_index]
        with np.errstate(invalid="ignore", divide="ignore"):
            means = class_sums / class_counts
        intra = means[code_index] if class_counts[code_index] else None
        others = np.ones(len(present), dtype=bool)
        others[code_index] = False
        other_count = class_counts[others].sum()
        inter = class_sums[others].sum() / other_count if other_count else None
        candidates = np.flatnonzero(others & (class_counts > 0))
        nearest = nearest_mean = None
        if len(candidates):
            pick = candidates[np.argmax(means[candidates]) if higher else np.argmin(means[candidates])]
            nearest, nearest_mean = int(present[pick]), float(means[pick])
        per_class[int(own)] = (None if intra is None else float(intra), None if inter is None else float(inter),
                               nearest, nearest_mean)

    carry = None  # (code index, sums, counts) of the class the previous block ended in
    for i0 in range(0, k, _PAIR_BLOCK_ROWS):
        i1 = min(k, i0 + _PAIR_BLOCK_ROWS)
        block = np.array(comp.block(i0, i1, 0, k), dtype=np.float64)
        block[np.arange(i1 - i0), np.arange(i0, i1)] = np.nan  # a row against itself is no pair
        valid = ~np.isnan(block)
        values = np.where(valid, block, 0.0)
        same = codes[i0:i1, None] == codes[None, :]
        for name, mask in (("intra", same & valid), ("inter", ~same & valid)):
            picked = values[mask]
            sums[name][0] += float(picked.sum())
            sums[name][1] += float((picked**2).sum())
            sums[name][2] += int(mask.sum())
        row_sums = np.add.reduceat(values, starts, axis=1)
        row_counts = np.add.reduceat(valid.astype(np.int64), starts, axis=1)
        local = position[i0:i1]
        local_starts = np.flatnonzero(np.r_[True, local[1:] != local[:-1]])
        class_sums = np.add.reduceat(row_sums, local_starts, axis=0)
        class_counts = np.add.reduceat(row_counts, local_starts, axis=0)
        local_codes = local[local_starts]
        if carry is not None:
            if carry[0] == local_codes[0]:
                class_sums[0] += carry[1]
                class_counts[0] += carry[2]
            else:
                finish(*carry)
        for j in range(len(local_codes) - 1):
            finish(local_codes[j], class_sums[j], class_counts[j])
        carry = (local_codes[-1], class_sums[-1], class_counts[-1])
    if carry is not None:
        finish(*carry)

    def moments(name):
        total, squares, count = sums[name]
        if not count:
            return None, None
        mean = total / count
        return mean, math.sqrt(max(squares / count - mean**2, 0.0))

    intra_mean, intra_std = moments("intra")
    inter_mean, inter_std = moments("inter")
    separation = None
    if intra_mean is not None and inter_mean is not None:
        pooled = math.sqrt((intra_std**2 + inter_std**2) / 2.0)
        gap = (inter_mean - intra_mean) * (-1.0 if higher else 1.0)
        separation = gap / pooled if pooled > 0 else (0.0 if gap == 0 else math.copysign(math.inf, gap))

    sampled = np.bincount(labels, minlength=len(label_values))
    rows_out = []
    judged = separated = 0
    for code, label in enumerate(label_values):
        intra, inter, nearest, nearest_mean = per_class.get(code, (None, None, None, None))
        is_separated = None
        if intra is not None and nearest_mean is not None:
            is_separated = bool(intra > nearest_mean if higher else intra < nearest_mean)
            judged += 1
            separated += is_separated
        rows_out.append(ClassRow(plain(label), int(counts[code]), int(sampled[code]), intra, inter,
                                 None if nearest is None else plain(label_values[nearest]), nearest_mean,
                                 is_separated))
    return ClassSeparation(
        comp.metric.name, higher, len(label_values), k, sums["intra"][2] // 2, sums["inter"][2] // 2,
        intra_mean, intra_std, inter_mean, inter_std, separation,
        separated / judged if judged else None, rows_out,
    )


# ---------------------------------------------------------------- the report


def _as_set(emb) -> EmbeddingSet:
    """An EmbeddingSet as given, or one around an array (not checked for NaN: this report counts them)."""
    if not isinstance(emb, EmbeddingSet):
        emb = EmbeddingSet(np.asarray(emb), None, "<array>")
    x = emb.vectors
    if x.ndim != 2 or x.dtype.kind not in "fiub" or 0 in x.shape:
        raise InputError(f"{emb.source}: expected a non-empty 2-D numeric array of embeddings, "
                         f"got shape {x.shape} ({x.dtype})")
    return emb


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def inspect_embeddings(emb, *, classes=None, sample: int = 2000, seed: int = 0, metric: str = "euclidean",
                       spectrum_rows: int | None = SPECTRUM_ROWS) -> InspectionReport:
    """A health report of an embedding set (an EmbeddingSet or a 2-D array).

    Every row is read once in chunks (norms, per-dimension variance, exact duplicates); the
    covariance spectrum uses every row up to `spectrum_rows` (None: always every row) and a
    uniform random sample beyond; pairwise figures use `sample` random rows (2 to MAX_SAMPLE).
    With `classes` (one label per row), same-class and different-class scores under `metric`
    (any registered metric; a similarity counts higher as closer; mahalanobis fits its
    covariance on the sample) on the sampled rows. Deterministic for a given `seed`.

    Collapsed means one of: every finite row is the same (or zero); the RMS distance between
    two rows is below COLLAPSE_SPREAD of the RMS norm (every vector near one point); more than
    COLLAPSE_PAIR_FRACTION of sampled pairs have cosine above COLLAPSE_COSINE (every vector
    points almost the same way). Low effective rank alone is a warning, not collapse: a
    well-trained embedding of few classes can legitimately use few directions.
    """
    emb = _as_set(emb)
    x = emb.vectors
    n, dim = x.shape
    _check_options(sample, spectrum_rows)
    check_seed(seed)
    metric_record = get_metric(metric)  # fail fast on a misspelt name, before reading any row
    labels = label_values = label_counts = None
    if classes is not None:
        labels, label_values, label_counts = _class_codes(classes, n, emb.source)

    cdtype = compute_dtype(emb)
    scan = _scan(x, cdtype)
    exponent = _scale_exponent(scan, cdtype)
    rows_x = x  # the rows figures are computed on: scaled by 2**-exponent when squares would overflow
    if exponent:
        rows_x = _Scaled(x, exponent)
        original, scan = scan, _scan(rows_x, cdtype)
        scan.hashes, scan.zero = original.hashes, original.zero  # of the original values, which scaling may round
    finite_rows = np.flatnonzero(scan.finite)
    n_finite = len(finite_rows)
    norms = scan.norms[finite_rows]
    rng = np.random.default_rng(seed)
    if labels is not None and metric_record.domain == "nonnegative" and n_finite and scan.col_min.min() < 0:
        column = int(np.argmin(scan.col_min))
        raise InputError(f"{emb.source}: column {column} has negative values; "
                         f"{metric_record.name} needs non-negative vectors")

    norm_figures = dict(norm_min=None, norm_mean=None, norm_std=None, norm_quantiles=None, norm_max=None)
    if n_finite:
        norm_max = _unscaled(norms.max(), exponent, f"the norm of row {int(finite_rows[np.argmax(norms)])}",
                             emb.source)
        norm_figures = dict(norm_min=_unscaled(norms.min(), exponent, "a norm", emb.source),
                            norm_mean=_unscaled(norms.mean(), exponent, "the mean norm", emb.source),
                            norm_std=_unscaled(norms.std(), exponent, "the norms' deviation", emb.source),
                            norm_quantiles={key: _unscaled(value, exponent, "a norm", emb.source)
                                            for key, value in _quantiles(norms).items()},
                            norm_max=norm_max)
    variance, dead, low = _variance_figures(scan, n_finite)
    erank = participation = explained90 = axes = None
    spectrum_count = 0
    if n_finite >= 2:
        spectrum_count, erank, participation, explained90, axes = _spectrum(rows_x, scan, finite_rows, spectrum_rows,
                                                                            rng)

    # One random sample: its first `sample` rows give the pairwise figures, up to PROJECTION_ROWS the plot.
    wanted = min(max(sample, PROJECTION_ROWS), _rows_within_budget(dim))
    picked = finite_rows[rng.choice(n_finite, size=min(n_finite, wanted), replace=False)]
    picked_rows = _gather(rows_x, picked)
    pair_index, pair_rows = picked[:sample], picked_rows[:sample]
    nonzero = ~scan.zero[pair_index]
    cos = _cosine_values(pair_rows[nonzero].astype(np.float64)) if nonzero.sum() >= 2 else np.empty(0)
    cos_figures = dict(mean_cosine=None, std_cosine=None, cosine_quantiles=None, high_cosine_fraction=None)
    if len(cos):
        cos_figures = dict(mean_cosine=float(cos.mean()), std_cosine=float(cos.std()),
                           cosine_quantiles=_quantiles(cos), high_cosine_fraction=float((cos > COLLAPSE_COSINE).mean()))

    # Over distinct pairs, mean |xi - xj|^2 = 2 x total variance (ddof=1), exactly.
    mean_sq_norm = float(np.mean(norms**2)) if n_finite else 0.0
    spread = None
    if variance is not None and mean_sq_norm > 0:
        spread = math.sqrt(2.0 * float(variance.sum()) / mean_sq_norm)
    collapsed, verdict = _collapse_verdict(n_finite, mean_sq_norm, dead, dim, spread,
                                           cos_figures["high_cosine_fraction"])

    class_report = None
    if labels is not None and n_finite >= 2:
        class_rows = _gather(x, pair_index) if exponent else pair_rows  # scores at the data's own scale
        class_report = _class_separation(class_rows, labels[pair_index], label_values, label_counts, metric,
                                         emb.source)
    shown = picked[:PROJECTION_ROWS]
    projection = projection_labels = None
    if axes is not None:
        mean = scan.shift.astype(np.float64) + scan.col_sum / n_finite
        projection = np.zeros((len(shown), 2))
        projection[:, : axes.shape[1]] = (picked_rows[: len(shown)].astype(np.float64) - mean) @ axes
        projection = _unscaled(projection, exponent, "a projected coordinate", emb.source)
        if labels is not None:
            projection_labels = label_values[labels[shown]]
    kept = norms if n_finite <= NORMS_KEPT else norms[np.sort(rng.choice(n_finite, size=NORMS_KEPT, replace=False))]
    kept = _unscaled(kept, exponent, "a norm", emb.source)
    if variance is not None:
        worst = int(np.argmax(variance))
        variance = _unscaled(variance, 2 * exponent, f"the variance of column {worst}", emb.source)

    report = InspectionReport(
        source=emb.source, n=n, dim=dim, dtype=str(x.dtype), nonfinite_rows=n - n_finite,
        zero_rows=int(scan.zero.sum()), **norm_figures,
        normalized=bool(n_finite and not exponent and np.all(np.abs(norms - 1.0) <= NORMALIZED_TOLERANCE)),
        variance_min=None if variance is None else float(variance.min()),
        variance_median=None if variance is None else float(np.median(variance)),
        variance_max=None if variance is None else float(variance.max()),
        dead_dimensions=dead, low_variance_dimensions=low,
        effective_rank=erank, participation_ratio=participation, explained_variance_90=explained90,
        spectrum_rows=spectrum_count, spread_ratio=spread,
        sampled_rows=len(pair_index), sampled_pairs=len(cos), **cos_figures,
        exact_duplicate_rows=_exact_duplicates(x, finite_rows, scan.hashes[finite_rows]),
        near_duplicate_pairs=int((cos > NEAR_DUPLICATE_COSINE).sum()),
        collapsed=collapsed, verdict=verdict, warnings=[], summary=[], classes=class_report,
        norms_sample=kept, projection=projection, projection_rows=shown, projection_labels=projection_labels,
    )
    report.warnings = _warnings(report, kept if exponent else norms, n_finite)
    report.summary = _summary(report, n_finite)
    return report


def _check_options(sample, spectrum_rows) -> None:
    if isinstance(sample, bool) or not (isinstance(sample, (int, np.integer)) and 2 <= sample <= MAX_SAMPLE):
        raise UsageError(f"sample must be a whole number of rows from 2 to {MAX_SAMPLE} "
                         f"(pairwise figures grow with its square), got {sample}")
    if spectrum_rows is not None and not (isinstance(spectrum_rows, (int, np.integer)) and spectrum_rows >= 2):
        raise UsageError(f"spectrum_rows must be at least 2 (or None for every row), got {spectrum_rows}")


def _class_codes(classes, n: int, source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(code of each row, the distinct labels in sorted order, rows per label)."""
    raw = np.asarray(classes)
    if raw.ndim != 1 or len(raw) != n:
        raise ShapeError(f"classes has {raw.size} labels (shape {raw.shape}) but {source} has {n} rows; "
                         "give one label per row")
    try:
        values, codes, counts = np.unique(raw, return_inverse=True, return_counts=True)
    except TypeError as exc:
        raise InputError(f"classes: labels must be all numbers or all strings ({exc})") from None
    return codes.ravel(), values, counts


def _variance_figures(scan: _Scan, n_finite: int) -> tuple[np.ndarray | None, int | None, int | None]:
    """Per-dimension variances (ddof=1), dead (constant) and low-variance dimension counts."""
    if n_finite < 2:
        return None, None, None
    variance = np.maximum(scan.col_sq - scan.col_sum**2 / n_finite, 0.0) / (n_finite - 1)
    constant = scan.col_min == scan.col_max  # exact, unlike a variance summed in floating point
    variance[constant] = 0.0
    low = ~constant & (variance < LOW_VARIANCE_RATIO * float(np.median(variance)))
    return variance, int(constant.sum()), int(low.sum())


def _rows_within_budget(dim: int) -> int:
    """How many rows of `dim` values a sampled figure may gather (SAMPLE_VALUES; at least 2)."""
    return max(2, SAMPLE_VALUES // dim)


def _spectrum(x, scan: _Scan, finite_rows: np.ndarray, spectrum_rows: int | None, rng):
    """(rows used, effective rank, participation ratio, components for 90%, top two principal axes)."""
    n_finite = len(finite_rows)
    if x.shape[1] > MAX_SPECTRUM_SIDE:
        return _wide_spectrum(x, finite_rows, spectrum_rows, rng)
    if spectrum_rows is None or n_finite <= spectrum_rows:
        index = None if n_finite == x.shape[0] else finite_rows
    else:
        index = np.sort(finite_rows[rng.choice(n_finite, size=spectrum_rows, replace=False)])
    cov, count = _covariance(x, index, scan.shift)
    if not np.isfinite(cov).all():  # values near the dtype's limit overflowed
        return count, None, None, None, None
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    axes = eigenvectors[:, ::-1][:, :2]
    # Deterministic signs: the largest component of each axis is positive (as scikit-learn's svd_flip).
    axes = axes * np.sign(axes[np.argmax(np.abs(axes), axis=0), np.arange(axes.shape[1])])
    return (count, *_spectrum_figures(eigenvalues), axes)


def _wide_spectrum(x, finite_rows: np.ndarray, spectrum_rows: int | None, rng):
    """_spectrum for inputs wider than MAX_SPECTRUM_SIDE, from the Gram matrix of a row sample:
    with centred sample rows C (r x d, r < d), C C^T / (r - 1) has the nonzero eigenvalues of the
    sample covariance, and C^T u gives the principal axis of each eigenvector u."""
    count = min(len(finite_rows), MAX_SPECTRUM_SIDE, _rows_within_budget(x.shape[1]), spectrum_rows or len(finite_rows))
    index = np.sort(finite_rows[rng.choice(len(finite_rows), size=count, replace=False)])
    with np.errstate(over="ignore", invalid="ignore"):  # values near the dtype's limit: figures become None
        rows = _gather(x, index).astype(np.float64)
        rows -= rows.mean(axis=0)
        gram = rows @ rows.T / (count - 1)
    if not np.isfinite(gram).all():
        return count, None, None, None, None
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    axes = rows.T @ eigenvectors[:, ::-1][:, :2]
    lengths = np.linalg.norm(axes, axis=0)
    axes = axes[:, lengths > 0] / lengths[lengths > 0]
    axes = axes * np.sign(axes[np.argmax(np.abs(axes), axis=0), np.arange(axes.shape[1])])
    return (count, *_spectrum_figures(eigenvalues), axes)


def _collapse_verdict(n_finite, mean_sq_norm, dead, dim, spread, high_fraction) -> tuple[bool, str]:
    if n_finite < 2:
        return False, "too few finite vectors to judge collapse"
    if mean_sq_norm == 0:
        return True, "collapsed: every vector is the zero vector"
    if dead == dim:
        return True, "collapsed: every vector is the same"
    if spread is not None and spread < COLLAPSE_SPREAD:
        return True, (f"collapsed: all vectors lie near one point (the typical distance between two vectors "
                      f"is {spread:.2%} of their length)")
    if high_fraction is not None and high_fraction > COLLAPSE_PAIR_FRACTION:
        return True, (f"collapsed: {high_fraction:.0%} of sampled pairs have cosine > {COLLAPSE_COSINE} "
                      "(all vectors point almost the same way; if a shared offset causes this, "
                      "subtracting the mean vector may restore the spread)")
    parts = []
    if high_fraction is not None:
        parts.append(f"{high_fraction:.1%} of sampled pairs have cosine > {COLLAPSE_COSINE}")
    if spread is not None:
        parts.append(f"the typical distance between two vectors is {spread:.0%} of their length")
    return False, "not collapsed" + (": " + "; ".join(parts) if parts else "")


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _warnings(r: InspectionReport, norms: np.ndarray, n_finite: int) -> list[str]:
    out = []
    if r.nonfinite_rows:
        verb = "holds" if r.nonfinite_rows == 1 else "hold"
        out.append(f"{_plural(r.nonfinite_rows, 'row')} {verb} NaN or infinite values; every figure leaves them out")
    if r.collapsed:
        out.append(r.verdict)
    if r.zero_rows:
        out.append(f"{_plural(r.zero_rows, 'row')} {'is a zero vector' if r.zero_rows == 1 else 'are zero vectors'}: "
                   "cosine and angular scores are undefined for them")
    if r.dead_dimensions and r.dead_dimensions < r.dim:
        out.append(f"{r.dead_dimensions} of {r.dim} dimensions are constant (dead): they carry no information")
    if r.low_variance_dimensions:
        verb = "varies" if r.low_variance_dimensions == 1 else "vary"
        out.append(f"{_plural(r.low_variance_dimensions, 'dimension')} {verb} less than {LOW_VARIANCE_RATIO:g} x "
                   "the median dimension's variance")
    if n_finite and not r.normalized and not r.collapsed:
        off = int((np.abs(norms - 1.0) > NORMALIZED_TOLERANCE).sum())
        if off <= n_finite / 2:
            out.append(f"{1 - off / n_finite:.1%} of vectors have norm 1 but {_plural(off, 'does', 'do')} not: "
                       "partly L2-normalised?")
        elif r.norm_mean and r.norm_std / r.norm_mean > NORM_SPREAD_WARNING:
            out.append(f"not L2-normalised: norms range from {_fmt(r.norm_min)} to {_fmt(r.norm_max)}; euclidean "
                       "distances mix length and direction (normalise if length carries no meaning)")
    if r.exact_duplicate_rows:
        share = r.exact_duplicate_rows / n_finite
        verb = "repeats" if r.exact_duplicate_rows == 1 else "repeat"
        out.append(f"{_plural(r.exact_duplicate_rows, 'row')} ({share:.1%}) {verb} an earlier row exactly "
                   f"({n_finite - r.exact_duplicate_rows} distinct vectors)")
    if r.near_duplicate_pairs and not r.collapsed:
        out.append(f"{r.near_duplicate_pairs} of {r.sampled_pairs} sampled pairs are near-duplicates "
                   f"(cosine > {NEAR_DUPLICATE_COSINE})")
    if r.effective_rank is not None and not r.collapsed and r.dim >= 8:
        possible = min(r.dim, r.spectrum_rows - 1)
        if r.effective_rank < max(2.0, LOW_RANK_FRACTION * possible):
            out.append(f"low effective rank: the vectors use about {r.effective_rank:.0f} of {r.dim} dimensions "
                       f"(effective rank {r.effective_rank:.1f}); most directions carry little variance")
    return out


def _summary(r: InspectionReport, n_finite: int) -> list[str]:
    lines = [f"{_plural(r.n, 'vector')} of {_plural(r.dim, 'dimension')} ({r.dtype})", r.verdict]
    if r.effective_rank is not None:
        verb = "explains" if r.explained_variance_90 == 1 else "explain"
        lines.append(f"uses about {r.effective_rank:.0f} of {r.dim} dimensions "
                     f"(effective rank {r.effective_rank:.1f}); "
                     f"{_plural(r.explained_variance_90, 'principal component')} {verb} 90% of the variance")
    if r.normalized:
        lines.append(f"L2-normalised: every norm is within {NORMALIZED_TOLERANCE:g} of 1")
    elif n_finite:
        lines.append(f"norms from {_fmt(r.norm_min)} to {_fmt(r.norm_max)} "
                     f"(mean {_fmt(r.norm_mean)}, std {_fmt(r.norm_std)})")
    if r.mean_cosine is not None:
        lines.append(f"mean cosine between two vectors {r.mean_cosine:.3f} (std {r.std_cosine:.3f}; "
                     f"{r.sampled_pairs} pairs of {r.sampled_rows} sampled vectors)")
    lines.append(f"{_plural(r.exact_duplicate_rows, 'exact duplicate row')}" if r.exact_duplicate_rows
                 else "no exact duplicate rows")
    c = r.classes
    if c is not None and c.intra_mean is not None and c.inter_mean is not None:
        closer = (c.intra_mean > c.inter_mean) if c.higher_is_better else (c.intra_mean < c.inter_mean)
        line = (f"{_plural(c.n_classes, 'class', 'classes')}: same-class pairs are "
                f"{'closer' if closer else 'not closer'} (mean {c.metric} {_fmt(c.intra_mean)}) "
                f"than other pairs ({_fmt(c.inter_mean)})")
        if c.separation is not None:
            line += f"; separation d' {c.separation:.2f}"
        if c.separated_fraction is not None:
            line += (f"; {c.separated_fraction:.0%} of classes are closer to themselves "
                     "than to their nearest other class")
        lines.append(line)
    return lines


__all__ = ["inspect_embeddings", "InspectionReport", "ClassSeparation", "ClassRow"]


# ---------------------------------------------------------------- the table (siamcli.output draws it)


def _figures_grid(r: dict, precision: int) -> Grid:
    from .output.text import figure

    num = lambda x: figure(x, precision)  # noqa: E731
    cos = r["cosine_quantiles"] or {}
    norms = r["norm_quantiles"] or {}
    return key_value_grid([
        ("vectors x dimensions", f"{r['n']:,} x {r['dim']:,} ({r['dtype']})"),
        ("non-finite / zero rows", f"{r['nonfinite_rows']:,} / {r['zero_rows']:,}"),
        ("norm min / median / max", f"{num(r['norm_min'])} / {num(norms.get('50%'))} / {num(r['norm_max'])}"),
        ("L2-normalised", "yes" if r["normalized"] else "no"),
        ("dead / low-variance dimensions", f"{r['dead_dimensions']} / {r['low_variance_dimensions']}"),
        ("effective rank", num(r["effective_rank"])),
        ("participation ratio", num(r["participation_ratio"])),
        ("components for 90% of variance", str(r["explained_variance_90"])),
        ("mean cosine (std)", f"{num(r['mean_cosine'])} ({num(r['std_cosine'])})"),
        ("cosine 5% / 50% / 95%", f"{num(cos.get('5%'))} / {num(cos.get('50%'))} / {num(cos.get('95%'))}"),
        ("pairs with cosine > 0.95", num(r["high_cosine_fraction"])),
        ("spread (RMS distance / RMS norm)", num(r["spread_ratio"])),
        ("exact duplicate rows", f"{r['exact_duplicate_rows']:,}"),
        ("near-duplicate pairs (sampled)", f"{r['near_duplicate_pairs']:,}"),
        ("sampled rows / pairs", f"{r['sampled_rows']:,} / {r['sampled_pairs']:,}"),
        ("collapsed", "YES" if r["collapsed"] else "no"),
    ])


def _classes_blocks(classes: dict, precision: int) -> list:
    from .output.text import figure

    num = lambda x: figure(x, precision)  # noqa: E731
    said = (f"classes ({classes['metric']}; {'higher' if classes['higher_is_better'] else 'lower'} is closer): "
            f"same-class mean {num(classes['intra_mean'])}, other-class mean {num(classes['inter_mean'])}, "
            f"separation d' {num(classes['separation'])}")
    grid = Grid([Column(name, justify=justify) for name, justify in (
        ("class", "left"), ("count", "right"), ("same-class", "right"), ("other-class", "right"),
        ("nearest class", "left"), ("to nearest", "right"), ("separated", "left"))])
    for row in classes["per_class"]:
        grid.rows.append([str(row["class"]), f"{row['count']:,}", num(row["intra_mean"]), num(row["inter_mean"]),
                          str(row["nearest_class"]), num(row["nearest_mean"]), "yes" if row["separated"] else "NO"])
    return ["", said, grid]


def _inspection_layout(r: dict, precision: int) -> list:
    blocks = [f"{r['source']}:", *(f"  {line}" for line in r["summary"])]
    if r["warnings"]:
        blocks += ["findings:", *(f"  ! {line}" for line in r["warnings"])]
    blocks += ["", _figures_grid(r, precision)]
    if r["classes"] is not None:
        blocks += _classes_blocks(r["classes"], precision)
    return blocks

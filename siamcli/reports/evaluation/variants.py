"""How small can a model be stored? Variants of its vectors, evaluated side by side with it: the
first d dimensions (Matryoshka truncation) and quantised copies, each with the bytes a vector takes.

A Variant is an EmbeddingSet whose rows are made from the model's rows when the engine reads them
(block by block: no copy of the whole set is made), what its records gain (`dims`, `quantize`,
`bytes_per_vector`) and which metrics apply to it.

- Truncation keeps the first d columns. When every row of the model has unit norm (a normalised
  model), the truncated rows are L2-normalised again, as Matryoshka models are used (truncate, then
  normalise: sentence-transformers' `truncate_dim` with `normalize_embeddings`). Cosine and angle
  metrics do not change (they ignore each row's length); dot, euclidean and the other distances then
  score unit vectors, as they did on the full ones. A model whose rows are not unit keeps its
  lengths: they are part of what its dot products and distances measure. A row whose first d
  values are all zero has no direction: it stays zero (its variant's notes say how many).
- float16: each value rounded to float16, scored in float32. A value beyond float16's range
  (|x| >= 65520 rounds to infinity) is an error.
- int8, as sentence-transformers' `quantize_embeddings(precision="int8")`: per dimension, the
  minimum lo and maximum hi over calibration rows (the data itself by default) cut into 255 steps,
  step = (hi - lo) / 255, and x -> trunc((x - lo) / step - 128) (numpy's cast to int8 truncates
  toward zero). Computed in float64. Beyond sentence-transformers: values outside [lo, hi] (rows
  calibrated on others) are clipped to the ends instead of wrapping around, and a dimension with
  lo == hi (constant: it tells no rows apart) becomes 0 instead of 0/0. Scored as the integers.
- uint8: the same steps without the offset, trunc((x - lo) / step) in 0..255.
- binary: the sign bits x > 0, stored packed (ceil(d / 8) bytes), scored by hamming only: the
  fraction of the d bits that differ, popcount(a xor b) / d on the packed bits.

>>> import numpy as np
>>> x = np.array([[0.6, 0.8, 0.0], [0.0, 0.6, -0.8]])
>>> v = quantized(x, "binary")
>>> v.dims, v.quantize, v.bytes_per_vector, np.asarray(v.vectors.vectors).tolist()
(3, 'binary', 1, [[1, 1, 0], [0, 1, 0]])
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ...errors import agrees, counted, InputError, ShapeError, UsageError, did_you_mean, mention

if TYPE_CHECKING:
    from ...io import EmbeddingSet

#: --quantize's choices, in the order a table lists them (largest first).
QUANTIZE_KINDS = ("float16", "int8", "uint8", "binary")
#: The keys each variant record gains (after "metric").
VARIANT_FIELDS = ("dims", "quantize", "bytes_per_vector")
#: Rows whose norms are all within this of 1 belong to a normalised model (float16-stored unit
#: vectors are within 5e-4).
UNIT_NORM_TOLERANCE = 1e-3
#: Bytes per value of each precision (binary: one bit).
_BYTES = {"float16": 2, "int8": 1, "uint8": 1}
#: Values per chunk of a calibration scan (16 MiB in float64).
_SCAN_VALUES = 2**21


class RowMap:
    """Rows of `base` passed through `fn` (rows in, rows out) when they are read: the engine reads
    a set block by block, so a variant costs a block's worth of memory, never a copy of the set."""

    ndim = 2

    def __init__(self, base, fn, dim: int, dtype):
        self.base, self.fn, self.dtype = base, fn, np.dtype(dtype)
        self.shape = (base.shape[0], dim)

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        rows_key, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        rows = np.asarray(self.base[rows_key])
        out = self.fn(rows[None, :])[0] if rows.ndim == 1 else self.fn(rows)
        return out[(slice(None),) * (out.ndim - 1) + rest] if rest else out

    def __array__(self, dtype=None, copy=None):
        whole = self[0 : len(self)]
        return whole if dtype is None else whole.astype(dtype)


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class Variant:
    """One model's vectors as evaluated: `vectors` (an EmbeddingSet) is what the engine scores;
    `dims` the dimensions used, `quantize` the precision (None: the original values),
    `bytes_per_vector` the size of one stored vector, `renormalized` whether truncated rows were
    L2-normalised again, `notes` what the user should know about it."""

    vectors: EmbeddingSet
    dims: int
    quantize: str | None
    bytes_per_vector: int
    renormalized: bool = False
    notes: tuple[str, ...] = ()
    full_dims: int | None = None  # the model's own dimension

    @property
    def truncated(self) -> bool:
        return self.full_dims is not None and self.dims < self.full_dims

    @property
    def label(self) -> str:
        """How a table names it: 'original', 'first 32 dims', 'int8', 'first 32 dims, int8'."""
        parts = ([f"first {self.dims} dims"] if self.truncated else []) + ([self.quantize] if self.quantize else [])
        return ", ".join(parts) or "original"

    def record(self) -> dict:
        return {"dims": self.dims, "quantize": self.quantize, "bytes_per_vector": self.bytes_per_vector}

    def applies(self, metric, normalized: bool = False) -> str | None:
        """None when `metric` (a Metric) scores this variant, else why not."""
        if self.quantize == "binary" and (not metric.compares_bits or normalized):
            return (f"binary: sign bits are scored by {', '.join(m.name for m in bit_metrics())}, "
                    f"not {metric.name}{' (L2)' if normalized else ''}")
        if self.quantize == "int8" and metric.domain == "nonnegative":
            return f"int8: the values are signed; {metric.name} needs non-negative vectors (uint8 keeps them)"
        return None

    def metrics(self, chosen) -> tuple[list, list[str]]:
        """(the metrics of `chosen` that score this variant, a note on each left out); a binary
        variant is scored by the metrics of bits (hamming) whatever was chosen."""
        if self.quantize == "binary":
            bits = bit_metrics()
            others = [m.name for m in chosen if m not in bits]
            words = ", ".join(m.name for m in bits)
            return bits, [f"binary: scored by {words} (sign bits), not {', '.join(others)}"] if others else []
        kept, notes = [], []
        for m in chosen:
            reason = self.applies(m)
            if reason:
                notes.append(reason)
            else:
                kept.append(m)
        return kept, notes


def bit_metrics() -> list:
    """The registered metrics that score codes of bits (Metric.compares_bits): hamming."""
    from ...metrics import available_metrics

    return [m for m in available_metrics() if m.compares_bits]


def original(vectors) -> Variant:
    """The model's own values: its dimension, quantize None, the bytes of its stored type."""
    s = _as_set(vectors)
    itemsize = np.dtype(s.vectors.dtype).itemsize
    return Variant(s, s.dim, None, itemsize * s.dim, full_dims=s.dim)


def truncated(vectors, d: int, *, renormalize: bool | None = None) -> Variant:
    """The first `d` dimensions (Matryoshka truncation). `renormalize`: L2-normalise the truncated
    rows; None (the default) does so when every row of `vectors` has unit norm (see the module's
    notes)."""
    if isinstance(vectors, Variant) and (vectors.quantize or vectors.truncated):
        raise UsageError(f"{vectors.vectors.source} is already a variant; truncate the original values")
    s = _as_set(vectors)
    d = check_dims(d, s.dim, s.source)
    if d == s.dim:
        return original(s)  # all of it: re-normalising unit rows changes nothing
    if renormalize is None:
        renormalize = has_unit_rows(s)
    itemsize = np.dtype(s.vectors.dtype).itemsize
    label = f"first {d} dims"
    rows, notes = s.vectors[:, :d], ()
    if renormalize:
        dtype = s.vectors.dtype if np.dtype(s.vectors.dtype).kind == "f" else np.dtype(np.float64)
        rows = RowMap(s.vectors, partial(_unit_prefix, d=d), d, dtype)
        zero = _count_rows(s, lambda x: ~np.any(x[:, :d] != 0, axis=1))
        if zero:
            notes = (f"{s.source}: {zero:,} of {counted(len(s), 'row')} {agrees(zero, 'is', 'are')} all zero in the "
                     f"first {counted(d, 'dimension')} and {agrees(zero, 'stays', 'stay')} zero (no direction to "
                     "re-normalise)",)
    named = dataclasses.replace(s, vectors=rows, source=f"{s.source} ({label})")
    return Variant(named, d, None, itemsize * d, bool(renormalize), notes, full_dims=s.dim)


def quantized(vectors, kind: str, calibration=None, *, ranges=None) -> Variant:
    """A quantised copy of `vectors` (an array, an EmbeddingSet, or an unquantised Variant such as
    a truncation). int8 and uint8 cut each dimension's range into 255 steps: `ranges` (a (2, d)
    array of minima and maxima) or the range over `calibration` (rows, a set, a Variant or a list
    of them, read through the same truncation), by default over `vectors` themselves."""
    kind = check_kind(kind)
    base = vectors if isinstance(vectors, Variant) else original(vectors)
    if base.quantize is not None:
        raise UsageError(f"{base.vectors.source} is already quantised ({base.quantize}); quantise the original values")
    s, d = base.vectors, base.dims
    if kind == "binary":
        rows = RowMap(s.vectors, _sign_bits, d, np.uint8)
    elif kind == "float16":
        _check_float16(s)
        rows = RowMap(s.vectors, _float16_rows, d, np.float32)
    else:
        lo, hi = _checked_ranges(ranges, d) if ranges is not None else int8_ranges(*_calibrating(base, calibration))
        if len(lo) != d:
            raise ShapeError(f"calibration rows have {counted(len(lo), 'dimension')} but {s.source} has {d}")
        rows = RowMap(s.vectors, partial(_stepped, lo=lo, hi=hi, signed=kind == "int8"), d, kind)
    size = math.ceil(d / 8) if kind == "binary" else _BYTES[kind] * d
    source = s.source.removesuffix(")") + f", {kind})" if base.truncated else f"{s.source} ({kind})"
    named = dataclasses.replace(s, vectors=rows, source=source)
    return Variant(named, d, kind, size, base.renormalized, base.notes, full_dims=base.full_dims)


def int8_ranges(*sources) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi): each dimension's minimum and maximum over every row of `sources` (arrays, sets
    or Variants of one dimension), read chunk by chunk, in float64."""
    sets = [s.vectors if isinstance(s, Variant) else _as_set(s) for s in sources]
    if not sets:
        raise UsageError("calibration needs at least one set of rows")
    dim = sets[0].dim
    lo, hi = np.full(dim, np.inf), np.full(dim, -np.inf)
    for s in sets:
        if s.dim != dim:
            raise ShapeError(f"calibration rows have {counted(s.dim, 'dimension')} in {s.source} but {dim} in {sets[0].source}")
        step = max(1, _SCAN_VALUES // dim)
        for start in range(0, len(s), step):
            chunk = np.asarray(s.vectors[start : start + step], dtype=np.float64)
            np.minimum(lo, chunk.min(axis=0), out=lo)
            np.maximum(hi, chunk.max(axis=0), out=hi)
    return lo, hi


def variants(emb, right=None, *, dims=(), quantize=(), renormalize: bool | None = None,
             calibration=None) -> list[tuple[Variant, Variant | None]]:
    """Every variant of one model to evaluate, as (left, right) pairs (right None for one set):
    the original first, then the first d dimensions for each d in `dims` (below the dimension),
    then each precision in `quantize`. Both sides are treated alike: re-normalised when every row
    of both has unit norm, quantised with ranges calibrated on both together (or on `calibration`)."""
    sets = [_as_set(emb)] + ([] if right is None else [_as_set(right)])
    pad = (None,) if right is None else ()
    out = [tuple(original(s) for s in sets) + pad]
    dims = [d for d in dims if str(d).strip().lower() != "full"]  # the original, always first
    dims = sorted({check_dims(d, s.dim, s.source) for d in dims for s in sets} - {s.dim for s in sets})
    if dims and renormalize is None:
        renormalize = all(has_unit_rows(s) for s in sets)
    for d in dims:
        out.append(tuple(truncated(s, d, renormalize=renormalize) for s in sets) + pad)
    for kind in dict.fromkeys(check_kind(k) for k in quantize):
        ranges = None
        if kind in ("int8", "uint8"):
            ranges = np.stack(int8_ranges(*(sets if calibration is None else _calibration_sets(calibration))))
        out.append(tuple(quantized(s, kind, ranges=ranges) for s in sets) + pad)
    return out


def comparison(variant: Variant, right: Variant | None = None, *, metric="cosine", **options):
    """engine.prepare for a variant (and the same variant of the right-hand set): the options are
    engine.prepare's (normalize, zero_vector, memory, notify, the metric's parameters). An error
    when the metric does not apply to it (binary: hamming only)."""
    from ... import engine

    m = engine.get_metric(metric)
    reason = variant.applies(m, bool(options.get("normalize")))
    if reason is not None:
        raise UsageError(reason)
    if right is not None and (right.dims, right.quantize) != (variant.dims, variant.quantize):
        raise UsageError(f"{variant.vectors.source} and {right.vectors.source} are different variants")
    return engine.prepare(variant.vectors, None if right is None else right.vectors, metric=m, **options)


def variant_scores(variant: Variant, rows_a=None, rows_b=None, *, right: Variant | None = None,
                   metric="cosine", scorer=None, **options) -> np.ndarray:
    """float64 scores of the listed pairs (row rows_a[i] of the variant with row rows_b[i] of
    `right`, or of the variant itself), or of row i with row i of `right` when none are listed,
    through the engine block by block within `memory`. `scorer(comp, left, right)` replaces
    engine.pair_scores (a Dask backend's); `options` go to `comparison`."""
    from ... import engine

    comp = comparison(variant, right, metric=metric, **options)
    return (scorer or engine.pair_scores)(comp, rows_a, rows_b)


def with_variant(record: dict, variant: Variant) -> dict:
    """A copy of an evaluation record with the variant's `dims`, `quantize` and
    `bytes_per_vector`, placed after `metric` (at the end when there is none)."""
    out = {}
    for key, value in record.items():
        if key not in VARIANT_FIELDS:
            out[key] = value
        if key == "metric":
            out.update(variant.record())
    if "metric" not in record:
        out.update(variant.record())
    return out


def kept_words(variant: Variant, auc: float, full: Variant, full_auc: float) -> str:
    """What a variant keeps, in words: 'int8 keeps 99.6% of the AUC at 1/4 of the size'."""
    size = Fraction(variant.bytes_per_vector, full.bytes_per_vector)
    share = f"1/{size.denominator}" if size.numerator == 1 and size.denominator > 1 else f"{float(size):.0%}"
    kept = "all" if auc == full_auc else f"{auc / full_auc:.1%}" if full_auc > 0 else "n/a"
    return f"{variant.label} keeps {kept} of the AUC at {share} of the size"


def parse_dims(text, dim: int, source: str = "the embeddings") -> list[int]:
    """The truncations asked for by `text` ('32,64,128', 'full' or ints), ascending, each one
    checked against the model's dimension `dim`; `full` (or `dim` itself) is the original, which
    is always evaluated, so it is left out of the list."""
    items = [t.strip() for t in text.split(",")] if isinstance(text, str) else list(text)
    if not [t for t in items if str(t).strip()]:
        raise UsageError(f"{mention('dims')} needs a comma list of dimensions such as 32,64,128")
    dims = set()
    for item in items:
        if str(item).strip().lower() == "full":
            continue
        dims.add(check_dims(item, dim, source))
    return sorted(d for d in dims if d < dim)


def check_dims(d, dim: int, source: str = "the embeddings") -> int:
    """`d` as a number of dimensions from 1 to `dim`, else a UsageError naming it."""
    try:
        value = int(str(d).strip()) if not isinstance(d, (int, np.integer)) or isinstance(d, bool) else int(d)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise UsageError(f"{mention('dims')} takes whole numbers of dimensions from 1 (or 'full'), got '{d}'")
    if value > dim:
        raise UsageError(f"{mention('dims')} {value} is more than the {counted(dim, 'dimension')} of {source}")
    return value


def parse_quantize(text) -> list[str]:
    """The precisions asked for by `text` ('float16,int8,binary' or a list), in order, once each."""
    items = [t.strip() for t in text.split(",") if t.strip()] if isinstance(text, str) else list(text)
    if not items:
        raise UsageError(f"{mention('quantize')} needs a comma list of {', '.join(QUANTIZE_KINDS)}")
    return list(dict.fromkeys(check_kind(item) for item in items))


def check_kind(kind) -> str:
    name = str(kind).strip().lower()
    if name not in QUANTIZE_KINDS:
        hint = did_you_mean(name, QUANTIZE_KINDS)
        raise UsageError(f"{mention('quantize')} takes {', '.join(QUANTIZE_KINDS)}, not '{kind}'{hint}"
                         + (" (the original values are always evaluated)" if name in ("float32", "float64", "none") else ""))
    return name


def has_unit_rows(vectors) -> bool:
    """Whether every row's euclidean norm is within UNIT_NORM_TOLERANCE of 1 (a normalised model)."""
    s = _as_set(vectors)
    return not _count_rows(s, lambda x: np.abs(_norms(x) - 1.0) > UNIT_NORM_TOLERANCE)


# ---------------------------------------------------------------- row functions (module level: picklable)


def _unit_prefix(rows: np.ndarray, d: int) -> np.ndarray:
    from ...metrics import unit_rows

    head = rows[:, :d]
    return unit_rows(np.asarray(head, dtype=head.dtype if head.dtype.kind == "f" else np.float64))


def _float16_rows(rows: np.ndarray) -> np.ndarray:
    return np.asarray(rows, dtype=np.float16).astype(np.float32)


def _sign_bits(rows: np.ndarray) -> np.ndarray:
    return (rows > 0).astype(np.uint8)


def _stepped(rows: np.ndarray, lo: np.ndarray, hi: np.ndarray, signed: bool) -> np.ndarray:
    """sentence-transformers' int8 (signed) or uint8 buckets of rows, in float64; see the module.
    A dimension whose range overflows float64 (hi - lo > 1.8e308) is computed on halved values
    (exact: the same buckets); one whose step underflows to 0 still sends lo to 0 and above it to 255."""
    with np.errstate(over="ignore"):
        half = np.where(np.isinf(hi - lo), 0.5, 1.0)  # 1.0 elsewhere: exactly the plain formula
    step = (hi * half - lo * half) / 255
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        buckets = (np.asarray(rows, dtype=np.float64) * half - lo * half) / step
    buckets[np.isnan(buckets)] = 0.0  # 0 / 0: a value at lo of a dimension whose step underflowed
    values = np.trunc(np.clip(buckets, 0.0, 255.0) - (128.0 if signed else 0.0))
    values[:, hi == lo] = 0.0  # a constant dimension tells no rows apart
    return values.astype(np.int8 if signed else np.uint8)


# ---------------------------------------------------------------- helpers


def _as_set(vectors):
    from ... import engine

    if isinstance(vectors, Variant):
        return vectors.vectors
    return engine.as_embedding_set(vectors, "EMB")


def _calibration_sets(calibration) -> list:
    """A list of sets (EmbeddingSets, Variants, 2-D arrays) as it is; anything else is one set."""
    from ...io import EmbeddingSet

    kinds = (Variant, EmbeddingSet, np.ndarray)
    if isinstance(calibration, (list, tuple)) and calibration and all(
            isinstance(c, kinds) and (not isinstance(c, np.ndarray) or c.ndim == 2) for c in calibration):
        return list(calibration)
    return [calibration]


def _calibrating(base: Variant, calibration) -> list:
    """The rows int8 ranges are taken from: `base` itself, or the calibration sets read through
    base's truncation (their first base.dims dimensions, re-normalised if base's are)."""
    if calibration is None:
        return [base]
    sets = _calibration_sets(calibration)
    if not base.truncated:
        return sets
    return [truncated(c, base.dims, renormalize=base.renormalized) for c in sets]


def _checked_ranges(ranges, d: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(ranges, dtype=np.float64)
    if r.shape != (2, d):
        raise ShapeError(f"int8 ranges must be a (2, {d}) array of minima and maxima, got shape {r.shape}")
    if not np.isfinite(r).all() or (r[0] > r[1]).any():
        raise UsageError("int8 ranges must be finite, each minimum at most its maximum")
    return r[0], r[1]


def _norms(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.sqrt(np.einsum("ij,ij->i", x, x))


def _count_rows(s, test) -> int:
    from ... import engine

    return int(engine.scan_rows(s, test).sum())


def _check_float16(s) -> None:
    """An error naming the first value that float16 cannot hold (it would round to infinity)."""
    def overflows(x):
        with np.errstate(over="ignore"):
            return ~np.isfinite(np.asarray(x, dtype=np.float16)).all(axis=1)

    from ... import engine

    bad = engine.scan_rows(s, overflows)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        values = np.asarray(s.vectors[row], dtype=np.float64)
        with np.errstate(over="ignore"):
            col = int(np.flatnonzero(np.isinf(values.astype(np.float16)))[0])
        where = f"row {row}" + ("" if s.ids is None else f" ({s.id_of(row)})")
        raise InputError(f"{s.source}: {where}, column {col} is {values[col]:g}, beyond float16's range "
                         f"(+-65504): a float16 copy cannot hold it")

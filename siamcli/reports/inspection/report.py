"""The inspection report and `inspect_embeddings`, which computes it in named steps."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...engine import compute_dtype
from ...errors import counted, InputError, ShapeError, UsageError
from ...io import EmbeddingSet
from ...metrics import get_metric
from ...results import Document, brief, plain
from ..evaluation.pairs import check_seed
from .scan import (Scaled, cosine_values, exact_duplicates, gather, rows_within_budget, scale_exponent, scan_all,
                   spectrum, unscaled, variance_figures)
from .findings import (COLLAPSE_COSINE, NEAR_DUPLICATE_COSINE, NORMALIZED_TOLERANCE, QUANTILES, collapse_verdict,
                       inspection_layout, summary_lines, warning_lines)
from .separation import ClassSeparation, class_separation

#: Largest pairwise sample: pairwise figures grow with its square.
MAX_SAMPLE = 5000
#: The covariance spectrum uses every row up to this many, a uniform random sample beyond.
SPECTRUM_ROWS = 100_000
#: Arrays kept for plots: norms (a random subset beyond this) and a 2-D PCA projection of sampled rows.
NORMS_KEPT = 100_000
PROJECTION_ROWS = 5000


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
    projection_shares: np.ndarray | None = field(default=None, repr=False)  # each axis's share of the variance

    def repr_parts(self) -> list[str]:
        return [brief(self.source), f"{self.n} x {self.dim} {self.dtype}", f"verdict={brief(self.verdict)}",
                f"effective_rank={brief(self.effective_rank)}", f"mean_cosine={brief(self.mean_cosine)}"]

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
        return inspection_layout(self.record(), precision)


def _quantile_keys() -> list[str]:
    return [f"{q * 100:g}%" for q in QUANTILES]


def _quantiles(values: np.ndarray) -> dict[str, float]:
    return dict(zip(_quantile_keys(), np.quantile(values, QUANTILES).tolist()))



def _as_set(emb) -> EmbeddingSet:
    """An EmbeddingSet as given, one around an array or list (not checked for NaN: this report
    counts them), or what siamcli.load makes of a path, a tensor or a DataFrame."""
    from ...io import as_embedding_set
    from ...io.objects import object_kind

    if not isinstance(emb, EmbeddingSet):
        in_memory = object_kind(emb) in ("array", "list")
        emb = EmbeddingSet(np.asarray(emb), None, "<array>") if in_memory else as_embedding_set(emb, None)
    x = emb.vectors
    if x.ndim != 2 or x.dtype.kind not in "fiub" or 0 in x.shape:
        raise InputError(f"{emb.source}: expected a non-empty 2-D numeric array of embeddings, "
                         f"got shape {x.shape} ({x.dtype})")
    return emb




def _inputs(emb, classes, sample: int, seed: int, metric: str, spectrum_rows):
    """The set, its class codes (label codes, values and counts; None without classes) and the
    metric record, every option checked before a row is read."""
    emb = _as_set(emb)
    _check_options(sample, spectrum_rows)
    check_seed(seed)
    metric_record = get_metric(metric)  # fail fast on a misspelt name, before reading any row
    codes = (None, None, None) if classes is None else _class_codes(classes, len(emb), emb.source)
    return (emb, *codes, metric_record)


def _sampled(x, rows_x, finite_rows: np.ndarray, sample: int, exponent: int, rng):
    """One random sample of finite rows: (rows picked, their scaled rows, the first `sample` of
    them for the pairwise figures and their rows); up to PROJECTION_ROWS go to the plot."""
    wanted = min(max(sample, PROJECTION_ROWS), rows_within_budget(x.shape[1]))
    picked = finite_rows[rng.choice(len(finite_rows), size=min(len(finite_rows), wanted), replace=False)]
    picked_rows = gather(rows_x, picked)
    pair_index = picked[:sample]
    # pairs at the data's own scale: scaling may round a row of tiny values to 0 (cosine_values and the
    # metrics are overflow-safe on the originals)
    pair_rows = gather(x, pair_index) if exponent else picked_rows[:sample]
    return picked, picked_rows, pair_index, pair_rows


def inspect_embeddings(emb, *, classes=None, sample: int = 2000, seed: int = 0, metric: str = "euclidean",
                       spectrum_rows: int | None = SPECTRUM_ROWS) -> InspectionReport:
    """A health report of an embedding set: norms, dimensions, spectrum, pairwise cosines,
    duplicates, class separation, and a verdict on collapse in plain words.

    Parameters
    ----------
    emb : path, array_like, torch.Tensor, DataFrame or EmbeddingSet
        The vectors, as `siamcli.load` takes them (an array's NaN rows are counted, not refused).
    classes : sequence, optional
        A label per row: same-class against different-class scores under `metric`.
    sample : int
        Random rows behind the pairwise figures (2 to MAX_SAMPLE).
    seed : int
        Seeds every sample: the same seed, the same report.
    metric : str
        Any registered metric, for `classes` (one that fits parameters fits them on the sample).
    spectrum_rows : int or None
        Rows behind the covariance spectrum (a uniform sample beyond; None: every row).

    Returns
    -------
    InspectionReport
        ``.summary`` and ``.warnings`` in words, ``.verdict``, ``.collapsed`` (every row alike, near one
        point, or pointing one way: findings.collapse_verdict), then the figures.

    Examples
    --------
    >>> import numpy as np, siamcli
    >>> x = np.random.default_rng(0).normal(size=(200, 8))
    >>> report = siamcli.inspect_embeddings(x, sample=100)
    >>> report.collapsed, report.n, report.dim, report.dead_dimensions
    (False, 200, 8, 0)
    """
    emb, labels, label_values, label_counts, metric_record = _inputs(emb, classes, sample, seed, metric, spectrum_rows)
    x = emb.vectors
    n, dim = x.shape
    scan, rows_x, exponent = _read(x, compute_dtype(emb))
    finite_rows = np.flatnonzero(scan.finite)
    n_finite = len(finite_rows)
    if labels is not None:
        _check_domain(metric_record, scan, n_finite, emb.source)
    rng = np.random.default_rng(seed)
    back = lambda values, what: unscaled(values, exponent, what, emb.source)  # noqa: E731
    norms = scan.norms[finite_rows]
    figures = dict(source=emb.source, n=n, dim=dim, dtype=str(x.dtype), nonfinite_rows=n - n_finite,
                   zero_rows=int(scan.zero.sum()), **_norm_figures(norms, finite_rows, back))
    variance, dead, low = variance_figures(scan, n_finite)
    figures.update(dead_dimensions=dead, low_variance_dimensions=low)
    axes = _spectrum_step(rows_x, scan, finite_rows, spectrum_rows, rng, figures)
    picked, picked_rows, pair_index, pair_rows = _sampled(x, rows_x, finite_rows, sample, exponent, rng)
    cos = _pair_step(pair_rows, scan.zero[pair_index], figures)
    _collapse_step(norms, variance, figures)
    if labels is not None and n_finite >= 2:
        figures["classes"] = class_separation(pair_rows, labels[pair_index], label_values, label_counts, metric,
                                              emb.source)
    _projection_step(picked, picked_rows, axes, scan, n_finite, labels, label_values, back, figures)
    return _assemble(x, scan, figures, norms, variance, exponent, cos, rng, emb.source)


def _assemble(x, scan, figures: dict, norms: np.ndarray, variance, exponent: int, cos: np.ndarray, rng,
              source: str) -> InspectionReport:
    """The report from the figures, at the data's own scale, with its warnings and summary in words."""
    finite_rows = np.flatnonzero(scan.finite)
    n_finite = len(finite_rows)
    kept = norms if n_finite <= NORMS_KEPT else norms[np.sort(rng.choice(n_finite, size=NORMS_KEPT, replace=False))]
    kept = unscaled(kept, exponent, "a norm", source)
    if variance is not None:
        worst = int(np.argmax(variance))
        variance = unscaled(variance, 2 * exponent, f"the variance of column {worst}", source)
    report = InspectionReport(
        **figures,
        normalized=bool(n_finite and not exponent and np.all(np.abs(norms - 1.0) <= NORMALIZED_TOLERANCE)),
        variance_min=None if variance is None else float(variance.min()),
        variance_median=None if variance is None else float(np.median(variance)),
        variance_max=None if variance is None else float(variance.max()),
        exact_duplicate_rows=exact_duplicates(x, finite_rows, scan.hashes[finite_rows]),
        near_duplicate_pairs=int((cos > NEAR_DUPLICATE_COSINE).sum()),
        warnings=[], summary=[], norms_sample=kept,
    )
    report.warnings = warning_lines(report, kept if exponent else norms, n_finite)
    report.summary = summary_lines(report, n_finite)
    return report


def _check_domain(metric, scan, n_finite: int, source: str) -> None:
    """Refuse negative values for a metric of non-negative vectors, before any pair is scored."""
    if metric.domain == "nonnegative" and n_finite and scan.col_min.min() < 0:
        column = int(np.argmin(scan.col_min))
        raise InputError(f"{source}: column {column} has negative values; {metric.name} needs non-negative vectors")


def _read(x: np.ndarray, cdtype: np.dtype):
    """(the scan of every row, the rows figures are computed on, their scale exponent): rows scaled by
    2**-exponent when squares would overflow or underflow the compute type."""
    scan = scan_all(x, cdtype)
    exponent = scale_exponent(scan, cdtype)
    if not exponent:
        return scan, x, 0
    rows_x = Scaled(x, exponent)
    original, scan = scan, scan_all(rows_x, cdtype)
    scan.hashes, scan.zero = original.hashes, original.zero  # of the original values, which scaling may round
    return scan, rows_x, exponent


def _norm_figures(norms: np.ndarray, finite_rows: np.ndarray, back) -> dict:
    """Smallest, mean, spread, quantiles and largest norm of the finite rows (None without one)."""
    if not len(norms):
        return dict(norm_min=None, norm_mean=None, norm_std=None, norm_quantiles=None, norm_max=None)
    norm_max = back(norms.max(), f"the norm of row {int(finite_rows[np.argmax(norms)])}")
    return dict(norm_min=back(norms.min(), "a norm"), norm_mean=back(norms.mean(), "the mean norm"),
                norm_std=back(norms.std(), "the norms' deviation"),
                norm_quantiles={key: back(value, "a norm") for key, value in _quantiles(norms).items()},
                norm_max=norm_max)


def _spectrum_step(rows_x, scan, finite_rows: np.ndarray, spectrum_rows, rng, figures: dict):
    """The covariance spectrum's figures into `figures`; returns the top two principal axes (or None)."""
    erank = participation = explained90 = axes = shares = None
    count = 0
    if len(finite_rows) >= 2:
        count, erank, participation, explained90, axes, shares = spectrum(rows_x, scan, finite_rows, spectrum_rows,
                                                                          rng)
    figures.update(effective_rank=erank, participation_ratio=participation, explained_variance_90=explained90,
                   spectrum_rows=count, projection_shares=shares)
    return axes


def _pair_step(pair_rows: np.ndarray, zero: np.ndarray, figures: dict) -> np.ndarray:
    """Cosine figures of the sampled rows' distinct pairs into `figures`; returns the cosines."""
    nonzero = ~zero
    cos = cosine_values(pair_rows[nonzero].astype(np.float64)) if nonzero.sum() >= 2 else np.empty(0)
    figures.update(sampled_rows=len(pair_rows), sampled_pairs=len(cos), mean_cosine=None, std_cosine=None,
                   cosine_quantiles=None, high_cosine_fraction=None)
    if len(cos):
        figures.update(mean_cosine=float(cos.mean()), std_cosine=float(cos.std()), cosine_quantiles=_quantiles(cos),
                       high_cosine_fraction=float((cos > COLLAPSE_COSINE).mean()))
    return cos


def _collapse_step(norms: np.ndarray, variance, figures: dict) -> None:
    """The spread ratio and the collapse verdict into `figures`."""
    # Over distinct pairs, mean |xi - xj|^2 = 2 x total variance (ddof=1), exactly.
    mean_sq_norm = float(np.mean(norms**2)) if len(norms) else 0.0
    spread = None
    if variance is not None and mean_sq_norm > 0:
        spread = math.sqrt(2.0 * float(variance.sum()) / mean_sq_norm)
    collapsed, verdict = collapse_verdict(len(norms), mean_sq_norm, figures["dead_dimensions"], figures["dim"],
                                          spread, figures["high_cosine_fraction"])
    figures.update(spread_ratio=spread, collapsed=collapsed, verdict=verdict)


def _projection_step(picked, picked_rows, axes, scan, n_finite: int, labels, label_values, back, figures: dict) -> None:
    """Up to PROJECTION_ROWS sampled rows on the top two principal axes, for the plot, into `figures`."""
    shown = picked[:PROJECTION_ROWS]
    projection = projection_labels = None
    if axes is not None:
        mean = scan.shift.astype(np.float64) + scan.col_sum / n_finite
        projection = np.zeros((len(shown), 2))
        projection[:, : axes.shape[1]] = (picked_rows[: len(shown)].astype(np.float64) - mean) @ axes
        projection = back(projection, "a projected coordinate")
        if labels is not None:
            projection_labels = label_values[labels[shown]]
    figures.update(projection=projection, projection_rows=shown, projection_labels=projection_labels)


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
        raise ShapeError(f"classes has {counted(raw.size, 'label')} (shape {raw.shape}) but {source} has {counted(n, 'row')}; "
                         "give one label per row")
    try:
        values, codes, counts = np.unique(raw, return_inverse=True, return_counts=True)
    except TypeError as exc:
        raise InputError(f"classes: labels must be all numbers or all strings ({exc})") from None
    return codes.ravel(), values, counts


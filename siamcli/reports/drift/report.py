"""The drift report and `detect_drift`, which computes it in named steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ...engine import DEFAULT_MEMORY_BYTES, as_embedding_set, check_memory, compute_dtype
from ...errors import ShapeError, UsageError, mention
from ...io import EmbeddingSet
from ...results import Document, brief, plain
from . import classifier, knn, mmd, shifts, words
from .permutation import generator, permuted_labels

#: The tests `test` chooses from, the one that decides `drift`.
TESTS = ("mmd", "knn", "classifier")
DEFAULT_SAMPLE = 5000
DEFAULT_PERMUTATIONS = 1000
DEFAULT_ALPHA = 0.01
DEFAULT_NEIGHBORS = 10


@dataclass(eq=False)  # arrays: compared by identity
class DriftReport(Document):
    """Has the current set drifted from the reference? The verdict of the chosen `test` at `alpha`,
    the three two-sample tests, descriptive shifts, and findings in plain language (`figures`)."""

    figures: dict
    projection: np.ndarray = field(repr=False)  # (sampled rows, 2): both samples on their shared top 2 PCs
    projection_labels: np.ndarray = field(repr=False)  # 1 for a reference row, 0 for a current one
    null: np.ndarray = field(repr=False)  # the permutation null of the plotted statistic
    null_statistic: str = "mmd2"  # the figure `null` is the null of
    projection_shares: np.ndarray | None = field(default=None, repr=False)  # each axis's share of the variance

    @property
    def drift(self) -> bool:
        return bool(self.figures["drift"])

    def repr_parts(self) -> list[str]:
        f = self.figures
        return [f"{brief(f['reference'])} -> {brief(f['current'])}", f"{f['n_reference']} vs {f['n_current']} x {f['dim']}",
                f"drift={self.drift}", f"test={f['test']!r}", f"p_value={brief(f['p_value'])}", f"alpha={f['alpha']}",
                f"mmd2={brief(f['mmd2'])}", f"classifier_auc={brief(f['classifier_auc'])}"]

    def record(self) -> dict:
        """The figures, plain language first: the inputs, then `findings` (the verdict leads), then the rest."""
        first = ("reference", "current", "findings")
        ordered = {key: self.figures[key] for key in first if key in self.figures}
        ordered.update((key, value) for key, value in self.figures.items() if key not in ordered)
        return plain(ordered)

    def table_layout(self, precision: int) -> list:
        return words.layout(self.record(), precision)


def _check(alpha, permutations, sample, test, neighbors) -> None:
    if test not in TESTS:
        raise UsageError(f"{mention('test')} must be one of {', '.join(TESTS)}, got {test!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise UsageError(f"{mention('alpha')} must be a number between 0 and 1, got {alpha!r}")
    for name, value, low in (("permutations", permutations, 1), ("sample", sample, 2), ("neighbors", neighbors, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise UsageError(f"{mention(name)} must be a whole number of at least {low}, got {value!r}")


def _sets(reference, current) -> tuple[EmbeddingSet, EmbeddingSet]:
    ref, cur = as_embedding_set(reference, "reference"), as_embedding_set(current, "current")
    if ref.dim != cur.dim:
        raise ShapeError(f"{ref.source} has {ref.dim} dimensions but {cur.source} has {cur.dim}; "
                         "drift is measured between sets of one dimension")
    for s in (ref, cur):
        if len(s) < 2:
            raise ShapeError(f"{s.source} has {len(s)} row{'' if len(s) == 1 else 's'}; each set needs at least 2")
    return ref, cur


def sampled(s: EmbeddingSet, size: int, rng: np.random.Generator) -> np.ndarray:
    """Every row of s (float64) when it has at most `size`, else `size` rows drawn without replacement."""
    if len(s) <= size:
        return np.asarray(s.vectors, dtype=np.float64)
    rows = np.sort(rng.choice(len(s), size=size, replace=False))
    return np.asarray(s.vectors[rows], dtype=np.float64)


def shared_projection(pooled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pooled rows on their top two principal axes (zeros where there are fewer), and each
    axis's share of the pooled rows' total variance."""
    centred = pooled - pooled.mean(axis=0)
    values, vectors = np.linalg.eigh(centred.T @ centred)
    axes = vectors[:, ::-1][:, :2]
    out = np.zeros((len(pooled), 2))
    out[:, : axes.shape[1]] = centred @ axes
    top = np.zeros(2)
    top[: axes.shape[1]] = np.clip(values[::-1][:2], 0, None)
    total = float(np.clip(values, 0, None).sum())
    return out, (top / total if total > 0 else np.zeros(2))


def detect_drift(reference, current, *, test: str = "mmd", alpha: float = DEFAULT_ALPHA,
                 permutations: int = DEFAULT_PERMUTATIONS, sample: int = DEFAULT_SAMPLE,
                 bandwidth: float | None = None, neighbors: int = DEFAULT_NEIGHBORS, metric="cosine",
                 seed: int = 0, normalize: bool = False, zero_vector: str = "error",
                 memory: int | str = DEFAULT_MEMORY_BYTES, notify: Callable[[str], None] | None = None,
                 **metric_params) -> DriftReport:
    """Has `current` drifted from `reference`? Three two-sample tests, shifts and a verdict in words.

    Parameters
    ----------
    reference, current : path, array_like, DataFrame or EmbeddingSet
        The two sets, as `siamcli.load` takes them: one dimension, any row counts (2 or more).
    test : {"mmd", "knn", "classifier"}
        The test whose p-value decides `drift`: unbiased MMD² with the RBF kernel exp(-|x - y|² / (2 s²))
        and a permutation test; the share of each row's nearest pooled rows from its own set, with a
        permutation test (Schilling 1986, Henze 1988); a logistic domain classifier's cross-validated
        ROC AUC, with Mann-Whitney p-values per fold (Bonferroni). All three are always reported.
    alpha : float
        Drift when the chosen test's p-value is below it; also the level of the per-dimension KS tests.
    permutations : int
        Label shuffles of the permutation tests: p = (1 + #null >= observed) / (1 + permutations).
    sample : int
        Rows of each set the tests use (a seeded sample when a set has more).
    bandwidth : float, optional
        The kernel's s (default: the median distance between distinct pooled rows).
    neighbors, metric, normalize, zero_vector, **metric_params
        The nearest-neighbour test's k, and its metric and how it treats the rows (as `compare`).
    seed : int
        Seeds the samples, the permutations and the folds.
    memory : int or str
        Working memory for kernel tiles and neighbour searches (bytes, or a size such as "512M").
    notify : callable, optional
        Told notes in words (too few permutations for `alpha`, the metric's notes).

    Returns
    -------
    DriftReport
        ``.drift``; ``.figures`` (``mmd2``, ``mmd_p_value``, ``knn_p_value``, ``classifier_auc``,
        ``centroid_distance``, ``drifted_dimensions_share``, ``findings``, ...); ``.record()``.

    Examples
    --------
    >>> import numpy as np, siamcli
    >>> rng = np.random.default_rng(0)
    >>> report = siamcli.detect_drift(rng.normal(size=(200, 4)), rng.normal(size=(150, 4)) + 1, permutations=200)
    >>> report.drift, report.figures["mmd_p_value"] < 0.01, report.figures["classifier_auc"] > 0.9
    (True, True, True)
    """
    _check(alpha, permutations, sample, test, neighbors)
    memory = check_memory(memory)
    ref, cur = _sets(reference, current)
    options = dict(normalize=normalize, zero_vector=zero_vector, memory=memory, notify=notify, **metric_params)
    return _detect(ref, cur, test, alpha, permutations, sample, bandwidth, neighbors, metric, seed, options)


def _detect(ref: EmbeddingSet, cur: EmbeddingSet, test, alpha, permutations, sample, bandwidth, neighbors, metric,
            seed, options: dict) -> DriftReport:
    """The report's steps, in the order they draw from the seeded generator."""
    rng = generator(seed)
    ref_rows, cur_rows = sampled(ref, sample, rng), sampled(cur, sample, rng)
    pooled = np.concatenate([ref_rows, cur_rows])
    labels = permuted_labels(np.r_[np.ones(len(ref_rows)), np.zeros(len(cur_rows))], permutations, rng)
    kernel = mmd.mmd_test(ref_rows, cur_rows, labels, bandwidth=bandwidth, memory=options["memory"], rng=rng,
                          dtype=compute_dtype(ref, cur))
    neighbour = knn.knn_test(pooled, labels, neighbors, metric, options)
    domain = classifier.classifier_test(pooled, labels[:, 0], rng)
    p_values = {"mmd": kernel.p_value, "knn": neighbour.p_value, "classifier": domain.p_value}
    figures = dict(
        reference=ref.source, current=cur.source, n_reference=len(ref), n_current=len(cur), dim=ref.dim,
        test=test, alpha=float(alpha), drift=bool(p_values[test] < alpha), p_value=p_values[test],
        mmd2=kernel.mmd2, mmd_p_value=kernel.p_value, bandwidth=kernel.bandwidth, bandwidth_from=kernel.bandwidth_from,
        knn_statistic=neighbour.statistic, knn_null_mean=float(neighbour.null.mean()), knn_p_value=neighbour.p_value,
        neighbors=neighbors, metric=neighbour.metric,
        classifier_auc=domain.auc, classifier_p_value=domain.p_value, classifier_fold_aucs=domain.fold_aucs,
        classifier_top_dimensions=domain.top_dimensions,
        **shifts.shift_figures(ref.vectors, cur.vectors),
        **shifts.dimension_tests(ref_rows, cur_rows, alpha),
        health=shifts.health_changes(ref, cur, seed),
        sample=sample, sampled_reference=len(ref_rows), sampled_current=len(cur_rows),
        permutations=permutations, seed=seed, median_rows=kernel.median_rows,
    )
    figures["findings"] = words.findings(figures)
    notify = options.get("notify")
    if notify is not None and words.resolution_line(figures):
        notify(words.resolution_line(figures))
    null, statistic = (neighbour.null, "knn_statistic") if test == "knn" else (kernel.null, "mmd2")
    projection, shares = shared_projection(pooled)
    return DriftReport(figures, projection, labels[:, 0].copy(), null, statistic, shares)

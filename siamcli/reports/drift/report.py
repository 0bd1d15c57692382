"""The drift report and `detect_drift`, which computes it in named steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ...engine import DEFAULT_MEMORY_BYTES, as_embedding_set, check_memory, compute_dtype
from ...errors import ShapeError, UsageError, mention
from ...io import EmbeddingSet
from ...results import Document, plain
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

    @property
    def drift(self) -> bool:
        return bool(self.figures["drift"])

    def record(self) -> dict:
        return plain(self.figures)

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


def shared_projection(pooled: np.ndarray) -> np.ndarray:
    """The pooled rows on their top two principal axes (zeros where there are fewer)."""
    centred = pooled - pooled.mean(axis=0)
    values, vectors = np.linalg.eigh(centred.T @ centred)
    axes = vectors[:, ::-1][:, :2]
    out = np.zeros((len(pooled), 2))
    out[:, : axes.shape[1]] = centred @ axes
    return out


def detect_drift(reference, current, *, test: str = "mmd", alpha: float = DEFAULT_ALPHA,
                 permutations: int = DEFAULT_PERMUTATIONS, sample: int = DEFAULT_SAMPLE,
                 bandwidth: float | None = None, neighbors: int = DEFAULT_NEIGHBORS, metric="cosine",
                 seed: int = 0, normalize: bool = False, zero_vector: str = "error",
                 memory: int = DEFAULT_MEMORY_BYTES, notify: Callable[[str], None] | None = None,
                 **metric_params) -> DriftReport:
    """Has `current` drifted from `reference` (EmbeddingSets, arrays or paths; same dimension)?

    Three two-sample tests on up to `sample` rows of each set (drawn with `seed` when larger), each
    with a p-value: the unbiased MMD² with the RBF kernel exp(-|x - y|² / (2 s²)), s the median
    distance between pooled rows unless `bandwidth` is given, and its permutation test; the
    nearest-neighbour test (the share of each row's `neighbors` nearest pooled rows under `metric`
    from its own set, permutation test); a domain classifier's cross-validated ROC AUC. Permutation
    p-values are (1 + #{null >= observed}) / (1 + `permutations`). `drift` is the p-value of `test`
    below `alpha`. Also: the centroid distance (and as a share of the reference's RMS spread), a KS
    test of the norms, per-dimension KS tests (Benjamini-Hochberg at `alpha`) and the change in
    `inspect`'s health figures. Kernel blocks and neighbour searches stay within `memory` bytes.
    """
    _check(alpha, permutations, sample, test, neighbors)
    memory = check_memory(memory)
    ref, cur = _sets(reference, current)
    rng = generator(seed)
    ref_rows, cur_rows = sampled(ref, sample, rng), sampled(cur, sample, rng)
    pooled = np.concatenate([ref_rows, cur_rows])
    labels = permuted_labels(np.r_[np.ones(len(ref_rows)), np.zeros(len(cur_rows))], permutations, rng)
    options = dict(normalize=normalize, zero_vector=zero_vector, memory=memory, notify=notify, **metric_params)
    kernel = mmd.mmd_test(ref_rows, cur_rows, labels, bandwidth=bandwidth, memory=memory, rng=rng,
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
    if notify is not None and words.resolution_line(figures):
        notify(words.resolution_line(figures))
    null, statistic = (neighbour.null, "knn_statistic") if test == "knn" else (kernel.null, "mmd2")
    return DriftReport(figures, shared_projection(pooled), labels[:, 0].copy(), null, statistic)

"""The report of two spaces of the same items, and `diff_spaces`, which computes it in named steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from ...engine import DEFAULT_MEMORY_BYTES, Comparison, as_embedding_set, check_memory, prepare
from ...errors import UsageError, mention
from ...io import EmbeddingSet
from ...metrics import get_metric
from ...results import Document, brief, plain
from . import agreement, neighbours, words
from .match import check_counts, in_a_order, match_rows

#: Global figures repeated in every per-item record (jsonl, csv, tsv), after the item's own keys.
GLOBAL_FIELDS = ("n", "k", "metric", "metric_b", "jaccard_mean", "jaccard_median", "cka", "rsa_spearman",
                 "procrustes_residual")


@dataclass(eq=False)  # arrays: compared by identity
class SpaceDiff(Document):
    """How the same items sit in two spaces: per-item neighbourhood overlap, then global agreement.

    Row i of `a` and of `b` is item i (b in A's order). `before` and `after` hold each item's k
    nearest neighbours in A and in B (rows, nearest first); `order` lists the items from the one
    whose neighbourhood changed most (lowest Jaccard; ties by row). `listed` is how many of them
    records and tables show (None: all).
    """

    a: EmbeddingSet
    b: EmbeddingSet
    k: int
    metric: str
    metric_b: str
    matched_by: str  # "id" or "row"
    before: np.ndarray = field(repr=False)
    after: np.ndarray = field(repr=False)
    shared: np.ndarray = field(repr=False)
    jaccard: np.ndarray = field(repr=False)
    order: np.ndarray = field(repr=False)
    cka: float | None
    debiased: bool
    procrustes_residual: float | None
    procrustes_scaled_residual: float | None
    rsa_spearman: float | None
    rsa_pairs: int
    rsa_sampled: bool
    seed: int
    notes: list[str]
    listed: int | None = None

    @property
    def n(self) -> int:
        return len(self.a)

    def figures(self) -> dict:
        """The global figures, in the order of the JSON object (items come after)."""
        return dict(
            a=self.a.source, b=self.b.source, n=self.n, dim_a=self.a.dim, dim_b=self.b.dim, k=self.k,
            metric=self.metric, metric_b=self.metric_b, matched_by=self.matched_by,
            jaccard_mean=float(self.jaccard.mean()), jaccard_median=float(np.median(self.jaccard)),
            shared_mean=float(self.shared.mean() / self.k), jaccard_quantiles=neighbours.quantiles(self.jaccard),
            shared_histogram=neighbours.histogram(self.shared, self.k), cka=self.cka, cka_debiased=self.debiased,
            rsa_spearman=self.rsa_spearman, rsa_pairs=self.rsa_pairs, rsa_sampled=self.rsa_sampled, seed=self.seed,
            procrustes_residual=self.procrustes_residual,
            procrustes_scaled_residual=self.procrustes_scaled_residual,
        )

    def repr_parts(self) -> list[str]:
        return [f"a={brief(self.a)}", f"b={brief(self.b)}", f"n={self.n}", f"k={self.k}", repr(self.metric),
                f"jaccard_mean={brief(float(self.jaccard.mean()) if self.n else None)}", f"cka={brief(self.cka)}"]

    def shown_fields(self) -> dict:
        """The --show text of each item (A's, else B's, by field name)."""
        return {**(self.b.fields or {}), **(self.a.fields or {})}

    def items(self) -> Iterator[dict]:
        """The listed items, from the one that changed most, with their neighbours before and after."""
        texts = self.shown_fields()
        ids = self.a.id_of
        for i in self.order[: self.listed].tolist():
            item = {"index": i, "id": ids(i), neighbours.JACCARD: float(self.jaccard[i]), "shared": int(self.shared[i]),
                    "a_neighbors": [ids(j) for j in self.before[i].tolist()],
                    "b_neighbors": [ids(j) for j in self.after[i].tolist()]}
            for name, values in texts.items():
                item[name] = values[i]
                item[f"a_neighbors_{name}"] = [values[j] for j in self.before[i].tolist()]
                item[f"b_neighbors_{name}"] = [values[j] for j in self.after[i].tolist()]
            yield item

    def record(self) -> dict:
        figures = self.figures()
        summary = words.summary_lines(figures)
        return plain({**figures, "summary": summary, "notes": self.notes, "items": list(self.items())})

    def records(self) -> Iterator[dict]:
        """One record per listed item (jsonl, csv, tsv), the global figures repeated after its own keys."""
        figures = self.figures()
        shared = {name: figures[name] for name in GLOBAL_FIELDS}
        for item in self.items():
            yield plain({**item, **shared})

    def table_layout(self, precision: int) -> list:
        return words.layout(self.figures(), list(self.items()), self.notes, precision)


def _comparisons(a: EmbeddingSet, b: EmbeddingSet, metric, metric_b, params: dict, options: dict
                 ) -> tuple[Comparison, Comparison]:
    """A and B each against itself, under its metric; a metric parameter goes to each metric that has it."""
    first = get_metric(metric, warn=options.get("notify"))
    second = first if metric_b is None else get_metric(metric_b, warn=options.get("notify"))
    given = {name: value for name, value in params.items() if value is not None}
    own = [{p.name for p in m.params} for m in (first, second)]
    for name, value in given.items():
        if name not in own[0] | own[1]:
            first.bind({name: value})  # the registry's error: which metrics take it
    return tuple(prepare(s, None, metric=m, **{k: v for k, v in given.items() if k in names}, **options)
                 for s, m, names in ((a, first, own[0]), (b, second, own[1])))


def diff_spaces(a, b, *, top_k: int = 10, metric="cosine", metric_b=None, by_row: bool = False,
                debiased: bool = False, pairs_sample: int = 100_000, seed: int = 0, normalize: bool = False,
                zero_vector: str = "error", memory: int = DEFAULT_MEMORY_BYTES,
                notify: Callable[[str], None] | None = None, progress: Callable[..., None] | None = None,
                **metric_params) -> SpaceDiff:
    """How the same items sit in two spaces A and B (EmbeddingSets or arrays; dimensions may differ).

    Items are matched by id (sets without ids by row number), or row by row with `by_row`. For each
    item: the Jaccard of its `top_k` nearest neighbours in A (under `metric`) and in B (under
    `metric_b`, default `metric`), exact, self left out, ties broken by the item's row in A. Globally:
    linear CKA of the centred spaces (`debiased`: from unbiased HSIC estimates), the relative residual
    after orthogonal Procrustes alignment when the dimensions match, and Spearman's rho of the pairs'
    closeness in A and in B over `pairs_sample` pairs drawn with `seed` (every pair when there are
    no more). Neighbour searches and products stay within `memory` bytes of working memory.
    `progress(pairs, total=None)` is told the pairs scored.
    """
    a, b = as_embedding_set(a, "A"), as_embedding_set(b, "B")
    memory = check_memory(memory)
    order = match_rows(a, b, by_row)
    n = len(a)
    check_counts(n, top_k, pairs_sample, seed, memory)
    if debiased and n < 4:
        raise UsageError(f"{mention('debiased')} CKA needs at least 4 items (its estimator divides by n - 3), got {n}")
    matched_by = "row" if by_row or (a.ids is None and b.ids is None) else "id"
    b = in_a_order(b, order)
    sums = agreement.products(a.vectors, b.vectors, memory, (a.source, b.source))
    comps = _comparisons(a, b, metric, metric_b, metric_params,
                         dict(normalize=normalize, zero_vector=zero_vector, memory=memory, notify=notify))
    if progress is not None:
        progress(0, 2 * n * n + 2 * min(pairs_sample, n * (n - 1) // 2))
    before, after, shared = neighbours.neighbour_step(comps, top_k, memory, progress)
    cka, why_not = agreement.cka(sums, debiased)
    rho, pairs, sampled, rho_why_not = agreement.spearman(comps, pairs_sample, seed)
    jaccard = neighbours.jaccard(shared, top_k)
    return SpaceDiff(a, b, top_k, comps[0].metric.name, comps[1].metric.name, matched_by, before, after, shared,
                     jaccard, neighbours.changed_order(jaccard), cka, debiased, sums.residual, sums.scaled_residual,
                     rho, pairs, sampled, seed, [note for note in (why_not, rho_why_not) if note])

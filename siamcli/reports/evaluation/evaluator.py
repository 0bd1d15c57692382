"""`evaluate`: labelled pairs of embeddings scored under one or more metrics, each scored pair set
turned into verification, retrieval and distribution reports."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import agrees, counted, InputError, UsageError, mention
from ...results import Report, Result, brief, plain
from .distribution import ScoreDistribution, score_distribution
from .pairs import check_pair_count, check_seed, parse_labels, sample_pairs
from .retrieval import DEFAULT_KS, RetrievalReport, codes_and_sizes, class_pair_scores, retrieval_from_counts
from .verification import DEFAULT_FARS, VerificationReport, check_pairs, closest_first, verification_report
from .layout import evaluation_layout
from .models import Model, align_models, as_models
from .orders import mark_same_order
from .storage import rank_with_variants, scoring_plan
from .uncertainty import DEFAULT_BOOTSTRAP, AucComponents, Intervals, check_bootstrap, intervals_of

@dataclass
class MetricEvaluation(Result):
    """One model under one metric (optionally after L2 normalisation) evaluated on the labelled
    pairs, with its 95% intervals and, beside other models, DeLong's paired test against the
    best model with the same metric."""

    verification: VerificationReport
    distribution: ScoreDistribution
    retrieval: RetrievalReport | None
    normalized: bool
    scores: np.ndarray = field(repr=False)  # the pair scores, for plots and the paired test
    same: np.ndarray = field(repr=False)
    model: str = ""
    fields: dict = field(default_factory=dict)  # a model variant's own record keys
    intervals: Intervals | None = None
    components: AucComponents | None = field(default=None, repr=False)
    auc_p_value: float | None = None
    notes: list[str] = field(default_factory=list)  # warnings about the intervals and the test
    model_label: str = ""  # what tells the model apart in tables (Model.key)
    variant: Any = field(default=None, repr=False)  # the model's Variant (None: no --dims/--quantize)
    reference: MetricEvaluation | None = field(default=None, repr=False)  # a variant's original row
    same_order_as: str | None = None  # a metric above this one that ranks the pairs identically (orders.py)

    @property
    def name(self) -> str:
        return self.verification.metric + (" (L2)" if self.normalized else "")

    @property
    def label(self) -> str:
        """The model and the metric, as messages name them."""
        return f"{self.model_label or self.model} {self.name}" if self.model else self.name

    def repr_parts(self) -> list[str]:
        v = self.verification
        parts = [repr(self.label), f"auc={brief(v.auc)}", f"eer={brief(v.eer)}", f"best_accuracy={brief(v.best_accuracy)}"]
        return parts + ([f"precision_at_1={brief(self.retrieval.precision_at_1)}"] if self.retrieval else [])

    def record(self) -> dict:
        """model (and a variant's fields), the verification keys with each figure's interval
        after it, retrieval keys (with classes), the score distributions and the warnings."""
        verification = self.verification.record()
        warnings = verification.pop("warnings")
        ci = self.intervals or Intervals(None, None, None, {k: None for k in verification["tar_at_far"]})
        after = {"auc": {"auc_ci": ci.auc, "auc_p_value": self.auc_p_value}, "eer": {"eer_ci": ci.eer},
                 "best_accuracy": {"best_accuracy_ci": ci.best_accuracy},
                 "tar_at_far": {"tar_at_far_ci": {k: ci.tar_at_far.get(k) for k in verification["tar_at_far"]}}}
        record = {"model": self.model, **self.fields}
        for key, value in verification.items():
            record[key] = value
            record.update(after.get(key, {}))
        record["normalized"] = self.normalized
        record["same_order_as"] = self.same_order_as
        if self.retrieval is not None:
            retrieval = self.retrieval.record()
            warnings += retrieval["warnings"]
            record.update(precision_at_1=retrieval["precision_at_1"], precision_at_1_ci=ci.precision_at_1,
                          recall_at_k=retrieval["recall_at_k"], map_at_r=retrieval["map_at_r"], map_at_r_ci=ci.map_at_r)
        dist = self.distribution.record()
        record["positive_scores"] = dist["positive"]
        record["negative_scores"] = dist["negative"]
        record["overlap"] = dist["overlap"]
        record["warnings"] = warnings + self.notes
        return plain(record)


@dataclass
class Evaluation(Report):
    """Every evaluated (model, metric), best AUC first; `skipped` says which metrics were left
    out, why; `models` names the models in the order given."""

    results: list[MetricEvaluation]
    skipped: list[str]
    pairs: str  # how the pairs were formed, in words
    models: list[str] = field(default_factory=list)
    bootstrap: int = DEFAULT_BOOTSTRAP  # resamples behind the bootstrap intervals (0: none)
    seed: int = 0

    def records(self):
        for result in self.results:
            yield result.record()

    def table_layout(self, precision: int) -> list:
        """In words, which model is best and whether the others are really worse; the (model,
        metric) results ranked by AUC (when several); the best one in detail; its score distributions."""
        return evaluation_layout(self, precision)

    def repr_parts(self) -> list[str]:
        count = f"{len(self.results)} result{'s' * (len(self.results) != 1)}"
        best = self.best.repr_parts() if self.results else []
        return [count, *(["best=" + " ".join(best)] if best else []), f"pairs={brief(self.pairs)}"]

    @property
    def best(self) -> MetricEvaluation:
        return self.results[0]

    @property
    def has_variants(self) -> bool:
        """Whether smaller copies (--dims, --quantize) were evaluated beside the models."""
        return any(r.variant is not None for r in self.results)


def choose_metrics(names, sets, p=None, zero_vector: str = "error", **metric_params) -> tuple[list, list[str]]:
    """Metrics for `names` ("all", a comma list, or a list): (Metric list, notes on skipped ones).

    "all" takes every metric that orders pairs differently from the others, and leaves out
    those that do not apply to these vectors (negative values for probability metrics, floats
    for binary ones, zero or constant rows where a metric is undefined)."""
    from ...metrics import available_metrics, get_metric

    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        raise UsageError(f"{mention('metric')} needs a metric name, a comma list of names, or 'all'")
    if [n.lower() for n in names] != ["all"]:
        if "all" in [n.lower() for n in names]:
            raise UsageError(f"{mention('metric')} all cannot be combined with other names")
        chosen = []
        for name in names:
            metric = get_metric(name)
            if metric not in chosen:
                chosen.append(metric)
        return chosen, []
    chosen, skipped = [], []
    vectors = [np.asarray(s.vectors[: 100_000]) for s in sets]
    negative = any((v < 0).any() for v in vectors)
    discrete = all(np.array_equal(v, np.round(v)) for v in vectors)
    given = {k for k, v in dict(p=p, **metric_params).items() if v is not None}
    for metric in available_metrics():
        undefined = metric.undefined_rows is not None and any(metric.undefined_rows(v).any() for v in vectors)
        if metric.same_order_as is not None:
            continue  # ranks pairs exactly as another metric: same figures
        if metric.default_order_as is not None and not given & {param.name for param in metric.params}:
            continue  # with its parameters at their defaults it ranks as another (minkowski, p = 2: euclidean)
        if metric.domain == "nonnegative" and negative:
            skipped.append(f"{metric.name}: needs non-negative vectors")
        elif metric.domain == "discrete" and not discrete:
            skipped.append(f"{metric.name}: meant for binary or discrete vectors, these hold fractions")
        elif undefined and zero_vector == "error":
            skipped.append(f"{metric.name}: undefined for some rows (zero or constant vectors); see --zero-vector")
        else:
            chosen.append(metric)
    return chosen, skipped


def evaluate(emb, right=None, *, labels=None, pairs=None, classes=None, sample: int | None = None,
             seed: int = 0, positive_label: str = "1", metric="cosine", normalize: bool = False,
             folds: int = 10, fars=DEFAULT_FARS, ks=DEFAULT_KS, p: float | None = None, cov_from=None,
             zero_vector: str = "error", memory: int | str | None = None, notify=None, progress=None,
             pair_scores=None, class_scores=None, backend=None, bootstrap: int = DEFAULT_BOOTSTRAP,
             dims=(), quantize=(), **metric_params) -> Evaluation:
    """How well one or more metrics (and models) separate same from different pairs, with 95% intervals.

    Parameters
    ----------
    emb, right : path, array_like, torch.Tensor, DataFrame, EmbeddingSet, list of Model or mapping
        The vectors (`right`: the second side of paired labels), as `siamcli.load` takes them; or
        several models of the same items, ``{name: set or (left, right)}``, matched to the first
        one's rows by id (else by row) and scored on the same pairs.
    labels, pairs, classes : optional
        How pairs are labelled (exactly one; each also as a file path, read as the command line reads
        it): a label per row i of `emb` with row i of `right`; ``(left_rows, right_rows, labels)``; or a class per row of `emb`.
    sample, seed, positive_label
        Pairs sampled from `classes` (balanced); the seed of it and of the bootstrap; the "same" label.
    metric, normalize : optional
        A name, a comma list or "all"; `normalize` adds each metric after L2 normalisation.
    folds, fars, ks : optional
        Cross-validation folds of the accuracy, FARs of TAR@FAR, k of recall@k.
    bootstrap : int
        Resamples behind the intervals other than the AUC's (DeLong's); 0: none.
    dims, quantize : optional
        Smaller copies of every model: numbers of dimensions; 'float16', 'int8', 'uint8', 'binary'.
    p, cov_from, zero_vector, memory, notify, **metric_params
        As `siamcli.prepare` takes them; `memory` is bytes or a size such as ``"512M"``.
    backend, pair_scores, class_scores, progress : optional
        Where the scores are computed (``backend.scorers()``), or the hooks one by one;
        ``progress(done, total)`` hears of the work done.

    Returns
    -------
    Evaluation
        ``.results`` best AUC first (``.best``: verification, retrieval, distribution, intervals).

    Examples
    --------
    >>> import numpy as np, siamcli
    >>> x = np.array([[1.0, 0.1], [1.0, 0.2], [0.1, 1.0], [0.2, 1.0]])
    >>> evaluation = siamcli.evaluate(x, classes=["a", "a", "b", "b"], folds=2, bootstrap=0)
    >>> evaluation.best.verification.auc, evaluation.best.retrieval.precision_at_1
    (1.0, 1.0)
    """
    hooks = dict(backend.scorers()) if backend is not None else {}
    given_hooks = dict(pair_scores=pair_scores, class_scores=class_scores, progress=progress)
    hooks.update({name: hook for name, hook in given_hooks.items() if hook is not None})
    models = as_models(emb, right)
    check_seed(seed)
    check_bootstrap(bootstrap)
    _check_sources(models[0].b, labels, pairs, classes, sample)
    models = align_models(models)
    plan = _pairs_plan(models[0].a, models[0].b, labels, pairs, classes, sample, seed, positive_label)
    metric_params = dict(p=p, cov_from=cov_from, zero_vector=zero_vector, memory=memory, notify=notify,
                         **metric_params)
    results, skipped = _evaluate_models(models, metric, normalize, dims, quantize, plan, hooks, metric_params,
                                        dict(folds=folds, fars=fars, ks=ks, seed=seed, bootstrap=bootstrap))
    return Evaluation(results, skipped, plan.described, [m.key for m in models], bootstrap, seed)


def _evaluate_models(models: list, metric, normalize: bool, dims, quantize, plan, hooks: dict, prepared: dict,
                     options: dict) -> tuple[list[MetricEvaluation], list[str]]:
    """Each model (and its smaller copies) under each chosen metric: the evaluations, ranked
    (rank_with_variants) with the metrics that order the pairs alike marked (mark_same_order), and
    the notes on metrics and copies left out. `prepared`: engine.prepare's options and the metrics' parameters."""
    from ... import engine

    zero_vector, memory, notify = prepared.pop("zero_vector"), prepared.pop("memory"), prepared.pop("notify")
    memory = engine.DEFAULT_MEMORY_BYTES if memory is None else memory
    sets = [s for m in models for s in (m.a, m.b) if s is not None]
    metrics, skipped = choose_metrics(metric, sets, zero_vector=zero_vector, **prepared)
    scored, notes = scoring_plan(models, metrics, normalize, dims, quantize)
    if hooks.get("progress") is not None:
        hooks["progress"](0, plan.scores_per_metric(len(models[0].a)) * sum(len(chosen) for _, chosen in scored))
    results = []
    for model, chosen in scored:
        for m, normalized in chosen:
            comp = engine.prepare(model.a, model.b, metric=m, **m.own_params(prepared), normalize=normalized,
                                  zero_vector=zero_vector, memory=memory, notify=notify)
            comp.progress = hooks.get("progress")
            results.append(_evaluate_one(comp, model, m, normalized, plan, hooks, **options))
    return mark_same_order(rank_with_variants(results)), skipped + notes


@dataclass
class _PairsPlan:
    """Which pairs are scored: listed rows (or None: every pair of a labelled set, from the matrix),
    their labels, the class codes for retrieval, and the pairs in words."""

    left_rows: np.ndarray | None
    right_rows: np.ndarray | None
    same: np.ndarray | None
    class_codes: np.ndarray | None
    described: str

    def scores_per_metric(self, n: int) -> int:
        """Scores one (model, metric) computes over n rows: the pairs, and with classes every pair."""
        pairs = n * n if self.same is None else len(self.same)
        return pairs + (n * n if self.class_codes is not None and self.same is not None else 0)


def _check_sources(right, labels, pairs, classes, sample) -> None:
    """Exactly one way of labelling pairs, with the inputs it needs."""
    given = [name for name, value in (("labels", labels), ("pairs", pairs), ("classes", classes)) if value is not None]
    if len(given) != 1:
        raise UsageError(f"say how pairs are labelled: {mention('labels')} (with LEFT RIGHT), "
                         f"{mention('pairs')} FILE or {mention('classes')}"
                         + (f" -- one of them, not {' and '.join(given)}" if given else ""))
    if sample is not None and classes is None:
        raise UsageError(f"{mention('sample')} draws pairs from {mention('classes')}")
    if labels is not None and right is None:
        raise UsageError(f"{mention('labels')} labels the pairs of row i of LEFT with row i of RIGHT: give RIGHT too")
    if classes is not None and right is not None:
        raise UsageError(f"{mention('classes')} labels the rows of one set; give one embedding file")


def _read_label_files(emb, right, labels, pairs, classes):
    """Labels, pairs and classes given as file paths, read as the command line reads them (the
    pairs by id or row number of `emb` and `right`); other values as they are."""
    from ...io import read_labelled_pairs, read_labels

    is_path = lambda value: isinstance(value, (str, os.PathLike))  # noqa: E731
    if is_path(labels):
        labels = read_labels(labels, len(emb))
    if is_path(pairs):
        pairs = read_labelled_pairs(pairs, emb, right)
    elif pairs is not None and (not isinstance(pairs, (tuple, list)) or len(pairs) != 3):
        raise UsageError(f"{mention('pairs')} must be a file of pairs or (left_rows, right_rows, labels), "
                         f"got {type(pairs).__name__}" + (f" of {len(pairs)}" if isinstance(pairs, (tuple, list)) else ""))
    if is_path(classes):
        classes = read_labels(classes, len(emb))
    return labels, pairs, classes


def _pairs_plan(emb, right, labels, pairs, classes, sample, seed: int, positive_label: str) -> _PairsPlan:
    """The pairs to score, from paired labels, listed pairs or class labels (or their files)."""
    labels, pairs, classes = _read_label_files(emb, right, labels, pairs, classes)
    if labels is not None:
        same = parse_labels(labels, positive_label)
        if len(same) != len(emb) or len(emb) != len(right):
            raise InputError(f"paired evaluation needs as many labels as rows: {emb.source} has {counted(len(emb), 'row')}, "
                             f"{right.source} {len(right)}, and there {agrees(len(same), 'is', 'are')} {counted(len(same), 'label')}")
        described = f"{counted(len(same), 'pair')}: row i of {emb.source} with row i of {right.source}"
        return _PairsPlan(None, None, same, None, described)
    if pairs is not None:
        left_rows, right_rows, pair_labels = pairs
        same = parse_labels(pair_labels, positive_label)
        return _PairsPlan(left_rows, right_rows, same, None, f"{counted(len(same), 'listed pair')}")
    if len(classes) != len(emb):
        raise InputError(f"{emb.source} has {counted(len(emb), 'row')} but there are {len(classes)} class labels")
    class_codes, _ = codes_and_sizes(classes)
    if sample is not None:
        left_rows, right_rows, same = sample_pairs(class_codes, sample, seed)
        return _PairsPlan(left_rows, right_rows, same, class_codes,
                          f"{counted(len(same), 'pair')} sampled from {counted(len(emb), 'labelled row')} (seed {seed})")
    # same is None: every pair, from the matrix, block by block
    described = f"all {check_pair_count(len(emb)):,} pairs of {len(emb):,} labelled rows"
    return _PairsPlan(None, None, None, class_codes, described)


def _evaluate_one(comp, model: Model, m, normalized: bool, plan: _PairsPlan, hooks: dict, *, folds, fars, ks,
                  seed, bootstrap) -> MetricEvaluation:
    """One model's scores of the planned pairs under one metric, its reports and intervals."""
    from ... import engine

    class_scores = hooks.get("class_scores") or class_pair_scores
    retrieval = None
    if plan.same is None:  # every pair: the matrix's upper triangle, and retrieval from the same rows
        scores, pair_same, tallies = class_scores(comp, plan.class_codes, ks, True)
    else:
        scores = (hooks.get("pair_scores") or engine.pair_scores)(comp, plan.left_rows, plan.right_rows)
        pair_same = plan.same
        if plan.class_codes is not None:
            _, _, tallies = class_scores(comp, plan.class_codes, ks, False)
    if plan.class_codes is not None:
        retrieval = retrieval_from_counts(tallies, len(plan.class_codes), m.higher_is_better, ks, metric=m.name)
    scores, pair_same = check_pairs(scores, pair_same)
    order = closest_first(scores, m.higher_is_better)  # one sort for the report and its intervals
    report = verification_report(scores, pair_same, m.higher_is_better, folds=folds, fars=fars, seed=seed,
                                 metric=m.name, order=order)
    dist = score_distribution(scores, pair_same, higher_is_better=m.higher_is_better)
    components, intervals, notes = intervals_of(scores, pair_same, report, retrieval, n_resamples=bootstrap, seed=seed,
                                                order=order)
    notes += list(model.variant.notes) if model.variant is not None else []
    return MetricEvaluation(report, dist, retrieval, normalized, scores, pair_same, model.name, dict(model.fields),
                            intervals, components, notes=notes, model_label=model.key, variant=model.variant)

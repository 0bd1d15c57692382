"""Several models of the same items, evaluated on the same pairs: each model is a name and its
embedding set (and a second set, for pairs between two sets), matched to the first model's rows
by id when every set of that side has ids, else by row; and, once evaluated, the AUC of each
(model, metric) tested against the best model with the same metric (DeLong's paired test)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import counted, InputError, UsageError
from .uncertainty import paired_p_value

if TYPE_CHECKING:
    from ...io import EmbeddingSet
    from .evaluator import MetricEvaluation


@dataclass
class Model:
    """One model's embeddings of the items: `a` (and `b` when the pairs join two sets, left and
    right), `name` as records show it (`model`: the file as given), `fields`: record keys a
    variant of a model adds after `model` (dims, quantize, bytes_per_vector; the same keys for
    every model), and `label`: what tells it apart in tables and messages when several variants
    share a name (default: the name); `variant`: the evaluation.variants.Variant it is (None: a
    model evaluated without --dims or --quantize)."""

    name: str
    a: Any  # an EmbeddingSet, an array or a path
    b: Any = None
    fields: dict = field(default_factory=dict)
    label: str | None = None
    variant: Any = None

    @property
    def key(self) -> str:
        return self.label or self.name


def as_models(emb, right=None) -> list[Model]:
    """`emb` as a list of models: a list of Model, a mapping {name: set or (left, right)}, or
    one set (with `right`, its second set) named after its source."""
    from ... import engine

    if isinstance(emb, Mapping) or (isinstance(emb, (list, tuple)) and emb and isinstance(emb[0], Model)):
        if right is not None:
            raise UsageError("several models bring their own second sets: give right=None")
        if isinstance(emb, Mapping):
            emb = [Model(str(name), *(value if isinstance(value, tuple) else (value,))) for name, value in emb.items()]
        if not all(isinstance(m, Model) for m in emb):
            raise UsageError("models are given as a list of Model or a mapping of names to embedding sets")
        models = [replace(m, a=engine.as_embedding_set(m.a, m.name),
                          b=None if m.b is None else engine.as_embedding_set(m.b, m.name)) for m in emb]
    else:
        a = engine.as_embedding_set(emb, "EMB")
        b = None if right is None else engine.as_embedding_set(right, "RIGHT")
        models = [Model(a.source if b is None else f"{a.source}:{b.source}", a, b)]
    _check_models(models)
    return models


def _check_models(models: list[Model]) -> None:
    if not models:
        raise UsageError("evaluate needs at least one model")
    names = [m.key for m in models]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"each model is evaluated once: {twice[0]} is given {names.count(twice[0])} times")
    if len({m.b is None for m in models}) > 1:
        raise UsageError("give every model as one set or every model as two (LEFT:RIGHT), not a mix")
    keys = [sorted(m.fields) for m in models]
    if any(k != keys[0] for k in keys):
        raise UsageError("every model's records must carry the same extra fields")


def align_models(models: list[Model]) -> list[Model]:
    """The models with each set in the row order of the first model's set on the same side:
    matched by id when both sets have ids, else by row (then their row counts must agree)."""
    first = models[0]
    aligned = [first]
    for model in models[1:]:
        a = _aligned(first.a, model.a, model.name)
        b = None if model.b is None else _aligned(first.b, model.b, model.name)
        aligned.append(replace(model, a=a, b=b))
    return aligned


def _aligned(reference: EmbeddingSet, other: EmbeddingSet, name: str) -> EmbeddingSet:
    """`other` with its rows in the order of `reference`'s (see align_models)."""
    from ...io.textcells import excerpt

    if reference.ids is None or other.ids is None:
        if len(other) != len(reference):
            raise InputError(f"models are matched by row (they have no ids): {name} has {counted(len(other), 'row')}, "
                             f"{reference.source} {len(reference):,}")
        return other
    wanted, held = [str(i) for i in reference.ids], [str(i) for i in other.ids]
    if wanted == held:
        return other
    for source, ids in ((reference.source, wanted), (other.source, held)):
        if len(set(ids)) != len(ids):
            seen = set()
            twice = next(i for i in ids if i in seen or seen.add(i))
            raise InputError(f"{source}: id {excerpt(twice)} is on two rows; models are matched by id")
    position = {i: row for row, i in enumerate(held)}
    missing = [i for i in wanted if i not in position]
    if missing or len(held) != len(wanted):
        lacking, holder, lacks = (missing, reference.source, name) if missing else (
            [i for i in held if i not in set(wanted)], name, reference.source)
        more = f" (and {len(lacking) - 1:,} more)" if len(lacking) > 1 else ""
        raise InputError(f"models are matched by id and must embed the same items: {lacks} has no id "
                         f"{excerpt(lacking[0])}{more} of {holder}")
    order = np.array([position[i] for i in wanted], dtype=np.intp)
    fields = None if other.fields is None else {k: [v[i] for i in order] for k, v in other.fields.items()}
    return replace(other, vectors=other.vectors[order], ids=[other.ids[i] for i in order],
                   labels=None if other.labels is None else [other.labels[i] for i in order], fields=fields)


def rank_and_test(results: list[MetricEvaluation]) -> list[MetricEvaluation]:
    """The results best AUC first (ties: in the order given), each with the two-sided p-value
    of DeLong's paired test against the best-ranked result with the same metric (None for
    that one, and when the test needs more pairs: with a warning)."""
    ranked = sorted(results, key=lambda r: -r.verification.auc)  # stable: ties keep their order
    best: dict[str, MetricEvaluation] = {}
    for result in ranked:
        leader = best.setdefault(result.name, result)
        if leader is result or result.components is None or leader.components is None:
            result.auc_p_value = None
            continue
        result.auc_p_value = paired_p_value(result.components, leader.components)
        if result.auc_p_value is None:
            result.notes.append("the paired test of the AUC needs at least 2 same and 2 different pairs")
    return ranked

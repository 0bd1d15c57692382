"""How small can a model be stored? Each model's variants (evaluation.variants: its first d
dimensions, quantised copies) evaluated beside it on the same pairs, as models of their own.

- `variant_models`: each model, then its variants largest first, each a Model with the model's
  name (records keep `model`: the file) and the variant's record fields (dims, quantize,
  bytes_per_vector).
- `variant_metrics`: the (metric, normalized) pairs that score a variant (binary: hamming).
- `rank_with_variants`: the original models ranked and tested as without variants (DeLong's
  paired test against the best model with the same metric), each followed by its variants
  under the same metric (binary codes, scored by hamming, under the model's top-ranked metric),
  each tested against that row: does storing it smaller lose AUC?
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .models import Model, rank_and_test
from .uncertainty import paired_p_value

if TYPE_CHECKING:
    from .evaluator import MetricEvaluation


def is_original(variant) -> bool:
    """Whether a model's variant (None: no variants asked for) is its own values, all of them."""
    return variant is None or (variant.quantize is None and not variant.truncated)


def variant_models(models: list[Model], dims=(), quantize=()) -> tuple[list[Model], list[str]]:
    """(each model followed by its variants, largest first; notes on truncations left out).
    `dims` beyond a model's dimension are left out for that model (a note says so) when another
    model has that many; beyond every model's, they are an error."""
    from .variants import check_dims, parse_quantize, variants

    dims = dims.split(",") if isinstance(dims, str) else list(dims)
    dims = [d for d in dims if str(d).strip().lower() != "full"]
    quantize = parse_quantize(quantize) if len(quantize) else []
    widest = max((s for m in models for s in (m.a, m.b) if s is not None), key=lambda s: s.dim)
    dims = list(dict.fromkeys(check_dims(d, widest.dim, widest.source) for d in dims))
    out, notes = [], []
    for model in models:
        dim = min(s.dim for s in (model.a, model.b) if s is not None)
        beyond = [str(d) for d in dims if d > dim]
        if beyond:
            notes.append(f"{model.key}: first {','.join(beyond)} dims: more than its {dim} dimensions")
        found = variants(model.a, model.b, dims=[d for d in dims if d <= dim], quantize=quantize)
        ordered = found[:1] + sorted(found[1:], key=lambda pair: -pair[0].bytes_per_vector)  # stable
        for a, b in ordered:
            label = model.label if is_original(a) else f"{model.key} ({a.label})"
            out.append(Model(model.name, a.vectors, None if b is None else b.vectors,
                             {**model.fields, **a.record()}, label, a))
    return out, notes


def scoring_plan(models: list[Model], metrics: list, normalize: bool, dims=(), quantize=()
                 ) -> tuple[list[tuple[Model, list[tuple]]], list[str]]:
    """(each model to score, with its smaller copies when `dims` or `quantize` ask for any, and
    the (metric, normalized) pairs that score it; notes on what is left out)."""
    notes: list[str] = []
    dims, quantize = dims or (), quantize or ()
    if len(dims) or len(quantize):
        models, notes = variant_models(models, dims, quantize)
    scored = []
    for model in models:
        chosen, left_out = variant_metrics(model, metrics, normalize)
        scored.append((model, chosen))
        notes += [note for note in left_out if note not in notes]
    return scored, notes


def variant_metrics(model: Model, metrics: list, normalize: bool) -> tuple[list[tuple], list[str]]:
    """The (metric, normalized) pairs that score `model` (every one when it is no variant), and a
    note on each chosen metric that does not apply to it (binary is scored by hamming whatever
    was chosen: the table's metric says so, without a note)."""
    if model.variant is None:
        return [(m, False) for m in metrics] + ([(m, True) for m in metrics] if normalize else []), []
    kept, notes = model.variant.metrics(metrics)
    normalized = [(m, True) for m in kept if normalize and model.variant.applies(m, True) is None]
    notes = [] if model.variant.quantize == "binary" else notes
    return [(m, False) for m in kept] + normalized, notes


def rank_with_variants(results: list[MetricEvaluation]) -> list[MetricEvaluation]:
    """The original models' results ranked and tested as rank_and_test does, each followed by
    its variants' results under the same metric (largest first), a variant's `reference` being
    that row and its `auc_p_value` DeLong's paired test against it. A variant scored by a metric
    its model was not (binary: hamming) follows the model's top-ranked row."""
    ranked = rank_and_test([r for r in results if is_original(r.variant)])
    rows: dict[tuple[str, str], MetricEvaluation] = {}
    top: dict[str, MetricEvaluation] = {}
    for r in ranked:
        rows.setdefault((r.model, r.name), r)
        top.setdefault(r.model, r)
    followers: dict[int, list[MetricEvaluation]] = {}
    for r in results:
        if is_original(r.variant):
            continue
        reference = rows.get((r.model, r.name)) or top[r.model]
        r.reference = reference
        r.auc_p_value = None
        if r.components is not None and reference.components is not None:
            r.auc_p_value = paired_p_value(r.components, reference.components)
        if r.auc_p_value is None:
            r.notes.append("the paired test of the AUC needs at least 2 same and 2 different pairs")
        followers.setdefault(id(reference), []).append(r)
    return [row for r in ranked for row in (r, *followers.get(id(r), []))]

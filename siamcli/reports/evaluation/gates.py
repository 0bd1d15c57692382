"""fail_under: conditions on an evaluation's figures (auc=0.95,eer=0.05), checked before and after;
each condition may name the (model, metric) it judges: MODEL:METRIC:auc=0.95, MODEL:auc=0.95 or
METRIC:auc=0.95, and a smaller copy of a model (--dims, --quantize) as MODEL@COPY (see `judge`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ...errors import UsageError, did_you_mean, mention
from .retrieval import DEFAULT_KS
from .variants import bit_metrics
from .verification import DEFAULT_FARS, far_key

#: fail_under keys: True when higher is better (the value must be >= the limit).
GATES = {
    "auc": True, "eer": False, "best_accuracy": True, "average_precision": True, "f1": True,
    "cv_accuracy": True, "precision_at_1": True, "map_at_r": True,
}
GATE_PREFIXES = {"tar@": "tar_at_far", "recall@": "recall_at_k"}  # higher is better
#: Other names of the keys: as the tables call them (acc, cv acc, P@1, mAP@R; spaces may be
#: underscores, any case) and the records' long names.
GATE_ALIASES = {
    "acc": "best_accuracy", "accuracy": "best_accuracy", "cv_acc": "cv_accuracy", "ap": "average_precision",
    "roc_auc": "auc", "p@1": "precision_at_1", "precision@1": "precision_at_1", "map@r": "map_at_r",
    "tar_at_far@": "tar@", "recall_at_k@": "recall@", "recall_at_": "recall@",
}
#: How an unknown key's error lists the keys: the tables' names, with the long name after.
KEY_LIST = ("auc, eer, acc (best_accuracy), cv_acc (cv_accuracy), ap (average_precision), f1, "
            "p@1 (precision_at_1), map@r (map_at_r), tar@FAR (tar@0.001), recall@K (recall@5)")


def canonical_key(key: str) -> str:
    """A fail_under key as the records name it: 'cv acc' -> cv_accuracy, 'P@1' -> precision_at_1,
    'TAR_at_far@0.01' -> tar@0.01."""
    key = "_".join(key.strip().lower().split())
    if key in GATE_ALIASES and not key.endswith(("@", "_")):
        return GATE_ALIASES[key]
    for alias in sorted((a for a in GATE_ALIASES if a.endswith(("@", "_"))), key=len, reverse=True):
        if key.startswith(alias) and len(key) > len(alias):
            return GATE_ALIASES[alias] + key[len(alias):]
    return key


def _gate_values(report_records) -> dict[str, object]:
    """Measured values by fail_under key, from one record or several."""
    records = [report_records] if isinstance(report_records, Mapping) else list(report_records)
    values: dict[str, object] = {}
    for rec in records:
        for key in GATES:
            if key in rec:
                values[key] = rec[key]
        for prefix, name in GATE_PREFIXES.items():
            for at, value in (rec.get(name) or {}).items():
                values[f"{prefix}{at}"] = value
    return values


def _shown(value: float, limit: float) -> tuple[str, str]:
    """Both numbers with enough digits to tell them apart."""
    for digits in range(4, 18):
        a, b = f"{value:.{digits}g}", f"{limit:.{digits}g}"
        if a != b:
            return a, b
    return repr(value), repr(limit)


def _gate_key(key: str, values: dict) -> str:
    """The measured key a spec key names (tar@1e-2 -> tar@0.01), or a UsageError."""
    for prefix in GATE_PREFIXES:
        if key.startswith(prefix):
            at = key[len(prefix):]
            try:
                number = float(at)
            except ValueError:
                raise UsageError(f"{mention('fail_under')}: '{key}' needs a number after '{prefix}'") from None
            measured = {k: k for k in values if k.startswith(prefix)}
            for k in measured:
                if float(k[len(prefix):]) == number:
                    return k
            raise UsageError(f"{mention('fail_under')}: {key} is not measured; measured: "
                             + (", ".join(measured) or f"no {prefix} values"))
    if key in GATES:
        if key not in values:
            raise UsageError(f"{mention('fail_under')}: {key} is not measured by this evaluation; measured: "
                             + ", ".join(values))
        return key
    known = [*GATES, *(a for a in GATE_ALIASES if not a.endswith(("@", "_"))), *GATE_PREFIXES]
    raise UsageError(f"{mention('fail_under')}: unknown key '{key}' (keys: {KEY_LIST})" + did_you_mean(key, known))


def fail_under(report_records, spec: str) -> list[str]:
    """The conditions of `spec` that the reports fail, in plain words (empty: all pass).

    `spec` is comma-separated key=value: eer must be <= its value, every other key >= its
    value (auc, best_accuracy, average_precision, f1, cv_accuracy, precision_at_1, map_at_r,
    tar@<far>, recall@<k>, or as the tables name them: acc, cv acc, ap, P@1, mAP@R; see
    canonical_key). A value the report could not measure (None) fails.

    >>> fail_under({"auc": 0.93, "eer": 0.04}, "auc=0.95,eer=0.05")
    ['auc 0.93 is below the required 0.95']
    """
    values = _gate_values(report_records)
    items = [item.strip() for item in str(spec).split(",") if item.strip()]
    if not items:
        raise UsageError(f"{mention('fail_under')} expects key=value conditions such as auc=0.95,eer=0.05")
    conditions = []
    for item in items:
        key, sep, text = item.partition("=")
        given, text = " ".join(key.strip().lower().split()), text.strip()
        if not sep or not given or not text:
            raise UsageError(f"{mention('fail_under')} expects key=value conditions such as auc=0.95,eer=0.05, got '{item}'")
        key = _gate_key(canonical_key(given), values)
        try:
            limit = float(text)
        except ValueError:
            raise UsageError(f"{mention('fail_under')}: {key} needs a number, got '{text}'") from None
        if not 0 <= limit <= 1:
            raise UsageError(f"{mention('fail_under')}: {key} is a fraction between 0 and 1, got {text}")
        conditions.append((key, limit))

    failed = []
    for key, limit in conditions:
        higher = GATES.get(key, True)
        value = values[key]
        if value is None:
            failed.append(f"{key} is not available, so it cannot be {'at least' if higher else 'at most'} {limit:g}")
        elif higher and value < limit:
            shown, wanted = _shown(float(value), limit)
            failed.append(f"{key} {shown} is below the required {wanted}")
        elif not higher and value > limit:
            shown, wanted = _shown(float(value), limit)
            failed.append(f"{key} {shown} is above the allowed {wanted}")
    return failed


def check_fail_under(spec: str, fars=DEFAULT_FARS, ks=DEFAULT_KS, retrieval: bool = False, models=None,
                     metrics=None, normalize: bool = False, dims=(), quantize=()) -> None:
    """Raise UsageError for a fail_under spec that an evaluation with these settings could not
    check (checked before any work is done): `models` are the model names, `metrics` the metric
    names to be evaluated (None: any model or metric is unknown to the spec), `dims` and
    `quantize` the smaller copies of each model (their dimension is not known yet: @D names a
    D of `dims`)."""
    planned = {key: 0.0 for key in GATES if retrieval or key not in ("precision_at_1", "map_at_r")}
    planned["tar_at_far"] = {far_key(f): 0.0 for f in fars}
    if retrieval:
        planned["recall_at_k"] = {str(k): 0.0 for k in ks}
    dims = [int(d) for d in dims]
    copies = [{}] if not (dims or quantize) else [
        {"dims": d, "quantize": q} for d, q in [(max(dims, default=0) + 1, None), *((d, None) for d in dims),
                                                  *((0, q) for q in quantize)]]
    bits = None if metrics is None else [m.name for m in bit_metrics()]  # what binary copies are scored by
    records = [dict(planned, model=model, **copy, metric=metric, normalized=normalized) for model in (models or [""])
               for copy in copies for metric in ((bits if copy.get("quantize") == "binary" else metrics) or [""])
               for normalized in ((False, True) if normalize and copy.get("quantize") != "binary" else (False,))]
    judge(records, spec)


@dataclass
class Judgement:
    """The conditions of a fail_under spec on one (model, metric) record: those it fails, and,
    when the spec did not name the record outright, how it was chosen."""

    record: dict
    failed: list[str]
    chosen: str | None = None
    copy: str | None = None  # the smaller copy judged, as MODEL@COPY names it (None: the model itself)


def judge(records, spec: str) -> list[Judgement]:
    """The records (best first) that the conditions of `spec` judge, each with the conditions
    it fails. A condition is [TARGET:]key=value; TARGET is MODEL:METRIC, MODEL or METRIC (a
    model as named in the records, or its file name with or without suffix; a metric by name or
    alias, "(L2)" after it for the normalised one). Without TARGET, the best record is judged;
    with a model alone, its best metric; with a metric alone, the best model under it. Records of
    smaller copies (with `dims` and `quantize`) are named MODEL@COPY[:METRIC] or @COPY[:METRIC],
    COPY being full, a number of dimensions or a precision (int8); without @COPY, a model's
    records are its own, full ones.

    >>> records = [{"model": "a.npy", "metric": "cosine", "auc": 0.9},
    ...            {"model": "b.npy", "metric": "cosine", "auc": 0.8}]
    >>> [(j.record["model"], j.failed) for j in judge(records, "b:auc=0.85")]
    [('b.npy', ['auc 0.8 is below the required 0.85'])]
    """
    records = list(records)
    items = [item.strip() for item in str(spec).split(",") if item.strip()]
    groups: dict[int, tuple[list[str], str | None]] = {}
    for item in items:
        head, sep, value = item.rpartition("=")
        target, _, key = head.rpartition(":")
        index, chosen = _target(records, target.strip()) if sep else (0, None)
        groups.setdefault(index, ([], chosen))[0].append(f"{key}={value}" if sep else item)
    if not groups:
        fail_under(records[0], spec)  # says what a spec looks like
    tags = copy_tags(records)
    return [Judgement(records[i], fail_under(records[i], ",".join(conditions)), chosen,
                      None if tags[i] in (None, "full") else tags[i])
            for i, (conditions, chosen) in groups.items()]


def copy_tags(records: list[dict]) -> list[str | None]:
    """What each record is as @COPY names it: None without copies (no `dims`), 'full' for a
    model's own values, the precision of a quantised copy, the number of dimensions of a
    truncation (fewer than the model's own: the most among its records not quantised)."""
    full: dict[str, int] = {}
    for r in records:
        if r.get("dims") is not None and r.get("quantize") is None:
            full[r.get("model")] = max(full.get(r.get("model"), 0), r["dims"])
    return [None if r.get("dims") is None else r["quantize"] if r.get("quantize") is not None else
            "full" if r["dims"] == full.get(r.get("model")) else str(r["dims"]) for r in records]


def _target(records: list[dict], text: str) -> tuple[int, str | None]:
    """The index of the record a condition's TARGET names, and how it was chosen (see judge):
    a model and a metric, or a smaller copy of a model (@COPY) when no model or metric is
    named by the whole TARGET."""
    tags = copy_tags(records)
    try:
        return _named(_own(records, tags), text)
    except UsageError:
        if "@" not in text or all(t is None for t in tags):
            raise
    head, _, tail = text.rpartition("@")
    copy, _, metric = tail.partition(":")
    copy = copy.strip().lower()
    asked = [i for i, (r, tag) in enumerate(zip(records, tags))
             if tag == copy or (copy == "original" and tag == "full")
             or (copy.isdigit() and r.get("quantize") is None and r.get("dims") == int(copy))]
    if not asked:
        known = ", ".join(dict.fromkeys(t for t in tags if t is not None))
        raise UsageError(f"{mention('fail_under')}: '@{copy}' names no evaluated copy of a model (copies: {known})")
    rest = ":".join(part for part in (head.strip(), metric.strip()) if part)
    index, chosen = _named([records[i] for i in asked], rest)
    return asked[index], chosen


def _own(records: list[dict], tags: list) -> list[dict]:
    """The records with those of smaller copies blanked out (no model, no metric): a TARGET
    without @COPY names a model's own values."""
    return [r if tag in (None, "full") else {} for r, tag in zip(records, tags)]


def _metric_label(text: str) -> str:
    """A metric as a spec names it, made comparable: lower case, no spaces, canonical name."""
    from ...errors import SiamError
    from ...metrics import get_metric

    text = text.strip().lower().replace(" ", "")
    normalized = text.endswith("(l2)")
    base = text[:-4] if normalized else text
    try:
        base = get_metric(base).name
    except SiamError:
        pass
    return base + ("(l2)" if normalized else "")


def _model_names(records: list[dict]) -> dict[str, str]:
    """Each way a spec may name a model (as given; its file name with or without suffix when
    that names no other model) -> the model."""
    import os

    models = list(dict.fromkeys(str(r.get("model") or "") for r in records))
    names: dict[str, set[str]] = {}
    for model in models:
        base = os.path.basename(model)
        for alias in {model, base, base.split(".")[0]} if ":" not in model else {model}:
            names.setdefault(alias, set()).add(model)
    return {alias: next(iter(found)) for alias, found in names.items() if len(found) == 1 and alias}


def _named(records: list[dict], text: str) -> tuple[int, str | None]:
    """The index of the record a TARGET without @COPY names, and how it was chosen (see judge)."""
    several = len([r for r in records if r]) > 1
    if not text:
        return 0, "the top-ranked" if several else None
    models = _model_names(records)
    label = lambda r: str(r.get("metric") or "").lower() + ("(l2)" if r.get("normalized") else "")  # noqa: E731
    for cut in [i for i, c in enumerate(text) if c == ":"]:
        model, metric = models.get(text[:cut].strip()), _metric_label(text[cut + 1:])
        for i, r in enumerate(records):
            if model is not None and r.get("model") == model and label(r) == metric:
                return i, None
    if text in models:
        found = [i for i, r in enumerate(records) if r.get("model") == models[text]]
        return found[0], "its top-ranked metric" if len(found) > 1 else None
    found = [i for i, r in enumerate(records) if label(r) == _metric_label(text)]
    if found:
        return found[0], "the top-ranked model under that metric" if len(found) > 1 else None
    known_models = ", ".join(dict.fromkeys(str(r.get("model")) for r in records if r.get("model"))) or "none named"
    known_metrics = ", ".join(dict.fromkeys(label(r) for r in records if r.get("metric"))) or "none named"
    raise UsageError(f"{mention('fail_under')}: '{text}' names no evaluated model or metric "
                     f"(models: {known_models}; metrics: {known_metrics})")


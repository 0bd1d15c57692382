"""fail_under: conditions on an evaluation's figures (auc=0.95,eer=0.05), checked before and after."""

from __future__ import annotations

from typing import Mapping

from ...errors import UsageError, did_you_mean, mention
from .retrieval import DEFAULT_KS
from .verification import DEFAULT_FARS, far_key

#: fail_under keys: True when higher is better (the value must be >= the limit).
GATES = {
    "auc": True, "eer": False, "best_accuracy": True, "average_precision": True, "f1": True,
    "cv_accuracy": True, "precision_at_1": True, "map_at_r": True,
}
GATE_PREFIXES = {"tar@": "tar_at_far", "recall@": "recall_at_k"}  # higher is better


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
    known = list(GATES) + [k for k in values if k not in GATES]
    raise UsageError(f"{mention('fail_under')}: unknown key '{key}' (keys: {', '.join(known)})" + did_you_mean(key, known))


def fail_under(report_records, spec: str) -> list[str]:
    """The conditions of `spec` that the reports fail, in plain words (empty: all pass).

    `spec` is comma-separated key=value: eer must be <= its value, every other key >= its
    value (auc, best_accuracy, average_precision, f1, cv_accuracy, precision_at_1, map_at_r,
    tar@<far>, recall@<k>). A value the report could not measure (None) fails.

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
        key, text = key.strip().lower(), text.strip()
        if not sep or not key or not text:
            raise UsageError(f"{mention('fail_under')} expects key=value conditions such as auc=0.95,eer=0.05, got '{item}'")
        key = _gate_key(key, values)
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


def check_fail_under(spec: str, fars=DEFAULT_FARS, ks=DEFAULT_KS, retrieval: bool = False) -> None:
    """Raise UsageError for a --fail-under spec that an evaluation with these settings could not
    check (checked before any work is done)."""
    planned = {key: 0.0 for key in GATES if retrieval or key not in ("precision_at_1", "map_at_r")}
    planned["tar_at_far"] = {far_key(f): 0.0 for f in fars}
    if retrieval:
        planned["recall_at_k"] = {str(k): 0.0 for k in ks}
    fail_under(planned, spec)


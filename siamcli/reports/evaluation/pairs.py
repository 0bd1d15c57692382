"""Pairs and their labels: every pair or a balanced sample of a labelled set, and two-valued
pair labels read as same / different."""

from __future__ import annotations

import math

import numpy as np

from ...errors import counted, InputError, UsageError, did_you_mean, mention
from .retrieval import codes_and_sizes
from .verification import listing

DEFAULT_PAIR_LIMIT = 50_000_000
#: Label pairs recognised when positive_label is the default "1" (compared lower-case).
AUTO_LABELS = (("1", "0"), ("1", "-1"), ("true", "false"), ("same", "different"))


def sample_pairs(classes, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n // 2 same-class and n // 2 different-class pairs, drawn uniformly without repetition.

    Returns (left_index, right_index, same) sorted by (left, right), with left < right: every
    pair is unordered and no item is paired with itself. Deterministic for a given seed.

    >>> left, right, same = sample_pairs(["a", "a", "b", "b"], 4, seed=1)
    >>> sorted(zip(left.tolist(), right.tolist(), same.tolist()))[:1]
    [(0, 1, True)]
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise UsageError(f"the number of sampled pairs must be a whole number of at least 2, got {n}")
    codes, counts = codes_and_sizes(classes)
    size = len(codes)
    half = int(n) // 2
    by_class = np.argsort(codes, kind="stable")  # position -> item; a class's items are contiguous
    position = np.arange(size, dtype=np.int64)
    class_end = np.cumsum(counts)[codes[by_class]]  # end of each position's class
    # pairs (u, v), u < v, in class order: same class when v < class_end[u]
    same_partners, different_partners = class_end - position - 1, size - class_end
    n_same, n_different = int(same_partners.sum()), int(different_partners.sum())
    for kind, available in (("same-class", n_same), ("different-class", n_different)):
        if half > available:
            raise UsageError(f"cannot sample {counted(half, kind + ' pair')}: the {counted(size, 'label')} give only "
                             f"{available:,}")
    rng = np.random.default_rng(seed)

    def draw(partners: np.ndarray, first_partner: np.ndarray, total: int):
        # the q-th pair of this kind: position u holds pairs starts[u] .. ends[u] - 1
        ends = np.cumsum(partners)
        q = rng.choice(total, size=half, replace=False)
        u = np.searchsorted(ends, q, side="right")
        return u, first_partner[u] + (q - (ends[u] - partners[u]))

    su, sv = draw(same_partners, position + 1, n_same)
    du, dv = draw(different_partners, class_end, n_different)
    a, b = by_class[np.concatenate([su, du])], by_class[np.concatenate([sv, dv])]
    left, right = np.minimum(a, b), np.maximum(a, b)
    same = np.concatenate([np.ones(half, bool), np.zeros(half, bool)])
    order = np.lexsort((right, left))
    return left[order].astype(np.int64), right[order].astype(np.int64), same[order]


def check_seed(seed) -> None:
    """A seed numpy's generators take: a whole number >= 0."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"seed must be a whole number >= 0, got {seed!r}")


def check_pair_count(size: int, limit: int = DEFAULT_PAIR_LIMIT) -> int:
    """The number of unordered pairs of `size` items, if within `limit`."""
    total = size * (size - 1) // 2
    if total > limit:
        raise UsageError(f"{size:,} items make {total:,} pairs, more than the limit of {limit:,}; "
                         f"draw a balanced sample instead ({mention('sample')} N)")
    return total


def all_pairs(classes, limit: int = DEFAULT_PAIR_LIMIT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every unordered pair i < j, ordered by (i, j), with whether the two share a class.

    >>> left, right, same = all_pairs([7, 7, 8])
    >>> left.tolist(), right.tolist(), same.tolist()
    ([0, 0, 1], [1, 2, 2], [True, False, False])
    """
    codes, _ = codes_and_sizes(classes)
    size = len(codes)
    total = check_pair_count(size, limit)
    partners = np.arange(size - 1, 0, -1, dtype=np.int64)  # item i pairs with i+1 .. size-1
    left = np.repeat(np.arange(size - 1, dtype=np.int64), partners)
    starts = np.cumsum(partners) - partners
    right = np.arange(total, dtype=np.int64) - np.repeat(starts, partners) + left + 1
    return left, right, codes[left] == codes[right]


# ---------------------------------------------------------------- labels and gates


def _canonical_label(text: str) -> str:
    """A label's text with numbers written one way: ' 1.0' -> '1', '0.50' -> '0.5'."""
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    return str(int(number)) if number == int(number) else repr(number)


def parse_labels(values, positive_label: str = "1") -> np.ndarray:
    """True where a pair's label means "same", from two-valued labels (text or numbers).

    Numbers compare by value ('1', '1.0' and 1 are one label). With the default
    positive_label "1", the labels may be 1/0, 1/-1, true/false or same/different (any case),
    and 1, true or same means "same"; any other positive_label must be one of the two labels
    exactly (case included). One-valued labels are allowed here (the report then says which kind is missing).

    >>> parse_labels(["same", "Different", "SAME"]).tolist()
    [True, False, True]
    >>> parse_labels(["match", "non-match"], positive_label="match").tolist()
    [True, False]
    """
    raw = np.asarray(values)
    if raw.ndim != 1:
        raise InputError("labels must be one-dimensional: one label per pair")
    if raw.dtype == bool:
        raw = raw.astype(str)
    uniques, inverse = np.unique(raw.astype(str), return_inverse=True)
    wanted = _canonical_label(str(positive_label))
    auto = wanted == "1"
    tokens = [_canonical_label(u) for u in uniques.tolist()]
    if auto:  # the recognised words are matched in any case, so 'True' and 'true' are one label
        tokens = [t.lower() for t in tokens]
    found = sorted(set(tokens))
    if len(found) > 2:
        raise InputError(f"labels must take two values (same and different), found {len(found)}: "
                         + listing(f"'{t}'" for t in found))
    shown = " and ".join(f"'{t}'" for t in found)
    if auto:
        for pos, neg in AUTO_LABELS:
            if set(found) <= {pos, neg}:
                is_positive = np.array([t == pos for t in tokens], dtype=bool)
                break
        else:
            raise InputError(f"labels are {shown}; say which one means 'same' with {mention('positive_label')} "
                             "(1/0, 1/-1, true/false and same/different are recognised without it)")
    else:
        if wanted not in found:
            raise InputError(f"positive label '{wanted}' is not among the labels ({shown})"
                             + did_you_mean(wanted, found))
        is_positive = np.array([t == wanted for t in tokens], dtype=bool)
    return is_positive[inverse.reshape(-1)]


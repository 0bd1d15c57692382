"""Matching the rows of two embedding sets of the same items: by id, or by row number."""

from __future__ import annotations

import numpy as np

from ...errors import agrees, counted, InputError, ShapeError, UsageError, mention
from ...io import EmbeddingSet


def _quoted(text: str) -> str:
    from ...io.textcells import excerpt

    return excerpt(text)


def _first_duplicate(s: EmbeddingSet, ids: list[str]) -> None:
    """An InputError naming the first id of s that names two rows, if any."""
    seen: dict[str, int] = {}
    for row, name in enumerate(ids):
        if name in seen:
            raise InputError(f"{s.source}: id {_quoted(name)} names rows {seen[name]} and {row}; "
                             "ids must be unique to match the items of two sets")
        seen[name] = row


def _missing(one: EmbeddingSet, ids: list[str], other: EmbeddingSet, there: dict[str, int], n: int, m: int) -> None:
    """An InputError naming the first id of `one` that `other` lacks, with the counts, if any."""
    lacking = [row for row, name in enumerate(ids) if name not in there]
    if not lacking:
        return
    row = lacking[0]
    unnamed = other if other.ids is None else one if one.ids is None else None
    hint = "" if unnamed is None else (f" ({unnamed.source} has no ids: its rows are named by number; give its ids, "
                                       f"or match by row with {mention('by_row')})")
    raise InputError(f"{one.source} row {row}, id {_quoted(ids[row])}, is not in {other.source} "
                     f"({len(lacking):,} of its ids are not; A has {counted(n, 'row')}, B has {m:,}){hint}")


def match_rows(a: EmbeddingSet, b: EmbeddingSet, by_row: bool = False) -> np.ndarray | None:
    """The row of B holding each row's item of A, or None when B's rows are A's items in A's order.

    Items are matched by id (a set without ids names its rows 0, 1, ...): every id of A must be in
    B and every id of B in A, each once. With `by_row`, row i is row i (the same row counts).
    """
    n, m = len(a), len(b)
    for s in (a, b):
        if len(s) < 2:
            raise InputError(f"{s.source}: has {len(s)} row; comparing two spaces needs at least 2 items")
    if by_row or (a.ids is None and b.ids is None):
        if n != m:
            how = f"with {mention('by_row')}" if by_row else "without ids (rows are matched by number)"
            raise ShapeError(f"{a.source} has {counted(n, 'row')} but {b.source} has {m:,}; {how} both need the same count")
        return None
    ids_a, ids_b = a.row_ids(), b.row_ids()
    _first_duplicate(a, ids_a)
    _first_duplicate(b, ids_b)
    if ids_a == ids_b:
        return None
    where_b = {name: row for row, name in enumerate(ids_b)}
    _missing(a, ids_a, b, where_b, n, m)
    where_a = {name: row for row, name in enumerate(ids_a)}
    _missing(b, ids_b, a, where_a, n, m)
    return np.fromiter((where_b[name] for name in ids_a), dtype=np.int64, count=n)


def in_a_order(b: EmbeddingSet, order: np.ndarray | None) -> EmbeddingSet:
    """B with its rows in A's order (a copy of its vectors when they are in another order), so that
    both spaces break ties between neighbours by the same index: the item's row in A."""
    if order is None:
        return b
    fields = None if not b.fields else {name: [values[i] for i in order] for name, values in b.fields.items()}
    ids = None if b.ids is None else [b.ids[i] for i in order]
    return EmbeddingSet(np.asarray(b.vectors[order]), ids, b.source, False, None, fields, b.format)


#: Working bytes per sampled pair: its rows, two scores, their keys and ranks, and rankdata's own copies.
PAIR_BYTES = 128


def check_counts(n: int, top_k, pairs_sample, seed, memory: int) -> None:
    """k from 1 to n - 1 (an item has n - 1 others), a positive pair sample within `memory`, a seed
    numpy takes."""
    from ..evaluation.pairs import check_seed

    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise UsageError(f"{mention('top_k')} must be a whole number >= 1, got {top_k!r}")
    if top_k >= n:
        raise UsageError(f"{mention('top_k')} is {top_k} but there are {n:,} items: each has only "
                         f"{n - 1:,} {agrees(n - 1, 'other', 'others')}, so k must be below {n:,}")
    if isinstance(pairs_sample, bool) or not isinstance(pairs_sample, (int, np.integer)) or pairs_sample < 1:
        raise UsageError(f"{mention('pairs_sample')} must be a whole number >= 1, got {pairs_sample!r}")
    need = min(pairs_sample, n * (n - 1) // 2) * PAIR_BYTES
    if need > memory:
        raise UsageError(f"{mention('pairs_sample')} {pairs_sample:,} needs {need / 2**20:,.1f} MiB, more than "
                         f"{mention('memory')} ({memory / 2**20:,.1f} MiB) allows; sample fewer pairs")
    check_seed(seed)

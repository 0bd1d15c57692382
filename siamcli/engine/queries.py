"""Queries taken from a set by id (compare --query-id): their rows, and their rankings against the
whole set with each query's own row left out, as `llm similar ID` does."""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import numpy as np

from ..errors import counted, InputError
from ..io import EmbeddingSet
from ..results import Ranking, Score


def query_rows(s: EmbeddingSet, ids: Sequence[str]) -> tuple[EmbeddingSet, np.ndarray]:
    """(the rows of `s` whose ids are `ids`, in the order given; their row indices in `s`). A row
    without an id in the file is found by its row number, as --pairs finds rows."""
    from ..io.textcells import excerpt

    position = {s.id_of(i): i for i in range(len(s))}
    missing = [q for q in ids if q not in position]
    if missing:
        raise InputError(f"{s.source}: has no row with id {excerpt(missing[0])}"
                         + (f" ({counted(len(missing) - 1, 'more id')} not found)" if len(missing) > 1 else ""))
    index = np.array([position[q] for q in ids], dtype=np.intp)
    fields = {name: [values[i] for i in index] for name, values in s.fields.items()} if s.fields else None
    labels = [s.labels[i] for i in index] if s.labels is not None else None
    queries = EmbeddingSet(np.asarray(s.vectors[index]), [s.id_of(i) for i in index], s.source, len(index) == 1,
                           labels, fields, s.format)
    return queries, index


def without_self(parts: Iterable[Ranking], rows: np.ndarray, gallery: EmbeddingSet, top_k: int | None,
                 limit: int | None) -> Iterator[Ranking]:
    """Rankings of queries (rows `rows` of `gallery`) against the gallery, asked for one more per
    row (top_k + 1) or per query (limit + len(rows)), with each query's own row dropped and ranks
    renumbered; a_index becomes the query's row in the gallery. Parts come best first (per row of
    A, or overall)."""
    self_rank = np.full(len(rows), np.iinfo(np.int64).max)  # per query, the rank its own row had
    dropped_before = 0  # overall: own rows dropped so far, each moving later pairs up one rank
    for part in parts:
        own = part.b_index == rows[part.a_index]
        if part.grouping == "row":
            self_rank[part.a_index[own]] = part.rank[own]
            rank = part.rank - (part.rank > self_rank[part.a_index])
            keep = ~own & (rank <= (top_k if top_k is not None else np.iinfo(np.int64).max))
        else:
            rank = part.rank - (dropped_before + np.cumsum(own) - own)
            dropped_before += int(own.sum())
            keep = ~own & (rank <= (limit if limit is not None else np.iinfo(np.int64).max))
        if keep.any():
            yield Ranking(part.metric, gallery, gallery, rows[part.a_index[keep]], part.b_index[keep],
                          part.score[keep], rank[keep], part.grouping)


def as_rows_of(parts, rows: np.ndarray, a: EmbeddingSet) -> Iterator[Ranking]:
    """Rankings of queries (rows `rows` of `a`) against another set, with a_index the query's row in
    `a`; `parts` may be one Score (a single query against a single vector)."""
    if isinstance(parts, Score):
        one = np.zeros(1, dtype=np.int64)
        parts = [Ranking(parts.metric, parts.a, parts.b, one, one, np.array([parts.value]), one + 1, "row")]
    for part in parts:
        yield Ranking(part.metric, a, part.b, rows[part.a_index], part.b_index, part.score, part.rank, part.grouping)

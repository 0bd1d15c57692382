"""The backend seam: the operations every backend runs, whatever runs them."""

from __future__ import annotations

from typing import Callable, Iterator, Protocol

import numpy as np

from ..results import Ranking, Score


class Progress(Protocol):
    def __call__(self, done: int, total: int | None = None) -> None: ...


class Backend:
    """The library's operations over a prepared Comparison (engine.prepare). Subclasses run the
    blocks; `results`, `save_matrix` and the row checks are shared. Use as a context manager:
    a backend may hold a cluster until the `with` ends."""

    name = "backend"
    #: Whether the backend writes a matrix as a folder (.npy shards of rows, or a zarr array).
    writes_folders = False

    def __init__(self, progress: Progress | None = None):
        self.progress = progress

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Lets go of what the backend holds (a cluster)."""

    # -- inputs
    def open(self, path, **load_options):
        """An input by path (`load_options` as for io.load_embeddings)."""
        from ..io import load_embeddings

        return load_embeddings(path, **load_options)

    def prepare(self, a, b=None, **options):
        """engine.prepare, with this backend's progress reported by the comparison."""
        from .. import engine

        comp = engine.prepare(a, b, **options)
        comp.progress = self.progress
        return comp

    # -- compare
    def results(self, comp, *, top_k: int | None = 5, limit: int | str | None = None, threshold: float | None = None,
                paired: bool = False, pairs=None) -> Score | Iterator[Ranking]:
        """What `compare` asks for (see engine.results): one Score for two single vectors (none if it
        fails the threshold), else a stream of Ranking chunks; `pairs` a (a_index, b_index) tuple."""
        from .. import engine

        engine.check_threshold(threshold)
        if engine.is_single_pair(comp) and not paired and pairs is None and limit is None:
            return engine.results(comp, threshold=threshold)
        engine.check_counts(top_k, None if limit == "all" else limit)
        self._expect(comp.total_pairs(paired) if pairs is None else len(pairs[0]))
        return self.rankings(comp, top_k=top_k, limit=limit, threshold=threshold, paired=paired, pairs=pairs)

    def rankings(self, comp, *, top_k, limit, threshold, paired, pairs) -> Iterator[Ranking]:
        raise NotImplementedError

    # -- matrices
    def matrix(self, comp) -> np.ndarray:
        """The whole score matrix, in memory."""
        raise NotImplementedError

    def matrix_rows(self, comp, dtype=None, into=None, bands=None) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, block of whole rows) of the matrix, in row order, in `dtype` (default the
        comparison's); `into(i0, i1)` may give the memory for rows i0:i1 (a writer's buffer), and
        `bands` the rows of each block (engine.iter_matrix_rows)."""
        from ..engine.blocks import converted

        values = self.matrix(comp)
        yield 0, values if dtype is None else converted(values, np.dtype(dtype))

    def save_matrix(self, comp, path: str, dtype=None) -> list[str] | None:
        """The matrix saved at `path` (see save.matrix_format), whole or not at all; the shards'
        paths for a folder of shards, else None."""
        from .save import save_matrix

        return save_matrix(self, comp, path, dtype)

    def write(self, comp, path: str, kind: str, dtype):
        """The matrix written at `path` by the backend's own writer (shards, zarr, or an .npy its
        workers fill), as save_matrix returns it; NotImplemented: save_matrix writes it here."""
        return NotImplemented

    def fill(self, comp, out: np.ndarray) -> None:
        """The matrix written into `out` (siamcli.matrix(out=...))."""
        out[...] = self.matrix(comp)

    # -- evaluate
    def scorers(self) -> dict[str, Callable]:
        """evaluation.evaluate's hooks for this backend: pair_scores, class_scores, progress."""
        return {"progress": self.progress}

    def _expect(self, total: int) -> None:
        if self.progress is not None:
            self.progress(0, total)

"""The local backend: the engine's blocks on this process's threads."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from ..results import Ranking
from .base import Backend


class LocalBackend(Backend):
    """Runs every operation here (BLAS and the kernels use the threads engine.set_threads allows)."""

    name = "local"

    def rankings(self, comp, *, top_k, limit, threshold, paired, pairs) -> Iterator[Ranking]:
        from .. import engine

        return engine.rankings(comp, top_k=top_k, limit=limit, threshold=threshold, paired=paired, pairs=pairs)

    def matrix(self, comp) -> np.ndarray:
        from .. import engine  # looked up here: tests replace engine.fill_matrix

        self._expect(comp.total_pairs())
        return engine.fill_matrix(comp)

    def matrix_rows(self, comp, dtype=None, into=None, bands=None) -> Iterator[tuple[int, np.ndarray]]:
        from .. import engine

        self._expect(comp.total_pairs())
        return engine.iter_matrix_rows(comp, dtype, into, bands)

    def fill(self, comp, out: np.ndarray) -> None:
        """The matrix written into `out` (siamcli.matrix(out=...)), block by block."""
        from .. import engine

        self._expect(comp.total_pairs())
        engine.fill_matrix(comp, out)

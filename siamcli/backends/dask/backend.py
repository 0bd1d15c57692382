"""The Dask backend: the engine's blocks run by the workers of a cluster (ops, tasks),
with the local engine's results. The cluster is reached (or a local one started) at the first
operation that needs it, so every check of the inputs and options fails before any cluster."""

from __future__ import annotations

import logging
import os
from typing import Callable, Iterator

import numpy as np

from ...errors import UsageError, mention
from ...results import Ranking
from ..base import Backend, Progress
from . import cluster, inputs, ops


class DaskBackend(Backend):
    """Runs the operations on the Dask cluster at `address` (see cluster.connect)."""

    name = "dask"
    writes_folders = True

    def __init__(self, address: str, *, progress: Progress | None = None, quiet: bool = True):
        super().__init__(progress)

        cluster.no_workers_timeout()  # a bad $SIAMCLI_NO_WORKERS_TIMEOUT fails before any cluster
        self.address, self.quiet = address, quiet
        self._client, self._done, self._quieted = None, 0, None

    def __enter__(self) -> "DaskBackend":

        cluster.require_dask()  # imported before quiet_dask: Dask's import sets its loggers' levels
        if not self.quiet:
            logging.getLogger("distributed").setLevel(logging.WARNING)
        self._quieted = cluster.quiet_dask(self.quiet)
        self._quieted.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.close()
        finally:
            if self._quieted is not None:
                self._quieted.__exit__(*exc)
                self._quieted = None

    @property
    def client(self):
        """The cluster's client, connected (or a local cluster started) on first use."""
        if self._client is None:

            self._client = cluster.connect(  # looked up here: tests replace it
                self.address, quiet=self.quiet)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- inputs
    def open(self, path, **load_options):
        """A .zarr array or .npy shards (a directory, or a glob naming no existing path) opened
        lazily, their headers checked here; else the loaded file."""

        if inputs.is_lazy_input(path) and load_options.get("ids_path") is not None:
            raise UsageError(f"{mention('ids')} does not apply to {path}: the ids of its rows name shard "
                             "(or array) and row")
        return inputs.open_input(path, **load_options)

    def prepare(self, a, b=None, **options):
        """engine.prepare's checks, here for inputs in memory; for inputs the workers read, checked
        first without a cluster (headers, dims, options), then their rows looked at by the workers."""

        a, b = (self._as_set(x, name) for x, name in ((a, "A"), (b, "B")))  # as engine.prepare takes them
        lazy = any(s is not None and inputs.is_dask_array(s.vectors) for s in (a, b))
        if not lazy:
            return super().prepare(a, b, **options)
        metric = options.pop("metric")  # the seam's callers always name it
        inputs.check(a, b, metric, **options)
        self.client  # noqa: B018 -- connected now: prepare_on_cluster reads through the default client
        return inputs.prepare_on_cluster(a, b, metric, **options)

    def _as_set(self, x, name: str):
        """An input as engine.prepare accepts it (a set, an array, a path), paths opened by this backend."""
        from ...io import EmbeddingSet, as_embedding_set

        if x is None or isinstance(x, EmbeddingSet):
            return x
        return self.open(x) if isinstance(x, (str, os.PathLike)) else as_embedding_set(x, name)

    # -- operations
    def _on_submit(self) -> Callable[[list], None] | None:
        """Dask's own count of the tasks behind submitted futures, told to `progress` (tasks done,
        and the total over every submission of this backend)."""
        if self.progress is None:
            return None

        def follow(futures):
            import threading

            from distributed.diagnostics.progressbar import TextProgressBar

            base, backend = self._done, self

            class Follow(TextProgressBar):
                def _draw_bar(self, remaining, all, **kwargs):
                    done = base + all - remaining
                    backend.progress(done - backend._done, base + all)
                    backend._done = done

                def _draw_stop(self, **kwargs):
                    pass

            threading.Thread(target=lambda: Follow(futures, complete=True), daemon=True).start()

        return follow

    def rankings(self, comp, *, top_k, limit, threshold, paired, pairs) -> Iterator[Ranking]:
        from ... import engine

        if paired or pairs is not None:
            left, right = (None, None) if pairs is None else pairs
            if paired and len(comp.b) != len(comp.a):
                return engine.iter_paired(comp, threshold)  # its ShapeError, before any cluster
            if paired and limit is None:
                return iter([ops.paired_of(self.client, comp, threshold, on_submit=self._on_submit())])
            scores = self.pair_scores(comp, left, right)
            index = np.arange(len(comp.a)) if left is None else left
            return iter([engine.scored_pairs(comp, index, index if right is None else right, scores, threshold,
                                             limit)])
        if limit is not None:
            return iter([ops.best_overall_of(self.client, comp, None if limit == "all" else limit, threshold,
                                                     on_submit=self._on_submit())])
        return iter([ops.topk_of(self.client, comp, top_k, threshold, on_submit=self._on_submit())])

    def matrix(self, comp) -> np.ndarray:

        return ops.matrix_of(self.client, comp, on_submit=self._on_submit())

    def write(self, comp, path: str, kind: str, dtype):

        if kind == "csv":
            return NotImplemented  # gathered here (matrix_rows), written by save_matrix
        if kind == "shards":
            return ops.matrix_to_shards_of(self.client, comp, directory=path, dtype=dtype,
                                                   on_submit=self._on_submit())
        if kind == "zarr":
            ops.matrix_to_zarr_of(self.client, comp, path=path, dtype=dtype, on_submit=self._on_submit())
        else:
            ops.matrix_to_npy_of(self.client, comp, path=os.fspath(path), dtype=dtype,
                                         on_submit=self._on_submit())
        return None

    # -- evaluate
    def pair_scores(self, comp, left=None, right=None) -> np.ndarray:

        return ops.pair_scores(self.client, comp, left, right, on_submit=self._on_submit())

    def class_pair_scores(self, comp, codes, ks, all_pairs: bool):

        return ops.class_pair_scores(self.client, comp, codes, ks, all_pairs, on_submit=self._on_submit())

    def scorers(self) -> dict[str, Callable]:
        return {"pair_scores": self.pair_scores, "class_scores": self.class_pair_scores}

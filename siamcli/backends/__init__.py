"""Where the engine's work runs: the same operations on local threads or on a Dask cluster.

>>> backend = get_backend(None)               # this process, on its threads
>>> backend.name
'local'
>>> get_backend("local:2")                    # doctest: +SKIP
"""

from __future__ import annotations

from .base import Backend, Progress
from .local import LocalBackend


def get_backend(scheduler: str | None = None, *, progress: Progress | None = None, quiet: bool = True) -> Backend:
    """The local backend (scheduler None), else a Dask backend for `scheduler` ("local[:N]" starts a
    cluster here on first use; anything else is a scheduler address). `progress(done, total=None)`
    is told the work done since its last call (pairs here, tasks on a cluster) and, when known, the
    total; `quiet` silences Dask's own logs and warnings."""
    if scheduler is None:
        return LocalBackend(progress)
    from .dask import DaskBackend

    return DaskBackend(scheduler, progress=progress, quiet=quiet)


__all__ = ["Backend", "LocalBackend", "Progress", "get_backend"]

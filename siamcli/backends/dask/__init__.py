"""The Dask backend: `cluster` (connecting, quiet logs, watched computes), `inputs` (shards, zarr
and dask arrays, prepared without reading them here), `tasks` (what a worker runs on a pair of
blocks), `ops` (the operations), `backend` (DaskBackend, the seam). Dask is an optional extra
(``pip install 'siamcli[dask]'``): these modules import it only inside functions."""

from .backend import DaskBackend

__all__ = ["DaskBackend"]

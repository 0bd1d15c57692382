"""Run the engine on a Dask cluster: top-k, paired scores and whole matrices, computed in blocks
by the workers with the local engine's own kernels, with the local engine's results.

The functions taking a client and inputs, documented in the README, live in
siamcli.backends.dask (see its modules); the CLI reaches them through the seam,
`siamcli.backends.get_backend(scheduler)`. Dask is an optional extra (``pip install
'siamcli[dask]'``), and so is zarr for .zarr arrays (``pip install 'siamcli[zarr]'``); they are
imported only inside functions, so ``import siamcli.distributed`` works without them.

>>> client = connect("local:2")                        # doctest: +SKIP
>>> topk(client, "queries.npy", "shards/", k=10)       # doctest: +SKIP
"""

from .backends.dask.cluster import (
    DEFAULT_LOCAL_WORKERS,
    EXTRA,
    NO_WORKERS_ENV,
    NO_WORKERS_TIMEOUT,
    WRITERS_STOP_SECONDS,
    ZARR_EXTRA,
    RunStats,
    connect,
    dask_setup,
    no_workers_timeout,
    quiet_dask,
    require_dask,
    require_zarr,
)
from .backends.dask.inputs import (
    check,
    is_dask_array,
    is_lazy_input,
    is_zarr,
    load_shards,
    load_zarr,
    open_input,
    prepare_on_cluster,
    shard_paths,
)
from .backends.dask.ops import (
    best_overall,
    best_overall_of,
    class_pair_scores,
    matrix_of,
    matrix_to_npy,
    matrix_to_npy_of,
    matrix_to_shards,
    matrix_to_shards_of,
    matrix_to_zarr,
    matrix_to_zarr_of,
    pair_scores,
    paired,
    paired_of,
    shard_folder_problem,
    topk,
    topk_of,
    zarr_folder_problem,
)
from .backends.dask.tasks import DEFAULT_BLOCK_ROWS, FAN_IN, SHARD_NAME
from .errors import ClusterError, InputError, ShapeError, UsageError  # noqa: F401 (the errors it raises)

__all__ = [
    "DEFAULT_BLOCK_ROWS", "DEFAULT_LOCAL_WORKERS", "EXTRA", "FAN_IN", "NO_WORKERS_ENV", "NO_WORKERS_TIMEOUT",
    "SHARD_NAME", "WRITERS_STOP_SECONDS", "ZARR_EXTRA", "RunStats", "best_overall", "best_overall_of", "check",
    "class_pair_scores", "connect", "dask_setup", "is_dask_array", "is_lazy_input", "is_zarr", "load_shards",
    "load_zarr", "matrix_of", "matrix_to_npy", "matrix_to_npy_of", "matrix_to_shards", "matrix_to_shards_of",
    "matrix_to_zarr", "matrix_to_zarr_of", "no_workers_timeout", "open_input", "pair_scores", "paired", "paired_of",
    "prepare_on_cluster", "quiet_dask", "require_dask", "require_zarr", "shard_folder_problem", "shard_paths",
    "topk", "topk_of", "zarr_folder_problem",
]
